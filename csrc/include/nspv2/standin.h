/* Test controls of the Winsock stand-in (libws2standin): functions ws2_32 does not have, which
 * let one test process play several client processes and see contract violations. Code under
 * test never calls these; only tests and test hosts do. Declarations only (cffi reads this file).
 *
 * Client processes: every thread starts as client 0, the process itself. StandinClientCreate
 * makes a new simulated client process; StandinClientAttach makes the calling thread act as it
 * (its WSAStartup/WSACleanup span, its sessions, its lookup handles); StandinClientKill makes it
 * die: each provider session it had gets NSPv2ClientSessionRundown instead of NSPv2Cleanup, and
 * its lookup handles are dropped without NSPv2LookupServiceEnd (the provider must free them).
 *
 * Violations: everything a provider does against the contract (guard bytes overwritten, a packed
 * pointer outside the result buffer, WSAEFAULT without a larger required length, an async call
 * completed twice or never, dwSize wrong, ...) is recorded with a message and fails the client's
 * call with WSANO_RECOVERY. Tests read them and must see none. */
INT WINAPI StandinClientCreate(void);
INT WINAPI StandinClientAttach(INT clientId);
INT WINAPI StandinClientKill(INT clientId);
DWORD WINAPI StandinViolationCount(void);
INT WINAPI StandinGetViolation(DWORD index, CHAR *buffer, DWORD bufferLength);
VOID WINAPI StandinResetViolations(void);
VOID WINAPI StandinSetAsyncTimeout(DWORD milliseconds);

/* The host's side, called by the provider library (not by tests): the names the provider `guid`
 * serves, as UTF-8 lines (NULL or empty: it declares none). While the provider is advertised the
 * stand-in publishes them beside its socket, <runtime folder>/{GUID}.domains, so that
 * libnss_nspv2 declines other names without connecting; withdrawing removes the file. A no-op
 * on Windows. */
INT WINAPI StandinPublishDomains(const GUID *guid, const CHAR *text);
/* The users other than this process's own whose processes may reach the providers this process
 * advertises (off Windows: their connections pass the SO_PEERCRED check, and the socket is 0666
 * in a 0711 runtime folder), replacing the list set before; count 0: nobody else, the default.
 * Set it before WSAAdvertiseProvider: a socket keeps the mode it was published with. `nspv2
 * serve` sets it from its configuration ([nspv2] allow_users). At most STANDIN_MAX_ALLOWED_USERS
 * uids, else SOCKET_ERROR with WSAEINVAL; WSAEOPNOTSUPP on Windows, where Winsock shows a
 * provider to the processes of its host's user only. */
#define STANDIN_MAX_ALLOWED_USERS 64
INT WINAPI StandinAllowUsers(const DWORD *uids, DWORD count);
/* The provider library asks it (not tests): whether the provider call running on this thread
 * was made on the client's own thread, as the stand-in's calls within one process are (TRUE), or
 * arrived on a host's dispatch thread, as a call from another process does (FALSE). On Windows
 * every call arrives on a Winsock worker thread; ws2_32 has no such function, and a provider
 * that finds none takes FALSE. A call on the client's own thread must not block on provider code
 * End cannot interrupt: End is to complete that call at once (WSA_E_CANCELLED). */
BOOL WINAPI StandinOnClientThread(void);
/* Whether the provider is advertised here or by a host in another process. */
BOOL WINAPI StandinIsAdvertised(const GUID *guid);
