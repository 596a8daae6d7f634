/* libFuzzer harness for the host's message decoder (csrc/winsock/wire.c): every byte a client
 * process sends a host goes through wire_request_decode, and a query set image it accepts is
 * turned into the WSAQUERYSETW the host's stand-in is called with (wire_qs_fields,
 * wire_to_client) or packed into a provider's buffer (wire_pack_provider). Whatever the input,
 * none of this may read or write outside what it was given, and what it accepts must be
 * self-consistent: every pointer of the client form inside its block, a re-encoded image equal
 * in meaning, the packed form inside its buffer.
 *
 * Build (tests/test_fuzz_wire.py does this):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *     -Icsrc/include -Icsrc/winsock tests/fuzz/wire_fuzz.c csrc/winsock/wire.c -o wire_fuzz
 *
 * Input: the first byte picks the mode.
 *   even: a request body; byte 1 is its message type; the harness writes a header of the right
 *     length in front (so most inputs get past the framing and exercise the body's decoding).
 *   odd: the rest is a whole message, header included, decoded as it is. */
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "wire_fuzz: %s\n", what);                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static volatile unsigned g_sink;

/* Reads every byte a decoded client query set points to (ASan reports any outside). */
static void touch_wide(const WCHAR *s)
{
    for (; s && *s; s++)
        g_sink += *s;
}

static void touch_bytes(const void *p, size_t n)
{
    const BYTE *b = p;
    for (size_t i = 0; b && i < n; i++)
        g_sink += b[i];
}

static void inside(const void *block, size_t size, const void *p, size_t n, const char *what)
{
    if (p == NULL)
        return;
    const BYTE *start = block, *at = p;
    CHECK(at >= start && (size_t)(at - start) <= size && n <= size - (size_t)(at - start), what);
}

static void check_client(const WSAQUERYSETW *q, size_t size)
{
    touch_wide(q->lpszServiceInstanceName);
    touch_wide(q->lpszComment);
    touch_wide(q->lpszContext);
    touch_wide(q->lpszQueryString);
    inside(q, size, q->lpVersion, sizeof(WSAVERSION), "lpVersion outside the block");
    inside(q, size, q->lpNSProviderId, sizeof(GUID), "lpNSProviderId outside the block");
    inside(q, size, q->lpafpProtocols, q->dwNumberOfProtocols * sizeof(AFPROTOCOLS),
           "lpafpProtocols outside the block");
    inside(q, size, q->lpcsaBuffer, q->dwNumberOfCsAddrs * sizeof(CSADDR_INFO),
           "lpcsaBuffer outside the block");
    for (DWORD i = 0; q->lpcsaBuffer && i < q->dwNumberOfCsAddrs; i++) {
        const CSADDR_INFO *c = &q->lpcsaBuffer[i];
        inside(q, size, c->LocalAddr.lpSockaddr, (size_t)c->LocalAddr.iSockaddrLength,
               "LocalAddr outside the block");
        inside(q, size, c->RemoteAddr.lpSockaddr, (size_t)c->RemoteAddr.iSockaddrLength,
               "RemoteAddr outside the block");
        touch_bytes(c->LocalAddr.lpSockaddr, (size_t)c->LocalAddr.iSockaddrLength);
        touch_bytes(c->RemoteAddr.lpSockaddr, (size_t)c->RemoteAddr.iSockaddrLength);
    }
    if (q->lpBlob) {
        inside(q, size, q->lpBlob->pBlobData, q->lpBlob->cbSize, "blob outside the block");
        touch_bytes(q->lpBlob->pBlobData, q->lpBlob->cbSize);
    }
}

static void exercise_image(const uint8_t *image)
{
    DWORD n = wire_qs_csaddr_count(image);
    CSADDR_INFO *csaddrs = calloc(n ? n : 1, sizeof *csaddrs);
    CHECK(csaddrs != NULL, "out of memory");
    struct wire_fields f;
    BLOB blob;
    wire_qs_fields(image, &f, csaddrs, &blob);

    /* The host's view: a client query set in one block. */
    WSAQUERYSETW *q = wire_to_client(&f);
    if (q) {
        /* The client form's block is the provider form's size plus the 8 bytes by which
         * WSAQUERYSETW is larger. */
        size_t size = wire_pack_provider(&f, NULL, 0) + sizeof(WSAQUERYSETW) -
                      sizeof(WSAQUERYSET2W);
        struct wire_fields again;
        wire_fields_from_client(q, &again);
        check_client(q, size);

        /* Re-encoded, it must decode again (the client's side of a NEXT reply). */
        size_t bytes = wire_qs_size(&again);
        if (bytes) {
            uint8_t *copy = aligned_alloc(8, bytes);
            CHECK(copy != NULL, "out of memory");
            wire_qs_write(&again, copy);
            CHECK(wire_qs_check(copy, bytes) == NO_ERROR, "a re-encoded image does not decode");
            free(copy);
        }
        free(q);
    }

    /* The client's side: packed into provider buffers too small, exact and larger. */
    size_t need = wire_pack_provider(&f, NULL, 0);
    if (need && need < ((size_t)8 << 20)) {
        size_t lengths[3] = {need / 2, need, need + 24};
        for (int i = 0; i < 3; i++) {
            size_t length = lengths[i];
            uint8_t *buffer = aligned_alloc(16, (length + 15u) & ~(size_t)15u);
            CHECK(buffer != NULL, "out of memory");
            size_t got = wire_pack_provider(&f, buffer, length);
            CHECK(got == need, "packing needs a different size the second time");
            free(buffer);
        }
    }
    free(csaddrs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > WIRE_MAX_MESSAGE)
        return 0;
    size_t length;
    uint8_t *message;
    if ((data[0] & 1) == 0) {
        if (size < 2)
            return 0;
        length = WIRE_HEADER_SIZE + (size - 2);
        message = aligned_alloc(8, ((length + 7u) & ~(size_t)7u) + 8);
        CHECK(message != NULL, "out of memory");
        wire_header_write(message, (uint32_t)length, data[1], 1, 0);
        memcpy(message + WIRE_HEADER_SIZE, data + 2, size - 2);
    } else {
        length = size - 1;
        message = aligned_alloc(8, ((length + 7u) & ~(size_t)7u) + 8);
        CHECK(message != NULL, "out of memory");
        memcpy(message, data + 1, length);
    }
    struct wire_request r;
    if (wire_request_decode(message, length, &r) == NO_ERROR && r.image)
        exercise_image(r.image);
    /* The image checker alone, on the body as an image. */
    if (length > WIRE_HEADER_SIZE + 8 && wire_qs_check(message + WIRE_HEADER_SIZE + 8,
                                                       length - WIRE_HEADER_SIZE - 8) == NO_ERROR)
        exercise_image(message + WIRE_HEADER_SIZE + 8);
    free(message);
    return 0;
}
