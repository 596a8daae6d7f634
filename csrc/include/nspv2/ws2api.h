/* The ws2_32 functions nspv2 calls or (in the Winsock stand-in) implements, with the SDK's
 * signatures. Read by C compilers (through ws2types.h) and by cffi's cdef() parser: declarations
 * only. The provider side (WSAAdvertiseProvider, WSAProviderCompleteAsyncCall) takes the address
 * of the routine table, as the SDK header and Microsoft's sample do, not a pointer to a pointer. */

INT WINAPI WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData);
INT WINAPI WSACleanup(void);
INT WINAPI WSAGetLastError(void);
VOID WINAPI WSASetLastError(INT iError);

INT WINAPI WSAAdvertiseProvider(const GUID *puuidProviderId, LPCNSPV2_ROUTINE pNSPv2Routine);
INT WINAPI WSAUnadvertiseProvider(const GUID *puuidProviderId);
INT WINAPI WSAProviderCompleteAsyncCall(HANDLE hAsyncCall, INT iRetCode);

INT WINAPI WSALookupServiceBeginW(LPWSAQUERYSETW lpqsRestrictions, DWORD dwControlFlags,
                                  LPHANDLE lphLookup);
INT WINAPI WSALookupServiceNextW(HANDLE hLookup, DWORD dwControlFlags, LPDWORD lpdwBufferLength,
                                 LPWSAQUERYSETW lpqsResults);
INT WINAPI WSALookupServiceEnd(HANDLE hLookup);
INT WINAPI WSASetServiceW(LPWSAQUERYSETW lpqsRegInfo, WSAESETSERVICEOP essoperation,
                          DWORD dwControlFlags);

INT WINAPI WSCInstallNameSpaceEx(LPWSTR lpszIdentifier, LPWSTR lpszPathName, DWORD dwNameSpace,
                                 DWORD dwVersion, LPGUID lpProviderId, LPBLOB lpProviderSpecific);
INT WINAPI WSCUnInstallNameSpace(LPGUID lpProviderId);
INT WINAPI WSCEnableNSProvider(LPGUID lpProviderId, BOOL fEnable);
INT WINAPI WSAEnumNameSpaceProvidersExW(LPDWORD lpdwBufferLength,
                                        LPWSANAMESPACE_INFOEXW lpnspBuffer);
