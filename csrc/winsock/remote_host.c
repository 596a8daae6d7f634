/* The host's side of the cross-process stand-in: what WSAAdvertiseProvider publishes, and the
 * dispatch of other processes' calls to the providers advertised here. Why each connection is
 * a simulated client process (StandinClientCreate): that is what it is on Windows, a client
 * process with its own session; the stand-in's client API, run on the host's threads as that
 * client, then does everything Winsock does for a host (NSPv2Startup on first use, the query
 * set copied for the provider, guard bytes, async completion, result checks, NSPv2Cleanup at
 * CLEANUP, NSPv2ClientSessionRundown when the connection ends without it, kill -9 included).
 * Provider code runs on this file's threads, never on a client's.
 *
 * One socket per advertised provider, <runtime folder>/{GUID}.sock, mode 0600 in a 0700 folder
 * (only its owner can open it), and SO_PEERCRED checked on every connection: the same user, or
 * a user the host's configuration lets in (StandinAllowUsers; then 0666 in a 0711 folder).
 * Threads: one accept thread per socket, and per connection a leader and followers: the leader
 * reads one message and runs it; when a NEXT or SETSERVICE has to wait for its asynchronous
 * completion (the provider returned without completing it), the leader first hands the reading
 * to a follower (a new thread when none waits; async.c's wait hook says when), so an END can
 * arrive while a NEXT of the same lookup waits; anything else, and a call completed at once, it
 * runs and reads on. Why not
 * hand over before every NEXT: a result the provider already holds (every plain lookup's)
 * would pay a thread wake-up for nothing. A call that runs long in the provider (a plain lookup
 * waiting on I/O, a generator's step: provider code runs on these threads, as on Winsock's) has
 * its connection's reading handed over by a watchdog after HANDOVER_AFTER_MS, so the client's
 * other threads and its END are not held back; the watchdog sleeps while no call runs. Why not
 * a reader that hands calls to workers: a hand-off is a thread wake-up on every call's critical
 * path, and measured, the largest part of a cycle (tools/bench_cross). A malformed message gets
 * WSAEINVAL and the connection is closed (the session runs down). Counters for tests: the STATS
 * request. */
#ifndef _WIN32
#include "standin_internal.h"
#include "rundir.h"
#include "transport.h"
#include "wire.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 32          /* threads of one connection */
#define BODY_TIMEOUT_MS 5000
#define HANDOVER_AFTER_MS 10    /* a call running longer gets its connection read by another */

struct listener;

struct hconn {
    int fd;
    INT client;
    bool allowed;
    INT started;                  /* the client's WSAStartup */
    struct listener *owner;
    pthread_mutex_t send_mu;
    pthread_cond_t turn;          /* followers wait here for the reading (under g_host) */
    bool reading, said_hello;     /* under g_host */
    bool ended;                   /* the client is gone: threads leave (under g_host) */
    unsigned threads, waiting;    /* under g_host */
    struct hconn *next;           /* in owner->conns, under g_host */
};

struct listener {
    GUID guid;
    int fd, stop[2];
    char path[RUNDIR_PATH_MAX];
    char domains_path[RUNDIR_FILE_MAX]; /* {GUID}.domains beside the socket */
    ino_t inode;
    pthread_t thread;
    struct hconn *conns;
    struct listener *next;
};

/* A call a connection's thread runs (on that thread's stack), listed while it runs, for the
 * watchdog; under g_host. */
struct hcall {
    struct hconn *c;
    uint64_t since;               /* standin_now_ms() when it started */
    bool handed;                  /* its connection's reading went to another thread */
    struct hcall *prev, *next;
};

static pthread_mutex_t g_host = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_host_cv = PTHREAD_COND_INITIALIZER;
static struct listener *g_listeners;
static uint64_t g_stats[WIRE_STAT_COUNT];
static struct hcall *g_running;   /* the calls running now (under g_host) */
static pthread_cond_t g_watch_cv; /* CLOCK_MONOTONIC; the watchdog sleeps on it */
static bool g_watch_started, g_watch_idle; /* idle: asleep until a call starts (under g_host) */

static void count(enum wire_stat which, int64_t delta)
{
    pthread_mutex_lock(&g_host);
    g_stats[which] += (uint64_t)delta;
    pthread_mutex_unlock(&g_host);
}

/* Users other than this one that may connect, as the host's configuration says
 * (StandinAllowUsers; `nspv2 serve` reads [nspv2] allow_users). */
