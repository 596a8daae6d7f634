/* The benchmark's C provider (tools/bench): the same answers as the Python provider that
 * tools/bench writes, against the routine table and packed by the library's own C packer, so the
 * benchmark can show what the architecture costs with no Python in it (its physical limit).
 * Modelled on tests/hosts/cprovider.c, which answers different names.
 *
 *   one.bench    one result: the name and one IPv4 address
 *   ten.bench    one result: the name, five IPv4 and five IPv6 addresses and a 1 KiB blob
 *   many.bench   ten results, each the name and one IPv4 address
 *   big.bench    one result: the name, one IPv4 address and a 16 KiB blob (beyond a 4 KiB buffer)
 *   async.bench  one IPv4 result, completed 20 ms after NextEx by a timer thread
 *   n<i>.<style> (i < 1000) one result built for i: the name and one IPv4 address (10.1.x.y:80
 *                from i), or for style "ten" five IPv4 and five IPv6 addresses; style
 *                "coroutine" completes NextEx from the timer thread at once (a hand-off, as an
 *                async provider's one suspension), style "io" waits 2 ms in Begin
 *   anything else (n<i>.declined, say): WSASERVICE_NOT_FOUND at Begin
 *
 * A too-small buffer gets WSAEFAULT with the required length and keeps the result for the retry.
 * One mutex guards the lookups; calls into Winsock happen outside it, except the timer's. */
#include "nspv2/ws2types.h"
#include "queryset_decls.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOB_MAX 16384
#define ASYNC_DELAY_NS 20000000L
#define IO_WAIT_NS 2000000L
#define FRESH_NAMES 1000

struct answer {
    const char *name;
    int results, v4, v6;
    ULONG blob;
    bool async;
    long delay_ns;   /* async: when the timer completes NextEx */
    long begin_wait; /* nanoseconds Begin waits (as on I/O) */
};

static const struct answer k_answers[] = {
    {"one.bench", 1, 1, 0, 0, false, 0, 0},
    {"ten.bench", 1, 5, 5, 1024, false, 0, 0},
    {"many.bench", 10, 1, 0, 0, false, 0, 0},
    {"big.bench", 1, 1, 0, BLOB_MAX, false, 0, 0},
    {"async.bench", 1, 1, 0, 0, true, ASYNC_DELAY_NS, 0},
};
#define NANSWERS ((int)(sizeof k_answers / sizeof k_answers[0]))

/* The styles of the n<i>.<style> names, answered per i. */
static const struct answer k_fresh[] = {
    {"plain", 1, 1, 0, 0, false, 0, 0},     {"list", 1, 1, 0, 0, false, 0, 0},
    {"prebuilt", 1, 1, 0, 0, false, 0, 0},  {"generator", 1, 1, 0, 0, false, 0, 0},
    {"ten", 1, 5, 5, 0, false, 0, 0},       {"coroutine", 1, 1, 0, 0, true, 0, 0},
    {"io", 1, 1, 0, 0, false, 0, IO_WAIT_NS},
};
#define NFRESH ((int)(sizeof k_fresh / sizeof k_fresh[0]))

struct bp_session {
    GUID provider;
};

struct bp_lookup {
    struct bp_lookup *prev, *next;
    struct bp_session *session;
    const struct answer *answer;
    int index; /* of an n<i>.<style> name, else -1 */
    DWORD flags;
    int delivered;
    /* a parked async NextEx */
    HANDLE call;
    LPDWORD length;
    LPWSAQUERYSET2W buffer;
    struct timespec due;
    struct bp_lookup *queue_next;
};

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_timer_cond = PTHREAD_COND_INITIALIZER;
static struct bp_lookup *g_lookups;
static struct bp_lookup *g_queue_head, *g_queue_tail;
static bool g_timer_started;
static BYTE g_blob[BLOB_MAX];


static bool same(const WCHAR *w, const char *n)
{
    size_t j = 0;
    while (n[j] && w[j] == (WCHAR)n[j])
        j++;
    return n[j] == 0 && w[j] == 0;
}

/* The answer for the name w, and *index (the i of n<i>.<style>, or -1). */
static const struct answer *find_answer(const WCHAR *w, int *index)
{
    *index = -1;
    if (w && w[0] == 'n' && w[1] >= '0' && w[1] <= '9') {
        int i = 0, j = 1;
        for (; w[j] >= '0' && w[j] <= '9' && i < FRESH_NAMES; j++)
            i = i * 10 + (w[j] - '0');
        for (int k = 0; i < FRESH_NAMES && w[j] == '.' && k < NFRESH; k++) {
            if (same(w + j + 1, k_fresh[k].name)) {
                *index = i;
                return &k_fresh[k];
            }
        }
        return NULL;
    }
    for (int i = 0; w && i < NANSWERS; i++) {
        if (same(w, k_answers[i].name))
            return &k_answers[i];
    }
    return NULL;
}

