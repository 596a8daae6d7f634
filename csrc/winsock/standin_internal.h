/* What the files of the Winsock stand-in share. Why one global lock: the stand-in's state
 * (catalog, advertised providers, simulated clients, sessions, handle tables) is small and its
 * invariants span several of these at once (routing joins the catalog with the advertisements;
 * a client's cleanup touches sessions, handles and providers), so one lock keeps every invariant
 * easy to see. It is never held while a provider callback runs: callers copy what they need,
 * pin the provider with a running-call count, unlock, call, lock again. Waits (async completion,
 * running calls draining, a session being started) use the one condition variable. */
#ifndef WS2STANDIN_INTERNAL_H
#define WS2STANDIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifndef _WIN32
#  include <pthread.h> /* before the visibility pragma below, which would hide its symbols */
#endif

#include "nspv2/ws2types.h"
#include "nspv2/standin.h"

#ifdef _WIN32
/* On Windows the export list is ws2standin.def: plain names on x86 too, as ws2_32's (the
 * decorated stdcall names dllexport gives there are not what GetProcAddress is asked for). */
#  define STANDIN_EXPORT
#else
#  define STANDIN_EXPORT __attribute__((visibility("default")))
#endif
#ifdef __MINGW32__
#  include <stdio.h> /* __MINGW_PRINTF_FORMAT: gnu_printf under __USE_MINGW_ANSI_STDIO (%zu) */
#  define STANDIN_PRINTF __MINGW_PRINTF_FORMAT
#else
#  define STANDIN_PRINTF printf
#endif

/* Everything declared from here on stays inside the library even when it is built without
 * -fvisibility=hidden (setup.py's build, for one): only STANDIN_EXPORT definitions are exported. */
#pragma GCC visibility push(hidden)

/* ---- lock.c: the global lock and condition variable ---- */
void standin_lock(void);
void standin_unlock(void);
void standin_broadcast(void);                  /* lock held */
void standin_wait(void);                        /* lock held */
/* Waits until the absolute monotonic deadline (ms); returns false when it has passed. */
bool standin_wait_until(uint64_t deadline_ms);  /* lock held */
uint64_t standin_now_ms(void);
/* A condition variable of its own, under the global lock: each async call has one, so a
 * completion wakes its one waiter instead of every thread waiting on anything. */
#ifdef _WIN32
typedef CONDITION_VARIABLE standin_cond;
#else
typedef pthread_cond_t standin_cond;
#endif
void standin_cond_init(standin_cond *cond);
void standin_cond_destroy(standin_cond *cond);
void standin_cond_signal(standin_cond *cond);                           /* lock held */
void standin_cond_wait(standin_cond *cond);                             /* lock held */
bool standin_cond_wait_until(standin_cond *cond, uint64_t deadline_ms); /* lock held */

/* ---- lasterror.c ---- */
INT standin_fail(INT code);                     /* sets the last error, returns SOCKET_ERROR */
INT standin_get_last_error(void);
void standin_set_last_error(INT code);

/* ---- violations.c ---- */
void standin_violation(const GUID *provider, const char *fmt, ...)
    __attribute__((format(STANDIN_PRINTF, 2, 3)));
void standin_guid_text(const GUID *guid, char out[39]);

/* ---- handles.c: opaque handle values with generation counts ---- */
enum handle_fate { FATE_NONE = 0, FATE_COMPLETED = 1, FATE_TIMED_OUT = 2 };
enum handle_state { HANDLE_LIVE, HANDLE_STALE, HANDLE_UNKNOWN };
struct handle_slot {
    void *object;
    uint32_t generation;
    uint32_t next_free;           /* index + 1 of the next free slot, 0 = none */
    uint8_t last_fate;            /* why the previous occupant left */
};
struct handle_table {
    uint8_t tag;                  /* top byte of every handle value of this table */
    uint32_t capacity, used, first_free;
    uint32_t generation_base;     /* first generation of new slots: values survive a release */
    struct handle_slot *slots;
};
HANDLE handle_insert(struct handle_table *table, void *object);           /* NULL: no memory */
void *handle_get(const struct handle_table *table, HANDLE handle);        /* NULL: not live */
enum handle_state handle_classify(const struct handle_table *table, HANDLE handle,
                                  uint8_t *last_fate);
void handle_remove(struct handle_table *table, HANDLE handle, uint8_t fate);
void *handle_next_live(const struct handle_table *table, uint32_t *cursor, HANDLE *handle);
void handle_table_release_if_empty(struct handle_table *table);

