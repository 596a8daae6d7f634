/* WSADATA as winsock2.h declares it for 32-bit (x86) Windows: the strings come first, then the
 * counts and the vendor pointer. ws2wsadata64.h has the Win64 order. Declarations only: ws2types.h
 * includes this file for 32-bit pointers, and nspv2._native gives it to cffi's cdef() in a 32-bit
 * Python. https://learn.microsoft.com/windows/win32/api/winsock2/ns-winsock2-wsadata */
typedef struct WSAData {
    WORD wVersion;
    WORD wHighVersion;
    CHAR szDescription[257];
    CHAR szSystemStatus[129];
    USHORT iMaxSockets;
    USHORT iMaxUdpDg;
    CHAR *lpVendorInfo;
} WSADATA, *LPWSADATA;
