/* nspv2-host: the native provider host. A program with no Python in it that does what Winsock
 * asks of an NSPv2 host: WSAStartup, load the provider library, NSPv2GetRoutine and
 * WSAAdvertiseProvider for each provider GUID, serve, then unadvertise and WSACleanup.
 *
 *   nspv2-host [--config FILE] [--install NAME] [--namespace N] [--blob HEX]
 *              [--python-home DIR] --provider GUID [--provider GUID ...]
 *              [--lookup NAME ...] [--lookup-namespace N] [--serve] [--verbose]
 *
 * --verbose logs at DEBUG (NSPv2SetLogLevel), over the configuration's [nspv2] log_level: a
 * provider that cannot be loaded then shows its traceback after the line that names the file,
 * the GUID and the fix.
 *
 * --install first puts each provider in the catalog (WSCInstallNameSpaceEx; off Windows the
 * stand-in's catalog) as Microsoft's NSPv2 sample installs its provider: version 1 and an empty
 * library path, since Winsock loads nothing for an NSPv2 provider (it lives in this process),
 * and, when the GUID is already installed (WSANO_RECOVERY), uninstalling and installing again,
 * so the entry is the one asked for.
 * --blob gives the provider-specific blob in hex, for NS_EMAIL the NAPI_PROVIDER_INSTALLATION_BLOB
 * whose domains route names to the provider (`nspv2 example` passes the example provider's, built
 * by nspv2.napi). --lookup then asks Winsock for NAME as a client would, with the service class
 * SVCID_HOSTNAME (ws2const.h says why), and prints every result; the exit status is 0 only if
 * every lookup found something. --serve waits for SIGINT or SIGTERM (Ctrl+C on Windows) before
 * withdrawing the providers.
 *
 * Off Windows, Winsock is the stand-in libws2standin.so beside this program (NSPV2_WINSOCK_LIBRARY
 * overrides); the provider library is the one beside this program (NSPV2_PROVIDER_LIBRARY
 * overrides). Both are loaded with dlopen(RTLD_LOCAL), as a host that knows nothing of Python would.
 *
 * Finding Python on Windows (no PATH needed): the provider library imports python3XY.dll, which
 * usually lives in the Python installation's root, not beside the provider library in
 * site-packages\nspv2. Before loading the provider library the host takes that folder from
 * --python-home DIR, else from the `home = DIR` (and `dll = FILE`) lines of nspv2-host.ini beside
 * this program (written by `nspv2 install`), calls SetDllDirectoryW(DIR) (for the DLLs Python
 * needs, such as vcruntime140.dll) and loads python3XY.dll by its full path, so the provider
 * library's import of it resolves to that one. XY comes from the provider library's file name
 * (_provider.cp311-win_amd64.pyd). Elsewhere --python-home is accepted and ignored: the provider
 * library (libnspv2.so, a loader) finds the libpython of the installation it belongs to. */
#include "nspv2/ws2dynamic.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#  define LOAD(path) ((void *)LoadLibraryA(path))
#else
#  include <dlfcn.h>
#  include <unistd.h>
#  define LOAD(path) dlopen(path, RTLD_NOW | RTLD_LOCAL)
#endif

#ifndef NSPV2_PROVIDER_FILE
#  define NSPV2_PROVIDER_FILE "_provider.so"
#endif
/* The provider library a host loads: the module itself on Windows, the loader elsewhere. */
#ifndef NSPV2_LIBRARY_FILE
#  define NSPV2_LIBRARY_FILE NSPV2_PROVIDER_FILE
#endif

#define MAX_PROVIDERS 16
#define MAX_LOOKUPS 64

/* The Winsock and provider functions the host uses, found at run time. */
static struct nspv2_api api;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* ASCII/UTF-8 to UTF-16 for the names the host is given (BMP only, which is enough here). */
static WCHAR *widen(const char *s)
{
    size_t n = strlen(s);
    WCHAR *w = calloc(n + 1, sizeof(WCHAR));
    size_t j = 0;
    if (w == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        unsigned int cp = c;
        int extra = c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (c >= 0xF0 || (extra > 0 && i + (size_t)extra >= n)) {
            i++;
            w[j++] = 0xFFFD;
            continue;
        }
        if (extra) {
            cp = c & (extra == 1 ? 0x1F : 0x0F);
            for (int k = 1; k <= extra; k++)
                cp = (cp << 6) | ((unsigned char)s[i + (size_t)k] & 0x3F);
        }
        i += 1 + (size_t)extra;
        w[j++] = (WCHAR)cp;
    }
    return w;
}

