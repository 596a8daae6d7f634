/* The namespace provider catalog (WSCInstallNameSpaceEx and friends). Why a file: on Windows the
 * catalog lives in the registry, so an installer process and a host process see the same one.
 * Here it lives in memory, and when NSPV2_STANDIN_CATALOG names a file it is loaded from that
 * file at first use and the file is rewritten (write a temporary, rename) after every change,
 * after re-reading it so concurrent installers do not undo each other. Format, one entry a line:
 *     ns {GUID} <dwNameSpace> <dwVersion> <fEnabled 0|1> <identifier> <path> <blob>
 * identifier and path are UTF-16 code units as 4 hex digits each, blob is hex bytes, an empty
 * field is "-". Lines that do not parse are ignored: a damaged file must never stop a process.
 * Reinstalling an installed GUID fails with WSANO_RECOVERY, the code WSCInstallNameSpaceEx's page
 * gives for "the provider is already installed" (uninstall first); unknown GUIDs for uninstall
 * and enable fail with WSAEINVAL. An NS_EMAIL provider's blob is its NAPI_PROVIDER_INSTALLATION_
 * BLOB, which routing reads (napi.c): one that cannot be walked is refused with WSAEINVAL, as the
 * page says of invalid arguments. An NS_EMAIL provider may be installed with no blob at all (the
 * page makes the blob optional); it claims no domain and no wildcard, so routing never calls it
 * (providers.c says why). The catalog outlives WSACleanup, like the registry does. */
#include "standin_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef _WIN32
/* msvcrt has no getline: the same contract over fgets (lines never contain NUL here). */
static long getline(char **line, size_t *capacity, FILE *f)
{
    size_t used = 0;
    for (;;) {
        if (*capacity - used < 2) {
            size_t grown = *capacity ? *capacity * 2 : 256;
            char *bigger = realloc(*line, grown);
            if (bigger == NULL)
                return -1;
            *line = bigger;
            *capacity = grown;
        }
        if (fgets(*line + used, (int)(*capacity - used), f) == NULL)
            return used ? (long)used : -1;
        used += strlen(*line + used);
        if ((*line)[used - 1] == '\n')
            return (long)used;
    }
}
#endif

static struct catalog_entry *g_catalog;
static bool g_loaded;
static char *g_catalog_file;

