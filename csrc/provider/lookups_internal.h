/* What lookups.c (the table of the lookups answered in C, and the lookups whose results were all
 * known in Begin) and sources.c (a generator's lookups) share: the lookup, its lock, and the few
 * functions each calls of the other. Not part of the library's interface. */
#ifndef NSPV2_LOOKUPS_INTERNAL_H
#define NSPV2_LOOKUPS_INTERNAL_H

#include "provider.h"

#include <stdatomic.h>
#include <stdbool.h>

#ifdef _WIN32
typedef SRWLOCK mutex_t;
static inline void mutex_init(mutex_t *m)
{
    InitializeSRWLock(m);
}
static inline void mutex_lock(mutex_t *m)
{
    AcquireSRWLockExclusive(m);
}
static inline void mutex_unlock(mutex_t *m)
{
    ReleaseSRWLockExclusive(m);
}
static inline void mutex_destroy(mutex_t *m)
{
    (void)m;
}
#else
#  include <pthread.h>
typedef pthread_mutex_t mutex_t;
static inline void mutex_init(mutex_t *m)
{
    pthread_mutex_init(m, NULL);
}
static inline void mutex_lock(mutex_t *m)
{
    pthread_mutex_lock(m);
}
static inline void mutex_unlock(mutex_t *m)
{
    pthread_mutex_unlock(m);
}
static inline void mutex_destroy(mutex_t *m)
{
    pthread_mutex_destroy(m);
}
#endif

struct slot {
    WSAQUERYSET2W *result; /* NULL: this NextEx answers `code` */
    INT code;
};

/* A source's result: produced by a step, not yet answered (the image follows, aligned). */
struct produced {
    struct produced *next;
    WSAQUERYSET2W *result; /* NULL: this NextEx answers `code` */
    INT code;
};

/* A NextEx waiting for a source's next result. */
struct waiter {
    struct waiter *next;
    HANDLE call; /* its hAsyncCall */
    DWORD wanted;
    DWORD *length;
    WSAQUERYSET2W *results;
};

struct lookup {
    uint64_t id;
    uint64_t session;
    GUID provider;
    DWORD flags; /* Begin's */
    mutex_t lock;
    atomic_int refs; /* the table's, each NextEx's and a stepping thread's */
    int ended;
    size_t count, next;
    WSAQUERYSET2W *pending; /* the result that did not fit, for the WSAEFAULT retry */
    struct lookup *chain;   /* next in its bucket, or on a list of lookups being ended */
    /* A source's (is_source): the runtime's iterator until it is done or dropped, whether a
     * thread is stepping it (busy), whether it has no more (exhausted), the results it produced
     * and the NextEx calls waiting, both in order. */
    int is_source, busy, exhausted;
    void *source;
    struct produced *produced, **produced_tail;
    struct waiter *waiting, **waiting_tail;
    struct slot slots[];
};

/* lookups.c. insert: puts a new lookup in the table under a new (odd) handle: the handle, or 0
 * (l freed) without memory. release: drops a reference (the lookup is freed with the last).
 * align_up: n rounded up for any type. relocate_image: an image written by the runtime made
 * into a WSAQUERYSET2W in place, pointers relocated and bounds-checked, then (validate) the whole
 * validated as a client's query set is: NO_ERROR or WSANO_RECOVERY. */
uint64_t nspv2_lookup_insert(struct lookup *l);
void nspv2_lookup_release(struct lookup *l);
size_t nspv2_align_up(size_t n);
INT nspv2_relocate_image(char *base, size_t len, bool validate);

/* sources.c, each with the source lookup locked but drop and free. next: a NextEx on it (as
 * nspv2_lookups_next_call). end: it has ended: its waiting calls complete with WSA_E_CANCELLED;
 * the source for the caller to drop (once unlocked), or NULL when a thread stepping it will.
 * drop: hands a source back to the runtime (closing it first if `close`). free: frees what the
 * lookup still holds, with its last reference. */
INT nspv2_source_next(struct lookup *l, HANDLE call, DWORD flags, DWORD wanted,
                      DWORD *bufferLength, WSAQUERYSET2W *results, void **run);
void *nspv2_source_end(struct lookup *l);
void nspv2_source_drop(void *source, int close);
void nspv2_source_free(struct lookup *l);

#endif