static void print_wide(const WCHAR *w)
{
    for (; w && *w; w++) {
        unsigned int c = *w;
        if (c < 0x80)
            putchar((int)c);
        else if (c < 0x800)
            printf("%c%c", 0xC0 | (c >> 6), 0x80 | (c & 0x3F));
        else
            printf("%c%c%c", 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F));
    }
}

/* An IPv6 address as RFC 5952 writes it, which is what Python's socket.inet_ntop prints (so
 * the host and `nspv2 lookup` show addresses alike): lowercase hex, the longest run of two or more
 * zero groups (the first, on a tie) as "::", and ::ffff:a.b.c.d for IPv4-mapped addresses. */
static void print_ipv6(const BYTE *a)
{
    unsigned int group[8];
    int best = -1, best_len = 1;
    for (int i = 0; i < 8; i++)
        group[i] = (unsigned int)((a[2 * i] << 8) | a[2 * i + 1]);
    if (group[0] == 0 && group[1] == 0 && group[2] == 0 && group[3] == 0 && group[4] == 0 &&
        group[5] == 0xffff) {
        printf("::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
        return;
    }
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && group[j] == 0)
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j > i ? j : i + 1;
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            printf("::");
            i += best_len - 1;
            continue;
        }
        printf(i == 0 || i == best + best_len ? "%x" : ":%x", group[i]);
    }
}

static void print_sockaddr(const SOCKET_ADDRESS *sa)
{
    if (sa->lpSockaddr == NULL)
        return;
    const BYTE *raw = (const BYTE *)sa->lpSockaddr;
    USHORT family = sa->lpSockaddr->sa_family;
    if (family == AF_INET && sa->iSockaddrLength >= (INT)sizeof(SOCKADDR_IN)) {
        printf(" %u.%u.%u.%u:%u", raw[4], raw[5], raw[6], raw[7], (raw[2] << 8) | raw[3]);
    } else if (family == AF_INET6 && sa->iSockaddrLength >= (INT)sizeof(SOCKADDR_IN6)) {
        printf(" [");
        print_ipv6(raw + 8);
        printf("]:%u", (raw[2] << 8) | raw[3]);
    } else {
        printf(" <family %u>", family);
    }
}

static int do_lookup(const char *name, DWORD namespace_id)
{
    WSAQUERYSETW qs;
    HANDLE lookup;
    int found = 0;
    WCHAR *wname = widen(name);
    if (wname == NULL)
        return 0;
    GUID service_class = SVCID_HOSTNAME;
    memset(&qs, 0, sizeof qs);
    qs.dwSize = sizeof qs;
    qs.lpszServiceInstanceName = wname;
    qs.lpServiceClassId = &service_class;
    qs.dwNameSpace = namespace_id;
    DWORD flags = LUP_RETURN_ALL;
    if (api.WSALookupServiceBeginW(&qs, flags, &lookup) == SOCKET_ERROR) {
        printf("%s: not found (Winsock error %d)\n", name, api.WSAGetLastError());
        free(wname);
        return 0;
    }
    DWORD size = 512;
    WSAQUERYSETW *buf = malloc(size);
    while (buf != NULL) {
        DWORD len = size;
        if (api.WSALookupServiceNextW(lookup, flags, &len, buf) == SOCKET_ERROR) {
            int error = api.WSAGetLastError();
            if (error == WSAEFAULT && len > size) {
                WSAQUERYSETW *bigger = realloc(buf, len);
                if (bigger == NULL)
                    break;
                buf = bigger;
                size = len;
                continue;
            }
            if (error != WSA_E_NO_MORE && error != WSAENOMORE)
                printf("%s: Winsock error %d\n", name, error);
            break;
        }
        found++;
        printf("%s: ", name);
        print_wide(buf->lpszServiceInstanceName);
        if (buf->dwOutputFlags & RESULT_IS_ALIAS)
            printf(" (alias of ");
        else if (buf->lpszComment)
            printf(" (");
        if (buf->lpszComment) {
            print_wide(buf->lpszComment);
            printf(")");
        }
        for (DWORD i = 0; i < buf->dwNumberOfCsAddrs; i++)
            print_sockaddr(&buf->lpcsaBuffer[i].RemoteAddr);
        printf("\n");
    }
    free(buf);
    free(wname);
    api.WSALookupServiceEnd(lookup);
    return found;
}

