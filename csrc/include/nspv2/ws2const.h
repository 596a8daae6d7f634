/* Winsock numbers nspv2 uses: the one place they are written. src/nspv2/_constants.py is
 * generated from this file by tools/gen_constants.py (a test checks it is current).
 * Each value is defined only when the platform's headers have not defined it already; on Windows
 * ws2types.h checks the SDK's values against these. Format, which the generator relies on:
 * a '@group Name Kind: doc' comment, then '#ifndef NAME / #define NAME value / #endif' triples. */
#ifndef NSPV2_WS2CONST_H
#define NSPV2_WS2CONST_H

/* @group ReturnCode IntEnum: Return values of the synchronous calls. */
#ifndef NO_ERROR
#define NO_ERROR 0
#endif
#ifndef SOCKET_ERROR
#define SOCKET_ERROR (-1)
#endif

/* @group ErrorCode IntEnum: Winsock error codes (winerror.h, winsock2.h). */
#ifndef WSA_INVALID_HANDLE
#define WSA_INVALID_HANDLE 6
#endif
#ifndef WSA_NOT_ENOUGH_MEMORY
#define WSA_NOT_ENOUGH_MEMORY 8
#endif
#ifndef WSA_INVALID_PARAMETER
#define WSA_INVALID_PARAMETER 87
#endif
#ifndef WSAEACCES
#define WSAEACCES 10013
#endif
#ifndef WSAEFAULT
#define WSAEFAULT 10014
#endif
#ifndef WSAEINVAL
#define WSAEINVAL 10022
#endif
#ifndef WSAEAFNOSUPPORT
#define WSAEAFNOSUPPORT 10047
#endif
#ifndef WSAEOPNOTSUPP
#define WSAEOPNOTSUPP 10045
#endif
#ifndef WSASYSNOTREADY
#define WSASYSNOTREADY 10091
#endif
#ifndef WSAVERNOTSUPPORTED
#define WSAVERNOTSUPPORTED 10092
#endif
#ifndef WSANOTINITIALISED
#define WSANOTINITIALISED 10093
#endif
#ifndef WSAENOMORE
#define WSAENOMORE 10102
#endif
#ifndef WSAECANCELLED
#define WSAECANCELLED 10103
#endif
#ifndef WSAEINVALIDPROVIDER
#define WSAEINVALIDPROVIDER 10105
#endif
#ifndef WSAEPROVIDERFAILEDINIT
#define WSAEPROVIDERFAILEDINIT 10106
#endif
#ifndef WSASERVICE_NOT_FOUND
#define WSASERVICE_NOT_FOUND 10108
#endif
#ifndef WSATYPE_NOT_FOUND
#define WSATYPE_NOT_FOUND 10109
#endif
#ifndef WSA_E_NO_MORE
#define WSA_E_NO_MORE 10110
#endif
#ifndef WSA_E_CANCELLED
#define WSA_E_CANCELLED 10111
#endif
#ifndef WSAHOST_NOT_FOUND
#define WSAHOST_NOT_FOUND 11001
#endif
#ifndef WSATRY_AGAIN
#define WSATRY_AGAIN 11002
#endif
#ifndef WSANO_RECOVERY
#define WSANO_RECOVERY 11003
#endif
#ifndef WSANO_DATA
#define WSANO_DATA 11004
#endif

/* @group LookupFlags IntFlag: dwControlFlags of WSALookupServiceBegin/Next (LUP_*). */
#ifndef LUP_DEEP
#define LUP_DEEP 0x1
#endif
#ifndef LUP_CONTAINERS
#define LUP_CONTAINERS 0x2
#endif
#ifndef LUP_NOCONTAINERS
#define LUP_NOCONTAINERS 0x4
#endif
#ifndef LUP_NEAREST
#define LUP_NEAREST 0x8
#endif
#ifndef LUP_RETURN_NAME
#define LUP_RETURN_NAME 0x10
#endif
#ifndef LUP_RETURN_TYPE
#define LUP_RETURN_TYPE 0x20
#endif
#ifndef LUP_RETURN_VERSION
#define LUP_RETURN_VERSION 0x40
#endif
#ifndef LUP_RETURN_COMMENT
#define LUP_RETURN_COMMENT 0x80
#endif
#ifndef LUP_RETURN_ADDR
#define LUP_RETURN_ADDR 0x100
#endif
#ifndef LUP_RETURN_BLOB
#define LUP_RETURN_BLOB 0x200
#endif
#ifndef LUP_RETURN_ALIASES
#define LUP_RETURN_ALIASES 0x400
#endif
#ifndef LUP_RETURN_QUERY_STRING
#define LUP_RETURN_QUERY_STRING 0x800
#endif
#ifndef LUP_RETURN_ALL
#define LUP_RETURN_ALL 0xFF0
#endif
#ifndef LUP_FLUSHCACHE
#define LUP_FLUSHCACHE 0x1000
#endif
#ifndef LUP_FLUSHPREVIOUS
#define LUP_FLUSHPREVIOUS 0x2000
#endif
#ifndef LUP_NON_AUTHORITATIVE
#define LUP_NON_AUTHORITATIVE 0x4000
#endif
#ifndef LUP_RES_SERVICE
#define LUP_RES_SERVICE 0x8000
#endif
#ifndef LUP_RETURN_PREFERRED_NAMES
#define LUP_RETURN_PREFERRED_NAMES 0x10000
#endif

