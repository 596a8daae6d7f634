/* bench_driver: the client side of tools/bench, in C so that the client's cost is not Python's.
 * It loads the Winsock stand-in and a provider with dlopen, as a host without Python would,
 * installs and advertises the provider, runs the benchmark's lookup cycles through
 * WSALookupServiceBeginW/NextW/End timed with clock_gettime(CLOCK_MONOTONIC), and prints one
 * JSON object with the raw samples (tools/bench computes medians and spreads).
 *
 *   bench_driver --winsock LIB --provider LIB --kind nspv2|c [--config FILE] --guid GUID
 *                [--async-guid GUID] [--case KEY:GUID:STYLE:RESULTS:ADDRESSES:BLOB ...]
 *                [--io-guid GUID] [--rss-guid GUID] [--iterations N] [--repeats R]
 *                [--threads T] [--async-count A] [--rss-iterations M] [--scenarios a,b,...]
 *                [--cold T0_NS]
 *
 * --kind nspv2: LIB is the nspv2 provider library; NSPv2SetConfigFile(FILE), then
 * NSPv2GetRoutine per GUID. --kind c: LIB exports bench_cprovider_routine (tools/
 * bench_cprovider.c), advertised under every GUID given. Scenarios: one ten many big (N cycles
 * per repeat), each --case (N cycles per repeat of the names n0.STYLE ... n999.STYLE in turn,
 * each answering RESULTS results of ADDRESSES addresses and a BLOB-byte blob; RESULTS 0: each
 * declined at Begin with WSASERVICE_NOT_FOUND), threads (T
 * threads and 1 thread, N cycles each), io (T threads and 1 thread, N / 20 cycles each, of
 * n<i>.io on --io-guid), async (A threads at once, each one lookup of async.bench), rss (M
 * cycles of n<i>.plain on --rss-guid, resident memory before and after). --cold T0_NS: one
 * lookup of one.bench, then print the CLOCK_MONOTONIC time since T0_NS and since main(). */
#include "nspv2/ws2dynamic.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FIRST_BUFFER 4096
#define MAX_REPEATS 64
#define MAX_CASES 16
/* The fresh scenarios ask names n0.STYLE ... n(FRESH_NAMES - 1).STYLE in turn. */
#define FRESH_NAMES 1000

static struct nspv2_api api;

/* What a scenario's name must answer: results, addresses in each, blob length. A `style`
 * means FRESH_NAMES names, n<i>.<style>, asked in turn; else `name` is the one name. */
struct expect {
    const char *name;
    int results;
    DWORD addresses;
    ULONG blob;
    const char *style;
    const GUID *guid; /* NULL: g_guid */
};

static GUID g_guid, g_async_guid, g_io_guid, g_rss_guid;

static GUID service_class = SVCID_HOSTNAME; /* the class nspv2.lookup passes */
static const struct expect k_one = {"one.bench", 1, 1, 0, NULL, NULL};
static const struct expect k_ten = {"ten.bench", 1, 10, 1024, NULL, NULL};
static const struct expect k_many = {"many.bench", 10, 1, 0, NULL, NULL};
static const struct expect k_big = {"big.bench", 1, 1, 16384, NULL, NULL};
static const struct expect k_async = {"async.bench", 1, 1, 0, NULL, &g_async_guid};
static const struct expect k_io = {NULL, 1, 1, 0, "io", &g_io_guid};
static const struct expect k_rss = {NULL, 1, 1, 0, "plain", &g_rss_guid};

/* The --case scenarios. */
struct fresh_case {
    char key[32];
    char style[32];
    GUID guid;
    struct expect e;
};
static struct fresh_case g_cases[MAX_CASES];
static int g_ncases;
static atomic_long g_errors;
static atomic_long g_efaults;
static char g_first_error[256];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void widen(const char *s, WCHAR *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        out[i] = (WCHAR)(unsigned char)s[i];
    out[i] = 0;
}

static void error(const struct expect *e, const char *what, long value)
{
    if (atomic_fetch_add(&g_errors, 1) == 0)
        snprintf(g_first_error, sizeof g_first_error, "%s: %s %ld", e->name ? e->name : e->style,
                 what, value);
}

/* One lookup cycle as a client: Begin, NextW until WSA_E_NO_MORE (growing the 4 KiB first
 * buffer on WSAEFAULT), End; checks the answers. Returns 0, or -1 after counting an error. */
