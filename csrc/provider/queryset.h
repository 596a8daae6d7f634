/* Reading a client's WSAQUERYSET2W restrictions and packing a result into the caller's buffer.
 * Pure functions over caller memory: no Python, no globals, so the fuzzers can drive them. */
#ifndef NSPV2_QUERYSET_H
#define NSPV2_QUERYSET_H

#include "nspv2/ws2types.h"

/* Limits on what a restriction may carry; beyond them the query set is WSAEINVAL. */
#define NSPV2_MAX_STRING_CHARS 32767u   /* UNICODE_STRING's limit, and more than any name */
#define NSPV2_MAX_PROTOCOLS 1024u
#define NSPV2_MAX_CSADDRS 4096u
#define NSPV2_MAX_SOCKADDR 128          /* sizeof(SOCKADDR_STORAGE) */
#define NSPV2_MAX_BLOB (16u * 1024u * 1024u)
/* Results larger than this are refused with WSA_NOT_ENOUGH_MEMORY rather than asked for. */
#define NSPV2_MAX_RESULT (64u * 1024u * 1024u)

#endif