static size_t wide_length(const WCHAR *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static WCHAR *wide_duplicate(const WCHAR *s, size_t n)
{
    WCHAR *copy = malloc((n + 1) * sizeof(WCHAR));
    if (copy) {
        memcpy(copy, s, n * sizeof(WCHAR));
        copy[n] = 0;
    }
    return copy;
}

static void entry_free(struct catalog_entry *e)
{
    if (e) {
        free(e->identifier);
        free(e->path);
        free(e->blob);
        free(e);
    }
}

static void catalog_clear(void)
{
    while (g_catalog) {
        struct catalog_entry *next = g_catalog->next;
        entry_free(g_catalog);
        g_catalog = next;
    }
}

static struct catalog_entry *catalog_find(const GUID *guid, struct catalog_entry ***link)
{
    struct catalog_entry **l = &g_catalog;
    for (; *l; l = &(*l)->next)
        if (memcmp(&(*l)->guid, guid, sizeof(GUID)) == 0) {
            if (link)
                *link = l;
            return *l;
        }
    return NULL;
}

bool catalog_contains(const GUID *guid)
{
    catalog_first();
    return catalog_find(guid, NULL) != NULL;
}

static void catalog_append(struct catalog_entry *e)
{
    struct catalog_entry **l = &g_catalog;
    while (*l)
        l = &(*l)->next;
    e->next = NULL;
    *l = e;
}

/* ---- the file ---- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool parse_hex(const char *s, size_t digits, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < digits; i++) {
        int d = hex_digit(s[i]);
        if (d < 0)
            return false;
        v = (v << 4) | (uint64_t)d;
    }
    *out = v;
    return true;
}

static bool parse_guid(const char *s, GUID *g)
{
    uint64_t v;
    if (strlen(s) != 38 || s[0] != '{' || s[9] != '-' || s[14] != '-' || s[19] != '-' ||
        s[24] != '-' || s[37] != '}')
        return false;
    if (!parse_hex(s + 1, 8, &v))
        return false;
    g->Data1 = (uint32_t)v;
    if (!parse_hex(s + 10, 4, &v))
        return false;
    g->Data2 = (uint16_t)v;
    if (!parse_hex(s + 15, 4, &v))
        return false;
    g->Data3 = (uint16_t)v;
    for (int i = 0; i < 8; i++) {
        if (!parse_hex(s + (i < 2 ? 20 + 2 * i : 25 + 2 * (i - 2)), 2, &v))
            return false;
        g->Data4[i] = (uint8_t)v;
    }
    return true;
}

static bool parse_dword(const char *s, DWORD *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v > 0xFFFFFFFFull)
        return false;
    *out = (DWORD)v;
    return true;
}

static bool parse_wide(const char *s, WCHAR **out)
{
    size_t len = strcmp(s, "-") == 0 ? 0 : strlen(s);
    if (len % 4 != 0)
        return false;
    WCHAR *w = malloc((len / 4 + 1) * sizeof(WCHAR));
    if (w == NULL)
        return false;
    for (size_t i = 0; i < len / 4; i++) {
        uint64_t v;
        if (!parse_hex(s + 4 * i, 4, &v) || v == 0) {
            free(w);
            return false;
        }
        w[i] = (WCHAR)v;
    }
    w[len / 4] = 0;
    *out = w;
    return true;
}

static bool parse_blob(const char *s, BYTE **out, ULONG *length)
{
    size_t len = strcmp(s, "-") == 0 ? 0 : strlen(s);
    *out = NULL;
    *length = 0;
    if (len % 2 != 0 || len / 2 > 0xFFFFFFFFu)
        return false;
    if (len == 0)
        return true;
    BYTE *b = malloc(len / 2);
    if (b == NULL)
        return false;
    for (size_t i = 0; i < len / 2; i++) {
        uint64_t v;
        if (!parse_hex(s + 2 * i, 2, &v)) {
            free(b);
            return false;
        }
        b[i] = (BYTE)v;
    }
    *out = b;
    *length = (ULONG)(len / 2);
    return true;
}

static struct catalog_entry *parse_line(char *line)
{
    char *fields[9], *save = NULL;
    int n = 0;
    for (char *tok = strtok_r(line, " \t\r\n", &save); tok && n < 9;
         tok = strtok_r(NULL, " \t\r\n", &save))
        fields[n++] = tok;
    if (n != 8 || strcmp(fields[0], "ns") != 0)
        return NULL;
    struct catalog_entry *e = calloc(1, sizeof *e);
    DWORD enabled;
    if (e == NULL || !parse_guid(fields[1], &e->guid) || !parse_dword(fields[2], &e->name_space) ||
        !parse_dword(fields[3], &e->version) || !parse_dword(fields[4], &enabled) || enabled > 1 ||
        !parse_wide(fields[5], &e->identifier) || !parse_wide(fields[6], &e->path) ||
        !parse_blob(fields[7], &e->blob, &e->blob_length)) {
        entry_free(e);
        return NULL;
    }
    e->enabled = (BOOL)enabled;
    return e;
}

static void catalog_read_file(void)
{
    catalog_clear();
    FILE *f = fopen(g_catalog_file, "r");
    if (f == NULL)
        return;
    char *line = NULL;
    size_t capacity = 0;
    while (getline(&line, &capacity, f) >= 0) {
        struct catalog_entry *e = parse_line(line);
        if (e && catalog_find(&e->guid, NULL) == NULL)
            catalog_append(e);
        else
            entry_free(e);
    }
    free(line);
    fclose(f);
}

static void write_wide(FILE *f, const WCHAR *s)
{
    if (s == NULL || *s == 0) {
        fputs(" -", f);
        return;
    }
    fputc(' ', f);
    for (; *s; s++)
        fprintf(f, "%04X", (unsigned)*s);
}

static void catalog_write_file(void)
{
    size_t n = strlen(g_catalog_file) + 32;
    char *temp = malloc(n);
    if (temp == NULL)
        return;
    snprintf(temp, n, "%s.tmp.%ld", g_catalog_file, (long)getpid());
    FILE *f = fopen(temp, "w");
    bool ok = f != NULL;
    if (f) {
        fputs("# nspv2 Winsock stand-in catalog: ns {GUID} namespace version enabled "
              "identifier(UTF-16 hex) path(UTF-16 hex) blob(hex)\n", f);
        for (struct catalog_entry *e = g_catalog; e; e = e->next) {
            char guid[39];
            standin_guid_text(&e->guid, guid);
            fprintf(f, "ns %s %u %u %d", guid, (unsigned)e->name_space, (unsigned)e->version,
                    e->enabled ? 1 : 0);
            write_wide(f, e->identifier);
            write_wide(f, e->path);
            fputc(' ', f);
            if (e->blob_length == 0)
                fputc('-', f);
            for (ULONG i = 0; i < e->blob_length; i++)
                fprintf(f, "%02X", e->blob[i]);
            fputc('\n', f);
        }
        ok = fclose(f) == 0 && ok;
    }
#ifdef _WIN32
    /* rename() will not replace an existing file on Windows. */
    if (!ok || !MoveFileExA(temp, g_catalog_file, MOVEFILE_REPLACE_EXISTING)) {
#else
    if (!ok || rename(temp, g_catalog_file) != 0) {
#endif
        fprintf(stderr, "ws2standin: cannot write the catalog file %s\n", g_catalog_file);
        remove(temp);
    }
    free(temp);
}

struct catalog_entry *catalog_first(void)
{
    if (!g_loaded) {
        g_loaded = true;
        /* Unset: the catalog file of the runtime folder, shared by this user's processes
         * (shared_catalog.c); set but empty: this process's own, in memory. */
        const char *file = getenv("NSPV2_STANDIN_CATALOG");
        g_catalog_file = file ? (*file ? strdup(file) : NULL) : standin_default_catalog();
        if (g_catalog_file)
            catalog_read_file();
        if (g_catalog_file)
            (void)standin_catalog_changed(g_catalog_file);
    } else if (g_catalog_file && standin_catalog_changed(g_catalog_file)) {
        catalog_read_file();     /* another process changed it */
    }
    return g_catalog;
}

/* A change starts from what other processes may have written since. */
static void catalog_begin_change(void)
{
    catalog_first();
    if (g_catalog_file)
        catalog_read_file();
}

static void catalog_end_change(void)
{
    if (g_catalog_file)
        catalog_write_file();
}

/* ---- the ws2_32 functions ---- */

STANDIN_EXPORT INT WINAPI WSCInstallNameSpaceEx(LPWSTR lpszIdentifier, LPWSTR lpszPathName,
                                                DWORD dwNameSpace, DWORD dwVersion,
                                                LPGUID lpProviderId, LPBLOB lpProviderSpecific)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (lpszIdentifier == NULL || lpszPathName == NULL || lpProviderId == NULL)
        return standin_fail(WSAEINVAL);
    if (lpProviderSpecific && lpProviderSpecific->cbSize && !lpProviderSpecific->pBlobData)
        return standin_fail(WSAEINVAL);
    struct napi_claim claim;
    if (dwNameSpace == NS_EMAIL && lpProviderSpecific && lpProviderSpecific->cbSize &&
        !napi_blob_read(lpProviderSpecific->pBlobData, lpProviderSpecific->cbSize, NULL, 0,
                        &claim))
        return standin_fail(WSAEINVAL);

    struct catalog_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    e->guid = *lpProviderId;
    e->name_space = dwNameSpace;
    e->version = dwVersion;
    e->enabled = 1;
    e->identifier = wide_duplicate(lpszIdentifier, wide_length(lpszIdentifier));
    e->path = wide_duplicate(lpszPathName, wide_length(lpszPathName));
    if (lpProviderSpecific && lpProviderSpecific->cbSize) {
        e->blob = malloc(lpProviderSpecific->cbSize);
        if (e->blob) {
            memcpy(e->blob, lpProviderSpecific->pBlobData, lpProviderSpecific->cbSize);
            e->blob_length = lpProviderSpecific->cbSize;
        }
    }
    if (!e->identifier || !e->path || (lpProviderSpecific && lpProviderSpecific->cbSize && !e->blob)) {
        entry_free(e);
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    }

    standin_lock();
    catalog_begin_change();
    if (catalog_find(&e->guid, NULL)) {
        standin_unlock();
        entry_free(e);
        return standin_fail(WSANO_RECOVERY);
    }
    catalog_append(e);
    catalog_end_change();
    standin_unlock();
    return NO_ERROR;
}

