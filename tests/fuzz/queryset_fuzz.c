/* libFuzzer harness for the query-set code: the provider's validate/pack (csrc/provider/queryset.c)
 * and the Winsock stand-in's result checker and conversions (csrc/winsock/queryset_convert.c,
 * linked in directly; the one function it needs from the rest of the stand-in, standin_violation,
 * is defined here and aborts, so every violation the checker reports is a crash).
 *
 * Build (tests/test_fuzz.py does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -Icsrc/include -Icsrc/provider -Icsrc/winsock tests/fuzz/queryset_fuzz.c \
 *     csrc/provider/queryset.c csrc/winsock/queryset_convert.c -o queryset_fuzz
 *
 * Input: the first byte picks the mode.
 *   even: a client's WSAQUERYSET2W restrictions. A header read from the input gives which fields
 *     are set, counts, lengths and offsets; every pointer points into the "arena", a copy of the
 *     whole input followed by zeros (so strings end somewhere, as real client memory would) and an
 *     optional run of nonzero WCHARs for over-long strings. Counts and lengths are arbitrary; the
 *     arena is made large enough for every array the query set claims within the documented
 *     limits (beyond them validate must refuse without reading). Then validate; if valid, pack
 *     under fuzzer-chosen LUP_RETURN_* flags into a too-small buffer, the exact required size and
 *     one byte less, and check the packed result field by field, then through the stand-in:
 *     queryset_check_result, queryset_result_to_client, queryset_validate_client,
 *     queryset_to_provider and a repack of that copy.
 *   odd: a provider's result buffer: the input itself, with its pointer fields turned into
 *     pointers into the buffer (any offset, any alignment), given to queryset_check_result; what
 *     it accepts is repacked for the client and must stay inside the client's buffer. */
#include "queryset.h"
#include "queryset_decls.h"
#include "standin_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN8(n) (((size_t)(n) + 7u) & ~(size_t)7u)
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "queryset_fuzz: " __VA_ARGS__);                                            \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FAIL(__VA_ARGS__);                                                                     \
    } while (0)

/* Raw-mode checker runs expect violations: they are counted, not fatal. */
static int g_violations_allowed;
static unsigned g_violations;

/* The stand-in's violation sink: a packed result from nspv2_queryset_pack must never have one. */
void standin_violation(const GUID *provider, const char *fmt, ...)
{
    (void)provider;
    if (g_violations_allowed) {
        g_violations++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "queryset_fuzz: stand-in violation: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

/* ---- reading the input ---- */

struct reader {
    const uint8_t *p;
    size_t n, at;
};

static uint32_t take(struct reader *r, unsigned bytes)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint32_t)(r->at < r->n ? r->p[r->at++] : 0) << (8 * i);
    return v;
}

/* ---- a uniform view of WSAQUERYSETW and WSAQUERYSET2W ---- */

struct view {
    DWORD ns, oflags;
    const WCHAR *s[4]; /* name, comment, context, query */
    const WSAVERSION *ver;
    const GUID *guid;
    DWORD nproto;
    const AFPROTOCOLS *proto;
    DWORD ncsa;
    const CSADDR_INFO *csa;
    const BLOB *blob;
};

static struct view view2(const WSAQUERYSET2W *q)
{
    struct view v = {q->dwNameSpace, q->dwOutputFlags,
                     {q->lpszServiceInstanceName, q->lpszComment, q->lpszContext,
                      q->lpszQueryString},
                     q->lpVersion, q->lpNSProviderId, q->dwNumberOfProtocols, q->lpafpProtocols,
                     q->dwNumberOfCsAddrs, q->lpcsaBuffer, q->lpBlob};
    return v;
}

static struct view view1(const WSAQUERYSETW *q)
{
    struct view v = {q->dwNameSpace, q->dwOutputFlags,
                     {q->lpszServiceInstanceName, q->lpszComment, q->lpszContext,
                      q->lpszQueryString},
                     q->lpVersion, q->lpNSProviderId, q->dwNumberOfProtocols, q->lpafpProtocols,
                     q->dwNumberOfCsAddrs, q->lpcsaBuffer, q->lpBlob};
    return v;
}

