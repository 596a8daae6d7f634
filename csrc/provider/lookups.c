/* Lookups answered in C. Two kinds share the table, the handles and the NextEx/End paths:
 *
 * - results: the provider computed every result in Begin (it returned a QuerySet, a list or
 *   tuple of them, or None). The runtime packs the results once, here, and NextEx and End on such
 *   a lookup never enter Python: the hot path of a lookup cycle.
 * - sources: the provider returned a generator (any iterator). Its results come one at a time,
 *   as NextEx calls ask for them: the runtime's stepper (nspv2._cmarshal, nspv2_set_stepper)
 *   takes the GIL, steps it once and writes what it produced as a record, which is copied here.
 *   Where it steps is the caller's choice (exports.c): on the thread of the NextEx that found
 *   nothing at hand when that is a Winsock thread (End comes on another and completes the call
 *   at once, however long the step), else on one of the runtime's worker threads, one result
 *   ahead of the client. The NextEx that finds its end, and its End, do not enter Python.
 *
 * Each result is a relocatable image written by the runtime (nspv2/_marshal.py, Marshal.image):
 * here it is copied, its pointers relocated and bounds-checked and the whole validated, and every
 * NextEx packs from it the fields its flags ask for. A result the runtime could not build is a
 * record without an image, carrying the Winsock code its NextEx answers.
 * Their handles are odd numbers; the runtime's own lookups (async providers, results too large to
 * copy) have even ones, and once the runtime knows all of such a lookup's results it hands them
 * here under the same even handle (nspv2_lookups_adopt), so its last NextEx calls and its End do
 * not enter Python either. The table is split in shards, each with its own lock, so client
 * threads rarely wait on each other; a lookup's own lock orders its NextEx calls and its End, and
 * a reference count keeps it alive while a NextEx, or a thread stepping its source, uses it. */
#include "provider.h"
#include "queryset.h"
#include "queryset_decls.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef _MSC_VER
#  define THREAD_LOCAL __declspec(thread)
#else
#  define THREAD_LOCAL _Thread_local
#endif

#ifdef _WIN32
typedef SRWLOCK mutex_t;
static void mutex_init(mutex_t *m)
{
    InitializeSRWLock(m);
}
static void mutex_lock(mutex_t *m)
{
    AcquireSRWLockExclusive(m);
}
static void mutex_unlock(mutex_t *m)
{
    ReleaseSRWLockExclusive(m);
}
static void mutex_destroy(mutex_t *m)
{
    (void)m;
}
#else
#  include <pthread.h>
typedef pthread_mutex_t mutex_t;
static void mutex_init(mutex_t *m)
{
    pthread_mutex_init(m, NULL);
}
static void mutex_lock(mutex_t *m)
{
    pthread_mutex_lock(m);
}
static void mutex_unlock(mutex_t *m)
{
    pthread_mutex_unlock(m);
}
static void mutex_destroy(mutex_t *m)
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

#define SHARDS 64u

struct shard {
    mutex_t lock;
    struct lookup **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first lookup */
    size_t count;
};

static struct shard shards[SHARDS];
static atomic_int shards_ready;
static atomic_uint_fast64_t next_id = 1;

#ifdef _WIN32
static INIT_ONCE shards_once = INIT_ONCE_STATIC_INIT;
static BOOL CALLBACK init_shards(PINIT_ONCE o, PVOID p, PVOID *c)
{
    (void)o, (void)p, (void)c;
    for (size_t i = 0; i < SHARDS; i++)
        mutex_init(&shards[i].lock);
    return TRUE;
}
static void shards_init(void)
{
    InitOnceExecuteOnce(&shards_once, init_shards, NULL, NULL);
}
#else
static pthread_once_t shards_once = PTHREAD_ONCE_INIT;
static void init_shards(void)
{
    for (size_t i = 0; i < SHARDS; i++)
        mutex_init(&shards[i].lock);
}
static void shards_init(void)
{
    pthread_once(&shards_once, init_shards);
}
#endif

static struct shard *shard_of(uint64_t id)
{
    return &shards[(id >> 1) % SHARDS];
}

static size_t bucket_of(const struct shard *s, uint64_t id)
{
    return (size_t)((id >> 1) / SHARDS) & (s->nbuckets - 1);
}

