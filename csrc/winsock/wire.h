/* The stand-in's wire format between a client process and a host process (remote_client.c,
 * remote_host.c) and the NSS module (csrc/nss/). Why a wire format of its own: on Windows,
 * Winsock carries a client's NSPv2 calls to the host process that advertised the provider
 * (WSAAdvertiseProvider); here they travel over a Unix domain socket, and the host must treat
 * every byte as hostile (another program of the same user may write anything).
 *
 * Framing, as sssd and systemd's varlink taught: a fixed 16-byte header with the whole
 * message's length, capped (WIRE_MAX_MESSAGE); the first request of a connection is a HELLO
 * with a magic number and the protocol version; replies carry the request's id and a Winsock
 * code. A malformed message gets an error reply and the connection closed. Byte order is the
 * machine's: both ends always run on the same machine.
 *
 * A query set travels as an image: a fixed header (struct wire_qs) followed by its objects,
 * each at an 8-aligned offset from the image's start (0 = absent). Decoding checks every
 * offset, length, count, alignment and string terminator against the image before anything
 * points into it. This file has no I/O and no state: the fuzzer drives it directly. */
#ifndef NSPV2_WIRE_H
#define NSPV2_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nspv2/ws2types.h"

/* Nothing here is exported from the libraries that compile wire.c in. */
#pragma GCC visibility push(hidden)

#define WIRE_MAGIC 0x3256534Eu            /* "NSV2" */
#define WIRE_VERSION 1u
#define WIRE_HEADER_SIZE 16u
#define WIRE_MAX_MESSAGE ((uint32_t)4 << 20) /* any message, either direction */
/* The largest result buffer a host allocates for one NEXT (what fits in a reply). */
#define WIRE_MAX_RESULT (WIRE_MAX_MESSAGE - 4096u)
#define WIRE_MAX_ITEMS 4096u              /* protocols or CSADDRs in one query set */
#define WIRE_MAX_SOCKADDR 4096            /* bytes of one SOCKADDR */

enum wire_type {
    WIRE_HELLO = 1,       /* u32 magic, u32 version, GUID provider  -> u32 version, u32 pid */
    WIRE_BEGIN = 2,       /* u32 flags, u32 0, image                 -> u64 handle */
    WIRE_NEXT = 3,        /* u64 handle, u32 flags, u32 length       -> image | u32 required */
    WIRE_END = 4,         /* u64 handle                              -> (empty) */
    WIRE_SETSERVICE = 5,  /* u32 operation, u32 flags, image         -> (empty) */
    WIRE_CLEANUP = 6,     /* (empty)                                 -> (empty), then closed */
    WIRE_STATS = 7,       /* (empty)                                 -> u32 n, u32 0, n x u64 */
    WIRE_REPLY = 0x80     /* or'ed into a reply's type */
};

/* The host's counters a STATS reply carries, in this order. */
enum wire_stat {
    WIRE_STAT_CONNECTIONS,      /* connections open now */
    WIRE_STAT_ACCEPTED,         /* connections accepted since the host started */
    WIRE_STAT_REFUSED,          /* connections refused (another user, bad hello) */
    WIRE_STAT_MALFORMED,        /* messages refused as malformed */
    WIRE_STAT_CLIENTS,          /* simulated client sessions of remote clients now alive */
    WIRE_STAT_LOOKUPS,          /* lookup handles open in the host's stand-in */
    WIRE_STAT_REQUESTS,         /* requests answered */
    WIRE_STAT_RUNDOWNS,         /* connections that ended without CLEANUP */
    WIRE_STAT_HANDOVERS,        /* readings handed to another thread: a call had to wait */
    WIRE_STAT_LONG_CALLS,       /* readings handed over because a call ran long (watchdog) */
    WIRE_STAT_COUNT
};

