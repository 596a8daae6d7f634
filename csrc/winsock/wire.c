/* The wire format's encoding and checked decoding (wire.h says why and what). No I/O, no
 * state, no allocation except wire_to_client's one block. */
#include "wire.h"

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

/* WSAQUERYSETW and WSAQUERYSET2W name these fields alike (the client's has lpServiceClassId
 * besides, which never travels: Winsock gives providers no service class). */
#define FIELDS_FROM(qs, f)                                                                         \
    do {                                                                                           \
        memset((f), 0, sizeof *(f));                                                               \
        (f)->name = (qs)->lpszServiceInstanceName;                                                 \
        (f)->comment = (qs)->lpszComment;                                                          \
        (f)->context = (qs)->lpszContext;                                                          \
        (f)->query = (qs)->lpszQueryString;                                                        \
        (f)->version = (qs)->lpVersion;                                                            \
        (f)->provider = (qs)->lpNSProviderId;                                                      \
        (f)->name_space = (qs)->dwNameSpace;                                                       \
        (f)->output_flags = (qs)->dwOutputFlags;                                                   \
        (f)->n_protocols = (qs)->lpafpProtocols ? (qs)->dwNumberOfProtocols : 0;                   \
        (f)->protocols = (qs)->lpafpProtocols;                                                     \
        (f)->n_csaddrs = (qs)->lpcsaBuffer ? (qs)->dwNumberOfCsAddrs : 0;                          \
        (f)->csaddrs = (qs)->lpcsaBuffer;                                                          \
        (f)->blob = (qs)->lpBlob;                                                                  \
    } while (0)

void wire_fields_from_client(const WSAQUERYSETW *qs, struct wire_fields *f) { FIELDS_FROM(qs, f); }

void wire_fields_from_provider(const WSAQUERYSET2W *qs, struct wire_fields *f)
{
    FIELDS_FROM(qs, f);
}

static size_t sockaddr_bytes(const SOCKET_ADDRESS *a)
{
    return (a->lpSockaddr && a->iSockaddrLength > 0) ? (size_t)a->iSockaddrLength : 0;
}

/* ---- encoding ---- */

struct writer {
    uint8_t *base;
    size_t at;
};

static uint32_t put(struct writer *w, const void *source, size_t bytes)
{
    if (source == NULL)
        return 0;
    uint32_t offset = (uint32_t)w->at;
    if (w->base) {
        memcpy(w->base + w->at, source, bytes);
        memset(w->base + w->at + bytes, 0, round8(bytes) - bytes);
    }
    w->at += round8(bytes);
    return offset;
}

static uint32_t put_wide(struct writer *w, const WCHAR *s)
{
    return s ? put(w, s, wide_bytes(s)) : 0;
}

