/* WSALookupServiceBeginW / NextW / End: routing a client lookup to its providers. Why lookups are
 * reference counted: End may run on one thread while NextW of the same handle waits inside a
 * provider on another (the contract requires providers to cope), so End releases the handle at
 * once but the record lives until the running NextW returns. Why the provider buffer is a
 * separate guarded allocation: Winsock hands providers its own buffer, never the client's, and
 * the 64 guard bytes (0xFD) on each side catch a provider writing past its length.
 *
 * Why some providers are begun late: an authoritative NS_EMAIL query stops at the first of the
 * domain's providers that resolves the name (providers.c), and "resolves" means results, which
 * only NextEx tells. So Begin starts the first of those providers whose Begin succeeds and keeps
 * a copy of the restrictions; when that provider runs out of results having given none (or
 * fails), the next NextW begins the next one. Once one has given a result, the rest are never
 * asked. If none resolves and nothing was returned, NextW answers with the last failure.
 *
 * What Begin refuses: NULL arguments (WSAEFAULT), a malformed query set (queryset_convert.c,
 * WSAEINVAL; a dwSize of 0 too: current Windows answers WSAEINVAL, older releases
 * ERROR_INVALID_PARAMETER, as Wine's conformance test of WSALookupServiceBeginW records), and a
 * NULL lpServiceClassId (WSAEINVAL): WSALookupServiceBegin's page lists it as required. */
#include "standin_internal.h"

#include <stdlib.h>
#include <string.h>

#define GUARD_BYTES 64
#define GUARD_VALUE 0xFD
/* The largest provider buffer the stand-in allocates, whatever length the client claims. */
#define MAX_PROVIDER_BUFFER ((size_t)64 << 20)

struct lookup_provider {
    uint64_t serial;
    GUID guid;
    HANDLE handle;
    bool fallback;                /* one of an authoritative NS_EMAIL query's (struct route) */
    bool begun;                   /* its Begin succeeded: `handle` is its, End is owed */
    bool starting;                /* a NextW is running its Begin */
    bool finished;                /* no more NextEx for it: done, failed or never begun */
    bool ended;                   /* its End has been called, or is being */
};

struct lookup {
    INT client;
    unsigned refs;                /* 1 for the handle table, 1 per running NextW */
    bool closed;
    bool resolved;                /* a fallback provider has given a result */
    bool delivered;               /* a result has reached the client */
    INT chain_error;              /* the last fallback provider's failure, or NO_ERROR */
    DWORD flags;                  /* Begin's, for the Begins made later */
    WSAQUERYSET2W *restrictions;  /* for the Begins made later; NULL when none can be */
    size_t restrictions_size;
    size_t count, current;
    struct lookup_provider providers[];
};

static struct handle_table g_lookups = {.tag = 0x4C};

static void lookup_release(struct lookup *lk)    /* lock held */
{
    if (--lk->refs == 0) {
        queryset_poison_free(lk->restrictions, lk->restrictions_size);
        free(lk);
    }
}

void lookups_drop_for_client(INT client)
{
    uint32_t cursor = 0;
    HANDLE handle;
    struct lookup *lk;
    while ((lk = handle_next_live(&g_lookups, &cursor, &handle)) != NULL) {
        if (lk->client == client) {
            handle_remove(&g_lookups, handle, FATE_NONE);
            lk->closed = true;
            lookup_release(lk);
        }
    }
}

void lookups_release_tables(void) { handle_table_release_if_empty(&g_lookups); }

size_t standin_lookup_count(void)
{
    standin_lock();
    size_t n = g_lookups.used;
    standin_unlock();
    return n;
}

/* NSPv2LookupServiceEnd of one provider's handle, unless it has been unadvertised (its handles
 * died with it). Lock NOT held. */
static void end_one(uint64_t serial, HANDLE handle)
{
    NSPV2_ROUTINE routine;
    standin_lock();
    struct provider *p = provider_enter(serial, &routine, false);
    standin_unlock();
    if (p == NULL)
        return;
    routine.NSPv2LookupServiceEnd(handle);
    standin_lock();
    provider_leave(p);
    standin_unlock();
}

/* Ends every begun provider handle not ended yet. Lock NOT held. */
static void end_provider_handles(struct lookup *lk)
{
    for (size_t i = 0; i < lk->count; i++) {
        struct lookup_provider *e = &lk->providers[i];
        standin_lock();
        bool owed = e->begun && !e->ended;
        e->ended = true;
        standin_unlock();
        if (owed)
            end_one(e->serial, e->handle);
    }
}

