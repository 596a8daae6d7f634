/* Advertised providers (WSAAdvertiseProvider / WSAUnadvertiseProvider) and routing. Why a
 * running-call count: a host withdraws a provider while client calls may be inside its routine;
 * unadvertising must not return before the last of them has left, or the host would unload code
 * that is still running. Why serial numbers: a lookup outlives its provider's advertisement, and
 * a re-advertised GUID is a new provider instance that must not receive the old handles.
 * Advertising a GUID that is not installed fails with WSAEINVALIDPROVIDER (WSAAdvertiseProvider's
 * page: "The namespace provider could not be found"); one that is already advertised fails with
 * WSAEINVAL (unadvertise first). Withdrawing runs the provider's remaining client sessions down
 * (NSPv2ClientSessionRundown), so every successful Startup ends in exactly one Cleanup or
 * Rundown.
 *
 * Which NSPV2_ROUTINE versions are accepted: dwMajorVersion NSPV2_ROUTINE_MAJOR_VERSION (1), any
 * dwMinorVersion. 1.0 is what Microsoft's NSPv2 sample (SampleProvider.c) advertises, the only
 * table known to have run on Windows; no page names another version. Minor versions are
 * accepted because Winsock's versions (WSAStartup's, NSP_ROUTINE's) number compatible revisions
 * of one interface with the minor; a major version no page describes is refused (WSAEINVAL, the
 * page's code for an invalid table), so a provider that passes here advertises what Windows is
 * known to take.
 *
 * Routing (standin_route). A query with lpNSProviderId goes to that provider only; otherwise to
 * the providers of its namespace, NS_ALL to every namespace's. Only installed, enabled and
 * advertised providers are asked. Providers of namespaces other than NS_EMAIL are asked in
 * catalog order. NS_EMAIL providers are asked by the rules of the NAPI_PROVIDER_INSTALLATION_BLOB
 * and NAPI_PROVIDER_LEVEL pages, from each one's installation blob: for a name in a domain, the
 * domain's primary provider first (the first provider in the catalog that claims the domain as
 * ProviderLevel_Primary; later primary claims are ignored), then its secondaries in catalog order,
 * then the wildcard providers (fSupportsWildCard) in catalog order; a provider is asked once, in
 * its first role, and one with no claim on the domain and no wildcard is never asked, even when
 * named by lpNSProviderId (which limits a query, it does not widen it). An authoritative query
 * (the default) stops at the first of them that resolves the name (lookup.c); LUP_NON_AUTHORITATIVE
 * asks them all in that order. Under NS_ALL the NS_EMAIL providers come after the others.
 * The domain of a name is what follows its last '@' (an NS_EMAIL name is an address,
 * user@domain); a name with no '@', or nothing after it, is in no domain, so only wildcard
 * providers are asked: fSupportsWildCard is the page's claim on "any name that does not belong
 * to any domains the provider is specifically registered for". A provider installed with no blob
 * (or a blob that does not parse, from a hand-edited catalog file) claims nothing and is never
 * asked: the blob is the only place Windows learns an NS_EMAIL provider's domains, and guessing
 * that it would call such a provider anyway would let a provider that Windows never calls pass
 * here. */
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

/* Not a ws2_32 function (Windows does not say): whether a provider is advertised, by this process
 * or by a host in another, for `nspv2 lookup`'s explanation of WSASERVICE_NOT_FOUND. */
STANDIN_EXPORT BOOL WINAPI StandinIsAdvertised(const GUID *guid)
{
    if (guid == NULL)
        return 0;
    standin_lock();
    bool here = provider_by_guid(guid) != NULL;
    standin_unlock();
    return here || remote_published(guid);
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

struct route_list {
    struct route *routes;
    size_t count, capacity;
    bool failed;
};

static void route_add(struct route_list *list, const struct catalog_entry *e, bool fallback)
{
    struct provider *p = provider_by_guid(&e->guid);
    if (p == NULL)
        p = remote_proxy(&e->guid);               /* advertised by another process */
    if (p == NULL || list->failed)
        return;                                   /* not advertised: unavailable */
    for (size_t i = 0; i < list->count; i++)
        if (list->routes[i].serial == p->serial)
            return;                               /* asked once, in its first role */
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 4;
        struct route *r = realloc(list->routes, capacity * sizeof *r);
        if (r == NULL) {
            list->failed = true;
            return;
        }
        list->routes = r;
        list->capacity = capacity;
    }
    list->routes[list->count++] = (struct route){e->guid, p->serial, fallback};
}

