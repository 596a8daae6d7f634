/* The cross-process benchmark's C side (tools/bench_cross runs it; see there for what is
 * compared and why). No Python here.
 *
 *   bench_cross lookup WINSOCK_LIBRARY NAME ITERATIONS
 *       cycles of WSALookupServiceBeginW / NextW (until WSA_E_NO_MORE) / End in NS_DNS through
 *       the stand-in, served by a host in another process; prints "ns_per_cycle N".
 *   bench_cross bare-server SOCKET
 *       answers the messages of one such cycle with replies of the same sizes, doing nothing
 *       else (a bare request/response over a Unix socket, the transport's floor).
 *   bench_cross bare-client SOCKET NAME ITERATIONS
 *       sends those same messages (built with the stand-in's own wire format) and reads the
 *       replies, the End's without waiting for it as the stand-in does; prints "ns_per_cycle N".
 *   bench_cross dns PORT NAME ITERATIONS
 *       one A query over UDP to 127.0.0.1:PORT per cycle (dnsmasq), waiting for each answer;
 *       prints "ns_per_cycle N". */
#include "nspv2/ws2dynamic.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The socket calls live in bench_cross_net.c: <sys/socket.h> and the Winsock declarations cannot
 * meet in one file. */
int net_unix_listen(const char *path);
int net_unix_accept(int fd);
int net_unix_connect(const char *path);
int net_udp_connect(int port);
int net_send(int fd, const void *bytes, size_t n);
int net_recv_full(int fd, void *bytes, size_t n);
long net_recv(int fd, void *bytes, size_t n);
void net_close(int fd);

static GUID service_class = SVCID_HOSTNAME;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void widen(const char *s, WCHAR *out, size_t room)
{
    size_t i = 0;
    for (; s[i] && i + 1 < room; i++)
        out[i] = (WCHAR)(unsigned char)s[i];
    out[i] = 0;
}

static int run_lookup(const char *library, const char *name, long iterations)
{
    struct nspv2_api api;
    memset(&api, 0, sizeof api);
    void *winsock = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (winsock == NULL || nspv2_api_resolve(&api, winsock, NULL) != NULL) {
        fprintf(stderr, "bench_cross: cannot load %s\n", library);
        return 2;
    }
    WSADATA data;
    if (api.WSAStartup(0x0202, &data) != 0)
        return 2;
    WCHAR wname[256];
    widen(name, wname, 256);
    WSAQUERYSETW qs;
    memset(&qs, 0, sizeof qs);
    qs.dwSize = sizeof qs;
    qs.lpszServiceInstanceName = wname;
    qs.dwNameSpace = NS_DNS;
    qs.lpServiceClassId = &service_class; /* required by WSALookupServiceBegin */
    static _Alignas(16) char buffer[4096];
    uint64_t start = 0;
    for (long i = -iterations / 10 - 1; i < iterations; i++) {  /* a tenth to warm up */
        if (i == 0)
            start = now_ns();
        HANDLE lookup;
        if (api.WSALookupServiceBeginW(&qs, LUP_RETURN_ALL, &lookup) != 0) {
            fprintf(stderr, "bench_cross: Begin failed: %d\n", api.WSAGetLastError());
            return 1;
        }
        int results = 0;
        for (;;) {
            DWORD length = sizeof buffer;
            if (api.WSALookupServiceNextW(lookup, LUP_RETURN_ALL, &length,
                                          (LPWSAQUERYSETW)(void *)buffer) != 0)
                break;
            results++;
        }
        api.WSALookupServiceEnd(lookup);
        if (results != 1) {
            fprintf(stderr, "bench_cross: %d results\n", results);
            return 1;
        }
    }
    printf("ns_per_cycle %llu\n", (unsigned long long)((now_ns() - start) / (uint64_t)iterations));
    api.WSACleanup();
    return 0;
}

/* ---- the bare pair: one cycle's messages, sized as the stand-in sends them ---- */

struct message {
    uint8_t *bytes;
    size_t length;
};

static struct message make(uint16_t type, const void *body, size_t body_length)
{
    struct message m;
    m.length = WIRE_HEADER_SIZE + body_length;
    m.bytes = calloc(1, m.length + 8);
    wire_header_write(m.bytes, (uint32_t)m.length, type, 1, 0);
    if (body_length)
        memcpy(m.bytes + WIRE_HEADER_SIZE, body, body_length);
    return m;
}

/* The four requests of a cycle and the four replies, as the stand-in and the example's plain
 * answer (one result: the name and one IPv4 address) make them. */
