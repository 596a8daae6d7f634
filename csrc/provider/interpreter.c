/* Starting (or finding) the interpreter and the Python runtime, once per process.
 *
 * Loaded into a Python process, the library uses that interpreter, provided it is the minor
 * version the library was built for (another version would hang in cffi's start-up: refuse it).
 * Loaded into a process without Python, it starts one itself, before cffi would: an isolated
 * configuration (no PYTHON* variables, no user site, no current directory on sys.path), an
 * explicit home (the installation that owns the package, else the one libpython belongs to), no
 * signal handlers, and Py_InitializeFromConfig, which reports failure instead of calling exit(). Then cffi attaches
 * to it on the first bridge call, which runs the runtime's init code.
 * Off Windows the module is loaded by the loader (loader.c), which has made libpython globally
 * visible; the library pins itself so no one can unload it under a running call. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "provider.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#ifndef _WIN32
#  include <dlfcn.h>
#  include <pthread.h>
#endif

static INT ready_code = WSASYSNOTREADY;
static int started_here;
static char install_dir[4096];
static char config_file[4096];
static _Atomic int config_file_set;

const CHAR *nspv2_install_dir(void)
{
    return install_dir;
}

INT nspv2_started_interpreter(void)
{
    return started_here;
}

const CHAR *nspv2_config_file(void)
{
    return atomic_load(&config_file_set) ? config_file : NULL;
}

NSPV2_EXPORT INT WINAPI NSPv2SetConfigFile(const CHAR *path)
{
    if (path == NULL) {
        atomic_store(&config_file_set, 0);
        return NO_ERROR;
    }
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof config_file || atomic_load(&config_file_set)) {
        /* Once set it stays: the runtime may be reading it on another thread. */
        if (n > 0 && n < sizeof config_file && strcmp(path, config_file) == 0)
            return NO_ERROR;
        nspv2_set_last_error(WSAEINVAL);
        return SOCKET_ERROR;
    }
    memcpy(config_file, path, n + 1);
    atomic_store(&config_file_set, 1);
    return NO_ERROR;
}

static char log_level[16];
static _Atomic int log_level_set;

const CHAR *nspv2_log_level(void)
{
    return atomic_load(&log_level_set) ? log_level : NULL;
}

NSPV2_EXPORT INT WINAPI NSPv2SetLogLevel(const CHAR *level)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
    if (level == NULL) {
        atomic_store(&log_level_set, 0);
        return NO_ERROR;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]), k = 0;
        while (k < n && level[k] != '\0' && (level[k] & ~0x20) == names[i][k])
            k++;
        if (k == n && level[k] == '\0') {
            memcpy(log_level, names[i], n + 1);
            atomic_store(&log_level_set, 1);
            return NO_ERROR;
        }
    }
    nspv2_set_last_error(WSAEINVAL);
    return SOCKET_ERROR;
}

/* Paths of this library and of the libpython it is linked to. */
static int module_paths(char *self, size_t self_len, char *libpython, size_t lib_len)
{
#ifdef _WIN32
    HMODULE me = NULL, py = NULL;
    wchar_t wide[4096];
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                            (LPCWSTR)(void *)&nspv2_runtime_ready, &me))
        return -1;
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCWSTR)(void *)&Py_IsInitialized, &py))
        return -1;
    DWORD n = GetModuleFileNameW(me, wide, 4096);
    if (n == 0 || n >= 4096 ||
        !WideCharToMultiByte(CP_UTF8, 0, wide, -1, self, (int)self_len, NULL, NULL))
        return -1;
    n = GetModuleFileNameW(py, wide, 4096);
    if (n == 0 || n >= 4096 ||
        !WideCharToMultiByte(CP_UTF8, 0, wide, -1, libpython, (int)lib_len, NULL, NULL))
        return -1;
    return 0;
