/* A native host for the Winsock stand-in: installs, enables and advertises the C provider
 * (cprovider.c), looks names up the way a Winsock client does (grow-the-buffer loop), and checks
 * ws2_32's semantics: routing, errors for bad input, simulated client processes with balanced
 * Startup/Cleanup and Kill -> Rundown, the catalog and its file, and that a misbehaving provider
 * is caught as a contract violation. Prints one "ok <check>" line per passing check and exits 0
 * only if every check passed. Usage: standin_selftest [scratch-directory]. */
#include "nspv2/ws2types.h"
#include "nspv2/standin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

INT cprovider_routine(NSPV2_ROUTINE *out);
void cprovider_counters(long *startups, long *cleanups, long *rundowns);
long cprovider_parked(void);

static int g_failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "FAIL %s:%d: %s (last error %d)\n", __FILE__, __LINE__, \
                    #cond, WSAGetLastError());                                      \
            g_failures++;                                                           \
        }                                                                           \
    } while (0)

static void section(const char *name, int failures_before)
{
    if (g_failures == failures_before)
        printf("ok %s\n", name);
    else
        printf("FAILED %s\n", name);
    fflush(stdout);
}

static GUID k_guid_a = {0x6e1c2a01, 0x1111, 0x4a4a, {0x80, 1, 2, 3, 4, 5, 6, 0xa}};
static GUID k_guid_b = {0x6e1c2a01, 0x2222, 0x4b4b, {0x80, 1, 2, 3, 4, 5, 6, 0xb}};
static GUID k_guid_bad = {0x6e1c2a01, 0x3333, 0x4c4c, {0x80, 1, 2, 3, 4, 5, 6, 0xc}};
static GUID k_guid_file = {0x6e1c2a01, 0x4444, 0x4d4d, {0x80, 1, 2, 3, 4, 5, 6, 0xd}};
static GUID k_guid_never = {0x6e1c2a01, 0x8888, 0x4e4e, {0x80, 1, 2, 3, 4, 5, 6, 0xe}};
static GUID k_service_class = SVCID_HOSTNAME;

static WCHAR *wide(const char *s)
{
    static _Thread_local WCHAR ring[8][128];
    static _Thread_local int next;
    WCHAR *w = ring[next++ % 8];
    size_t i = 0;
    for (; s[i] && i < 127; i++)
        w[i] = (WCHAR)(unsigned char)s[i];
    w[i] = 0;
    return w;
}

static bool wide_equals(const WCHAR *w, const char *s)
{
    if (w == NULL)
        return false;
    size_t i = 0;
    for (; s[i]; i++)
        if (w[i] != (WCHAR)(unsigned char)s[i])
            return false;
    return w[i] == 0;
}

static void restrictions(WSAQUERYSETW *q, const char *name, DWORD name_space, GUID *provider)
{
    memset(q, 0, sizeof *q);
    q->dwSize = sizeof *q;
    q->lpszServiceInstanceName = name ? wide(name) : NULL;
    q->lpServiceClassId = &k_service_class;
    q->dwNameSpace = name_space;
    q->lpNSProviderId = provider;
}

static bool inside(const void *p, const void *base, size_t length, size_t bytes)
{
    const BYTE *b = base, *q = p;
    return q >= b && q + bytes <= b + length;
}

/* One result by the grow-the-buffer loop. Returns NO_ERROR or the error; *out is malloc'd. */
static INT next_result(HANDLE h, DWORD flags, WSAQUERYSETW **out, DWORD *out_length)
{
    DWORD length = 0;
    WSAQUERYSETW *buffer = NULL;
    for (;;) {
        INT rc = WSALookupServiceNextW(h, flags, &length, buffer);
        if (rc == NO_ERROR) {
            *out = buffer;
            *out_length = length;
            return NO_ERROR;
        }
        INT error = WSAGetLastError();
        if (error != WSAEFAULT) {
            free(buffer);
            *out = NULL;
            return error;
        }
        free(buffer);
        buffer = malloc(length);
        if (buffer == NULL) {
            *out = NULL;
            return WSA_NOT_ENOUGH_MEMORY;
        }
    }
}

/* Looks `name` up and returns how many results came back; checks each is a valid cprovider
 * answer, and records the answering providers' GUIDs in order. */