/* With the shard locked: make room for one more lookup (0), or -1 without memory. */
static int grow(struct shard *s)
{
    if (s->count < s->nbuckets)
        return 0;
    size_t n = s->nbuckets ? s->nbuckets * 2 : 16;
    struct lookup **buckets = calloc(n, sizeof *buckets);
    if (buckets == NULL)
        return -1;
    struct lookup **old = s->buckets;
    size_t old_n = s->nbuckets;
    s->buckets = buckets;
    s->nbuckets = n;
    for (size_t i = 0; i < old_n; i++) {
        for (struct lookup *l = old[i], *next; l != NULL; l = next) {
            next = l->chain;
            size_t b = bucket_of(s, l->id);
            l->chain = buckets[b];
            buckets[b] = l;
        }
    }
    free(old);
    return 0;
}

/* With the shard locked: unlinks and returns the lookup, or NULL. */
static struct lookup *unlink_lookup(struct shard *s, uint64_t id)
{
    if (s->nbuckets == 0)
        return NULL;
    for (struct lookup **at = &s->buckets[bucket_of(s, id)]; *at != NULL; at = &(*at)->chain) {
        if ((*at)->id == id) {
            struct lookup *l = *at;
            *at = l->chain;
            l->chain = NULL;
            s->count--;
            return l;
        }
    }
    return NULL;
}

/* The runtime's stepper (nspv2_set_stepper): set once, before any source lookup exists. */
static _Atomic(nspv2_step_fn) stepper_step;
static _Atomic(nspv2_drop_fn) stepper_drop;
static void *_Atomic stepper_context;

void nspv2_set_stepper(nspv2_step_fn step, nspv2_drop_fn drop, void *context)
{
    atomic_store(&stepper_context, context);
    atomic_store(&stepper_drop, drop);
    atomic_store(&stepper_step, step);
}

/* The source lookup this thread is stepping, for nspv2_lookups_cancelled. */
static THREAD_LOCAL struct lookup *t_stepping;

/* Hands a source back to the runtime (closing it first if it was not done), through the gate in
 * front of the GIL like every other call into Python. */
static void drop_source(void *source, int close)
{
    nspv2_drop_fn drop = atomic_load(&stepper_drop);
    if (source == NULL || drop == NULL)
        return;
    uint64_t ticket = nspv2_gate_enter();
    drop(atomic_load(&stepper_context), source, close);
    nspv2_gate_leave(ticket);
}

static void release(struct lookup *l)
{
    if (atomic_fetch_sub(&l->refs, 1) == 1) {
        while (l->produced != NULL) {
            struct produced *p = l->produced;
            l->produced = p->next;
            free(p);
        }
        drop_source(l->source, !l->exhausted); /* NULL but after a runtime bug */
        mutex_destroy(&l->lock);
        free(l);
    }
}

static void complete_waiting(struct lookup *l);

/* Marks an unlinked lookup ended (after any NextEx using it) and drops the table's reference:
 * a source's waiting NextEx calls complete with WSA_E_CANCELLED, and its source is closed now,
 * or by the thread stepping it once that step is done. */
static void finish(struct lookup *l)
{
    void *source = NULL;
    mutex_lock(&l->lock);
    l->ended = 1;
    l->pending = NULL;
    if (l->is_source) {
        complete_waiting(l);
        if (!l->busy) {
            source = l->source;
            l->source = NULL;
        }
    }
    int close = !l->exhausted;
    mutex_unlock(&l->lock);
    drop_source(source, close);
    release(l);
}

static size_t align_up(size_t n)
{
    size_t a = alignof(max_align_t);
    return (n + a - 1) & ~(a - 1);
}

/* Turns a pointer field of an image (1 + offset, or 0) into a pointer into it, if `need` bytes
 * from there lie inside and the offset is aligned as the runtime writes it; 0 or -1. */
static int relocate(char *base, size_t len, void *field, size_t need)
{
    uintptr_t v;
    memcpy(&v, field, sizeof v);
    if (v == 0)
        return 0;
    size_t at = (size_t)(v - 1);
    if (at % NSPV2_IMAGE_ALIGN != 0 || at > len || need > len - at)
        return -1;
    char *p = base + at;
    memcpy(field, &p, sizeof p);
    return 0;
}

