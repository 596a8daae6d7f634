/* not_ready_host: a process with no Python and no Winsock but the two functions a provider
 * library needs from it (WSASetLastError and WSAProviderCompleteAsyncCall, defined here and
 * exported with -rdynamic, so the library finds them as it finds ws2_32's). It loads the provider
 * library given as argv[1] with dlopen(RTLD_NOW | RTLD_LOCAL) and calls every NSPv2 entry point
 * once, printing one line per call:
 *
 *   NAME rc=RC error=CODE          an INT entry point: its return value and the last error set
 *   NAME completed=CODE calls=N    a VOID entry point that completes its async call
 *   NAME returned                  NSPv2ClientSessionRundown (it neither returns nor completes)
 *   done
 *
 * For tests/test_loader.py's failed-interpreter-start test. Exit status 0, or 2 on setup failure. */
#include "nspv2/ws2types.h"
#include "nspv2/provider.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static INT last_error;
static INT completed_code = -12345;
static int completions;

VOID WINAPI WSASetLastError(INT iError)
{
    last_error = iError;
}

INT WINAPI WSAProviderCompleteAsyncCall(HANDLE hAsyncCall, INT iRetCode)
{
    (void)hAsyncCall;
    completed_code = iRetCode;
    completions++;
    return NO_ERROR;
}

static void *need(void *lib, const char *name)
{
    void *sym = dlsym(lib, name);
    if (sym == NULL)
        fprintf(stderr, "not_ready_host: no %s\n", name);
    return sym;
}

#define BIND(type, var, name)                                                                  \
    type var;                                                                                  \
    do {                                                                                       \
        void *sym_ = need(lib, name);                                                          \
        if (sym_ == NULL)                                                                      \
            return 2;                                                                          \
        memcpy(&var, &sym_, sizeof var);                                                       \
    } while (0)

static void report(const char *name, INT rc)
{
    printf("%s rc=%d error=%d\n", name, rc, last_error);
    last_error = 0;
}

static void report_completion(const char *name)
{
    printf("%s completed=%d calls=%d\n", name, completed_code, completions);
    completed_code = -12345;
    completions = 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: not_ready_host PROVIDER_LIBRARY\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "not_ready_host: %s\n", dlerror());
        return 2;
    }
    typedef INT(WINAPI * get_routine_fn)(const GUID *, NSPV2_ROUTINE *);
    BIND(get_routine_fn, get_routine, "NSPv2GetRoutine");
    BIND(LPNSPV2STARTUP, startup, "NSPv2Startup");
    BIND(LPNSPV2CLEANUP, cleanup, "NSPv2Cleanup");
    BIND(LPNSPV2LOOKUPSERVICEBEGIN, begin, "NSPv2LookupServiceBegin");
    BIND(LPNSPV2LOOKUPSERVICENEXTEX, next, "NSPv2LookupServiceNextEx");
    BIND(LPNSPV2LOOKUPSERVICEEND, end, "NSPv2LookupServiceEnd");
    BIND(LPNSPV2SETSERVICEEX, set_service, "NSPv2SetServiceEx");
    BIND(LPNSPV2CLIENTSESSIONRUNDOWN, rundown, "NSPv2ClientSessionRundown");

    GUID provider = {0x5b4d8a3e, 0x2f1c, 0x4e7a, {0x9b, 0x6d, 0x0c, 0x3e, 0x5f, 0x7a, 0x9d, 0x21}};
    NSPV2_ROUTINE routine;
    memset(&routine, 0, sizeof routine);
    WSAQUERYSET2W query;
    memset(&query, 0, sizeof query);
    query.dwSize = sizeof query;
    query.dwNameSpace = NS_EMAIL;
    WCHAR name[] = {'a', '@', 'b', '.', 'c', 0};
    query.lpszServiceInstanceName = name;
    LPVOID session = NULL;
    HANDLE lookup = NULL;
    DWORD length = 0;
    HANDLE async_call = (HANDLE)&completions; /* any non-NULL handle: this host completes it */

    report("NSPv2GetRoutine", get_routine(&provider, &routine));
    report("NSPv2Startup", startup(&provider, &session));
    report("NSPv2LookupServiceBegin", begin(&provider, &query, LUP_RETURN_ALL, session, &lookup));
    next(async_call, (HANDLE)(uintptr_t)1, 0, &length, NULL);
    report_completion("NSPv2LookupServiceNextEx");
    report("NSPv2LookupServiceEnd", end((HANDLE)(uintptr_t)1));
    set_service(async_call, &provider, &query, RNRSERVICE_REGISTER, 0, session);
    report_completion("NSPv2SetServiceEx");
    rundown(&provider, session);
    printf("NSPv2ClientSessionRundown returned\n");
    report("NSPv2Cleanup", cleanup(&provider, session));
    printf("done\n");
    return 0;
}
