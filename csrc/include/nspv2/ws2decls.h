/* The Winsock declarations nspv2 uses: ws2def.h, winsock2.h, ws2spi.h and nsemail.h, written
 * after the Windows SDK headers (not after mingw-w64, which gets several of them wrong; see
 * docs/contract.md). Layouts are the SDK's; NSPv2 callbacks that the SDK declares VOID are VOID.
 *
 * This file is read twice: by C compilers (through ws2types.h) and by cffi's cdef() parser,
 * so it holds declarations only: no preprocessor lines, no attributes, no static asserts.
 * WINAPI is the SDK's calling convention macro (WSAAPI is the same); cffi knows it by name. */

typedef struct sockaddr {
    USHORT sa_family;
    CHAR sa_data[14];
} SOCKADDR, *PSOCKADDR, *LPSOCKADDR;

/* Winsock's sockaddr_in and sockaddr_in6 (AF_INET 2, AF_INET6 23); ports and addresses in
 * network byte order. */
typedef struct sockaddr_in {
    USHORT sin_family;
    USHORT sin_port;
    BYTE sin_addr[4];
    CHAR sin_zero[8];
} SOCKADDR_IN;

typedef struct sockaddr_in6 {
    USHORT sin6_family;
    USHORT sin6_port;
    ULONG sin6_flowinfo;
    BYTE sin6_addr[16];
    ULONG sin6_scope_id;
} SOCKADDR_IN6;

typedef struct _SOCKET_ADDRESS {
    LPSOCKADDR lpSockaddr;
    INT iSockaddrLength;
} SOCKET_ADDRESS, *PSOCKET_ADDRESS, *LPSOCKET_ADDRESS;

typedef struct _CSADDR_INFO {
    SOCKET_ADDRESS LocalAddr;
    SOCKET_ADDRESS RemoteAddr;
    INT iSocketType;
    INT iProtocol;
} CSADDR_INFO, *PCSADDR_INFO, *LPCSADDR_INFO;

typedef struct _BLOB {
    ULONG cbSize;
    BYTE *pBlobData;
} BLOB, *LPBLOB;

typedef struct _AFPROTOCOLS {
    INT iAddressFamily;
    INT iProtocol;
} AFPROTOCOLS, *PAFPROTOCOLS, *LPAFPROTOCOLS;

typedef enum _WSAEcomparator {
    COMP_EQUAL = 0,
    COMP_NOTLESS = 1
} WSAECOMPARATOR;

typedef struct _WSAVersion {
    DWORD dwVersion;
    WSAECOMPARATOR ecHow;
} WSAVERSION, *PWSAVERSION, *LPWSAVERSION;

/* The client's query set (winsock2.h). */
typedef struct _WSAQuerySetW {
    DWORD dwSize;
    LPWSTR lpszServiceInstanceName;
    LPGUID lpServiceClassId;
    LPWSAVERSION lpVersion;
    LPWSTR lpszComment;
    DWORD dwNameSpace;
    LPGUID lpNSProviderId;
    LPWSTR lpszContext;
    DWORD dwNumberOfProtocols;
    LPAFPROTOCOLS lpafpProtocols;
    LPWSTR lpszQueryString;
    DWORD dwNumberOfCsAddrs;
    LPCSADDR_INFO lpcsaBuffer;
    DWORD dwOutputFlags;
    LPBLOB lpBlob;
} WSAQUERYSETW, *PWSAQUERYSETW, *LPWSAQUERYSETW;

/* The provider's query set (winsock2.h): WSAQUERYSETW without lpServiceClassId. */
typedef struct _WSAQuerySet2W {
    DWORD dwSize;
    LPWSTR lpszServiceInstanceName;
    LPWSAVERSION lpVersion;
    LPWSTR lpszComment;
    DWORD dwNameSpace;
    LPGUID lpNSProviderId;
    LPWSTR lpszContext;
    DWORD dwNumberOfProtocols;
    LPAFPROTOCOLS lpafpProtocols;
    LPWSTR lpszQueryString;
    DWORD dwNumberOfCsAddrs;
    LPCSADDR_INFO lpcsaBuffer;
    DWORD dwOutputFlags;
    LPBLOB lpBlob;
} WSAQUERYSET2W, *PWSAQUERYSET2W, *LPWSAQUERYSET2W;

typedef enum _WSAESETSERVICEOP {
    RNRSERVICE_REGISTER = 0,
    RNRSERVICE_DEREGISTER = 1,
    RNRSERVICE_DELETE = 2
} WSAESETSERVICEOP, *PWSAESETSERVICEOP, *LPWSAESETSERVICEOP;