static int lookup_all(const char *name, DWORD name_space, GUID *provider, GUID *answered,
                      int max_answers, INT *begin_error)
{
    WSAQUERYSETW q;
    HANDLE h = NULL;
    restrictions(&q, name, name_space, provider);
    *begin_error = NO_ERROR;
    if (WSALookupServiceBeginW(&q, LUP_RETURN_NAME | LUP_RETURN_ADDR, &h) != NO_ERROR) {
        *begin_error = WSAGetLastError();
        return -1;
    }
    int n = 0;
    WSAQUERYSETW *r;
    DWORD length = 0;
    INT rc;
    while ((rc = next_result(h, LUP_RETURN_NAME | LUP_RETURN_ADDR, &r, &length)) == NO_ERROR) {
        CHECK(r->dwSize == sizeof(WSAQUERYSETW));
        CHECK(r->lpServiceClassId == NULL);
        CHECK(wide_equals(r->lpszServiceInstanceName, name));
        CHECK(inside(r->lpszServiceInstanceName, r, length, 2));
        CHECK(r->dwNumberOfCsAddrs == 1 && r->lpcsaBuffer != NULL);
        if (r->dwNumberOfCsAddrs == 1 && r->lpcsaBuffer) {
            CHECK(inside(r->lpcsaBuffer, r, length, sizeof(CSADDR_INFO)));
            CHECK((uintptr_t)r->lpcsaBuffer % sizeof(void *) == 0);
            const SOCKADDR_IN *sin = (const SOCKADDR_IN *)(void *)r->lpcsaBuffer->RemoteAddr.lpSockaddr;
            CHECK(sin && inside(sin, r, length, sizeof *sin));
            CHECK(r->lpcsaBuffer->RemoteAddr.iSockaddrLength == sizeof(SOCKADDR_IN));
            CHECK(sin && sin->sin_family == AF_INET);
            if (sin && strcmp(name, "alpha.test") == 0)
                CHECK(memcmp(sin->sin_addr, "\x0a\x00\x00\x01", 4) == 0);
        }
        CHECK(r->lpNSProviderId && inside(r->lpNSProviderId, r, length, sizeof(GUID)));
        if (r->lpNSProviderId && n < max_answers)
            answered[n] = *r->lpNSProviderId;
        n++;
        free(r);
    }
    CHECK(rc == WSA_E_NO_MORE);
    CHECK(WSALookupServiceEnd(h) == NO_ERROR);
    return n;
}

/* ---- a provider that breaks the contract on purpose ---- */

enum bad_mode { BAD_OVERRUN, BAD_TWICE, BAD_NEVER, BAD_EFAULT_NO_LENGTH, BAD_OUTSIDE_POINTER,
                BAD_DWSIZE, BAD_UNTERMINATED, BAD_MODES };
static atomic_int g_bad_mode;
static HANDLE g_bad_parked;
static INT g_bad_second_rc, g_bad_second_error;
static const void *g_bad_seen_name;
static const WCHAR k_outside_comment[] = {'x', 0};

static INT WINAPI bad_begin(LPGUID provider, LPWSAQUERYSET2W q, DWORD flags, LPVOID arg,
                            LPHANDLE lookup)
{
    (void)provider, (void)flags, (void)arg;
    g_bad_seen_name = q->lpszServiceInstanceName;
    *lookup = (HANDLE)(uintptr_t)0x1234;
    return NO_ERROR;
}

static void minimal_result(LPWSAQUERYSET2W r)
{
    memset(r, 0, sizeof *r);
    r->dwSize = sizeof *r;
}

static VOID WINAPI bad_next(HANDLE call, HANDLE lookup, DWORD flags, LPDWORD length,
                            LPWSAQUERYSET2W r)
{
    (void)lookup, (void)flags;
    switch (atomic_load(&g_bad_mode)) {
    case BAD_OVERRUN:
        minimal_result(r);
        memset((BYTE *)r + *length, 0, 4);        /* 4 bytes past the end */
        WSAProviderCompleteAsyncCall(call, NO_ERROR);
        break;
    case BAD_TWICE:
        minimal_result(r);
        WSAProviderCompleteAsyncCall(call, NO_ERROR);
        g_bad_second_rc = WSAProviderCompleteAsyncCall(call, NO_ERROR);
        g_bad_second_error = WSAGetLastError();
        break;
    case BAD_NEVER:
        g_bad_parked = call;
        break;
    case BAD_EFAULT_NO_LENGTH:
        WSAProviderCompleteAsyncCall(call, WSAEFAULT);
        break;
    case BAD_OUTSIDE_POINTER:
        minimal_result(r);
        r->lpszComment = (LPWSTR)k_outside_comment;
        WSAProviderCompleteAsyncCall(call, NO_ERROR);
        break;
    case BAD_DWSIZE:
        minimal_result(r);
        r->dwSize = sizeof(WSAQUERYSETW);
        WSAProviderCompleteAsyncCall(call, NO_ERROR);
        break;
    case BAD_UNTERMINATED: {
        minimal_result(r);
        WCHAR *s = (WCHAR *)(void *)((BYTE *)r + sizeof *r);
        for (BYTE *p = (BYTE *)s; p < (BYTE *)r + *length; p++)
            *p = 'A';
        r->lpszComment = s;
        WSAProviderCompleteAsyncCall(call, NO_ERROR);
        break;
    }
    default:
        WSAProviderCompleteAsyncCall(call, WSA_E_NO_MORE);
    }
}

static INT WINAPI bad_end(HANDLE lookup)
{
    (void)lookup;
    return NO_ERROR;
}

/* A routine table with the three callbacks WSAAdvertiseProvider requires and no others. */
static NSPV2_ROUTINE lookup_routine(LPNSPV2LOOKUPSERVICEBEGIN begin,
                                    LPNSPV2LOOKUPSERVICENEXTEX next, LPNSPV2LOOKUPSERVICEEND end)
{
    NSPV2_ROUTINE routine;
    memset(&routine, 0, sizeof routine);
    routine.cbSize = sizeof routine;
    routine.dwMajorVersion = NSPV2_ROUTINE_MAJOR_VERSION;
    routine.NSPv2LookupServiceBegin = begin;
    routine.NSPv2LookupServiceNextEx = next;
    routine.NSPv2LookupServiceEnd = end;
    return routine;
}

