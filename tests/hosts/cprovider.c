/* A small NSPv2 provider written in C against the routine table: the proof that the Winsock
 * stand-in serves a native provider, and the benchmark's C baseline (so it stays lean).
 * It answers the names of a fixed list with one IPv4 CSADDR_INFO each and its own provider GUID
 * in lpNSProviderId (so a host can see which provider answered); an unknown name fails Begin
 * with WSAHOST_NOT_FOUND. "pending.test" parks its NextEx until End (or the session's end)
 * completes it with WSA_E_CANCELLED: the End-during-NextEx path. A too-small buffer gets
 * WSAEFAULT with the required length and keeps the result for the retry, unless the retry asks
 * LUP_FLUSHPREVIOUS. Lookup handles belong to their client session, so Cleanup and Rundown free
 * the ones a client never ended. One mutex guards everything; calls into Winsock happen outside
 * it. */
#include "nspv2/ws2types.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cp_session;

struct cp_lookup {
    struct cp_lookup *next;          /* all live lookups: a handle is valid while listed */
    struct cp_session *session;
    int name;                        /* index into k_names */
    DWORD flags;
    bool delivered;
    HANDLE parked;                   /* a NextEx waiting for End ("pending.test") */
};

struct cp_session {
    GUID provider;
};

static const struct {
    const char *name;
    BYTE address[4];
} k_names[] = {
    {"alpha.test", {10, 0, 0, 1}},
    {"beta.test", {10, 0, 0, 2}},
    {"gamma.test", {192, 0, 2, 7}},
    {"pending.test", {0, 0, 0, 0}},
};
#define PENDING_NAME 3

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct cp_lookup *g_lookups;
static atomic_long g_startups, g_cleanups, g_rundowns, g_parked;

static size_t round_up(size_t n) { return (n + sizeof(void *) - 1) & ~(sizeof(void *) - 1); }

static int find_name(const WCHAR *w)
{
    for (int i = 0; w && i < (int)(sizeof k_names / sizeof k_names[0]); i++) {
        const char *n = k_names[i].name;
        size_t j = 0;
        for (; n[j] && w[j]; j++) {
            WCHAR c = w[j] >= 'A' && w[j] <= 'Z' ? (WCHAR)(w[j] + 32) : w[j];
            if (c != (WCHAR)n[j])
                break;
        }
        if (n[j] == 0 && w[j] == 0)
            return i;
    }
    return -1;
}

static struct cp_lookup **find_lookup(HANDLE h)    /* g_mutex held */
{
    struct cp_lookup **link = &g_lookups;
    while (*link && *link != (struct cp_lookup *)h)
        link = &(*link)->next;
    return *link ? link : NULL;
}

