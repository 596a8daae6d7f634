/* The exports of the nspv2 provider library, besides the seven NSPv2 callbacks it implements
 * (whose types are in ws2decls.h). Declarations only (cffi reads this file). */

/* Fills *routine with the table for the provider registered under providerId: the library's
 * callbacks for what the provider's class implements, C stubs for the rest. Returns NO_ERROR, or
 * SOCKET_ERROR after WSASetLastError (WSAEINVAL: NULL argument; WSAEINVALIDPROVIDER: no provider
 * is registered or configured under that GUID; WSASYSNOTREADY: the Python runtime did not start;
 * WSAEPROVIDERFAILEDINIT: the provider's module failed to import or its class is not valid). */
INT WINAPI NSPv2GetRoutine(const GUID *providerId, NSPV2_ROUTINE *routine);

/* Sets the provider configuration file the library reads (UTF-8 path; NULL restores the default
 * location). For hosts that keep their configuration elsewhere, such as the native host's
 * --config. Returns NO_ERROR, or SOCKET_ERROR with WSAEINVAL. */
INT WINAPI NSPv2SetConfigFile(const CHAR *path);

/* Sets the level of the library's log ("DEBUG", "INFO", "WARNING", "ERROR" or "CRITICAL", any
 * case) over the configuration's [nspv2] log_level; NULL goes back to the configuration's. For
 * hosts with a verbosity switch, such as the native host's --verbose (DEBUG: tracebacks are
 * logged too). Takes effect when the library starts Python: call it before NSPv2GetRoutine.
 * Returns NO_ERROR, or SOCKET_ERROR with WSAEINVAL for another name. */
INT WINAPI NSPv2SetLogLevel(const CHAR *level);