typedef struct _WSANAMESPACE_INFOEXW {
    GUID NSProviderId;
    DWORD dwNameSpace;
    BOOL fActive;
    DWORD dwVersion;
    LPWSTR lpszIdentifier;
    BLOB ProviderSpecific;
} WSANAMESPACE_INFOEXW, *PWSANAMESPACE_INFOEXW, *LPWSANAMESPACE_INFOEXW;

/* WSADATA is in ws2wsadata64.h and ws2wsadata32.h: its field order depends on the target. */

/* ws2spi.h: the NSPv2 callbacks. */
typedef INT (WINAPI *LPNSPV2STARTUP)(LPGUID lpProviderId, LPVOID *ppvClientSessionArg);
typedef INT (WINAPI *LPNSPV2CLEANUP)(LPGUID lpProviderId, LPVOID pvClientSessionArg);
typedef INT (WINAPI *LPNSPV2LOOKUPSERVICEBEGIN)(LPGUID lpProviderId,
        LPWSAQUERYSET2W lpqsRestrictions, DWORD dwControlFlags, LPVOID lpvClientSessionArg,
        LPHANDLE lphLookup);
typedef VOID (WINAPI *LPNSPV2LOOKUPSERVICENEXTEX)(HANDLE hAsyncCall, HANDLE hLookup,
        DWORD dwControlFlags, LPDWORD lpdwBufferLength, LPWSAQUERYSET2W lpqsResults);
typedef INT (WINAPI *LPNSPV2LOOKUPSERVICEEND)(HANDLE hLookup);
typedef VOID (WINAPI *LPNSPV2SETSERVICEEX)(HANDLE hAsyncCall, LPGUID lpProviderId,
        LPWSAQUERYSET2W lpqsRegInfo, WSAESETSERVICEOP essOperation, DWORD dwControlFlags,
        LPVOID lpvClientSessionArg);
typedef VOID (WINAPI *LPNSPV2CLIENTSESSIONRUNDOWN)(LPGUID lpProviderId, LPVOID pvClientSessionArg);

typedef struct _NSPV2_ROUTINE {
    DWORD cbSize;
    DWORD dwMajorVersion;
    DWORD dwMinorVersion;
    LPNSPV2STARTUP NSPv2Startup;
    LPNSPV2CLEANUP NSPv2Cleanup;
    LPNSPV2LOOKUPSERVICEBEGIN NSPv2LookupServiceBegin;
    LPNSPV2LOOKUPSERVICENEXTEX NSPv2LookupServiceNextEx;
    LPNSPV2LOOKUPSERVICEEND NSPv2LookupServiceEnd;
    LPNSPV2SETSERVICEEX NSPv2SetServiceEx;
    LPNSPV2CLIENTSESSIONRUNDOWN NSPv2ClientSessionRundown;
} NSPV2_ROUTINE, *PNSPV2_ROUTINE, *LPNSPV2_ROUTINE;
typedef const NSPV2_ROUTINE *LPCNSPV2_ROUTINE;

/* nsemail.h: the provider-specific blob of an NS_EMAIL provider's catalog entry. Offsets count
 * from the start of the installation blob. */
typedef enum _NAPI_PROVIDER_TYPE {
    ProviderType_Application = 1,
    ProviderType_Service = 2
} NAPI_PROVIDER_TYPE;

/* AuthLevel of a domain: the provider's authority for it. */
typedef enum _NAPI_PROVIDER_LEVEL {
    ProviderLevel_None = 0,
    ProviderLevel_Secondary = 1,
    ProviderLevel_Primary = 2
} NAPI_PROVIDER_LEVEL;

typedef struct _NAPI_DOMAIN_DESCRIPTION_BLOB {
    DWORD AuthLevel;
    DWORD cchDomainName;
    DWORD OffsetNextDomainDescription;
    DWORD OffsetThisDomainName;
} NAPI_DOMAIN_DESCRIPTION_BLOB, *PNAPI_DOMAIN_DESCRIPTION_BLOB;

typedef struct _NAPI_PROVIDER_INSTALLATION_BLOB {
    DWORD dwVersion;
    DWORD dwProviderType;
    DWORD fSupportsWildCard;
    DWORD cDomains;
    DWORD OffsetFirstDomain;
} NAPI_PROVIDER_INSTALLATION_BLOB, *PNAPI_PROVIDER_INSTALLATION_BLOB;
