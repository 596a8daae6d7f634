/* Asynchronous completion of NSPv2LookupServiceNextEx and NSPv2SetServiceEx. Why a handle table
 * and not pointers: WSAProviderCompleteAsyncCall takes whatever value a provider hands back, and
 * a late, repeated or invented value must be reported as a violation, never dereferenced (NULL,
 * which no call ever has, is simply WSAEINVAL, as the function's page documents). Why the
 * record owns the provider's buffer and length cell: a provider that completes after the timeout
 * may still write into them, so they live until that late completion (or the process's final
 * WSACleanup), not on a stack that has since been reused. */
#include "standin_internal.h"

#include <stdlib.h>

static struct handle_table g_async = {.tag = 0xA5};
static DWORD g_timeout_ms = 30000;

STANDIN_EXPORT VOID WINAPI StandinSetAsyncTimeout(DWORD milliseconds)
{
    standin_lock();
    g_timeout_ms = milliseconds;
    standin_unlock();
}

struct async_call *async_create(const GUID *provider, void *block, size_t block_size,
                                HANDLE *handle)
{
    struct async_call *call = calloc(1, sizeof *call);
    if (call == NULL)
        return NULL;
    call->state = ASYNC_PENDING;
    call->provider = *provider;
    call->block = block;
    call->block_size = block_size;
    standin_cond_init(&call->done);
    standin_lock();
    *handle = handle_insert(&g_async, call);
    standin_unlock();
    if (*handle == NULL) {
        standin_cond_destroy(&call->done);
        free(call);
        return NULL;
    }
    return call;
}

_Thread_local struct async_wait_hook async_wait_hook;

bool async_wait(struct async_call *call, HANDLE handle)
{
    standin_lock();
    if (call->state == ASYNC_PENDING && async_wait_hook.before_wait != NULL) {
        struct async_wait_hook hook = async_wait_hook;
        async_wait_hook.before_wait = NULL;
        standin_unlock();
        hook.before_wait(hook.arg);
        standin_lock();
    }
    DWORD timeout = g_timeout_ms;
    uint64_t deadline = standin_now_ms() + timeout;
    while (call->state == ASYNC_PENDING) {
        if (timeout == 0)
            standin_cond_wait(&call->done);
        else if (!standin_cond_wait_until(&call->done, deadline))
            break;
    }
    if (call->state == ASYNC_PENDING) {
        call->state = ASYNC_TIMED_OUT;
        GUID provider = call->provider;
        standin_unlock();
        standin_violation(&provider,
                          "async call never completed (no WSAProviderCompleteAsyncCall within "
                          "%u ms)", (unsigned)timeout);
        return false;
    }
    handle_remove(&g_async, handle, FATE_COMPLETED);
    standin_unlock();
    return true;
}

void async_free(struct async_call *call)
{
    standin_cond_destroy(&call->done);
    free(call->block);
    free(call);
}

void async_release_orphans(void)
{
    uint32_t cursor = 0;
    HANDLE handle;
    struct async_call *call;
    while ((call = handle_next_live(&g_async, &cursor, &handle)) != NULL) {
        if (call->state == ASYNC_TIMED_OUT) {
            handle_remove(&g_async, handle, FATE_TIMED_OUT);
            async_free(call);
        }
    }
    handle_table_release_if_empty(&g_async);
}

STANDIN_EXPORT INT WINAPI WSAProviderCompleteAsyncCall(HANDLE hAsyncCall, INT iRetCode)
{
    uint8_t fate;
    if (hAsyncCall == NULL)              /* the function's page: WSAEINVAL for a NULL handle */
        return standin_fail(WSAEINVAL);
    standin_lock();
    enum handle_state state = handle_classify(&g_async, hAsyncCall, &fate);
    if (state == HANDLE_LIVE) {
        struct async_call *call = handle_get(&g_async, hAsyncCall);
        if (call->state == ASYNC_PENDING) {
            call->state = ASYNC_COMPLETED;
            call->code = iRetCode;
            standin_cond_signal(&call->done);
            standin_unlock();
            return NO_ERROR;
        }
        GUID provider = call->provider;
        if (call->state == ASYNC_COMPLETED) {
            standin_unlock();
            standin_violation(&provider, "async call completed twice");
        } else {
            handle_remove(&g_async, hAsyncCall, FATE_COMPLETED);
            standin_unlock();
            async_free(call);
            standin_violation(&provider, "async call completed after its timeout (code %d)",
                              iRetCode);
        }
        return standin_fail(WSA_INVALID_HANDLE);
    }
    standin_unlock();
    if (state == HANDLE_STALE && fate == FATE_TIMED_OUT)
        standin_violation(NULL, "async call completed after its timeout (code %d)", iRetCode);
    else if (state == HANDLE_STALE)
        standin_violation(NULL, "async call completed twice");
    else
        standin_violation(NULL, "unknown async handle %p completed (code %d)", hAsyncCall,
                          iRetCode);
    return standin_fail(WSA_INVALID_HANDLE);
}
