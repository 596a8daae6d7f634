/* libnss_nspv2's glibc side: the hosts database functions glibc's NSS calls (nss.h in glibc
 * gives their contract), built on nss_query.c. What glibc expects, and what other modules
 * learned the hard way:
 * - everything returned (names, alias and address arrays, addresses, tuples) lives in the
 *   caller's buffer, pointer-aligned; a buffer too small is NSS_STATUS_TRYAGAIN with ERANGE
 *   and NETDB_INTERNAL, so the caller grows it and calls again (never ENOMEM);
 * - gethostbyname4_r may be handed a tuple of the caller's own in *pat (nscd does): the first
 *   answer is copied into it; otherwise *pat is set;
 * - success sets *h_errnop to NETDB_SUCCESS; no name: NOTFOUND + HOST_NOT_FOUND; a name with
 *   addresses of the other family only: NOTFOUND + NO_DATA; no host to ask: UNAVAIL +
 *   NO_RECOVERY (so `hosts: files nspv2 dns` falls through at once); a host that fails or does
 *   not answer in time: TRYAGAIN + TRY_AGAIN;
 * - the TTL is 0: providers give none, so nscd must not cache their answers.
 * Only the _nss_nspv2_* functions are exported (nss_nspv2.map). */
#include "nss_query.h"

#include <errno.h>
#include <netdb.h>
#include <nss.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define EXPORT __attribute__((visibility("default")))

_Static_assert(NSS_FAMILY_INET == AF_INET && NSS_FAMILY_INET6 == AF_INET6, "Linux families");

struct arena {
    char *at, *end;
};