/* One provider's NSPv2LookupServiceBegin with its client session and a fresh copy of the
 * restrictions. NO_ERROR with *handle, or the code. Lock NOT held. */
static INT begin_one(INT client, const struct lookup_provider *target, const WSAQUERYSETW *qs,
                     DWORD flags, HANDLE *handle)
{
    void *session_arg;
    INT rc = session_ensure(client, target->serial, &target->guid, &session_arg);
    if (rc != NO_ERROR)
        return rc;
    size_t block_size;
    WSAQUERYSET2W *qs2 = queryset_to_provider(qs, &block_size, &rc);
    if (qs2 == NULL)
        return rc;
    NSPV2_ROUTINE routine;
    standin_lock();
    struct provider *p = provider_enter(target->serial, &routine, false);
    standin_unlock();
    if (p == NULL) {
        queryset_poison_free(qs2, block_size);
        return WSASERVICE_NOT_FOUND;
    }
    GUID id = target->guid;
    standin_set_last_error(NO_ERROR);
    INT r = routine.NSPv2LookupServiceBegin(&id, qs2, flags, session_arg, handle);
    INT error = standin_get_last_error();
    standin_lock();
    provider_leave(p);
    standin_unlock();
    queryset_poison_free(qs2, block_size);
    if (r == NO_ERROR)
        return NO_ERROR;
    return error != NO_ERROR ? error : WSANO_RECOVERY;
}

/* Begins provider `e` of a running lookup, for NextW. Lock held on entry and on return (released
 * while the provider runs). */
static void begin_later(struct lookup *lk, struct lookup_provider *e)
{
    if (lk->restrictions == NULL) {               /* cannot happen: Begin kept them */
        e->finished = true;
        return;
    }
    e->starting = true;
    struct lookup_provider target = *e;
    WSAQUERYSETW view;
    queryset_client_view(lk->restrictions, &view);
    standin_unlock();
    HANDLE handle = NULL;
    INT rc = begin_one(lk->client, &target, &view, lk->flags, &handle);
    standin_lock();
    e->starting = false;
    standin_broadcast();                          /* for a NextW waiting on `starting` */
    if (rc != NO_ERROR) {
        e->finished = true;
        lk->chain_error = rc;
        return;
    }
    e->begun = true;
    e->handle = handle;
    if (lk->closed) {                             /* ended meanwhile: End was not owed yet */
        e->ended = e->finished = true;
        standin_unlock();
        end_one(target.serial, handle);
        standin_lock();
    }
}

STANDIN_EXPORT INT WINAPI WSALookupServiceBeginW(LPWSAQUERYSETW lpqsRestrictions,
                                                 DWORD dwControlFlags, LPHANDLE lphLookup)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (lpqsRestrictions == NULL || lphLookup == NULL)
        return standin_fail(WSAEFAULT);
    /* A dwSize of 0: ERROR_INVALID_PARAMETER, as Wine's conformance test of
     * WSALookupServiceBeginW (dlls/ws2_32/tests/protocol.c) records from Windows (one Windows 10
     * release answered WSASERVICE_NOT_FOUND); any other wrong size is WSAEINVAL below. */
    if (lpqsRestrictions->dwSize == 0)
        return standin_fail(WSA_INVALID_PARAMETER);
    INT rc = queryset_validate_client(lpqsRestrictions);
    if (rc != NO_ERROR)
        return standin_fail(rc);
    if (lpqsRestrictions->lpServiceClassId == NULL)
        return standin_fail(WSAEINVAL);
    INT saved = standin_get_last_error();
    INT client = standin_current_client();

    struct route *routes;
    standin_lock();
    size_t n = standin_route(lpqsRestrictions, !(dwControlFlags & LUP_NON_AUTHORITATIVE), &routes);
    standin_unlock();
    if (n == (size_t)-1)
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    if (n == 0)
        return standin_fail(WSASERVICE_NOT_FOUND);
    struct lookup *lk = calloc(1, sizeof *lk + n * sizeof(struct lookup_provider));
    if (lk == NULL) {
        free(routes);
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    }
    size_t fallbacks = 0;
    for (size_t i = 0; i < n; i++) {
        lk->providers[i].serial = routes[i].serial;
        lk->providers[i].guid = routes[i].guid;
        lk->providers[i].fallback = routes[i].fallback;
        fallbacks += routes[i].fallback;
    }
    free(routes);
    lk->count = n;
    lk->flags = dwControlFlags;
    lk->chain_error = NO_ERROR;
    if (fallbacks > 1) {
        lk->restrictions = queryset_to_provider(lpqsRestrictions, &lk->restrictions_size, &rc);
        if (lk->restrictions == NULL) {
            free(lk);
            return standin_fail(rc);
        }
    }

    INT last = WSASERVICE_NOT_FOUND;
    bool any = false, chain_begun = false;
    for (size_t i = 0; i < n; i++) {
        struct lookup_provider *e = &lk->providers[i];
        if (e->fallback && chain_begun)
            continue;                             /* begun by NextW, if the chain gets there */
        rc = begin_one(client, e, lpqsRestrictions, dwControlFlags, &e->handle);
        if (rc == NO_ERROR) {
            e->begun = any = true;
            chain_begun = chain_begun || e->fallback;
        } else {
            e->finished = true;
            last = rc;
        }
    }
    if (!any) {
        queryset_poison_free(lk->restrictions, lk->restrictions_size);
        free(lk);
        return standin_fail(last);
    }

    HANDLE handle = NULL;
    standin_lock();
    rc = standin_check_started_locked();  /* this client may have been ended meanwhile */
    if (rc == NO_ERROR) {
        lk->client = client;
        lk->refs = 1;
        handle = handle_insert(&g_lookups, lk);
        if (handle == NULL)
            rc = WSA_NOT_ENOUGH_MEMORY;
    }
    standin_unlock();
    if (rc != NO_ERROR) {
        if (rc == WSA_NOT_ENOUGH_MEMORY)
            end_provider_handles(lk);
        queryset_poison_free(lk->restrictions, lk->restrictions_size);
        free(lk);
        return standin_fail(rc);
    }
    *lphLookup = handle;
    standin_set_last_error(saved);
    return NO_ERROR;
}