/* What nspv2_queryset_pack must produce from validated restrictions under `flags`. */
static struct view expected_selection(const WSAQUERYSET2W *src, DWORD flags)
{
    struct view v = view2(src);
    if (!(flags & LUP_RETURN_NAME))
        v.s[0] = NULL;
    if (!(flags & LUP_RETURN_COMMENT))
        v.s[1] = NULL;
    if (!(flags & LUP_RETURN_QUERY_STRING))
        v.s[3] = NULL;
    if (!(flags & LUP_RETURN_VERSION))
        v.ver = NULL;
    if (!(flags & LUP_RETURN_ADDR))
        v.csa = NULL;
    if (!(flags & LUP_RETURN_BLOB))
        v.blob = NULL;
    v.nproto = v.proto ? v.nproto : 0;
    v.proto = v.nproto ? v.proto : NULL;
    v.ncsa = v.csa ? v.ncsa : 0;
    v.csa = v.ncsa ? v.csa : NULL;
    return v;
}

static int sockaddr_empty(const SOCKET_ADDRESS *a)
{
    return a->lpSockaddr == NULL || a->iSockaddrLength <= 0;
}

static void equal_sockaddr(const SOCKET_ADDRESS *a, const SOCKET_ADDRESS *b, const char *what)
{
    CHECK(sockaddr_empty(a) == sockaddr_empty(b), "%s: one side empty", what);
    if (!sockaddr_empty(a)) {
        CHECK(a->iSockaddrLength == b->iSockaddrLength, "%s: length %d vs %d", what,
              a->iSockaddrLength, b->iSockaddrLength);
        CHECK(memcmp(a->lpSockaddr, b->lpSockaddr, (size_t)a->iSockaddrLength) == 0,
              "%s: bytes differ", what);
    }
}

/* Deep equality; strings are compared up to their terminators (both known to be terminated). */
static void equal_views(const struct view *a, const struct view *b, const char *stage)
{
    CHECK(a->ns == b->ns && a->oflags == b->oflags, "%s: namespace/output flags differ", stage);
    for (int i = 0; i < 4; i++) {
        CHECK((a->s[i] == NULL) == (b->s[i] == NULL), "%s: string %d presence differs", stage, i);
        if (a->s[i]) {
            size_t la = nspv2_wcsnlen(a->s[i], NSPV2_MAX_STRING_CHARS);
            size_t lb = nspv2_wcsnlen(b->s[i], NSPV2_MAX_STRING_CHARS);
            CHECK(la == lb && memcmp(a->s[i], b->s[i], la * sizeof(WCHAR)) == 0,
                  "%s: string %d differs (%zu vs %zu chars)", stage, i, la, lb);
        }
    }
    CHECK((a->ver == NULL) == (b->ver == NULL), "%s: version presence differs", stage);
    if (a->ver)
        CHECK(a->ver->dwVersion == b->ver->dwVersion && a->ver->ecHow == b->ver->ecHow,
              "%s: version differs", stage);
    CHECK((a->guid == NULL) == (b->guid == NULL), "%s: provider id presence differs", stage);
    if (a->guid)
        CHECK(memcmp(a->guid, b->guid, sizeof(GUID)) == 0, "%s: provider id differs", stage);
    CHECK(a->nproto == b->nproto && (a->proto == NULL) == (b->proto == NULL),
          "%s: protocols differ in count (%u vs %u) or presence", stage, (unsigned)a->nproto,
          (unsigned)b->nproto);
    if (a->nproto)
        CHECK(memcmp(a->proto, b->proto, a->nproto * sizeof(AFPROTOCOLS)) == 0,
              "%s: protocols differ", stage);
    CHECK(a->ncsa == b->ncsa && (a->csa == NULL) == (b->csa == NULL),
          "%s: addresses differ in count (%u vs %u) or presence", stage, (unsigned)a->ncsa,
          (unsigned)b->ncsa);
    for (DWORD i = 0; a->csa && i < a->ncsa; i++) {
        CHECK(a->csa[i].iSocketType == b->csa[i].iSocketType &&
                  a->csa[i].iProtocol == b->csa[i].iProtocol,
              "%s: address %u type/protocol differ", stage, (unsigned)i);
        equal_sockaddr(&a->csa[i].LocalAddr, &b->csa[i].LocalAddr, stage);
        equal_sockaddr(&a->csa[i].RemoteAddr, &b->csa[i].RemoteAddr, stage);
    }
    CHECK((a->blob == NULL) == (b->blob == NULL), "%s: blob presence differs", stage);
    if (a->blob) {
        int ea = !a->blob->pBlobData || !a->blob->cbSize, eb = !b->blob->pBlobData || !b->blob->cbSize;
        CHECK(ea == eb, "%s: blob emptiness differs", stage);
        if (!ea)
            CHECK(a->blob->cbSize == b->blob->cbSize &&
                      memcmp(a->blob->pBlobData, b->blob->pBlobData, a->blob->cbSize) == 0,
                  "%s: blob differs", stage);
    }
}