static void test_violations(void)
{
    int before = g_failures;
    NSPV2_ROUTINE bad = lookup_routine(bad_begin, bad_next, bad_end);
    CHECK(WSCInstallNameSpaceEx(wide("bad"), wide("bad.so"), NS_NBP, 1, &k_guid_bad, NULL) == 0);
    CHECK(WSAAdvertiseProvider(&k_guid_bad, &bad) == NO_ERROR);
    StandinSetAsyncTimeout(200);
    StandinResetViolations();

    for (int mode = 0; mode < BAD_MODES; mode++) {
        atomic_store(&g_bad_mode, mode);
        DWORD violations = StandinViolationCount();
        WSAQUERYSETW q;
        HANDLE h;
        restrictions(&q, "anything", NS_ALL, &k_guid_bad);
        CHECK(WSALookupServiceBeginW(&q, 0, &h) == NO_ERROR);
        CHECK(g_bad_seen_name != NULL && g_bad_seen_name != q.lpszServiceInstanceName);
        _Alignas(8) BYTE buffer[1024];
        DWORD length = sizeof buffer;
        INT rc = WSALookupServiceNextW(h, 0, &length, (LPWSAQUERYSETW)(void *)buffer);
        INT error = WSAGetLastError();
        if (mode == BAD_TWICE) {
            CHECK(rc == NO_ERROR);       /* the first completion was fine */
            CHECK(g_bad_second_rc == SOCKET_ERROR && g_bad_second_error == WSA_INVALID_HANDLE);
        } else {
            CHECK(rc == SOCKET_ERROR && error == WSANO_RECOVERY);
        }
        CHECK(StandinViolationCount() > violations);
        if (StandinViolationCount() <= violations)
            fprintf(stderr, "mode %d produced no violation\n", mode);
        if (mode == BAD_NEVER) {
            DWORD count = StandinViolationCount();
            CHECK(WSAProviderCompleteAsyncCall(g_bad_parked, NO_ERROR) == SOCKET_ERROR);
            CHECK(WSAGetLastError() == WSA_INVALID_HANDLE);
            CHECK(StandinViolationCount() == count + 1);
        }
        CHECK(WSALookupServiceEnd(h) == NO_ERROR);
    }
    DWORD count = StandinViolationCount();
    CHECK(WSAProviderCompleteAsyncCall((HANDLE)(uintptr_t)0xdeadbeef, NO_ERROR) == SOCKET_ERROR);
    CHECK(WSAGetLastError() == WSA_INVALID_HANDLE && StandinViolationCount() == count + 1);
    char text[256];
    CHECK(StandinGetViolation(0, text, sizeof text) == NO_ERROR && strlen(text) > 0);
    CHECK(StandinGetViolation(100000, text, sizeof text) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVAL);
    char tiny[5];
    CHECK(StandinGetViolation(0, tiny, sizeof tiny) == NO_ERROR && strlen(tiny) == 4);
    StandinResetViolations();
    CHECK(StandinViolationCount() == 0);
    StandinSetAsyncTimeout(30000);
    CHECK(WSAUnadvertiseProvider(&k_guid_bad) == NO_ERROR);
    CHECK(WSCUnInstallNameSpace(&k_guid_bad) == NO_ERROR);
    section("violations", before);
}

/* ---- NS_EMAIL routing: three providers of one routine, told apart by their GUID ---- */

enum { MAIL_PRIMARY, MAIL_SECONDARY, MAIL_WILDCARD, MAIL_PROVIDERS };
static GUID k_mail[MAIL_PROVIDERS] = {
    {0x6e1c2a02, 0x0001, 0x4f4f, {0x80, 1, 2, 3, 4, 5, 6, 1}},
    {0x6e1c2a02, 0x0002, 0x4f4f, {0x80, 1, 2, 3, 4, 5, 6, 2}},
    {0x6e1c2a02, 0x0003, 0x4f4f, {0x80, 1, 2, 3, 4, 5, 6, 3}},
};

/* Installation blobs (nsemail.h, little-endian): x.test at ProviderLevel_Primary (byte 20 is
 * AuthLevel), and a wildcard provider with no domain. */
#define LE32(v) (BYTE)(v), (BYTE)((v) >> 8), (BYTE)((v) >> 16), (BYTE)((v) >> 24)
static const BYTE k_blob_x_test[] = {
    LE32(1), LE32(ProviderType_Application), LE32(0), LE32(1), LE32(20),
    LE32(ProviderLevel_Primary), LE32(6), LE32(0), LE32(36),
    'x', 0, '.', 0, 't', 0, 'e', 0, 's', 0, 't', 0, 0, 0, 0, 0};
static const BYTE k_blob_wildcard[] = {LE32(1), LE32(ProviderType_Application), LE32(1), LE32(0),
                                       LE32(0)};

struct mail_lookup {
    GUID provider;
    int left;
};