#else
    Dl_info info;
    if (!dladdr((void *)&nspv2_runtime_ready, &info) || info.dli_fname == NULL ||
        strlen(info.dli_fname) >= self_len)
        return -1;
    strcpy(self, info.dli_fname);
    if (!dladdr((void *)&Py_IsInitialized, &info) || info.dli_fname == NULL ||
        strlen(info.dli_fname) >= lib_len)
        return -1;
    strcpy(libpython, info.dli_fname);
    return 0;
#endif
}

static int version_matches(void)
{
    char built[16];
    snprintf(built, sizeof built, "%d.%d.", PY_MAJOR_VERSION, PY_MINOR_VERSION);
    const char *running = Py_GetVersion();
    if (strncmp(running, built, strlen(built)) == 0)
        return 1;
    int shown = (int)strcspn(running, " ");
    nspv2_log("this provider library was built for Python %d.%d but the process runs Python %.*s;"
              " install nspv2 into the Python the host uses", PY_MAJOR_VERSION, PY_MINOR_VERSION,
              shown, running);
    return 0;
}

/* 1 if entry is a site folder: site-packages, or dist-packages on Debian and its derivatives. */
static int is_site_folder(PyObject *entry)
{
    static const char *const names[] = {"site-packages", "dist-packages"};
    if (!PyUnicode_Check(entry))
        return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        PyObject *name = PyUnicode_FromString(names[i]);
        if (name == NULL) {
            PyErr_Clear();
            return 0;
        }
        Py_ssize_t at = PyUnicode_Find(entry, name, 0, PY_SSIZE_T_MAX, 1);
        Py_DECREF(name);
        if (at >= 0)
            return 1;
        if (at == -2)
            PyErr_Clear();
    }
    return 0;
}

/* Puts install_dir on sys.path after the standard library, before any site folder, so the
 * package's own dependencies win over another installation's. */
static int add_install_dir(void)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *dir = PyUnicode_DecodeFSDefault(install_dir);
    if (path == NULL || !PyList_Check(path) || dir == NULL) {
        Py_XDECREF(dir);
        return -1;
    }
    Py_ssize_t at = PyList_GET_SIZE(path);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(path); i++) {
        PyObject *entry = PyList_GET_ITEM(path, i);
        int same = PyUnicode_Check(entry) ? PyUnicode_Compare(entry, dir) : -1;
        if (same == 0) {
            Py_DECREF(dir);
            return 0;
        }
        if (at > i && is_site_folder(entry))
            at = i;
    }
    int rc = PyList_Insert(path, at, dir);
    Py_DECREF(dir);
    return rc;
}

#ifndef _WIN32
/* site.addsitedir(install_dir), with the folder on sys.path already: its .pth files run, as a
 * virtual environment's python runs them at start. */
static int add_site_dir(void)
{
    PyObject *site = PyImport_ImportModule("site");
    PyObject *done = site ? PyObject_CallMethod(site, "addsitedir", "s", install_dir) : NULL;
    Py_XDECREF(site);
    if (done == NULL) {
        PyErr_Print();
        return -1;
    }
    Py_DECREF(done);
    return 0;
}
#endif