STANDIN_EXPORT INT WINAPI WSCUnInstallNameSpace(LPGUID lpProviderId)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (lpProviderId == NULL)
        return standin_fail(WSAEINVAL);
    standin_lock();
    catalog_begin_change();
    struct catalog_entry **link;
    struct catalog_entry *e = catalog_find(lpProviderId, &link);
    if (e == NULL) {
        standin_unlock();
        return standin_fail(WSAEINVAL);
    }
    *link = e->next;
    entry_free(e);
    catalog_end_change();
    standin_unlock();
    return NO_ERROR;
}

STANDIN_EXPORT INT WINAPI WSCEnableNSProvider(LPGUID lpProviderId, BOOL fEnable)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (lpProviderId == NULL)
        return standin_fail(WSAEINVAL);
    standin_lock();
    catalog_begin_change();
    struct catalog_entry *e = catalog_find(lpProviderId, NULL);
    if (e == NULL) {
        standin_unlock();
        return standin_fail(WSAEINVAL);
    }
    e->enabled = fEnable ? 1 : 0;
    catalog_end_change();
    standin_unlock();
    return NO_ERROR;
}

static size_t round_up(size_t n) { return (n + 7u) & ~(size_t)7u; }

STANDIN_EXPORT INT WINAPI WSAEnumNameSpaceProvidersExW(LPDWORD lpdwBufferLength,
                                                       LPWSANAMESPACE_INFOEXW lpnspBuffer)
{
    if (standin_check_started() != NO_ERROR)
        return SOCKET_ERROR;
    if (lpdwBufferLength == NULL || (lpnspBuffer == NULL && *lpdwBufferLength > 0) ||
        (uintptr_t)lpnspBuffer % sizeof(void *) != 0)
        return standin_fail(WSAEFAULT);

    standin_lock();
    size_t count = 0, required = 0;
    for (struct catalog_entry *e = catalog_first(); e; e = e->next) {
        count++;
        required += sizeof(WSANAMESPACE_INFOEXW) + round_up((wide_length(e->identifier) + 1) * 2) +
                    round_up(e->blob_length);
    }
    if (required > 0xFFFFFFFFu || count > 0x7FFFFFFF) {
        standin_unlock();
        return standin_fail(WSA_NOT_ENOUGH_MEMORY);
    }
    if (required > *lpdwBufferLength) {
        *lpdwBufferLength = (DWORD)required;
        standin_unlock();
        return standin_fail(WSAEFAULT);
    }
    BYTE *tail = (BYTE *)(lpnspBuffer + count);
    size_t i = 0;
    for (struct catalog_entry *e = g_catalog; e; e = e->next, i++) {
        WSANAMESPACE_INFOEXW *info = &lpnspBuffer[i];
        memset(info, 0, sizeof *info);
        info->NSProviderId = e->guid;
        info->dwNameSpace = e->name_space;
        info->fActive = e->enabled ? 1 : 0;
        info->dwVersion = e->version;
        size_t bytes = (wide_length(e->identifier) + 1) * 2;
        memcpy(tail, e->identifier, bytes);
        info->lpszIdentifier = (LPWSTR)(void *)tail;
        tail += round_up(bytes);
        info->ProviderSpecific.cbSize = e->blob_length;
        if (e->blob_length) {
            memcpy(tail, e->blob, e->blob_length);
            info->ProviderSpecific.pBlobData = tail;
            tail += round_up(e->blob_length);
        }
    }
    standin_unlock();
    return (INT)count;
}