/* The folder this program lives in, with a trailing separator. */
static void own_folder(char *out, size_t len)
{
    out[0] = '\0';
#ifdef _WIN32
    DWORD n = GetModuleFileNameA(NULL, out, (DWORD)len);
    if (n == 0 || n >= len)
        out[0] = '\0';
#else
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    out[n > 0 ? n : 0] = '\0';
#endif
    char *sep = strrchr(out, '/');
#ifdef _WIN32
    char *alt = strrchr(out, '\\');
    if (alt > sep)
        sep = alt;
#endif
    if (sep)
        sep[1] = '\0';
    else
        out[0] = '\0';
}

static void *load_beside(const char *env, const char *file)
{
    char path[4096];
    const char *chosen = getenv(env);
    if (chosen == NULL || chosen[0] == '\0') {
        own_folder(path, sizeof path - strlen(file) - 1);
        strcat(path, file);
        chosen = path;
    }
    void *lib = LOAD(chosen);
#ifdef _WIN32
    DWORD error = lib == NULL ? GetLastError() : 0;
    if (lib == NULL)
        fprintf(stderr, "nspv2-host: cannot load %s (error %lu)%s\n", chosen,
                (unsigned long)error,
                error == ERROR_MOD_NOT_FOUND
                    ? ": if python3XY.dll is what is missing, run `nspv2 install` with the Python "
                      "nspv2 is installed in (it records that Python in nspv2-host.ini beside this "
                      "program) or pass --python-home DIR (the folder with python3XY.dll)"
                    : "");
#else
    if (lib == NULL)
        fprintf(stderr, "nspv2-host: cannot load %s\n", chosen);
#endif
    return lib;
}

#ifdef _WIN32
#  define PATH_CHARS 4096

/* UTF-8 -> UTF-16 into out (PATH_CHARS); 0 on success. */
static int utf8_to_wide(const char *s, WCHAR *out)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, (LPWSTR)out, PATH_CHARS);
    if (n <= 0) {
        out[0] = 0;
        return -1;
    }
    return 0;
}

/* For messages: UTF-16 -> UTF-8 (truncated if long). */
static const char *narrow(const WCHAR *w, char *out, int len)
{
    if (WideCharToMultiByte(CP_UTF8, 0, (LPCWSTR)w, -1, out, len, NULL, NULL) <= 0)
        snprintf(out, (size_t)len, "?");
    return out;
}

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

/* Reads `home = DIR` and `dll = FILE` from nspv2-host.ini beside this program, if it exists. */
static void read_host_ini(WCHAR *home, WCHAR *dll)
{
    WCHAR path[PATH_CHARS];
    DWORD n = GetModuleFileNameW(NULL, (LPWSTR)path, PATH_CHARS);
    if (n == 0 || n >= PATH_CHARS)
        return;
    while (n > 0 && path[n - 1] != L'\\' && path[n - 1] != L'/')
        n--;
    static const WCHAR name[] = L"nspv2-host.ini";
    if (n + sizeof name / sizeof name[0] > PATH_CHARS)
        return;
    memcpy(path + n, name, sizeof name);
    FILE *f = _wfopen((const wchar_t *)path, L"rb");
    if (f == NULL)
        return;
    char line[PATH_CHARS * 3];
    while (fgets(line, sizeof line, f) != NULL) {
        char *eq = strchr(line, '=');
        char *key = line;
        if (line[0] == ';' || line[0] == '#' || eq == NULL)
            continue;
        *eq = '\0';
        char *value = eq + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        trim(key);
        trim(value);
        if (strcmp(key, "home") == 0)
            utf8_to_wide(value, home);
        else if (strcmp(key, "dll") == 0)
            utf8_to_wide(value, dll);
    }
    fclose(f);
}

/* "python3XY.dll" from the provider library's name "_provider.cp3XY-win_amd64.pyd"; 0 if the
 * name carries no version. */
static int python_dll_name(WCHAR *out, size_t len)
{
    const char *cp = strstr(NSPV2_PROVIDER_FILE, ".cp");
    char digits[8];
    size_t n = 0;
    if (cp == NULL)
        return -1;
    for (cp += 3; *cp >= '0' && *cp <= '9' && n + 1 < sizeof digits; cp++)
        digits[n++] = *cp;
    digits[n] = '\0';
    if (n < 2 || len < 20)
        return -1;
    swprintf((wchar_t *)out, len, L"python%hs.dll", digits);
    return 0;
}

/* Makes the Python the provider library was built for loadable; -1 (and a message naming the
 * fix) if a recorded Python cannot be loaded. Nothing recorded: the loader's own search. */