static int relocate_string(char *base, size_t len, LPWSTR *field)
{
    if (relocate(base, len, field, sizeof(WCHAR)) != 0)
        return -1;
    if (*field == NULL)
        return 0;
    size_t room = (size_t)(base + len - (char *)*field) / sizeof(WCHAR);
    return nspv2_wcsnlen(*field, room) < room ? 0 : -1;
}

/* An image written by the runtime (nspv2._cmarshal, or Marshal.image) made into a WSAQUERYSET2W
 * in place: every pointer relocated and bounds-checked, then (validate) the whole validated as a
 * client's query set is. */
static INT relocate_image(char *base, size_t len, bool validate)
{
    WSAQUERYSET2W *qs = (WSAQUERYSET2W *)(void *)base;
    if (len < sizeof *qs)
        return WSANO_RECOVERY;
    if (relocate_string(base, len, &qs->lpszServiceInstanceName) != 0 ||
        relocate_string(base, len, &qs->lpszComment) != 0 ||
        relocate_string(base, len, &qs->lpszContext) != 0 ||
        relocate_string(base, len, &qs->lpszQueryString) != 0 ||
        relocate(base, len, &qs->lpVersion, sizeof(WSAVERSION)) != 0 ||
        relocate(base, len, &qs->lpNSProviderId, sizeof(GUID)) != 0 ||
        qs->dwNumberOfProtocols > NSPV2_MAX_PROTOCOLS ||
        relocate(base, len, &qs->lpafpProtocols,
                 (size_t)qs->dwNumberOfProtocols * sizeof(AFPROTOCOLS)) != 0 ||
        qs->dwNumberOfCsAddrs > NSPV2_MAX_CSADDRS ||
        relocate(base, len, &qs->lpcsaBuffer,
                 (size_t)qs->dwNumberOfCsAddrs * sizeof(CSADDR_INFO)) != 0 ||
        relocate(base, len, &qs->lpBlob, sizeof(BLOB)) != 0)
        return WSANO_RECOVERY;
    for (DWORD i = 0; qs->lpcsaBuffer != NULL && i < qs->dwNumberOfCsAddrs; i++) {
        SOCKET_ADDRESS *ends[2] = {&qs->lpcsaBuffer[i].LocalAddr, &qs->lpcsaBuffer[i].RemoteAddr};
        for (int e = 0; e < 2; e++) {
            INT n = ends[e]->iSockaddrLength;
            if (n < 0 || n > NSPV2_MAX_SOCKADDR ||
                relocate(base, len, &ends[e]->lpSockaddr, (size_t)n) != 0)
                return WSANO_RECOVERY;
        }
    }
    if (qs->lpBlob != NULL && relocate(base, len, &qs->lpBlob->pBlobData, qs->lpBlob->cbSize) != 0)
        return WSANO_RECOVERY;
    if (!validate)
        return NO_ERROR;
    return nspv2_queryset_validate(qs) == NO_ERROR ? NO_ERROR : WSANO_RECOVERY;
}

/* A lookup with copies of `count` results from `records` (see nspv2_lookups_create), not yet in
 * the table; NULL if they are too many, too large, malformed or memory ran out. */