/* ---- bounds of a packed result ---- */

struct span {
    size_t from, to;
};

struct bounds {
    const BYTE *base;
    size_t len, header;  /* objects live in [base + header, base + len) */
    size_t align;        /* required alignment of every object, 0 for none */
    int disjoint;        /* objects must not overlap */
    size_t extent;       /* end offset of the last object */
    struct span *spans;
    size_t nspans, cap;
    const char *stage;
};

static void object(struct bounds *b, const void *p, size_t bytes, const char *what)
{
    uintptr_t at = (uintptr_t)p, start = (uintptr_t)b->base;
    CHECK(at >= start + b->header && at - start <= b->len && bytes <= b->len - (at - start),
          "%s: %s (%zu bytes at offset %td) lies outside [%zu, %zu)", b->stage, what, bytes,
          (ptrdiff_t)(at - start), b->header, b->len);
    if (b->align)
        CHECK(at % b->align == 0, "%s: %s is not %zu-aligned", b->stage, what, b->align);
    size_t off = at - start;
    if (off + bytes > b->extent)
        b->extent = off + bytes;
    if (b->disjoint && bytes > 0) {
        for (size_t i = 0; i < b->nspans; i++)
            CHECK(off + bytes <= b->spans[i].from || off >= b->spans[i].to,
                  "%s: %s overlaps another object", b->stage, what);
        if (b->nspans == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 32;
            b->spans = realloc(b->spans, b->cap * sizeof *b->spans);
            CHECK(b->spans != NULL, "out of memory");
        }
        b->spans[b->nspans++] = (struct span){off, off + bytes};
    }
}

static void string_in(struct bounds *b, const WCHAR *s, const char *what)
{
    if (s == NULL)
        return;
    object(b, s, sizeof(WCHAR), what);
    size_t off = (size_t)((const BYTE *)s - b->base), n = 0;
    for (;; n++) {
        CHECK(off + (n + 1) * sizeof(WCHAR) <= b->len, "%s: %s is not terminated inside",
              b->stage, what);
        WCHAR c;
        memcpy(&c, (const BYTE *)s + n * sizeof(WCHAR), sizeof c);
        if (c == 0)
            break;
    }
    if (b->disjoint) { /* record the whole string */
        b->nspans--;
        object(b, s, (n + 1) * sizeof(WCHAR), what);
    } else if (off + (n + 1) * sizeof(WCHAR) > b->extent) {
        b->extent = off + (n + 1) * sizeof(WCHAR);
    }
}

/* Every object of v inside b; with b->disjoint, a packed result's own rules too. */
static void check_bounds(struct bounds *b, const struct view *v)
{
    static const char *names[4] = {"name", "comment", "context", "query string"};
    for (int i = 0; i < 4; i++)
        string_in(b, v->s[i], names[i]);
    if (v->ver)
        object(b, v->ver, sizeof(WSAVERSION), "version");
    if (v->guid)
        object(b, v->guid, sizeof(GUID), "provider id");
    if (v->proto)
        object(b, v->proto, v->nproto * sizeof(AFPROTOCOLS), "protocols");
    else
        CHECK(v->nproto == 0, "%s: protocol count without array", b->stage);
    if (v->csa) {
        object(b, v->csa, v->ncsa * sizeof(CSADDR_INFO), "addresses");
        for (DWORD i = 0; i < v->ncsa; i++) {
            const SOCKET_ADDRESS *sa[2] = {&v->csa[i].LocalAddr, &v->csa[i].RemoteAddr};
            for (int k = 0; k < 2; k++) {
                CHECK(sa[k]->iSockaddrLength >= 0, "%s: negative sockaddr length", b->stage);
                if (sa[k]->lpSockaddr)
                    object(b, sa[k]->lpSockaddr, (size_t)sa[k]->iSockaddrLength, "sockaddr");
                else
                    CHECK(sa[k]->iSockaddrLength == 0, "%s: sockaddr length without pointer",
                          b->stage);
            }
        }
    } else {
        CHECK(v->ncsa == 0, "%s: address count without array", b->stage);
    }
    if (v->blob) {
        object(b, v->blob, sizeof(BLOB), "blob");
        if (v->blob->pBlobData)
            object(b, v->blob->pBlobData, v->blob->cbSize, "blob data");
        else
            CHECK(v->blob->cbSize == 0, "%s: blob size without data", b->stage);
    }
    free(b->spans);
    b->spans = NULL;
}

