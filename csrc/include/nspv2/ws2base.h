/* Windows base types with the Windows x64 layout, for platforms that are not Windows.
 *
 * This file is read twice: by C compilers (through ws2types.h, which includes it only when
 * _WIN32 is not defined) and by cffi's cdef() parser. It therefore holds declarations only:
 * no preprocessor lines other than this comment's neighbours, no attributes. */
typedef uint8_t BYTE;
typedef uint16_t WORD;
typedef uint16_t USHORT;
typedef uint32_t DWORD;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef int INT;
typedef int BOOL;
typedef char CHAR;
typedef uint16_t WCHAR;               /* UTF-16 code unit, as on Windows; not wchar_t */
typedef void VOID;
typedef void *LPVOID;
typedef void *HANDLE;
typedef HANDLE *LPHANDLE;
typedef DWORD *LPDWORD;
typedef WCHAR *LPWSTR;
typedef const WCHAR *LPCWSTR;
typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
typedef GUID *LPGUID;
