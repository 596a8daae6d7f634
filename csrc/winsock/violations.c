/* Contract violations by providers: recorded for tests (which must see none) and printed once
 * to stderr so a human sees them too. A leaf lock of its own, so it can be reported from
 * anywhere, with or without the global lock held. Storage is static: nothing to free. */
#include "standin_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KEPT_VIOLATIONS 256
#define VIOLATION_TEXT 256

static pthread_mutex_t g_violation_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_messages[KEPT_VIOLATIONS][VIOLATION_TEXT];
static DWORD g_count;

void standin_guid_text(const GUID *g, char out[39])
{
    snprintf(out, 39, "{%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}", (unsigned)g->Data1,
             g->Data2, g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4],
             g->Data4[5], g->Data4[6], g->Data4[7]);
}

void standin_violation(const GUID *provider, const char *fmt, ...)
{
    char text[VIOLATION_TEXT];
    size_t used = 0;
    if (provider) {
        char guid[39];
        standin_guid_text(provider, guid);
        used = (size_t)snprintf(text, sizeof text, "provider %s: ", guid);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text + used, sizeof text - used, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&g_violation_lock);
    if (g_count < KEPT_VIOLATIONS)
        memcpy(g_messages[g_count], text, sizeof text);
    if (g_count != UINT32_MAX)
        g_count++;
    pthread_mutex_unlock(&g_violation_lock);
    fprintf(stderr, "ws2standin: violation: %s\n", text);
}

STANDIN_EXPORT DWORD WINAPI StandinViolationCount(void)
{
    pthread_mutex_lock(&g_violation_lock);
    DWORD n = g_count;
    pthread_mutex_unlock(&g_violation_lock);
    return n;
}

STANDIN_EXPORT INT WINAPI StandinGetViolation(DWORD index, CHAR *buffer, DWORD bufferLength)
{
    if (buffer == NULL || bufferLength == 0)
        return standin_fail(WSAEINVAL);
    pthread_mutex_lock(&g_violation_lock);
    if (index >= g_count || index >= KEPT_VIOLATIONS) {
        pthread_mutex_unlock(&g_violation_lock);
        return standin_fail(WSAEINVAL);
    }
    size_t n = strlen(g_messages[index]);
    if (n >= bufferLength)
        n = bufferLength - 1;
    memcpy(buffer, g_messages[index], n);
    buffer[n] = '\0';
    pthread_mutex_unlock(&g_violation_lock);
    return NO_ERROR;
}

STANDIN_EXPORT VOID WINAPI StandinResetViolations(void)
{
    pthread_mutex_lock(&g_violation_lock);
    g_count = 0;
    pthread_mutex_unlock(&g_violation_lock);
}