/* One pass for sizing (base NULL) and writing. */
static size_t encode(const struct wire_fields *f, uint8_t *out)
{
    if (f->n_protocols > WIRE_MAX_ITEMS || f->n_csaddrs > WIRE_MAX_ITEMS)
        return 0;
    if (f->blob && f->blob->cbSize > WIRE_MAX_MESSAGE)
        return 0;
    struct writer w = {out, round8(sizeof(struct wire_qs))};
    struct wire_qs h;
    memset(&h, 0, sizeof h);
    h.name_space = f->name_space;
    h.output_flags = f->output_flags;
    h.off_name = put_wide(&w, f->name);
    h.off_comment = put_wide(&w, f->comment);
    h.off_context = put_wide(&w, f->context);
    h.off_query = put_wide(&w, f->query);
    h.off_version = put(&w, f->version, sizeof(WSAVERSION));
    h.off_provider = put(&w, f->provider, sizeof(GUID));
    if (f->n_protocols) {
        h.n_protocols = f->n_protocols;
        h.off_protocols = put(&w, f->protocols, f->n_protocols * sizeof(AFPROTOCOLS));
    }
    if (f->n_csaddrs) {
        size_t table = f->n_csaddrs * sizeof(struct wire_csaddr);
        h.n_csaddrs = f->n_csaddrs;
        h.off_csaddrs = (uint32_t)w.at;
        w.at += round8(table);
        for (DWORD i = 0; i < f->n_csaddrs; i++) {
            const CSADDR_INFO *c = &f->csaddrs[i];
            struct wire_csaddr e;
            size_t local = sockaddr_bytes(&c->LocalAddr), remote = sockaddr_bytes(&c->RemoteAddr);
            if (local > WIRE_MAX_SOCKADDR || remote > WIRE_MAX_SOCKADDR)
                return 0;
            memset(&e, 0, sizeof e);
            e.len_local = (uint32_t)local;
            e.off_local = local ? put(&w, c->LocalAddr.lpSockaddr, local) : 0;
            e.len_remote = (uint32_t)remote;
            e.off_remote = remote ? put(&w, c->RemoteAddr.lpSockaddr, remote) : 0;
            e.socket_type = c->iSocketType;
            e.protocol = c->iProtocol;
            if (out)
                memcpy(out + h.off_csaddrs + i * sizeof e, &e, sizeof e);
            if (w.at > WIRE_MAX_MESSAGE)
                return 0;
        }
        if (out)
            memset(out + h.off_csaddrs + table, 0, round8(table) - table);
    }
    if (f->blob) {
        h.flags |= WIRE_QS_BLOB;
        h.blob_length = f->blob->pBlobData ? f->blob->cbSize : 0;
        if (h.blob_length)
            h.off_blob = put(&w, f->blob->pBlobData, h.blob_length);
    }
    if (w.at > WIRE_MAX_MESSAGE)
        return 0;
    h.size = (uint32_t)w.at;
    if (out) {
        memset(out, 0, round8(sizeof h));
        memcpy(out, &h, sizeof h);
    }
    return w.at;
}

size_t wire_qs_size(const struct wire_fields *f) { return encode(f, NULL); }

void wire_qs_write(const struct wire_fields *f, uint8_t *out) { (void)encode(f, out); }

/* ---- checked decoding ---- */

static bool range_ok(const struct wire_qs *h, uint32_t offset, size_t bytes, size_t alignment)
{
    return offset >= sizeof *h && offset <= h->size && bytes <= h->size - offset &&
           offset % alignment == 0;
}

static bool string_ok(const uint8_t *image, const struct wire_qs *h, uint32_t offset)
{
    if (offset == 0)
        return true;
    if (!range_ok(h, offset, sizeof(WCHAR), sizeof(WCHAR)))
        return false;
    for (size_t at = offset; at + sizeof(WCHAR) <= h->size; at += sizeof(WCHAR))
        if (image[at] == 0 && image[at + 1] == 0)
            return true;
    return false;
}

INT wire_qs_check(const uint8_t *image, size_t available)
{
    struct wire_qs h;
    if (image == NULL || available < sizeof h || (uintptr_t)image % 8 != 0)
        return WSAEINVAL;
    memcpy(&h, image, sizeof h);
    if (h.size < sizeof h || h.size > available || h.size > WIRE_MAX_MESSAGE ||
        (h.flags & ~WIRE_QS_BLOB) != 0 || h.n_protocols > WIRE_MAX_ITEMS ||
        h.n_csaddrs > WIRE_MAX_ITEMS)
        return WSAEINVAL;
    if (!string_ok(image, &h, h.off_name) || !string_ok(image, &h, h.off_comment) ||
        !string_ok(image, &h, h.off_context) || !string_ok(image, &h, h.off_query))
        return WSAEINVAL;
    if (h.off_version && !range_ok(&h, h.off_version, sizeof(WSAVERSION), 4))
        return WSAEINVAL;
    if (h.off_provider && !range_ok(&h, h.off_provider, sizeof(GUID), 4))
        return WSAEINVAL;
    if ((h.n_protocols == 0) != (h.off_protocols == 0) ||
        (h.n_protocols && !range_ok(&h, h.off_protocols, h.n_protocols * sizeof(AFPROTOCOLS), 4)))
        return WSAEINVAL;
    if ((h.n_csaddrs == 0) != (h.off_csaddrs == 0) ||
        (h.n_csaddrs &&
         !range_ok(&h, h.off_csaddrs, h.n_csaddrs * sizeof(struct wire_csaddr), 4)))
        return WSAEINVAL;
    for (uint32_t i = 0; i < h.n_csaddrs; i++) {
        struct wire_csaddr e;
        memcpy(&e, image + h.off_csaddrs + i * sizeof e, sizeof e);
        if (e.len_local > WIRE_MAX_SOCKADDR || e.len_remote > WIRE_MAX_SOCKADDR ||
            (e.len_local == 0) != (e.off_local == 0) ||
            (e.len_remote == 0) != (e.off_remote == 0) ||
            (e.len_local && !range_ok(&h, e.off_local, e.len_local, 2)) ||
            (e.len_remote && !range_ok(&h, e.off_remote, e.len_remote, 2)))
            return WSAEINVAL;
    }
    if (!(h.flags & WIRE_QS_BLOB) && (h.blob_length || h.off_blob))
        return WSAEINVAL;
    if ((h.blob_length == 0) != (h.off_blob == 0) ||
        (h.blob_length && !range_ok(&h, h.off_blob, h.blob_length, 1)))
        return WSAEINVAL;
    return NO_ERROR;
}

