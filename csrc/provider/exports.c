/* The NSPv2 entry points, the C stubs, and NSPv2GetRoutine.
 *
 * Each entry point validates its arguments, makes sure the Python runtime is up, and hands the
 * call to the runtime through the bridge. Synchronous calls turn a Winsock code into
 * SOCKET_ERROR + WSASetLastError; NextEx and SetServiceEx complete through
 * WSAProviderCompleteAsyncCall exactly once on every path, here or (NSPV2_PENDING) later from the
 * runtime.
 *
 * Startup, Cleanup and ClientSessionRundown are always the library's own, whether or not the
 * provider's class defines startup/cleanup/session_rundown: the session argument Startup stores is
 * how the library tells client sessions apart, hands `lookup` its Session, and finds the lookups
 * to end when a session closes (Cleanup) or its client dies (ClientSessionRundown). Without them
 * every session would be NULL and a dead client's lookups would live forever. What the class does
 * not define simply is not called. SetServiceEx is the C stub when the class has no set_service. */
#include "provider.h"
#include "queryset.h"
#include "queryset_decls.h"

#include <stdatomic.h>

static _Atomic uint64_t next_session = 1;

/* Every call into Python waits at the gate first (gate.c says why). */
#define THROUGH_GATE(call)                                                                    \
    do {                                                                                      \
        uint64_t ticket_ = nspv2_gate_enter();                                                \
        call;                                                                                 \
        nspv2_gate_leave(ticket_);                                                            \
    } while (0)

static INT fail(INT code)
{
    nspv2_set_last_error(code);
    return SOCKET_ERROR;
}

static uint64_t handle_value(HANDLE h)
{
    return (uint64_t)(uintptr_t)h;
}

NSPV2_EXPORT INT WINAPI NSPv2Startup(LPGUID lpProviderId, LPVOID *ppvClientSessionArg)
{
    INT rc;
    if (lpProviderId == NULL || ppvClientSessionArg == NULL)
        return fail(WSAEINVAL);
    if ((rc = nspv2_runtime_ready()) != NO_ERROR)
        return fail(rc);
    uint64_t session = atomic_fetch_add(&next_session, 1);
    THROUGH_GATE(rc = nspv2_py_startup(lpProviderId, session));
    if (rc != NO_ERROR)
        return fail(rc);
    *ppvClientSessionArg = (LPVOID)(uintptr_t)session;
    return NO_ERROR;
}

NSPV2_EXPORT INT WINAPI NSPv2Cleanup(LPGUID lpProviderId, LPVOID pvClientSessionArg)
{
    INT rc;
    if (lpProviderId == NULL)
        return fail(WSAEINVAL);
    if ((rc = nspv2_runtime_ready()) != NO_ERROR)
        return fail(rc);
    THROUGH_GATE(rc = nspv2_py_cleanup(lpProviderId, handle_value(pvClientSessionArg)));
    if (rc != NO_ERROR)
        return fail(rc);
    return NO_ERROR;
}

NSPV2_EXPORT VOID WINAPI NSPv2ClientSessionRundown(LPGUID lpProviderId, LPVOID pvClientSessionArg)
{
    if (lpProviderId == NULL || nspv2_runtime_ready() != NO_ERROR)
        return;
    THROUGH_GATE((void)nspv2_py_rundown(lpProviderId, handle_value(pvClientSessionArg)));
}

/* The Begin in C, once the runtime has set it (it is set once, before any lookup can use it,
 * and its context lives as long as the process). */
static _Atomic(nspv2_begin_fn) begin_in_c;
static void *_Atomic begin_context;

void nspv2_set_begin(nspv2_begin_fn fn, void *context)
{
    atomic_store(&begin_context, context);
    atomic_store(&begin_in_c, fn);
}

static INT begin(const GUID *providerId, const WSAQUERYSET2W *restrictions, DWORD flags,
                 uint64_t session, uint64_t *lookup)
{
    nspv2_begin_fn fn = atomic_load(&begin_in_c);
    if (fn != NULL) {
        INT rc = fn(atomic_load(&begin_context), providerId, restrictions, flags, session,
                    lookup);
        if (rc != NSPV2_DECLINED)
            return rc;
    }
    return nspv2_py_begin((uintptr_t)providerId, (uintptr_t)restrictions, flags, session,
                          lookup);
}

NSPV2_EXPORT INT WINAPI NSPv2LookupServiceBegin(LPGUID lpProviderId,
                                                LPWSAQUERYSET2W lpqsRestrictions,
                                                DWORD dwControlFlags,
                                                LPVOID lpvClientSessionArg, LPHANDLE lphLookup)
{
    INT rc;
    uint64_t lookup = 0;
    if (lpProviderId == NULL || lphLookup == NULL)
        return fail(WSAEINVAL);
    if ((rc = nspv2_queryset_validate(lpqsRestrictions)) != NO_ERROR)
        return fail(rc);
    if ((rc = nspv2_runtime_ready()) != NO_ERROR)
        return fail(rc);
    /* A name outside the provider's declared domains: declined here, before the gate and the
     * GIL, and the provider is never called for it (domains.c). */
    if (lpqsRestrictions != NULL &&
        nspv2_domains_decline(lpProviderId, lpqsRestrictions->lpszServiceInstanceName))
        return fail(WSASERVICE_NOT_FOUND);
    THROUGH_GATE(rc = begin(lpProviderId, lpqsRestrictions, dwControlFlags,
                            handle_value(lpvClientSessionArg), &lookup));
    if (rc != NO_ERROR)
        return fail(rc);
    *lphLookup = (HANDLE)(uintptr_t)lookup;
    return NO_ERROR;
}

