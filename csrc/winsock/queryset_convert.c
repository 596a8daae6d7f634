/* Query set conversions between the client's WSAQUERYSETW and the provider's WSAQUERYSET2W.
 * Why a deep copy into one block for the provider: Winsock marshals the restrictions to the host
 * process, so a provider never sees client memory; the block is poisoned (0xDD) and freed as
 * soon as the call returns, so a provider that keeps pointers into it is caught at once.
 * Why the result is checked field by field: a provider packs its result itself, and everything it
 * points to must lie inside the buffer it was given (Winsock copies exactly that buffer back).
 * The repack to the client shifts the data behind the 112-byte WSAQUERYSET2W by 8 bytes to make
 * room for the 120-byte WSAQUERYSETW; this keeps every object's alignment (the buffer is 16-byte
 * aligned) and always fits, since the client buffer is 8 bytes longer than the provider's. */
#include "standin_internal.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

static size_t round8(size_t n) { return (n + 7u) & ~(size_t)7u; }

static size_t wide_bytes(const WCHAR *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return (n + 1) * sizeof(WCHAR);
}

INT queryset_validate_client(const WSAQUERYSETW *qs)
{
    if (qs->dwSize != sizeof(WSAQUERYSETW))
        return WSAEINVAL;
    if (qs->dwNumberOfProtocols && qs->lpafpProtocols == NULL)
        return WSAEINVAL;
    if (qs->dwNumberOfCsAddrs && qs->lpcsaBuffer == NULL)
        return WSAEINVAL;
    for (DWORD i = 0; i < qs->dwNumberOfCsAddrs; i++) {
        const CSADDR_INFO *c = &qs->lpcsaBuffer[i];
        if (c->LocalAddr.iSockaddrLength < 0 || c->RemoteAddr.iSockaddrLength < 0 ||
            (c->LocalAddr.iSockaddrLength && !c->LocalAddr.lpSockaddr) ||
            (c->RemoteAddr.iSockaddrLength && !c->RemoteAddr.lpSockaddr))
            return WSAEINVAL;
    }
    if (qs->lpBlob && qs->lpBlob->cbSize && qs->lpBlob->pBlobData == NULL)
        return WSAEINVAL;
    return NO_ERROR;
}

struct packer {
    BYTE *base, *cursor;
};

static void *pack(struct packer *pk, const void *source, size_t bytes)
{
    void *at = pk->cursor;
    memcpy(at, source, bytes);
    pk->cursor += round8(bytes);
    return at;
}

static LPWSTR pack_wide(struct packer *pk, const WCHAR *s)
{
    return s ? pack(pk, s, wide_bytes(s)) : NULL;
}

static size_t sockaddr_size(const SOCKET_ADDRESS *a)
{
    return (a->lpSockaddr && a->iSockaddrLength > 0) ? round8((size_t)a->iSockaddrLength) : 0;
}

static void pack_sockaddr(struct packer *pk, SOCKET_ADDRESS *a)
{
    if (a->lpSockaddr && a->iSockaddrLength > 0)
        a->lpSockaddr = pack(pk, a->lpSockaddr, (size_t)a->iSockaddrLength);
    else
        a->lpSockaddr = NULL;
}