static struct lookup *build(uint64_t session, const GUID *provider, DWORD flags, size_t count,
                            const char *records, size_t size)
{
    struct nspv2_result_record record;
    if (provider == NULL || count > NSPV2_INLINE_MAX_RESULTS || size > NSPV2_INLINE_MAX_BYTES ||
        (size > 0 && records == NULL))
        return NULL;
    /* First the records' lengths, checked against the batch, for the size of the lookup. */
    size_t head = align_up(sizeof(struct lookup) + count * sizeof(struct slot));
    size_t total = head;
    for (size_t i = 0, at = 0; i < count; i++) {
        if (size - at < sizeof record)
            return NULL;
        memcpy(&record, records + at, sizeof record);
        at += sizeof record;
        if (record.length > size - at)
            return NULL;
        at += record.length;
        total += align_up(record.length);
    }
    struct lookup *l = malloc(total);
    if (l == NULL)
        return NULL;
    memset(l, 0, head);
    l->session = session;
    memcpy(&l->provider, provider, sizeof l->provider);
    l->flags = flags;
    mutex_init(&l->lock);
    atomic_init(&l->refs, 1);
    l->count = count;
    char *to = (char *)l + head;
    const char *from = records;
    for (size_t i = 0; i < count; i++) {
        memcpy(&record, from, sizeof record);
        from += sizeof record;
        l->slots[i].code = record.code;
        if (record.length == 0) {
            if (record.code == NO_ERROR) /* neither a result nor an error: a bug upstream */
                l->slots[i].code = WSANO_RECOVERY;
            continue;
        }
        memcpy(to, from, record.length);
        from += record.length;
        INT rc = relocate_image(to, record.length, true);
        if (rc == NO_ERROR) {
            l->slots[i].result = (WSAQUERYSET2W *)(void *)to;
        } else {
            nspv2_log("result %lu of a lookup is not a valid image (a bug in nspv2)",
                      (unsigned long)i);
            l->slots[i].code = rc;
        }
        to += align_up(record.length);
    }
    return l;
}

/* Puts l in the table under id: id, or 0 (l freed) without memory. */
static uint64_t insert(struct lookup *l, uint64_t id)
{
    shards_init();
    atomic_store(&shards_ready, 1);
    l->id = id;
    struct shard *s = shard_of(l->id);
    mutex_lock(&s->lock);
    if (grow(s) != 0) {
        mutex_unlock(&s->lock);
        mutex_destroy(&l->lock);
        free(l);
        return 0;
    }
    size_t b = bucket_of(s, l->id);
    l->chain = s->buckets[b];
    s->buckets[b] = l;
    s->count++;
    mutex_unlock(&s->lock);
    return l->id;
}

uint64_t nspv2_lookups_create(uint64_t session, const GUID *provider, DWORD flags, size_t count,
                              const char *records, size_t size)
{
    struct lookup *l = build(session, provider, flags, count, records, size);
    return l == NULL ? 0 : insert(l, atomic_fetch_add(&next_id, 2));
}

uint64_t nspv2_lookups_adopt(uint64_t id, uint64_t session, const GUID *provider, DWORD flags,
                             size_t count, const char *records, size_t size)
{
    if (id == 0 || (id & 1) != 0)
        return 0;
    struct lookup *l = build(session, provider, flags, count, records, size);
    return l == NULL ? 0 : insert(l, id);
}

uint64_t nspv2_lookups_create_source(uint64_t session, const GUID *provider, DWORD flags,
                                     void *source)
{
    if (provider == NULL || source == NULL || atomic_load(&stepper_step) == NULL)
        return 0;
    struct lookup *l = calloc(1, sizeof *l);
    if (l == NULL)
        return 0;
    l->session = session;
    memcpy(&l->provider, provider, sizeof l->provider);
    l->flags = flags;
    mutex_init(&l->lock);
    atomic_init(&l->refs, 1);
    l->is_source = 1;
    l->source = source;
    l->produced_tail = &l->produced;
    l->waiting_tail = &l->waiting;
    uint64_t id = insert(l, atomic_fetch_add(&next_id, 2));
    return id; /* 0: l is freed, the source is still the caller's */
}

INT nspv2_record_pack(const char *record, size_t size, DWORD flags, WSAQUERYSET2W *results,
                      DWORD *bufferLength)
{
    struct nspv2_result_record head;
    if (record == NULL || size < sizeof head)
        return WSANO_RECOVERY;
    memcpy(&head, record, sizeof head);
    if (head.length == 0)
        return head.code != NO_ERROR ? head.code : WSANO_RECOVERY;
    if (head.length > size - sizeof head)
        return WSANO_RECOVERY;
    /* Past what any buffer may hold: as the packer answers a result that large. */
    if (head.length > NSPV2_MAX_RESULT)
        return WSA_NOT_ENOUGH_MEMORY;
    char *image = malloc(head.length); /* aligned for any type, as the image's pieces need */
    if (image == NULL)
        return WSA_NOT_ENOUGH_MEMORY;
    memcpy(image, record + sizeof head, head.length);
    /* Bounds-checked; the packer takes any result within them (as it took the runtime's). */
    INT code = relocate_image(image, head.length, false);
    if (code == NO_ERROR)
        code = nspv2_queryset_pack((WSAQUERYSET2W *)(void *)image, flags, results, bufferLength);
    else
        nspv2_log("a result of a lookup is not a valid image (a bug in nspv2)");
    free(image);
    return code;
}

