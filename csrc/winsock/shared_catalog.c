/* The catalog shared by this user's processes (catalog.c keeps it; this file says where, and
 * notices changes). Why in the runtime folder: on Windows the catalog is machine state every
 * process sees (the registry); here the processes that must agree on it are the clients and
 * hosts of one user's session, the same ones that find each other's sockets in that folder.
 * Processes started later read the file at their first use; a running process re-reads it
 * when it changed (checked at most every 500 ms, by inode, size and modification time). */
#ifndef _WIN32
#include "standin_internal.h"
#include "rundir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECHECK_MS 500u

char *standin_default_catalog(void)
{
    char dir[RUNDIR_MAX];
    if (!rundir_path(dir, false) || !rundir_prepare(dir, remote_host_others_allowed()))
        return NULL;
    size_t n = strlen(dir) + sizeof "/catalog";
    char *file = malloc(n);
    if (file)
        snprintf(file, n, "%s/catalog", dir);
    return file;
}

bool standin_catalog_changed(const char *file)
{
    static uint64_t checked_at;
    static struct stat seen;
    static bool seen_valid, started;
    uint64_t now = standin_now_ms();
    if (started && now - checked_at < RECHECK_MS)
        return false;
    started = true;
    checked_at = now;
    struct stat st;
    bool exists = stat(file, &st) == 0;
    bool changed = exists != seen_valid ||
                   (exists && (st.st_ino != seen.st_ino || st.st_size != seen.st_size ||
                               st.st_mtim.tv_sec != seen.st_mtim.tv_sec ||
                               st.st_mtim.tv_nsec != seen.st_mtim.tv_nsec));
    seen_valid = exists;
    if (exists)
        seen = st;
    return changed;
}
#else
typedef int shared_catalog_unused; /* Windows: the catalog is ws2_32's */
#endif