static bool is_live(const struct bp_lookup *lk)    /* g_mutex held */
{
    for (const struct bp_lookup *p = g_lookups; p; p = p->next)
        if (p == lk)
            return true;
    return false;
}

static void unlink_lookup(struct bp_lookup *lk)    /* g_mutex held */
{
    if (lk->prev)
        lk->prev->next = lk->next;
    else
        g_lookups = lk->next;
    if (lk->next)
        lk->next->prev = lk->prev;
}

/* Each answer as a WSAQUERYSET2W source, built once; packing is the library's own C packer
 * (csrc/provider/queryset.c), so (b) differs from (a) only by what runs in Python. */
struct source {
    WSAQUERYSET2W qs;
    WCHAR name[32];
    CSADDR_INFO csa[10];
    SOCKADDR_IN v4[10];
    SOCKADDR_IN6 v6[10];
    BLOB blob;
};
static struct source g_sources[NANSWERS];
static pthread_once_t g_sources_once = PTHREAD_ONCE_INIT;

static void build_sources(void)
{
    for (int n = 0; n < NANSWERS; n++) {
        const struct answer *a = &k_answers[n];
        struct source *src = &g_sources[n];
        memset(src, 0, sizeof *src);
        for (size_t i = 0; a->name[i] && i + 1 < sizeof src->name / sizeof src->name[0]; i++)
            src->name[i] = (WCHAR)a->name[i];
        for (int i = 0; i < a->v4 + a->v6; i++) {
            if (i < a->v4) {
                SOCKADDR_IN *sin = &src->v4[i];
                sin->sin_family = AF_INET;
                sin->sin_addr[0] = 10;
                sin->sin_addr[3] = (BYTE)(i + 1);
                src->csa[i].RemoteAddr.lpSockaddr = (LPSOCKADDR)(void *)sin;
                src->csa[i].RemoteAddr.iSockaddrLength = sizeof *sin;
            } else {
                SOCKADDR_IN6 *sin6 = &src->v6[i - a->v4];
                static const BYTE prefix[4] = {0x20, 0x01, 0x0d, 0xb8};
                sin6->sin6_family = AF_INET6;
                memcpy(sin6->sin6_addr, prefix, sizeof prefix);
                sin6->sin6_addr[15] = (BYTE)(i - a->v4 + 1);
                src->csa[i].RemoteAddr.lpSockaddr = (LPSOCKADDR)(void *)sin6;
                src->csa[i].RemoteAddr.iSockaddrLength = sizeof *sin6;
            }
            src->csa[i].iSocketType = SOCK_STREAM;
            src->csa[i].iProtocol = IPPROTO_TCP;
        }
        src->qs.dwSize = sizeof(WSAQUERYSET2W);
        src->qs.dwNameSpace = NS_DNS;
        src->qs.lpszServiceInstanceName = src->name;
        src->qs.dwNumberOfCsAddrs = (DWORD)(a->v4 + a->v6);
        src->qs.lpcsaBuffer = src->csa;
        if (a->blob > 0) {
            src->blob.cbSize = a->blob;
            src->blob.pBlobData = g_blob;
            src->qs.lpBlob = &src->blob;
        }
    }
}