/* The lookup with a reference taken, or NULL. */
static struct lookup *acquire(uint64_t id)
{
    if (!atomic_load(&shards_ready))
        return NULL;
    struct shard *s = shard_of(id);
    struct lookup *found = NULL;
    mutex_lock(&s->lock);
    if (s->nbuckets != 0) {
        for (struct lookup *l = s->buckets[bucket_of(s, id)]; l != NULL; l = l->chain) {
            if (l->id == id) {
                atomic_fetch_add(&l->refs, 1);
                found = l;
                break;
            }
        }
    }
    mutex_unlock(&s->lock);
    return found;
}

/* A step's record as a source's next result (freeing the record); NULL without memory. */
static struct produced *produce(struct nspv2_step *step)
{
    struct nspv2_result_record head = {0, WSANO_RECOVERY};
    if (step->record != NULL && step->size >= sizeof head)
        memcpy(&head, step->record, sizeof head);
    if (head.length > step->size - sizeof head) /* a bug in the stepper */
        head.length = 0, head.code = WSANO_RECOVERY;
    if (head.length > NSPV2_MAX_RESULT) /* past what any buffer may hold */
        head.length = 0, head.code = WSA_NOT_ENOUGH_MEMORY;
    size_t at = align_up(sizeof(struct produced));
    struct produced *p = malloc(at + head.length);
    if (p != NULL) {
        p->next = NULL;
        p->result = NULL;
        p->code = head.length == 0 && head.code == NO_ERROR ? WSANO_RECOVERY : head.code;
        if (head.length > 0) {
            char *image = (char *)p + at;
            memcpy(image, step->record + sizeof head, head.length);
            if (relocate_image(image, head.length, true) == NO_ERROR) {
                p->result = (WSAQUERYSET2W *)(void *)image;
            } else {
                nspv2_log("a result of a lookup is not a valid image (a bug in nspv2)");
                p->code = WSANO_RECOVERY;
            }
        }
    }
    free(step->record);
    step->record = NULL;
    return p;
}

static void drop_produced(struct lookup *l)
{
    struct produced *p = l->produced;
    l->produced = p->next;
    if (l->produced == NULL)
        l->produced_tail = &l->produced;
    l->pending = NULL;
    free(p);
}

/* With a source lookup locked: 1 and *code, what a NextEx asking for `wanted` answers from the
 * results at hand (its buffer filled); 0 when it has to wait for the source's next result. */
static int source_answer(struct lookup *l, DWORD wanted, DWORD *length, WSAQUERYSET2W *results,
                         INT *code)
{
    if (l->ended) {
        *code = WSA_E_CANCELLED;
        return 1;
    }
    for (;;) {
        struct produced *p = l->produced;
        if (p == NULL) {
            *code = WSA_E_NO_MORE;
            return l->exhausted;
        }
        if (p->result == NULL) {
            *code = p->code;
            drop_produced(l);
            return 1;
        }
        if (l->pending == NULL && !(wanted & LUP_RETURN_ALIASES) &&
            (p->result->dwOutputFlags & RESULT_IS_ALIAS)) {
            drop_produced(l);
            continue;
        }
        *code = nspv2_queryset_pack(p->result, wanted, results, length);
        if (*code == WSAEFAULT)
            l->pending = p->result; /* kept for the retry */
        else
            drop_produced(l);
        return 1;
    }
}

/* With a source lookup locked: completes, in order, the waiting NextEx calls the results at hand
 * answer (all of them, with WSA_E_CANCELLED, once it has ended). */
static void complete_waiting(struct lookup *l)
{
    INT code;
    while (l->waiting != NULL &&
           source_answer(l, l->waiting->wanted, l->waiting->length, l->waiting->results, &code)) {
        struct waiter *w = l->waiting;
        l->waiting = w->next;
        if (l->waiting == NULL)
            l->waiting_tail = &l->waiting;
        (void)nspv2_complete_async(w->call, code);
        free(w);
    }
}

