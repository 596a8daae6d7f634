/* The client's side of the cross-process stand-in: a provider advertised by another process,
 * reached over its socket. Why it is a provider here: on Windows, ws2_32 in the client carries
 * each NSPv2 call to the host that advertised the provider; here a proxy routine table does the
 * carrying, so the client's whole API (routing, sessions, handles, async completion, the checks
 * of every result) works on it unchanged, and the proxy is checked like any provider.
 *
 * One client session of the proxy (NSPv2Startup ... NSPv2Cleanup / Rundown) is one connection,
 * and the host makes it one client session of the real provider: Cleanup sends CLEANUP; a
 * Rundown, or the client process dying, just closes it, and the host runs the session down.
 *
 * Threads of a client share their session's connection. No reader thread: a thread waiting
 * for its reply reads the socket itself when no other thread does (leader/followers), hands
 * each reply to the thread it belongs to, and a wake pipe lets End interrupt it, so a NextEx
 * pending in one thread returns WSA_E_CANCELLED at once when another thread ends its lookup.
 * A host that dies closes the socket: every pending call returns WSANO_RECOVERY at once; the
 * session's next Begin connects again, so a restarted host serves again without the client
 * restarting. No host at all: Startup fails with WSASERVICE_NOT_FOUND, at once. */
#ifndef _WIN32
#include "standin_internal.h"
#include "rundir.h"
#include "transport.h"
#include "wire.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HELLO_TIMEOUT_MS 5000u

struct pending {
    uint32_t id;
    bool done;
    int32_t status;
    uint8_t *reply;               /* the whole reply message (malloc'd, 8-aligned) */
    struct pending *next;
};

struct conn {
    int fd, wake[2];
    pthread_mutex_t mu, send_mu;
    pthread_cond_t cv;
    bool reading, dead;
    int32_t dead_status;          /* what pending calls get once the connection is gone */
    uint32_t next_id;
    unsigned refs;
    struct pending *pending;
};

struct rlookup;

/* A session argument is an id, not a pointer: the client's end may run Cleanup while another
 * of its threads is still in Begin with the same argument, so the record is found by id and
 * kept alive by references. */
struct rsession {
    uint64_t id;
    unsigned refs;                /* under g_sessions_mu: 1 while open, 1 per call or lookup */
    struct rsession *next_all;
    GUID guid;
    pthread_mutex_t mu;
    struct conn *conn;            /* NULL after Cleanup/Rundown */
    struct rlookup *lookups;      /* not ended yet (under mu) */
};

/* Why the session lists its lookups: a client's last WSACleanup (or its death) drops its
 * lookup handles without NSPv2LookupServiceEnd, and the session's end must free them. */
struct rlookup {
    struct conn *conn;            /* host handles are valid on their own connection only */
    uint64_t handle;
    struct pending *next_call;    /* a NEXT waiting for its reply (under conn->mu) */
    bool ended;
    unsigned refs;                /* under conn->mu: 1 for the handle, 1 per running NextEx */
    uint8_t *held;                /* a result that did not fit, kept for the retry */
    struct rlookup *next;         /* in the session's list (under the session's mu) */
    struct rsession *session;
};

static pthread_mutex_t g_sessions_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rsession *g_sessions;
static uint64_t g_next_session = 1;

/* The open session of an argument, with a reference; NULL when it has ended. */
static struct rsession *session_get(LPVOID arg)
{
    pthread_mutex_lock(&g_sessions_mu);
    struct rsession *s = g_sessions;
    while (s && s->id != (uint64_t)(uintptr_t)arg)
        s = s->next_all;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&g_sessions_mu);
    return s;
}

