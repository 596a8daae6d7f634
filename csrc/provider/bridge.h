/* The calls from the C library into the Python runtime (nspv2/_runtime.py). cffi reads this file
 * inside an `extern "Python+C"` block, so the library's C files can call them; they are declared
 * for C by provider.h. Every one returns a Winsock code (NO_ERROR or an error), never raises:
 * the runtime contains every Python exception. NSPV2_PENDING means "completed later": the runtime
 * will call nspv2_complete_async itself, exactly once. */

INT nspv2_py_start(void);
INT nspv2_py_resolve(const GUID *providerId, DWORD *implemented);
INT nspv2_py_startup(const GUID *providerId, uint64_t session);
INT nspv2_py_cleanup(const GUID *providerId, uint64_t session);
INT nspv2_py_rundown(const GUID *providerId, uint64_t session);
/* begin: the Begins the one in C (nspv2_set_begin, runtime_decls.h) declines, and all of them
 * until the runtime has set it. It gets the provider id and the (validated) restrictions as
 * addresses: the runtime reads them in C (nspv2._cmarshal), and an integer costs Python less
 * than a pointer. */
INT nspv2_py_begin(uintptr_t providerId, uintptr_t restrictions, DWORD flags, uint64_t session,
                   uint64_t *lookup);
INT nspv2_py_next(HANDLE asyncCall, uint64_t lookup, DWORD flags, DWORD *bufferLength,
                  WSAQUERYSET2W *results);
INT nspv2_py_end(uint64_t lookup);
/* run_elsewhere: a source lookup's NextEx on a client's own thread found no worker free
 * (workers.c): starts a worker thread that runs it (nspv2_workers_serve), or at the limit queues
 * it for the next that comes free; NO_ERROR, or the code the waiting calls complete with when no
 * thread can run it. */
INT nspv2_py_run_elsewhere(uintptr_t run);
INT nspv2_py_set_service(HANDLE asyncCall, const GUID *providerId, const WSAQUERYSET2W *regInfo,
                         INT operation, DWORD flags, uint64_t session);
