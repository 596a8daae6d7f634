/* What a host that loads Winsock and the provider library itself needs (the native host, the C
 * test hosts, the benchmark driver): the functions it finds at run time, in one table with one
 * resolver, and GUID and hex parsing, instead of a copy in each host. The functions' types are
 * the SDK's (ws2api.h, standin.h, provider.h), listed once below as X(return, name, parameters).
 * C only: cffi does not read this file. */
#ifndef NSPV2_WS2DYNAMIC_H
#define NSPV2_WS2DYNAMIC_H

#include "ws2types.h"
#include "standin.h"
#include "provider.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#  include <dlfcn.h>
#endif

#define NSPV2_WINSOCK_FUNCTIONS(X)                                                             \
    X(INT, WSAStartup, (WORD, LPWSADATA))                                                      \
    X(INT, WSACleanup, (void))                                                                 \
    X(INT, WSAGetLastError, (void))                                                            \
    X(VOID, WSASetLastError, (INT))                                                            \
    X(INT, WSAAdvertiseProvider, (const GUID *, LPCNSPV2_ROUTINE))                             \
    X(INT, WSAUnadvertiseProvider, (const GUID *))                                             \
    X(INT, WSCInstallNameSpaceEx, (LPWSTR, LPWSTR, DWORD, DWORD, LPGUID, LPBLOB))              \
    X(INT, WSCUnInstallNameSpace, (LPGUID))                                                    \
    X(INT, WSALookupServiceBeginW, (LPWSAQUERYSETW, DWORD, LPHANDLE))                          \
    X(INT, WSALookupServiceNextW, (HANDLE, DWORD, LPDWORD, LPWSAQUERYSETW))                    \
    X(INT, WSALookupServiceEnd, (HANDLE))                                                      \
    X(INT, WSASetServiceW, (LPWSAQUERYSETW, WSAESETSERVICEOP, DWORD))

/* The stand-in's test controls: absent from ws2_32, so optional (NULL when not found). */
#define NSPV2_STANDIN_FUNCTIONS(X)                                                             \
    X(INT, StandinClientCreate, (void))                                                        \
    X(INT, StandinClientAttach, (INT))                                                         \
    X(INT, StandinClientKill, (INT))                                                           \
    X(DWORD, StandinViolationCount, (void))                                                    \
    X(INT, StandinGetViolation, (DWORD, CHAR *, DWORD))

#define NSPV2_PROVIDER_FUNCTIONS(X)                                                            \
    X(INT, NSPv2GetRoutine, (const GUID *, NSPV2_ROUTINE *))                                   \
    X(INT, NSPv2SetConfigFile, (const CHAR *))                                                 \
    X(INT, NSPv2SetLogLevel, (const CHAR *))

#define NSPV2_API_FIELD(ret, name, params) ret(WINAPI *name) params;
struct nspv2_api {
    NSPV2_WINSOCK_FUNCTIONS(NSPV2_API_FIELD)
    NSPV2_STANDIN_FUNCTIONS(NSPV2_API_FIELD)
    NSPV2_PROVIDER_FUNCTIONS(NSPV2_API_FIELD)
};
#undef NSPV2_API_FIELD

/* A symbol of a loaded library as an object pointer (copied into a function pointer with
 * memcpy, which both POSIX and Windows allow). */
static inline void *nspv2_symbol(void *lib, const char *name)
{
#ifdef _WIN32
    FARPROC f = GetProcAddress((HMODULE)lib, name);
    void *p;
    memcpy(&p, &f, sizeof p);
    return p;
#else
    return dlsym(lib, name);
#endif
}

/* Fills the table's Winsock and stand-in part from `winsock` and its provider part from
 * `provider`; a NULL library leaves its part as it is. Returns NULL, or the name of the first
 * required function that is missing. */
static inline const char *nspv2_api_resolve(struct nspv2_api *api, void *winsock, void *provider)
{
#define NSPV2_API_GET(lib, name, required)                                                     \
    if (lib != NULL) {                                                                         \
        void *p_ = nspv2_symbol(lib, #name);                                                   \
        if (p_ == NULL && (required))                                                          \
            return #name;                                                                      \
        memcpy(&api->name, &p_, sizeof p_);                                                    \
    }
#define NSPV2_API_WINSOCK(ret, name, params) NSPV2_API_GET(winsock, name, 1)
#define NSPV2_API_STANDIN(ret, name, params) NSPV2_API_GET(winsock, name, 0)
#define NSPV2_API_PROVIDER(ret, name, params) NSPV2_API_GET(provider, name, 1)
    NSPV2_WINSOCK_FUNCTIONS(NSPV2_API_WINSOCK)
    NSPV2_STANDIN_FUNCTIONS(NSPV2_API_STANDIN)
    NSPV2_PROVIDER_FUNCTIONS(NSPV2_API_PROVIDER)
#undef NSPV2_API_WINSOCK
#undef NSPV2_API_STANDIN
#undef NSPV2_API_PROVIDER
#undef NSPV2_API_GET
    return NULL;
}

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", braces allowed: 0, or -1 if it is not a GUID. */
static inline int nspv2_parse_guid(const char *text, GUID *out)
{
    unsigned int d[11];
    const char *s = text[0] == '{' ? text + 1 : text;
    if (strlen(s) < 36 ||
        sscanf(s, "%8x-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &d[0], &d[1], &d[2], &d[3], &d[4],
               &d[5], &d[6], &d[7], &d[8], &d[9], &d[10]) != 11)
        return -1;
    out->Data1 = d[0];
    out->Data2 = (uint16_t)d[1];
    out->Data3 = (uint16_t)d[2];
    for (int i = 0; i < 8; i++)
        out->Data4[i] = (uint8_t)d[3 + i];
    return 0;
}

/* Hex digits (a provider-specific catalog blob given on a command line) to bytes: 0 with *out
 * malloc'd (NULL for ""), or -1 if `hex` is not an even number of hex digits. */
static inline int nspv2_parse_hex(const char *hex, BYTE **out, ULONG *length)
{
    size_t n = strlen(hex);
    *out = NULL;
    *length = 0;
    if (n % 2 != 0 || n / 2 > 0xFFFFFFFFu)
        return -1;
    if (n == 0)
        return 0;
    BYTE *bytes = (BYTE *)malloc(n / 2);
    if (bytes == NULL)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        char pair[3] = {hex[2 * i], hex[2 * i + 1], 0};
        if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1])) {
            free(bytes);
            return -1;
        }
        bytes[i] = (BYTE)strtoul(pair, NULL, 16);
    }
    *out = bytes;
    *length = (ULONG)(n / 2);
    return 0;
}

#endif /* NSPV2_WS2DYNAMIC_H */