/* The answer to n<i>.<style>, built for i as the Python provider builds it on each call. */
static void build_fresh(struct source *src, const struct answer *a, int i)
{
    char name[32];
    memset(src, 0, sizeof *src);
    snprintf(name, sizeof name, "n%d.%s", i, a->name);
    for (size_t j = 0; name[j]; j++)
        src->name[j] = (WCHAR)name[j];
    for (int k = 0; k < a->v4 + a->v6; k++) {
        if (k < a->v4) {
            SOCKADDR_IN *sin = &src->v4[k];
            const BYTE addr[4] = {10, (BYTE)(k + 1), (BYTE)(i >> 8), (BYTE)i};
            sin->sin_family = AF_INET;
            sin->sin_port = (USHORT)((80 >> 8) | (80 << 8));
            memcpy(sin->sin_addr, addr, sizeof addr);
            src->csa[k].RemoteAddr.lpSockaddr = (LPSOCKADDR)(void *)sin;
            src->csa[k].RemoteAddr.iSockaddrLength = sizeof *sin;
        } else {
            SOCKADDR_IN6 *sin6 = &src->v6[k - a->v4];
            const BYTE prefix[4] = {0x20, 0x01, 0x0d, 0xb8};
            sin6->sin6_family = AF_INET6;
            sin6->sin6_port = (USHORT)((80 >> 8) | (80 << 8));
            memcpy(sin6->sin6_addr, prefix, sizeof prefix);
            sin6->sin6_addr[13] = (BYTE)(k - a->v4 + 1);
            sin6->sin6_addr[14] = (BYTE)(i >> 8);
            sin6->sin6_addr[15] = (BYTE)i;
            src->csa[k].RemoteAddr.lpSockaddr = (LPSOCKADDR)(void *)sin6;
            src->csa[k].RemoteAddr.iSockaddrLength = sizeof *sin6;
        }
        src->csa[k].iSocketType = SOCK_STREAM;
        src->csa[k].iProtocol = IPPROTO_TCP;
    }
    src->qs.dwSize = sizeof(WSAQUERYSET2W);
    src->qs.dwNameSpace = NS_DNS;
    src->qs.lpszServiceInstanceName = src->name;
    src->qs.dwNumberOfCsAddrs = (DWORD)(a->v4 + a->v6);
    src->qs.lpcsaBuffer = src->csa;
}

/* Packs one result of lk into out; returns 0, or the required length if capacity is short. */
static DWORD pack_result(const struct bp_lookup *lk, DWORD capacity, LPWSAQUERYSET2W out)
{
    struct source fresh;
    WSAQUERYSET2W qs;
    if (lk->index >= 0) {
        build_fresh(&fresh, lk->answer, lk->index);
        qs = fresh.qs;
    } else {
        qs = g_sources[lk->answer - k_answers].qs;
    }
    qs.lpNSProviderId = &lk->session->provider;
    DWORD length = capacity;
    if (nspv2_queryset_pack(&qs, lk->flags & LUP_RETURN_ALL, out, &length) == NO_ERROR)
        return 0;
    return length;
}

/* Delivers the next result of lk into (length, results): the completion code. g_mutex held. */
static INT deliver(struct bp_lookup *lk, DWORD flags, LPDWORD length, LPWSAQUERYSET2W results)
{
    if (flags & LUP_FLUSHPREVIOUS)
        lk->delivered++;
    if (lk->delivered >= lk->answer->results)
        return WSA_E_NO_MORE;
    DWORD required = pack_result(lk, results ? *length : 0, results);
    if (required) {
        *length = required;
        return WSAEFAULT;
    }
    lk->delivered++;
    return NO_ERROR;
}

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mutex);
    for (;;) {
        while (g_queue_head == NULL)
            pthread_cond_wait(&g_timer_cond, &g_mutex);
        struct bp_lookup *lk = g_queue_head;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (now.tv_sec < lk->due.tv_sec ||
            (now.tv_sec == lk->due.tv_sec && now.tv_nsec < lk->due.tv_nsec)) {
            pthread_cond_timedwait(&g_timer_cond, &g_mutex, &lk->due);
            continue;
        }
        g_queue_head = lk->queue_next;
        if (g_queue_head == NULL)
            g_queue_tail = NULL;
        HANDLE call = lk->call;
        lk->call = NULL;
        INT code = deliver(lk, 0, lk->length, lk->buffer);
        WSAProviderCompleteAsyncCall(call, code);  /* Winsock holds none of its locks here */
    }
    return NULL;
}

