/* Where hosts publish their sockets: the runtime folder (rundir.c). Shared by the stand-in's
 * two sides and the NSS module, which compiles rundir.c in. POSIX only. */
#ifndef NSPV2_RUNDIR_H
#define NSPV2_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>

#include "nspv2/ws2types.h"

#pragma GCC visibility push(hidden)

/* sun_path holds 108 bytes; a socket path is the folder, '/', a 38-character GUID, ".sock". */
#define RUNDIR_MAX 64
#define RUNDIR_PATH_MAX 108

/* The runtime folder: NSPV2_RUNTIME_DIR (read with secure_getenv when `secure`), else
 * /run/nspv2 for root, else $XDG_RUNTIME_DIR/nspv2. False when there is none (an empty
 * NSPV2_RUNTIME_DIR turns publishing off) or it is too long for socket paths. */
bool rundir_path(char out[RUNDIR_MAX], bool secure);
/* Creates the folder if needed (mode 0700; 0711 when `shared`, so allowed users can reach
 * sockets), and checks it is a real folder owned by this user with no write access for
 * others. False when it cannot be used. */
bool rundir_prepare(const char *dir, bool shared);
/* <dir>/{GUID}.sock. What else a host publishes about a provider belongs beside it, under the
 * same name (for instance the domains it serves, so that the NSS module can decline other names
 * without connecting). */
void rundir_socket_path(const char *dir, const GUID *guid, char out[RUNDIR_PATH_MAX]);
/* <dir>/{GUID}.domains: the names the provider serves, which its host publishes (remote_host.c
 * writes it, libnss_nspv2 reads it). Longer than a socket path, so a size of its own. */
#define RUNDIR_FILE_MAX 128
#define RUNDIR_DOMAINS_MAGIC "nspv2-domains 1"
void rundir_domains_path(const char *dir, const GUID *guid, char out[RUNDIR_FILE_MAX]);
/* "{hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh}": a GUID in braces, 38 characters */
void rundir_guid_text(const GUID *guid, char out[39]);
/* Parses the text rundir_guid_text writes; false when it is not one. */
bool rundir_parse_guid(const char *text, GUID *guid);

#pragma GCC visibility pop

#endif
