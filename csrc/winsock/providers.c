/* Advertised providers (WSAAdvertiseProvider / WSAUnadvertiseProvider) and routing. Why a
 * running-call count: a host withdraws a provider while client calls may be inside its routine;
 * unadvertising must not return before the last of them has left, or the host would unload code
 * that is still running. Why serial numbers: a lookup outlives its provider's advertisement, and
 * a re-advertised GUID is a new provider instance that must not receive the old handles.
 * Advertising a GUID that is already advertised fails with WSAEINVAL (unadvertise first), like
 * reinstalling. Withdrawing runs the provider's remaining client sessions down
 * (NSPv2ClientSessionRundown), so every successful Startup ends in exactly one Cleanup or
 * Rundown. */
#include "standin_internal.h"

#include <stdlib.h>
#include <string.h>

static struct provider *g_providers;
static struct provider *g_retiring;   /* withdrawn, waiting for their running calls */
static struct provider *g_remote;     /* proxies for providers other processes advertise */
static uint64_t g_next_serial = 1;
static _Thread_local GUID t_route_only;
static _Thread_local bool t_route_only_set;

void standin_route_only(const GUID *guid)
{
    t_route_only_set = guid != NULL;
    if (guid)
        t_route_only = *guid;
}

/* The proxy of a provider another process publishes (lock held); NULL when none does. */
static struct provider *remote_proxy(const GUID *guid)
{
    if (!remote_published(guid))
        return NULL;
    struct provider *p = g_remote;
    while (p && memcmp(&p->guid, guid, sizeof(GUID)) != 0)
        p = p->next;
#ifndef _WIN32
    if (p == NULL && (p = calloc(1, sizeof *p)) != NULL) {
        p->guid = *guid;
        p->routine = remote_routine;
        p->serial = g_next_serial++;
        p->owner = -1;
        p->remote = true;
        p->next = g_remote;
        g_remote = p;
    }
#endif
    return p;
}

struct provider *provider_by_guid(const GUID *guid)
{
    for (struct provider *p = g_providers; p; p = p->next)
        if (memcmp(&p->guid, guid, sizeof(GUID)) == 0)
            return p;
    return NULL;
}

struct provider *provider_by_serial(uint64_t serial)
{
    for (struct provider *p = g_providers; p; p = p->next)
        if (p->serial == serial)
            return p;
    return NULL;
}

struct provider *provider_enter(uint64_t serial, NSPV2_ROUTINE *routine, bool retiring_too)
{
    struct provider *p = provider_by_serial(serial);
    for (struct provider *r = g_remote; !p && r; r = r->next)
        if (r->serial == serial)
            p = r;
    for (struct provider *r = g_retiring; !p && retiring_too && r; r = r->next)
        if (r->serial == serial)
            p = r;
    if (p) {
        p->running++;
        *routine = p->routine;
    }
    return p;
}

void provider_leave(struct provider *p)
{
    if (--p->running == 0 && p->withdrawn)
        standin_broadcast();
}

struct provider *providers_detach_owned_by(INT owner)
{
    struct provider *detached = NULL, **link = &g_providers;
    while (*link) {
        struct provider *p = *link;
        if (p->owner == owner) {
            *link = p->next;
            p->withdrawn = true;
            p->next = g_retiring;
            g_retiring = p;
            p->retire_next = detached;
            detached = p;
        } else {
            link = &p->next;
        }
    }
    return detached;
}

void provider_retire(struct provider *p)
{
    remote_host_withdraw(&p->guid);  /* other processes' connections end first */
    standin_lock();
    while (p->running > 0)
        standin_wait();
    struct session *sessions = sessions_detach_for_provider(p->serial);
    struct provider **link = &g_retiring;
    while (*link != p)
        link = &(*link)->next;
    *link = p->next;
    standin_unlock();
    while (sessions) {
        struct session *next = sessions->next;
        if (p->routine.NSPv2ClientSessionRundown) {
            GUID guid = p->guid;
            p->routine.NSPv2ClientSessionRundown(&guid, sessions->arg);
        }
        free(sessions);
        sessions = next;
    }
    free(p);
}

size_t standin_route(DWORD name_space, const GUID *provider_id, struct route **routes)
{
    size_t n = 0, capacity = 0;
    *routes = NULL;
    if (t_route_only_set) {
        struct provider *p = provider_by_guid(&t_route_only);
        if (p == NULL)
            return 0;
        if ((*routes = malloc(sizeof **routes)) == NULL)
            return (size_t)-1;
        (*routes)[0].guid = p->guid;
        (*routes)[0].serial = p->serial;
        return 1;
    }
    for (struct catalog_entry *e = catalog_first(); e; e = e->next) {
        if (!e->enabled)
            continue;
        if (provider_id ? memcmp(&e->guid, provider_id, sizeof(GUID)) != 0
                        : (name_space != NS_ALL && e->name_space != name_space))
            continue;
        struct provider *p = provider_by_guid(&e->guid);
        if (p == NULL)
            p = remote_proxy(&e->guid);  /* advertised by another process */
        if (p == NULL)
            continue;
        if (n == capacity) {
            capacity = capacity ? capacity * 2 : 4;
            struct route *r = realloc(*routes, capacity * sizeof *r);
            if (r == NULL) {
                free(*routes);
                *routes = NULL;
                return (size_t)-1;
            }
            *routes = r;
        }
        (*routes)[n].guid = e->guid;
        (*routes)[n].serial = p->serial;
        n++;
    }
    return n;
}

STANDIN_EXPORT INT WINAPI WSAAdvertiseProvider(const GUID *puuidProviderId,
                                               LPCNSPV2_ROUTINE pNSPv2Routine)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (puuidProviderId == NULL || pNSPv2Routine == NULL)
        return standin_fail(WSAEINVAL);
    if (pNSPv2Routine->cbSize < sizeof(NSPV2_ROUTINE) ||
        pNSPv2Routine->dwMajorVersion != NSPV2_ROUTINE_MAJOR_VERSION ||
        pNSPv2Routine->NSPv2LookupServiceBegin == NULL ||
        pNSPv2Routine->NSPv2LookupServiceNextEx == NULL ||
        pNSPv2Routine->NSPv2LookupServiceEnd == NULL)
        return standin_fail(WSAEINVAL);

    struct provider *p = calloc(1, sizeof *p);
    if (p == NULL)
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    p->guid = *puuidProviderId;
    p->routine = *pNSPv2Routine;
    p->routine.cbSize = sizeof(NSPV2_ROUTINE);
    p->owner = standin_current_client();

    standin_lock();
    if (provider_by_guid(puuidProviderId)) {
        standin_unlock();
        free(p);
        return standin_fail(WSAEINVAL);
    }
    p->serial = g_next_serial++;
    p->next = g_providers;
    g_providers = p;
    standin_unlock();
    remote_host_publish(puuidProviderId);  /* other processes of this user reach it now */
    return NO_ERROR;
}

STANDIN_EXPORT INT WINAPI WSAUnadvertiseProvider(const GUID *puuidProviderId)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (puuidProviderId == NULL)
        return standin_fail(WSAEINVAL);
    standin_lock();
    struct provider **link = &g_providers;
    while (*link && memcmp(&(*link)->guid, puuidProviderId, sizeof(GUID)) != 0)
        link = &(*link)->next;
    struct provider *p = *link;
    if (p == NULL) {
        standin_unlock();
        return standin_fail(WSAEINVAL);
    }
    *link = p->next;
    p->withdrawn = true;
    p->next = g_retiring;
    g_retiring = p;
    standin_unlock();
    provider_retire(p);
    return NO_ERROR;
}