/* ---- mode 1: restrictions -> validate -> pack -> stand-in ---- */

static BYTE *malloc_filled(size_t n, int fill)
{
    BYTE *p = malloc(n ? n : 1);
    CHECK(p != NULL, "out of memory");
    memset(p, fill, n);
    return p;
}

static void untouched(const BYTE *p, size_t n, int fill, const char *what)
{
    for (size_t i = 0; i < n; i++)
        CHECK(p[i] == (BYTE)fill, "%s: byte %zu of a too-small buffer was written", what, i);
}

static void pack_and_check(const WSAQUERYSET2W *src, DWORD flags, DWORD small)
{
    /* A too-small (or, by chance, large enough) first buffer. */
    DWORD len = small;
    BYTE *first = malloc_filled(small, 0x5A);
    INT rc = nspv2_queryset_pack(src, flags, (WSAQUERYSET2W *)(void *)first, &len);
    DWORD need;
    if (rc == WSAEFAULT) {
        need = len;
        CHECK(need > small, "WSAEFAULT but required %u <= given %u", (unsigned)need,
              (unsigned)small);
        untouched(first, small, 0x5A, "first call");
    } else {
        CHECK(rc == NO_ERROR, "first pack: %d", rc);
        CHECK(len == small, "successful pack changed the length");
        DWORD probe = 0;
        CHECK(nspv2_queryset_pack(src, flags, NULL, &probe) == WSAEFAULT, "NULL dst accepted");
        need = probe;
        CHECK(need <= small, "fitted into %u bytes but requires %u", (unsigned)small,
              (unsigned)need);
    }
    free(first);
    CHECK(need >= sizeof(WSAQUERYSET2W) && need % sizeof(void *) == 0, "odd required size %u",
          (unsigned)need);

    /* Exactly the required size. */
    BYTE *buf = malloc_filled(need, 0xA5);
    len = need;
    rc = nspv2_queryset_pack(src, flags, (WSAQUERYSET2W *)(void *)buf, &len);
    CHECK(rc == NO_ERROR && len == need, "pack into %u bytes: rc %d, length %u", (unsigned)need,
          rc, (unsigned)len);
    const WSAQUERYSET2W *r = (const WSAQUERYSET2W *)(const void *)buf;
    CHECK(r->dwSize == sizeof(WSAQUERYSET2W), "packed dwSize %u", (unsigned)r->dwSize);
    struct view rv = view2(r), want = expected_selection(src, flags);
    struct bounds b = {buf, need, sizeof(WSAQUERYSET2W), sizeof(void *), 1, 0, NULL, 0, 0,
                       "packed"};
    b.extent = sizeof(WSAQUERYSET2W);
    check_bounds(&b, &rv);
    CHECK(ALIGN8(b.extent) == need, "packed objects end at %zu, required size %u", b.extent,
          (unsigned)need);
    equal_views(&want, &rv, "packed vs restrictions");

    /* One byte less. */
    BYTE *less = malloc_filled(need - 1, 0x5A);
    len = need - 1;
    rc = nspv2_queryset_pack(src, flags, (WSAQUERYSET2W *)(void *)less, &len);
    CHECK(rc == WSAEFAULT && len == need, "pack into %u bytes: rc %d, length %u",
          (unsigned)need - 1, rc, (unsigned)len);
    untouched(less, need - 1, 0x5A, "one byte less");
    free(less);

    /* Through the stand-in: check, repack for the client, copy back for a provider. */
    static const GUID provider = {0x12345678, 0x9abc, 0xdef0, {1, 2, 3, 4, 5, 6, 7, 8}};
    size_t extent = 0;
    CHECK(queryset_check_result(&provider, buf, need, &extent), "checker refused a packed result");
    CHECK(extent <= need && extent >= sizeof(WSAQUERYSET2W), "checker extent %zu of %u", extent,
          (unsigned)need);
    size_t clen = extent + (sizeof(WSAQUERYSETW) - sizeof(WSAQUERYSET2W));
    BYTE *client = malloc_filled(clen, 0xEE);
    queryset_result_to_client(r, extent, (WSAQUERYSETW *)(void *)client);
    const WSAQUERYSETW *cq = (const WSAQUERYSETW *)(const void *)client;
    CHECK(cq->dwSize == sizeof(WSAQUERYSETW) && cq->lpServiceClassId == NULL, "client header");
    struct view cv = view1(cq);
    struct bounds cb = {client, clen, sizeof(WSAQUERYSETW), sizeof(void *), 1, 0, NULL, 0, 0,
                        "client"};
    check_bounds(&cb, &cv);
    equal_views(&rv, &cv, "client vs packed");
    CHECK(queryset_validate_client(cq) == NO_ERROR, "client result fails client validation");

    size_t block_size = 0;
    INT err = NO_ERROR;
    WSAQUERYSET2W *copy = queryset_to_provider(cq, &block_size, &err);
    CHECK(copy != NULL, "queryset_to_provider: %d", err);
    struct view pv = view2(copy);
    struct bounds pb = {(const BYTE *)copy, block_size, sizeof(WSAQUERYSET2W), 8, 1, 0, NULL,
                        0, 0, "provider copy"};
    check_bounds(&pb, &pv);
    equal_views(&cv, &pv, "provider copy vs client");
    CHECK(nspv2_queryset_validate(copy) == NO_ERROR, "provider copy fails validation");
    DWORD need2 = 0;
    CHECK(nspv2_queryset_pack(copy, flags, NULL, &need2) == WSAEFAULT && need2 == need,
          "repacking the copy needs %u, not %u", (unsigned)need2, (unsigned)need);
    queryset_poison_free(copy, block_size);
    free(client);
    free(buf);
}

