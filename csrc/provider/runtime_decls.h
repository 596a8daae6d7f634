/* C functions of the provider library that the Python runtime calls (declarations only; cffi
 * reads this file). */

/* NSPV2_PENDING: a bridge call will complete its async call later. NSPV2_NOT_INLINE: the
 * handle is not one of the lookups answered in C (lookups.c). NSPV2_DECLINED: the Begin in C
 * left the call to the runtime's begin (nspv2_set_begin). NSPV2_INLINE_MAX_*: the most
 * results, and bytes of packed results, one such lookup holds. NSPV2_IMPL_*: what a provider's
 * class implements, as nspv2_py_resolve reports it. */
enum nspv2_bridge_constants {
    NSPV2_PENDING = -2,
    NSPV2_NOT_INLINE = -3,
    NSPV2_DECLINED = -4,
    NSPV2_INLINE_MAX_RESULTS = 64,
    NSPV2_INLINE_MAX_BYTES = 1048576,
    NSPV2_IMAGE_ALIGN = 8,
    NSPV2_IMPL_STARTUP = 1,
    NSPV2_IMPL_CLEANUP = 2,
    NSPV2_IMPL_SET_SERVICE = 4,
    NSPV2_IMPL_SESSION_RUNDOWN = 8,
    NSPV2_GATE_HOLD_US = 50
};


/* lookups.c: lookups whose results were all computed in Begin, answered without Python.
 * create: copies `count` results for a lookup of `session` and `provider` with Begin's flags from
 * `records` (`size` bytes): for each result a record, then `length` bytes of its image (the
 * runtime writes them: Marshal.pack_results, or nspv2._cmarshal). A record with no image gives
 * that NextEx `code`. Each image's pieces start at multiples of NSPV2_IMAGE_ALIGN, as do the
 * records. Returns the lookup's handle (odd), or 0 if the results are too many or too large
 * (or memory ran out): the runtime then serves the lookup itself.
 * next/end: a Winsock code, or NSPV2_NOT_INLINE for a handle that is the runtime's (even, not
 * adopted).
 * end_session/end_provider: end every such lookup of a closed session or withdrawn provider. */
struct nspv2_result_record {
    uint32_t length; /* of the image that follows; 0: no result */
    INT code;        /* with no image: what its NextEx answers */
};
uint64_t nspv2_lookups_create(uint64_t session, const GUID *provider, DWORD flags, size_t count,
                              const char *records, size_t size);
/* adopt: the same for a lookup the runtime served so far under the (even) handle `lookup`, whose
 * remaining results are now all known: from now on answered here; `lookup`, or 0 if declined. */
uint64_t nspv2_lookups_adopt(uint64_t lookup, uint64_t session, const GUID *provider,
                             DWORD flags, size_t count, const char *records, size_t size);
INT nspv2_lookups_next(uint64_t lookup, DWORD flags, DWORD *bufferLength,
                       WSAQUERYSET2W *results);
INT nspv2_lookups_end(uint64_t lookup);
/* Sources: lookups whose results a provider's generator (any iterator) produces one at a time,
 * as NextEx calls ask for them (sources.c says how). The runtime sets its stepper once, when it
 * attaches: `step` steps `source` once with the GIL taken and fills `step` (the record of what it
 * produced, malloc'd, or none; `last` when the source has no more: it ended, raised, or produced
 * an item that is not a QuerySet); `drop` hands `source` back, closing it first if `close`.
 * create_source: a lookup of `source` (the runtime's reference, given to the lookup): its handle
 * (odd), or 0 without memory (the source is still the caller's).
 * next_call: NextEx (hAsyncCall `call`) on any lookup here: a Winsock code, NSPV2_NOT_INLINE as
 * nspv2_lookups_next, or NSPV2_PENDING when the call waits for the source's next result: then, if
 * *run is set, nobody is stepping it and the caller must have nspv2_lookups_run(*run, ahead) run
 * (on this thread, ahead 0, where provider code may block it; else on a worker thread, ahead 1,
 * one result ahead of the client), or nspv2_lookups_abandon(*run, code) when it cannot.
 * cancelled: 1 when the source this thread is stepping belongs to a lookup that has ended. */
struct nspv2_step {
    char *record; /* one record as above, malloc'd (lookups.c frees it), or NULL */
    size_t size;
    int last;
};
typedef void (*nspv2_step_fn)(void *context, void *source, struct nspv2_step *step);
typedef void (*nspv2_drop_fn)(void *context, void *source, int close);
void nspv2_set_stepper(nspv2_step_fn step, nspv2_drop_fn drop, void *context);
uint64_t nspv2_lookups_create_source(uint64_t session, const GUID *provider, DWORD flags,
                                     void *source);
