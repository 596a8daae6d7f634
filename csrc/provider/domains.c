/* The names each provider serves (its declared domains), checked in C in front of the gate.
 *
 * A provider sits in the path of every lookup of its namespace (NS_ALL included): a name it
 * does not serve must cost no more than a C provider's refusal, and must not wait for the GIL
 * while another thread holds it. So NSPv2LookupServiceBegin (exports.c) asks here first and
 * answers WSASERVICE_NOT_FOUND for a name outside the provider's domains, without the gate,
 * the GIL or the provider. The rule itself is nspv2/served.h's.
 *
 * The table is written when the runtime registers a provider (rarely) and read on every Begin:
 * a read-write lock, and no lock at all while no provider declares domains. Off Windows the
 * domains are also handed to the Winsock stand-in, which publishes them beside the provider's
 * socket for libnss_nspv2 (StandinPublishDomains). */
#include "provider.h"
#include "nspv2/served.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#  include <windows.h>
static SRWLOCK table_lock = SRWLOCK_INIT;
#  define READ_LOCK() AcquireSRWLockShared(&table_lock)
#  define READ_UNLOCK() ReleaseSRWLockShared(&table_lock)
#  define WRITE_LOCK() AcquireSRWLockExclusive(&table_lock)
#  define WRITE_UNLOCK() ReleaseSRWLockExclusive(&table_lock)
#else
#  include <pthread.h>
static pthread_rwlock_t table_lock = PTHREAD_RWLOCK_INITIALIZER;
#  define READ_LOCK() pthread_rwlock_rdlock(&table_lock)
#  define READ_UNLOCK() pthread_rwlock_unlock(&table_lock)
#  define WRITE_LOCK() pthread_rwlock_wrlock(&table_lock)
#  define WRITE_UNLOCK() pthread_rwlock_unlock(&table_lock)
#endif

struct served {
    GUID provider;
    WCHAR *domains; /* nspv2/served.h's list */
    struct served *next;
};

static struct served *table;         /* under table_lock */
static _Atomic size_t restricted;    /* entries in the table: 0 skips the lock */
static _Atomic uint64_t declined;

/* Checks the list's layout: names of 1 or more units, each NUL-terminated, then an empty one,
 * ending exactly at `units`. */
static bool well_formed(const WCHAR *list, size_t units)
{
    size_t i = 0;
    if (units < 2 || list[units - 1] != 0 || list[units - 2] != 0)
        return false;
    while (i < units) {
        size_t k = 0;
        while (list[i + k] != 0)
            k++;
        if (k == 0)
            return i + 1 == units;
        i += k + 1;
    }
    return false;
}

INT nspv2_domains_set(const GUID *provider, const char *domains, size_t size, const CHAR *text)
{
    WCHAR *copy = NULL;
    if (provider == NULL || size % sizeof(WCHAR) != 0 || (size != 0 && domains == NULL))
        return WSAEINVAL;
    if (size != 0) {
        copy = malloc(size);
        if (copy == NULL)
            return WSA_NOT_ENOUGH_MEMORY;
        memcpy(copy, domains, size);
        if (!well_formed(copy, size / sizeof(WCHAR))) {
            free(copy);
            return WSAEINVAL;
        }
        if (copy[0] == 0) {           /* an empty list: no domains declared */
            free(copy);
            copy = NULL;
        }
    }
    struct served *old = NULL, *fresh = NULL;
    if (copy != NULL && (fresh = malloc(sizeof *fresh)) == NULL) {
        free(copy);
        return WSA_NOT_ENOUGH_MEMORY;
    }
    WRITE_LOCK();
    for (struct served **link = &table; *link != NULL; link = &(*link)->next)
        if (memcmp(&(*link)->provider, provider, sizeof(GUID)) == 0) {
            old = *link;
            *link = old->next;
            atomic_fetch_sub(&restricted, 1);
            break;
        }
    if (fresh != NULL) {
        fresh->provider = *provider;
        fresh->domains = copy;
        fresh->next = table;
        table = fresh;
        atomic_fetch_add(&restricted, 1);
    }
    WRITE_UNLOCK();
    if (old != NULL) {
        free(old->domains);
        free(old);
    }
    nspv2_publish_domains(provider, copy != NULL ? text : NULL);
    return NO_ERROR;
}

bool nspv2_domains_decline(const GUID *provider, const WCHAR *name)
{
    bool serves = true;
    if (provider == NULL || atomic_load_explicit(&restricted, memory_order_acquire) == 0)
        return false;
    READ_LOCK();
    for (const struct served *s = table; s != NULL; s = s->next)
        if (memcmp(&s->provider, provider, sizeof(GUID)) == 0) {
            serves = nspv2_name_served(name, s->domains);
            break;
        }
    READ_UNLOCK();
    if (!serves)
        atomic_fetch_add_explicit(&declined, 1, memory_order_relaxed);
    return !serves;
}

INT nspv2_name_served_by(const GUID *provider, const WCHAR *name)
{
    bool serves = true;
    READ_LOCK();
    for (const struct served *s = table; s != NULL; s = s->next)
        if (provider != NULL && memcmp(&s->provider, provider, sizeof(GUID)) == 0) {
            serves = nspv2_name_served(name, s->domains);
            break;
        }
    READ_UNLOCK();
    return serves ? 1 : 0;
}

uint64_t nspv2_domains_declined(void)
{
    return atomic_load(&declined);
}