WSAQUERYSET2W *queryset_to_provider(const WSAQUERYSETW *qs, size_t *block_size, INT *error)
{
    size_t size = round8(sizeof(WSAQUERYSET2W));
    const LPWSTR strings[] = {qs->lpszServiceInstanceName, qs->lpszComment, qs->lpszContext,
                              qs->lpszQueryString};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (strings[i])
            size += round8(wide_bytes(strings[i]));
    if (qs->lpVersion)
        size += round8(sizeof(WSAVERSION));
    if (qs->lpNSProviderId)
        size += round8(sizeof(GUID));
    size += round8((size_t)qs->dwNumberOfProtocols * sizeof(AFPROTOCOLS));
    size += round8((size_t)qs->dwNumberOfCsAddrs * sizeof(CSADDR_INFO));
    for (DWORD i = 0; i < qs->dwNumberOfCsAddrs; i++)
        size += sockaddr_size(&qs->lpcsaBuffer[i].LocalAddr) +
                sockaddr_size(&qs->lpcsaBuffer[i].RemoteAddr);
    if (qs->lpBlob)
        size += round8(sizeof(BLOB)) + round8(qs->lpBlob->cbSize);

    BYTE *block = malloc(size);
    if (block == NULL) {
        *error = WSA_NOT_ENOUGH_MEMORY;
        return NULL;
    }
    memset(block, 0, size);
    struct packer pk = {block, block + round8(sizeof(WSAQUERYSET2W))};
    WSAQUERYSET2W *out = (WSAQUERYSET2W *)(void *)block;
    out->dwSize = sizeof(WSAQUERYSET2W);
    out->lpszServiceInstanceName = pack_wide(&pk, qs->lpszServiceInstanceName);
    out->lpVersion = qs->lpVersion ? pack(&pk, qs->lpVersion, sizeof(WSAVERSION)) : NULL;
    out->lpszComment = pack_wide(&pk, qs->lpszComment);
    out->dwNameSpace = qs->dwNameSpace;
    out->lpNSProviderId = qs->lpNSProviderId ? pack(&pk, qs->lpNSProviderId, sizeof(GUID)) : NULL;
    out->lpszContext = pack_wide(&pk, qs->lpszContext);
    out->dwNumberOfProtocols = qs->dwNumberOfProtocols;
    out->lpafpProtocols = qs->dwNumberOfProtocols
        ? pack(&pk, qs->lpafpProtocols, qs->dwNumberOfProtocols * sizeof(AFPROTOCOLS))
        : NULL;
    out->lpszQueryString = pack_wide(&pk, qs->lpszQueryString);
    out->dwNumberOfCsAddrs = qs->dwNumberOfCsAddrs;
    if (qs->dwNumberOfCsAddrs) {
        out->lpcsaBuffer = pack(&pk, qs->lpcsaBuffer, qs->dwNumberOfCsAddrs * sizeof(CSADDR_INFO));
        for (DWORD i = 0; i < qs->dwNumberOfCsAddrs; i++) {
            pack_sockaddr(&pk, &out->lpcsaBuffer[i].LocalAddr);
            pack_sockaddr(&pk, &out->lpcsaBuffer[i].RemoteAddr);
        }
    }
    out->dwOutputFlags = qs->dwOutputFlags;
    if (qs->lpBlob) {
        out->lpBlob = pack(&pk, qs->lpBlob, sizeof(BLOB));
        out->lpBlob->pBlobData = qs->lpBlob->cbSize
            ? pack(&pk, qs->lpBlob->pBlobData, qs->lpBlob->cbSize)
            : NULL;
    }
    *block_size = size;
    return out;
}

void queryset_client_view(const WSAQUERYSET2W *qs2, WSAQUERYSETW *view)
{
    memset(view, 0, sizeof *view);
    view->dwSize = sizeof(WSAQUERYSETW);
    view->lpszServiceInstanceName = qs2->lpszServiceInstanceName;
    view->lpVersion = qs2->lpVersion;
    view->lpszComment = qs2->lpszComment;
    view->dwNameSpace = qs2->dwNameSpace;
    view->lpNSProviderId = qs2->lpNSProviderId;
    view->lpszContext = qs2->lpszContext;
    view->dwNumberOfProtocols = qs2->dwNumberOfProtocols;
    view->lpafpProtocols = qs2->lpafpProtocols;
    view->lpszQueryString = qs2->lpszQueryString;
    view->dwNumberOfCsAddrs = qs2->dwNumberOfCsAddrs;
    view->lpcsaBuffer = qs2->lpcsaBuffer;
    view->dwOutputFlags = qs2->dwOutputFlags;
    view->lpBlob = qs2->lpBlob;
}

void queryset_poison_free(void *block, size_t block_size)
{
    if (block) {
        memset(block, 0xDD, block_size);
        free(block);
    }
}

/* ---- checking a provider's result ---- */

struct checker {
    const GUID *provider;
    const BYTE *buffer;
    size_t length, extent;
    bool ok;
};