DWORD wire_qs_csaddr_count(const uint8_t *image)
{
    struct wire_qs h;
    memcpy(&h, image, sizeof h);
    return h.n_csaddrs;
}

void wire_qs_fields(const uint8_t *image, struct wire_fields *f, CSADDR_INFO *csaddrs, BLOB *blob)
{
    struct wire_qs h;
    memcpy(&h, image, sizeof h);
    memset(f, 0, sizeof *f);
#define AT(type, offset) ((offset) ? (type)(const void *)(image + (offset)) : (type)NULL)
    f->name = AT(const WCHAR *, h.off_name);
    f->comment = AT(const WCHAR *, h.off_comment);
    f->context = AT(const WCHAR *, h.off_context);
    f->query = AT(const WCHAR *, h.off_query);
    f->version = AT(const WSAVERSION *, h.off_version);
    f->provider = AT(const GUID *, h.off_provider);
    f->name_space = h.name_space;
    f->output_flags = h.output_flags;
    f->n_protocols = h.n_protocols;
    f->protocols = AT(const AFPROTOCOLS *, h.off_protocols);
    f->n_csaddrs = h.n_csaddrs;
    for (uint32_t i = 0; i < h.n_csaddrs; i++) {
        struct wire_csaddr e;
        memcpy(&e, image + h.off_csaddrs + i * sizeof e, sizeof e);
        memset(&csaddrs[i], 0, sizeof csaddrs[i]);
        csaddrs[i].LocalAddr.lpSockaddr = AT(LPSOCKADDR, e.off_local);
        csaddrs[i].LocalAddr.iSockaddrLength = (INT)e.len_local;
        csaddrs[i].RemoteAddr.lpSockaddr = AT(LPSOCKADDR, e.off_remote);
        csaddrs[i].RemoteAddr.iSockaddrLength = (INT)e.len_remote;
        csaddrs[i].iSocketType = e.socket_type;
        csaddrs[i].iProtocol = e.protocol;
    }
    f->csaddrs = h.n_csaddrs ? csaddrs : NULL;
    if (h.flags & WIRE_QS_BLOB) {
        blob->cbSize = h.blob_length;
        blob->pBlobData = AT(BYTE *, h.off_blob);
        f->blob = blob;
    }
#undef AT
}

/* ---- packing into the structs ---- */

struct packer {
    uint8_t *base;
    size_t at, length;
};

static void *pack(struct packer *p, const void *source, size_t bytes)
{
    size_t at = p->at;
    p->at += round8(bytes);
    if (p->base == NULL || p->at > p->length)
        return NULL;
    memcpy(p->base + at, source, bytes);
    return p->base + at;
}

static WCHAR *pack_wide(struct packer *p, const WCHAR *s)
{
    return s ? pack(p, s, wide_bytes(s)) : NULL;
}

