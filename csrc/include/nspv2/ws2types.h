/* The Winsock types, declarations and numbers nspv2 builds on, on every platform.
 *
 * Windows: the base types come from <windows.h>; everything Winsock-specific comes from the
 * files below, never from winsock2.h/ws2spi.h, so every platform compiles the same declarations.
 * Elsewhere: the same types with the Windows layout (16-bit WCHAR, 32-bit DWORD and LONG), so the
 * Winsock stand-in and the provider library exchange exactly what ws2_32 would. 64-bit pointers
 * give the x64 layout (Windows x64 and ARM64, 64-bit Linux), 32-bit ones the x86 layout. */
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
#if UINTPTR_MAX == 0xFFFFFFFFu
#  include "ws2wsadata32.h"
#else
#  include "ws2wsadata64.h"
#endif
#include "ws2api.h"
#include "ws2const.h"

#ifdef __cplusplus
#  define NSPV2_STATIC_ASSERT static_assert
#else
#  define NSPV2_STATIC_ASSERT _Static_assert
#endif

/* The base types and numbers the layouts rest on. */
NSPV2_STATIC_ASSERT(sizeof(WCHAR) == 2, "WCHAR is a UTF-16 code unit");
NSPV2_STATIC_ASSERT(sizeof(DWORD) == 4 && sizeof(LONG) == 4 && sizeof(ULONG) == 4, "32-bit DWORD/LONG");
NSPV2_STATIC_ASSERT(sizeof(WSAECOMPARATOR) == 4 && sizeof(WSAESETSERVICEOP) == 4, "enums are 4 bytes");
NSPV2_STATIC_ASSERT(AF_INET == 2 && AF_INET6 == 23,
                    "Winsock address families: do not include the host's <sys/socket.h> here");

