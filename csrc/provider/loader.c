/* The provider library as hosts load it off Windows: libnspv2.so, a loader with no dependency
 * on libpython.
 *
 * The cffi module beside it (nspv2._provider) needs libpython's symbols but does not link
 * libpython: PEP 513/600 wheels must not, and the manylinux images' CPythons have no shared
 * libpython to link. So this library, which exports the same entry points, makes libpython
 * visible first and then loads the module:
 *   - In a Python process (`nspv2 serve`, a test) the interpreter's symbols are already there,
 *     from libpython or from a statically linked python executable; it must be the version the
 *     module was built for (WSAVERNOTSUPPORTED otherwise).
 *   - In a process without Python it loads, with global visibility, libpythonX.Y.so.1.0 of the
 *     installation that owns this package (through a virtual environment to its base: see
 *     python_location.c); only if the package is in no installation (a user site), the one the
 *     dynamic linker finds by its soname.
 * NSPv2GetRoutine hands out the module's own functions, so calls made through the routine
 * table (every call Winsock makes) never pass through here; the exports below forward for hosts
 * that call them by name. If loading fails, every entry point answers WSASYSNOTREADY (or
 * WSAVERNOTSUPPORTED) the way the module itself would, and the reason goes to the log. */
#ifndef _WIN32
#  include "provider.h"

#  include <dlfcn.h>
#  include <pthread.h>
#  include <stdio.h>
#  include <string.h>

#  ifndef NSPV2_PROVIDER_FILE
#    error "NSPV2_PROVIDER_FILE: the file name of the nspv2._provider module, set by setup.py"
#  endif

typedef INT(WINAPI *get_routine_fn)(const GUID *, NSPV2_ROUTINE *);
typedef INT(WINAPI *set_config_file_fn)(const CHAR *);
typedef INT(WINAPI *set_log_level_fn)(const CHAR *);

static struct {
    LPNSPV2STARTUP startup;
    LPNSPV2CLEANUP cleanup;
    LPNSPV2LOOKUPSERVICEBEGIN begin;
    LPNSPV2LOOKUPSERVICENEXTEX next;
    LPNSPV2LOOKUPSERVICEEND end;
    LPNSPV2SETSERVICEEX set_service;
    LPNSPV2CLIENTSESSIONRUNDOWN rundown;
    get_routine_fn get_routine;
    set_config_file_fn set_config_file;
    set_log_level_fn set_log_level;
} module;
static INT load_code = WSASYSNOTREADY;

static void *symbol(void *lib, const char *name)
{
    void *sym = dlsym(lib, name);
    if (sym == NULL)
        nspv2_log("%s has no %s", NSPV2_PROVIDER_FILE, name);
    return sym;
}

/* Converting a data pointer to a function pointer: POSIX guarantees it for dlsym. */
#  define BIND(field, name)                                                                    \
      do {                                                                                     \
          void *sym_ = symbol(lib, name);                                                      \
          if (sym_ == NULL)                                                                    \
              return WSASYSNOTREADY;                                                           \
          memcpy(&module.field, &sym_, sizeof module.field);                                   \
      } while (0)

/* "3.11." for 3.11: what Py_GetVersion() of a matching interpreter starts with. */
static int version_matches(void *lib, const char *where)
{
    const char *(*get_version)(void);
    void *sym = dlsym(lib, "Py_GetVersion");
    if (sym == NULL)
        return 0;
    memcpy(&get_version, &sym, sizeof get_version);
    const char *running = get_version();
    size_t n = strlen(NSPV2_PYTHON_VERSION);
    if (strncmp(running, NSPV2_PYTHON_VERSION, n) == 0 && running[n] == '.')
        return 1;
    nspv2_log("this provider library was built for Python %s but %s is Python %.*s; install nspv2"
              " into the Python the host uses", NSPV2_PYTHON_VERSION, where,
              (int)strcspn(running, " "), running);
    return 0;
}

/* libpythonX.Y.so.1.0 (or the .so link to it) in dir, with global visibility; dir NULL: by
 * name, through the dynamic linker's search path. */
