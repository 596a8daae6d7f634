/* Simulated client processes (WSAStartup/WSACleanup, StandinClient*) and their provider
 * sessions. Why simulated processes: NSPv2 hands each client process its own session
 * (NSPv2Startup ... NSPv2Cleanup, or NSPv2ClientSessionRundown when the process dies), and a
 * single test process has to be able to play several of them. Each thread acts for one client
 * (thread-local id, 0 = the process itself). A client's final WSACleanup calls Cleanup for each
 * of its sessions and drops its lookup handles without NSPv2LookupServiceEnd (as a dying
 * process's handles are dropped; the provider frees them with the session); StandinClientKill
 * does the same with Rundown instead of Cleanup. Either way, the providers the client
 * advertised are withdrawn (its host role ended). Client 0's final WSACleanup also gives back
 * the handle tables and timed-out async records. */
#include "standin_internal.h"

#include <stdlib.h>
#include <string.h>

struct client {
    INT id;
    unsigned started;
    struct session *sessions;
    struct client *next;
};

static struct client g_process;            /* client 0, always present */
static struct client *g_clients = &g_process;
static INT g_next_client_id = 1;
static _Thread_local INT t_client;
static _Thread_local bool t_dispatch;      /* a host's dispatch thread (remote_host.c) */

static struct client *client_find(INT id)
{
    for (struct client *c = g_clients; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

INT standin_current_client(void) { return t_client; }

INT standin_check_started_locked(void)
{
    struct client *c = client_find(t_client);
    return (c && c->started) ? NO_ERROR : WSANOTINITIALISED;
}

INT standin_check_started(void)
{
    standin_lock();
    INT rc = standin_check_started_locked();
    standin_unlock();
    return rc == NO_ERROR ? NO_ERROR : standin_fail(rc);
}

/* Calls Cleanup (how == ORPHAN_CLEANUP) or Rundown for one detached session and frees it. */
static void session_end(struct session *s, int how)
{
    NSPV2_ROUTINE routine;
    standin_lock();
    struct provider *p = provider_enter(s->serial, &routine, true);
    standin_unlock();
    if (p) {
        GUID guid = s->guid;
        if (how == ORPHAN_CLEANUP && routine.NSPv2Cleanup)
            routine.NSPv2Cleanup(&guid, s->arg);
        else if (how == ORPHAN_RUNDOWN && routine.NSPv2ClientSessionRundown)
            routine.NSPv2ClientSessionRundown(&guid, s->arg);
        standin_lock();
        provider_leave(p);
        standin_unlock();
    }
    free(s);
}

/* Ends a client: entered with the lock held, returns with it released. */
static void client_end(struct client *c, int how, bool free_record)
{
    INT id = c->id;
    struct session *ready = NULL;
    while (c->sessions) {
        struct session *s = c->sessions;
        c->sessions = s->next;
        if (s->starting) {
            s->orphaned = (uint8_t)how;   /* the thread running Startup ends it */
        } else {
            s->next = ready;
            ready = s;
        }
    }
    lookups_drop_for_client(id);
    struct provider *owned = providers_detach_owned_by(id);
    if (free_record)
        free(c);
    standin_unlock();

    INT saved = standin_get_last_error();
    while (ready) {
        struct session *next = ready->next;
        session_end(ready, how);
        ready = next;
    }
    while (owned) {
        struct provider *next = owned->retire_next;
        provider_retire(owned);
        owned = next;
    }
    standin_set_last_error(saved);
    if (id == 0) {
        standin_lock();
        if (g_process.started == 0) {
            async_release_orphans();
            lookups_release_tables();
        }
        standin_unlock();
    }
}

STANDIN_EXPORT INT WINAPI WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData)
{
    if (lpWSAData == NULL)
        return WSAEFAULT;
    if ((wVersionRequested & 0xFF) < 2)
        return WSAVERNOTSUPPORTED;
    standin_lock();
    struct client *c = client_find(t_client);
    if (c == NULL) {
        standin_unlock();
        return WSANOTINITIALISED;
    }
    c->started++;
    standin_unlock();

    memset(lpWSAData, 0, sizeof *lpWSAData);
    lpWSAData->wVersion = 0x0202;
    lpWSAData->wHighVersion = 0x0202;
    strcpy(lpWSAData->szDescription, "nspv2 Winsock stand-in");
    strcpy(lpWSAData->szSystemStatus, "Running");
    return NO_ERROR;
}

STANDIN_EXPORT INT WINAPI WSACleanup(void)
{
    standin_lock();
    struct client *c = client_find(t_client);
    if (c == NULL || c->started == 0) {
        standin_unlock();
        return standin_fail(WSANOTINITIALISED);
    }
    if (--c->started > 0) {
        standin_unlock();
        return NO_ERROR;
    }
    client_end(c, ORPHAN_CLEANUP, false);
    return NO_ERROR;
}

STANDIN_EXPORT INT WINAPI StandinClientCreate(void)
{
    struct client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    standin_lock();
    if (g_next_client_id == INT32_MAX) {
        standin_unlock();
        free(c);
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    }
    c->id = g_next_client_id++;
    c->next = g_process.next;
    g_process.next = c;
    standin_unlock();
    return c->id;
}

STANDIN_EXPORT INT WINAPI StandinClientAttach(INT clientId)
{
    standin_lock();
    bool known = client_find(clientId) != NULL;
    standin_unlock();
    if (!known)
        return standin_fail(WSAEINVAL);
    t_client = clientId;
    return NO_ERROR;
}

void standin_set_dispatch_thread(void)
{
    t_dispatch = true;
}

STANDIN_EXPORT BOOL WINAPI StandinOnClientThread(void)
{
    return !t_dispatch;
}

STANDIN_EXPORT INT WINAPI StandinClientKill(INT clientId)
{
    if (clientId == 0)
        return standin_fail(WSAEINVAL);
    standin_lock();
    struct client **link = &g_process.next;
    while (*link && (*link)->id != clientId)
        link = &(*link)->next;
    struct client *c = *link;
    if (c == NULL) {
        standin_unlock();
        return standin_fail(WSAEINVAL);
    }
    *link = c->next;
    client_end(c, ORPHAN_RUNDOWN, true);
    return NO_ERROR;
}

struct session *sessions_detach_for_provider(uint64_t serial)
{
    struct session *detached = NULL;
    for (struct client *c = g_clients; c; c = c->next) {
        struct session **link = &c->sessions;
        while (*link) {
            struct session *s = *link;
            if (s->serial == serial && !s->starting) {
                *link = s->next;
                s->next = detached;
                detached = s;
            } else {
                link = &s->next;
            }
        }
    }
    return detached;
}

INT session_ensure(INT client, uint64_t serial, const GUID *guid, void **arg)
{
    standin_lock();
    struct client *c;
    struct session *s;
    for (;;) {
        c = client_find(client);
        if (c == NULL || c->started == 0) {
            standin_unlock();
            return WSANOTINITIALISED;
        }
        for (s = c->sessions; s && s->serial != serial; s = s->next) {
        }
        if (s == NULL)
            break;
        if (!s->starting) {
            *arg = s->arg;
            standin_unlock();
            return NO_ERROR;
        }
        standin_wait();                  /* another thread of this client runs Startup */
    }

    NSPV2_ROUTINE routine;
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        standin_unlock();
        return WSA_NOT_ENOUGH_MEMORY;
    }
    struct provider *p = provider_enter(serial, &routine, false);
    if (p == NULL) {
        standin_unlock();
        free(s);
        return WSASERVICE_NOT_FOUND;
    }
    s->serial = serial;
    s->guid = *guid;
    s->starting = true;
    s->next = c->sessions;
    c->sessions = s;
    standin_unlock();