static void session_put(struct rsession *s)
{
    pthread_mutex_lock(&g_sessions_mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&g_sessions_mu);
    if (last) {
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
}

static uint32_t timeout_ms(void)
{
    static uint32_t value;
    if (value == 0) {
        const char *text = getenv("NSPV2_REMOTE_TIMEOUT_MS");
        long v = text ? strtol(text, NULL, 10) : 0;
        value = (v > 0 && v < 86400000) ? (uint32_t)v : 30000u;
    }
    return value;
}

/* ---- the connection ---- */

static void conn_release(struct conn *c)
{
    pthread_mutex_lock(&c->mu);
    bool last = --c->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (!last)
        return;
    close(c->fd);
    close(c->wake[0]);
    close(c->wake[1]);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->send_mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

static void conn_kill_locked(struct conn *c, int32_t status)
{
    if (!c->dead) {
        c->dead = true;
        c->dead_status = status;
        transport_shutdown(c->fd);
    }
    pthread_cond_broadcast(&c->cv);
}

static void conn_wake(struct conn *c)
{
    char byte = 1;
    ssize_t n = write(c->wake[1], &byte, 1);
    (void)n;                      /* full pipe: a wake-up is already pending */
}

/* Reads one message as the reading thread and hands it over. Lock held on entry and exit.
 * A wake-up before the message's first byte gives the reading role back; a timeout or a
 * broken message ends the connection (the stream could not be trusted after it). */
static void conn_read_one(struct conn *c, uint64_t deadline)
{
    c->reading = true;
    pthread_mutex_unlock(&c->mu);
    uint8_t head[WIRE_HEADER_SIZE];
    struct wire_header h;
    uint8_t *message = NULL;
    enum transport_read r = transport_read(c->fd, c->wake[0], head, sizeof head, deadline, false);
    if (r == READ_OK) {
        if (wire_header_read(head, &h) != NO_ERROR || !(h.type & WIRE_REPLY) ||
            (message = aligned_alloc(8, (h.length + 7u) & ~7u)) == NULL) {
            r = READ_CLOSED;
        } else {
            memcpy(message, head, sizeof head);
            r = transport_read(c->fd, -1, message + sizeof head, h.length - sizeof head,
                               deadline, true);
        }
    }
    pthread_mutex_lock(&c->mu);
    c->reading = false;
    if (r == READ_OK) {
        struct pending *p = c->pending;
        while (p && p->id != h.id)
            p = p->next;
        if (h.id == 0) {          /* about the connection itself: the host refuses it */
            conn_kill_locked(c, h.status != NO_ERROR ? h.status : WSANO_RECOVERY);
            free(message);
        } else if (p && !p->done) {
            p->done = true;
            p->status = h.status;
            p->reply = message;
        } else {
            free(message);        /* a call given up (cancelled) */
        }
    } else {
        free(message);
        if (r != READ_WOKEN)
            conn_kill_locked(c, r == READ_TIMEOUT ? WSATRY_AGAIN : WSANO_RECOVERY);
    }
    pthread_cond_broadcast(&c->cv);
}

/* One request and its reply. body may be NULL (empty). Returns the Winsock status; on
 * NO_ERROR or any status the host sent, *reply (if not NULL) is the whole reply message for
 * the caller to free. *sent tells whether the request left (a dead connection before sending
 * may be retried on a new one). lk: the lookup a NEXT belongs to (End may cancel it). */
static INT conn_call(struct conn *c, uint16_t type, const uint8_t *body, size_t body_length,
                     uint8_t **reply, struct rlookup *lk, uint32_t wait_ms, bool *sent)
{
    struct pending p = {0};
    if (reply)
        *reply = NULL;
    if (sent)
        *sent = false;
    size_t total = WIRE_HEADER_SIZE + body_length;
    if (total > WIRE_MAX_MESSAGE)
        return WSA_NOT_ENOUGH_MEMORY;
    uint8_t *message = malloc(total);
    if (message == NULL)
        return WSA_NOT_ENOUGH_MEMORY;
    pthread_mutex_lock(&c->mu);
    if (c->dead) {
        INT status = c->dead_status;
        pthread_mutex_unlock(&c->mu);
        free(message);
        return status;
    }
    if (lk && lk->ended) {
        pthread_mutex_unlock(&c->mu);
        free(message);
        return WSA_E_CANCELLED;
    }
    p.id = ++c->next_id ? c->next_id : ++c->next_id;
    p.next = c->pending;
    c->pending = &p;
    if (lk)
        lk->next_call = &p;
    pthread_mutex_unlock(&c->mu);

    wire_header_write(message, (uint32_t)total, type, p.id, 0);
    if (body_length)
        memcpy(message + WIRE_HEADER_SIZE, body, body_length);
    pthread_mutex_lock(&c->send_mu);
    bool ok = transport_send(c->fd, message, total);
    pthread_mutex_unlock(&c->send_mu);
    free(message);
    if (sent)
        *sent = ok;

    uint64_t deadline = standin_now_ms() + wait_ms;
    pthread_mutex_lock(&c->mu);
    if (!ok)
        conn_kill_locked(c, WSANO_RECOVERY);
    while (!p.done) {
        if (c->dead) {
            p.status = c->dead_status;
            break;
        }
        if (standin_now_ms() >= deadline) {
            p.status = WSATRY_AGAIN;     /* a host that does not answer in time */
            break;
        }
        if (!c->reading) {
            conn_read_one(c, deadline);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;       /* re-check the deadline at least once a second */
            pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        }
    }
    struct pending **link = &c->pending;
    while (*link != &p)
        link = &(*link)->next;
    *link = p.next;
    if (lk && lk->next_call == &p)
        lk->next_call = NULL;
    pthread_cond_broadcast(&c->cv);   /* a follower may take over reading */
    pthread_mutex_unlock(&c->mu);
    if (reply)
        *reply = p.reply;
    else
        free(p.reply);
    return p.status;
}

/* Sends a request whose reply nobody waits for (it is dropped when it arrives): an End, which
 * the host carries out in order before anything this client sends after it. */
static void conn_post(struct conn *c, uint16_t type, const uint8_t *body, size_t body_length)
{
    uint8_t message[WIRE_HEADER_SIZE + 16];
    if (body_length > 16)
        return;
    pthread_mutex_lock(&c->mu);
    uint32_t id = ++c->next_id ? c->next_id : ++c->next_id;
    bool dead = c->dead;
    pthread_mutex_unlock(&c->mu);
    if (dead)
        return;
    wire_header_write(message, (uint32_t)(WIRE_HEADER_SIZE + body_length), type, id, 0);
    memcpy(message + WIRE_HEADER_SIZE, body, body_length);
    pthread_mutex_lock(&c->send_mu);
    bool ok = transport_send(c->fd, message, WIRE_HEADER_SIZE + body_length);
    pthread_mutex_unlock(&c->send_mu);
    if (!ok) {
        pthread_mutex_lock(&c->mu);
        conn_kill_locked(c, WSANO_RECOVERY);
        pthread_mutex_unlock(&c->mu);
    }
}

/* Connects to the host of guid and says hello. NULL with *status on failure. */
static struct conn *conn_open(const GUID *guid, INT *status)
{
    char dir[RUNDIR_MAX], path[RUNDIR_PATH_MAX];
    *status = WSASERVICE_NOT_FOUND;
    if (!rundir_path(dir, false))
        return NULL;
    rundir_socket_path(dir, guid, path);
    enum transport_failure failure;
    int fd = transport_connect(path, &failure);
    if (fd < 0) {
        *status = failure == TRANSPORT_BUSY        ? WSATRY_AGAIN
                  : failure == TRANSPORT_FOREIGN   ? WSAEACCES
                  : failure == TRANSPORT_RESOURCES ? WSA_NOT_ENOUGH_MEMORY
                                                   : WSASERVICE_NOT_FOUND;
        return NULL;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL || !transport_pipe(c->wake)) {
        free(c);
        close(fd);
        *status = WSA_NOT_ENOUGH_MEMORY;
        return NULL;
    }
    c->fd = fd;
    c->refs = 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->send_mu, NULL);
    pthread_cond_init(&c->cv, NULL);

    uint8_t hello[8 + sizeof(GUID)];
    uint32_t magic = WIRE_MAGIC, version = WIRE_VERSION;
    memcpy(hello, &magic, 4);
    memcpy(hello + 4, &version, 4);
    memcpy(hello + 8, guid, sizeof(GUID));
    uint8_t *reply = NULL;
    INT rc = conn_call(c, WIRE_HELLO, hello, sizeof hello, &reply, NULL, HELLO_TIMEOUT_MS, NULL);
    free(reply);
    if (rc != NO_ERROR) {
        conn_release(c);
        *status = rc == WSANO_RECOVERY ? WSASERVICE_NOT_FOUND : rc;
        return NULL;
    }
    *status = NO_ERROR;
    return c;
}

/* The session's live connection (a new one if the host went away), with a reference. */
static struct conn *session_conn(struct rsession *s, bool fresh, INT *status)
{
    pthread_mutex_lock(&s->mu);
    struct conn *c = s->conn;
    bool dead = true;
    if (c) {
        pthread_mutex_lock(&c->mu);
        dead = c->dead || fresh;
        if (!dead)
            c->refs++;
        pthread_mutex_unlock(&c->mu);
    }
    if (dead) {
        if (c) {
            pthread_mutex_lock(&c->mu);
            conn_kill_locked(c, WSANO_RECOVERY);
            pthread_mutex_unlock(&c->mu);
            conn_release(c);
            s->conn = NULL;
        }
        c = conn_open(&s->guid, status);
        if (c) {
            c->refs++;
            s->conn = c;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* ---- the proxy's NSPv2 routine ---- */

static INT WINAPI proxy_startup(LPGUID provider, LPVOID *arg)
{
    if (provider == NULL || arg == NULL)
        return standin_fail(WSAEINVAL);
    struct rsession *s = calloc(1, sizeof *s);
    if (s == NULL)
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    s->guid = *provider;
    s->refs = 1;
    pthread_mutex_init(&s->mu, NULL);
    INT status;
    struct conn *c = session_conn(s, false, &status);
    if (c == NULL) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        return standin_fail(status);
    }
    conn_release(c);
    pthread_mutex_lock(&g_sessions_mu);
    s->id = g_next_session++;
    s->next_all = g_sessions;
    g_sessions = s;
    pthread_mutex_unlock(&g_sessions_mu);
    *arg = (LPVOID)(uintptr_t)s->id;
    return NO_ERROR;
}

static uint8_t *encode_request(uint32_t a, uint32_t b, const struct wire_fields *f,
                               size_t *length)
{
    size_t image = wire_qs_size(f);
    if (image == 0)
        return NULL;
    uint8_t *body = aligned_alloc(8, 8 + image);
    if (body == NULL)
        return NULL;
    memcpy(body, &a, 4);
    memcpy(body + 4, &b, 4);
    wire_qs_write(f, body + 8);
    *length = 8 + image;
    return body;
}

static INT WINAPI proxy_begin(LPGUID provider, LPWSAQUERYSET2W restrictions, DWORD flags,
                              LPVOID arg, LPHANDLE lookup)
{
    if (provider == NULL || restrictions == NULL || arg == NULL || lookup == NULL)
        return standin_fail(WSAEINVAL);
    struct wire_fields f;
    wire_fields_from_provider(restrictions, &f);
    size_t length;
    uint8_t *body = encode_request(flags, 0, &f, &length);
    if (body == NULL)
        return standin_fail(WSAEINVAL);
    struct rsession *s = session_get(arg);
    if (s == NULL) {
        free(body);
        return standin_fail(WSANOTINITIALISED);   /* the client ended meanwhile */
    }
    INT status = WSASERVICE_NOT_FOUND;
    uint8_t *reply = NULL;
    struct conn *c = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool sent = false;
        c = session_conn(s, attempt > 0, &status);
        if (c == NULL)
            break;
        status = conn_call(c, WIRE_BEGIN, body, length, &reply, NULL, timeout_ms(), &sent);
        if (status == NO_ERROR || sent)
            break;
        conn_release(c);          /* the host went away before the request left: reconnect */
        c = NULL;
    }
    free(body);
    struct rlookup *lk = NULL;
    if (status == NO_ERROR) {
        struct wire_header h;
        lk = calloc(1, sizeof *lk);
        if (lk == NULL || wire_header_read(reply, &h) != NO_ERROR ||
            h.length != WIRE_HEADER_SIZE + 8) {
            status = lk ? WSANO_RECOVERY : WSA_NOT_ENOUGH_MEMORY;
            free(lk);
            lk = NULL;
        } else {
            memcpy(&lk->handle, reply + WIRE_HEADER_SIZE, 8);
            lk->conn = c;
            lk->refs = 1;
            lk->session = s;      /* the lookup keeps this call's session reference */
            c = NULL;             /* and its connection reference */
            pthread_mutex_lock(&s->mu);
            lk->next = s->lookups;
            s->lookups = lk;
            pthread_mutex_unlock(&s->mu);
            s = NULL;
        }
    }
    free(reply);
    if (c)
        conn_release(c);
    if (s)
        session_put(s);
    if (lk == NULL)
        return standin_fail(status);
    *lookup = lk;
    return NO_ERROR;
}

static void lookup_release(struct rlookup *lk)
{
    struct conn *c = lk->conn;
    pthread_mutex_lock(&c->mu);
    bool last = --lk->refs == 0;
    pthread_mutex_unlock(&c->mu);
    if (last) {
        struct rsession *s = lk->session;
        free(lk->held);
        free(lk);
        conn_release(c);
        session_put(s);
    }
}

/* Marks a lookup ended; a NextEx waiting for it in another thread returns WSA_E_CANCELLED. */
static void lookup_cancel(struct rlookup *lk)
{
    struct conn *c = lk->conn;
    pthread_mutex_lock(&c->mu);
    lk->ended = true;
    if (lk->next_call && !lk->next_call->done) {
        lk->next_call->done = true;
        lk->next_call->status = WSA_E_CANCELLED;
        pthread_cond_broadcast(&c->cv);
        conn_wake(c);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Takes a lookup off its session's list; false when the session's end took it already. */
static bool session_unlist(struct rsession *s, struct rlookup *lk)
{
    pthread_mutex_lock(&s->mu);
    struct rlookup **link = &s->lookups;
    while (*link && *link != lk)
        link = &(*link)->next;
    bool found = *link != NULL;
    if (found)
        *link = lk->next;
    pthread_mutex_unlock(&s->mu);
    return found;
}

static void session_close(LPVOID arg, bool cleanup)
{
    pthread_mutex_lock(&g_sessions_mu);
    struct rsession **all = &g_sessions;
    while (*all && (*all)->id != (uint64_t)(uintptr_t)arg)
        all = &(*all)->next_all;
    struct rsession *s = *all;
    if (s)
        *all = s->next_all;       /* ended: session_get finds it no more */
    pthread_mutex_unlock(&g_sessions_mu);
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    struct rlookup *left = s->lookups;
    s->lookups = NULL;
    struct conn *c = s->conn;
    s->conn = NULL;
    pthread_mutex_unlock(&s->mu);
    while (left) {                /* dropped by the client's end without End: freed here */
        struct rlookup *next = left->next;
        lookup_cancel(left);
        lookup_release(left);
        left = next;
    }
    if (c) {
        if (cleanup)
            (void)conn_call(c, WIRE_CLEANUP, NULL, 0, NULL, NULL, HELLO_TIMEOUT_MS, NULL);
        pthread_mutex_lock(&c->mu);
        conn_kill_locked(c, WSANO_RECOVERY);
        pthread_mutex_unlock(&c->mu);
        conn_release(c);
    }
    session_put(s);
}

static INT WINAPI proxy_cleanup(LPGUID provider, LPVOID arg)
{
    (void)provider;
    session_close(arg, true);
    return NO_ERROR;
}

static VOID WINAPI proxy_rundown(LPGUID provider, LPVOID arg)
{
    (void)provider;
    session_close(arg, false);
}

/* Delivers a held or received result image into the provider buffer. */
static INT deliver(const uint8_t *image, LPDWORD length, void *results, bool *keep)
{
    struct wire_fields f;
    DWORD n = wire_qs_csaddr_count(image);
    CSADDR_INFO *csaddrs = n ? calloc(n, sizeof *csaddrs) : NULL;
    BLOB blob;
    if (n && csaddrs == NULL)
        return WSA_NOT_ENOUGH_MEMORY;
    wire_qs_fields(image, &f, csaddrs, &blob);
    size_t needed = wire_pack_provider(&f, results, *length);
    free(csaddrs);
    *keep = false;
    if (needed == 0)
        return WSA_NOT_ENOUGH_MEMORY;
    if (needed > *length) {
        *length = (DWORD)needed;
        *keep = true;
        return WSAEFAULT;
    }
    return NO_ERROR;
}

static VOID WINAPI proxy_next(HANDLE async, HANDLE lookup, DWORD flags, LPDWORD length,
                              LPWSAQUERYSET2W results)
{
    struct rlookup *lk = lookup;
    if (lk == NULL || length == NULL) {
        WSAProviderCompleteAsyncCall(async, WSAEINVAL);
        return;
    }
    struct conn *c = lk->conn;
    pthread_mutex_lock(&c->mu);
    lk->refs++;
    uint8_t *held = lk->held;
    lk->held = NULL;
    pthread_mutex_unlock(&c->mu);

    INT code;
    bool keep = false;
    uint8_t *reply = NULL;
    if (held && !(flags & LUP_FLUSHPREVIOUS)) {
        code = deliver(held, length, results, &keep);     /* the retry of a result too large */
    } else {
        /* A held result flushed here was already consumed from the host's provider. */
        DWORD asked = held ? (DWORD)(flags & ~(DWORD)LUP_FLUSHPREVIOUS) : flags;
        free(held);
        held = NULL;
        uint8_t body[16];
        uint64_t handle = lk->handle;
        uint64_t room = (uint64_t)*length + 8u;  /* the host's client buffer is 8 bytes more */
        uint32_t room32 = room > WIRE_MAX_RESULT ? WIRE_MAX_RESULT : (uint32_t)room;
        memcpy(body, &handle, 8);
        memcpy(body + 8, &asked, 4);
        memcpy(body + 12, &room32, 4);
        code = conn_call(c, WIRE_NEXT, body, sizeof body, &reply, lk, timeout_ms(), NULL);
        struct wire_header h = {0};
        if (reply && wire_header_read(reply, &h) != NO_ERROR)
            code = WSANO_RECOVERY;
        if (code == NO_ERROR) {
            const uint8_t *image = reply + WIRE_HEADER_SIZE;
            size_t image_length = h.length - WIRE_HEADER_SIZE;
            uint32_t size = 0;
            if (image_length >= sizeof(struct wire_qs))
                memcpy(&size, image, 4);
            if (size != image_length || wire_qs_check(image, image_length) != NO_ERROR) {
                code = WSANO_RECOVERY;
            } else {
                code = deliver(image, length, results, &keep);
                if (keep) {
                    held = malloc(image_length);
                    if (held)
                        memcpy(held, image, image_length);
                    else
                        code = WSA_NOT_ENOUGH_MEMORY;
                }
            }
        } else if (code == WSAEFAULT) {
            uint32_t required = 0;
            if (reply && h.length == WIRE_HEADER_SIZE + 4)
                memcpy(&required, reply + WIRE_HEADER_SIZE, 4);
            /* The host's length is the client's (WSAQUERYSETW); a provider's is 8 bytes less. */
            if (required > 8u && required - 8u > *length)
                *length = required - 8u;
            else
                code = WSANO_RECOVERY;
        }
    }
    free(reply);
    if (keep && held) {
        pthread_mutex_lock(&c->mu);
        if (!lk->ended && lk->held == NULL) {
            lk->held = held;
            held = NULL;
        }
        pthread_mutex_unlock(&c->mu);
    }
    free(held);
    pthread_mutex_lock(&c->mu);
    bool ended = lk->ended;
    pthread_mutex_unlock(&c->mu);
    if (ended && code != NO_ERROR)
        code = WSA_E_CANCELLED;
    lookup_release(lk);
    WSAProviderCompleteAsyncCall(async, code);
}

static INT WINAPI proxy_end(HANDLE lookup)
{
    struct rlookup *lk = lookup;
    if (lk == NULL)
        return standin_fail(WSA_INVALID_HANDLE);
    if (!session_unlist(lk->session, lk))
        return NO_ERROR;          /* its session ended first and freed it */
    lookup_cancel(lk);
    uint8_t body[8];
    memcpy(body, &lk->handle, 8);
    conn_post(lk->conn, WIRE_END, body, sizeof body);  /* End never fails: no round trip */
    lookup_release(lk);
    return NO_ERROR;
}

static VOID WINAPI proxy_set_service(HANDLE async, LPGUID provider, LPWSAQUERYSET2W info,
                                     WSAESETSERVICEOP operation, DWORD flags, LPVOID arg)
{
    if (provider == NULL || info == NULL || arg == NULL) {
        WSAProviderCompleteAsyncCall(async, WSAEINVAL);
        return;
    }
    struct wire_fields f;
    wire_fields_from_provider(info, &f);
    size_t length;
    uint8_t *body = encode_request((uint32_t)operation, flags, &f, &length);
    INT status = WSAEINVAL;
    struct rsession *s = body ? session_get(arg) : NULL;
    if (body && s == NULL)
        status = WSANOTINITIALISED;  /* the client ended meanwhile */
    if (s) {
        struct conn *c = session_conn(s, false, &status);
        if (c) {
            status = conn_call(c, WIRE_SETSERVICE, body, length, NULL, NULL, timeout_ms(), NULL);
            conn_release(c);
        }
        session_put(s);
    }
    free(body);
    WSAProviderCompleteAsyncCall(async, status);
}

const NSPV2_ROUTINE remote_routine = {
    sizeof(NSPV2_ROUTINE), NSPV2_ROUTINE_MAJOR_VERSION, NSPV2_ROUTINE_MINOR_VERSION,
    proxy_startup, proxy_cleanup, proxy_begin, proxy_next, proxy_end, proxy_set_service,
    proxy_rundown,
};

bool remote_published(const GUID *guid)
{
    char dir[RUNDIR_MAX], path[RUNDIR_PATH_MAX];
    if (!rundir_path(dir, false))
        return false;
    rundir_socket_path(dir, guid, path);
    return transport_exists(path);
}
#else
typedef int remote_client_unused; /* Windows: ws2_32 reaches hosts itself */
#endif