/* "nobody@..." is known to none; the primary knows "empty@..." but has no result for it. */
static INT WINAPI mail_begin(LPGUID provider, LPWSAQUERYSET2W q, DWORD flags, LPVOID arg,
                             LPHANDLE lookup)
{
    (void)flags, (void)arg;
    const WCHAR *name = q->lpszServiceInstanceName;
    if (name && name[0] == 'n') {
        WSASetLastError(WSASERVICE_NOT_FOUND);
        return SOCKET_ERROR;
    }
    struct mail_lookup *lk = malloc(sizeof *lk);
    if (lk == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    lk->provider = *provider;
    lk->left = !(name && name[0] == 'e' && memcmp(provider, &k_mail[MAIL_PRIMARY], sizeof(GUID)) == 0);
    *lookup = lk;
    return NO_ERROR;
}

/* One result naming the provider in lpNSProviderId, then WSA_E_NO_MORE. */
static VOID WINAPI mail_next(HANDLE call, HANDLE lookup, DWORD flags, LPDWORD length,
                             LPWSAQUERYSET2W r)
{
    struct mail_lookup *lk = lookup;
    (void)flags;
    if (lk->left == 0) {
        WSAProviderCompleteAsyncCall(call, WSA_E_NO_MORE);
        return;
    }
    if (*length < sizeof *r + sizeof(GUID)) {
        *length = sizeof *r + sizeof(GUID);
        WSAProviderCompleteAsyncCall(call, WSAEFAULT);
        return;
    }
    minimal_result(r);
    r->lpNSProviderId = (LPGUID)(void *)(r + 1);
    *r->lpNSProviderId = lk->provider;
    lk->left--;
    WSAProviderCompleteAsyncCall(call, NO_ERROR);
}

static INT WINAPI mail_end(HANDLE lookup)
{
    free(lookup);
    return NO_ERROR;
}

/* The providers that answer `name` in NS_EMAIL, as indexes into k_mail, in answer order; -1 if
 * Begin fails (its error in *error). */
static int mail_answers(const char *name, DWORD flags, int *answered, INT *error)
{
    WSAQUERYSETW q;
    HANDLE h;
    restrictions(&q, name, NS_EMAIL, NULL);
    *error = NO_ERROR;
    if (WSALookupServiceBeginW(&q, flags, &h) != NO_ERROR) {
        *error = WSAGetLastError();
        return -1;
    }
    int n = 0;
    WSAQUERYSETW *r;
    DWORD length;
    while (next_result(h, 0, &r, &length) == NO_ERROR) {
        for (int i = 0; i < MAIL_PROVIDERS && n < 8; i++)
            if (r->lpNSProviderId && memcmp(r->lpNSProviderId, &k_mail[i], sizeof(GUID)) == 0)
                answered[n++] = i;
        free(r);
    }
    CHECK(WSALookupServiceEnd(h) == NO_ERROR);
    return n;
}

static void test_email_routing(void)
{
    int before = g_failures;
    NSPV2_ROUTINE mail = lookup_routine(mail_begin, mail_next, mail_end);
    BYTE secondary[sizeof k_blob_x_test], misaligned[sizeof k_blob_x_test];
    memcpy(secondary, k_blob_x_test, sizeof secondary);
    secondary[20] = ProviderLevel_Secondary;
    memcpy(misaligned, k_blob_x_test, sizeof misaligned);
    misaligned[16] = 22;                     /* OffsetFirstDomain not on a 4-byte boundary */
    BLOB blobs[MAIL_PROVIDERS] = {{sizeof k_blob_x_test, (BYTE *)k_blob_x_test},
                                  {sizeof secondary, secondary},
                                  {sizeof k_blob_wildcard, (BYTE *)k_blob_wildcard}};
    BLOB bad = {sizeof misaligned, misaligned};
    CHECK(WSCInstallNameSpaceEx(wide("mail"), wide(""), NS_EMAIL, 1, &k_mail[0], &bad) ==
              SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    for (int i = MAIL_PROVIDERS - 1; i >= 0; i--) {      /* the primary last in the catalog */
        CHECK(WSCInstallNameSpaceEx(wide("mail"), wide(""), NS_EMAIL, 1, &k_mail[i], &blobs[i]) ==
              NO_ERROR);
        CHECK(WSAAdvertiseProvider(&k_mail[i], &mail) == NO_ERROR);
    }
    int got[8];
    INT error;
    CHECK(mail_answers("a@x.test", 0, got, &error) == 1 && got[0] == MAIL_PRIMARY);
    CHECK(mail_answers("a@X.TEST", LUP_NON_AUTHORITATIVE, got, &error) == 3 &&
          got[0] == MAIL_PRIMARY && got[1] == MAIL_SECONDARY && got[2] == MAIL_WILDCARD);
    CHECK(mail_answers("empty@x.test", 0, got, &error) == 1 && got[0] == MAIL_SECONDARY);
    CHECK(mail_answers("a@y.test", 0, got, &error) == 1 && got[0] == MAIL_WILDCARD);
    CHECK(mail_answers("host.x.test", LUP_NON_AUTHORITATIVE, got, &error) == 1 &&
          got[0] == MAIL_WILDCARD);
    CHECK(mail_answers("nobody@x.test", 0, got, &error) == -1 && error == WSASERVICE_NOT_FOUND);
    CHECK(WSAUnadvertiseProvider(&k_mail[MAIL_PRIMARY]) == NO_ERROR);    /* unavailable */
    CHECK(mail_answers("a@x.test", 0, got, &error) == 1 && got[0] == MAIL_SECONDARY);
    WSAQUERYSETW q;
    HANDLE h;
    restrictions(&q, "a@x.test", NS_EMAIL, NULL);
    CHECK(WSALookupServiceBeginW(&q, 0, &h) == NO_ERROR);
    CHECK(WSALookupServiceEnd(h) == NO_ERROR);            /* ended before any result */
    for (int i = 0; i < MAIL_PROVIDERS; i++) {
        if (i != MAIL_PRIMARY)
            CHECK(WSAUnadvertiseProvider(&k_mail[i]) == NO_ERROR);
        CHECK(WSCUnInstallNameSpace(&k_mail[i]) == NO_ERROR);
    }
    section("email routing", before);
}

/* ---- threads ---- */

struct end_race {
    HANDLE h;
    INT rc, error;
};

static void *next_blocking(void *arg)
{
    struct end_race *race = arg;
    _Alignas(8) BYTE buffer[512];
    DWORD length = sizeof buffer;
    race->rc = WSALookupServiceNextW(race->h, 0, &length, (LPWSAQUERYSETW)(void *)buffer);
    race->error = WSAGetLastError();
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_end_during_next(void)
{
    int before = g_failures;
    WSAQUERYSETW q;
    struct end_race race = {0};
    restrictions(&q, "pending.test", NS_DNS, NULL);
    CHECK(WSALookupServiceBeginW(&q, LUP_RETURN_ALL, &race.h) == NO_ERROR);
    pthread_t t;
    pthread_create(&t, NULL, next_blocking, &race);
    for (int i = 0; i < 2000 && cprovider_parked() == 0; i++)
        sleep_ms(5);                     /* until NextEx is certainly parked in the provider */
    CHECK(cprovider_parked() == 1);
    CHECK(WSALookupServiceEnd(race.h) == NO_ERROR);
    pthread_join(t, NULL);
    CHECK(race.rc == SOCKET_ERROR && race.error == WSA_E_CANCELLED);
    section("end during next", before);
}

static void *lookup_loop(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < 100; i++) {
        GUID answered[4];
        INT error;
        if (lookup_all(i % 2 ? "alpha.test" : "gamma.test", NS_DNS, NULL, answered, 4, &error) != 1)
            (*failures)++;
    }
    return NULL;
}

static void test_threads(void)
{
    int before = g_failures;
    pthread_t t[4];
    int failures[4] = {0};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, lookup_loop, &failures[i]);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(failures[i] == 0);
    }
    section("threads", before);
}