static pthread_mutex_t g_allow_mu = PTHREAD_MUTEX_INITIALIZER;
static uid_t g_allowed[STANDIN_MAX_ALLOWED_USERS];
static size_t g_allowed_count;

static bool uid_allowed(uid_t uid)
{
    if (uid == geteuid())
        return true;
    bool found = false;
    pthread_mutex_lock(&g_allow_mu);
    for (size_t i = 0; i < g_allowed_count && !found; i++)
        found = g_allowed[i] == uid;
    pthread_mutex_unlock(&g_allow_mu);
    return found;
}

bool remote_host_others_allowed(void)
{
    pthread_mutex_lock(&g_allow_mu);
    bool any = g_allowed_count > 0;
    pthread_mutex_unlock(&g_allow_mu);
    return any;
}

STANDIN_EXPORT INT WINAPI StandinAllowUsers(const DWORD *uids, DWORD count)
{
    if (count > STANDIN_MAX_ALLOWED_USERS || (count > 0 && uids == NULL))
        return standin_fail(WSAEINVAL);
    pthread_mutex_lock(&g_allow_mu);
    for (DWORD i = 0; i < count; i++)
        g_allowed[i] = (uid_t)uids[i];
    g_allowed_count = count;
    pthread_mutex_unlock(&g_allow_mu);
    return NO_ERROR;
}

/* ---- messages ---- */

static bool send_all(struct hconn *c, const uint8_t *bytes, size_t n)
{
    pthread_mutex_lock(&c->send_mu);
    bool ok = transport_send(c->fd, bytes, n);
    pthread_mutex_unlock(&c->send_mu);
    return ok;
}

static void reply(struct hconn *c, const struct wire_header *request, int32_t status,
                  const void *body, size_t length)
{
    uint8_t small[WIRE_HEADER_SIZE + 16];
    uint8_t *message = length <= 16 ? small : malloc(WIRE_HEADER_SIZE + length);
    if (message == NULL) {
        message = small;
        status = WSA_NOT_ENOUGH_MEMORY;
        length = 0;
    }
    wire_header_write(message, (uint32_t)(WIRE_HEADER_SIZE + length),
                      (uint16_t)(request->type | WIRE_REPLY), request->id, status);
    if (length)
        memcpy(message + WIRE_HEADER_SIZE, body, length);
    send_all(c, message, WIRE_HEADER_SIZE + length);
    if (message != small)
        free(message);
    count(WIRE_STAT_REQUESTS, 1);
}

static bool read_full(int fd, uint8_t *to, size_t n, uint64_t deadline, bool arrived)
{
    return transport_read(fd, -1, to, n, deadline, arrived) == READ_OK;
}

/* One whole message (8-aligned copy), or NULL: EOF, error, or a bad length (*malformed). */
static uint8_t *read_message(struct hconn *c, uint64_t deadline, size_t *length, bool *malformed)
{
    uint8_t head[WIRE_HEADER_SIZE];
    struct wire_header h;
    *malformed = false;
    if (!read_full(c->fd, head, sizeof head, deadline, false))
        return NULL;
    if (wire_header_read(head, &h) != NO_ERROR) {
        *malformed = true;
        return NULL;
    }
    uint8_t *message = aligned_alloc(8, (h.length + 7u) & ~7u);
    if (message == NULL)
        return NULL;
    memcpy(message, head, sizeof head);
    if (!read_full(c->fd, message + sizeof head, h.length - sizeof head,
                   standin_now_ms() + BODY_TIMEOUT_MS, true)) {
        free(message);
        *malformed = true;       /* a truncated message */
        return NULL;
    }
    *length = h.length;
    return message;
}

/* The client form of a request's query set, routed to this connection's provider only. */
static WSAQUERYSETW *request_query(struct hconn *c, const struct wire_request *r)
{
    DWORD n = wire_qs_csaddr_count(r->image);
    CSADDR_INFO *csaddrs = n ? calloc(n, sizeof *csaddrs) : NULL;
    if (n && csaddrs == NULL)
        return NULL;
    struct wire_fields f;
    BLOB blob;
    wire_qs_fields(r->image, &f, csaddrs, &blob);
    f.provider = &c->owner->guid;
    WSAQUERYSETW *qs = wire_to_client(&f);
    free(csaddrs);
    /* The client's stand-in checked its lpServiceClassId (required by WSALookupServiceBegin);
     * what crosses is the WSAQUERYSET2W providers see, which has none: give the one clients
     * pass, so this process's WSALookupServiceBeginW takes the query as the client's did. */
    static GUID service_class = SVCID_HOSTNAME;
    if (qs != NULL)
        qs->lpServiceClassId = &service_class;
    return qs;
}