static int cycle(const struct expect *e, unsigned index)
{
    union {
        WSAQUERYSETW qs;
        BYTE bytes[FIRST_BUFFER];
    } first;
    WCHAR wname[64];
    GUID id = e->guid ? *e->guid : g_guid;
    WSAQUERYSETW qs;
    HANDLE h = NULL;
    const DWORD flags = LUP_RETURN_NAME | LUP_RETURN_ADDR | LUP_RETURN_BLOB;

    if (e->style != NULL) {
        char name[64];
        snprintf(name, sizeof name, "n%u.%s", index % FRESH_NAMES, e->style);
        widen(name, wname, sizeof wname / sizeof wname[0]);
    } else {
        widen(e->name, wname, sizeof wname / sizeof wname[0]);
    }
    memset(&qs, 0, sizeof qs);
    qs.dwSize = sizeof qs;
    qs.lpszServiceInstanceName = wname;
    qs.lpServiceClassId = &service_class;
    qs.dwNameSpace = NS_DNS;
    qs.lpNSProviderId = &id;
    if (api.WSALookupServiceBeginW(&qs, flags, &h) == SOCKET_ERROR) {
        int code = api.WSAGetLastError();
        if (e->results == 0 && code == WSASERVICE_NOT_FOUND)
            return 0; /* a name the provider does not serve: declined, as expected */
        error(e, "Begin error", code);
        return -1;
    }
    WSAQUERYSETW *buf = &first.qs;
    DWORD size = sizeof first;
    int found = 0, status = 0;
    for (;;) {
        DWORD len = size;
        if (api.WSALookupServiceNextW(h, flags, &len, buf) == SOCKET_ERROR) {
            int code = api.WSAGetLastError();
            if (code == WSAEFAULT && len > size) {
                WSAQUERYSETW *bigger = buf == &first.qs ? malloc(len) : realloc(buf, len);
                if (bigger == NULL) {
                    error(e, "out of memory", (long)len);
                    status = -1;
                    break;
                }
                buf = bigger;
                size = len;
                atomic_fetch_add(&g_efaults, 1);
                continue;
            }
            if (code != WSA_E_NO_MORE) {
                error(e, "NextW error", code);
                status = -1;
            }
            break;
        }
        found++;
        if (buf->dwNumberOfCsAddrs != e->addresses || buf->lpszServiceInstanceName == NULL ||
            (e->blob ? buf->lpBlob == NULL || buf->lpBlob->cbSize != e->blob
                     : buf->lpBlob != NULL)) {
            error(e, "wrong result, addresses", (long)buf->dwNumberOfCsAddrs);
            status = -1;
        }
    }
    if (buf != &first.qs)
        free(buf);
    if (api.WSALookupServiceEnd(h) == SOCKET_ERROR) {
        error(e, "End error", api.WSAGetLastError());
        status = -1;
    }
    if (status == 0 && found != e->results) {
        error(e, "wrong number of results", found);
        status = -1;
    }
    return status;
}

static void print_samples(const char *key, const double *v, int n)
{
    printf("\"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf(i ? ", %.3f" : "%.3f", v[i]);
    printf("]");
}

/* R repeats of N cycles of e: nanoseconds per cycle, one sample per repeat. */
static void serial(const char *key, const struct expect *e, int iterations, int repeats)
{
    double samples[MAX_REPEATS];
    long errors_before = atomic_load(&g_errors), efault_before = atomic_load(&g_efaults);
    unsigned index = 0;
    for (int i = 0; i < iterations / 10 + 10; i++)      /* warm-up */
        cycle(e, index++);
    for (int r = 0; r < repeats; r++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < iterations; i++)
            cycle(e, index++);
        samples[r] = (double)(now_ns() - t0) / iterations;
    }
    printf("\"%s\": {\"iterations\": %d, ", key, iterations);
    print_samples("ns_per_cycle", samples, repeats);
    printf(", \"efaults\": %ld, \"errors\": %ld},\n", atomic_load(&g_efaults) - efault_before,
           atomic_load(&g_errors) - errors_before);
}

struct worker {
    pthread_t id;
    const struct expect *e;
    int iterations;
    pthread_barrier_t *start;
    unsigned first; /* the index of its first name */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    if (w->start)
        pthread_barrier_wait(w->start);
    for (int i = 0; i < w->iterations; i++)
        cycle(w->e, w->first + (unsigned)i);
    return NULL;
}