/* @group ResultFlags IntFlag: dwOutputFlags of a result (RESULT_IS_*). */
#ifndef RESULT_IS_ALIAS
#define RESULT_IS_ALIAS 0x1
#endif
#ifndef RESULT_IS_ADDED
#define RESULT_IS_ADDED 0x10
#endif
#ifndef RESULT_IS_CHANGED
#define RESULT_IS_CHANGED 0x20
#endif
#ifndef RESULT_IS_DELETED
#define RESULT_IS_DELETED 0x40
#endif

/* @group Namespace IntEnum: Namespace identifiers (NS_*). */
#ifndef NS_ALL
#define NS_ALL 0
#endif
#ifndef NS_SAP
#define NS_SAP 1
#endif
#ifndef NS_NDS
#define NS_NDS 2
#endif
#ifndef NS_PEER_BROWSE
#define NS_PEER_BROWSE 3
#endif
#ifndef NS_SLP
#define NS_SLP 5
#endif
#ifndef NS_DHCP
#define NS_DHCP 6
#endif
#ifndef NS_TCPIP_LOCAL
#define NS_TCPIP_LOCAL 10
#endif
#ifndef NS_TCPIP_HOSTS
#define NS_TCPIP_HOSTS 11
#endif
#ifndef NS_DNS
#define NS_DNS 12
#endif
#ifndef NS_NETBT
#define NS_NETBT 13
#endif
#ifndef NS_WINS
#define NS_WINS 14
#endif
#ifndef NS_NLA
#define NS_NLA 15
#endif
#ifndef NS_BTH
#define NS_BTH 16
#endif
#ifndef NS_NBP
#define NS_NBP 20
#endif
#ifndef NS_MS
#define NS_MS 30
#endif
#ifndef NS_STDA
#define NS_STDA 31
#endif
#ifndef NS_NTDS
#define NS_NTDS 32
#endif
#ifndef NS_EMAIL
#define NS_EMAIL 37
#endif
#ifndef NS_PNRPNAME
#define NS_PNRPNAME 38
#endif
#ifndef NS_PNRPCLOUD
#define NS_PNRPCLOUD 39
#endif
#ifndef NS_X500
#define NS_X500 40
#endif
#ifndef NS_NIS
#define NS_NIS 41
#endif
#ifndef NS_NISPLUS
#define NS_NISPLUS 42
#endif
#ifndef NS_WRQ
#define NS_WRQ 50
#endif
#ifndef NS_NETDES
#define NS_NETDES 60
#endif

/* @group AddressFamily IntEnum: Winsock address families (Windows values, not the host's). */
#ifndef AF_UNSPEC
#define AF_UNSPEC 0
#endif
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 23
#endif

/* @group SocketType IntEnum: Winsock socket types. */
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
#ifndef SOCK_DGRAM
#define SOCK_DGRAM 2
#endif
#ifndef SOCK_RAW
#define SOCK_RAW 3
#endif
#ifndef SOCK_SEQPACKET
#define SOCK_SEQPACKET 5
#endif

/* @group IpProtocol IntEnum: Winsock protocol numbers. */
#ifndef IPPROTO_IP
#define IPPROTO_IP 0
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif
#ifndef IPPROTO_UDP
#define IPPROTO_UDP 17
#endif

/* @group Version -: Version numbers. */
/* NSPV2_ROUTINE's dwMajorVersion.dwMinorVersion: 1.0, what Microsoft's NSPv2 SDK sample
 * (SampleProvider.c) advertises, the only provider known to have run on Windows. */
#ifndef NSPV2_ROUTINE_MAJOR_VERSION
#define NSPV2_ROUTINE_MAJOR_VERSION 1
#endif
#ifndef NSPV2_ROUTINE_MINOR_VERSION
#define NSPV2_ROUTINE_MINOR_VERSION 0
#endif
#ifndef NAPI_CURRENT_VERSION
#define NAPI_CURRENT_VERSION 1
#endif

/* @group ServiceClass GUID: Service class GUIDs (svcguid.h), as GUID initializers. */
/* SVCID_HOSTNAME: the class of "resolve this name to its addresses", which is what nspv2's
 * clients ask (nspv2.lookup, the CLI, the native host) in every namespace, NS_EMAIL included. */
#ifndef SVCID_HOSTNAME
#define SVCID_HOSTNAME {0x0002A800, 0x0000, 0x0000, {0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}}
#endif

#endif