static void do_begin(struct hconn *c, const struct wire_request *r)
{
    WSAQUERYSETW *qs = request_query(c, r);
    if (qs == NULL) {
        reply(c, &r->header, WSA_NOT_ENOUGH_MEMORY, NULL, 0);
        return;
    }
    HANDLE handle = NULL;
    standin_route_only(&c->owner->guid);
    INT rc = WSALookupServiceBeginW(qs, r->flags, &handle);
    INT error = rc == NO_ERROR ? NO_ERROR : WSAGetLastError();
    standin_route_only(NULL);
    free(qs);
    uint64_t value = (uint64_t)(uintptr_t)handle;
    if (error == NO_ERROR)
        reply(c, &r->header, NO_ERROR, &value, sizeof value);
    else
        reply(c, &r->header, error, NULL, 0);
}

static void do_next(struct hconn *c, const struct wire_request *r)
{
    DWORD length = r->length > WIRE_MAX_RESULT ? WIRE_MAX_RESULT : r->length;
    uint8_t *buffer = length ? aligned_alloc(16, (length + 15u) & ~15u) : NULL;
    if (length && buffer == NULL) {
        reply(c, &r->header, WSA_NOT_ENOUGH_MEMORY, NULL, 0);
        return;
    }
    DWORD got = length;
    HANDLE handle = (HANDLE)(uintptr_t)r->handle;
    if (WSALookupServiceNextW(handle, r->flags, &got, (LPWSAQUERYSETW)(void *)buffer) == 0) {
        struct wire_fields f;
        wire_fields_from_client((const WSAQUERYSETW *)(const void *)buffer, &f);
        size_t size = wire_qs_size(&f);
        uint8_t *image = size ? aligned_alloc(8, size) : NULL;
        if (image) {
            wire_qs_write(&f, image);
            reply(c, &r->header, NO_ERROR, image, size);
        } else {
            reply(c, &r->header, WSA_NOT_ENOUGH_MEMORY, NULL, 0);
        }
        free(image);
    } else {
        INT error = WSAGetLastError();
        uint32_t required = got;
        if (error == WSAEFAULT && got > length)
            reply(c, &r->header, WSAEFAULT, &required, sizeof required);
        else
            reply(c, &r->header, error, NULL, 0);
    }
    free(buffer);
}

static void do_set_service(struct hconn *c, const struct wire_request *r)
{
    WSAQUERYSETW *qs = request_query(c, r);
    if (qs == NULL) {
        reply(c, &r->header, WSA_NOT_ENOUGH_MEMORY, NULL, 0);
        return;
    }
    standin_route_only(&c->owner->guid);
    INT rc = WSASetServiceW(qs, (WSAESETSERVICEOP)r->operation, r->flags);
    INT error = rc == NO_ERROR ? NO_ERROR : WSAGetLastError();
    standin_route_only(NULL);
    free(qs);
    reply(c, &r->header, error, NULL, 0);
}

static void do_stats(struct hconn *c, const struct wire_request *r)
{
    uint8_t body[8 + 8 * WIRE_STAT_COUNT];
    uint32_t n = WIRE_STAT_COUNT, zero = 0;
    uint64_t values[WIRE_STAT_COUNT];
    pthread_mutex_lock(&g_host);
    memcpy(values, g_stats, sizeof values);
    pthread_mutex_unlock(&g_host);
    values[WIRE_STAT_LOOKUPS] = standin_lookup_count();
    memcpy(body, &n, 4);
    memcpy(body + 4, &zero, 4);
    memcpy(body + 8, values, sizeof values);
    reply(c, &r->header, NO_ERROR, body, sizeof body);
}

/* ---- threads ---- */

/* Starts a thread nobody joins: true if it runs. */
static bool start_detached(void *(*run)(void *), void *arg)
{
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    bool started = pthread_create(&thread, &attr, run, arg) == 0;
    pthread_attr_destroy(&attr);
    return started;
}

static void *serve_main(void *arg);

/* The client is gone (EOF, a malformed message, CLEANUP): the first thread to see it ends its
 * session, Rundown unless it said CLEANUP, which also ends whatever its lookups wait for, so
 * every thread of the connection comes back. Lock NOT held. */