/* T threads, each N cycles of e, started together: wall time for all of them. */
static double threaded(const struct expect *e, int threads, int iterations)
{
    struct worker w[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    for (int t = 0; t < threads; t++) {
        w[t] = (struct worker){0, e, iterations, &start, (unsigned)t * 97u};
        pthread_create(&w[t].id, NULL, worker_main, &w[t]);
    }
    pthread_barrier_wait(&start);
    uint64_t t0 = now_ns();
    for (int t = 0; t < threads; t++)
        pthread_join(w[t].id, NULL);
    double elapsed = (double)(now_ns() - t0);
    pthread_barrier_destroy(&start);
    return elapsed;
}

static void threads_scenario(const char *key, const struct expect *e, int threads,
                             int iterations, int repeats)
{
    double one[MAX_REPEATS], many[MAX_REPEATS];
    long errors_before = atomic_load(&g_errors);
    if (threads > 64)
        threads = 64;
    threaded(e, threads, iterations / 10 + 1);           /* warm-up: thread states exist */
    for (int r = 0; r < repeats; r++) {
        one[r] = iterations / (threaded(e, 1, iterations) / 1e9);
        many[r] = (double)threads * iterations / (threaded(e, threads, iterations) / 1e9);
    }
    printf("\"%s\": {\"threads\": %d, \"iterations_per_thread\": %d, ", key, threads,
           iterations);
    print_samples("one_thread_lookups_per_s", one, repeats);
    printf(", ");
    print_samples("aggregate_lookups_per_s", many, repeats);
    printf(", \"errors\": %ld},\n", atomic_load(&g_errors) - errors_before);
}

/* A client threads at once, each one lookup of async.bench (20 ms in the provider): the time
 * from the first thread's start until every thread is done. */
static void async_scenario(int count, int repeats)
{
    double samples[MAX_REPEATS];
    long errors_before = atomic_load(&g_errors);
    int created_min = count;
    struct worker *w = calloc((size_t)count, sizeof *w);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int r = 0; r < repeats; r++) {
        uint64_t t0 = now_ns();
        int created = 0;
        for (int t = 0; t < count; t++) {
            w[t] = (struct worker){0, &k_async, 1, NULL, 0};
            if (pthread_create(&w[t].id, &attr, worker_main, &w[t]) != 0)
                break;
            created++;
        }
        for (int t = 0; t < created; t++)
            pthread_join(w[t].id, NULL);
        samples[r] = (double)(now_ns() - t0) / 1e6;
        if (created < created_min)
            created_min = created;
    }
    pthread_attr_destroy(&attr);
    free(w);
    printf("\"async\": {\"lookups\": %d, \"delay_ms\": 20, \"threads_created_min\": %d, ", count,
           created_min);
    print_samples("ms_until_all_done", samples, repeats);
    printf(", \"errors\": %ld},\n",
           atomic_load(&g_errors) - errors_before + (long)(count - created_min));
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void rss_scenario(int iterations)
{
    long errors_before = atomic_load(&g_errors);
    for (int i = 0; i < 10000; i++)
        cycle(&k_rss, (unsigned)i);
    long before = rss_bytes();
    uint64_t t0 = now_ns();
    for (int i = 0; i < iterations; i++)
        cycle(&k_rss, (unsigned)i);
    double elapsed = (double)(now_ns() - t0);
    long after = rss_bytes();
    printf("\"rss\": {\"lookups\": %d, \"rss_before_bytes\": %ld, \"rss_after_bytes\": %ld, "
           "\"rss_growth_bytes\": %ld, \"ns_per_cycle\": %.3f, \"errors\": %ld},\n",
           iterations, before, after, after - before, elapsed / iterations,
           atomic_load(&g_errors) - errors_before);
}

/* The distinct GUIDs the scenarios ask (at most 3 + MAX_CASES). */
static int distinct_guids(const GUID **out)
{
    const GUID *all[3 + MAX_CASES] = {&g_guid, &g_async_guid, &g_io_guid, &g_rss_guid};
    int n = 4, distinct = 0;
    for (int i = 0; i < g_ncases; i++)
        all[n++] = &g_cases[i].guid;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < distinct && !seen; j++)
            seen = memcmp(out[j], all[i], sizeof(GUID)) == 0;
        if (!seen)
            out[distinct++] = all[i];
    }
    return distinct;
}