/* Every object the restrictions claim lies in the arena (what a real client's memory gives). */
static int claims_fit(const WSAQUERYSET2W *q, const BYTE *arena, size_t size)
{
#define IN(p, n) ((uintptr_t)(p) >= (uintptr_t)arena && (uintptr_t)(p) <= (uintptr_t)arena + size && \
                  (size_t)(n) <= (uintptr_t)arena + size - (uintptr_t)(p))
    if (q->lpcsaBuffer && q->dwNumberOfCsAddrs <= NSPV2_MAX_CSADDRS) {
        for (DWORD i = 0; i < q->dwNumberOfCsAddrs; i++) {
            const SOCKET_ADDRESS *sa[2] = {&q->lpcsaBuffer[i].LocalAddr,
                                           &q->lpcsaBuffer[i].RemoteAddr};
            for (int k = 0; k < 2; k++)
                if (sa[k]->lpSockaddr && sa[k]->iSockaddrLength > 0 &&
                    sa[k]->iSockaddrLength <= NSPV2_MAX_SOCKADDR &&
                    !IN(sa[k]->lpSockaddr, sa[k]->iSockaddrLength))
                    return 0;
        }
    }
    if (q->lpBlob && q->lpBlob->pBlobData && q->lpBlob->cbSize <= NSPV2_MAX_BLOB &&
        !IN(q->lpBlob->pBlobData, q->lpBlob->cbSize))
        return 0;
    return 1;
#undef IN
}

