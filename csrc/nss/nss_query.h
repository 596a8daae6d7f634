/* What libnss_nspv2 asks the hosts, in terms glibc's side understands (nss_hosts.c) and
 * without Winsock's declarations, which cannot meet <netdb.h> in one file (nss_query.c has
 * them). */
#ifndef NSPV2_NSS_QUERY_H
#define NSPV2_NSS_QUERY_H

#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

#define NSS_FAMILY_INET 2
#define NSS_FAMILY_INET6 10          /* Linux's AF_INET6 (Winsock's is 23) */

struct nss_address {
    int family;                      /* NSS_FAMILY_INET or NSS_FAMILY_INET6 */
    uint8_t bytes[16];
    uint32_t scope_id;               /* link-local IPv6 only, else 0 */
};

struct nss_answer {
    char *name;                      /* the canonical name (UTF-8) */
    char **aliases;                  /* names that were aliases of it */
    size_t n_aliases;
    struct nss_address *addresses;
    size_t n_addresses;
};

enum nss_query_status {
    QUERY_FOUND,
    QUERY_NOTFOUND,                  /* every provider asked answered: no such name */
    QUERY_UNAVAIL,                   /* no provider to ask, or no host runs */
    QUERY_TRYAGAIN,                  /* a host did not answer in time, or failed */
    QUERY_NOMEM
};

/* Asks every enabled NS_DNS provider of the catalog whose host runs for `name` (UTF-8), as
 * Windows' getaddrinfo asks NS_DNS providers, and gathers the answers. */
enum nss_query_status nss_query(const char *name, struct nss_answer *answer);
void nss_answer_free(struct nss_answer *answer);

#pragma GCC visibility pop

#endif
