/* The Winsock types, declarations and numbers nspv2 builds on, on every platform.
 *
 * Windows: the base types come from <windows.h>; everything Winsock-specific comes from the
 * files below, never from winsock2.h/ws2spi.h, so every platform compiles the same declarations.
 * Elsewhere: the same types with the Windows x64 layout (16-bit WCHAR, 32-bit DWORD and LONG),
 * so the Winsock stand-in and the provider library exchange exactly what ws2_32 would. */
#ifndef NSPV2_WS2TYPES_H
#define NSPV2_WS2TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#  ifdef _tagBLOB_DEFINED            /* wtypes.h got there first: keep its BLOB out of the way */
#    define BLOB nspv2_BLOB
#    define LPBLOB nspv2_LPBLOB
#  endif
#else
#  define WINAPI
#  ifndef __stdcall
#    define __stdcall /* cffi spells WINAPI this way in the code it generates */
#  endif
#  include "ws2base.h"
#endif

#ifndef WSAAPI
#  define WSAAPI WINAPI
#endif

#include "ws2decls.h"
#include "ws2api.h"
#include "ws2const.h"

#ifdef __cplusplus
#  define NSPV2_STATIC_ASSERT static_assert
#else
#  define NSPV2_STATIC_ASSERT _Static_assert
#endif

/* The layouts the contract fixes (docs/contract.md). */
NSPV2_STATIC_ASSERT(sizeof(WCHAR) == 2, "WCHAR is a UTF-16 code unit");
NSPV2_STATIC_ASSERT(sizeof(DWORD) == 4 && sizeof(LONG) == 4 && sizeof(ULONG) == 4, "32-bit DWORD/LONG");
NSPV2_STATIC_ASSERT(sizeof(GUID) == 16, "GUID layout");
NSPV2_STATIC_ASSERT(sizeof(SOCKADDR) == 16 && sizeof(SOCKADDR_IN) == 16, "sockaddr layout");
NSPV2_STATIC_ASSERT(sizeof(SOCKADDR_IN6) == 28, "sockaddr_in6 layout");
NSPV2_STATIC_ASSERT(AF_INET == 2 && AF_INET6 == 23,
                    "Winsock address families: do not include the host's <sys/socket.h> here");
NSPV2_STATIC_ASSERT(sizeof(NAPI_PROVIDER_INSTALLATION_BLOB) == 20 &&
                        sizeof(NAPI_DOMAIN_DESCRIPTION_BLOB) == 16,
                    "nsemail.h blob layouts (offsets inside the blob, any architecture)");
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
NSPV2_STATIC_ASSERT(sizeof(WSAQUERYSET2W) == 112, "WSAQUERYSET2W is 112 bytes on x64");
NSPV2_STATIC_ASSERT(sizeof(WSAQUERYSETW) == 120, "WSAQUERYSETW is 120 bytes on x64");
NSPV2_STATIC_ASSERT(offsetof(WSAQUERYSET2W, lpNSProviderId) == 40, "WSAQUERYSET2W layout");
NSPV2_STATIC_ASSERT(offsetof(WSAQUERYSET2W, lpcsaBuffer) == 88, "WSAQUERYSET2W layout");
NSPV2_STATIC_ASSERT(offsetof(WSAQUERYSET2W, lpBlob) == 104, "WSAQUERYSET2W layout");
NSPV2_STATIC_ASSERT(sizeof(NSPV2_ROUTINE) == 72, "NSPV2_ROUTINE is 72 bytes on x64");
NSPV2_STATIC_ASSERT(sizeof(CSADDR_INFO) == 40, "CSADDR_INFO is 40 bytes on x64");
NSPV2_STATIC_ASSERT(sizeof(WSADATA) == 408, "WSADATA is 408 bytes on x64");
#else
NSPV2_STATIC_ASSERT(sizeof(WSAQUERYSET2W) == 56, "WSAQUERYSET2W is 56 bytes on x86");
NSPV2_STATIC_ASSERT(sizeof(NSPV2_ROUTINE) == 40, "NSPV2_ROUTINE is 40 bytes on x86");
#endif

#endif /* NSPV2_WS2TYPES_H */
