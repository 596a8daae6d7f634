/* embed_host: a test host with no Python in it, for tests/test_embedding.py. It loads the
 * Winsock stand-in and the nspv2 provider library with dlopen(RTLD_NOW | RTLD_LOCAL), as a host
 * that knows nothing of Python would, advertises providers through NSPv2GetRoutine and asks them
 * as a client through WSALookupServiceBeginW/NextW/End.
 *
 *   embed_host --winsock LIB --provider LIB [--config FILE] --guid GUID [--guid GUID ...]
 *              [--namespace N] [--blob HEX] [--lookup NAME ...] [--close-stdio]
 *              [--sessions NAME] [--reload] [--threads N --iterations M]
 *
 * Each GUID is installed in namespace N with the provider-specific blob HEX (for NS_EMAIL the
 * installation blob that routes names to it), as Microsoft's sample installs: no library path.
 * Queries carry the service class SVCID_HOSTNAME, as nspv2's own clients do, and lookups ask
 * with LUP_NON_AUTHORITATIVE, so that every provider a name routes to is asked (an NS_EMAIL
 * lookup would otherwise stop at the first that answers) and each gets its client sessions.
 *
 * Output (stdout), one line each:
 *   result NAME: instance=... comment=... context=... ns=N flags=N addrs=[...] blob=LEN/FNV efault=K
 *   error NAME: CODE                       the lookup ended with CODE instead of WSA_E_NO_MORE
 *   getroutine GUID: rc=RC error=CODE      NSPv2GetRoutine failed (the host then exits 3)
 *   setservice I: rc=RC error=CODE         --sessions: WSASetServiceW for the I-th provider
 *   threads N x M: mismatches K
 *   violations N (then "violation: ..." lines)
 * Exit status: 0 all lookups found something, no violations, no mismatches; 1 a lookup failed or
 * a thread saw a different answer; 2 setup failure; 3 NSPv2GetRoutine failed; 4 violations.
 * --close-stdio closes fds 1 and 2 before the first Winsock or provider call (the status then is
 * the only report). */
#include "nspv2/ws2dynamic.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GUIDS 8
#define MAX_NAMES 32

static struct nspv2_api api;

static int quiet; /* stdout is closed: print nothing */
static DWORD name_space = NS_ALL;
static BLOB install_blob;
static GUID service_class = SVCID_HOSTNAME;
static const char *names[MAX_NAMES];
static int nnames;
static int iterations = 1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* UTF-8 to UTF-16, with surrogate pairs for characters outside the BMP. */
static WCHAR *widen(const char *s)
{
    size_t n = strlen(s), j = 0;
    WCHAR *w = calloc(2 * n + 1, sizeof(WCHAR));
    if (w == NULL)
        return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        unsigned int cp = extra == 3 ? c & 0x07u : extra == 2 ? c & 0x0Fu : extra ? c & 0x1Fu : c;
        if (i + (size_t)extra >= n) {
            w[j++] = 0xFFFD;
            break;
        }
        for (int k = 1; k <= extra; k++)
            cp = (cp << 6) | ((unsigned char)s[i + (size_t)k] & 0x3Fu);
        i += 1 + (size_t)extra;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            w[j++] = (WCHAR)(0xD800 | (cp >> 10));
            w[j++] = (WCHAR)(0xDC00 | (cp & 0x3FF));
        } else {
            w[j++] = (WCHAR)cp;
        }
    }
    return w;
}

/* UTF-16 to UTF-8 (lone surrogates as U+FFFD); "-" for NULL. */
static void put_wide(FILE *f, const WCHAR *w)
{
    if (w == NULL) {
        fputs("-", f);
        return;
    }
    for (; *w; w++) {
        unsigned int c = *w;
        if (c >= 0xD800 && c <= 0xDBFF && w[1] >= 0xDC00 && w[1] <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (w[1] - 0xDC00u);
            w++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = 0xFFFD;
        }
        if (c < 0x80)
            fputc((int)c, f);
        else if (c < 0x800)
            fprintf(f, "%c%c", 0xC0 | (c >> 6), 0x80 | (c & 0x3F));
        else if (c < 0x10000)
            fprintf(f, "%c%c%c", 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F));
        else
            fprintf(f, "%c%c%c%c", 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 0x3F),
                    0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F));
    }
}