static void *take(struct arena *b, size_t bytes, size_t alignment)
{
    uintptr_t p = ((uintptr_t)b->at + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (p > (uintptr_t)b->end || bytes > (uintptr_t)b->end - p)
        return NULL;
    b->at = (char *)(p + bytes);
    return (void *)p;
}

static char *take_string(struct arena *b, const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = take(b, n, 1);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

static enum nss_status fail(enum nss_status status, int error, int h_error, int *errnop,
                            int *h_errnop)
{
    *errnop = error;
    *h_errnop = h_error;
    return status;
}

static enum nss_status too_small(int *errnop, int *h_errnop)
{
    return fail(NSS_STATUS_TRYAGAIN, ERANGE, NETDB_INTERNAL, errnop, h_errnop);
}

static enum nss_status query_failed(enum nss_query_status s, int *errnop, int *h_errnop)
{
    switch (s) {
    case QUERY_NOTFOUND:
        return fail(NSS_STATUS_NOTFOUND, ENOENT, HOST_NOT_FOUND, errnop, h_errnop);
    case QUERY_TRYAGAIN:
        return fail(NSS_STATUS_TRYAGAIN, EAGAIN, TRY_AGAIN, errnop, h_errnop);
    case QUERY_NOMEM:
        return fail(NSS_STATUS_TRYAGAIN, ENOMEM, NO_RECOVERY, errnop, h_errnop);
    default:
        return fail(NSS_STATUS_UNAVAIL, ENOENT, NO_RECOVERY, errnop, h_errnop);
    }
}

static size_t address_length(int family) { return family == AF_INET ? 4 : 16; }

static size_t count_family(const struct nss_answer *a, int family)
{
    size_t n = 0;
    for (size_t i = 0; i < a->n_addresses; i++)
        n += a->addresses[i].family == family;
    return n;
}

/* Fills a hostent with the answer's name, aliases and its addresses of one family (or just
 * `only`, for a reverse answer). */
static enum nss_status fill_hostent(const struct nss_answer *a, int family,
                                    const struct nss_address *only, struct hostent *result,
                                    char *buffer, size_t buflen, int *errnop, int *h_errnop)
{
    struct arena b = {buffer, buffer + buflen};
    size_t n = only ? 1 : count_family(a, family);
    size_t length = address_length(family);
    char *name = take_string(&b, a->name);
    char **aliases = take(&b, (a->n_aliases + 1) * sizeof(char *), alignof(char *));
    char **list = take(&b, (n + 1) * sizeof(char *), alignof(char *));
    if (name == NULL || aliases == NULL || list == NULL)
        return too_small(errnop, h_errnop);
    for (size_t i = 0; i < a->n_aliases; i++)
        if ((aliases[i] = take_string(&b, a->aliases[i])) == NULL)
            return too_small(errnop, h_errnop);
    aliases[a->n_aliases] = NULL;
    size_t k = 0;
    for (size_t i = 0; i < (only ? 1 : a->n_addresses); i++) {
        const struct nss_address *address = only ? only : &a->addresses[i];
        if (address->family != family)
            continue;
        if ((list[k] = take(&b, length, alignof(uint32_t))) == NULL)
            return too_small(errnop, h_errnop);
        memcpy(list[k++], address->bytes, length);
    }
    list[k] = NULL;
    result->h_name = name;
    result->h_aliases = aliases;
    result->h_addrtype = family;
    result->h_length = (int)length;
    result->h_addr_list = list;
    *errnop = 0;
    *h_errnop = NETDB_SUCCESS;
    return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_nspv2_gethostbyname4_r(const char *name, struct gaih_addrtuple **pat,
                                                   char *buffer, size_t buflen, int *errnop,
                                                   int *h_errnop, int32_t *ttlp)
{
    if (name == NULL || pat == NULL || buffer == NULL || errnop == NULL || h_errnop == NULL)
        return NSS_STATUS_UNAVAIL;
    struct nss_answer a;
    enum nss_query_status s = nss_query(name, &a);
    if (s != QUERY_FOUND)
        return query_failed(s, errnop, h_errnop);
    enum nss_status status;
    if (a.n_addresses == 0) {
        status = fail(NSS_STATUS_NOTFOUND, ENOENT, NO_DATA, errnop, h_errnop);
    } else {
        struct arena b = {buffer, buffer + buflen};
        char *canonical = take_string(&b, a.name);
        struct gaih_addrtuple *tuples =
            take(&b, a.n_addresses * sizeof *tuples, alignof(struct gaih_addrtuple));
        if (canonical == NULL || tuples == NULL) {
            status = too_small(errnop, h_errnop);
        } else {
            for (size_t i = 0; i < a.n_addresses; i++) {
                struct gaih_addrtuple *t = &tuples[i];
                memset(t, 0, sizeof *t);
                t->next = i + 1 < a.n_addresses ? &tuples[i + 1] : NULL;
                t->name = i == 0 ? canonical : NULL;
                t->family = a.addresses[i].family;
                memcpy(t->addr, a.addresses[i].bytes, address_length(t->family));
                t->scopeid = a.addresses[i].scope_id;
            }
            if (*pat)
                **pat = tuples[0];   /* the caller's own first tuple (nscd) */
            else
                *pat = tuples;
            if (ttlp)
                *ttlp = 0;
            *errnop = 0;
            *h_errnop = NETDB_SUCCESS;
            status = NSS_STATUS_SUCCESS;
        }
    }
    nss_answer_free(&a);
    return status;
}

EXPORT enum nss_status _nss_nspv2_gethostbyname3_r(const char *name, int af,
                                                   struct hostent *result, char *buffer,
                                                   size_t buflen, int *errnop, int *h_errnop,
                                                   int32_t *ttlp, char **canonp)
{
    if (name == NULL || result == NULL || buffer == NULL || errnop == NULL || h_errnop == NULL)
        return NSS_STATUS_UNAVAIL;
    if (af != AF_INET && af != AF_INET6)
        return fail(NSS_STATUS_UNAVAIL, EAFNOSUPPORT, NO_RECOVERY, errnop, h_errnop);
    struct nss_answer a;
    enum nss_query_status s = nss_query(name, &a);
    if (s != QUERY_FOUND)
        return query_failed(s, errnop, h_errnop);
    enum nss_status status;
    if (count_family(&a, af) == 0) {
        status = fail(NSS_STATUS_NOTFOUND, ENOENT, NO_DATA, errnop, h_errnop);
    } else {
        status = fill_hostent(&a, af, NULL, result, buffer, buflen, errnop, h_errnop);
        if (status == NSS_STATUS_SUCCESS) {
            if (ttlp)
                *ttlp = 0;
            if (canonp)
                *canonp = result->h_name;
        }
    }
    nss_answer_free(&a);
    return status;
}

EXPORT enum nss_status _nss_nspv2_gethostbyname2_r(const char *name, int af,
                                                   struct hostent *result, char *buffer,
                                                   size_t buflen, int *errnop, int *h_errnop)
{
    return _nss_nspv2_gethostbyname3_r(name, af, result, buffer, buflen, errnop, h_errnop, NULL,
                                       NULL);
}

EXPORT enum nss_status _nss_nspv2_gethostbyname_r(const char *name, struct hostent *result,
                                                  char *buffer, size_t buflen, int *errnop,
                                                  int *h_errnop)
{
    return _nss_nspv2_gethostbyname3_r(name, AF_INET, result, buffer, buflen, errnop, h_errnop,
                                       NULL, NULL);
}

/* The DNS reverse name of an address: "d.c.b.a.in-addr.arpa" or the ip6.arpa nibbles. */
static void reverse_name(const uint8_t *bytes, int family, char out[80])
{
    static const char hex[] = "0123456789abcdef";
    if (family == AF_INET) {
        snprintf(out, 80, "%u.%u.%u.%u.in-addr.arpa", bytes[3], bytes[2], bytes[1], bytes[0]);
        return;
    }
    char *p = out;
    for (int i = 15; i >= 0; i--) {
        *p++ = hex[bytes[i] & 0xF];
        *p++ = '.';
        *p++ = hex[bytes[i] >> 4];
        *p++ = '.';
    }
    strcpy(p, "ip6.arpa");
}

EXPORT enum nss_status _nss_nspv2_gethostbyaddr2_r(const void *addr, socklen_t len, int af,
                                                   struct hostent *result, char *buffer,
                                                   size_t buflen, int *errnop, int *h_errnop,
                                                   int32_t *ttlp)
{
    if (addr == NULL || result == NULL || buffer == NULL || errnop == NULL || h_errnop == NULL)
        return NSS_STATUS_UNAVAIL;
    if ((af != AF_INET && af != AF_INET6) || len != address_length(af))
        return fail(NSS_STATUS_UNAVAIL, EAFNOSUPPORT, NO_RECOVERY, errnop, h_errnop);
    char name[80];
    struct nss_address only;
    memset(&only, 0, sizeof only);
    only.family = af;
    memcpy(only.bytes, addr, len);
    reverse_name(only.bytes, af, name);
    struct nss_answer a;
    enum nss_query_status s = nss_query(name, &a);
    if (s != QUERY_FOUND)
        return query_failed(s, errnop, h_errnop);
    enum nss_status status = fill_hostent(&a, af, &only, result, buffer, buflen, errnop, h_errnop);
    if (status == NSS_STATUS_SUCCESS && ttlp)
        *ttlp = 0;
    nss_answer_free(&a);
    return status;
}

EXPORT enum nss_status _nss_nspv2_gethostbyaddr_r(const void *addr, socklen_t len, int af,
                                                  struct hostent *result, char *buffer,
                                                  size_t buflen, int *errnop, int *h_errnop)
{
    return _nss_nspv2_gethostbyaddr2_r(addr, len, af, result, buffer, buflen, errnop, h_errnop,
                                       NULL);
}
