/* The query-set functions as cffi sees them (declarations only; cffi reads this file). */

/* NO_ERROR if qs is a well-formed WSAQUERYSET2W, else WSAEINVAL: NULL qs, dwSize other than
 * sizeof(WSAQUERYSET2W), a count with a NULL array, a count or length beyond the limits in
 * queryset.h, a string with no terminator within NSPV2_MAX_STRING_CHARS. */
INT nspv2_queryset_validate(const WSAQUERYSET2W *qs);

/* Length in WCHARs of a terminated string, scanning at most max units (returns max+1 if none). */
size_t nspv2_wcsnlen(const WCHAR *s, size_t max);

/* Packs src, keeping only the fields returnFlags (LUP_RETURN_*) asks for, into dst:
 * the struct at the start, everything it points to after it, each piece aligned to a pointer,
 * pointers absolute. If *lpdwBufferLength is too small (or dst is NULL) nothing is written,
 * *lpdwBufferLength is set to the size needed and WSAEFAULT returned. WSA_NOT_ENOUGH_MEMORY if
 * the result would exceed NSPV2_MAX_RESULT. src must have passed nspv2_queryset_validate. */
INT nspv2_queryset_pack(const WSAQUERYSET2W *src, DWORD returnFlags,
                        WSAQUERYSET2W *dst, DWORD *lpdwBufferLength);