static void put_sockaddr(FILE *f, const SOCKET_ADDRESS *sa)
{
    if (sa->lpSockaddr == NULL) {
        fputs("-", f);
        return;
    }
    const BYTE *raw = (const BYTE *)sa->lpSockaddr;
    USHORT family = sa->lpSockaddr->sa_family;
    if (family == AF_INET && sa->iSockaddrLength >= (INT)sizeof(SOCKADDR_IN)) {
        fprintf(f, "%u.%u.%u.%u:%u", raw[4], raw[5], raw[6], raw[7], (raw[2] << 8) | raw[3]);
    } else if (family == AF_INET6 && sa->iSockaddrLength >= (INT)sizeof(SOCKADDR_IN6)) {
        fputc('[', f);
        for (int i = 0; i < 8; i++)
            fprintf(f, i ? ":%x" : "%x", (raw[8 + 2 * i] << 8) | raw[9 + 2 * i]);
        fprintf(f, "]:%u", (raw[2] << 8) | raw[3]);
    } else {
        fprintf(f, "family%u/%d", family, sa->iSockaddrLength);
    }
}

static uint32_t fnv1a(const BYTE *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

/* One lookup of NAME as a client: Begin, NextW until no more (growing the buffer on WSAEFAULT),
 * End. Returns the number of results and the report text in *text (malloc'd). */
static int lookup(const char *name, char **text)
{
    size_t text_len = 0;
    FILE *f = open_memstream(text, &text_len);
    if (f == NULL)
        return -1;
    WCHAR *wname = widen(name);
    WSAQUERYSETW qs;
    HANDLE h = NULL;
    int found = 0;
    memset(&qs, 0, sizeof qs);
    qs.dwSize = sizeof qs;
    qs.lpszServiceInstanceName = wname;
    qs.lpServiceClassId = &service_class;
    qs.dwNameSpace = name_space;
    DWORD flags = LUP_RETURN_ALL | LUP_NON_AUTHORITATIVE;
    if (api.WSALookupServiceBeginW(&qs, flags, &h) == SOCKET_ERROR) {
        fprintf(f, "error %s: %d\n", name, api.WSAGetLastError());
        free(wname);
        fclose(f);
        return 0;
    }
    DWORD size = 256;
    WSAQUERYSETW *buf = malloc(size);
    int efault = 0;
    while (buf != NULL) {
        DWORD len = size;
        if (api.WSALookupServiceNextW(h, flags, &len, buf) == SOCKET_ERROR) {
            int error = api.WSAGetLastError();
            if (error == WSAEFAULT && len > size) {
                WSAQUERYSETW *bigger = realloc(buf, len);
                if (bigger == NULL)
                    break;
                buf = bigger;
                size = len;
                efault++;
                continue;
            }
            if (error != WSA_E_NO_MORE)
                fprintf(f, "error %s: %d\n", name, error);
            break;
        }
        found++;
        fprintf(f, "result %s: instance=", name);
        put_wide(f, buf->lpszServiceInstanceName);
        fputs(" comment=", f);
        put_wide(f, buf->lpszComment);
        fputs(" context=", f);
        put_wide(f, buf->lpszContext);
        fprintf(f, " ns=%u flags=%u addrs=[", (unsigned)buf->dwNameSpace,
                (unsigned)buf->dwOutputFlags);
        for (DWORD i = 0; i < buf->dwNumberOfCsAddrs; i++) {
            if (i)
                fputc(',', f);
            put_sockaddr(f, &buf->lpcsaBuffer[i].RemoteAddr);
        }
        fputs("] blob=", f);
        if (buf->lpBlob != NULL)
            fprintf(f, "%u/%08x", (unsigned)buf->lpBlob->cbSize,
                    fnv1a(buf->lpBlob->pBlobData, buf->lpBlob->cbSize));
        else
            fputs("-", f);
        fprintf(f, " efault=%d\n", efault);
        efault = 0;
    }
    free(buf);
    free(wname);
    if (api.WSALookupServiceEnd(h) == SOCKET_ERROR)
        fprintf(f, "error %s: End %d\n", name, api.WSAGetLastError());
    fclose(f);
    return found;
}

/* Looks up every name once, printing the answers; returns 0 if each found something. */
static int lookup_all(char **answers)
{
    int failed = 0;
    for (int i = 0; i < nnames; i++) {
        char *text = NULL;
        if (lookup(names[i], &text) <= 0)
            failed = 1;
        say("%s", text ? text : "");
        if (answers != NULL)
            answers[i] = text;
        else
            free(text);
    }
    return failed;
}

static char *reference[MAX_NAMES];

static void *thread_main(void *arg)
{
    long mismatches = 0;
    (void)arg;
    for (int k = 0; k < iterations; k++) {
        for (int i = 0; i < nnames; i++) {
            char *text = NULL;
            lookup(names[i], &text);
            if (text == NULL || reference[i] == NULL || strcmp(text, reference[i]) != 0) {
                if (mismatches == 0)
                    say("mismatch %s: %s", names[i], text ? text : "(null)\n");
                mismatches++;
            }
            free(text);
        }
    }
    return (void *)mismatches;
}

static int set_service(int index, const GUID *guid)
{
    GUID id = *guid;
    WCHAR *wname = widen("svc.test");
    WSAQUERYSETW qs;
    memset(&qs, 0, sizeof qs);
    qs.dwSize = sizeof qs;
    qs.lpszServiceInstanceName = wname;
    qs.lpServiceClassId = &service_class;
    qs.dwNameSpace = name_space;
    qs.lpNSProviderId = &id;
    api.WSASetLastError(0);
    int rc = api.WSASetServiceW(&qs, RNRSERVICE_REGISTER, 0);
    say("setservice %d: rc=%d error=%d\n", index, rc, rc == 0 ? 0 : api.WSAGetLastError());
    free(wname);
    return rc;
}

/* Client processes: A looks up, registers with each provider and cleans up; B looks up, leaves a
 * lookup open and dies (ClientSessionRundown). */
static int sessions(const char *open_name, const GUID *guids, int nguids)
{
    WSADATA data;
    int failed = 0;
    int a = api.StandinClientCreate();
    if (a <= 0 || api.StandinClientAttach(a) != 0 || api.WSAStartup(0x0202, &data) != 0)
        return 2;
    failed |= lookup_all(NULL);
    for (int i = 0; i < nguids; i++)
        set_service(i, &guids[i]);
    say("client a cleanup: %d\n", api.WSACleanup());
    api.StandinClientAttach(0);

    int b = api.StandinClientCreate();
    if (b <= 0 || api.StandinClientAttach(b) != 0 || api.WSAStartup(0x0202, &data) != 0)
        return 2;
    WCHAR *wname = widen(open_name);
    WSAQUERYSETW qs;
    HANDLE h = NULL;
    memset(&qs, 0, sizeof qs);
    qs.dwSize = sizeof qs;
    qs.lpszServiceInstanceName = wname;
    qs.lpServiceClassId = &service_class;
    qs.dwNameSpace = name_space;
    int rc = api.WSALookupServiceBeginW(&qs, LUP_RETURN_ALL | LUP_NON_AUTHORITATIVE, &h);
    say("client b begin %s: rc=%d\n", open_name, rc);
    if (rc != 0) {
        failed = 1;
    } else {
        /* Take one result and leave the lookup open: the provider frees it at the rundown. */
        static union {
            WSAQUERYSETW qs;
            BYTE bytes[4096];
        } result;
        DWORD len = sizeof result;
        rc = api.WSALookupServiceNextW(h, LUP_RETURN_ALL, &len, &result.qs);
        say("client b next %s: rc=%d\n", open_name, rc);
        if (rc != 0)
            failed = 1;
    }
    free(wname);
    api.StandinClientAttach(0);
    say("client b kill: %d\n", api.StandinClientKill(b));
    return failed;
}

static int advertise(const GUID *guids, int nguids, int install)
{
    for (int i = 0; i < nguids; i++) {
        GUID id = guids[i];
        NSPV2_ROUTINE routine;
        if (install) {
            WCHAR *ident = widen("embed-test"), no_path[1] = {0};
            if (api.WSCInstallNameSpaceEx(ident, no_path, name_space, 1, &id, &install_blob) ==
                SOCKET_ERROR)
                say("install %d: error %d\n", i, api.WSAGetLastError());
            free(ident);
        }
        memset(&routine, 0, sizeof routine);
        api.WSASetLastError(0);
        int rc = api.NSPv2GetRoutine(&id, &routine);
        if (rc != 0) {
            say("getroutine %08x: rc=%d error=%d\n", (unsigned)id.Data1, rc,
                api.WSAGetLastError());
            return 3;
        }
        if (api.WSAAdvertiseProvider(&id, &routine) == SOCKET_ERROR) {
            say("advertise %d: error %d\n", i, api.WSAGetLastError());
            return 2;
        }
    }
    return 0;
}

static int resolve_provider(void *provider)
{
    const char *missing = nspv2_api_resolve(&api, NULL, provider);
    if (missing != NULL && !quiet)
        fprintf(stderr, "embed_host: %s not found\n", missing);
    return missing != NULL;
}

int main(int argc, char **argv)
{
    const char *winsock_path = NULL, *provider_path = NULL, *config = NULL, *sessions_name = NULL;
    GUID guids[MAX_GUIDS];
    int nguids = 0, close_stdio = 0, reload = 0, threads = 0, status = 0;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--close-stdio") == 0) {
            close_stdio = 1;
            continue;
        }
        if (strcmp(arg, "--reload") == 0) {
            reload = 1;
            continue;
        }
        if (value == NULL) {
            fprintf(stderr, "embed_host: %s needs a value\n", arg);
            return 2;
        }
        i++;
        if (strcmp(arg, "--winsock") == 0)
            winsock_path = value;
        else if (strcmp(arg, "--provider") == 0)
            provider_path = value;
        else if (strcmp(arg, "--config") == 0)
            config = value;
        else if (strcmp(arg, "--guid") == 0 && nguids < MAX_GUIDS) {
            if (nspv2_parse_guid(value, &guids[nguids++]) != 0) {
                fprintf(stderr, "embed_host: bad GUID %s\n", value);
                return 2;
            }
        } else if (strcmp(arg, "--namespace") == 0)
            name_space = (DWORD)strtoul(value, NULL, 0);
        else if (strcmp(arg, "--blob") == 0) {
            free(install_blob.pBlobData);
            if (nspv2_parse_hex(value, &install_blob.pBlobData, &install_blob.cbSize) != 0) {
                fprintf(stderr, "embed_host: --blob %s is not hex\n", value);
                return 2;
            }
        }
        else if (strcmp(arg, "--lookup") == 0 && nnames < MAX_NAMES)
            names[nnames++] = value;
        else if (strcmp(arg, "--sessions") == 0)
            sessions_name = value;
        else if (strcmp(arg, "--threads") == 0)
            threads = atoi(value);
        else if (strcmp(arg, "--iterations") == 0)
            iterations = atoi(value);
        else {
            fprintf(stderr, "embed_host: unknown argument %s\n", arg);
            return 2;
        }
    }
    if (winsock_path == NULL || provider_path == NULL || nguids == 0) {
        fprintf(stderr, "embed_host: --winsock, --provider and --guid are required\n");
        return 2;
    }
    if (close_stdio) {
        quiet = 1;
        close(1);
        close(2);
    }

    void *winsock = dlopen(winsock_path, RTLD_NOW | RTLD_LOCAL);
    void *provider = dlopen(provider_path, RTLD_NOW | RTLD_LOCAL);
    if (winsock == NULL || provider == NULL) {
        if (!quiet)
            fprintf(stderr, "embed_host: dlopen: %s\n", dlerror());
        return 2;
    }
    const char *missing = nspv2_api_resolve(&api, winsock, NULL);
    if (missing != NULL || api.StandinClientCreate == NULL) {
        if (!quiet)
            fprintf(stderr, "embed_host: %s not found\n", missing ? missing : "the stand-in");
        return 2;
    }
    if (resolve_provider(provider) != 0)
        return 2;

    WSADATA data;
    if (api.WSAStartup(0x0202, &data) != 0)
        return 2;
    if (config != NULL && api.NSPv2SetConfigFile(config) != 0) {
        say("setconfigfile: error %d\n", api.WSAGetLastError());
        return 2;
    }
    int rc = advertise(guids, nguids, 1);
    if (rc != 0) {
        api.WSACleanup();
        return rc;
    }

    status |= lookup_all(threads > 0 ? reference : NULL);
    if (threads > 0) {
        pthread_t ids[64];
        long mismatches = 0;
        if (threads > 64)
            threads = 64;
        for (int t = 0; t < threads; t++)
            if (pthread_create(&ids[t], NULL, thread_main, NULL) != 0)
                return 2;
        for (int t = 0; t < threads; t++) {
            void *result;
            pthread_join(ids[t], &result);
            mismatches += (long)result;
        }
        say("threads %d x %d: mismatches %ld\n", threads, iterations, mismatches);
        if (mismatches)
            status |= 1;
        for (int i = 0; i < nnames; i++)
            free(reference[i]);
    }
    if (sessions_name != NULL)
        status |= sessions(sessions_name, guids, nguids);

    if (reload) {
        for (int i = 0; i < nguids; i++)
            api.WSAUnadvertiseProvider(&guids[i]);
        say("dlclose: %d\n", dlclose(provider));
        provider = dlopen(provider_path, RTLD_NOW | RTLD_LOCAL);
        if (provider == NULL || resolve_provider(provider) != 0)
            return 2;
        rc = advertise(guids, nguids, 0);
        if (rc != 0) {
            api.WSACleanup();
            return rc;
        }
        say("reloaded\n");
        status |= lookup_all(NULL);
    }

    DWORD violations = api.StandinViolationCount();
    say("violations %u\n", (unsigned)violations);
    for (DWORD i = 0; i < violations; i++) {
        char text[512];
        if (api.StandinGetViolation(i, text, sizeof text) == 0)
            say("violation: %s\n", text);
    }
    if (violations)
        status |= 4;
    for (int i = 0; i < nguids; i++)
        api.WSAUnadvertiseProvider(&guids[i]);
    if (api.WSACleanup() != 0)
        status |= 2;
    say("exit %d\n", status);
    return status;
}
