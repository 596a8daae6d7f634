/* libnss_nspv2's Winsock side: an NS_DNS lookup sent straight to the hosts' sockets, with the
 * stand-in's wire format (csrc/winsock/wire.h). Why not the stand-in library itself: this code
 * runs inside every program that resolves a host name (ssh, curl, a daemon running as root),
 * so it keeps no state, starts no thread, takes no lock, loads nothing (no Python, no
 * stand-in), opens a close-on-exec connection per provider per call and closes it before
 * returning, so it is thread-safe and survives fork. Environment variables are read with
 * secure_getenv: a setuid program's caller cannot redirect it.
 *
 * Which providers: the enabled NS_DNS entries of the catalog file the stand-in shares in the
 * runtime folder (or NSPV2_STANDIN_CATALOG), in catalog order, each asked at its socket if a
 * host publishes one. A host that is this very process (SO_PEERCRED pid) is not asked, nor is
 * anything in a process with NSPV2_NSS_BYPASS set (a host and what it starts): a provider's
 * own resolving must never come back into it. Each provider gets NSPV2_NSS_TIMEOUT_MS
 * (default 2000) for its whole exchange, so a hung host never stalls the caller for long.
 *
 * A provider that declares domains is not asked for other names: its host publishes them as
 * <runtime folder>/{GUID}.domains (csrc/winsock/remote_host.c), and a name outside them
 * (nspv2/served.h's rule) counts as NOTFOUND from that provider without a connection. A missing,
 * unreadable, malformed or too large file means "ask the host": the file can only spare a
 * round trip, never hide a name a provider serves. Each thread keeps the lists it parsed
 * (thread-local, so no lock, and fork-safe) with the file's identity (device, inode, size,
 * mtime): an unchanged file costs one stat() and no parsing. */
#include "../winsock/rundir.h"
#include "../winsock/transport.h"
#include "../winsock/wire.h"
#include "nss_query.h"
#include "nspv2/served.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PROVIDERS 16
#define FIRST_BUFFER 16384u
#define DEFAULT_TIMEOUT_MS 2000u
#define ASKED_FLAGS (LUP_RETURN_NAME | LUP_RETURN_ADDR | LUP_RETURN_ALIASES)

/* ---- text ---- */