static int advertise(void *provider, const char *kind, const char *config)
{
    const GUID *guids[4 + MAX_CASES];
    int n = distinct_guids(guids);
    INT(WINAPI * get_routine)(const GUID *, NSPV2_ROUTINE *) = NULL;
    INT (*c_routine)(NSPV2_ROUTINE *) = NULL;
    void *p;
    if (strcmp(kind, "c") == 0) {
        if ((p = nspv2_symbol(provider, "bench_cprovider_routine")) == NULL) {
            fprintf(stderr, "bench_driver: bench_cprovider_routine not found\n");
            return 2;
        }
        memcpy(&c_routine, &p, sizeof p);
    } else {
        const char *missing = nspv2_api_resolve(&api, NULL, provider);
        if (missing != NULL) {
            fprintf(stderr, "bench_driver: %s not found\n", missing);
            return 2;
        }
        get_routine = api.NSPv2GetRoutine;
        if (config != NULL && api.NSPv2SetConfigFile(config) != 0) {
            fprintf(stderr, "bench_driver: NSPv2SetConfigFile: %d\n", api.WSAGetLastError());
            return 2;
        }
    }
    for (int i = 0; i < n; i++) {
        GUID id = *guids[i];
        WCHAR ident[32], no_path[1] = {0};
        NSPV2_ROUTINE routine;
        widen("bench", ident, 32);
        if (api.WSCInstallNameSpaceEx(ident, no_path, NS_DNS, 1, &id, NULL) == SOCKET_ERROR) {
            fprintf(stderr, "bench_driver: install: %d\n", api.WSAGetLastError());
            return 2;
        }
        memset(&routine, 0, sizeof routine);
        if ((c_routine ? c_routine(&routine) : get_routine(&id, &routine)) != 0) {
            fprintf(stderr, "bench_driver: routine: %d\n", api.WSAGetLastError());
            return 2;
        }
        if (api.WSAAdvertiseProvider(&id, &routine) == SOCKET_ERROR) {
            fprintf(stderr, "bench_driver: advertise: %d\n", api.WSAGetLastError());
            return 2;
        }
    }
    return 0;
}

/* --case KEY:GUID:STYLE:RESULTS:ADDRESSES:BLOB */
static int add_case(const char *spec)
{
    if (g_ncases == MAX_CASES)
        return -1;
    struct fresh_case *c = &g_cases[g_ncases];
    char guid[64];
    int results, addresses, blob;
    if (sscanf(spec, "%31[^:]:%63[^:]:%31[^:]:%d:%d:%d", c->key, guid, c->style, &results,
               &addresses, &blob) != 6 ||
        nspv2_parse_guid(guid, &c->guid) != 0 || results < 0 || addresses < 0 || blob < 0)
        return -1;
    c->e = (struct expect){NULL, results, (DWORD)addresses, (ULONG)blob, c->style, &c->guid};
    g_ncases++;
    return 0;
}