static void connection_end(struct hconn *c, bool cleaned)
{
    pthread_mutex_lock(&g_host);
    bool first = !c->ended;
    c->ended = true;
    bool counted = c->said_hello;
    pthread_cond_broadcast(&c->turn);
    pthread_mutex_unlock(&g_host);
    if (!first)
        return;
    transport_shutdown(c->fd);
    if (counted && !cleaned)
        count(WIRE_STAT_RUNDOWNS, 1);
    if (counted)
        count(WIRE_STAT_CLIENTS, -1);
    StandinClientKill(c->client);
}

/* The last thread of a connection frees it. Lock held; returns with it released. */
static void thread_leave(struct hconn *c)
{
    bool last = --c->threads == 0;
    if (last) {
        struct hconn **link = &c->owner->conns;
        while (*link != c)
            link = &(*link)->next;
        *link = c->next;
        g_stats[WIRE_STAT_CONNECTIONS]--;
        pthread_cond_broadcast(&g_host_cv);
    }
    pthread_mutex_unlock(&g_host);
    if (last) {
        close(c->fd);
        pthread_mutex_destroy(&c->send_mu);
        pthread_cond_destroy(&c->turn);
        free(c);
    }
}

/* Gives the reading to a follower before this thread waits for a call (lock held). */
static void hand_over_reading(struct hconn *c)
{
    if (c->waiting > 0) {
        pthread_cond_signal(&c->turn);
        return;
    }
    if (c->threads >= MAX_WORKERS)
        return;                  /* the reading waits for a running call to come back */
    if (start_detached(serve_main, c))
        c->threads++;
}

/* The async wait hook of a NEXT or SETSERVICE (async.c): the provider did not complete the
 * call before returning, so this thread will wait; another reads on meanwhile (unless the
 * watchdog saw to it already). Lock NOT held. */
static void hand_over_when_waiting(void *arg)
{
    struct hcall *call = arg;
    pthread_mutex_lock(&g_host);
    if (!call->handed) {
        call->handed = true;
        hand_over_reading(call->c);
        g_stats[WIRE_STAT_HANDOVERS]++;
    }
    pthread_mutex_unlock(&g_host);
}

/* The watchdog: hands the reading of a connection whose call has run HANDOVER_AFTER_MS to
 * another thread. It sleeps until the oldest running call comes of age, or, when none runs,
 * until one starts (call_start wakes it then only). */
static void *watch_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_host);
    for (;;) {
        uint64_t now = standin_now_ms(), due = 0;
        for (struct hcall *k = g_running; k; k = k->next) {
            if (k->handed)
                continue;
            if (now - k->since >= HANDOVER_AFTER_MS) {
                k->handed = true;
                hand_over_reading(k->c);
                g_stats[WIRE_STAT_LONG_CALLS]++;
            } else if (due == 0 || k->since + HANDOVER_AFTER_MS < due) {
                due = k->since + HANDOVER_AFTER_MS;
            }
        }
        if (due == 0) {
            g_watch_idle = true;
            while (g_watch_idle)
                pthread_cond_wait(&g_watch_cv, &g_host);
        } else {
            struct timespec ts = {(time_t)(due / 1000u), (long)(due % 1000u) * 1000000L};
            pthread_cond_timedwait(&g_watch_cv, &g_host, &ts);
        }
    }
    return NULL;
}

/* Starts the watchdog once (lock held); a host that cannot has no watchdog, and a call that
 * runs long then holds its connection's reading until it returns, as before it existed. */
static void watch_start(void)
{
    if (g_watch_started)
        return;
    g_watch_started = true;
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_cond_init(&g_watch_cv, &cattr);
    pthread_condattr_destroy(&cattr);
    (void)start_detached(watch_main, NULL); /* else g_watch_idle stays false */
}

/* A call starts running on this thread (lock held). */
static void call_start(struct hcall *call, struct hconn *c)
{
    *call = (struct hcall){.c = c, .since = standin_now_ms(), .next = g_running};
    if (g_running)
        g_running->prev = call;
    g_running = call;
    if (g_watch_idle) {
        g_watch_idle = false;
        pthread_cond_signal(&g_watch_cv);
    }
}

/* The call is done (lock held). */
static void call_done(struct hcall *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        g_running = call->next;
    if (call->next)
        call->next->prev = call->prev;
}

