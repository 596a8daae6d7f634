/* bench_dns: the client of tools/bench's baseline (e), a DNS server a user deploys instead
 * (dnsmasq) asked over loopback by a small C client, so that neither side is Python.
 *
 *   bench_dns PORT STYLE ITERATIONS REPEATS EXPECT
 *
 * Asks for the A records of n0.STYLE ... n999.STYLE in turn over UDP to 127.0.0.1:PORT, one query
 * at a time (a stub resolver's way), and prints one JSON object: nanoseconds per query for each
 * of REPEATS runs of ITERATIONS queries, the replies that did not carry EXPECT answers
 * (errors), and the queries with no reply within a second (dropped; asked again once). Before
 * timing it waits up to 5 s for the server to answer at all. */
#ifndef _GNU_SOURCE
#  define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NAMES 1000
#define MAX_REPEATS 64

static int g_socket;
static uint16_t g_id;
static long g_errors, g_dropped;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A query for the A records of name: its length in out. */
static size_t query(const char *name, uint16_t id, unsigned char *out)
{
    const unsigned char header[12] = {id >> 8, id & 0xFF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    size_t n = sizeof header;
    memcpy(out, header, n);
    for (const char *label = name; *label;) {
        size_t len = strcspn(label, ".");
        out[n++] = (unsigned char)len;
        memcpy(out + n, label, len);
        n += len;
        label += len + (label[len] == '.');
    }
    out[n++] = 0;
    const unsigned char tail[4] = {0, 1, 0, 1}; /* type A, class IN */
    memcpy(out + n, tail, sizeof tail);
    return n + sizeof tail;
}

/* One question and its answer: the number of answers, or -1 with no reply in timeout_ms. */
static int ask(const char *name, int timeout_ms)
{
    unsigned char packet[512], reply[1500];
    uint16_t id = ++g_id;
    size_t n = query(name, id, packet);
    if (send(g_socket, packet, n, 0) < 0)
        return -1;
    struct pollfd p = {g_socket, POLLIN, 0};
    uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = now_ns();
        if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
            return -1;
        ssize_t got = recv(g_socket, reply, sizeof reply, 0);
        if (got < 12 || reply[0] != (id >> 8) || reply[1] != (id & 0xFF))
            continue; /* a late reply to an earlier query */
        if ((reply[3] & 0x0F) != 0)
            return 0; /* an error code: no answers */
        return reply[6] << 8 | reply[7];
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_dns PORT STYLE ITERATIONS REPEATS EXPECT\n");
        return 2;
    }
    int port = atoi(argv[1]), iterations = atoi(argv[3]), repeats = atoi(argv[4]);
    int expect = atoi(argv[5]);
    const char *style = argv[2];
    if (port <= 0 || iterations < 1 || repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "bench_dns: bad arguments\n");
        return 2;
    }
    struct sockaddr_in server = {0};
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)port);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_socket = socket(AF_INET, SOCK_DGRAM, 0);
    if (g_socket < 0 || connect(g_socket, (struct sockaddr *)&server, sizeof server) != 0) {
        perror("bench_dns: socket");
        return 2;
    }
    char name[64];
    int ready = 0;
    for (int i = 0; i < 50 && !ready; i++)
        ready = ask("n0.plain", 100) >= 0;
    if (!ready) {
        fprintf(stderr, "bench_dns: no answer from 127.0.0.1:%d\n", port);
        return 3;
    }
    double samples[MAX_REPEATS];
    unsigned index = 0;
    for (int r = -1; r < repeats; r++) { /* r == -1: warm-up */
        int count = r < 0 ? iterations / 10 + 10 : iterations;
        uint64_t t0 = now_ns();
        for (int i = 0; i < count; i++) {
            snprintf(name, sizeof name, "n%u.%s", index++ % NAMES, style);
            int answers = ask(name, 1000);
            if (answers < 0) {
                g_dropped++;
                answers = ask(name, 1000);
            }
            if (answers >= 0 && answers != expect)
                g_errors++;
        }
        if (r >= 0)
            samples[r] = (double)(now_ns() - t0) / iterations;
    }
    printf("{\"ns_per_query\": [");
    for (int r = 0; r < repeats; r++)
        printf(r ? ", %.3f" : "%.3f", samples[r]);
    printf("], \"iterations\": %d, \"errors\": %ld, \"dropped\": %ld}\n", iterations, g_errors,
           g_dropped);
    return 0;
}
