/* Internal interface of the provider library: its C files and the Python bridge. */
#ifndef NSPV2_PROVIDER_INTERNAL_H
#define NSPV2_PROVIDER_INTERNAL_H

#include "nspv2/ws2types.h"

#include <stdbool.h>

#if defined(_WIN32)
/* On Windows the export list is csrc/provider/provider.def (MSVC and mingw-w64 alike): it gives
 * every function its plain name. __declspec(dllexport) would export the decorated stdcall name
 * on x86 (NSPv2GetRoutine@8, or _NSPv2GetRoutine@8), which GetProcAddress(lib,
 * "NSPv2GetRoutine") does not find (learn.microsoft.com/cpp/cpp/dllexport-dllimport). */
#  define NSPV2_EXPORT
#else
#  define NSPV2_EXPORT __attribute__((visibility("default")))
#endif

#include "bridge.h"
#include "runtime_decls.h"
#include "nspv2/provider.h"

/* interpreter.c: starts or finds the interpreter and the Python runtime, once per process.
 * Returns NO_ERROR, or the Winsock code every entry point answers with while it is not ready. */
INT nspv2_runtime_ready(void);

/* gate.c: the queue in front of the GIL. enter waits its turn (briefly spinning, then
 * sleeping; a hold older than NSPV2_GATE_HOLD_US is taken over) and returns its hold's ticket,
 * or 0 when it passed through (the thread holds the gate already); leave takes that ticket. */
uint64_t nspv2_gate_enter(void);
void nspv2_gate_leave(uint64_t ticket);

/* winsock_link.c: Winsock's provider-side functions, resolved at run time (ws2_32.dll on
 * Windows; elsewhere the stand-in the host loaded). NO_ERROR or WSASYSNOTREADY. */
INT nspv2_winsock_resolve(void);
void nspv2_set_last_error(INT code);
/* The stand-in's StandinPublishDomains, where there is one (off Windows): `text` (UTF-8 lines,
 * NULL for none) published beside the provider's socket for libnss_nspv2. */
void nspv2_publish_domains(const GUID *provider, const CHAR *text);

/* domains.c: true when `provider` declares domains and `name` is outside them (nspv2/served.h):
 * Begin then answers WSASERVICE_NOT_FOUND without the gate, the GIL or the provider. */
bool nspv2_domains_decline(const GUID *provider, const WCHAR *name);

/* python_location.c: cuts path after its levels-th last separator (1 = the folder the file is
 * in); 0, or -1 when it has fewer. */
int nspv2_dirname_levels(char *path, int levels);
#ifndef _WIN32
/* python_location.c: the installation that owns the package in install_dir (its site-packages
 * folder), through a virtual environment to its base; 0 and the path in out, or -1. */
int nspv2_python_base_prefix(const char *install_dir, char *out, size_t size);
/* Whether install_dir is the site-packages folder of a virtual environment, and whether that
 * leaves the base installation's site-packages out (pyvenv.cfg's
 * include-system-site-packages). */
enum nspv2_venv { NSPV2_NOT_A_VENV, NSPV2_VENV_WITH_BASE, NSPV2_VENV_ALONE };
enum nspv2_venv nspv2_venv_kind(const char *install_dir);
/* 1 if dir holds Python NSPV2_PYTHON_VERSION's standard library (lib/pythonX.Y/os.py). */
int nspv2_is_python_home(const char *dir);
/* 1 if that standard library has the encodings package, without which Python cannot start. */
int nspv2_has_encodings(const char *home);
#endif

/* log.c: one line to the host's stderr (and the debugger on Windows); never to stdout. */
void nspv2_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