struct wire_header {
    uint32_t length;      /* whole message, header included */
    uint16_t type;
    uint16_t reserved;    /* 0 */
    uint32_t id;          /* request id, echoed by the reply; 0 = the connection itself */
    int32_t status;       /* requests: 0; replies: a Winsock code */
};

/* The image header of a query set; offsets count from the image's first byte. */
struct wire_qs {
    uint32_t size;                         /* the image's bytes, this header included */
    uint32_t name_space, output_flags, flags;
    uint32_t n_protocols, n_csaddrs, blob_length;
    uint32_t off_name, off_comment, off_context, off_query; /* UTF-16, 0-terminated */
    uint32_t off_version;                  /* WSAVERSION */
    uint32_t off_provider;                 /* GUID */
    uint32_t off_protocols;                /* n_protocols x AFPROTOCOLS */
    uint32_t off_csaddrs;                  /* n_csaddrs x struct wire_csaddr */
    uint32_t off_blob;                     /* blob_length bytes (WIRE_QS_BLOB: lpBlob set) */
};
#define WIRE_QS_BLOB 1u
struct wire_csaddr {
    uint32_t off_local, len_local, off_remote, len_remote;
    int32_t socket_type, protocol;
};

/* A query set's fields, whichever struct they came from or go to. */
struct wire_fields {
    const WCHAR *name, *comment, *context, *query;
    const WSAVERSION *version;
    const GUID *provider;
    DWORD name_space, output_flags, n_protocols, n_csaddrs;
    const AFPROTOCOLS *protocols;
    const CSADDR_INFO *csaddrs;
    const BLOB *blob;
};

/* A decoded request (host side); pointers point into the message. */
struct wire_request {
    struct wire_header header;
    uint32_t flags, length, operation;
    uint64_t handle;
    GUID provider;
    const uint8_t *image;                  /* checked query set image, or NULL */
};

void wire_fields_from_client(const WSAQUERYSETW *qs, struct wire_fields *f);
void wire_fields_from_provider(const WSAQUERYSET2W *qs, struct wire_fields *f);

/* Bytes of the image of f (a multiple of 8), or 0 when it would exceed WIRE_MAX_MESSAGE. */
size_t wire_qs_size(const struct wire_fields *f);
/* Writes the image of f into out (wire_qs_size(f) bytes, 8-aligned). */
void wire_qs_write(const struct wire_fields *f, uint8_t *out);
/* Checks an image of at most `available` bytes at an 8-aligned address; NO_ERROR or WSAEINVAL. */
INT wire_qs_check(const uint8_t *image, size_t available);
/* Reads a checked image: pointers into it; csaddrs (n_csaddrs entries) and blob are the
 * caller's storage for what the image does not hold as is. */
void wire_qs_fields(const uint8_t *image, struct wire_fields *f, CSADDR_INFO *csaddrs, BLOB *blob);
/* A checked image's CSADDR count (for sizing the caller's storage). */
DWORD wire_qs_csaddr_count(const uint8_t *image);

/* Packs f as a provider's WSAQUERYSET2W result into buffer (8-aligned, `length` bytes).
 * Returns the bytes needed; packs only when they fit. 0: too large to represent. */
size_t wire_pack_provider(const struct wire_fields *f, void *buffer, size_t length);
/* The same into a client's WSAQUERYSETW (one malloc'd block the caller frees); NULL: memory. */
WSAQUERYSETW *wire_to_client(const struct wire_fields *f);

/* Reads a message header; NO_ERROR, or WSAEINVAL when its length is out of bounds. */
INT wire_header_read(const uint8_t *bytes, struct wire_header *h);
void wire_header_write(uint8_t *bytes, uint32_t length, uint16_t type, uint32_t id,
                       int32_t status);
/* Decodes one whole request message (header included, 8-aligned); NO_ERROR or WSAEINVAL. */
INT wire_request_decode(const uint8_t *message, size_t length, struct wire_request *r);

#pragma GCC visibility pop

#endif