/* UTF-8 to 0-terminated UTF-16; NULL when it is not valid UTF-8 or too long. */
static WCHAR *utf16_from_utf8(const char *s)
{
    size_t n = strlen(s);
    if (n > 1024)
        return NULL;
    WCHAR *w = malloc((n + 1) * 2 * sizeof(WCHAR));
    size_t j = 0;
    if (w == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t extra;
        if (c < 0x80) {
            cp = c;
            extra = 0;
        } else if (c >= 0xC2 && c < 0xE0) {
            cp = c & 0x1Fu;
            extra = 1;
        } else if (c >= 0xE0 && c < 0xF0) {
            cp = c & 0x0Fu;
            extra = 2;
        } else if (c >= 0xF0 && c < 0xF5) {
            cp = c & 0x07u;
            extra = 3;
        } else {
            free(w);
            return NULL;
        }
        if (extra && i + extra >= n) {
            free(w);
            return NULL;
        }
        for (size_t k = 1; k <= extra; k++) {
            unsigned char d = (unsigned char)s[i + k];
            if ((d & 0xC0) != 0x80) {
                free(w);
                return NULL;
            }
            cp = (cp << 6) | (d & 0x3Fu);
        }
        if (cp == 0 || (cp >= 0xD800 && cp < 0xE000) || cp > 0x10FFFF ||
            (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) {
            free(w);
            return NULL;
        }
        if (cp >= 0x10000) {
            w[j++] = (WCHAR)(0xD800 + ((cp - 0x10000) >> 10));
            w[j++] = (WCHAR)(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            w[j++] = (WCHAR)cp;
        }
        i += 1 + extra;
    }
    w[j] = 0;
    return w;
}

/* 0-terminated UTF-16 to UTF-8 (a lone surrogate becomes U+FFFD); NULL on no memory. */
static char *utf8_from_utf16(const WCHAR *w)
{
    size_t n = 0;
    while (w[n])
        n++;
    char *s = malloc(n * 3 + 1);
    size_t j = 0;
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = w[i];
        if (cp >= 0xD800 && cp < 0xDC00 && w[i + 1] >= 0xDC00 && w[i + 1] < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (w[i + 1] - 0xDC00u);
            i++;
        } else if (cp >= 0xD800 && cp < 0xE000) {
            cp = 0xFFFD;
        }
        if (cp < 0x80) {
            s[j++] = (char)cp;
        } else if (cp < 0x800) {
            s[j++] = (char)(0xC0 | (cp >> 6));
            s[j++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s[j++] = (char)(0xE0 | (cp >> 12));
            s[j++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            s[j++] = (char)(0x80 | (cp & 0x3F));
        } else {
            s[j++] = (char)(0xF0 | (cp >> 18));
            s[j++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            s[j++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            s[j++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    s[j] = 0;
    return s;
}

/* ---- the answer ---- */

void nss_answer_free(struct nss_answer *a)
{
    free(a->name);
    for (size_t i = 0; i < a->n_aliases; i++)
        free(a->aliases[i]);
    free(a->aliases);
    free(a->addresses);
    memset(a, 0, sizeof *a);
}

static bool add_alias(struct nss_answer *a, char *alias)
{
    for (size_t i = 0; i < a->n_aliases; i++)
        if (strcmp(a->aliases[i], alias) == 0) {
            free(alias);
            return true;
        }
    char **grown = realloc(a->aliases, (a->n_aliases + 1) * sizeof *grown);
    if (grown == NULL) {
        free(alias);
        return false;
    }
    a->aliases = grown;
    a->aliases[a->n_aliases++] = alias;
    return true;
}

static bool add_address(struct nss_answer *a, const struct nss_address *address)
{
    for (size_t i = 0; i < a->n_addresses; i++)
        if (memcmp(&a->addresses[i], address, sizeof *address) == 0)
            return true;
    struct nss_address *grown = realloc(a->addresses, (a->n_addresses + 1) * sizeof *grown);
    if (grown == NULL)
        return false;
    a->addresses = grown;
    a->addresses[a->n_addresses++] = *address;
    return true;
}

/* A Winsock SOCKADDR (AF_INET 2, AF_INET6 23) as an address; false for anything else. */
static bool address_of(const SOCKET_ADDRESS *sa, struct nss_address *out)
{
    const uint8_t *raw = (const uint8_t *)sa->lpSockaddr;
    uint16_t family;
    memset(out, 0, sizeof *out);
    if (raw == NULL || sa->iSockaddrLength < 2)
        return false;
    memcpy(&family, raw, 2);
    if (family == AF_INET && sa->iSockaddrLength >= (INT)sizeof(SOCKADDR_IN)) {
        out->family = NSS_FAMILY_INET;
        memcpy(out->bytes, raw + 4, 4);
        return true;
    }
    if (family == AF_INET6 && sa->iSockaddrLength >= (INT)sizeof(SOCKADDR_IN6)) {
        out->family = NSS_FAMILY_INET6;
        memcpy(out->bytes, raw + 8, 16);
        if (out->bytes[0] == 0xFE && (out->bytes[1] & 0xC0) == 0x80) /* fe80::/10 */
            memcpy(&out->scope_id, raw + 24, 4);
        return true;
    }
    return false;
}

/* One result image into the answer. */
static bool take_result(const uint8_t *image, struct nss_answer *a)
{
    DWORD n = wire_qs_csaddr_count(image);
    CSADDR_INFO *csaddrs = n ? calloc(n, sizeof *csaddrs) : NULL;
    struct wire_fields f;
    BLOB blob;
    if (n && csaddrs == NULL)
        return false;
    wire_qs_fields(image, &f, csaddrs, &blob);
    bool ok = true;
    if (f.name) {
        char *name = utf8_from_utf16(f.name);
        if (name == NULL)
            ok = false;
        else if (f.output_flags & RESULT_IS_ALIAS)
            ok = add_alias(a, name);
        else if (a->name == NULL)
            a->name = name;
        else if (strcmp(a->name, name) != 0)
            ok = add_alias(a, name);
        else
            free(name);
    }
    for (DWORD i = 0; ok && i < f.n_csaddrs; i++) {
        struct nss_address address;
        if (address_of(&f.csaddrs[i].RemoteAddr, &address))
            ok = add_address(a, &address);
    }
    free(csaddrs);
    return ok;
}

/* ---- talking to a host ---- */

struct exchange {
    int fd;
    uint32_t id;
    uint64_t deadline;
};

/* Sends one request and reads its reply (malloc'd whole message, 8-aligned). Returns the
 * Winsock status of the reply, or -1 when the host failed to answer properly. */
static int call(struct exchange *x, uint16_t type, const void *body, size_t length,
                uint8_t **reply)
{
    uint8_t *message = malloc(WIRE_HEADER_SIZE + length);
    *reply = NULL;
    if (message == NULL)
        return -1;
    x->id++;
    wire_header_write(message, (uint32_t)(WIRE_HEADER_SIZE + length), type, x->id, 0);
    if (length)
        memcpy(message + WIRE_HEADER_SIZE, body, length);
    bool sent = transport_send(x->fd, message, WIRE_HEADER_SIZE + length);
    free(message);
    if (!sent)
        return -1;
    uint8_t head[WIRE_HEADER_SIZE];
    struct wire_header h;
    if (transport_read(x->fd, -1, head, sizeof head, x->deadline, false) != READ_OK ||
        wire_header_read(head, &h) != NO_ERROR || h.type != (type | WIRE_REPLY) || h.id != x->id)
        return -1;
    uint8_t *whole = aligned_alloc(8, (h.length + 7u) & ~7u);
    if (whole == NULL)
        return -1;
    memcpy(whole, head, sizeof head);
    if (transport_read(x->fd, -1, whole + sizeof head, h.length - sizeof head, x->deadline,
                       true) != READ_OK) {
        free(whole);
        return -1;
    }
    *reply = whole;
    return h.status;
}

static uint32_t timeout_ms(void)
{
    const char *text = secure_getenv("NSPV2_NSS_TIMEOUT_MS");
    long v = text ? strtol(text, NULL, 10) : 0;
    return (v > 0 && v <= 60000) ? (uint32_t)v : DEFAULT_TIMEOUT_MS;
}

static enum nss_query_status ask(const char *path, const GUID *guid, const WCHAR *name,
                                 struct nss_answer *a)
{
    enum transport_failure failure;
    int fd = transport_connect(path, &failure);
    if (fd < 0)
        return failure == TRANSPORT_BUSY ? QUERY_TRYAGAIN : QUERY_UNAVAIL;
    uint32_t uid, pid;
    if (!transport_peer(fd, &uid, &pid) || pid == (uint32_t)getpid()) {
        close(fd);                  /* the host is this process: never ask it from inside */
        return QUERY_NOTFOUND;
    }
    struct exchange x = {fd, 0, transport_now_ms() + timeout_ms()};
    enum nss_query_status result = QUERY_TRYAGAIN;
    uint8_t *reply = NULL, hello[8 + sizeof(GUID)], *body = NULL;
    uint32_t magic = WIRE_MAGIC, version = WIRE_VERSION;
    memcpy(hello, &magic, 4);
    memcpy(hello + 4, &version, 4);
    memcpy(hello + 8, guid, sizeof(GUID));
    int status = call(&x, WIRE_HELLO, hello, sizeof hello, &reply);
    free(reply);
    if (status != NO_ERROR) {
        close(fd);
        return status == -1 ? QUERY_TRYAGAIN : QUERY_UNAVAIL;
    }

    struct wire_fields f;
    memset(&f, 0, sizeof f);
    f.name = name;
    f.name_space = NS_DNS;
    size_t image = wire_qs_size(&f);
    body = image ? aligned_alloc(8, 8 + image) : NULL;
    if (body == NULL) {
        close(fd);
        return QUERY_NOMEM;
    }
    uint32_t flags = ASKED_FLAGS, zero = 0;
    memcpy(body, &flags, 4);
    memcpy(body + 4, &zero, 4);
    wire_qs_write(&f, body + 8);
    status = call(&x, WIRE_BEGIN, body, 8 + image, &reply);
    free(body);
    uint64_t handle = 0;
    if (status == NO_ERROR && reply && ((const struct wire_header *)(void *)reply)->length ==
                                           WIRE_HEADER_SIZE + 8) {
        memcpy(&handle, reply + WIRE_HEADER_SIZE, 8);
    } else if (status == WSASERVICE_NOT_FOUND || status == WSANO_DATA ||
               status == WSA_E_NO_MORE || status == WSAENOMORE || status == WSAEINVAL) {
        result = QUERY_NOTFOUND;
        status = -2;
    } else {
        status = -2;
    }
    free(reply);
    reply = NULL;

    bool found = false;
    uint32_t room = FIRST_BUFFER;
    while (status != -2) {
        uint8_t next[16];
        memcpy(next, &handle, 8);
        memcpy(next + 8, &flags, 4);
        memcpy(next + 12, &room, 4);
        status = call(&x, WIRE_NEXT, next, sizeof next, &reply);
        const struct wire_header *h = (const struct wire_header *)(void *)reply;
        if (status == NO_ERROR) {
            size_t n = h->length - WIRE_HEADER_SIZE;
            if (wire_qs_check(reply + WIRE_HEADER_SIZE, n) != NO_ERROR ||
                !take_result(reply + WIRE_HEADER_SIZE, a)) {
                free(reply);
                break;
            }
            found = true;
        } else if (status == WSAEFAULT && h->length == WIRE_HEADER_SIZE + 4) {
            uint32_t required;
            memcpy(&required, reply + WIRE_HEADER_SIZE, 4);
            if (required <= room || required > WIRE_MAX_RESULT) {
                free(reply);
                break;
            }
            room = required;
        } else {
            if (status == WSA_E_NO_MORE || status == WSAENOMORE)
                result = found ? QUERY_FOUND : QUERY_NOTFOUND;
            else if (status == WSASERVICE_NOT_FOUND && !found)
                result = QUERY_NOTFOUND;
            else if (found)
                result = QUERY_FOUND;
            free(reply);
            break;
        }
        free(reply);
        reply = NULL;
    }
    if (handle) {
        uint8_t end[8];
        memcpy(end, &handle, 8);
        if (call(&x, WIRE_END, end, sizeof end, &reply) != -1) {
            free(reply);
            reply = NULL;
        }
    }
    if (call(&x, WIRE_CLEANUP, NULL, 0, &reply) != -1)
        free(reply);
    close(fd);
    return result;
}

/* ---- the domains hosts publish ---- */

#define DOMAINS_FILE_MAX 1024        /* bytes (about 50 names); a larger list: the host is asked */
#define DOMAINS_UNITS 1024           /* UTF-16 units of a parsed list */
#define DOMAINS_CACHED 4             /* providers whose lists a thread keeps */

struct domains_cache {
    GUID guid;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool used, valid;                /* valid: `list` holds a list (else: ask the host) */
    WCHAR list[DOMAINS_UNITS];       /* nspv2/served.h's list */
};
static __thread struct domains_cache t_domains[DOMAINS_CACHED];
static __thread unsigned t_domains_next;

/* The file's text (after the magic line) as nspv2/served.h's list in c->list; false when it is
 * not one (then the host is asked). Names are folded to lower-case ASCII and lose a trailing
 * dot, as nspv2.domains.normalize writes them. */
static bool parse_domains(char *text, struct domains_cache *c)
{
    size_t magic = sizeof RUNDIR_DOMAINS_MAGIC - 1, units = 0;
    if (strncmp(text, RUNDIR_DOMAINS_MAGIC, magic) != 0 || text[magic] != '\n')
        return false;
    for (char *line = text + magic + 1, *eol; *line != 0; line = eol + 1) {
        eol = strchr(line, '\n');
        if (eol == NULL)
            return false;            /* every line ends with a newline: else it was cut */
        *eol = 0;
        WCHAR *name = utf16_from_utf8(line);
        if (name == NULL)
            return false;
        size_t k = 0;
        while (name[k] != 0) {
            name[k] = nspv2_ascii_lower(name[k]);
            k++;
        }
        if (k > 0 && name[k - 1] == '.')
            name[--k] = 0;
        if (k == 0 || units + k + 2 > DOMAINS_UNITS) {
            free(name);
            return false;
        }
        memcpy(c->list + units, name, (k + 1) * sizeof(WCHAR));
        units += k + 1;
        free(name);
    }
    c->list[units] = 0;
    return units > 0;
}

/* This thread's view of the provider's published list: NULL when the host must be asked. */
static const WCHAR *published_domains(const char *dir, const GUID *guid)
{
    char path[RUNDIR_FILE_MAX];
    struct stat st;
    rundir_domains_path(dir, guid, path);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return NULL;
    struct domains_cache *c = NULL;
    for (unsigned i = 0; i < DOMAINS_CACHED; i++)
        if (t_domains[i].used && memcmp(&t_domains[i].guid, guid, sizeof(GUID)) == 0)
            c = &t_domains[i];
    if (c != NULL && c->dev == st.st_dev && c->ino == st.st_ino && c->size == st.st_size &&
        c->mtime.tv_sec == st.st_mtim.tv_sec && c->mtime.tv_nsec == st.st_mtim.tv_nsec)
        return c->valid ? c->list : NULL;
    if (c == NULL)
        c = &t_domains[t_domains_next++ % DOMAINS_CACHED];
    memset(c, 0, offsetof(struct domains_cache, list));
    c->guid = *guid;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    char text[DOMAINS_FILE_MAX + 1];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= DOMAINS_FILE_MAX)
        n = read(fd, text, DOMAINS_FILE_MAX + 1);
    close(fd);
    /* Keyed by what was read (a rename gives a new inode), so a change is seen next time. */
    c->used = true;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->size = st.st_size;
    c->mtime = st.st_mtim;
    if (n < 0 || n != st.st_size || memchr(text, 0, (size_t)n) != NULL)
        return NULL;
    text[n] = 0;
    c->valid = parse_domains(text, c);
    return c->valid ? c->list : NULL;
}

/* The enabled NS_DNS providers of the catalog file, in its order. */
static size_t dns_providers(const char *dir, GUID out[MAX_PROVIDERS])
{
    char path[RUNDIR_PATH_MAX + 16];
    const char *set = secure_getenv("NSPV2_STANDIN_CATALOG");
    if (set && *set)
        snprintf(path, sizeof path, "%s", set);
    else
        snprintf(path, sizeof path, "%s/catalog", dir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t n = 0;
    char *line = NULL;
    size_t capacity = 0;
    while (n < MAX_PROVIDERS && getline(&line, &capacity, f) >= 0) {
        char guid[40];
        unsigned long name_space, version, enabled;
        if (sscanf(line, "ns %39s %lu %lu %lu", guid, &name_space, &version, &enabled) == 4 &&
            name_space == NS_DNS && enabled == 1 && rundir_parse_guid(guid, &out[n]))
            n++;
    }
    free(line);
    fclose(f);
    return n;
}

enum nss_query_status nss_query(const char *name, struct nss_answer *answer)
{
    memset(answer, 0, sizeof *answer);
    if (secure_getenv("NSPV2_NSS_BYPASS"))
        return QUERY_NOTFOUND;      /* a host, or a process it started */
    char dir[RUNDIR_MAX];
    GUID providers[MAX_PROVIDERS];
    if (!rundir_path(dir, true))
        return QUERY_UNAVAIL;
    size_t n = dns_providers(dir, providers);
    if (n == 0)
        return QUERY_UNAVAIL;
    WCHAR *wide = utf16_from_utf8(name);
    if (wide == NULL)
        return QUERY_NOTFOUND;      /* not a name any provider could hold */
    bool unavailable = true, again = false, memory = false;
    for (size_t i = 0; i < n; i++) {
        char path[RUNDIR_PATH_MAX];
        enum nss_query_status s;
        const WCHAR *domains = published_domains(dir, &providers[i]);
        if (domains != NULL && !nspv2_name_served(wide, domains)) {
            s = QUERY_NOTFOUND;     /* not this provider's name: no connection */
        } else {
            rundir_socket_path(dir, &providers[i], path);
            s = ask(path, &providers[i], wide, answer);
        }
        unavailable = unavailable && s == QUERY_UNAVAIL;
        again = again || s == QUERY_TRYAGAIN;
        memory = memory || s == QUERY_NOMEM;
    }
    free(wide);
    if (answer->name == NULL && (answer->n_addresses || answer->n_aliases))
        answer->name = strdup(name);
    if (answer->name)
        return QUERY_FOUND;
    nss_answer_free(answer);
    if (memory)
        return QUERY_NOMEM;
    if (again)
        return QUERY_TRYAGAIN;
    return unavailable ? QUERY_UNAVAIL : QUERY_NOTFOUND;
}