INT nspv2_lookups_next(uint64_t id, DWORD flags, DWORD *bufferLength, WSAQUERYSET2W *results)
{
    return nspv2_lookups_next_call(NULL, id, flags, bufferLength, results, NULL);
}

INT nspv2_lookups_next_call(HANDLE call, uint64_t id, DWORD flags, DWORD *bufferLength,
                            WSAQUERYSET2W *results, void **run)
{
    if (run != NULL)
        *run = NULL;
    struct lookup *l = acquire(id);
    if (l == NULL) /* an even handle not (yet) adopted is the runtime's */
        return (id & 1) == 0 ? NSPV2_NOT_INLINE : WSA_INVALID_HANDLE;
    INT code;
    /* Flags at NextEx only narrow what Begin asked for; none at all keep Begin's. */
    DWORD wanted = l->flags & LUP_RETURN_ALL;
    if (flags & LUP_RETURN_ALL)
        wanted &= flags;
    mutex_lock(&l->lock);
    if (l->ended) {
        code = WSA_E_CANCELLED;
        goto done;
    }
    if (l->is_source) {
        if ((flags & LUP_FLUSHPREVIOUS) && l->pending != NULL)
            drop_produced(l);
        if (l->waiting == NULL && source_answer(l, wanted, bufferLength, results, &code))
            goto done;
        struct waiter *w = run != NULL ? malloc(sizeof *w) : NULL;
        if (w == NULL) { /* without memory (or a caller that cannot wait: a bug) */
            code = run != NULL ? WSA_NOT_ENOUGH_MEMORY : WSANO_RECOVERY;
            goto done;
        }
        *w = (struct waiter){NULL, call, wanted, bufferLength, results};
        *l->waiting_tail = w;
        l->waiting_tail = &w->next;
        if (!l->busy) { /* the caller runs the source, or has it run: nspv2_lookups_run */
            l->busy = 1;
            atomic_fetch_add(&l->refs, 1);
            *run = l;
        }
        code = NSPV2_PENDING;
        goto done;
    }
    if (flags & LUP_FLUSHPREVIOUS)
        l->pending = NULL;
    while (l->pending == NULL && l->next < l->count) {
        struct slot *slot = &l->slots[l->next++];
        if (slot->result == NULL) {
            code = slot->code;
            goto done;
        }
        if ((wanted & LUP_RETURN_ALIASES) || !(slot->result->dwOutputFlags & RESULT_IS_ALIAS))
            l->pending = slot->result;
    }
    if (l->pending == NULL) {
        code = WSA_E_NO_MORE;
        goto done;
    }
    code = nspv2_queryset_pack(l->pending, wanted, results, bufferLength);
    if (code != WSAEFAULT)
        l->pending = NULL;
done:
    mutex_unlock(&l->lock);
    release(l);
    return code;
}

void nspv2_lookups_run(void *run, int ahead)
{
    struct lookup *l = run;
    nspv2_step_fn step = atomic_load(&stepper_step);
    void *context = atomic_load(&stepper_context);
    void *source = NULL;
    int close = 0;
    if (l == NULL)
        return;
    for (;;) {
        mutex_lock(&l->lock);
        complete_waiting(l);
        int answered = l->waiting == NULL;
        if (l->ended || l->exhausted || (answered && (l->produced != NULL || !ahead))) {
            l->busy = 0;
            if (l->ended || l->exhausted) { /* End left its source to this thread */
                source = l->source;
                l->source = NULL;
                close = !l->exhausted;
            }
            mutex_unlock(&l->lock);
            break;
        }
        void *stepped = l->source;
        mutex_unlock(&l->lock);
        struct nspv2_step out = {NULL, 0, 1};
        struct lookup *outer = t_stepping; /* a step may look up names itself */
        t_stepping = l;
        step(context, stepped, &out);
        t_stepping = outer;
        /* No record: the end (last), or a stepper without memory. */
        int recorded = out.record != NULL;
        struct produced *p = recorded ? produce(&out) : NULL;
        int failed = recorded ? p == NULL : !out.last;
        mutex_lock(&l->lock);
        if (failed) { /* without memory: what is waiting answers that, and it ends */
            l->exhausted = 1;
            while (l->waiting != NULL) {
                struct waiter *w = l->waiting;
                l->waiting = w->next;
                (void)nspv2_complete_async(w->call, WSA_NOT_ENOUGH_MEMORY);
                free(w);
            }
            l->waiting_tail = &l->waiting;
        } else if (p != NULL) {
            *l->produced_tail = p;
            l->produced_tail = &p->next;
        }
        if (out.last)
            l->exhausted = 1;
        mutex_unlock(&l->lock);
    }
    drop_source(source, close);
    release(l);
}

