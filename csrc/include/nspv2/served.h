/* Which names a provider serves: the one implementation of the rule, shared by the provider
 * library (csrc/provider/domains.c, which declines the other names before the gate and the GIL)
 * and libnss_nspv2 (csrc/nss/nss_query.c, which declines them without connecting to a host).
 * nspv2.domains.served in Python is only the reference a parity test compares this with.
 *
 * A provider that declares domains serves a name when the name's DNS name equals one of them or
 * lies below one, at a label boundary: "www.example.test" and "example.test" are below
 * "example.test", "badexample.test" is not. The DNS name of an email address is the part after
 * its last '@' (NS_EMAIL names, as the NAPI_DOMAIN_DESCRIPTION_BLOB routes them). Case is
 * ignored for ASCII letters only, as DNS ignores it (RFC 4343); a trailing dot is ignored. A name
 * with no DNS name (no instance name at all, as in enumeration queries; "alice@"; ".") is never
 * declined: the provider decides what such a query means.
 *
 * `domains` is a list of UTF-16 names, each NUL-terminated, ending with an empty one (the layout
 * of a REG_MULTI_SZ value), each already in the form nspv2.domains.normalize gives: lower-case
 * ASCII, no trailing dot, not empty. NULL or an empty list: the provider declares no domains
 * and serves every name. */
#ifndef NSPV2_SERVED_H
#define NSPV2_SERVED_H

#include "nspv2/ws2types.h"

#include <stdbool.h>
#include <stddef.h>

static inline WCHAR nspv2_ascii_lower(WCHAR c)
{
    return (c >= 'A' && c <= 'Z') ? (WCHAR)(c + ('a' - 'A')) : c;
}

static inline bool nspv2_name_served(const WCHAR *name, const WCHAR *domains)
{
    size_t start = 0, end = 0;
    if (domains == NULL || domains[0] == 0 || name == NULL)
        return true;
    for (; name[end] != 0; end++)
        if (name[end] == '@')
            start = end + 1;
    if (end > start && name[end - 1] == '.')
        end--;
    if (end <= start)
        return true;                /* no DNS name: left to the provider */
    const WCHAR *dns = name + start;
    size_t n = end - start;
    for (const WCHAR *d = domains; *d != 0;) {
        size_t k = 0;
        while (d[k] != 0)
            k++;
        if (k <= n && (k == n || dns[n - k - 1] == '.')) {
            size_t i = 0;
            while (i < k && nspv2_ascii_lower(dns[n - k + i]) == d[i])
                i++;
            if (i == k)
                return true;
        }
        d += k + 1;
    }
    return false;
}

#endif