static void cycle_messages(const char *name, struct message requests[4], struct message replies[4])
{
    WCHAR wname[256];
    widen(name, wname, 256);
    struct wire_fields f;
    memset(&f, 0, sizeof f);
    f.name = wname;
    f.name_space = NS_DNS;
    size_t image = wire_qs_size(&f);
    uint8_t *begin = calloc(1, 8 + image);
    wire_qs_write(&f, begin + 8);
    requests[0] = make(WIRE_BEGIN, begin, 8 + image);
    uint8_t next[16] = {0};
    requests[1] = make(WIRE_NEXT, next, sizeof next);
    requests[2] = make(WIRE_NEXT, next, sizeof next);
    requests[3] = make(WIRE_END, next, 8);
    free(begin);

    uint64_t handle = 1;
    replies[0] = make(WIRE_BEGIN | WIRE_REPLY, &handle, 8);
    SOCKADDR_IN sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    CSADDR_INFO csaddr;
    memset(&csaddr, 0, sizeof csaddr);
    csaddr.RemoteAddr.lpSockaddr = (LPSOCKADDR)&sin;
    csaddr.RemoteAddr.iSockaddrLength = sizeof sin;
    GUID provider = {0};
    f.n_csaddrs = 1;
    f.csaddrs = &csaddr;
    f.provider = &provider;
    image = wire_qs_size(&f);
    uint8_t *result = calloc(1, image);
    wire_qs_write(&f, result);
    replies[1] = make(WIRE_NEXT | WIRE_REPLY, result, image);
    free(result);
    replies[2] = make(WIRE_NEXT | WIRE_REPLY, NULL, 0);
    replies[3] = make(WIRE_END | WIRE_REPLY, NULL, 0);
}

static int run_bare_server(const char *path)
{
    struct message requests[4], replies[4];
    cycle_messages("www.example.test", requests, replies);
    int listener = net_unix_listen(path);
    if (listener < 0)
        return 2;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int fd = net_unix_accept(listener);
        if (fd < 0)
            return 0;
        uint8_t *in = malloc(WIRE_MAX_MESSAGE);
        for (unsigned k = 0;; k = (k + 1) % 4) {
            struct wire_header h;
            if (net_recv_full(fd, in, WIRE_HEADER_SIZE) != 0 ||
                wire_header_read(in, &h) != NO_ERROR ||
                net_recv_full(fd, in + WIRE_HEADER_SIZE, h.length - WIRE_HEADER_SIZE) != 0)
                break;
            if (net_send(fd, replies[k].bytes, replies[k].length) != 0)
                break;
        }
        free(in);
        net_close(fd);
    }
}

static int run_bare_client(const char *path, const char *name, long iterations)
{
    struct message requests[4], replies[4];
    cycle_messages(name, requests, replies);
    int fd = net_unix_connect(path);
    if (fd < 0)
        return 2;
    uint8_t *in = malloc(WIRE_MAX_MESSAGE);
    uint64_t start = 0;
    for (long i = -iterations / 10 - 1; i < iterations; i++) {
        if (i == 0)
            start = now_ns();
        /* As the stand-in does: the End is sent without waiting; its reply is read (and
         * dropped) before the next Begin's. */
        for (int k = 0; k < 4; k++) {
            if (net_send(fd, requests[k].bytes, requests[k].length) != 0)
                return 1;
            if (k == 3)
                break;
            for (int n = (k == 0 && i > -iterations / 10 - 1) ? 2 : 1; n > 0; n--) {
                struct wire_header h;
                if (net_recv_full(fd, in, WIRE_HEADER_SIZE) != 0 ||
                    wire_header_read(in, &h) != NO_ERROR ||
                    net_recv_full(fd, in + WIRE_HEADER_SIZE, h.length - WIRE_HEADER_SIZE) != 0)
                    return 1;
            }
        }
    }
    printf("ns_per_cycle %llu\n", (unsigned long long)((now_ns() - start) / (uint64_t)iterations));
    free(in);
    net_close(fd);
    return 0;
}

/* ---- DNS over UDP ---- */

static int run_dns(int port, const char *name, long iterations)
{
    uint8_t query[512], answer[1500];
    size_t n = 0;
    const uint8_t header[12] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    memcpy(query, header, sizeof header);
    n = sizeof header;
    for (const char *label = name; *label;) {
        const char *dot = strchr(label, '.');
        size_t length = dot ? (size_t)(dot - label) : strlen(label);
        query[n++] = (uint8_t)length;
        memcpy(query + n, label, length);
        n += length;
        label += length + (dot != NULL);
    }
    query[n++] = 0;
    const uint8_t tail[4] = {0, 1, 0, 1};   /* type A, class IN */
    memcpy(query + n, tail, 4);
    n += 4;
    int fd = net_udp_connect(port);
    if (fd < 0)
        return 2;
    uint64_t start = 0;
    for (long i = -iterations / 10 - 1; i < iterations; i++) {
        if (i == 0)
            start = now_ns();
        if (net_send(fd, query, n) != 0)
            return 1;
        long got = net_recv(fd, answer, sizeof answer);
        if (got < 12 || answer[0] != 0x12 || (answer[7] | answer[6] << 8) < 1) {
            fprintf(stderr, "bench_cross: no DNS answer (%ld bytes)\n", got);
            return 1;
        }
    }
    printf("ns_per_cycle %llu\n", (unsigned long long)((now_ns() - start) / (uint64_t)iterations));
    net_close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "lookup") == 0)
        return run_lookup(argv[2], argv[3], strtol(argv[4], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "bare-server") == 0)
        return run_bare_server(argv[2]);
    if (argc == 5 && strcmp(argv[1], "bare-client") == 0)
        return run_bare_client(argv[2], argv[3], strtol(argv[4], NULL, 10));
    if (argc == 5 && strcmp(argv[1], "dns") == 0)
        return run_dns((int)strtol(argv[2], NULL, 10), argv[3], strtol(argv[4], NULL, 10));
    fprintf(stderr, "usage: see the top of tools/bench_cross.c\n");
    return 2;
}