static bool guards_intact(const GUID *provider, const BYTE *block, size_t length)
{
    const BYTE *before = block, *after = block + GUARD_BYTES + length;
    bool ok = true;
    for (size_t i = 0; i < GUARD_BYTES; i++) {
        if (before[i] != GUARD_VALUE) {
            standin_violation(provider, "guard bytes before the result buffer overwritten "
                                        "(byte -%zu)", GUARD_BYTES - i);
            ok = false;
            break;
        }
    }
    for (size_t i = 0; i < GUARD_BYTES; i++) {
        if (after[i] != GUARD_VALUE) {
            standin_violation(provider, "guard bytes after the result buffer overwritten "
                                        "(%zu bytes past its %zu-byte length)", i, length);
            ok = false;
            break;
        }
    }
    return ok;
}

/* One NSPv2LookupServiceNextEx call, from the pinned provider p (released here once NextEx has
 * returned) to the client's buffer. Returns NO_ERROR or the code for the client. */
static INT call_next(struct provider *p, const NSPV2_ROUTINE *routine, const GUID *guid,
                     HANDLE provider_handle, DWORD flags, LPDWORD length, LPWSAQUERYSETW results)
{
    DWORD client_length = *length;
    size_t l2 = client_length >= 8 ? client_length - 8u : 0;
    if (l2 > MAX_PROVIDER_BUFFER)
        l2 = MAX_PROVIDER_BUFFER;
    size_t block_size = (2 * GUARD_BYTES + l2 + 15u) & ~(size_t)15u;
#ifdef _WIN32
    BYTE *block = malloc(block_size);         /* no aligned_alloc in msvcrt; x64 malloc is */
#else                                         /* 16-byte aligned */
    BYTE *block = aligned_alloc(16, block_size);
#endif
    HANDLE async_handle = NULL;
    struct async_call *call = block ? async_create(guid, block, block_size, &async_handle) : NULL;
    if (call == NULL) {
        free(block);
        standin_lock();
        provider_leave(p);
        standin_unlock();
        return WSA_NOT_ENOUGH_MEMORY;
    }
    BYTE *buffer = block + GUARD_BYTES;
    memset(block, GUARD_VALUE, block_size);   /* the whole block: no uninitialised bytes reach */
                                              /* the client, even from a careless provider */
    call->length = (DWORD)l2;
    routine->NSPv2LookupServiceNextEx(async_handle, provider_handle, flags, &call->length,
                                      (LPWSAQUERYSET2W)(void *)buffer);
    standin_lock();
    provider_leave(p);
    standin_unlock();
    if (!async_wait(call, async_handle))
        return WSANO_RECOVERY;

    INT code = call->code;
    DWORD required = call->length;
    INT result;
    size_t extent;
    if (!guards_intact(guid, block, l2)) {
        result = WSANO_RECOVERY;
    } else if (code == NO_ERROR) {
        if (queryset_check_result(guid, buffer, l2, &extent)) {
            queryset_result_to_client((const WSAQUERYSET2W *)(const void *)buffer, extent, results);
            result = NO_ERROR;
        } else {
            result = WSANO_RECOVERY;
        }
    } else if (code == WSAEFAULT) {
        if (required <= l2) {
            standin_violation(guid, "completed with WSAEFAULT without the required length "
                                    "(*lpdwBufferLength %u, buffer %zu bytes)",
                              (unsigned)required, l2);
            result = WSANO_RECOVERY;
        } else if (required > 0xFFFFFFFFu - 8u || required + 8u <= client_length) {
            result = WSA_NOT_ENOUGH_MEMORY;  /* beyond what the stand-in allocates */
        } else {
            *length = required + 8u;
            result = WSAEFAULT;
        }
    } else {
        result = code;
    }
    async_free(call);
    return result;
}

