/* The runtime folder hosts publish their sockets in (rundir.h). Why these places: the issue's
 * contract (NSPV2_RUNTIME_DIR, else $XDG_RUNTIME_DIR/nspv2, /run/nspv2 for root) matches the
 * per-user, per-logon-session runtime folder of the XDG base directory specification, which is
 * what "the same user in the same logon session" means for an application-type provider on
 * Windows. Why the ownership check: a folder someone else owns or can write to could hold a
 * socket that impersonates a host. */
#ifndef _WIN32
#include "rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *env(const char *name, bool secure)
{
    return secure ? secure_getenv(name) : getenv(name);
}

bool rundir_path(char out[RUNDIR_MAX], bool secure)
{
    const char *set = env("NSPV2_RUNTIME_DIR", secure);
    int n;
    if (set != NULL) {
        if (*set == '\0')
            return false;
        n = snprintf(out, RUNDIR_MAX, "%s", set);
    } else if (geteuid() == 0) {
        n = snprintf(out, RUNDIR_MAX, "/run/nspv2");
    } else {
        const char *xdg = env("XDG_RUNTIME_DIR", secure);
        if (xdg == NULL || xdg[0] != '/')
            return false;
        n = snprintf(out, RUNDIR_MAX, "%s/nspv2", xdg);
    }
    return n > 0 && n < RUNDIR_MAX && out[0] == '/';
}

bool rundir_prepare(const char *dir, bool shared)
{
    mode_t mode = shared ? 0711 : 0700;
    if (mkdir(dir, mode) != 0 && errno != EEXIST)
        return false;
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 022) != 0)
        return false;
    if (shared && (st.st_mode & 0711) != 0711)
        return chmod(dir, st.st_mode | 0711) == 0;
    return true;
}

void rundir_guid_text(const GUID *g, char out[39])
{
    snprintf(out, 39, "{%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}", (unsigned)g->Data1,
             g->Data2, g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4],
             g->Data4[5], g->Data4[6], g->Data4[7]);
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool rundir_parse_guid(const char *s, GUID *g)
{
    static const int at[16] = {1, 3, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 29, 31, 33, 35};
    uint8_t b[16];
    if (strlen(s) < 38 || s[0] != '{' || s[9] != '-' || s[14] != '-' || s[19] != '-' ||
        s[24] != '-' || s[37] != '}')
        return false;
    for (int i = 0; i < 16; i++) {
        int hi = hex(s[at[i]]), lo = hex(s[at[i] + 1]);
        if (hi < 0 || lo < 0)
            return false;
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    g->Data1 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    g->Data2 = (uint16_t)(b[4] << 8 | b[5]);
    g->Data3 = (uint16_t)(b[6] << 8 | b[7]);
    memcpy(g->Data4, b + 8, 8);
    return true;
}

void rundir_socket_path(const char *dir, const GUID *guid, char out[RUNDIR_PATH_MAX])
{
    char text[39];
    rundir_guid_text(guid, text);
    snprintf(out, RUNDIR_PATH_MAX, "%s/%s.sock", dir, text);
}

void rundir_domains_path(const char *dir, const GUID *guid, char out[RUNDIR_FILE_MAX])
{
    char text[39];
    rundir_guid_text(guid, text);
    snprintf(out, RUNDIR_FILE_MAX, "%s/%s.domains", dir, text);
}
#else
typedef int rundir_unused; /* nothing of this file on Windows, where Winsock is ws2_32 */
#endif