/* HELLO: NO_ERROR, or the refusal sent (id 0: about the connection). */
static INT hello(struct hconn *c, const struct wire_request *r)
{
    INT status = NO_ERROR;
    if (!c->allowed)
        status = WSAEACCES;
    else if (r->flags != WIRE_VERSION)
        status = WSAVERNOTSUPPORTED;
    else if (memcmp(&r->provider, &c->owner->guid, sizeof(GUID)) != 0)
        status = WSASERVICE_NOT_FOUND;
    else if (c->started != NO_ERROR)
        status = WSASYSNOTREADY;
    if (status != NO_ERROR) {
        struct wire_header h = r->header;
        h.id = 0;
        reply(c, &h, status, NULL, 0);
        count(WIRE_STAT_REFUSED, 1);
        return status;
    }
    uint32_t body[2] = {WIRE_VERSION, (uint32_t)getpid()};
    reply(c, &r->header, NO_ERROR, body, sizeof body);
    count(WIRE_STAT_CLIENTS, 1);
    return NO_ERROR;
}

/* Every thread of a connection: take the reading when it is free, read one message, run it. */
static void *serve_main(void *arg)
{
    struct hconn *c = arg;
    StandinClientAttach(c->client);
    standin_set_dispatch_thread();  /* provider code may block here: End comes on another */
    pthread_mutex_lock(&g_host);
    for (;;) {
        while (c->reading && !c->ended) {
            c->waiting++;
            pthread_cond_wait(&c->turn, &g_host);
            c->waiting--;
        }
        if (c->ended)
            break;
        c->reading = true;
        bool said_hello = c->said_hello;
        pthread_mutex_unlock(&g_host);

        size_t length = 0;
        bool malformed;
        uint8_t *message = read_message(c, said_hello ? 0 : standin_now_ms() + BODY_TIMEOUT_MS,
                                        &length, &malformed);
        struct wire_request r;
        bool ok = message != NULL;
        if (message == NULL && malformed)
            count(WIRE_STAT_MALFORMED, 1);
        if (ok && (wire_request_decode(message, length, &r) != NO_ERROR ||
                   (r.header.type == WIRE_HELLO) == said_hello)) {
            struct wire_header h;
            memcpy(&h, message, sizeof h);
            reply(c, &h, WSAEINVAL, NULL, 0);
            count(said_hello ? WIRE_STAT_MALFORMED : WIRE_STAT_REFUSED, 1);
            ok = false;
        }
        struct hcall call;
        pthread_mutex_lock(&g_host);
        c->reading = false;
        if (c->waiting > 0 && !ok)
            pthread_cond_signal(&c->turn);
        if (ok)
            call_start(&call, c);
        pthread_mutex_unlock(&g_host);
        if (ok && (r.header.type == WIRE_NEXT || r.header.type == WIRE_SETSERVICE))
            async_wait_hook = (struct async_wait_hook){hand_over_when_waiting, &call};
        if (!ok) {
            free(message);
            connection_end(c, false);
            pthread_mutex_lock(&g_host);
            break;
        }

        bool cleaned = false, refused = false;
        switch (r.header.type) {
        case WIRE_HELLO:
            refused = hello(c, &r) != NO_ERROR;
            if (!refused) {
                pthread_mutex_lock(&g_host);
                c->said_hello = true;
                pthread_mutex_unlock(&g_host);
            }
            break;
        case WIRE_BEGIN:
            do_begin(c, &r);
            break;
        case WIRE_NEXT:
            do_next(c, &r);
            async_wait_hook.before_wait = NULL;
            break;
        case WIRE_SETSERVICE:
            do_set_service(c, &r);
            async_wait_hook.before_wait = NULL;
            break;
        case WIRE_END: {
            INT rc = WSALookupServiceEnd((HANDLE)(uintptr_t)r.handle);
            reply(c, &r.header, rc == NO_ERROR ? NO_ERROR : WSAGetLastError(), NULL, 0);
            break;
        }
        case WIRE_STATS:
            do_stats(c, &r);
            break;
        default:                 /* CLEANUP: the client's last WSACleanup */
            WSACleanup();
            cleaned = true;
            reply(c, &r.header, NO_ERROR, NULL, 0);
            break;
        }
        free(message);
        if (cleaned || refused)
            connection_end(c, cleaned);
        pthread_mutex_lock(&g_host);
        call_done(&call);
    }
    thread_leave(c);
    return NULL;
}