/* ---- catalog.c ---- */
struct catalog_entry {
    GUID guid;
    DWORD name_space;
    DWORD version;
    BOOL enabled;
    WCHAR *identifier;
    WCHAR *path;
    BYTE *blob;
    ULONG blob_length;
    struct catalog_entry *next;
};
struct catalog_entry *catalog_first(void);       /* lock held; loads the file at first use */
bool catalog_contains(const GUID *guid);         /* lock held */

/* ---- napi.c: the NS_EMAIL installation blob (NAPI_PROVIDER_INSTALLATION_BLOB) ---- */
struct napi_claim {
    DWORD level;                  /* NAPI_PROVIDER_LEVEL of the domain asked about */
    bool wildcard;                /* fSupportsWildCard */
};
/* Walks the blob; false if it is malformed (napi.c says what that is). With a domain, also
 * tells the provider's claim on it (ProviderLevel_None when the blob does not list it). */
bool napi_blob_read(const BYTE *blob, size_t length, const WCHAR *domain, size_t domain_length,
                    struct napi_claim *claim);

/* ---- providers.c: advertised providers ---- */
struct provider {
    GUID guid;
    NSPV2_ROUTINE routine;
    uint64_t serial;              /* never reused: lookups and sessions name a provider by it */
    INT owner;                    /* the simulated client that advertised it */
    unsigned running;             /* calls into the routine now running */
    bool withdrawn;
    struct provider *next;        /* in the advertised list, or the retiring list */
    struct provider *retire_next; /* chain returned by providers_detach_owned_by */
    bool remote;                  /* a proxy for a host in another process (remote_client.c) */
};
struct provider *provider_by_guid(const GUID *guid);   /* lock held; advertised ones only */
struct provider *provider_by_serial(uint64_t serial);  /* lock held */
void provider_leave(struct provider *p);               /* lock held; running-- */
/* Pins an advertised provider for a call: returns it with running++ and a copy of its routine,
 * or NULL when it is gone. retiring_too: also a withdrawn one whose retirement has not run its
 * sessions down yet (for Cleanup/Rundown of a session the caller already detached). Lock held. */
struct provider *provider_enter(uint64_t serial, NSPV2_ROUTINE *routine, bool retiring_too);
/* Withdraws every provider advertised by client `owner` (lock held); chained by retire_next. */
struct provider *providers_detach_owned_by(INT owner);
/* Waits for the running calls of a detached provider, runs its sessions down, frees it.
 * Lock NOT held. */
void provider_retire(struct provider *p);

/* The calling thread routes only to the provider advertised here under guid, catalog or not
 * (NULL: as usual). The host's dispatch (remote_host.c) uses it: the client routed already. */
void standin_route_only(const GUID *guid);

/* Routing: the installed, enabled and advertised providers a query goes to, in the order they
 * are asked (providers.c says which and in what order). A `fallback` route is one of an NS_EMAIL
 * domain's providers under an authoritative query: it is asked only while none of the fallback
 * routes before it has resolved the name. */
struct route {
    GUID guid;
    uint64_t serial;
    bool fallback;
};
size_t standin_route(const WSAQUERYSETW *qs, bool authoritative, struct route **routes);
                                                 /* lock held; -1 cast = no memory */

/* ---- sessions.c: simulated client processes and their provider sessions ---- */
struct session {
    uint64_t serial;              /* the provider's */
    GUID guid;
    void *arg;
    bool starting;                /* Startup is running; the thread running it owns the record */
    uint8_t orphaned;             /* 0, or how the client ended while Startup ran */
    struct session *next;
};
enum { ORPHAN_NONE = 0, ORPHAN_CLEANUP = 1, ORPHAN_RUNDOWN = 2 };
INT standin_current_client(void);
/* NO_ERROR when the calling thread's client has started (lock held), else WSANOTINITIALISED. */
INT standin_check_started_locked(void);
/* Lock not held. Sets the last error and returns SOCKET_ERROR when not started. */
INT standin_check_started(void);
/* Finds or creates the session of (client, provider); lock NOT held. NO_ERROR or an error. */
INT session_ensure(INT client, uint64_t serial, const GUID *guid, void **arg);
/* Unlinks every session of a provider from every client (lock held), chained. */
struct session *sessions_detach_for_provider(uint64_t serial);

/* ---- lookup.c ---- */
void lookups_drop_for_client(INT client);        /* lock held */
size_t standin_lookup_count(void);               /* lookup handles open; lock NOT held */
void lookups_release_tables(void);               /* lock held */

