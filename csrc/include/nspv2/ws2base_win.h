/* Windows base types as cffi's cdef() must spell them for a Windows build: the way <windows.h>
 * does (DWORD and ULONG are unsigned long, LONG is long), because cffi repeats the cdef's types
 * in the code it generates and the C compiler checks them against <windows.h>. The layouts are
 * those of ws2base.h (which C compilers use off Windows). cffi reads this file; C never does. */
typedef unsigned char BYTE;
typedef unsigned short WORD;
typedef unsigned short USHORT;
typedef unsigned long DWORD;
typedef unsigned long ULONG;
typedef long LONG;
typedef int INT;
typedef int BOOL;
typedef char CHAR;
typedef unsigned short WCHAR;
typedef void VOID;
typedef void *LPVOID;
typedef void *HANDLE;
typedef HANDLE *LPHANDLE;
typedef DWORD *LPDWORD;
typedef WCHAR *LPWSTR;
typedef const WCHAR *LPCWSTR;
typedef struct _GUID {
    unsigned long Data1;
    unsigned short Data2;
    unsigned short Data3;
    unsigned char Data4[8];
} GUID;
typedef GUID *LPGUID;