static void start_connection(struct listener *l, int fd)
{
    uint32_t uid, pid;
    struct hconn *c = calloc(1, sizeof *c);
    INT client = c ? StandinClientCreate() : SOCKET_ERROR;
    if (c == NULL || client == SOCKET_ERROR) {
        free(c);
        close(fd);
        return;
    }
    c->fd = fd;
    c->client = client;
    c->owner = l;
    c->allowed = transport_peer(fd, &uid, &pid) && uid_allowed((uid_t)uid);
    pthread_mutex_init(&c->send_mu, NULL);
    pthread_cond_init(&c->turn, NULL);
    /* The client's WSAStartup, made here on its behalf (the accept thread acts as it briefly). */
    WSADATA data;
    StandinClientAttach(client);
    c->started = WSAStartup(0x0202, &data);
    StandinClientAttach(0);
    pthread_mutex_lock(&g_host);
    c->next = l->conns;
    l->conns = c;
    c->threads = 1;
    g_stats[WIRE_STAT_CONNECTIONS]++;
    g_stats[WIRE_STAT_ACCEPTED]++;
    pthread_mutex_unlock(&g_host);
    if (!start_detached(serve_main, c)) {
        StandinClientKill(client);
        pthread_mutex_lock(&g_host);
        thread_leave(c);         /* the connection's only "thread": frees it */
    }
}

static void *accept_main(void *arg)
{
    struct listener *l = arg;
    for (;;) {
        int fd = transport_accept(l->fd, l->stop[0]);
        if (fd == -1)
            break;
        if (fd >= 0)
            start_connection(l, fd);
    }
    return NULL;
}

/* ---- publishing ---- */

/* The domains each provider of this process serves, as the provider library handed them over
 * (StandinPublishDomains), kept for when it is advertised; under g_host. */
struct domains_note {
    GUID guid;
    char *text;
    struct domains_note *next;
};
static struct domains_note *g_notes;

static struct domains_note *note_of(const GUID *guid)
{
    for (struct domains_note *n = g_notes; n; n = n->next)
        if (memcmp(&n->guid, guid, sizeof(GUID)) == 0)
            return n;
    return NULL;
}

static bool write_all(int fd, const char *text, size_t n)
{
    while (n > 0) {
        ssize_t done = write(fd, text, n);
        if (done <= 0)
            return false;
        text += done;
        n -= (size_t)done;
    }
    return true;
}

/* <path> holds `text` after the magic line, or is removed (text NULL). Written as a temporary
 * file beside it, then renamed over it, so a reader sees the old file or the new one, never a
 * part; readable by whoever may reach the socket (0600, 0644 when other users are allowed).
 * Under g_host. */
static void put_domains(const char *path, const char *text)
{
    char temporary[RUNDIR_FILE_MAX + 8];
    if (text == NULL) {
        unlink(path);
        return;
    }
    snprintf(temporary, sizeof temporary, "%s.XXXXXX", path);
    int fd = mkostemp(temporary, O_CLOEXEC);
    if (fd < 0) {
        unlink(path);               /* a stale list must not outlive a change */
        return;
    }
    static const char magic[] = RUNDIR_DOMAINS_MAGIC "\n";
    bool ok = fchmod(fd, remote_host_others_allowed() ? 0644 : 0600) == 0 &&
              write_all(fd, magic, sizeof magic - 1) && write_all(fd, text, strlen(text));
    ok = close(fd) == 0 && ok;
    if (!ok || rename(temporary, path) != 0) {
        unlink(temporary);
        unlink(path);
    }
}

STANDIN_EXPORT INT WINAPI StandinPublishDomains(const GUID *guid, const CHAR *text)
{
    char *copy = NULL;
    if (guid == NULL) {
        WSASetLastError(WSAEINVAL);
        return SOCKET_ERROR;
    }
    if (text != NULL && *text != 0 && (copy = strdup(text)) == NULL) {
        WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
        return SOCKET_ERROR;
    }
    pthread_mutex_lock(&g_host);
    struct domains_note *note = note_of(guid);
    if (note == NULL && copy != NULL) {
        note = calloc(1, sizeof *note);
        if (note == NULL) {
            pthread_mutex_unlock(&g_host);
            free(copy);
            WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
            return SOCKET_ERROR;
        }
        note->guid = *guid;
        note->next = g_notes;
        g_notes = note;
    }
    if (note != NULL) {
        free(note->text);
        note->text = copy;
        if (copy == NULL) {
            for (struct domains_note **link = &g_notes; *link; link = &(*link)->next)
                if (*link == note) {
                    *link = note->next;
                    break;
                }
            free(note);
        }
    }
    for (struct listener *l = g_listeners; l; l = l->next)
        if (memcmp(&l->guid, guid, sizeof(GUID)) == 0)
            put_domains(l->domains_path, copy);
    pthread_mutex_unlock(&g_host);
    return NO_ERROR;
}

