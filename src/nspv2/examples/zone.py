"""The built-in example provider: a small zone of host names and email addresses.

Host names answer with their addresses; an alias (CNAME) answers with an alias result
(RESULT_IS_ALIAS, returned when LUP_RETURN_ALIASES is asked for) and then its target's result.
An email address that exists answers with one result per mail host of its domain (the address,
its owner as the comment, the mail host's addresses on port 25). Anything else is
WSASERVICE_NOT_FOUND. The zone is read from ``example.zone`` beside this module.

Its NS_EMAIL installation blob (``domains``, ``wildcard``) is what makes Winsock route its names
to it: primary for example.test, so ``alice@example.test`` comes to it first, and a wildcard
provider, because its host names (``www.example.test``) have no ``@`` and so no domain part:
Winsock gives such names to wildcard providers only.

:class:`ZoneDnsProvider` is the same zone's NS_DNS face, under a GUID of its own (a catalog entry
has one namespace), serving ``example.test`` and its addresses' reverse names only (its
``domains``): it answers host names, and reverse names (``10.2.0.192.in-addr.arpa``, the
``ip6.arpa`` nibbles) with the host name, to NS_DNS queries only, the way Windows' getaddrinfo
and getnameinfo ask NS_DNS providers (and the way libnss_nspv2 asks for glibc's resolver).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import defaultdict
from pathlib import Path
from typing import DefaultDict, Dict, Iterator, List, Tuple

from .._constants import (
    IPPROTO_TCP,
    NS_DNS,
    NS_EMAIL,
    RESULT_IS_ALIAS,
    SOCK_STREAM,
    WSASERVICE_NOT_FOUND,
    LookupFlags,
)
from ..errors import WinsockError
from ..provider import Provider, Session
from ..queryset import CsAddr, QuerySet, SockAddr

ZONE_FILE = Path(__file__).with_name("example.zone")
SMTP_PORT = 25


def read_zone(path: Path) -> Dict[str, List[Tuple[str, str]]]:
    records: DefaultDict[str, List[Tuple[str, str]]] = defaultdict(list)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) != 3:
            raise ValueError(f"{path}:{number}: expected `<name> <type> <value>`")
        name, kind, value = parts
        records[name.lower()].append((kind.upper(), value))
    return dict(records)


class ZoneProvider(Provider):
    """Answers names and email addresses from a zone file."""

    name = "nspv2 example zone"
    namespace = NS_EMAIL
    provider_id = uuid.UUID("5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d21")
    domains: Tuple[str, ...] = ("example.test",)
    wildcard = True

    def __init__(self, zone_file: Path = ZONE_FILE) -> None:
        self.records = read_zone(zone_file)

    def addresses(self, host: str, port: int) -> Tuple[CsAddr, ...]:
        found = []
        for kind, value in self.records.get(host.lower(), ()):
            remote: SockAddr
            if kind == "A":
                remote = (str(ipaddress.IPv4Address(value)), port)
            elif kind == "AAAA":
                remote = (str(ipaddress.IPv6Address(value)), port, 0, 0)
            else:
                continue
            found.append(CsAddr(remote=remote, socket_type=SOCK_STREAM, protocol=IPPROTO_TCP))
        return tuple(found)

    def lookup(self, query: QuerySet, flags: LookupFlags, session: Session) -> Iterator[QuerySet]:
        name = (query.instance_name or "").strip().lower()
        if "@" in name:
            results = list(self.mailbox(name))
        else:
            results = list(self.host(name))
        if not results:
            raise WinsockError(WSASERVICE_NOT_FOUND)
        return iter(results)

    def host(self, name: str) -> Iterator[QuerySet]:
        for kind, value in self.records.get(name, ()):
            if kind == "CNAME":
                yield QuerySet(instance_name=name, comment=value, output_flags=RESULT_IS_ALIAS)
                yield from self.host(value.lower())
                return
        addresses = self.addresses(name, 0)
        if addresses:
            yield QuerySet(instance_name=name, addresses=addresses)

    def mailbox(self, address: str) -> Iterator[QuerySet]:
        domain = address.rpartition("@")[2]
        owner = [v for k, v in self.records.get(address, ()) if k == "MAILBOX"]
        if not owner:
            return
        for kind, host in self.records.get(domain, ()):
            if kind == "MX":
                yield QuerySet(
                    instance_name=address,
                    comment=owner[0],
                    context=host,
                    addresses=self.addresses(host, SMTP_PORT),
                )


def reverse_name(address: str) -> str:
    """The DNS reverse name of an IPv4 or IPv6 address (in-addr.arpa / ip6.arpa)."""
    return ipaddress.ip_address(address).reverse_pointer


class ZoneDnsProvider(ZoneProvider):
    """The example zone's host names as an NS_DNS provider (its own GUID and catalog entry)."""

    name = "nspv2 example zone (DNS)"
    namespace = NS_DNS
    provider_id = uuid.UUID("5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d22")
    wildcard = False  # an NS_DNS provider serves its domains only

    def __init__(self, zone_file: Path = ZONE_FILE) -> None:
        super().__init__(zone_file)
        self.reverse: Dict[str, str] = {}
        for name, records in self.records.items():
            for kind, value in records:
                if kind in ("A", "AAAA"):
                    self.reverse.setdefault(reverse_name(value), name)
        # The names it serves: the zone, and the reverse name of each of its addresses. Every
        # other host name on the machine is declined in C, without calling lookup below.
        self.domains = ("example.test", *sorted(self.reverse))

    def lookup(self, query: QuerySet, flags: LookupFlags, session: Session) -> Iterator[QuerySet]:
        name = (query.instance_name or "").strip().lower().rstrip(".")
        if query.namespace != NS_DNS or "@" in name:
            raise WinsockError(WSASERVICE_NOT_FOUND)
        if name in self.reverse:
            return iter([QuerySet(instance_name=self.reverse[name])])
        results = list(self.host(name))
        if not results:
            raise WinsockError(WSASERVICE_NOT_FOUND)
        return iter(results)