static bool check_object(struct checker *ck, const void *pointer, size_t bytes, size_t alignment,
                         const char *what)
{
    uintptr_t p = (uintptr_t)pointer, start = (uintptr_t)ck->buffer;
    if (p < start || p - start > ck->length || bytes > ck->length - (p - start)) {
        standin_violation(ck->provider, "%s points outside the result buffer", what);
        ck->ok = false;
        return false;
    }
    if (p - start < sizeof(WSAQUERYSET2W)) {
        standin_violation(ck->provider, "%s points into the WSAQUERYSET2W itself", what);
        ck->ok = false;
        return false;
    }
    if (p % alignment != 0) {
        standin_violation(ck->provider, "%s is not aligned to %zu bytes", what, alignment);
        ck->ok = false;
        return false;
    }
    if (p - start + bytes > ck->extent)
        ck->extent = p - start + bytes;
    return true;
}

static void check_string(struct checker *ck, const WCHAR *s, const char *what)
{
    if (s == NULL || !check_object(ck, s, sizeof(WCHAR), alignof(WCHAR), what))
        return;
    size_t offset = (size_t)((const BYTE *)s - ck->buffer);
    for (size_t at = offset; at + sizeof(WCHAR) <= ck->length; at += sizeof(WCHAR)) {
        WCHAR c;
        memcpy(&c, ck->buffer + at, sizeof c);
        if (c == 0) {
            if (at + sizeof(WCHAR) > ck->extent)
                ck->extent = at + sizeof(WCHAR);
            return;
        }
    }
    standin_violation(ck->provider, "%s has no terminating 0 inside the result buffer", what);
    ck->ok = false;
}

static void check_sockaddr(struct checker *ck, const SOCKET_ADDRESS *a, const char *what)
{
    if (a->iSockaddrLength < 0) {
        standin_violation(ck->provider, "%s.iSockaddrLength is negative", what);
        ck->ok = false;
        return;
    }
    if (a->lpSockaddr == NULL) {
        if (a->iSockaddrLength > 0) {
            standin_violation(ck->provider, "%s has a length but a NULL lpSockaddr", what);
            ck->ok = false;
        }
        return;
    }
    check_object(ck, a->lpSockaddr, (size_t)a->iSockaddrLength, alignof(USHORT), what);
}

bool queryset_check_result(const GUID *provider, const BYTE *buffer, size_t length,
                           size_t *extent)
{
    struct checker ck = {provider, buffer, length, sizeof(WSAQUERYSET2W), true};
    if (length < sizeof(WSAQUERYSET2W)) {
        standin_violation(provider,
                          "completed with NO_ERROR into a %zu-byte buffer, too small for a "
                          "WSAQUERYSET2W (it must complete with WSAEFAULT and the required length)",
                          length);
        return false;
    }
    const WSAQUERYSET2W *r = (const WSAQUERYSET2W *)(const void *)buffer;
    if (r->dwSize != sizeof(WSAQUERYSET2W)) {
        standin_violation(provider, "result dwSize is %u, not sizeof(WSAQUERYSET2W) = %zu",
                          (unsigned)r->dwSize, sizeof(WSAQUERYSET2W));
        return false;
    }
    check_string(&ck, r->lpszServiceInstanceName, "lpszServiceInstanceName");
    if (r->lpVersion)
        check_object(&ck, r->lpVersion, sizeof(WSAVERSION), alignof(WSAVERSION), "lpVersion");
    check_string(&ck, r->lpszComment, "lpszComment");
    if (r->lpNSProviderId)
        check_object(&ck, r->lpNSProviderId, sizeof(GUID), alignof(GUID), "lpNSProviderId");
    check_string(&ck, r->lpszContext, "lpszContext");
    if (r->dwNumberOfProtocols && r->lpafpProtocols == NULL) {
        standin_violation(provider, "dwNumberOfProtocols is %u but lpafpProtocols is NULL",
                          (unsigned)r->dwNumberOfProtocols);
        ck.ok = false;
    } else if (r->lpafpProtocols) {
        check_object(&ck, r->lpafpProtocols, (size_t)r->dwNumberOfProtocols * sizeof(AFPROTOCOLS),
                     alignof(AFPROTOCOLS), "lpafpProtocols");
    }
    check_string(&ck, r->lpszQueryString, "lpszQueryString");
    if (r->dwNumberOfCsAddrs && r->lpcsaBuffer == NULL) {
        standin_violation(provider, "dwNumberOfCsAddrs is %u but lpcsaBuffer is NULL",
                          (unsigned)r->dwNumberOfCsAddrs);
        ck.ok = false;
    } else if (r->lpcsaBuffer &&
               check_object(&ck, r->lpcsaBuffer, (size_t)r->dwNumberOfCsAddrs * sizeof(CSADDR_INFO),
                            alignof(CSADDR_INFO), "lpcsaBuffer")) {
        for (DWORD i = 0; i < r->dwNumberOfCsAddrs; i++) {
            check_sockaddr(&ck, &r->lpcsaBuffer[i].LocalAddr, "lpcsaBuffer[].LocalAddr");
            check_sockaddr(&ck, &r->lpcsaBuffer[i].RemoteAddr, "lpcsaBuffer[].RemoteAddr");
        }
    }
    if (r->lpBlob && check_object(&ck, r->lpBlob, sizeof(BLOB), alignof(BLOB), "lpBlob")) {
        if (r->lpBlob->cbSize && r->lpBlob->pBlobData == NULL) {
            standin_violation(provider, "lpBlob->cbSize is %u but pBlobData is NULL",
                              (unsigned)r->lpBlob->cbSize);
            ck.ok = false;
        } else if (r->lpBlob->pBlobData) {
            check_object(&ck, r->lpBlob->pBlobData, r->lpBlob->cbSize, 1, "lpBlob->pBlobData");
        }
    }
    *extent = ck.extent;
    return ck.ok;
}