/* Whether the --scenarios list names it (an empty list: every scenario). */
static int has(const char *list, const char *name)
{
    size_t n = strlen(name);
    if (*list == 0)
        return 1;
    for (const char *s = list; (s = strstr(s, name)) != NULL; s += n)
        if ((s == list || s[-1] == ',') && (s[n] == 0 || s[n] == ','))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t main_start = now_ns();
    const char *winsock_path = NULL, *provider_path = NULL, *kind = "nspv2", *config = NULL;
    const char *scenarios = NULL, *cold = NULL;
    const char *guid = NULL, *async_guid = NULL, *io_guid = NULL, *rss_guid = NULL;
    int iterations = 20000, repeats = 7, threads = 8, async_count = 1000;
    int rss_iterations = 1000000;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *arg = argv[i], *value = argv[i + 1];
        if (strcmp(arg, "--winsock") == 0)
            winsock_path = value;
        else if (strcmp(arg, "--provider") == 0)
            provider_path = value;
        else if (strcmp(arg, "--kind") == 0)
            kind = value;
        else if (strcmp(arg, "--config") == 0)
            config = value;
        else if (strcmp(arg, "--guid") == 0)
            guid = value;
        else if (strcmp(arg, "--async-guid") == 0)
            async_guid = value;
        else if (strcmp(arg, "--io-guid") == 0)
            io_guid = value;
        else if (strcmp(arg, "--rss-guid") == 0)
            rss_guid = value;
        else if (strcmp(arg, "--case") == 0) {
            if (add_case(value) != 0) {
                fprintf(stderr, "bench_driver: bad --case %s\n", value);
                return 2;
            }
        }
        else if (strcmp(arg, "--iterations") == 0)
            iterations = atoi(value);
        else if (strcmp(arg, "--repeats") == 0)
            repeats = atoi(value);
        else if (strcmp(arg, "--threads") == 0)
            threads = atoi(value);
        else if (strcmp(arg, "--async-count") == 0)
            async_count = atoi(value);
        else if (strcmp(arg, "--rss-iterations") == 0)
            rss_iterations = atoi(value);
        else if (strcmp(arg, "--scenarios") == 0)
            scenarios = value;
        else if (strcmp(arg, "--cold") == 0)
            cold = value;
        else {
            fprintf(stderr, "bench_driver: unknown argument %s\n", arg);
            return 2;
        }
    }
    if (winsock_path == NULL || provider_path == NULL || guid == NULL ||
        nspv2_parse_guid(guid, &g_guid) != 0 ||
        nspv2_parse_guid(async_guid ? async_guid : guid, &g_async_guid) != 0 ||
        nspv2_parse_guid(io_guid ? io_guid : guid, &g_io_guid) != 0 ||
        nspv2_parse_guid(rss_guid ? rss_guid : guid, &g_rss_guid) != 0 || iterations < 1 ||
        repeats < 1 || repeats > MAX_REPEATS || async_count < 1) {
        fprintf(stderr, "bench_driver: --winsock, --provider and a valid --guid are required\n");
        return 2;
    }
    void *winsock = dlopen(winsock_path, RTLD_NOW | RTLD_LOCAL);
    void *provider = winsock ? dlopen(provider_path, RTLD_NOW | RTLD_LOCAL) : NULL;
    if (provider == NULL) {
        fprintf(stderr, "bench_driver: dlopen: %s\n", dlerror());
        return 2;
    }
    const char *missing = nspv2_api_resolve(&api, winsock, NULL);
    if (missing != NULL || api.StandinViolationCount == NULL) {
        fprintf(stderr, "bench_driver: %s not found\n", missing ? missing : "the stand-in");
        return 2;
    }

    WSADATA data;
    if (api.WSAStartup(0x0202, &data) != 0)
        return 2;
    int rc = advertise(provider, kind, config);
    if (rc != 0)
        return rc;

    if (cold != NULL) {
        int status = cycle(&k_one, 0);
        uint64_t done = now_ns();
        printf("{\"cold\": {\"from_spawn_ns\": %.0f, \"from_main_ns\": %.0f, \"errors\": %ld}}\n",
               (double)done - strtod(cold, NULL), (double)(done - main_start),
               atomic_load(&g_errors));
        fflush(stdout);
        _exit(status == 0 ? 0 : 1);
    }

    printf("{\"kind\": \"%s\",\n", kind);
    if (scenarios == NULL) /* everything */
        scenarios = "";
    if (has(scenarios, "one"))
        serial("one", &k_one, iterations, repeats);
    if (has(scenarios, "ten"))
        serial("ten", &k_ten, iterations, repeats);
    if (has(scenarios, "many"))
        serial("many", &k_many, iterations / 4 + 1, repeats);
    if (has(scenarios, "big"))
        serial("big", &k_big, iterations, repeats);
    for (int i = 0; i < g_ncases; i++)
        if (has(scenarios, g_cases[i].key))
            serial(g_cases[i].key, &g_cases[i].e, iterations, repeats);
    if (has(scenarios, "threads"))
        threads_scenario("threads", &k_one, threads, iterations, repeats);
    if (has(scenarios, "io") && io_guid != NULL)
        threads_scenario("io", &k_io, threads, iterations / 20 + 1, repeats < 3 ? repeats : 3);
    if (has(scenarios, "async"))
        async_scenario(async_count, repeats < 5 ? repeats : 5);
    if (has(scenarios, "rss"))
        rss_scenario(rss_iterations);

    DWORD violations = api.StandinViolationCount();
    char text[512] = "";
    if (violations)
        api.StandinGetViolation(0, text, sizeof text);
    for (char *c = text; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
            *c = '\'';
    for (char *c = g_first_error; *c; c++)
        if (*c == '"' || *c == '\\')
            *c = '\'';
    printf("\"violations\": %u, \"first_violation\": \"%s\", \"errors\": %ld, "
           "\"first_error\": \"%s\"}\n",
           (unsigned)violations, text, atomic_load(&g_errors), g_first_error);
    fflush(stdout);
    const GUID *guids[4 + MAX_CASES];
    for (int i = 0, n = distinct_guids(guids); i < n; i++)
        api.WSAUnadvertiseProvider(guids[i]);
    api.WSACleanup();
    return 0;
}