void nspv2_lookups_abandon(void *run, INT code)
{
    struct lookup *l = run;
    if (l == NULL)
        return;
    mutex_lock(&l->lock);
    while (l->waiting != NULL) {
        struct waiter *w = l->waiting;
        l->waiting = w->next;
        (void)nspv2_complete_async(w->call, code);
        free(w);
    }
    l->waiting_tail = &l->waiting;
    while (l->produced != NULL)
        drop_produced(l);
    int close = !l->exhausted;
    l->exhausted = 1;
    l->busy = 0;
    void *source = l->source;
    l->source = NULL;
    mutex_unlock(&l->lock);
    drop_source(source, close);
    release(l);
}

int nspv2_lookups_cancelled(void)
{
    struct lookup *l = t_stepping;
    if (l == NULL)
        return 0;
    mutex_lock(&l->lock);
    int ended = l->ended;
    mutex_unlock(&l->lock);
    return ended;
}

INT nspv2_lookups_end(uint64_t id)
{
    struct lookup *l = NULL;
    if (atomic_load(&shards_ready)) {
        struct shard *s = shard_of(id);
        mutex_lock(&s->lock);
        l = unlink_lookup(s, id);
        mutex_unlock(&s->lock);
    }
    if (l == NULL) /* an even handle not (yet) adopted is the runtime's */
        return (id & 1) == 0 ? NSPV2_NOT_INLINE : WSA_INVALID_HANDLE;
    finish(l);
    return NO_ERROR;
}

/* Ends every lookup `match` selects. */
static void end_matching(int (*match)(const struct lookup *, const void *), const void *arg)
{
    if (!atomic_load(&shards_ready))
        return;
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        struct lookup *dead = NULL;
        mutex_lock(&s->lock);
        for (size_t b = 0; b < s->nbuckets; b++) {
            for (struct lookup **at = &s->buckets[b]; *at != NULL;) {
                struct lookup *l = *at;
                if (match(l, arg)) {
                    *at = l->chain;
                    s->count--;
                    l->chain = dead;
                    dead = l;
                } else {
                    at = &l->chain;
                }
            }
        }
        mutex_unlock(&s->lock);
        while (dead != NULL) {
            struct lookup *next = dead->chain;
            finish(dead);
            dead = next;
        }
    }
}

struct session_key {
    const GUID *provider;
    uint64_t session;
};

static int same_session(const struct lookup *l, const void *key)
{
    const struct session_key *k = key;
    return l->session == k->session && memcmp(&l->provider, k->provider, sizeof l->provider) == 0;
}

static int same_provider(const struct lookup *l, const void *provider)
{
    return memcmp(&l->provider, provider, sizeof l->provider) == 0;
}

void nspv2_lookups_end_session(const GUID *provider, uint64_t session)
{
    struct session_key key = {provider, session};
    if (provider != NULL)
        end_matching(same_session, &key);
}

void nspv2_lookups_end_provider(const GUID *provider)
{
    if (provider != NULL)
        end_matching(same_provider, provider);
}

size_t nspv2_lookups_count(const GUID *provider)
{
    size_t n = 0;
    if (!atomic_load(&shards_ready))
        return 0;
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        mutex_lock(&s->lock);
        for (size_t b = 0; b < s->nbuckets; b++)
            for (const struct lookup *l = s->buckets[b]; l != NULL; l = l->chain)
                n += provider == NULL || same_provider(l, provider);
        mutex_unlock(&s->lock);
    }
    return n;
}
