"""Example: a forwarding provider, answering the names under a suffix by asking a DNS server.

``ForwardingProvider`` serves the names of its ``domains`` (``corp.test`` here) in NS_DNS by
asking ``server`` (an address and port) for their A and AAAA records with dnspython, both at
once, as an ``async def`` lookup: the wait for the server happens on the runtime's event loop,
so thousands of lookups can wait together, and a client that ends its lookup cancels the query.
What the server says becomes Winsock's answer:

- addresses: one result with every address (port 0);
- NXDOMAIN: ``WSAHOST_NOT_FOUND``; the name exists with no address: ``WSANO_DATA``;
- no answer within ``timeout`` seconds, or any other failure: ``WSATRY_AGAIN``;
- a name outside ``domains``: ``WSASERVICE_NOT_FOUND`` (not ours: the next provider may have it).

Configure it by subclassing (a configured host creates the class without arguments)::

    class CorpForwarder(ForwardingProvider):
        domains = ("corp.example",)
        server = ("10.0.0.53", 53)

It needs dnspython (``pip install dnspython``, or nspv2's ``examples`` extra).
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from typing import List, Optional, Sequence, Tuple

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

import nspv2


def in_domains(name: str, domains: Sequence[str]) -> bool:
    """Whether ``name`` is one of ``domains`` or under one of them (case-insensitive)."""
    name = name.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in (d.lower().strip(".") for d in domains))


class ForwardingProvider(nspv2.Provider):
    """Answers the names under ``domains`` (NS_DNS) from the DNS server at ``server``."""

    name = "nspv2 example: DNS forwarder"
    namespace = nspv2.NS_DNS
    provider_id = uuid.UUID("3c9a5e1f-6b2d-4f8e-a0c7-9e4b1d2f6a83")
    #: The names this provider serves; Winsock declines others before Python runs.
    domains: Tuple[str, ...] = ("corp.test",)
    #: The DNS server asked: (address, port).
    server: Tuple[str, int] = ("127.0.0.1", 53)
    #: Seconds to wait for the server before answering WSATRY_AGAIN.
    timeout: float = 2.0

    def __init__(
        self,
        server: Optional[Tuple[str, int]] = None,
        domains: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
    ) -> None:
        if server is not None:
            self.server = (str(ipaddress.ip_address(server[0])), int(server[1]))
        if domains is not None:
            self.domains = tuple(domains)
        if timeout is not None:
            self.timeout = float(timeout)

    async def ask(self, name: str, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        """One query to the server over UDP."""
        query = dns.message.make_query(name, rdtype)
        address, port = self.server
        return await dns.asyncquery.udp(query, address, timeout=self.timeout, port=port)

    async def lookup(
        self, query: nspv2.QuerySet, flags: nspv2.LookupFlags, session: nspv2.Session
    ) -> List[nspv2.QuerySet]:
        name = (query.instance_name or "").rstrip(".")
        if not name or not in_domains(name, self.domains):
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        try:
            answers = await asyncio.gather(
                self.ask(name, dns.rdatatype.A), self.ask(name, dns.rdatatype.AAAA)
            )
        except (dns.exception.DNSException, OSError) as exc:  # timeout, unreachable, garbage
            raise nspv2.WinsockError(nspv2.WSATRY_AGAIN, f"{self.server}: {exc}") from exc
        addresses: List[nspv2.CsAddr] = []
        for answer in answers:
            for rrset in answer.answer:
                for rdata in rrset:
                    if rdata.rdtype == dns.rdatatype.A:
                        addresses.append(nspv2.CsAddr(remote=(rdata.address, 0)))
                    elif rdata.rdtype == dns.rdatatype.AAAA:
                        addresses.append(nspv2.CsAddr(remote=(rdata.address, 0, 0, 0)))
        if not addresses:
            codes = {a.rcode() for a in answers}
            if dns.rcode.NXDOMAIN in codes:
                raise nspv2.WinsockError(nspv2.WSAHOST_NOT_FOUND)
            if codes != {dns.rcode.NOERROR}:  # SERVFAIL, REFUSED: the server could not say
                raise nspv2.WinsockError(nspv2.WSATRY_AGAIN)
            raise nspv2.WinsockError(nspv2.WSANO_DATA)
        return [nspv2.QuerySet(instance_name=name, addresses=tuple(addresses))]