STANDIN_EXPORT INT WINAPI WSALookupServiceNextW(HANDLE hLookup, DWORD dwControlFlags,
                                                LPDWORD lpdwBufferLength,
                                                LPWSAQUERYSETW lpqsResults)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (lpdwBufferLength == NULL)
        return standin_fail(WSAEFAULT);
    INT client = standin_current_client();
    standin_lock();
    struct lookup *lk = handle_get(&g_lookups, hLookup);
    if (lk == NULL || lk->client != client) {
        standin_unlock();
        return standin_fail(WSA_INVALID_HANDLE);
    }
    if ((lpqsResults == NULL && *lpdwBufferLength > 0) ||
        (uintptr_t)lpqsResults % sizeof(void *) != 0) {
        standin_unlock();
        return standin_fail(WSAEFAULT);
    }
    lk->refs++;
    INT saved = standin_get_last_error();
    INT code = WSA_E_NO_MORE;
    for (;;) {
        size_t index = lk->current;
        if (lk->closed || index >= lk->count)
            break;
        struct lookup_provider *e = &lk->providers[index];
        if (e->finished || (e->fallback && lk->resolved && !e->begun)) {
            if (lk->current == index)
                lk->current = index + 1;
            continue;
        }
        if (e->starting) {                        /* another NextW is beginning it */
            standin_wait();
            continue;
        }
        if (!e->begun) {
            begin_later(lk, e);
            continue;
        }
        NSPV2_ROUTINE routine;
        struct provider *p = provider_enter(e->serial, &routine, false);
        if (p == NULL) {                 /* unadvertised since Begin: nothing more from it */
            e->finished = true;
            continue;
        }
        struct lookup_provider target = *e;
        standin_unlock();
        code = call_next(p, &routine, &target.guid, target.handle, dwControlFlags,
                         lpdwBufferLength, lpqsResults);
        standin_lock();
        if (code == NO_ERROR) {
            lk->delivered = true;
            lk->resolved = lk->resolved || e->fallback;
            break;
        }
        /* A fallback provider that fails before resolving could not resolve the name: on to the
         * next one. WSAEFAULT (a result too large) and WSA_E_CANCELLED (End) are answers. */
        bool unresolved = e->fallback && !lk->resolved && code != WSAEFAULT &&
                          code != WSA_E_CANCELLED;
        if (code != WSA_E_NO_MORE && !unresolved)
            break;
        if (code != WSA_E_NO_MORE)
            lk->chain_error = code;
        code = WSA_E_NO_MORE;
        e->finished = true;
        if (lk->current == index)
            lk->current = index + 1;
    }
    if (code == WSA_E_NO_MORE && !lk->delivered && lk->chain_error != NO_ERROR)
        code = lk->chain_error;
    lookup_release(lk);
    standin_unlock();
    if (code != NO_ERROR)
        return standin_fail(code);
    standin_set_last_error(saved);
    return NO_ERROR;
}

STANDIN_EXPORT INT WINAPI WSALookupServiceEnd(HANDLE hLookup)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    INT client = standin_current_client();
    standin_lock();
    struct lookup *lk = handle_get(&g_lookups, hLookup);
    if (lk == NULL || lk->client != client) {
        standin_unlock();
        return standin_fail(WSA_INVALID_HANDLE);
    }
    handle_remove(&g_lookups, hLookup, FATE_NONE);
    lk->closed = true;                   /* the table's reference is now this call's */
    standin_unlock();
    INT saved = standin_get_last_error();
    end_provider_handles(lk);
    standin_lock();
    lookup_release(lk);
    standin_unlock();
    standin_set_last_error(saved);
    return NO_ERROR;
}