static void *open_libpython(const char *dir)
{
    static const char *const names[] = {"libpython" NSPV2_PYTHON_LDVERSION ".so.1.0",
                                        "libpython" NSPV2_PYTHON_LDVERSION ".so"};
    char path[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *file = names[i];
        if (dir != NULL) {
            int n = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if (n < 0 || (size_t)n >= sizeof path)
                return NULL;
            file = path;
        }
        void *lib = dlopen(file, RTLD_NOW | RTLD_GLOBAL);
        if (lib != NULL)
            return lib;
    }
    return NULL;
}

/* The libpython of the installation at prefix: in <prefix>/lib or, where a distribution puts
 * it, <prefix>/lib/<multiarch>. */
static void *open_prefix_libpython(const char *prefix)
{
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/lib", prefix);
    if (n < 0 || (size_t)n >= sizeof dir)
        return NULL;
    void *lib = open_libpython(dir);
    if (lib == NULL && NSPV2_PYTHON_MULTIARCH[0] != '\0') {
        n = snprintf(dir, sizeof dir, "%s/lib/%s", prefix, NSPV2_PYTHON_MULTIARCH);
        if (n > 0 && (size_t)n < sizeof dir)
            lib = open_libpython(dir);
    }
    return lib;
}

static INT make_python_visible(const char *install_dir)
{
    if (dlsym(RTLD_DEFAULT, "Py_GetVersion") != NULL)
        return version_matches(RTLD_DEFAULT, "this process") ? NO_ERROR : WSAVERNOTSUPPORTED;
    char prefix[4096];
    void *lib;
    if (nspv2_python_base_prefix(install_dir, prefix, sizeof prefix) == 0) {
        /* The installation that owns the package: its libpython or none (another one's
         * would run this package against that installation's standard library). */
        lib = open_prefix_libpython(prefix);
        if (lib == NULL) {
            nspv2_log("cannot find libpython%s.so.1.0 in %s/lib, the Python installation %s "
                      "belongs to: a process without Python in it needs a Python built with "
                      "--enable-shared; or serve from Python with `nspv2 serve`",
                      NSPV2_PYTHON_LDVERSION, prefix, install_dir);
            return WSASYSNOTREADY;
        }
    } else {
        /* Not inside a Python installation (a user site, a copied folder): the libpython the
         * dynamic linker finds, usually the system Python's. */
        lib = open_libpython(NULL);
        if (lib == NULL) {
            nspv2_log("cannot find libpython%s.so.1.0: %s is not inside a Python installation "
                      "and the dynamic linker finds none; install nspv2 into a Python built with "
                      "--enable-shared, or serve from Python with `nspv2 serve`",
                      NSPV2_PYTHON_LDVERSION, install_dir);
            return WSASYSNOTREADY;
        }
    }
    return version_matches(lib, "libpython") ? NO_ERROR : WSAVERNOTSUPPORTED;
}

static INT load(void)
{
    Dl_info self;
    char dir[4096], path[4096];
    if (!dladdr((void *)&load_code, &self) || self.dli_fname == NULL ||
        strlen(self.dli_fname) >= sizeof dir) {
        nspv2_log("cannot find the provider library's own path");
        return WSASYSNOTREADY;
    }
    strcpy(dir, self.dli_fname);
    if (nspv2_dirname_levels(dir, 1) != 0) { /* .../site-packages/nspv2 */
        nspv2_log("unexpected provider library path %s", self.dli_fname);
        return WSASYSNOTREADY;
    }
    int n = snprintf(path, sizeof path, "%s/%s", dir, NSPV2_PROVIDER_FILE);
    if (n < 0 || (size_t)n >= sizeof path || nspv2_dirname_levels(dir, 1) != 0)
        return WSASYSNOTREADY; /* dir: .../site-packages */

    INT rc = make_python_visible(dir);
    if (rc != NO_ERROR)
        return rc;
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        nspv2_log("cannot load %s: %s", path, dlerror());
        return WSASYSNOTREADY;
    }
    BIND(startup, "NSPv2Startup");
    BIND(cleanup, "NSPv2Cleanup");
    BIND(begin, "NSPv2LookupServiceBegin");
    BIND(next, "NSPv2LookupServiceNextEx");
    BIND(end, "NSPv2LookupServiceEnd");
    BIND(set_service, "NSPv2SetServiceEx");
    BIND(rundown, "NSPv2ClientSessionRundown");
    BIND(get_routine, "NSPv2GetRoutine");
    BIND(set_config_file, "NSPv2SetConfigFile");
    BIND(set_log_level, "NSPv2SetLogLevel");
    return NO_ERROR;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load_once(void)
{
    load_code = load();
}

