/* The library's own log line, for failures that happen before (or without) Python's logging:
 * the interpreter did not start, Winsock functions were not found. stderr only: a host's stdout
 * may be closed or be its protocol channel, and a dialog would hang a service. */
#include "provider.h"

#include <stdarg.h>
#include <stdio.h>

void nspv2_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    line[n] = '\0';
#ifdef _WIN32
    OutputDebugStringA(line);
#endif
    fputs("nspv2: ", stderr);
    fputs(line, stderr);
    fflush(stderr);
}