/* ---- async.c ---- */
struct async_call {
    int state;                    /* ASYNC_PENDING, ASYNC_COMPLETED, ASYNC_TIMED_OUT */
    INT code;
    GUID provider;
    void *block;                  /* memory the provider may still touch until completion */
    size_t block_size;
    DWORD length;                 /* the provider's *lpdwBufferLength lives here, not on a stack */
    standin_cond done;            /* signalled by the completion */
};
enum { ASYNC_PENDING, ASYNC_COMPLETED, ASYNC_TIMED_OUT };
/* Creates a pending call owning `block` (may be NULL). NULL on no memory. Lock NOT held. */
struct async_call *async_create(const GUID *provider, void *block, size_t block_size,
                                HANDLE *handle);
/* Waits for the completion. Returns true with the record now owned by the caller (free it
 * with async_free), or false on timeout (violation reported; the table keeps the record and its
 * block until a late completion or the process's final cleanup). Lock NOT held. */
bool async_wait(struct async_call *call, HANDLE handle);
void async_free(struct async_call *call);
/* sessions.c: marks the calling thread as one of a host's dispatch threads (remote_host.c), on
 * which StandinOnClientThread answers FALSE. */
void standin_set_dispatch_thread(void);
/* This thread's hook for the moment an async call has to wait: the provider returned without
 * completing it. async_wait calls it once, lock NOT held, and clears it. The host's dispatch
 * (remote_host.c) sets it around a NEXT or SETSERVICE to hand its connection's reading to
 * another thread only then, not before every call: a call the provider completes before
 * returning (a result already known) costs no thread wake-up. */
struct async_wait_hook {
    void (*before_wait)(void *arg);
    void *arg;
};
extern _Thread_local struct async_wait_hook async_wait_hook;
void async_release_orphans(void);                /* lock held */

/* ---- queryset_convert.c ---- */
/* Deep copy of a client query set into one provider-side block; NULL with *error set. */
WSAQUERYSET2W *queryset_to_provider(const WSAQUERYSETW *qs, size_t *block_size, INT *error);
/* A client query set whose pointers are those of `qs2` (lpServiceClassId NULL): to make a new
 * provider copy from a kept one. */
void queryset_client_view(const WSAQUERYSET2W *qs2, WSAQUERYSETW *view);
void queryset_poison_free(void *block, size_t block_size);
/* Checks a provider's packed result in [buffer, buffer + length); reports violations. On success
 * *extent is the end offset of the last object the result points to. */
bool queryset_check_result(const GUID *provider, const BYTE *buffer, size_t length,
                           size_t *extent);
/* Repacks a checked result of `extent` bytes into the client's buffer (extent + 8 bytes). */
void queryset_result_to_client(const WSAQUERYSET2W *result, size_t extent, WSAQUERYSETW *out);
/* Client-side validation shared by Begin and SetService: NO_ERROR or the error code. */
INT queryset_validate_client(const WSAQUERYSETW *qs);

/* ---- the cross-process stand-in (POSIX; wire.h has the protocol) ----
 * remote_client.c, the client's side: a provider advertised by another process is reached
 * through a proxy provider whose routine carries each call over that host's socket.
 * remote_host.c, the host's side: WSAAdvertiseProvider publishes the provider's socket and
 * dispatches other processes' calls to it. shared_catalog.c: the catalog file they share. */
#ifndef _WIN32
extern const NSPV2_ROUTINE remote_routine;
bool remote_published(const GUID *guid);         /* a host elsewhere has published it */
void remote_host_publish(const GUID *guid);      /* lock NOT held */
void remote_host_withdraw(const GUID *guid);     /* lock NOT held */
bool remote_host_others_allowed(void);           /* StandinAllowUsers named users; any lock */
/* The catalog file when NSPV2_STANDIN_CATALOG is unset (malloc'd; NULL: none). */
char *standin_default_catalog(void);
/* True when the catalog file changed since the last call (checked at most twice a second). */
bool standin_catalog_changed(const char *file);
#else
static inline bool remote_published(const GUID *guid) { (void)guid; return false; }
static inline void remote_host_publish(const GUID *guid) { (void)guid; }
static inline void remote_host_withdraw(const GUID *guid) { (void)guid; }
static inline bool remote_host_others_allowed(void) { return false; }
static inline char *standin_default_catalog(void) { return NULL; }
static inline bool standin_catalog_changed(const char *file) { (void)file; return false; }
#endif

#pragma GCC visibility pop

#endif
