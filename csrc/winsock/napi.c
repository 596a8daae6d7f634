/* The NS_EMAIL installation blob (nsemail.h: NAPI_PROVIDER_INSTALLATION_BLOB followed by
 * NAPI_DOMAIN_DESCRIPTION_BLOBs), read the way the NAPI_PROVIDER_INSTALLATION_BLOB and
 * NAPI_DOMAIN_DESCRIPTION_BLOB pages describe it: every offset counts from the start of the blob;
 * OffsetFirstDomain and each OffsetNextDomainDescription are 4-byte aligned (the pages ask for
 * OffsetFirstDomain; the next description is the same structure, so the same alignment);
 * OffsetThisDomainName is 2-byte aligned and cchDomainName counts UTF-16 units without a NUL,
 * which need not follow. The one reader of the blob here: WSCInstallNameSpaceEx refuses a blob
 * it cannot walk (WSAEINVAL), and routing asks it which domains a provider claims.
 *
 * What counts as malformed: shorter than the header; a description or name outside the blob or
 * misaligned; an AuthLevel outside NAPI_PROVIDER_LEVEL; an empty domain name or one with a NUL
 * in it; more descriptions than the blob could hold (cDomains is bounded by the blob's size, so
 * a chain of offsets that loops still ends). Not checked: dwVersion, the provider's own version
 * number (the page: "specific to the namespace provider"); dwProviderType, which Microsoft's
 * NSPv2 sample (Install.c) leaves 0, calling the field dwReserved, in the one blob known to have
 * been installed on Windows; the last description's OffsetNextDomainDescription, which that
 * sample points past the descriptions rather than at 0. Its layout (every description, then the
 * names without NULs) and nspv2's (each description followed by its NUL-terminated name) are
 * both walked the same way. */
#include "standin_internal.h"

#include <string.h>

static DWORD read_dword(const BYTE *blob, size_t at)
{
    DWORD v;
    memcpy(&v, blob + at, sizeof v);      /* the blob's bytes need not be aligned in memory */
    return v;
}

static WCHAR read_wchar(const BYTE *blob, size_t at)
{
    WCHAR c;
    memcpy(&c, blob + at, sizeof c);
    return c;
}

static WCHAR ascii_lower(WCHAR c) { return (c >= 'A' && c <= 'Z') ? (WCHAR)(c + ('a' - 'A')) : c; }

/* Domain names compare without regard to ASCII case (RFC 4343); other characters as they are. */
static bool same_domain(const BYTE *blob, size_t at, size_t cch, const WCHAR *domain,
                        size_t domain_length)
{
    if (cch != domain_length)
        return false;
    for (size_t i = 0; i < cch; i++)
        if (ascii_lower(read_wchar(blob, at + 2 * i)) != ascii_lower(domain[i]))
            return false;
    return true;
}

bool napi_blob_read(const BYTE *blob, size_t length, const WCHAR *domain, size_t domain_length,
                    struct napi_claim *claim)
{
    const size_t header = sizeof(NAPI_PROVIDER_INSTALLATION_BLOB);
    const size_t description = sizeof(NAPI_DOMAIN_DESCRIPTION_BLOB);
    claim->level = ProviderLevel_None;
    claim->wildcard = false;
    if (blob == NULL || length < header)
        return false;
    DWORD count = read_dword(blob, offsetof(NAPI_PROVIDER_INSTALLATION_BLOB, cDomains));
    size_t at = read_dword(blob, offsetof(NAPI_PROVIDER_INSTALLATION_BLOB, OffsetFirstDomain));
    if (count > (length - header) / description)
        return false;
    bool claimed = false;
    for (DWORD i = 0; i < count; i++) {
        if (at % 4 != 0 || at < header || at > length - description)
            return false;
        DWORD level = read_dword(blob, at + offsetof(NAPI_DOMAIN_DESCRIPTION_BLOB, AuthLevel));
        size_t cch = read_dword(blob, at + offsetof(NAPI_DOMAIN_DESCRIPTION_BLOB, cchDomainName));
        size_t name = read_dword(blob,
                                 at + offsetof(NAPI_DOMAIN_DESCRIPTION_BLOB, OffsetThisDomainName));
        size_t next = read_dword(
            blob, at + offsetof(NAPI_DOMAIN_DESCRIPTION_BLOB, OffsetNextDomainDescription));
        if (level > ProviderLevel_Primary || cch == 0 || name % 2 != 0 || name > length ||
            cch > (length - name) / 2)
            return false;
        for (size_t k = 0; k < cch; k++)
            if (read_wchar(blob, name + 2 * k) == 0)
                return false;
        /* A domain listed twice counts at its first listing. */
        if (domain && !claimed && same_domain(blob, name, cch, domain, domain_length)) {
            claim->level = level;
            claimed = true;
        }
        at = next;
    }
    claim->wildcard =
        read_dword(blob, offsetof(NAPI_PROVIDER_INSTALLATION_BLOB, fSupportsWildCard)) != 0;
    return true;
}