static bool in_scope(const struct catalog_entry *e, DWORD name_space, const GUID *provider_id)
{
    if (!e->enabled)
        return false;
    if (provider_id)
        return memcmp(&e->guid, provider_id, sizeof(GUID)) == 0;
    return name_space == NS_ALL || e->name_space == name_space;
}

/* The domain part of an NS_EMAIL name: after its last '@'; NULL when there is none. */
static const WCHAR *domain_part(const WCHAR *name, size_t *length)
{
    const WCHAR *after = NULL;
    for (const WCHAR *c = name; c && *c; c++)
        if (*c == '@')
            after = c + 1;
    size_t n = 0;
    while (after && after[n])
        n++;
    *length = n;
    return n ? after : NULL;
}

enum email_role { ROLE_NONE, ROLE_PRIMARY, ROLE_SECONDARY, ROLE_WILDCARD };

static enum email_role email_role(const struct catalog_entry *e, const struct catalog_entry *primary,
                                  const WCHAR *domain, size_t domain_length)
{
    struct napi_claim claim;
    if (e == primary)
        return ROLE_PRIMARY;
    if (!napi_blob_read(e->blob, e->blob_length, domain, domain_length, &claim))
        return ROLE_NONE;
    if (claim.level == ProviderLevel_Secondary)
        return ROLE_SECONDARY;
    return claim.wildcard ? ROLE_WILDCARD : ROLE_NONE;
}

size_t standin_route(const WSAQUERYSETW *qs, bool authoritative, struct route **routes)
{
    struct route_list list = {NULL, 0, 0, false};
    bool any_email = false;
    if (t_route_only_set) {  /* the host's dispatch: the client's process routed already */
        struct provider *p = provider_by_guid(&t_route_only);
        *routes = NULL;
        if (p == NULL)
            return 0;
        if ((*routes = malloc(sizeof **routes)) == NULL)
            return (size_t)-1;
        (*routes)[0] = (struct route){p->guid, p->serial, false};
        return 1;
    }
    for (struct catalog_entry *e = catalog_first(); e; e = e->next) {
        if (!in_scope(e, qs->dwNameSpace, qs->lpNSProviderId))
            continue;
        if (e->name_space == NS_EMAIL)
            any_email = true;
        else
            route_add(&list, e, false);
    }
    if (any_email) {
        size_t domain_length;
        const WCHAR *domain = domain_part(qs->lpszServiceInstanceName, &domain_length);
        const struct catalog_entry *primary = NULL;
        for (struct catalog_entry *e = catalog_first(); domain && e && !primary; e = e->next) {
            struct napi_claim claim;
            if (e->enabled && e->name_space == NS_EMAIL &&
                napi_blob_read(e->blob, e->blob_length, domain, domain_length, &claim) &&
                claim.level == ProviderLevel_Primary)
                primary = e;
        }
        for (int role = ROLE_PRIMARY; role <= ROLE_WILDCARD; role++)
            for (struct catalog_entry *e = catalog_first(); e; e = e->next)
                if (e->name_space == NS_EMAIL &&
                    in_scope(e, qs->dwNameSpace, qs->lpNSProviderId) &&
                    email_role(e, primary, domain, domain_length) == (enum email_role)role)
                    route_add(&list, e, authoritative);
    }
    if (list.failed) {
        free(list.routes);
        *routes = NULL;
        return (size_t)-1;
    }
    *routes = list.routes;
    return list.count;
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
    INT refused = !catalog_contains(puuidProviderId) ? WSAEINVALIDPROVIDER
                  : provider_by_guid(puuidProviderId) ? WSAEINVAL
                                                      : NO_ERROR;
    if (refused != NO_ERROR) {
        standin_unlock();
        free(p);
        return standin_fail(refused);
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
