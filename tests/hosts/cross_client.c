/* A client process for tests/test_crossprocess.py's reliability test: no Python, only the
 * Winsock stand-in (dlopen'ed), looking one name up again and again in a provider another
 * process serves, through WSALookupServiceBeginW / NextW (WSAEFAULT retry) / End.
 *
 *   cross_client WINSOCK_LIBRARY NAME ITERATIONS
 *
 * Three phases, each ended by a line on stdout and a line awaited on stdin (the test kills
 * clients and the host in between): ITERATIONS/2 lookups, "half"; ITERATIONS/2 more, "second";
 * then lookups until the last 50 succeeded in a row (a host restarted meanwhile must serve it
 * again), giving up after ITERATIONS * 100. Every call must return: a lookup either succeeds
 * with its two results or fails with a Winsock code, which is tallied. It ends with one line:
 *   done ok=N failed=M codes=CODE:COUNT,... violations=V streak=S
 * and exit status 0. */
#include "nspv2/ws2dynamic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static GUID service_class = SVCID_HOSTNAME;

static struct nspv2_api api;

#define MAX_CODES 32
static int g_codes[MAX_CODES], g_counts[MAX_CODES], g_ncodes;

static void tally(int code)
{
    for (int i = 0; i < g_ncodes; i++)
        if (g_codes[i] == code) {
            g_counts[i]++;
            return;
        }
    if (g_ncodes < MAX_CODES) {
        g_codes[g_ncodes] = code;
        g_counts[g_ncodes++] = 1;
    }
}

/* One lookup; 0 when it gave exactly the two results, else the Winsock code. */
static int one_lookup(WCHAR *name)
{
    WSAQUERYSETW qs;
    memset(&qs, 0, sizeof qs);
    qs.dwSize = sizeof qs;
    qs.lpszServiceInstanceName = name;
    qs.dwNameSpace = NS_DNS;
    qs.lpServiceClassId = &service_class; /* required by WSALookupServiceBegin */
    HANDLE lookup;
    if (api.WSALookupServiceBeginW(&qs, LUP_RETURN_ALL, &lookup) == SOCKET_ERROR)
        return api.WSAGetLastError();
    static _Alignas(16) char small[256];
    char *buffer = small, *big = NULL;
    DWORD size = sizeof small;
    int results = 0, code = 0;
    for (;;) {
        DWORD length = size;
        if (api.WSALookupServiceNextW(lookup, LUP_RETURN_ALL, &length,
                                      (LPWSAQUERYSETW)(void *)buffer) == 0) {
            results++;
            continue;
        }
        int error = api.WSAGetLastError();
        if (error == WSAEFAULT && length > size) {
            free(big);
            big = aligned_alloc(16, (length + 15u) & ~15u);
            if (big == NULL) {
                code = WSA_NOT_ENOUGH_MEMORY;
                break;
            }
            buffer = big;
            size = length;
            continue;
        }
        if (error != WSA_E_NO_MORE && error != WSAENOMORE)
            code = error;
        break;
    }
    free(big);
    api.WSALookupServiceEnd(lookup);
    if (code == 0 && results != 2)
        code = -results - 1;      /* a wrong number of results: never a Winsock code */
    return code;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: cross_client WINSOCK_LIBRARY NAME ITERATIONS\n");
        return 2;
    }
    void *winsock = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    const char *missing = winsock ? nspv2_api_resolve(&api, winsock, NULL) : "the library";
    if (missing) {
        fprintf(stderr, "cross_client: cannot load %s from %s\n", missing, argv[1]);
        return 2;
    }
    WCHAR name[64];
    size_t n = strlen(argv[2]);
    for (size_t i = 0; i <= n && i < 63; i++)
        name[i] = (WCHAR)(unsigned char)argv[2][i];
    name[63] = 0;
    long iterations = strtol(argv[3], NULL, 10);
    WSADATA data;
    if (api.WSAStartup(0x0202, &data) != 0)
        return 2;

    long ok = 0, failed = 0, streak = 0;
    const char *phases[3] = {"half", "second", NULL};
    for (int phase = 0; phase < 3; phase++) {
        long limit = phase < 2 ? iterations / 2 : iterations * 100;
        for (long made = 0; made < limit && (phase < 2 || streak < 50); made++) {
            int code = one_lookup(name);
            if (code == 0) {
                ok++;
                streak++;
            } else {
                failed++;
                streak = 0;
                tally(code);
                usleep(1000);     /* the host is away: do not spin */
            }
        }
        if (phases[phase] == NULL)
            break;
        printf("%s\n", phases[phase]);
        fflush(stdout);
        char line[16];
        if (fgets(line, sizeof line, stdin) == NULL)
            return 2;
        streak = 0;
    }
    DWORD violations = api.StandinViolationCount ? api.StandinViolationCount() : 0;
    api.WSACleanup();
    printf("done ok=%ld failed=%ld codes=", ok, failed);
    for (int i = 0; i < g_ncodes; i++)
        printf("%s%d:%d", i ? "," : "", g_codes[i], g_counts[i]);
    printf(" violations=%u streak=%ld\n", (unsigned)violations, streak);
    return 0;
}
