/* Paths: cutting a path to its folders, and (off Windows) where the Python that owns this
 * package lives, for processes with no Python in them (on Windows the home is the folder of
 * python3XY.dll).
 *
 * A package installed in <prefix>/lib/pythonX.Y/site-packages/nspv2/ belongs to <prefix>, or,
 * when <prefix>/pyvenv.cfg says `home = <base>/bin` (a virtual environment), to <base>. A
 * directory counts as a Python home only with the standard library's landmark in it,
 * lib/pythonX.Y/os.py (lib64/ too, where the distribution sets that platlibdir). The paths
 * are read from the file system only: never from the environment, which belongs to the host. */
#include "provider.h"

#include <string.h>

int nspv2_dirname_levels(char *path, int levels)
{
    while (levels-- > 0) {
        char *sep = strrchr(path, '/');
#ifdef _WIN32
        char *back = strrchr(path, '\\');
        if (back > sep)
            sep = back;
#endif
        if (sep == NULL)
            return -1;
        *sep = '\0';
    }
    return 0;
}

#ifndef _WIN32
#  include <stdio.h>
#  include <sys/stat.h>

#  ifndef NSPV2_PYTHON_VERSION
#    error "NSPV2_PYTHON_VERSION: the Python version built for, set by provider_build.python_macros"
#  endif

int nspv2_is_python_home(const char *dir)
{
    static const char *const libdirs[] = {"lib", "lib64"};
    char landmark[4096];
    struct stat st;
    for (size_t i = 0; i < sizeof libdirs / sizeof libdirs[0]; i++) {
        int n = snprintf(landmark, sizeof landmark, "%s/%s/python%s/os.py", dir, libdirs[i],
                         NSPV2_PYTHON_VERSION);
        if (n > 0 && (size_t)n < sizeof landmark && stat(landmark, &st) == 0 &&
            S_ISREG(st.st_mode))
            return 1;
    }
    return 0;
}

int nspv2_has_encodings(const char *home)
{
    static const char *const libdirs[] = {"lib", "lib64"};
    char path[4096];
    struct stat st;
    for (size_t i = 0; i < sizeof libdirs / sizeof libdirs[0]; i++) {
        int n = snprintf(path, sizeof path, "%s/%s/python%s/encodings/__init__.py", home,
                         libdirs[i], NSPV2_PYTHON_VERSION);
        if (n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            return 1;
    }
    return 0;
}

/* The value of `key = ...` in <prefix>/pyvenv.cfg, or -1 when there is none. */
static int venv_value(const char *prefix, const char *key_wanted, char *out, size_t size)
{
    char path[4096], line[4096];
    size_t wanted = strlen(key_wanted);
    int n = snprintf(path, sizeof path, "%s/pyvenv.cfg", prefix);
    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    FILE *cfg = fopen(path, "r");
    if (cfg == NULL)
        return -1;
    int found = -1;
    while (found != 0 && fgets(line, sizeof line, cfg) != NULL) {
        char *key = line + strspn(line, " \t");
        size_t key_len = strcspn(key, " \t=");
        if (key_len != wanted || strncmp(key, key_wanted, wanted) != 0)
            continue;
        char *value = key + key_len + strspn(key + key_len, " \t");
        if (*value != '=')
            continue;
        value += 1 + strspn(value + 1, " \t");
        size_t len = strcspn(value, "\r\n");
        while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
            len--;
        if (len > 0 && len < size) {
            memcpy(out, value, len);
            out[len] = '\0';
            found = 0;
        }
    }
    fclose(cfg);
    return found;
}

/* <prefix> of <prefix>/lib/pythonX.Y/site-packages, or -1. */
static int site_prefix(const char *install_dir, char *prefix, size_t size)
{
    if (strlen(install_dir) >= size)
        return -1;
    strcpy(prefix, install_dir);
    return nspv2_dirname_levels(prefix, 3);
}

enum nspv2_venv nspv2_venv_kind(const char *install_dir)
{
    char prefix[4096], home[4096], value[16];
    if (site_prefix(install_dir, prefix, sizeof prefix) != 0 ||
        venv_value(prefix, "home", home, sizeof home) != 0)
        return NSPV2_NOT_A_VENV;
    /* As site.py reads it: without the key the base's site-packages are in; the value is
     * compared without regard to case. */
    if (venv_value(prefix, "include-system-site-packages", value, sizeof value) != 0)
        return NSPV2_VENV_WITH_BASE;
    for (char *c = value; *c != '\0'; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return strcmp(value, "true") == 0 ? NSPV2_VENV_WITH_BASE : NSPV2_VENV_ALONE;
}

int nspv2_python_base_prefix(const char *install_dir, char *out, size_t size)
{
    char prefix[4096], home[4096];
    if (site_prefix(install_dir, prefix, sizeof prefix) != 0)
        return -1;
    /* home names the base installation's bin folder; before Python 3.11, a virtual environment
     * made from inside another one names that one's bin folder: follow it too (a few levels). */
    for (int hops = 0; hops < 8 && venv_value(prefix, "home", home, sizeof home) == 0; hops++) {
        if (nspv2_dirname_levels(home, 1) != 0)
            return -1;
        strcpy(prefix, home);
    }
    if (!nspv2_is_python_home(prefix) || strlen(prefix) >= size)
        return -1;
    strcpy(out, prefix);
    return 0;
}
#endif
