/* C functions of the provider library that the Python runtime calls (declarations only; cffi
 * reads this file). */

/* NSPV2_PENDING: a bridge call will complete its async call later. NSPV2_IMPL_*: what a
 * provider's class implements, as nspv2_py_resolve reports it. */
enum nspv2_bridge_constants {
    NSPV2_PENDING = -2,
    NSPV2_IMPL_STARTUP = 1,
    NSPV2_IMPL_CLEANUP = 2,
    NSPV2_IMPL_SET_SERVICE = 4,
    NSPV2_IMPL_SESSION_RUNDOWN = 8
};


/* Completes an NSPv2 asynchronous call through Winsock's WSAProviderCompleteAsyncCall. */
INT nspv2_complete_async(HANDLE asyncCall, INT code);

/* The configuration file set by NSPv2SetConfigFile, or NULL for the default location. */
const CHAR *nspv2_config_file(void);

/* The folder that holds the installed nspv2 package's parent (the site-packages the library
 * was installed into), UTF-8. */
const CHAR *nspv2_install_dir(void);

/* 1 when this library started the interpreter (a host without Python), 0 when it found one. */
INT nspv2_started_interpreter(void);