static INT loaded(void)
{
    pthread_once(&once, load_once);
    return load_code;
}

static INT fail(INT code)
{
    nspv2_set_last_error(code);
    return SOCKET_ERROR;
}

NSPV2_EXPORT INT WINAPI NSPv2Startup(LPGUID lpProviderId, LPVOID *ppvClientSessionArg)
{
    INT rc = loaded();
    return rc == NO_ERROR ? module.startup(lpProviderId, ppvClientSessionArg) : fail(rc);
}

NSPV2_EXPORT INT WINAPI NSPv2Cleanup(LPGUID lpProviderId, LPVOID pvClientSessionArg)
{
    INT rc = loaded();
    return rc == NO_ERROR ? module.cleanup(lpProviderId, pvClientSessionArg) : fail(rc);
}

NSPV2_EXPORT VOID WINAPI NSPv2ClientSessionRundown(LPGUID lpProviderId, LPVOID pvClientSessionArg)
{
    if (loaded() == NO_ERROR)
        module.rundown(lpProviderId, pvClientSessionArg);
}

NSPV2_EXPORT INT WINAPI NSPv2LookupServiceBegin(LPGUID lpProviderId,
                                                LPWSAQUERYSET2W lpqsRestrictions,
                                                DWORD dwControlFlags,
                                                LPVOID lpvClientSessionArg, LPHANDLE lphLookup)
{
    INT rc = loaded();
    if (rc != NO_ERROR)
        return fail(rc);
    return module.begin(lpProviderId, lpqsRestrictions, dwControlFlags, lpvClientSessionArg,
                        lphLookup);
}

NSPV2_EXPORT VOID WINAPI NSPv2LookupServiceNextEx(HANDLE hAsyncCall, HANDLE hLookup,
                                                  DWORD dwControlFlags, LPDWORD lpdwBufferLength,
                                                  LPWSAQUERYSET2W lpqsResults)
{
    INT rc = loaded();
    if (rc == NO_ERROR)
        module.next(hAsyncCall, hLookup, dwControlFlags, lpdwBufferLength, lpqsResults);
    else
        (void)nspv2_complete_async(hAsyncCall, rc);
}

NSPV2_EXPORT INT WINAPI NSPv2LookupServiceEnd(HANDLE hLookup)
{
    INT rc = loaded();
    return rc == NO_ERROR ? module.end(hLookup) : fail(rc);
}

NSPV2_EXPORT VOID WINAPI NSPv2SetServiceEx(HANDLE hAsyncCall, LPGUID lpProviderId,
                                           LPWSAQUERYSET2W lpqsRegInfo,
                                           WSAESETSERVICEOP essOperation, DWORD dwControlFlags,
                                           LPVOID lpvClientSessionArg)
{
    INT rc = loaded();
    if (rc == NO_ERROR)
        module.set_service(hAsyncCall, lpProviderId, lpqsRegInfo, essOperation, dwControlFlags,
                           lpvClientSessionArg);
    else
        (void)nspv2_complete_async(hAsyncCall, rc);
}

NSPV2_EXPORT INT WINAPI NSPv2GetRoutine(const GUID *providerId, NSPV2_ROUTINE *routine)
{
    INT rc = loaded();
    return rc == NO_ERROR ? module.get_routine(providerId, routine) : fail(rc);
}

NSPV2_EXPORT INT WINAPI NSPv2SetConfigFile(const CHAR *path)
{
    INT rc = loaded();
    return rc == NO_ERROR ? module.set_config_file(path) : fail(rc);
}

NSPV2_EXPORT INT WINAPI NSPv2SetLogLevel(const CHAR *level)
{
    INT rc = loaded();
    return rc == NO_ERROR ? module.set_log_level(level) : fail(rc);
}
#else
typedef int nspv2_loader_is_posix_only;
#endif