static INT WINAPI bp_startup(LPGUID provider, LPVOID *session_arg)
{
    struct bp_session *s = malloc(sizeof *s);
    if (s == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    s->provider = *provider;
    *session_arg = s;
    return NO_ERROR;
}

static void end_session(struct bp_session *s)
{
    pthread_mutex_lock(&g_mutex);
    struct bp_lookup *lk = g_lookups;
    while (lk) {
        struct bp_lookup *next = lk->next;
        if (lk->session == s && lk->call == NULL) {  /* a parked one is the timer's to finish */
            unlink_lookup(lk);
            free(lk);
        }
        lk = next;
    }
    pthread_mutex_unlock(&g_mutex);
}

static INT WINAPI bp_cleanup(LPGUID provider, LPVOID session_arg)
{
    (void)provider;
    end_session(session_arg);
    return NO_ERROR;
}

static VOID WINAPI bp_rundown(LPGUID provider, LPVOID session_arg)
{
    (void)provider;
    end_session(session_arg);
}

static INT WINAPI bp_begin(LPGUID provider, LPWSAQUERYSET2W restrictions, DWORD flags,
                           LPVOID session_arg, LPHANDLE lookup)
{
    (void)provider;
    if (restrictions == NULL || lookup == NULL || session_arg == NULL ||
        restrictions->dwSize != sizeof(WSAQUERYSET2W)) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    int index;
    const struct answer *answer = find_answer(restrictions->lpszServiceInstanceName, &index);
    if (answer == NULL) {
        WSASetLastError(WSASERVICE_NOT_FOUND);
        return SOCKET_ERROR;
    }
    struct bp_lookup *lk = calloc(1, sizeof *lk);
    if (lk == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    if (answer->begin_wait) {
        struct timespec wait = {0, answer->begin_wait};
        nanosleep(&wait, NULL);
    }
    lk->session = session_arg;
    lk->answer = answer;
    lk->index = index;
    lk->flags = flags;
    pthread_mutex_lock(&g_mutex);
    lk->next = g_lookups;
    if (g_lookups)
        g_lookups->prev = lk;
    g_lookups = lk;
    pthread_mutex_unlock(&g_mutex);
    *lookup = lk;
    return NO_ERROR;
}

static VOID WINAPI bp_next(HANDLE async_call, HANDLE lookup, DWORD flags, LPDWORD length,
                           LPWSAQUERYSET2W results)
{
    INT code;
    struct bp_lookup *lk = lookup;
    pthread_mutex_lock(&g_mutex);
    if (!is_live(lk)) {
        code = WSA_INVALID_HANDLE;
    } else if (length == NULL) {
        code = WSAEFAULT;
    } else if (lk->call != NULL) {
        code = WSA_E_CANCELLED;           /* one parked call at a time */
    } else if (lk->answer->async && lk->delivered == 0) {
        if (!g_timer_started) {
            pthread_t id;
            if (pthread_create(&id, NULL, timer_main, NULL) == 0) {
                pthread_detach(id);
                g_timer_started = true;
            }
        }
        lk->call = async_call;
        lk->flags = flags ? flags : lk->flags;
        lk->length = length;
        lk->buffer = results;
        clock_gettime(CLOCK_REALTIME, &lk->due);
        lk->due.tv_nsec += lk->answer->delay_ns;
        if (lk->due.tv_nsec >= 1000000000L) {
            lk->due.tv_sec++;
            lk->due.tv_nsec -= 1000000000L;
        }
        lk->queue_next = NULL;
        if (g_queue_tail)
            g_queue_tail->queue_next = lk;
        else
            g_queue_head = lk;
        g_queue_tail = lk;
        pthread_cond_signal(&g_timer_cond);
        pthread_mutex_unlock(&g_mutex);
        return;
    } else {
        code = deliver(lk, flags, length, results);
    }
    pthread_mutex_unlock(&g_mutex);
    WSAProviderCompleteAsyncCall(async_call, code);
}

static INT WINAPI bp_end(HANDLE lookup)
{
    struct bp_lookup *lk = lookup;
    pthread_mutex_lock(&g_mutex);
    if (!is_live(lk) || lk->call != NULL) {   /* the benchmark never ends a parked lookup */
        pthread_mutex_unlock(&g_mutex);
        WSASetLastError(WSA_INVALID_HANDLE);
        return SOCKET_ERROR;
    }
    unlink_lookup(lk);
    pthread_mutex_unlock(&g_mutex);
    free(lk);
    return NO_ERROR;
}

static VOID WINAPI bp_set_service(HANDLE async_call, LPGUID provider, LPWSAQUERYSET2W reg_info,
                                  WSAESETSERVICEOP operation, DWORD flags, LPVOID session_arg)
{
    (void)provider, (void)reg_info, (void)operation, (void)flags, (void)session_arg;
    WSAProviderCompleteAsyncCall(async_call, WSAEOPNOTSUPP);
}

INT bench_cprovider_routine(NSPV2_ROUTINE *out)
{
    for (size_t i = 0; i < sizeof g_blob; i++)
        g_blob[i] = (BYTE)i;
    pthread_once(&g_sources_once, build_sources);
    memset(out, 0, sizeof *out);
    out->cbSize = sizeof *out;
    out->dwMajorVersion = NSPV2_ROUTINE_MAJOR_VERSION;
    out->dwMinorVersion = NSPV2_ROUTINE_MINOR_VERSION;
    out->NSPv2Startup = bp_startup;
    out->NSPv2Cleanup = bp_cleanup;
    out->NSPv2LookupServiceBegin = bp_begin;
    out->NSPv2LookupServiceNextEx = bp_next;
    out->NSPv2LookupServiceEnd = bp_end;
    out->NSPv2SetServiceEx = bp_set_service;
    out->NSPv2ClientSessionRundown = bp_rundown;
    return NO_ERROR;
}