void remote_host_publish(const GUID *guid)
{
    char dir[RUNDIR_MAX], text[39];
    bool shared = remote_host_others_allowed();
    rundir_guid_text(guid, text);
    if (!rundir_path(dir, false)) {
        fprintf(stderr, "ws2standin: provider %s is served to this process only: no runtime "
                        "folder (set NSPV2_RUNTIME_DIR or XDG_RUNTIME_DIR; at most %d bytes)\n",
                text, RUNDIR_MAX - 1);
        return;
    }
    if (!rundir_prepare(dir, shared)) {
        fprintf(stderr, "ws2standin: provider %s is served to this process only: the runtime "
                        "folder %s cannot be created, or is not this user's alone\n", text, dir);
        return;
    }
    struct listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return;
    l->guid = *guid;
    rundir_socket_path(dir, guid, l->path);
    rundir_domains_path(dir, guid, l->domains_path);
    l->fd = transport_listen(l->path, shared);
    struct stat st;
    if (l->fd < 0)
        fprintf(stderr, "ws2standin: provider %s is served to this process only: %s is taken "
                        "by another live host, or cannot be created\n", text, l->path);
    if (l->fd < 0 || stat(l->path, &st) != 0 || !transport_pipe(l->stop)) {
        if (l->fd >= 0) {
            close(l->fd);
            unlink(l->path);
        }
        free(l);
        return;
    }
    l->inode = st.st_ino;
    pthread_mutex_lock(&g_host);
    if (pthread_create(&l->thread, NULL, accept_main, l) != 0) {
        pthread_mutex_unlock(&g_host);
        close(l->fd);
        close(l->stop[0]);
        close(l->stop[1]);
        unlink(l->path);
        free(l);
        return;
    }
    l->next = g_listeners;
    g_listeners = l;
    watch_start();
    /* After the socket: a client that finds the socket but no list yet asks the host. A list
     * left by an earlier host of the same provider goes either way. */
    struct domains_note *note = note_of(guid);
    put_domains(l->domains_path, note ? note->text : NULL);
    pthread_mutex_unlock(&g_host);
}

void remote_host_withdraw(const GUID *guid)
{
    pthread_mutex_lock(&g_host);
    struct listener **link = &g_listeners;
    while (*link && memcmp(&(*link)->guid, guid, sizeof(GUID)) != 0)
        link = &(*link)->next;
    struct listener *l = *link;
    if (l) {
        *link = l->next;
        put_domains(l->domains_path, NULL); /* before the socket goes */
    }
    pthread_mutex_unlock(&g_host);
    if (l == NULL)
        return;
    struct stat st;
    if (stat(l->path, &st) == 0 && st.st_ino == l->inode)
        unlink(l->path);         /* no new client finds it */
    char byte = 1;
    if (write(l->stop[1], &byte, 1) != 1)
        transport_shutdown(l->fd);
    pthread_join(l->thread, NULL);
    close(l->fd);
    close(l->stop[0]);
    close(l->stop[1]);
    pthread_mutex_lock(&g_host);
    for (struct hconn *c = l->conns; c; c = c->next)
        transport_shutdown(c->fd);
    while (l->conns)
        pthread_cond_wait(&g_host_cv, &g_host);
    pthread_mutex_unlock(&g_host);
    free(l);
}
#else
#include "standin_internal.h"

/* Windows: ws2_32 carries the calls to hosts itself, and there is no libnss_nspv2 to tell. */
STANDIN_EXPORT INT WINAPI StandinPublishDomains(const GUID *guid, const CHAR *text)
{
    (void)guid, (void)text;
    return NO_ERROR;
}

/* Windows: which users see a provider is Winsock's (the host's own user only). */
STANDIN_EXPORT INT WINAPI StandinAllowUsers(const DWORD *uids, DWORD count)
{
    (void)uids, (void)count;
    return standin_fail(WSAEOPNOTSUPP);
}
#endif
