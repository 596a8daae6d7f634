/* Lookups answered in C: the table every such lookup lives in (its handle, its reference count,
 * ending it), and the lookups whose provider computed every result in Begin (it returned a
 * QuerySet, a list or tuple of them, or None). The runtime packs the results once, here, and
 * NextEx and End on such a lookup never enter Python: the hot path of a lookup cycle. A
 * generator's lookup shares the table and the NextEx/End paths; sources.c has the rest of it
 * (lookups_internal.h has what the two files share).
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
#include "lookups_internal.h"
#include "queryset.h"
#include "queryset_decls.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

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

void nspv2_lookup_release(struct lookup *l)
{
    if (atomic_fetch_sub(&l->refs, 1) == 1) {
        if (l->is_source)
            nspv2_source_free(l);
        mutex_destroy(&l->lock);
        free(l);
    }
}

/* Marks an unlinked lookup ended (after any NextEx using it) and drops the table's reference:
 * a source's waiting NextEx calls complete with WSA_E_CANCELLED, and its source is closed now,
 * or by the thread stepping it once that step is done. */
static void finish(struct lookup *l)
{
    void *source = NULL;
    mutex_lock(&l->lock);
    l->ended = 1;
    l->pending = NULL;
    if (l->is_source)
        source = nspv2_source_end(l);
    int close = !l->exhausted;
    mutex_unlock(&l->lock);
    nspv2_source_drop(source, close);
    nspv2_lookup_release(l);
}

size_t nspv2_align_up(size_t n)
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
INT nspv2_relocate_image(char *base, size_t len, bool validate)
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
    size_t head = nspv2_align_up(sizeof(struct lookup) + count * sizeof(struct slot));
    size_t total = head;
    for (size_t i = 0, at = 0; i < count; i++) {
        if (size - at < sizeof record)
            return NULL;
        memcpy(&record, records + at, sizeof record);
        at += sizeof record;
        if (record.length > size - at)
            return NULL;
        at += record.length;
        total += nspv2_align_up(record.length);
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
        INT rc = nspv2_relocate_image(to, record.length, true);
        if (rc == NO_ERROR) {
            l->slots[i].result = (WSAQUERYSET2W *)(void *)to;
        } else {
            nspv2_log("result %lu of a lookup is not a valid image (a bug in nspv2)",
                      (unsigned long)i);
            l->slots[i].code = rc;
        }
        to += nspv2_align_up(record.length);
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

uint64_t nspv2_lookup_insert(struct lookup *l)
{
    return insert(l, atomic_fetch_add(&next_id, 2));
}

uint64_t nspv2_lookups_create(uint64_t session, const GUID *provider, DWORD flags, size_t count,
                              const char *records, size_t size)
{
    struct lookup *l = build(session, provider, flags, count, records, size);
    return l == NULL ? 0 : nspv2_lookup_insert(l);
}

uint64_t nspv2_lookups_adopt(uint64_t id, uint64_t session, const GUID *provider, DWORD flags,
                             size_t count, const char *records, size_t size)
{
    if (id == 0 || (id & 1) != 0)
        return 0;
    struct lookup *l = build(session, provider, flags, count, records, size);
    return l == NULL ? 0 : insert(l, id);
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
    INT code = nspv2_relocate_image(image, head.length, false);
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
        code = nspv2_source_next(l, call, flags, wanted, bufferLength, results, run);
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
    nspv2_lookup_release(l);
    return code;
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