/* Packs everything behind a header of header_bytes; fills the header through q2 (provider
 * form) or q (client form), whichever is not NULL. */
static size_t pack_fields(const struct wire_fields *f, uint8_t *base, size_t length,
                          size_t header_bytes, WSAQUERYSET2W *q2, WSAQUERYSETW *q)
{
    struct packer p = {base, round8(header_bytes), length};
    bool fits;
    /* Sizing pass first, so nothing is written into a buffer that turns out too small. */
    struct packer sizing = {NULL, p.at, 0};
    (void)pack_wide(&sizing, f->name);
    (void)pack_wide(&sizing, f->comment);
    (void)pack_wide(&sizing, f->context);
    (void)pack_wide(&sizing, f->query);
    if (f->version)
        (void)pack(&sizing, f->version, sizeof(WSAVERSION));
    if (f->provider)
        (void)pack(&sizing, f->provider, sizeof(GUID));
    if (f->n_protocols)
        (void)pack(&sizing, f->protocols, f->n_protocols * sizeof(AFPROTOCOLS));
    if (f->n_csaddrs) {
        (void)pack(&sizing, f->csaddrs, f->n_csaddrs * sizeof(CSADDR_INFO));
        for (DWORD i = 0; i < f->n_csaddrs; i++) {
            sizing.at += round8(sockaddr_bytes(&f->csaddrs[i].LocalAddr));
            sizing.at += round8(sockaddr_bytes(&f->csaddrs[i].RemoteAddr));
        }
    }
    if (f->blob) {
        sizing.at += round8(sizeof(BLOB));
        if (f->blob->pBlobData)
            sizing.at += round8(f->blob->cbSize);
    }
    if (sizing.at > 0xFFFFFFF0u)
        return 0;
    fits = base != NULL && sizing.at <= length;
    if (!fits)
        return sizing.at;

    memset(base, 0, round8(header_bytes));
    WCHAR *name = pack_wide(&p, f->name), *comment = pack_wide(&p, f->comment);
    WCHAR *context = pack_wide(&p, f->context), *query = pack_wide(&p, f->query);
    WSAVERSION *version = f->version ? pack(&p, f->version, sizeof(WSAVERSION)) : NULL;
    GUID *provider = f->provider ? pack(&p, f->provider, sizeof(GUID)) : NULL;
    AFPROTOCOLS *protocols =
        f->n_protocols ? pack(&p, f->protocols, f->n_protocols * sizeof(AFPROTOCOLS)) : NULL;
    CSADDR_INFO *csaddrs = NULL;
    if (f->n_csaddrs) {
        csaddrs = pack(&p, f->csaddrs, f->n_csaddrs * sizeof(CSADDR_INFO));
        for (DWORD i = 0; i < f->n_csaddrs; i++) {
            SOCKET_ADDRESS *sa[2] = {&csaddrs[i].LocalAddr, &csaddrs[i].RemoteAddr};
            for (int k = 0; k < 2; k++) {
                size_t bytes = sockaddr_bytes(sa[k]);
                sa[k]->lpSockaddr = bytes ? pack(&p, sa[k]->lpSockaddr, bytes) : NULL;
                sa[k]->iSockaddrLength = (INT)bytes;
            }
        }
    }
    BLOB *blob = NULL;
    if (f->blob) {
        blob = pack(&p, f->blob, sizeof(BLOB));
        blob->pBlobData = f->blob->pBlobData ? pack(&p, f->blob->pBlobData, f->blob->cbSize)
                                             : NULL;
        if (blob->pBlobData == NULL)
            blob->cbSize = 0;
    }
#define FILL(out)                                                                                  \
    do {                                                                                           \
        (out)->dwSize = sizeof *(out);                                                             \
        (out)->lpszServiceInstanceName = name;                                                     \
        (out)->lpVersion = version;                                                                \
        (out)->lpszComment = comment;                                                              \
        (out)->dwNameSpace = f->name_space;                                                        \
        (out)->lpNSProviderId = provider;                                                          \
        (out)->lpszContext = context;                                                              \
        (out)->dwNumberOfProtocols = f->n_protocols;                                               \
        (out)->lpafpProtocols = protocols;                                                         \
        (out)->lpszQueryString = query;                                                            \
        (out)->dwNumberOfCsAddrs = f->n_csaddrs;                                                   \
        (out)->lpcsaBuffer = csaddrs;                                                              \
        (out)->dwOutputFlags = f->output_flags;                                                    \
        (out)->lpBlob = blob;                                                                      \
    } while (0)
    if (q2)
        FILL(q2);
    else
        FILL(q);
#undef FILL
    return sizing.at;
}

