/* Validating restrictions and packing results, in C: the hot path of every NextEx, and the code
 * the fuzz harness exercises. The packing rules are the contract's (docs/contract.md): one
 * contiguous block, pointer-aligned pieces, absolute pointers, exact required size. */
#include "queryset.h"
#include "queryset_decls.h"

#include <string.h>

#define ALIGN_PTR(n) (((n) + (sizeof(void *) - 1)) & ~(size_t)(sizeof(void *) - 1))

size_t nspv2_wcsnlen(const WCHAR *s, size_t max)
{
    size_t n = 0;
    if (s == NULL)
        return 0;
    while (n <= max && s[n] != 0)
        n++;
    return n;
}

static int string_ok(const WCHAR *s)
{
    return s == NULL || nspv2_wcsnlen(s, NSPV2_MAX_STRING_CHARS) <= NSPV2_MAX_STRING_CHARS;
}

static int sockaddr_ok(const SOCKET_ADDRESS *sa)
{
    if (sa->iSockaddrLength < 0 || sa->iSockaddrLength > NSPV2_MAX_SOCKADDR)
        return 0;
    return sa->iSockaddrLength == 0 || sa->lpSockaddr != NULL;
}

INT nspv2_queryset_validate(const WSAQUERYSET2W *qs)
{
    if (qs == NULL || qs->dwSize != sizeof(WSAQUERYSET2W))
        return WSAEINVAL;
    if (!string_ok(qs->lpszServiceInstanceName) || !string_ok(qs->lpszComment) ||
        !string_ok(qs->lpszContext) || !string_ok(qs->lpszQueryString))
        return WSAEINVAL;
    if (qs->dwNumberOfProtocols > NSPV2_MAX_PROTOCOLS ||
        (qs->dwNumberOfProtocols > 0 && qs->lpafpProtocols == NULL))
        return WSAEINVAL;
    if (qs->dwNumberOfCsAddrs > NSPV2_MAX_CSADDRS ||
        (qs->dwNumberOfCsAddrs > 0 && qs->lpcsaBuffer == NULL))
        return WSAEINVAL;
    for (DWORD i = 0; i < qs->dwNumberOfCsAddrs; i++) {
        if (!sockaddr_ok(&qs->lpcsaBuffer[i].LocalAddr) ||
            !sockaddr_ok(&qs->lpcsaBuffer[i].RemoteAddr))
            return WSAEINVAL;
    }
    if (qs->lpBlob != NULL && (qs->lpBlob->cbSize > NSPV2_MAX_BLOB ||
                               (qs->lpBlob->cbSize > 0 && qs->lpBlob->pBlobData == NULL)))
        return WSAEINVAL;
    return NO_ERROR;
}

/* What of src goes into the result under returnFlags. */
struct selection {
    const WCHAR *name, *comment, *context, *query;
    const WSAVERSION *version;
    const GUID *provider;
    const AFPROTOCOLS *protocols;
    DWORD nprotocols;
    const CSADDR_INFO *csaddrs;
    DWORD ncsaddrs;
    const BLOB *blob;
};

static void select_fields(const WSAQUERYSET2W *src, DWORD flags, struct selection *sel)
{
    sel->name = (flags & LUP_RETURN_NAME) ? src->lpszServiceInstanceName : NULL;
    sel->version = (flags & LUP_RETURN_VERSION) ? src->lpVersion : NULL;
    sel->comment = (flags & LUP_RETURN_COMMENT) ? src->lpszComment : NULL;
    sel->query = (flags & LUP_RETURN_QUERY_STRING) ? src->lpszQueryString : NULL;
    sel->csaddrs = (flags & LUP_RETURN_ADDR) ? src->lpcsaBuffer : NULL;
    sel->ncsaddrs = sel->csaddrs ? src->dwNumberOfCsAddrs : 0;
    sel->blob = (flags & LUP_RETURN_BLOB) ? src->lpBlob : NULL;
    /* Always returned: they say where the answer came from and what it is about. */
    sel->context = src->lpszContext;
    sel->provider = src->lpNSProviderId;
    sel->protocols = src->lpafpProtocols;
    sel->nprotocols = sel->protocols ? src->dwNumberOfProtocols : 0;
}

static size_t string_bytes(const WCHAR *s)
{
    return s ? ALIGN_PTR((nspv2_wcsnlen(s, NSPV2_MAX_STRING_CHARS) + 1) * sizeof(WCHAR)) : 0;
}

static size_t sockaddr_bytes(const SOCKET_ADDRESS *sa)
{
    return (sa->lpSockaddr && sa->iSockaddrLength > 0) ? ALIGN_PTR((size_t)sa->iSockaddrLength) : 0;
}