void queryset_result_to_client(const WSAQUERYSET2W *r, size_t extent, WSAQUERYSETW *out)
{
    const BYTE *from = (const BYTE *)r;
    BYTE *to = (BYTE *)out;
    const ptrdiff_t shift = (ptrdiff_t)(sizeof(WSAQUERYSETW) - sizeof(WSAQUERYSET2W));
#define MOVED(type, p) ((p) ? (type)(void *)(to + ((const BYTE *)(p) - from) + shift) : (type)NULL)
    memcpy(to + sizeof(WSAQUERYSETW), from + sizeof(WSAQUERYSET2W),
           extent - sizeof(WSAQUERYSET2W));
    WSAQUERYSETW q;
    memset(&q, 0, sizeof q);
    q.dwSize = sizeof(WSAQUERYSETW);
    q.lpszServiceInstanceName = MOVED(LPWSTR, r->lpszServiceInstanceName);
    q.lpServiceClassId = NULL;
    q.lpVersion = MOVED(LPWSAVERSION, r->lpVersion);
    q.lpszComment = MOVED(LPWSTR, r->lpszComment);
    q.dwNameSpace = r->dwNameSpace;
    q.lpNSProviderId = MOVED(LPGUID, r->lpNSProviderId);
    q.lpszContext = MOVED(LPWSTR, r->lpszContext);
    q.dwNumberOfProtocols = r->dwNumberOfProtocols;
    q.lpafpProtocols = MOVED(LPAFPROTOCOLS, r->lpafpProtocols);
    q.lpszQueryString = MOVED(LPWSTR, r->lpszQueryString);
    q.dwNumberOfCsAddrs = r->dwNumberOfCsAddrs;
    q.lpcsaBuffer = MOVED(LPCSADDR_INFO, r->lpcsaBuffer);
    q.dwOutputFlags = r->dwOutputFlags;
    q.lpBlob = MOVED(LPBLOB, r->lpBlob);
    for (DWORD i = 0; q.lpcsaBuffer && i < q.dwNumberOfCsAddrs; i++) {
        q.lpcsaBuffer[i].LocalAddr.lpSockaddr =
            MOVED(LPSOCKADDR, r->lpcsaBuffer[i].LocalAddr.lpSockaddr);
        q.lpcsaBuffer[i].RemoteAddr.lpSockaddr =
            MOVED(LPSOCKADDR, r->lpcsaBuffer[i].RemoteAddr.lpSockaddr);
    }
    if (q.lpBlob)
        q.lpBlob->pBlobData = MOVED(BYTE *, r->lpBlob->pBlobData);
#undef MOVED
    memcpy(out, &q, sizeof q);
}