size_t wire_pack_provider(const struct wire_fields *f, void *buffer, size_t length)
{
    return pack_fields(f, buffer, length, sizeof(WSAQUERYSET2W), (WSAQUERYSET2W *)buffer, NULL);
}

WSAQUERYSETW *wire_to_client(const struct wire_fields *f)
{
    size_t size = pack_fields(f, NULL, 0, sizeof(WSAQUERYSETW), NULL, NULL);
    if (size == 0)
        return NULL;
    uint8_t *block = malloc(size);
    if (block == NULL)
        return NULL;
    memset(block, 0, size);
    pack_fields(f, block, size, sizeof(WSAQUERYSETW), NULL, (WSAQUERYSETW *)(void *)block);
    return (WSAQUERYSETW *)(void *)block;
}

/* ---- messages ---- */

INT wire_header_read(const uint8_t *bytes, struct wire_header *h)
{
    memcpy(h, bytes, sizeof *h);
    if (h->length < WIRE_HEADER_SIZE || h->length > WIRE_MAX_MESSAGE)
        return WSAEINVAL;
    return NO_ERROR;
}

void wire_header_write(uint8_t *bytes, uint32_t length, uint16_t type, uint32_t id,
                       int32_t status)
{
    struct wire_header h = {length, type, 0, id, status};
    memcpy(bytes, &h, sizeof h);
}

static uint32_t u32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t u64_at(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

INT wire_request_decode(const uint8_t *message, size_t length, struct wire_request *r)
{
    memset(r, 0, sizeof *r);
    if (message == NULL || length < WIRE_HEADER_SIZE || (uintptr_t)message % 8 != 0 ||
        wire_header_read(message, &r->header) != NO_ERROR || r->header.length != length ||
        r->header.reserved != 0 || r->header.status != 0)
        return WSAEINVAL;
    const uint8_t *body = message + WIRE_HEADER_SIZE;
    size_t n = length - WIRE_HEADER_SIZE;
    switch (r->header.type) {
    case WIRE_HELLO:
        if (n != 8 + sizeof(GUID) || u32_at(body) != WIRE_MAGIC)
            return WSAEINVAL;
        r->flags = u32_at(body + 4);       /* the client's protocol version */
        memcpy(&r->provider, body + 8, sizeof(GUID));
        return NO_ERROR;
    case WIRE_BEGIN:
    case WIRE_SETSERVICE:
        if (n < 8 || (r->header.type == WIRE_BEGIN && u32_at(body + 4) != 0))
            return WSAEINVAL;
        if (r->header.type == WIRE_BEGIN) {
            r->flags = u32_at(body);
        } else {
            r->operation = u32_at(body);
            r->flags = u32_at(body + 4);
        }
        if (wire_qs_check(body + 8, n - 8) != NO_ERROR || u32_at(body + 8) != n - 8)
            return WSAEINVAL;
        r->image = body + 8;
        return NO_ERROR;
    case WIRE_NEXT:
        if (n != 16)
            return WSAEINVAL;
        r->handle = u64_at(body);
        r->flags = u32_at(body + 8);
        r->length = u32_at(body + 12);
        return NO_ERROR;
    case WIRE_END:
        if (n != 8)
            return WSAEINVAL;
        r->handle = u64_at(body);
        return NO_ERROR;
    case WIRE_CLEANUP:
    case WIRE_STATS:
        return n == 0 ? NO_ERROR : WSAEINVAL;
    default:
        return WSAEINVAL;
    }
}