/* ---- simulated clients ---- */

struct client_run {
    INT id;
    bool cleanup;
    int failures;
};

static void *client_thread(void *arg)
{
    struct client_run *run = arg;
    WSADATA data;
    if (StandinClientAttach(run->id) != NO_ERROR || WSAStartup(0x0202, &data) != 0) {
        run->failures++;
        return NULL;
    }
    GUID answered[2];
    INT error;
    if (lookup_all("beta.test", NS_DNS, NULL, answered, 2, &error) != 1)
        run->failures++;
    WSAQUERYSETW q;
    HANDLE open_handle;             /* left open: the client's end must drop it */
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    if (WSALookupServiceBeginW(&q, LUP_RETURN_ALL, &open_handle) != NO_ERROR)
        run->failures++;
    if (run->cleanup && WSACleanup() != NO_ERROR)
        run->failures++;
    return NULL;
}

static void test_clients(void)
{
    int before = g_failures;
    long s0, c0, r0, s1, c1, r1;
    cprovider_counters(&s0, &c0, &r0);

    struct client_run one = {StandinClientCreate(), true, 0};
    CHECK(one.id > 0);
    pthread_t t;
    pthread_create(&t, NULL, client_thread, &one);
    pthread_join(t, NULL);
    CHECK(one.failures == 0);
    cprovider_counters(&s1, &c1, &r1);
    CHECK(s1 == s0 + 1 && c1 == c0 + 1 && r1 == r0);
    section("client cleanup", before);

    before = g_failures;
    struct client_run two = {StandinClientCreate(), false, 0};
    CHECK(two.id > one.id);
    pthread_create(&t, NULL, client_thread, &two);
    pthread_join(t, NULL);
    CHECK(two.failures == 0);
    CHECK(StandinClientKill(two.id) == NO_ERROR);
    cprovider_counters(&s1, &c1, &r1);
    CHECK(s1 == s0 + 2 && c1 == c0 + 1 && r1 == r0 + 1);
    CHECK(StandinClientAttach(two.id) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(StandinClientKill(two.id) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(StandinClientKill(0) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(StandinClientKill(987654) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(StandinClientAttach(987654) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(StandinClientKill(one.id) == NO_ERROR);   /* idle: nothing to run down */
    cprovider_counters(&s1, &c1, &r1);
    CHECK(r1 == r0 + 1);
    section("client kill rundown", before);
}

/* ---- catalog ---- */

static int enumerate(WSANAMESPACE_INFOEXW **out)
{
    DWORD length = 0;
    CHECK(WSAEnumNameSpaceProvidersExW(&length, NULL) == SOCKET_ERROR || length == 0);
    if (length == 0)
        return 0;
    CHECK(WSAGetLastError() == WSAEFAULT && length > 0);
    *out = malloc(length);
    DWORD short_length = length - 1;
    CHECK(WSAEnumNameSpaceProvidersExW(&short_length, *out) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEFAULT && short_length == length);
    return WSAEnumNameSpaceProvidersExW(&length, *out);
}

static const WSANAMESPACE_INFOEXW *find_info(const WSANAMESPACE_INFOEXW *info, int n,
                                             const GUID *guid)
{
    for (int i = 0; i < n; i++)
        if (memcmp(&info[i].NSProviderId, guid, sizeof *guid) == 0)
            return &info[i];
    return NULL;
}

static const char *g_catalog_path;

static void prepare_catalog_file(const char *directory)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/catalog.txt", directory);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    fputs("# written by standin_selftest\n"
          "garbage line\n"
          "ns {6E1C2A01-4444-4D4D-8001-02030405060D} 12 3 0 00660069006C0065 0078 C0FFEE\n"
          "ns {6E1C2A01-4444-4D4D-8001-02030405060D} 12 3 0 0066 0078 -\n"
          "ns {XYZ} 1 2 3 4 5 6\n"
          "ns {6E1C2A01-5555-4D4D-8001-02030405060D} 12 3 1 00ZZ 0078 -\n"
          "ns {6E1C2A01-6666-4D4D-8001-02030405060D} 12 3 1 0066 0078 ABC\n"
          "ns {6E1C2A01-7777-4D4D-8001-02030405060D} 99999999999 3 1 0066 0078 -\n",
          f);
    fclose(f);
#ifdef _WIN32
    _putenv_s("NSPV2_STANDIN_CATALOG", path);
#else
    setenv("NSPV2_STANDIN_CATALOG", path, 1);
#endif
    g_catalog_path = path;
}

static bool file_mentions(const char *needle)
{
    FILE *f = fopen(g_catalog_path, "r");
    if (f == NULL)
        return false;
    char line[1024];
    bool found = false;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle))
            found = true;
    fclose(f);
    return found;
}

static void test_catalog(void)
{
    int before = g_failures;
    WSANAMESPACE_INFOEXW *info = NULL;
    int n = enumerate(&info);
    CHECK(n >= 2);
    const WSANAMESPACE_INFOEXW *a = find_info(info, n, &k_guid_a);
    const WSANAMESPACE_INFOEXW *b = find_info(info, n, &k_guid_b);
    CHECK(a && a->dwNameSpace == NS_DNS && a->fActive && a->dwVersion == 1 &&
          wide_equals(a->lpszIdentifier, "cprovider A") && a->ProviderSpecific.cbSize == 3 &&
          memcmp(a->ProviderSpecific.pBlobData, "\x01\x02\x03", 3) == 0);
    CHECK(b && b->dwNameSpace == NS_NIS && b->ProviderSpecific.cbSize == 0);
    free(info);

    CHECK(WSCEnableNSProvider(&k_guid_b, 0) == NO_ERROR);
    n = enumerate(&info);
    b = find_info(info, n, &k_guid_b);
    CHECK(b && !b->fActive);
    free(info);
    GUID answered[4];
    INT error;
    CHECK(lookup_all("alpha.test", NS_ALL, NULL, answered, 4, &error) == 1);
    CHECK(WSCEnableNSProvider(&k_guid_b, 1) == NO_ERROR);
    CHECK(WSCEnableNSProvider(&k_guid_bad, 1) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(WSCEnableNSProvider(NULL, 1) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    section("catalog enumerate enable", before);

    if (g_catalog_path) {
        before = g_failures;
        n = enumerate(&info);
        const WSANAMESPACE_INFOEXW *f = find_info(info, n, &k_guid_file);
        CHECK(f && f->dwNameSpace == NS_DNS && !f->fActive && f->dwVersion == 3 &&
              wide_equals(f->lpszIdentifier, "file") && f->ProviderSpecific.cbSize == 3 &&
              memcmp(f->ProviderSpecific.pBlobData, "\xC0\xFF\xEE", 3) == 0);
        CHECK(n == 3);                   /* A, B and the one good line of the file */
        free(info);
        CHECK(file_mentions("{6E1C2A01-1111-4A4A-8001-02030405060A} 12 1 1"));
        CHECK(WSCUnInstallNameSpace(&k_guid_file) == NO_ERROR);
        CHECK(!file_mentions("{6E1C2A01-4444-4D4D"));
        CHECK(!file_mentions("garbage"));
        section("catalog file", before);
    }
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    int before = g_failures;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1)
        prepare_catalog_file(argv[1]);

    WSADATA data;
    WSAQUERYSETW q;
    HANDLE h;
    CHECK(WSACleanup() == SOCKET_ERROR && WSAGetLastError() == WSANOTINITIALISED);
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    CHECK(WSALookupServiceBeginW(&q, 0, &h) == SOCKET_ERROR &&
          WSAGetLastError() == WSANOTINITIALISED);
    CHECK(WSAStartup(0x0202, NULL) == WSAEFAULT);
    CHECK(WSAStartup(0x0101, &data) == WSAVERNOTSUPPORTED);
    CHECK(WSAStartup(0x0202, &data) == 0);
    CHECK(data.wVersion == 0x0202 && data.wHighVersion == 0x0202 &&
          strcmp(data.szDescription, "nspv2 Winsock stand-in") == 0);
    CHECK(WSAStartup(0x0202, &data) == 0);      /* counted: needs two WSACleanup calls */
    CHECK(WSACleanup() == NO_ERROR);
    WSASetLastError(12345);
    CHECK(WSAGetLastError() == 12345);
    section("startup", before);

    before = g_failures;
    NSPV2_ROUTINE routine;
    CHECK(cprovider_routine(&routine) == NO_ERROR);
    BYTE blob_bytes[3] = {1, 2, 3};
    BLOB blob = {3, blob_bytes};
    CHECK(WSCInstallNameSpaceEx(wide("cprovider A"), wide("cprovider.so"), NS_DNS, 1, &k_guid_a,
                                &blob) == NO_ERROR);
    CHECK(WSCInstallNameSpaceEx(wide("cprovider B"), wide("cprovider.so"), NS_NIS, 1, &k_guid_b,
                                NULL) == NO_ERROR);
    CHECK(WSCInstallNameSpaceEx(wide("again"), wide("x"), NS_DNS, 1, &k_guid_a, NULL) ==
              SOCKET_ERROR && WSAGetLastError() == WSANO_RECOVERY);    /* already installed */
    CHECK(WSCInstallNameSpaceEx(NULL, wide("x"), NS_DNS, 1, &k_guid_bad, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVAL);
    CHECK(WSCInstallNameSpaceEx(wide("x"), wide("x"), NS_DNS, 1, NULL, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVAL);
    NSPV2_ROUTINE broken = routine;
    broken.NSPv2LookupServiceEnd = NULL;
    CHECK(WSAAdvertiseProvider(&k_guid_a, &broken) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVAL);
    broken = routine;
    broken.dwMajorVersion = 2;               /* no page describes an NSPV2_ROUTINE 2.x */
    CHECK(WSAAdvertiseProvider(&k_guid_a, &broken) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVAL);
    CHECK(WSAAdvertiseProvider(&k_guid_never, &routine) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVALIDPROVIDER);            /* not installed */
    broken = routine;
    broken.cbSize = 8;
    CHECK(WSAAdvertiseProvider(&k_guid_a, &broken) == SOCKET_ERROR);
    CHECK(WSAAdvertiseProvider(NULL, &routine) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(WSAAdvertiseProvider(&k_guid_a, NULL) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    broken = routine;
    broken.dwMinorVersion = 3;               /* a later 1.x: the same interface */
    CHECK(WSAAdvertiseProvider(&k_guid_a, &broken) == NO_ERROR);
    CHECK(WSAUnadvertiseProvider(&k_guid_a) == NO_ERROR);
    CHECK(WSAAdvertiseProvider(&k_guid_a, &routine) == NO_ERROR);
    CHECK(WSAAdvertiseProvider(&k_guid_a, &routine) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVAL);
    CHECK(WSAAdvertiseProvider(&k_guid_b, &routine) == NO_ERROR);
    section("install advertise", before);

    before = g_failures;
    GUID answered[4];
    INT error;
    CHECK(lookup_all("alpha.test", NS_DNS, NULL, answered, 4, &error) == 1);
    CHECK(memcmp(&answered[0], &k_guid_a, sizeof(GUID)) == 0);
    restrictions(&q, "GAMMA.test", NS_DNS, NULL);      /* names compare case-insensitively */
    CHECK(WSALookupServiceBeginW(&q, 0, &h) == NO_ERROR && WSALookupServiceEnd(h) == NO_ERROR);
    section("lookup", before);

    before = g_failures;
    restrictions(&q, "beta.test", NS_DNS, NULL);
    CHECK(WSALookupServiceBeginW(&q, LUP_RETURN_NAME | LUP_RETURN_ADDR, &h) == NO_ERROR);
    _Alignas(8) BYTE small[130];
    DWORD length = sizeof small;
    CHECK(WSALookupServiceNextW(h, 0, &length, (LPWSAQUERYSETW)(void *)small) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEFAULT && length > sizeof small);
    DWORD zero = 0;
    CHECK(WSALookupServiceNextW(h, 0, &zero, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEFAULT && zero == length);   /* the same result, kept */
    length = sizeof small;
    CHECK(WSALookupServiceNextW(h, LUP_FLUSHPREVIOUS, &length, (LPWSAQUERYSETW)(void *)small) ==
              SOCKET_ERROR && WSAGetLastError() == WSA_E_NO_MORE);
    CHECK(WSALookupServiceEnd(h) == NO_ERROR);
    section("efault flushprevious", before);

    before = g_failures;
    CHECK(lookup_all("alpha.test", NS_ALL, NULL, answered, 4, &error) == 2);
    CHECK(memcmp(&answered[0], &k_guid_a, sizeof(GUID)) == 0 &&
          memcmp(&answered[1], &k_guid_b, sizeof(GUID)) == 0);
    CHECK(lookup_all("alpha.test", NS_DNS, &k_guid_b, answered, 4, &error) == 1);
    CHECK(memcmp(&answered[0], &k_guid_b, sizeof(GUID)) == 0);
    CHECK(lookup_all("alpha.test", NS_NIS, NULL, answered, 4, &error) == 1);
    CHECK(memcmp(&answered[0], &k_guid_b, sizeof(GUID)) == 0);
    CHECK(lookup_all("alpha.test", NS_SAP, NULL, answered, 4, &error) == -1 &&
          error == WSASERVICE_NOT_FOUND);
    CHECK(lookup_all("nowhere.test", NS_ALL, NULL, answered, 4, &error) == -1 &&
          error == WSAHOST_NOT_FOUND);
    section("routing", before);

    before = g_failures;
    h = (HANDLE)(uintptr_t)0x4c00000100000001ull;
    length = 0;
    CHECK(WSALookupServiceBeginW(NULL, 0, &h) == SOCKET_ERROR && WSAGetLastError() == WSAEFAULT);
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    CHECK(WSALookupServiceBeginW(&q, 0, NULL) == SOCKET_ERROR && WSAGetLastError() == WSAEFAULT);
    q.dwSize = sizeof(WSAQUERYSET2W);
    CHECK(WSALookupServiceBeginW(&q, 0, &h) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    q.dwNumberOfCsAddrs = 2;
    CHECK(WSALookupServiceBeginW(&q, 0, &h) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    q.lpServiceClassId = NULL;               /* required by WSALookupServiceBegin's page */
    CHECK(WSALookupServiceBeginW(&q, 0, &h) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(WSALookupServiceNextW((HANDLE)(uintptr_t)0x4c00000100000001ull, 0, &length, NULL) ==
              SOCKET_ERROR && WSAGetLastError() == WSA_INVALID_HANDLE);
    CHECK(WSALookupServiceNextW((HANDLE)(uintptr_t)12345, 0, &length, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSA_INVALID_HANDLE);
    CHECK(WSALookupServiceNextW(NULL, 0, &length, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSA_INVALID_HANDLE);
    CHECK(WSALookupServiceEnd((HANDLE)(uintptr_t)777) == SOCKET_ERROR &&
          WSAGetLastError() == WSA_INVALID_HANDLE);
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    CHECK(WSALookupServiceBeginW(&q, LUP_RETURN_ALL, &h) == NO_ERROR);
    CHECK(WSALookupServiceNextW(h, 0, NULL, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEFAULT);
    length = 64;
    CHECK(WSALookupServiceNextW(h, 0, &length, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEFAULT);
    CHECK(WSALookupServiceEnd(h) == NO_ERROR);
    CHECK(WSALookupServiceEnd(h) == SOCKET_ERROR && WSAGetLastError() == WSA_INVALID_HANDLE);
    length = 0;
    CHECK(WSALookupServiceNextW(h, 0, &length, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSA_INVALID_HANDLE);
    CHECK(WSAProviderCompleteAsyncCall(NULL, 0) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEINVAL);   /* the function's page: WSAEINVAL for NULL */
    CHECK(WSASetServiceW(NULL, RNRSERVICE_REGISTER, 0) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEFAULT);
    CHECK(WSAEnumNameSpaceProvidersExW(NULL, NULL) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEFAULT);
    section("bad inputs", before);

    before = g_failures;
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    CHECK(WSASetServiceW(&q, RNRSERVICE_REGISTER, 0) == SOCKET_ERROR &&
          WSAGetLastError() == WSAEOPNOTSUPP);
    section("setservice", before);

    test_email_routing();
    test_end_during_next();
    test_threads();
    test_clients();
    test_catalog();

    before = g_failures;
    restrictions(&q, "alpha.test", NS_ALL, NULL);
    CHECK(WSALookupServiceBeginW(&q, LUP_RETURN_ALL, &h) == NO_ERROR);
    WSAQUERYSETW *r;
    CHECK(next_result(h, LUP_RETURN_ALL, &r, &length) == NO_ERROR);   /* from A */
    free(r);
    CHECK(WSAUnadvertiseProvider(&k_guid_b) == NO_ERROR);
    CHECK(next_result(h, LUP_RETURN_ALL, &r, &length) == WSA_E_NO_MORE);  /* B is gone */
    CHECK(WSALookupServiceEnd(h) == NO_ERROR);
    CHECK(WSAUnadvertiseProvider(&k_guid_b) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    CHECK(lookup_all("alpha.test", NS_NIS, NULL, answered, 4, &error) == -1 &&
          error == WSASERVICE_NOT_FOUND);
    section("unadvertise", before);

    test_violations();

    before = g_failures;
    CHECK(WSCUnInstallNameSpace(&k_guid_b) == NO_ERROR);
    CHECK(WSCUnInstallNameSpace(&k_guid_b) == SOCKET_ERROR && WSAGetLastError() == WSAEINVAL);
    WSANAMESPACE_INFOEXW *info = NULL;
    int n = enumerate(&info);
    CHECK(n == 1 && find_info(info, n, &k_guid_a) != NULL);
    free(info);
    section("uninstall", before);

    before = g_failures;
    CHECK(StandinViolationCount() == 0);
    restrictions(&q, "alpha.test", NS_DNS, NULL);
    CHECK(WSALookupServiceBeginW(&q, LUP_RETURN_ALL, &h) == NO_ERROR);  /* left open */
    CHECK(WSACleanup() == NO_ERROR);
    long startups, cleanups, rundowns;
    cprovider_counters(&startups, &cleanups, &rundowns);
    CHECK(startups > 0 && startups == cleanups + rundowns);
    CHECK(WSACleanup() == SOCKET_ERROR && WSAGetLastError() == WSANOTINITIALISED);
    CHECK(WSALookupServiceEnd(h) == SOCKET_ERROR && WSAGetLastError() == WSANOTINITIALISED);
    section("cleanup balance", before);

    if (g_failures) {
        printf("%d check(s) failed\n", g_failures);
        return 1;
    }
    printf("all ok\n");
    return 0;
}