INT nspv2_lookups_next_call(HANDLE call, uint64_t lookup, DWORD flags, DWORD *bufferLength,
                            WSAQUERYSET2W *results, void **run);
void nspv2_lookups_run(void *run, int ahead);
void nspv2_lookups_abandon(void *run, INT code);
int nspv2_lookups_cancelled(void);

/* workers.c: the threads where generators step for a client's own thread. post: queues `run`
 * (what nspv2_lookups_next_call gave) for a worker that is free, or for the next that comes free
 * if `wait`: 1; 0 when no worker is free (and not `wait`) or without memory. serve: a worker
 * thread's life (never returns): runs `run` (nspv2_lookups_run, one result ahead), then every
 * lookup posted. */
int nspv2_workers_post(void *run, int wait);
void nspv2_workers_serve(void *run);
/* One record as above (an image, or no image and its code) packed into a NextEx's buffer with
 * the LUP_RETURN_* `flags` given: the code that NextEx completes with (WSAEFAULT and the length
 * needed when it does not fit; the record's code when it has no image). The runtime answers
 * the lookups it serves itself (generators, async providers) with it. */
INT nspv2_record_pack(const char *record, size_t size, DWORD flags, WSAQUERYSET2W *results,
                      DWORD *bufferLength);
void nspv2_lookups_end_session(const GUID *provider, uint64_t session);
void nspv2_lookups_end_provider(const GUID *provider);
/* How many lookups answered in C are open, of `provider` (NULL: of every provider); for tests
 * that check nothing was left behind. */
size_t nspv2_lookups_count(const GUID *provider);

/* exports.c: the runtime's NSPv2LookupServiceBegin in C (nspv2._cmarshal's Begin), which the
 * runtime sets when it attaches; NULL for none. Called without the GIL, with the arguments
 * bridge.h's nspv2_py_begin gets and the context given here, it answers as nspv2_py_begin does,
 * or NSPV2_DECLINED before the provider has run: nspv2_py_begin then makes the call. */
typedef INT (*nspv2_begin_fn)(void *context, const GUID *providerId,
                              const WSAQUERYSET2W *restrictions, DWORD flags, uint64_t session,
                              uint64_t *lookup);
void nspv2_set_begin(nspv2_begin_fn begin, void *context);

/* domains.c: the names a provider serves (nspv2/served.h has the rule). set: `domains` is
 * nspv2/served.h's list as `size` bytes of UTF-16 (0 bytes, or an empty list: the provider
 * declares none and serves every name); `text` the same names as UTF-8 lines, which the
 * stand-in publishes for libnss_nspv2 (ignored on Windows). NO_ERROR, WSAEINVAL for a malformed
 * list, WSA_NOT_ENOUGH_MEMORY. served_by: 1 if `provider` serves `name` (what Begin checks; for
 * the parity test). declined: how many Begins were declined here since the library was loaded. */
INT nspv2_domains_set(const GUID *provider, const char *domains, size_t size, const CHAR *text);
INT nspv2_name_served_by(const GUID *provider, const WCHAR *name);
uint64_t nspv2_domains_declined(void);

/* gate.c: what the gate in front of the GIL has seen since the library was loaded (entries
 * that had to sleep; holds taken over from a holder that kept the gate longer than
 * NSPV2_GATE_HOLD_US, waiting in provider code; entries by the thread already holding it). */
struct nspv2_gate_counts {
    uint64_t waited;
    uint64_t taken_over;
    uint64_t nested;
};
void nspv2_gate_counts(struct nspv2_gate_counts *counts);

/* winsock_link.c: whether the provider call running on this thread was made on the client's own
 * thread (the stand-in within one process: StandinOnClientThread), where provider code End
 * cannot interrupt must not run; false on Winsock's worker threads (Windows) and a host's
 * dispatch threads (the stand-in across processes), where it may. 1 or 0. */
int nspv2_on_client_thread(void);

/* Completes an NSPv2 asynchronous call through Winsock's WSAProviderCompleteAsyncCall. */
INT nspv2_complete_async(HANDLE asyncCall, INT code);

/* The configuration file set by NSPv2SetConfigFile, or NULL for the default location. */
const CHAR *nspv2_config_file(void);

/* The log level set by NSPv2SetLogLevel ("DEBUG" ... "CRITICAL"), or NULL: the configuration's. */
const CHAR *nspv2_log_level(void);

/* The folder that holds the installed nspv2 package's parent (the site-packages the library
 * was installed into), UTF-8. */
const CHAR *nspv2_install_dir(void);

/* 1 when this library started the interpreter (a host without Python), 0 when it found one. */
INT nspv2_started_interpreter(void);