static int prepare_python(const char *home_arg)
{
    WCHAR home[PATH_CHARS], dll[PATH_CHARS], file[64];
    char shown[PATH_CHARS];
    home[0] = dll[0] = 0;
    if (home_arg != NULL) {
        if (utf8_to_wide(home_arg, home) != 0) {
            fprintf(stderr, "nspv2-host: --python-home %s is not valid UTF-8\n", home_arg);
            return -1;
        }
    } else {
        read_host_ini(home, dll);
    }
    if (home[0] == 0 && dll[0] == 0)
        return 0;
    if (home[0] == 0) {
        /* home = the dll's folder */
        size_t n = wcslen((const wchar_t *)dll);
        memcpy(home, dll, (n + 1) * sizeof(WCHAR));
        while (n > 0 && home[n - 1] != L'\\' && home[n - 1] != L'/')
            n--;
        home[n > 0 ? n - 1 : 0] = 0;
    }
    if (!SetDllDirectoryW((LPCWSTR)home))
        fprintf(stderr, "nspv2-host: SetDllDirectoryW(%s) failed (error %lu)\n",
                narrow(home, shown, sizeof shown), (unsigned long)GetLastError());
    if (dll[0] == 0) {
        if (python_dll_name(file, sizeof file / sizeof file[0]) != 0)
            return 0;
        if (wcslen((const wchar_t *)home) + wcslen((const wchar_t *)file) + 2 > PATH_CHARS)
            return -1;
        swprintf((wchar_t *)dll, PATH_CHARS, L"%ls\\%ls", (const wchar_t *)home,
                 (const wchar_t *)file);
    }
    if (LoadLibraryExW((LPCWSTR)dll, NULL, LOAD_WITH_ALTERED_SEARCH_PATH) == NULL) {
        fprintf(stderr,
                "nspv2-host: cannot load %s (error %lu): the Python nspv2 was installed in has "
                "moved or is another version; run `nspv2 install` again with that Python, or "
                "pass --python-home DIR (the folder with python3XY.dll)\n",
                narrow(dll, shown, sizeof shown), (unsigned long)GetLastError());
        return -1;
    }
    return 0;
}
#endif

static int usage(void)
{
    fprintf(stderr, "usage: nspv2-host [--config FILE] [--install NAME] [--namespace N] "
                    "[--blob HEX] [--python-home DIR] --provider GUID ... [--lookup NAME ...] "
                    "[--lookup-namespace N] [--serve] [--verbose]\n");
    return 2;
}

/* The likely fix for a provider NSPv2GetRoutine or WSAAdvertiseProvider refused. */
static const char *advertise_hint(int advertising, int code)
{
    if (advertising && code == WSAEINVALIDPROVIDER)
        return " (the GUID is not installed in the Winsock catalog: add --install NAME "
               "--namespace N, or run `nspv2 install`)";
    if (!advertising && code == WSAEINVALIDPROVIDER)
        return " (no class is configured for the GUID: run `nspv2 install --provider "
               "module:Class`, or name a file with --config)";
    if (code == WSAEPROVIDERFAILEDINIT)
        return " (its class could not be loaded: the line above says why)";
    if (code == WSASYSNOTREADY)
        return " (Python did not start: the line above says why)";
    return "";
}

int main(int argc, char **argv)
{
    GUID providers[MAX_PROVIDERS];
    const char *lookups[MAX_LOOKUPS];
    int nproviders = 0, nlookups = 0, serve = 0, verbose = 0, failed = 0;
    const char *config = NULL, *install = NULL, *python_home = NULL, *blob_hex = "";
    DWORD install_ns = NS_ALL, lookup_ns = NS_ALL;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--serve") == 0) {
            serve = 1;
            continue;
        }
        if (strcmp(arg, "--verbose") == 0) {
            verbose = 1;
            continue;
        }
        if (value == NULL)
            return usage();
        i++;
        if (strcmp(arg, "--provider") == 0 && nproviders < MAX_PROVIDERS) {
            if (nspv2_parse_guid(value, &providers[nproviders++]) != 0) {
                fprintf(stderr, "nspv2-host: %s is not a GUID\n", value);
                return 2;
            }
        } else if (strcmp(arg, "--lookup") == 0 && nlookups < MAX_LOOKUPS) {
            lookups[nlookups++] = value;
        } else if (strcmp(arg, "--config") == 0) {
            config = value;
        } else if (strcmp(arg, "--python-home") == 0) {
            python_home = value;
        } else if (strcmp(arg, "--install") == 0) {
            install = value;
        } else if (strcmp(arg, "--blob") == 0) {
            blob_hex = value;
        } else if (strcmp(arg, "--namespace") == 0) {
            install_ns = (DWORD)strtoul(value, NULL, 0);
        } else if (strcmp(arg, "--lookup-namespace") == 0) {
            lookup_ns = (DWORD)strtoul(value, NULL, 0);
        } else {
            return usage();
        }
    }
    if (nproviders == 0)
        return usage();
    BLOB blob = {0, NULL};
    if (nspv2_parse_hex(blob_hex, &blob.pBlobData, &blob.cbSize) != 0) {
        fprintf(stderr, "nspv2-host: --blob %s is not an even number of hex digits\n", blob_hex);
        return 2;
    }

