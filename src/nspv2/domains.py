"""The names a provider serves: its ``domains``.

A provider sits in the path of every lookup of its namespace (``NS_ALL`` included; on Linux,
with ``hosts: files nspv2 dns``, of every host name a program resolves). A provider that declares
the domains it serves, as a class attribute or in its configuration::

    class Directory(nspv2.Provider):
        domains = ("corp.example",)

is never called for any other name: the provider library declines those in C, before the gate
and the GIL, with ``WSASERVICE_NOT_FOUND`` (csrc/provider/domains.c), and libnss_nspv2 declines
them without connecting to the host (the host publishes the list beside its socket). A provider
that declares none (or sets ``wildcard = True``) is asked for every name.

The rule: a name is served when its DNS name equals one of the domains or lies below one, at a
label boundary (``www.example.test`` is below ``example.test``, ``badexample.test`` is not). An
email address's DNS name is the part after its last ``@``. ASCII letters match in either case
(as DNS, RFC 4343); a trailing dot is ignored. A name with no DNS name (no instance name, as in
enumeration queries; ``alice@``) is never declined. The list is the same one the ``NS_EMAIL``
installation blob carries (:mod:`nspv2.napi`); the level of each domain does not matter here.

The rule lives in C, in ``csrc/include/nspv2/served.h``, the one implementation that runs.
:func:`served` below is only the reference the parity test compares it with; nothing else
calls it.
"""

from __future__ import annotations

from typing import Any, Iterable, Tuple

#: The first line of ``{GUID}.domains`` in the runtime folder (csrc/winsock/rundir.h).
FILE_MAGIC = "nspv2-domains 1"


def normalize(domains: Any, owner: str = "domains") -> Tuple[str, ...]:
    """The declared domains as the C side takes them: each lower-case ASCII without a trailing
    dot, duplicates dropped, in order. Accepts names, ``name:level`` strings and
    :class:`nspv2.napi.Domain`; ``ValueError`` or ``TypeError`` naming ``owner`` for anything
    else (a bare string instead of a tuple, an empty name, an ``@`` or empty label in one)."""
    if domains is None:
        return ()
    if isinstance(domains, (str, bytes)):
        raise TypeError(f"{owner} must be a tuple of domain names, not the string {domains!r}")
    try:
        items = list(domains)
    except TypeError:
        raise TypeError(
            f"{owner} must be a tuple of domain names, not {type(domains).__name__}"
        ) from None
    found = []
    for item in items:
        name = getattr(item, "name", item)
        if not isinstance(name, str):
            raise TypeError(f"{owner}: {item!r} is not a domain name (a str)")
        if ":" in name:  # "corp.example:secondary", as nspv2 install takes it
            name = name.rpartition(":")[0]
        text = _lower(name.strip()).rstrip(".") if name.strip() != "." else ""
        if not text:
            raise ValueError(
                f"{owner}: {item!r} is not a domain; declare no domains to serve every name"
            )
        if "@" in text or any(not label for label in text.split(".")) or "\0" in text:
            raise ValueError(f"{owner}: {item!r} is not a domain name (an '@' or empty label)")
        if text not in found:
            found.append(text)
    return tuple(found)


def _lower(text: str) -> str:
    """ASCII letters lower-cased, nothing else (DNS's case-insensitivity, RFC 4343)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def declared(provider: Any) -> Tuple[str, ...]:
    """What ``provider`` serves: its (normalized) ``domains``, or ``()`` (every name) when it
    declares none or sets ``wildcard = True`` (it also takes names nobody else claims)."""
    if getattr(provider, "wildcard", False):
        return ()
    return normalize(getattr(provider, "domains", ()), f"{type(provider).__qualname__}.domains")


def multi_sz(domains: Iterable[str]) -> bytes:
    """The list as csrc/include/nspv2/served.h takes it: UTF-16 names, each NUL-terminated,
    then an empty one."""
    return "".join(f"{d}\0" for d in domains).encode("utf-16-le") + b"\0\0"


def file_lines(domains: Iterable[str]) -> str:
    """The lines of ``{GUID}.domains`` after its magic line: one name each, UTF-8."""
    return "".join(f"{d}\n" for d in domains)


def served(name: str | None, domains: Iterable[str]) -> bool:
    """Reference only (the C rule in csrc/include/nspv2/served.h is the one that runs): whether
    a provider declaring the normalized ``domains`` serves ``name``."""
    listed = tuple(domains)
    if not listed or name is None:
        return True
    dns = name.rpartition("@")[2]
    if dns.endswith("."):
        dns = dns[:-1]
    if not dns:
        return True
    dns = _lower(dns)
    return any(dns == d or dns.endswith("." + d) for d in listed)