static INT WINAPI cp_startup(LPGUID provider, LPVOID *session_arg)
{
    struct cp_session *s = malloc(sizeof *s);
    if (s == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    s->provider = *provider;
    *session_arg = s;
    atomic_fetch_add(&g_startups, 1);
    return NO_ERROR;
}

/* Frees the session and every lookup of it; a parked call ends with WSA_E_CANCELLED (completing
 * under the mutex is safe: Winsock never calls a provider while holding its own locks). */
static void end_session(struct cp_session *s)
{
    pthread_mutex_lock(&g_mutex);
    struct cp_lookup **link = &g_lookups;
    while (*link) {
        struct cp_lookup *lk = *link;
        if (lk->session == s) {
            *link = lk->next;
            if (lk->parked) {
                atomic_fetch_sub(&g_parked, 1);
                WSAProviderCompleteAsyncCall(lk->parked, WSA_E_CANCELLED);
            }
            free(lk);
        } else {
            link = &lk->next;
        }
    }
    pthread_mutex_unlock(&g_mutex);
    free(s);
}

static INT WINAPI cp_cleanup(LPGUID provider, LPVOID session_arg)
{
    (void)provider;
    end_session(session_arg);
    atomic_fetch_add(&g_cleanups, 1);
    return NO_ERROR;
}

static VOID WINAPI cp_rundown(LPGUID provider, LPVOID session_arg)
{
    (void)provider;
    end_session(session_arg);
    atomic_fetch_add(&g_rundowns, 1);
}

static INT WINAPI cp_begin(LPGUID provider, LPWSAQUERYSET2W restrictions, DWORD flags,
                           LPVOID session_arg, LPHANDLE lookup)
{
    (void)provider;
    if (restrictions == NULL || lookup == NULL || session_arg == NULL ||
        restrictions->dwSize != sizeof(WSAQUERYSET2W)) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    int name = find_name(restrictions->lpszServiceInstanceName);
    if (name < 0) {
        WSASetLastError(WSAHOST_NOT_FOUND);
        return SOCKET_ERROR;
    }
    struct cp_lookup *lk = calloc(1, sizeof *lk);
    if (lk == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    lk->session = session_arg;
    lk->name = name;
    lk->flags = flags;
    pthread_mutex_lock(&g_mutex);
    lk->next = g_lookups;
    g_lookups = lk;
    pthread_mutex_unlock(&g_mutex);
    *lookup = lk;
    return NO_ERROR;
}

/* Packs the one result of lk into out: the struct first, then each object pointer-aligned. */
static DWORD pack_result(const struct cp_lookup *lk, DWORD capacity, LPWSAQUERYSET2W out)
{
    const char *name = k_names[lk->name].name;
    size_t name_bytes = (strlen(name) + 1) * sizeof(WCHAR);
    bool want_name = (lk->flags & LUP_RETURN_NAME) != 0;
    bool want_addr = (lk->flags & LUP_RETURN_ADDR) != 0;
    size_t need = round_up(sizeof(WSAQUERYSET2W)) + round_up(sizeof(GUID)) +
                  (want_name ? round_up(name_bytes) : 0) +
                  (want_addr ? round_up(sizeof(CSADDR_INFO)) + round_up(sizeof(SOCKADDR_IN)) : 0);
    if (need > capacity)
        return (DWORD)need;

    BYTE *cursor = (BYTE *)out + round_up(sizeof(WSAQUERYSET2W));
    memset(out, 0, sizeof *out);
    out->dwSize = sizeof(WSAQUERYSET2W);
    out->dwNameSpace = NS_DNS;
    out->lpNSProviderId = memcpy(cursor, &lk->session->provider, sizeof(GUID));
    cursor += round_up(sizeof(GUID));
    if (want_name) {
        WCHAR *w = (WCHAR *)(void *)cursor;
        for (size_t i = 0; name[i]; i++)
            w[i] = (WCHAR)name[i];
        w[strlen(name)] = 0;
        out->lpszServiceInstanceName = w;
        cursor += round_up(name_bytes);
    }
    if (want_addr) {
        CSADDR_INFO *csa = (CSADDR_INFO *)(void *)cursor;
        cursor += round_up(sizeof(CSADDR_INFO));
        SOCKADDR_IN *sin = (SOCKADDR_IN *)(void *)cursor;
        memset(sin, 0, sizeof *sin);
        sin->sin_family = AF_INET;
        memcpy(sin->sin_addr, k_names[lk->name].address, 4);
        memset(csa, 0, sizeof *csa);
        csa->RemoteAddr.lpSockaddr = (LPSOCKADDR)(void *)sin;
        csa->RemoteAddr.iSockaddrLength = sizeof *sin;
        csa->iSocketType = SOCK_STREAM;
        csa->iProtocol = IPPROTO_TCP;
        out->dwNumberOfCsAddrs = 1;
        out->lpcsaBuffer = csa;
    }
    return 0;
}

static VOID WINAPI cp_next(HANDLE async_call, HANDLE lookup, DWORD flags, LPDWORD length,
                           LPWSAQUERYSET2W results)
{
    INT code;
    pthread_mutex_lock(&g_mutex);
    struct cp_lookup **link = find_lookup(lookup);
    struct cp_lookup *lk = link ? *link : NULL;
    if (lk == NULL || length == NULL) {
        code = lk ? WSAEFAULT : WSA_INVALID_HANDLE;
    } else if (lk->name == PENDING_NAME && !lk->parked) {
        lk->parked = async_call;         /* End completes it */
        atomic_fetch_add(&g_parked, 1);
        pthread_mutex_unlock(&g_mutex);
        return;
    } else if (lk->parked) {
        code = WSA_E_CANCELLED;          /* one parked call at a time */
    } else {
        if (flags & LUP_FLUSHPREVIOUS)
            lk->delivered = true;        /* drops the result a WSAEFAULT kept */
        if (lk->delivered) {
            code = WSA_E_NO_MORE;
        } else {
            DWORD required = pack_result(lk, results ? *length : 0, results);
            if (required) {
                *length = required;
                code = WSAEFAULT;
            } else {
                lk->delivered = true;
                code = NO_ERROR;
            }
        }
    }
    pthread_mutex_unlock(&g_mutex);
    WSAProviderCompleteAsyncCall(async_call, code);
}

static INT WINAPI cp_end(HANDLE lookup)
{
    pthread_mutex_lock(&g_mutex);
    struct cp_lookup **link = find_lookup(lookup);
    if (link == NULL) {
        pthread_mutex_unlock(&g_mutex);
        WSASetLastError(WSA_INVALID_HANDLE);
        return SOCKET_ERROR;
    }
    struct cp_lookup *lk = *link;
    *link = lk->next;
    HANDLE parked = lk->parked;
    pthread_mutex_unlock(&g_mutex);
    free(lk);
    if (parked) {
        atomic_fetch_sub(&g_parked, 1);
        WSAProviderCompleteAsyncCall(parked, WSA_E_CANCELLED);
    }
    return NO_ERROR;
}

static VOID WINAPI cp_set_service(HANDLE async_call, LPGUID provider, LPWSAQUERYSET2W reg_info,
                                  WSAESETSERVICEOP operation, DWORD flags, LPVOID session_arg)
{
    (void)provider, (void)reg_info, (void)operation, (void)flags, (void)session_arg;
    WSAProviderCompleteAsyncCall(async_call, WSAEOPNOTSUPP);
}

INT cprovider_routine(NSPV2_ROUTINE *out)
{
    if (out == NULL) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    memset(out, 0, sizeof *out);
    out->cbSize = sizeof *out;
    out->dwMajorVersion = NSPV2_ROUTINE_MAJOR_VERSION;
    out->dwMinorVersion = NSPV2_ROUTINE_MINOR_VERSION;
    out->NSPv2Startup = cp_startup;
    out->NSPv2Cleanup = cp_cleanup;
    out->NSPv2LookupServiceBegin = cp_begin;
    out->NSPv2LookupServiceNextEx = cp_next;
    out->NSPv2LookupServiceEnd = cp_end;
    out->NSPv2SetServiceEx = cp_set_service;
    out->NSPv2ClientSessionRundown = cp_rundown;
    return NO_ERROR;
}

/* Session bookkeeping for hosts that check Startup/Cleanup balance. */
void cprovider_counters(long *startups, long *cleanups, long *rundowns)
{
    *startups = atomic_load(&g_startups);
    *cleanups = atomic_load(&g_cleanups);
    *rundowns = atomic_load(&g_rundowns);
}

/* How many NextEx calls are parked now (so a host can End while one certainly runs). */
long cprovider_parked(void) { return atomic_load(&g_parked); }