#ifdef _WIN32
    void *winsock = getenv("NSPV2_WINSOCK_LIBRARY") ? LOAD(getenv("NSPV2_WINSOCK_LIBRARY"))
                                                    : LOAD("ws2_32.dll");
    if (prepare_python(python_home) != 0)
        return 2;
#else
    (void)python_home;
    void *winsock = load_beside("NSPV2_WINSOCK_LIBRARY", "libws2standin.so");
#endif
    void *provider = load_beside("NSPV2_PROVIDER_LIBRARY", NSPV2_LIBRARY_FILE);
    if (winsock == NULL || provider == NULL)
        return 2;
    const char *missing = nspv2_api_resolve(&api, winsock, provider);
    if (missing != NULL) {
        fprintf(stderr, "nspv2-host: %s not found\n", missing);
        return 2;
    }

    WSADATA data;
    int rc = api.WSAStartup(0x0202, &data);
    if (rc != 0) {
        fprintf(stderr, "nspv2-host: WSAStartup failed: %d\n", rc);
        return 1;
    }
    if (verbose && api.NSPv2SetLogLevel("DEBUG") == SOCKET_ERROR) {
        fprintf(stderr, "nspv2-host: --verbose: NSPv2SetLogLevel failed: %d\n",
                api.WSAGetLastError());
        return 2;
    }
    if (config != NULL && api.NSPv2SetConfigFile(config) == SOCKET_ERROR) {
        fprintf(stderr, "nspv2-host: bad --config %s\n", config);
        api.WSACleanup();
        return 2;
    }

    NSPV2_ROUTINE routines[MAX_PROVIDERS];
    int advertised = 0;
    for (int i = 0; i < nproviders; i++) {
        if (install != NULL) {
            WCHAR *name = widen(install), no_path[1] = {0};
            int rc = name ? api.WSCInstallNameSpaceEx(name, no_path, install_ns, 1, &providers[i],
                                                      &blob)
                          : SOCKET_ERROR;
            if (rc == SOCKET_ERROR && name && api.WSAGetLastError() == WSANO_RECOVERY &&
                api.WSCUnInstallNameSpace(&providers[i]) == NO_ERROR)
                rc = api.WSCInstallNameSpaceEx(name, no_path, install_ns, 1, &providers[i], &blob);
            if (rc == SOCKET_ERROR)
                fprintf(stderr, "nspv2-host: WSCInstallNameSpaceEx: Winsock error %d\n",
                        api.WSAGetLastError());
            free(name);
        }
        const GUID *g = &providers[i];
        int advertising = 0;
        int rc = api.NSPv2GetRoutine(g, &routines[i]);
        if (rc != SOCKET_ERROR) {
            advertising = 1;
            rc = api.WSAAdvertiseProvider(g, &routines[i]);
        }
        if (rc == SOCKET_ERROR) {
            int code = api.WSAGetLastError();
            fprintf(stderr,
                    "nspv2-host: provider {%08lX-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X} "
                    "not advertised: %s failed with Winsock error %d%s\n",
                    (unsigned long)g->Data1, g->Data2, g->Data3, g->Data4[0], g->Data4[1],
                    g->Data4[2], g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7],
                    advertising ? "WSAAdvertiseProvider" : "NSPv2GetRoutine", code,
                    advertise_hint(advertising, code));
            failed = 1;
            break;
        }
        advertised++;
    }

    if (!failed) {
        for (int i = 0; i < nlookups; i++)
            if (do_lookup(lookups[i], lookup_ns) == 0)
                failed = 1;
        fflush(stdout);
        if (serve) {
            signal(SIGINT, on_signal);
            signal(SIGTERM, on_signal);
            fprintf(stderr, "nspv2-host: serving %d provider(s); stop with Ctrl+C\n", advertised);
            while (!stop) {
#ifdef _WIN32
                Sleep(200);
#else
                usleep(200 * 1000);
#endif
            }
        }
    }
    for (int i = 0; i < advertised; i++)
        api.WSAUnadvertiseProvider(&providers[i]);
    api.WSACleanup();
    free(blob.pBlobData);
    return failed;
}