/* A generator's NextEx that found no result at hand (sources.c, nspv2_lookups_next_call): the
 * generator steps on this thread when it is a Winsock thread, where a step that blocks holds only
 * this thread (End comes on another and completes the call at once). Never on a client's own
 * thread (the stand-in within one process), which End could not free: a worker thread steps it
 * there, one result ahead of the client (workers.c; the runtime starts one when none is free). */
static void run_source(void *run)
{
    if (nspv2_on_client_thread()) {
        INT rc;
        if (nspv2_workers_post(run, 0))
            return;
        THROUGH_GATE(rc = nspv2_py_run_elsewhere((uintptr_t)run));
        if (rc != NO_ERROR)
            nspv2_lookups_abandon(run, rc);
    } else {
        THROUGH_GATE(nspv2_lookups_run(run, 0));
    }
}

NSPV2_EXPORT VOID WINAPI NSPv2LookupServiceNextEx(HANDLE hAsyncCall, HANDLE hLookup,
                                                  DWORD dwControlFlags, LPDWORD lpdwBufferLength,
                                                  LPWSAQUERYSET2W lpqsResults)
{
    INT rc;
    if (lpdwBufferLength == NULL)
        rc = WSAEFAULT;
    else if ((rc = nspv2_runtime_ready()) == NO_ERROR) {
        void *run = NULL;
        rc = nspv2_lookups_next_call(hAsyncCall, handle_value(hLookup), dwControlFlags,
                                     lpdwBufferLength, lpqsResults, &run);
        if (rc == NSPV2_NOT_INLINE)
            THROUGH_GATE(rc = nspv2_py_next(hAsyncCall, handle_value(hLookup), dwControlFlags,
                                            lpdwBufferLength, lpqsResults));
        else if (run != NULL)
            run_source(run);
    }
    if (rc != NSPV2_PENDING)
        (void)nspv2_complete_async(hAsyncCall, rc);
}

NSPV2_EXPORT INT WINAPI NSPv2LookupServiceEnd(HANDLE hLookup)
{
    INT rc;
    if ((rc = nspv2_runtime_ready()) != NO_ERROR)
        return fail(rc);
    rc = nspv2_lookups_end(handle_value(hLookup));
    if (rc == NSPV2_NOT_INLINE)
        THROUGH_GATE(rc = nspv2_py_end(handle_value(hLookup)));
    if (rc != NO_ERROR)
        return fail(rc);
    return NO_ERROR;
}

NSPV2_EXPORT VOID WINAPI NSPv2SetServiceEx(HANDLE hAsyncCall, LPGUID lpProviderId,
                                           LPWSAQUERYSET2W lpqsRegInfo,
                                           WSAESETSERVICEOP essOperation, DWORD dwControlFlags,
                                           LPVOID lpvClientSessionArg)
{
    INT rc;
    if (lpProviderId == NULL)
        rc = WSAEINVAL;
    else if ((rc = nspv2_queryset_validate(lpqsRegInfo)) != NO_ERROR)
        ;
    else if ((INT)essOperation < RNRSERVICE_REGISTER || (INT)essOperation > RNRSERVICE_DELETE)
        rc = WSAEINVAL;
    else if ((rc = nspv2_runtime_ready()) == NO_ERROR)
        THROUGH_GATE(rc = nspv2_py_set_service(hAsyncCall, lpProviderId, lpqsRegInfo,
                                               (INT)essOperation, dwControlFlags,
                                               handle_value(lpvClientSessionArg)));
    if (rc != NSPV2_PENDING)
        (void)nspv2_complete_async(hAsyncCall, rc);
}

/* The stub for providers without set_service: answers without entering Python. */
static VOID WINAPI stub_SetServiceEx(HANDLE hAsyncCall, LPGUID lpProviderId,
                                     LPWSAQUERYSET2W lpqsRegInfo, WSAESETSERVICEOP essOperation,
                                     DWORD dwControlFlags, LPVOID lpvClientSessionArg)
{
    (void)lpProviderId, (void)lpqsRegInfo, (void)essOperation, (void)dwControlFlags,
        (void)lpvClientSessionArg;
    (void)nspv2_complete_async(hAsyncCall, WSAEOPNOTSUPP);
}

NSPV2_EXPORT INT WINAPI NSPv2GetRoutine(const GUID *providerId, NSPV2_ROUTINE *routine)
{
    INT rc;
    DWORD implemented = 0;
    if (providerId == NULL || routine == NULL)
        return fail(WSAEINVAL);
    if ((rc = nspv2_runtime_ready()) != NO_ERROR)
        return fail(rc);
    THROUGH_GATE(rc = nspv2_py_resolve(providerId, &implemented));
    if (rc != NO_ERROR)
        return fail(rc);
    routine->cbSize = sizeof(NSPV2_ROUTINE);
    routine->dwMajorVersion = NSPV2_ROUTINE_MAJOR_VERSION;
    routine->dwMinorVersion = NSPV2_ROUTINE_MINOR_VERSION;
    routine->NSPv2Startup = NSPv2Startup;
    routine->NSPv2Cleanup = NSPv2Cleanup;
    routine->NSPv2LookupServiceBegin = NSPv2LookupServiceBegin;
    routine->NSPv2LookupServiceNextEx = NSPv2LookupServiceNextEx;
    routine->NSPv2LookupServiceEnd = NSPv2LookupServiceEnd;
    routine->NSPv2SetServiceEx =
        (implemented & NSPV2_IMPL_SET_SERVICE) ? NSPv2SetServiceEx : stub_SetServiceEx;
    routine->NSPv2ClientSessionRundown = NSPv2ClientSessionRundown;
    return NO_ERROR;
}