/* Every Winsock struct's size and every field's offset, on Windows x64 (and ARM64: both LLP64,
 * 8-byte pointers) and on x86 (4-byte pointers), as the SDK's declarations lay them out
 * (winsock2.h, ws2def.h, ws2ipdef.h, ws2spi.h, nsemail.h, guiddef.h; each member at the next
 * multiple of its own alignment, the struct padded to its largest member's). Each line gives
 * both numbers; the one for this target is checked, so a build for each target checks its
 * column (tools/windows_build.py builds for both, and also checks these numbers against
 * mingw-w64's own declarations of the same structs). */
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
#  define NSPV2_X64_X86(x64, x86) (x64)
#elif UINTPTR_MAX == 0xFFFFFFFFu
#  define NSPV2_X64_X86(x64, x86) (x86)
#else
#  error "nspv2 knows the Winsock layouts for 8-byte and 4-byte pointers only"
#endif
#define NSPV2_SIZE(type, x64, x86)                                                           \
    NSPV2_STATIC_ASSERT(sizeof(type) == NSPV2_X64_X86(x64, x86),                            \
                        "sizeof(" #type ") is " #x64 " on x64, " #x86 " on x86")
#define NSPV2_OFFSET(type, field, x64, x86)                                                  \
    NSPV2_STATIC_ASSERT(offsetof(type, field) == NSPV2_X64_X86(x64, x86),                   \
                        #type "." #field " is at " #x64 " on x64, " #x86 " on x86")

NSPV2_SIZE(GUID, 16, 16);
NSPV2_OFFSET(GUID, Data1, 0, 0);
NSPV2_OFFSET(GUID, Data2, 4, 4);
NSPV2_OFFSET(GUID, Data3, 6, 6);
NSPV2_OFFSET(GUID, Data4, 8, 8);

NSPV2_SIZE(SOCKADDR, 16, 16);
NSPV2_OFFSET(SOCKADDR, sa_family, 0, 0);
NSPV2_OFFSET(SOCKADDR, sa_data, 2, 2);

NSPV2_SIZE(SOCKADDR_IN, 16, 16);
NSPV2_OFFSET(SOCKADDR_IN, sin_family, 0, 0);
NSPV2_OFFSET(SOCKADDR_IN, sin_port, 2, 2);
NSPV2_OFFSET(SOCKADDR_IN, sin_addr, 4, 4);
NSPV2_OFFSET(SOCKADDR_IN, sin_zero, 8, 8);

NSPV2_SIZE(SOCKADDR_IN6, 28, 28);
NSPV2_OFFSET(SOCKADDR_IN6, sin6_family, 0, 0);
NSPV2_OFFSET(SOCKADDR_IN6, sin6_port, 2, 2);
NSPV2_OFFSET(SOCKADDR_IN6, sin6_flowinfo, 4, 4);
NSPV2_OFFSET(SOCKADDR_IN6, sin6_addr, 8, 8);
NSPV2_OFFSET(SOCKADDR_IN6, sin6_scope_id, 24, 24);

NSPV2_SIZE(SOCKET_ADDRESS, 16, 8);
NSPV2_OFFSET(SOCKET_ADDRESS, lpSockaddr, 0, 0);
NSPV2_OFFSET(SOCKET_ADDRESS, iSockaddrLength, 8, 4);

NSPV2_SIZE(CSADDR_INFO, 40, 24);
NSPV2_OFFSET(CSADDR_INFO, LocalAddr, 0, 0);
NSPV2_OFFSET(CSADDR_INFO, RemoteAddr, 16, 8);
NSPV2_OFFSET(CSADDR_INFO, iSocketType, 32, 16);
NSPV2_OFFSET(CSADDR_INFO, iProtocol, 36, 20);

NSPV2_SIZE(BLOB, 16, 8);
NSPV2_OFFSET(BLOB, cbSize, 0, 0);
NSPV2_OFFSET(BLOB, pBlobData, 8, 4);

NSPV2_SIZE(AFPROTOCOLS, 8, 8);
NSPV2_OFFSET(AFPROTOCOLS, iAddressFamily, 0, 0);
NSPV2_OFFSET(AFPROTOCOLS, iProtocol, 4, 4);

NSPV2_SIZE(WSAVERSION, 8, 8);
NSPV2_OFFSET(WSAVERSION, dwVersion, 0, 0);
NSPV2_OFFSET(WSAVERSION, ecHow, 4, 4);

NSPV2_SIZE(WSAQUERYSETW, 120, 60);
NSPV2_OFFSET(WSAQUERYSETW, dwSize, 0, 0);
NSPV2_OFFSET(WSAQUERYSETW, lpszServiceInstanceName, 8, 4);
NSPV2_OFFSET(WSAQUERYSETW, lpServiceClassId, 16, 8);
NSPV2_OFFSET(WSAQUERYSETW, lpVersion, 24, 12);
NSPV2_OFFSET(WSAQUERYSETW, lpszComment, 32, 16);
NSPV2_OFFSET(WSAQUERYSETW, dwNameSpace, 40, 20);
NSPV2_OFFSET(WSAQUERYSETW, lpNSProviderId, 48, 24);
NSPV2_OFFSET(WSAQUERYSETW, lpszContext, 56, 28);
NSPV2_OFFSET(WSAQUERYSETW, dwNumberOfProtocols, 64, 32);
NSPV2_OFFSET(WSAQUERYSETW, lpafpProtocols, 72, 36);
NSPV2_OFFSET(WSAQUERYSETW, lpszQueryString, 80, 40);
NSPV2_OFFSET(WSAQUERYSETW, dwNumberOfCsAddrs, 88, 44);
NSPV2_OFFSET(WSAQUERYSETW, lpcsaBuffer, 96, 48);
NSPV2_OFFSET(WSAQUERYSETW, dwOutputFlags, 104, 52);
NSPV2_OFFSET(WSAQUERYSETW, lpBlob, 112, 56);

NSPV2_SIZE(WSAQUERYSET2W, 112, 56);
NSPV2_OFFSET(WSAQUERYSET2W, dwSize, 0, 0);
NSPV2_OFFSET(WSAQUERYSET2W, lpszServiceInstanceName, 8, 4);
NSPV2_OFFSET(WSAQUERYSET2W, lpVersion, 16, 8);
NSPV2_OFFSET(WSAQUERYSET2W, lpszComment, 24, 12);
NSPV2_OFFSET(WSAQUERYSET2W, dwNameSpace, 32, 16);
NSPV2_OFFSET(WSAQUERYSET2W, lpNSProviderId, 40, 20);
NSPV2_OFFSET(WSAQUERYSET2W, lpszContext, 48, 24);
NSPV2_OFFSET(WSAQUERYSET2W, dwNumberOfProtocols, 56, 28);
NSPV2_OFFSET(WSAQUERYSET2W, lpafpProtocols, 64, 32);
NSPV2_OFFSET(WSAQUERYSET2W, lpszQueryString, 72, 36);
NSPV2_OFFSET(WSAQUERYSET2W, dwNumberOfCsAddrs, 80, 40);
NSPV2_OFFSET(WSAQUERYSET2W, lpcsaBuffer, 88, 44);
NSPV2_OFFSET(WSAQUERYSET2W, dwOutputFlags, 96, 48);
NSPV2_OFFSET(WSAQUERYSET2W, lpBlob, 104, 52);

NSPV2_SIZE(WSANAMESPACE_INFOEXW, 56, 40);
NSPV2_OFFSET(WSANAMESPACE_INFOEXW, NSProviderId, 0, 0);
NSPV2_OFFSET(WSANAMESPACE_INFOEXW, dwNameSpace, 16, 16);
NSPV2_OFFSET(WSANAMESPACE_INFOEXW, fActive, 20, 20);
NSPV2_OFFSET(WSANAMESPACE_INFOEXW, dwVersion, 24, 24);
NSPV2_OFFSET(WSANAMESPACE_INFOEXW, lpszIdentifier, 32, 28);
NSPV2_OFFSET(WSANAMESPACE_INFOEXW, ProviderSpecific, 40, 32);

/* The one struct whose field order differs: on x86 the strings come first (ws2wsadata32.h). */
NSPV2_SIZE(WSADATA, 408, 400);
NSPV2_OFFSET(WSADATA, wVersion, 0, 0);
NSPV2_OFFSET(WSADATA, wHighVersion, 2, 2);
NSPV2_OFFSET(WSADATA, iMaxSockets, 4, 390);
NSPV2_OFFSET(WSADATA, iMaxUdpDg, 6, 392);
NSPV2_OFFSET(WSADATA, lpVendorInfo, 8, 396);
NSPV2_OFFSET(WSADATA, szDescription, 16, 4);
NSPV2_OFFSET(WSADATA, szSystemStatus, 273, 261);

NSPV2_SIZE(NSPV2_ROUTINE, 72, 40);
NSPV2_OFFSET(NSPV2_ROUTINE, cbSize, 0, 0);
NSPV2_OFFSET(NSPV2_ROUTINE, dwMajorVersion, 4, 4);
NSPV2_OFFSET(NSPV2_ROUTINE, dwMinorVersion, 8, 8);
NSPV2_OFFSET(NSPV2_ROUTINE, NSPv2Startup, 16, 12);
NSPV2_OFFSET(NSPV2_ROUTINE, NSPv2Cleanup, 24, 16);
NSPV2_OFFSET(NSPV2_ROUTINE, NSPv2LookupServiceBegin, 32, 20);
NSPV2_OFFSET(NSPV2_ROUTINE, NSPv2LookupServiceNextEx, 40, 24);
NSPV2_OFFSET(NSPV2_ROUTINE, NSPv2LookupServiceEnd, 48, 28);
NSPV2_OFFSET(NSPV2_ROUTINE, NSPv2SetServiceEx, 56, 32);
NSPV2_OFFSET(NSPV2_ROUTINE, NSPv2ClientSessionRundown, 64, 36);

NSPV2_SIZE(NAPI_DOMAIN_DESCRIPTION_BLOB, 16, 16);
NSPV2_OFFSET(NAPI_DOMAIN_DESCRIPTION_BLOB, AuthLevel, 0, 0);
NSPV2_OFFSET(NAPI_DOMAIN_DESCRIPTION_BLOB, cchDomainName, 4, 4);
NSPV2_OFFSET(NAPI_DOMAIN_DESCRIPTION_BLOB, OffsetNextDomainDescription, 8, 8);
NSPV2_OFFSET(NAPI_DOMAIN_DESCRIPTION_BLOB, OffsetThisDomainName, 12, 12);

NSPV2_SIZE(NAPI_PROVIDER_INSTALLATION_BLOB, 20, 20);
NSPV2_OFFSET(NAPI_PROVIDER_INSTALLATION_BLOB, dwVersion, 0, 0);
NSPV2_OFFSET(NAPI_PROVIDER_INSTALLATION_BLOB, dwProviderType, 4, 4);
NSPV2_OFFSET(NAPI_PROVIDER_INSTALLATION_BLOB, fSupportsWildCard, 8, 8);
NSPV2_OFFSET(NAPI_PROVIDER_INSTALLATION_BLOB, cDomains, 12, 12);
NSPV2_OFFSET(NAPI_PROVIDER_INSTALLATION_BLOB, OffsetFirstDomain, 16, 16);

#endif /* NSPV2_WS2TYPES_H */