static size_t packed_size(const struct selection *sel)
{
    size_t n = ALIGN_PTR(sizeof(WSAQUERYSET2W));
    n += string_bytes(sel->name) + string_bytes(sel->comment) + string_bytes(sel->context) +
         string_bytes(sel->query);
    if (sel->version)
        n += ALIGN_PTR(sizeof(WSAVERSION));
    if (sel->provider)
        n += ALIGN_PTR(sizeof(GUID));
    n += ALIGN_PTR((size_t)sel->nprotocols * sizeof(AFPROTOCOLS));
    n += ALIGN_PTR((size_t)sel->ncsaddrs * sizeof(CSADDR_INFO));
    for (DWORD i = 0; i < sel->ncsaddrs; i++)
        n += sockaddr_bytes(&sel->csaddrs[i].LocalAddr) + sockaddr_bytes(&sel->csaddrs[i].RemoteAddr);
    if (sel->blob) {
        n += ALIGN_PTR(sizeof(BLOB));
        if (sel->blob->pBlobData && sel->blob->cbSize > 0)
            n += ALIGN_PTR(sel->blob->cbSize);
    }
    return n;
}

/* A bump allocator over the caller's buffer; the size was checked beforehand. */
struct cursor {
    BYTE *next;
};

static void *put(struct cursor *c, const void *from, size_t len)
{
    void *at = c->next;
    if (len > 0)
        memcpy(at, from, len);
    c->next += ALIGN_PTR(len);
    return at;
}

static WCHAR *put_string(struct cursor *c, const WCHAR *s)
{
    if (s == NULL)
        return NULL;
    return put(c, s, (nspv2_wcsnlen(s, NSPV2_MAX_STRING_CHARS) + 1) * sizeof(WCHAR));
}

static void put_sockaddr(struct cursor *c, SOCKET_ADDRESS *to, const SOCKET_ADDRESS *from)
{
    if (from->lpSockaddr && from->iSockaddrLength > 0) {
        to->lpSockaddr = put(c, from->lpSockaddr, (size_t)from->iSockaddrLength);
        to->iSockaddrLength = from->iSockaddrLength;
    } else {
        to->lpSockaddr = NULL;
        to->iSockaddrLength = 0;
    }
}

INT nspv2_queryset_pack(const WSAQUERYSET2W *src, DWORD returnFlags, WSAQUERYSET2W *dst,
                        DWORD *lpdwBufferLength)
{
    struct selection sel;
    if (src == NULL || lpdwBufferLength == NULL)
        return WSAEINVAL;
    select_fields(src, returnFlags, &sel);
    size_t need = packed_size(&sel);
    if (need > NSPV2_MAX_RESULT)
        return WSA_NOT_ENOUGH_MEMORY;
    if (dst == NULL || *lpdwBufferLength < need) {
        *lpdwBufferLength = (DWORD)need;
        return WSAEFAULT;
    }

    WSAQUERYSET2W out;
    memset(&out, 0, sizeof out);
    struct cursor c = {(BYTE *)dst + ALIGN_PTR(sizeof(WSAQUERYSET2W))};
    out.dwSize = sizeof(WSAQUERYSET2W);
    out.dwNameSpace = src->dwNameSpace;
    out.dwOutputFlags = src->dwOutputFlags;
    out.lpszServiceInstanceName = put_string(&c, sel.name);
    out.lpszComment = put_string(&c, sel.comment);
    out.lpszContext = put_string(&c, sel.context);
    out.lpszQueryString = put_string(&c, sel.query);
    out.lpVersion = sel.version ? put(&c, sel.version, sizeof(WSAVERSION)) : NULL;
    out.lpNSProviderId = sel.provider ? put(&c, sel.provider, sizeof(GUID)) : NULL;
    if (sel.nprotocols > 0) {
        out.dwNumberOfProtocols = sel.nprotocols;
        out.lpafpProtocols = put(&c, sel.protocols, sel.nprotocols * sizeof(AFPROTOCOLS));
    }
    if (sel.ncsaddrs > 0) {
        CSADDR_INFO *to = put(&c, sel.csaddrs, sel.ncsaddrs * sizeof(CSADDR_INFO));
        out.dwNumberOfCsAddrs = sel.ncsaddrs;
        out.lpcsaBuffer = to;
        for (DWORD i = 0; i < sel.ncsaddrs; i++) {
            put_sockaddr(&c, &to[i].LocalAddr, &sel.csaddrs[i].LocalAddr);
            put_sockaddr(&c, &to[i].RemoteAddr, &sel.csaddrs[i].RemoteAddr);
        }
    }
    if (sel.blob) {
        BLOB *b = put(&c, sel.blob, sizeof(BLOB));
        b->pBlobData = (sel.blob->pBlobData && sel.blob->cbSize > 0)
                           ? put(&c, sel.blob->pBlobData, sel.blob->cbSize) : NULL;
        if (b->pBlobData == NULL)
            b->cbSize = 0;
        out.lpBlob = b;
    }
    memcpy(dst, &out, sizeof out);
    return NO_ERROR;
}
