/* WSASetServiceW: registration through NSPv2SetServiceEx. Why the query set block belongs to the
 * async record: SetServiceEx completes asynchronously, so a provider may keep reading its
 * WSAQUERYSET2W on another thread until it calls WSAProviderCompleteAsyncCall; only then is the
 * block poisoned and freed. A provider without SetServiceEx counts as WSAEOPNOTSUPP. Routing is
 * the lookups' (providers.c): the NAPI pages order NS_EMAIL providers the same way "to resolve
 * or register" an address, and a registration stops at the first of the domain's providers that
 * takes it (there is no non-authoritative flag for WSASetService). */
#include "standin_internal.h"

#include <stdlib.h>
#include <string.h>

STANDIN_EXPORT INT WINAPI WSASetServiceW(LPWSAQUERYSETW lpqsRegInfo, WSAESETSERVICEOP essoperation,
                                         DWORD dwControlFlags)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (lpqsRegInfo == NULL)
        return standin_fail(WSAEFAULT);
    if ((unsigned)essoperation > RNRSERVICE_DELETE)
        return standin_fail(WSAEINVAL);
    INT rc = queryset_validate_client(lpqsRegInfo);
    if (rc != NO_ERROR)
        return standin_fail(rc);
    INT saved = standin_get_last_error();
    INT client = standin_current_client();

    struct route *routes;
    standin_lock();
    size_t n = standin_route(lpqsRegInfo, true, &routes);
    standin_unlock();
    if (n == (size_t)-1)
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    if (n == 0)
        return standin_fail(WSASERVICE_NOT_FOUND);

    bool any_succeeded = false, fallback_succeeded = false;
    INT last = WSASERVICE_NOT_FOUND;
    for (size_t i = 0; i < n; i++) {
        if (routes[i].fallback && fallback_succeeded)
            break;                       /* fallback routes come last: the chain is done */
        void *session_arg;
        rc = session_ensure(client, routes[i].serial, &routes[i].guid, &session_arg);
        if (rc != NO_ERROR) {
            last = rc;
            continue;
        }
        size_t block_size;
        WSAQUERYSET2W *qs2 = queryset_to_provider(lpqsRegInfo, &block_size, &rc);
        if (qs2 == NULL) {
            last = rc;
            continue;
        }
        NSPV2_ROUTINE routine;
        standin_lock();
        struct provider *p = provider_enter(routes[i].serial, &routine, false);
        standin_unlock();
        if (p == NULL || routine.NSPv2SetServiceEx == NULL) {
            if (p) {
                standin_lock();
                provider_leave(p);
                standin_unlock();
            }
            queryset_poison_free(qs2, block_size);
            last = p ? WSAEOPNOTSUPP : WSASERVICE_NOT_FOUND;
            continue;
        }
        HANDLE async_handle = NULL;
        struct async_call *call = async_create(&routes[i].guid, qs2, block_size, &async_handle);
        if (call == NULL) {
            standin_lock();
            provider_leave(p);
            standin_unlock();
            queryset_poison_free(qs2, block_size);
            last = WSA_NOT_ENOUGH_MEMORY;
            continue;
        }
        GUID id = routes[i].guid;
        routine.NSPv2SetServiceEx(async_handle, &id, qs2, essoperation, dwControlFlags,
                                  session_arg);
        standin_lock();
        provider_leave(p);
        standin_unlock();
        if (!async_wait(call, async_handle)) {
            last = WSANO_RECOVERY;
            continue;
        }
        INT code = call->code;
        memset(call->block, 0xDD, call->block_size);
        async_free(call);
        if (code == NO_ERROR) {
            any_succeeded = true;
            fallback_succeeded = routes[i].fallback;
        } else
            last = code;
    }
    free(routes);
    if (!any_succeeded)
        return standin_fail(last);
    standin_set_last_error(saved);
    return NO_ERROR;
}