static void fuzz_restrictions(struct reader *rd)
{
    const size_t n = rd->n;
    uint32_t mask = take(rd, 2), size_sel = take(rd, 1);
    uint32_t dwsize = size_sel == 0xFF ? take(rd, 4) : sizeof(WSAQUERYSET2W);
    uint32_t ns = take(rd, 4), oflags = take(rd, 4);
    uint32_t off_s[4], off_ver, off_guid, off_proto, off_csa, off_blob;
    for (int i = 0; i < 4; i++)
        off_s[i] = take(rd, 2);
    off_ver = take(rd, 2);
    off_guid = take(rd, 2);
    off_proto = take(rd, 2);
    off_csa = take(rd, 2);
    off_blob = take(rd, 2);
    uint32_t nproto = take(rd, 2), ncsa = take(rd, 2), long_len = take(rd, 2);
    uint32_t flags = take(rd, 4), small = take(rd, 2);

    /* Arena: input copy | zeros | long_len nonzero WCHARs, 0 | zeros for arrays that reach
     * further. Offsets are taken modulo n + 1 and aligned down to each type's alignment. */
#define OFF(o, a) (((size_t)(o) % (n + 1)) & ~(size_t)((a) - 1))
    size_t base = ALIGN8(n) + 256;
    size_t long_at = base, size = ALIGN8(long_at + 2 * ((size_t)long_len + 1));
    size_t ends[5] = {OFF(off_ver, 8) + sizeof(WSAVERSION), OFF(off_guid, 8) + sizeof(GUID),
                      OFF(off_proto, 8) + (nproto <= NSPV2_MAX_PROTOCOLS ? nproto : 0) *
                                              sizeof(AFPROTOCOLS),
                      OFF(off_csa, 8) + (ncsa <= NSPV2_MAX_CSADDRS ? ncsa : 0) *
                                            sizeof(CSADDR_INFO),
                      OFF(off_blob, 8) + sizeof(BLOB)};
    for (int i = 0; i < 5; i++)
        if (ALIGN8(ends[i]) + 8 > size)
            size = ALIGN8(ends[i]) + 8;
    BYTE *arena = calloc(1, size);
    CHECK(arena != NULL, "out of memory");
    memcpy(arena, rd->p, n);
    for (size_t i = 0; i < long_len; i++) {
        arena[long_at + 2 * i] = (BYTE)('A' + i % 26);
        arena[long_at + 2 * i + 1] = (BYTE)(i >> 8);
    }
    /* arena[long_at + 2 * long_len] and the last bytes stay 0: strings end inside the arena. */

    WSAQUERYSET2W q;
    memset(&q, 0, sizeof q);
    q.dwSize = dwsize;
    q.dwNameSpace = ns;
    q.dwOutputFlags = oflags;
    WCHAR *strings[4];
    for (int i = 0; i < 4; i++) {
        if (!(mask & (1u << (i + 9)))) {
            strings[i] = (WCHAR *)(void *)(arena + OFF(off_s[i], 2));
        } else {
            size_t at = (off_s[i] % ((size_t)long_len + 1)) * 2;
            strings[i] = (WCHAR *)(void *)(arena + long_at + at);
        }
    }
    if (mask & 0x001)
        q.lpszServiceInstanceName = strings[0];
    if (mask & 0x002)
        q.lpVersion = (WSAVERSION *)(void *)(arena + OFF(off_ver, 8));
    if (mask & 0x004)
        q.lpszComment = strings[1];
    if (mask & 0x008)
        q.lpNSProviderId = (GUID *)(void *)(arena + OFF(off_guid, 8));
    if (mask & 0x010)
        q.lpszContext = strings[2];
    if (mask & 0x020)
        q.lpafpProtocols = (AFPROTOCOLS *)(void *)(arena + OFF(off_proto, 8));
    q.dwNumberOfProtocols = (mask & 0x2000) ? nproto : (q.lpafpProtocols ? nproto : 0);
    if (mask & 0x040)
        q.lpszQueryString = strings[3];
    if (mask & 0x080)
        q.lpcsaBuffer = (CSADDR_INFO *)(void *)(arena + OFF(off_csa, 8));
    q.dwNumberOfCsAddrs = (mask & 0x4000) ? ncsa : (q.lpcsaBuffer ? ncsa : 0);
    /* Pointers inside the arena's CSADDR_INFOs and BLOB: the raw 8 bytes, as an offset. */
    if (q.lpcsaBuffer && q.dwNumberOfCsAddrs <= NSPV2_MAX_CSADDRS) {
        for (DWORD i = 0; i < q.dwNumberOfCsAddrs; i++) {
            SOCKET_ADDRESS *sa[2] = {&q.lpcsaBuffer[i].LocalAddr, &q.lpcsaBuffer[i].RemoteAddr};
            for (int k = 0; k < 2; k++) {
                uint64_t raw;
                memcpy(&raw, &sa[k]->lpSockaddr, sizeof raw);
                sa[k]->lpSockaddr = raw ? (SOCKADDR *)(void *)(arena + OFF(raw, 2)) : NULL;
            }
        }
    }
    if (mask & 0x100) {
        BLOB *bl = (BLOB *)(void *)(arena + OFF(off_blob, 8));
        uint64_t raw;
        memcpy(&raw, &bl->pBlobData, sizeof raw);
        size_t at = OFF(raw, 1);
        bl->pBlobData = raw ? arena + at : NULL;
        if (bl->cbSize <= NSPV2_MAX_BLOB) /* a size the client's memory holds */
            bl->cbSize = (ULONG)(bl->cbSize % (size - at + 1));
        q.lpBlob = bl;
    }
#undef OFF
    if (claims_fit(&q, arena, size)) {
        INT rc = nspv2_queryset_validate(&q);
        CHECK(rc == NO_ERROR || rc == WSAEINVAL, "validate returned %d", rc);
        if (dwsize != sizeof(WSAQUERYSET2W))
            CHECK(rc == WSAEINVAL, "validate accepted dwSize %u", (unsigned)dwsize);
#ifdef QUERYSET_FUZZ_TRACE
        fprintf(stderr, "restrictions: validate %d, flags %#x\n", rc, (unsigned)flags);
#endif
        if (rc == NO_ERROR)
            pack_and_check(&q, flags, small);
    }
    free(arena);
}

