/* WSADATA as winsock2.h declares it for 64-bit Windows (_WIN64): the counts and the vendor
 * pointer come before the strings. ws2wsadata32.h has the x86 order. Declarations only: ws2types.h
 * includes this file for 64-bit pointers, and nspv2._native gives it to cffi's cdef() in a 64-bit
 * Python. https://learn.microsoft.com/windows/win32/api/winsock2/ns-winsock2-wsadata */
typedef struct WSAData {
    WORD wVersion;
    WORD wHighVersion;
    USHORT iMaxSockets;
    USHORT iMaxUdpDg;
    CHAR *lpVendorInfo;
    CHAR szDescription[257];
    CHAR szSystemStatus[129];
} WSADATA, *LPWSADATA;
