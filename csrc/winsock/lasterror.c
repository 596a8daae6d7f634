/* WSAGetLastError/WSASetLastError: per thread, as in ws2_32. Providers run on the calling
 * thread here and report their errors through the same cell, so the stand-in reads a provider's
 * error right after its callback returns and restores the client's own value on success. */
#include "standin_internal.h"

static _Thread_local INT t_last_error;

STANDIN_EXPORT INT WINAPI WSAGetLastError(void) { return t_last_error; }

STANDIN_EXPORT VOID WINAPI WSASetLastError(INT iError) { t_last_error = iError; }

INT standin_get_last_error(void) { return t_last_error; }

void standin_set_last_error(INT code) { t_last_error = code; }

INT standin_fail(INT code)
{
    t_last_error = code;
    return SOCKET_ERROR;
}