/* ---- mode 2: an arbitrary provider result through the stand-in's checker ---- */

static void relocate(void *field, BYTE *buf, size_t n)
{
    uint64_t raw;
    memcpy(&raw, field, sizeof raw);
    BYTE *p = raw ? buf + raw % (n + 1) : NULL;
    memcpy(field, &p, sizeof p);
}

static void fuzz_result(struct reader *rd)
{
    size_t n = rd->n - rd->at;
    if (n < sizeof(WSAQUERYSET2W))
        return;
    BYTE *buf = malloc_filled(n, 0);
    memcpy(buf, rd->p + rd->at, n);
    WSAQUERYSET2W *r = (WSAQUERYSET2W *)(void *)buf;
    relocate(&r->lpszServiceInstanceName, buf, n);
    relocate(&r->lpVersion, buf, n);
    relocate(&r->lpszComment, buf, n);
    relocate(&r->lpNSProviderId, buf, n);
    relocate(&r->lpszContext, buf, n);
    relocate(&r->lpafpProtocols, buf, n);
    relocate(&r->lpszQueryString, buf, n);
    relocate(&r->lpcsaBuffer, buf, n);
    relocate(&r->lpBlob, buf, n);
    /* Nested pointers, where their holders are inside the buffer and aligned. */
    uintptr_t lo = (uintptr_t)buf + sizeof(WSAQUERYSET2W), hi = (uintptr_t)buf + n;
    uintptr_t csa = (uintptr_t)r->lpcsaBuffer;
    if (csa && csa % 8 == 0 && csa >= lo && csa <= hi &&
        (uint64_t)r->dwNumberOfCsAddrs * sizeof(CSADDR_INFO) <= hi - csa) {
        for (DWORD i = 0; i < r->dwNumberOfCsAddrs; i++) {
            relocate(&r->lpcsaBuffer[i].LocalAddr.lpSockaddr, buf, n);
            relocate(&r->lpcsaBuffer[i].RemoteAddr.lpSockaddr, buf, n);
        }
    }
    uintptr_t bl = (uintptr_t)r->lpBlob;
    if (bl && bl % 8 == 0 && bl >= lo && sizeof(BLOB) <= hi - bl && bl <= hi)
        relocate(&r->lpBlob->pBlobData, buf, n);

    static const GUID provider = {0xfeedface, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
    size_t extent = 0;
    g_violations_allowed = 1;
    g_violations = 0;
    int ok = queryset_check_result(&provider, buf, n, &extent);
    g_violations_allowed = 0;
#ifdef QUERYSET_FUZZ_TRACE
    fprintf(stderr, "result: checker %s, %u violation(s)\n", ok ? "accepted" : "refused",
            g_violations);
#endif
    if (ok) {
        CHECK(extent <= n, "checker extent %zu beyond %zu", extent, n);
        size_t clen = extent + (sizeof(WSAQUERYSETW) - sizeof(WSAQUERYSET2W));
        BYTE *client = malloc_filled(clen, 0xEE);
        queryset_result_to_client(r, extent, (WSAQUERYSETW *)(void *)client);
        struct view cv = view1((const WSAQUERYSETW *)(const void *)client);
        struct bounds cb = {client, clen, sizeof(WSAQUERYSETW), 0, 0, 0, NULL, 0, 0,
                            "accepted result, client copy"};
        check_bounds(&cb, &cv);
        free(client);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = {data, size, 0};
    if (take(&rd, 1) & 1)
        fuzz_result(&rd);
    else
        fuzz_restrictions(&rd);
    return 0;
}
