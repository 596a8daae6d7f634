/* Winsock's provider-side functions, found at run time instead of linked.
 *
 * On Windows they come from ws2_32.dll. Elsewhere (and under Wine, which implements none of
 * NSPv2) they come from the Winsock stand-in, which the host has loaded: first whatever the
 * process already exports under the ws2_32 names, then the library named by the host's
 * NSPV2_WINSOCK_LIBRARY, then the stand-in installed beside this library. Resolving at run time
 * is what lets the same provider binary run against ws2_32 and against the stand-in. */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE /* dladdr */
#endif
#include "provider.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#else
#  include <dlfcn.h>
#endif

typedef INT(WINAPI *complete_fn)(HANDLE, INT);
typedef VOID(WINAPI *set_last_error_fn)(INT);

static _Atomic(complete_fn) complete_async;
static _Atomic(set_last_error_fn) set_last_error;

#ifdef _WIN32
static void *find_symbol(const char *name)
{
    wchar_t path[1024];
    HMODULE ws2 = NULL;
    DWORD n = GetEnvironmentVariableW(L"NSPV2_WINSOCK_LIBRARY", path, 1024);
    if (n > 0 && n < 1024)
        ws2 = LoadLibraryW(path);
    if (ws2 == NULL)
        ws2 = LoadLibraryW(L"ws2_32.dll");
    return ws2 ? (void *)GetProcAddress(ws2, name) : NULL;
}
#else
static void *find_symbol(const char *name)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    const char *env = getenv("NSPV2_WINSOCK_LIBRARY");
    if (sym == NULL && env != NULL && env[0] != '\0') {
        void *lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (lib != NULL)
            sym = dlsym(lib, name);
    }
    if (sym == NULL) {
        Dl_info self;
        if (dladdr((void *)&nspv2_winsock_resolve, &self) && self.dli_fname != NULL) {
            char path[4096];
            const char *slash = strrchr(self.dli_fname, '/');
            size_t dir = slash ? (size_t)(slash - self.dli_fname) + 1 : 0;
            static const char standin[] = "libws2standin.so";
            if (dir + sizeof standin <= sizeof path) {
                memcpy(path, self.dli_fname, dir);
                memcpy(path + dir, standin, sizeof standin);
                void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
                if (lib != NULL)
                    sym = dlsym(lib, name);
            }
        }
    }
    return sym;
}
#endif

INT nspv2_winsock_resolve(void)
{
    if (atomic_load(&complete_async) != NULL && atomic_load(&set_last_error) != NULL)
        return NO_ERROR;
    /* Converting a data pointer to a function pointer: POSIX guarantees it for dlsym. */
    complete_fn c;
    set_last_error_fn s;
    void *pc = find_symbol("WSAProviderCompleteAsyncCall");
    void *ps = find_symbol("WSASetLastError");
    memcpy(&c, &pc, sizeof c);
    memcpy(&s, &ps, sizeof s);
    if (c == NULL || s == NULL) {
        nspv2_log("Winsock's WSAProviderCompleteAsyncCall/WSASetLastError not found: load ws2_32 "
                  "(or, off Windows, the nspv2 Winsock stand-in) before the provider library");
        return WSASYSNOTREADY;
    }
    atomic_store(&complete_async, c);
    atomic_store(&set_last_error, s);
    return NO_ERROR;
}

void nspv2_set_last_error(INT code)
{
    set_last_error_fn s = atomic_load(&set_last_error);
    if (s == NULL && nspv2_winsock_resolve() == NO_ERROR)
        s = atomic_load(&set_last_error);
    if (s != NULL)
        s(code);
}

INT nspv2_complete_async(HANDLE asyncCall, INT code)
{
    complete_fn c = atomic_load(&complete_async);
    if (c == NULL && nspv2_winsock_resolve() == NO_ERROR)
        c = atomic_load(&complete_async);
    if (c == NULL) {
        nspv2_log("cannot complete async call %p with %d: Winsock not resolved", asyncCall, code);
        return SOCKET_ERROR;
    }
    return c(asyncCall, code);
}

typedef BOOL(WINAPI *on_client_thread_fn)(void);
static _Atomic(on_client_thread_fn) on_client_thread;

static BOOL WINAPI winsock_thread(void)
{
    return 0;
}

int nspv2_on_client_thread(void)
{
    on_client_thread_fn f = atomic_load(&on_client_thread);
    if (f == NULL) {
        void *found = find_symbol("StandinOnClientThread");
        memcpy(&f, &found, sizeof f);
        if (f == NULL)
            f = winsock_thread; /* ws2_32: calls arrive on its worker threads */
        atomic_store(&on_client_thread, f);
    }
    return f() != 0;
}

#ifdef _WIN32
void nspv2_publish_domains(const GUID *provider, const CHAR *text)
{
    (void)provider, (void)text; /* Windows has no libnss_nspv2 to tell */
}
#else
typedef INT(WINAPI *publish_fn)(const GUID *, const CHAR *);

void nspv2_publish_domains(const GUID *provider, const CHAR *text)
{
    void *found = find_symbol("StandinPublishDomains");
    publish_fn publish;
    memcpy(&publish, &found, sizeof publish);
    if (publish != NULL)
        (void)publish(provider, text);
}
#endif