    void *value = NULL;
    INT rc = NO_ERROR;
    if (routine.NSPv2Startup) {
        GUID id = *guid;
        standin_set_last_error(NO_ERROR);
        if (routine.NSPv2Startup(&id, &value) != NO_ERROR) {
            rc = standin_get_last_error();
            if (rc == NO_ERROR)
                rc = WSANO_RECOVERY;
        }
    }

    standin_lock();
    if (s->orphaned) {                   /* the client ended while Startup ran; s is ours */
        int how = s->orphaned;
        standin_unlock();
        if (rc == NO_ERROR) {
            GUID id = *guid;
            if (how == ORPHAN_CLEANUP && routine.NSPv2Cleanup)
                routine.NSPv2Cleanup(&id, value);
            else if (how == ORPHAN_RUNDOWN && routine.NSPv2ClientSessionRundown)
                routine.NSPv2ClientSessionRundown(&id, value);
        }
        standin_lock();
        provider_leave(p);
        standin_broadcast();
        standin_unlock();
        free(s);
        return WSANOTINITIALISED;
    }
    if (rc != NO_ERROR) {
        c = client_find(client);
        struct session **link = &c->sessions;
        while (*link != s)
            link = &(*link)->next;
        *link = s->next;
        free(s);
    } else {
        s->arg = value;
        s->starting = false;
        *arg = value;
    }
    provider_leave(p);
    standin_broadcast();
    standin_unlock();
    return rc;
}