static INT start_interpreter(const char *libpython)
{
    char home[4096];
    char executable[4096 + 32];
    PyStatus status;
    PyConfig config;

    snprintf(home, sizeof home, "%s", libpython);
#ifdef _WIN32
    /* python3XY.dll sits in the installation's root. */
    if (nspv2_dirname_levels(home, 1) != 0)
        return WSASYSNOTREADY;
    snprintf(executable, sizeof executable, "%s\\python.exe", home);
#else
    /* The installation that owns this package (through a virtual environment to its base),
     * else the one libpython sits in (<home>/lib/ or <home>/lib/<multiarch>/), the first with
     * the standard library in it. libpython is already global: the loader (loader.c) put it
     * there before loading this module. */
    if (nspv2_python_base_prefix(install_dir, home, sizeof home) != 0) {
        int found = 0;
        for (int level = 2; level <= 3 && !found; level++) {
            snprintf(home, sizeof home, "%s", libpython);
            found = nspv2_dirname_levels(home, level) == 0 && nspv2_is_python_home(home);
        }
        if (!found) {
            nspv2_log("cannot find the standard library of Python %s for %s (nor beside %s)",
                      NSPV2_PYTHON_VERSION, install_dir, libpython);
            return WSASYSNOTREADY;
        }
    }
    snprintf(executable, sizeof executable, "%s/bin/python%s", home, NSPV2_PYTHON_VERSION);
    /* CPython cannot start without the encodings package, and says so by dumping its path
     * configuration over many lines of the host's stderr: check first, and say it in one. */
    if (!nspv2_has_encodings(home)) {
        nspv2_log("cannot start Python (home %s): its standard library has no encodings package; "
                  "reinstall Python %s there", home, NSPV2_PYTHON_VERSION);
        return WSASYSNOTREADY;
    }
#endif

    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    config.user_site_directory = 0;
#ifndef _WIN32
    /* Home is the base installation, so site adds the base's site-packages and runs their .pth
     * files. A virtual environment that leaves them out leaves them out here too, as its own
     * python does; and an environment's own .pth files run (add_site_dir below). */
    enum nspv2_venv venv = nspv2_venv_kind(install_dir);
    if (venv == NSPV2_VENV_ALONE)
        config.site_import = 0;
#endif
    status = PyConfig_SetBytesString(&config, &config.home, home);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.executable, executable);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.program_name, executable);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        nspv2_log("cannot start Python (home %s): %s%s%s", home,
                  status.func ? status.func : "", status.func ? ": " : "",
                  status.err_msg ? status.err_msg : "exit requested");
        return WSASYSNOTREADY;
    }
    started_here = 1;
    int rc = add_install_dir();
#ifndef _WIN32
    if (rc == 0 && venv != NSPV2_NOT_A_VENV)
        rc = add_site_dir();
#endif
    PyEval_SaveThread(); /* release the GIL: cffi and every later call take it as they need */
    if (rc != 0) {
        nspv2_log("cannot add %s to sys.path", install_dir);
        return WSASYSNOTREADY;
    }
    return NO_ERROR;
}

static void start_once(void)
{
    char self[4096], libpython[4096];
    if (module_paths(self, sizeof self, libpython, sizeof libpython) != 0) {
        nspv2_log("cannot find the provider library's own path or libpython's");
        return;
    }
    /* <install_dir>/nspv2/<this library> */
    snprintf(install_dir, sizeof install_dir, "%s", self);
    if (nspv2_dirname_levels(install_dir, 2) != 0) {
        nspv2_log("unexpected provider library path %s", self);
        return;
    }
    if (nspv2_winsock_resolve() != NO_ERROR)
        return;
    if (Py_IsInitialized()) {
        if (!version_matches()) {
            ready_code = WSAVERNOTSUPPORTED;
            return;
        }
    } else if (start_interpreter(libpython) != NO_ERROR) {
        return;
    }
    /* The first bridge call makes cffi run the runtime's init code; it answers 1 once the
     * runtime is up, and cffi's error value 0 if the init code failed (cffi printed why). */
    if (nspv2_py_start() != 1) {
        nspv2_log("the nspv2 Python runtime did not start (see the traceback above); is nspv2 "
                  "installed in %s?", install_dir);
        return;
    }
    ready_code = NO_ERROR;
}

#ifdef _WIN32
static INIT_ONCE once = INIT_ONCE_STATIC_INIT;
static BOOL CALLBACK start_once_win(PINIT_ONCE o, PVOID p, PVOID *c)
{
    (void)o, (void)p, (void)c;
    start_once();
    return TRUE;
}
INT nspv2_runtime_ready(void)
{
    InitOnceExecuteOnce(&once, start_once_win, NULL, NULL);
    return ready_code;
}
#else
static pthread_once_t once = PTHREAD_ONCE_INIT;
INT nspv2_runtime_ready(void)
{
    pthread_once(&once, start_once);
    return ready_code;
}
#endif
