"""Example: a zone of host names read from a TOML file, reloaded when the file changes.

The file maps host names to their addresses, and may give an alias its target::

    [hosts."www.zone.test"]
    addresses = ["192.0.2.10", "2001:db8::10"]
    comment = "the web server"

    [hosts."ftp.zone.test"]
    alias_of = "www.zone.test"

Every lookup compares the file's modification time, size and inode with those it last read
(one ``os.stat``, no timer, no thread), and reads it again when they differ; so an edit is seen
by the next lookup after it is saved. A file that no longer parses is logged and the last good
zone keeps answering. The zone is an NS_DNS provider for the names under ``zone.test``
(``domains``); copy the module, change ``domains`` and ``ZONE_FILE`` (or subclass), and serve it
with ``nspv2 serve --provider yourmodule:TomlZoneProvider``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, as a package before 3.11
    import tomli as tomllib

import nspv2

log = logging.getLogger("nspv2.examples.toml_zone")

#: The zone served when none is named: the example beside this module.
ZONE_FILE = Path(__file__).with_name("example-zone.toml")


@dataclass(frozen=True)
class Host:
    """One host of the zone: its addresses and comment, or the name it is an alias of."""

    addresses: Tuple[str, ...] = ()
    comment: Optional[str] = None
    alias_of: Optional[str] = None


def parse_zone(text: str, source: str) -> Dict[str, Host]:
    """The hosts of a zone file's text; ValueError naming ``source`` and the entry at fault."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML ({exc})") from exc
    table = document.get("hosts", {})
    if not isinstance(table, dict):
        raise ValueError(f"{source}: `hosts` must be a table of host names")
    hosts: Dict[str, Host] = {}
    for name, entry in table.items():
        where = f"{source}: hosts.{name!r}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be a table")
        unknown = set(entry) - {"addresses", "comment", "alias_of"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        addresses = entry.get("addresses", [])
        if not isinstance(addresses, list):
            raise ValueError(f"{where}: `addresses` must be a list of IP addresses")
        try:
            parsed = tuple(str(ipaddress.ip_address(a)) for a in addresses)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from exc
        comment, alias_of = entry.get("comment"), entry.get("alias_of")
        if comment is not None and not isinstance(comment, str):
            raise ValueError(f"{where}: `comment` must be a string")
        if alias_of is not None and (not isinstance(alias_of, str) or parsed):
            raise ValueError(f"{where}: `alias_of` is a host name, and an alias has no addresses")
        hosts[name.lower().rstrip(".")] = Host(parsed, comment, alias_of and alias_of.lower())
    return hosts


def _signature(path: Path) -> Tuple[int, int, int]:
    stat = os.stat(path)
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class TomlZoneProvider(nspv2.Provider):
    """Answers the host names of a TOML zone file (NS_DNS), reading the file again whenever it
    has changed since the last lookup."""

    name = "nspv2 example: TOML zone"
    namespace = nspv2.NS_DNS
    provider_id = uuid.UUID("8f0c2d6e-7a41-4b59-9e3a-1d5c7b2e4f60")
    #: The names this provider serves; Winsock declines others before Python runs.
    domains = ("zone.test",)

    def __init__(self, zone_file: Optional[Path] = None) -> None:
        self.zone_file = Path(zone_file) if zone_file is not None else ZONE_FILE
        self.lock = threading.Lock()
        #: The file's (mtime, size, inode) when last examined; a change means read it again.
        self.seen: Optional[Tuple[int, int, int]] = (-1, -1, -1)
        self.hosts: Dict[str, Host] = {}
        self.reloads = 0  # how many times the file was read (for the curious, and the tests)
        self.refresh()
        if self.reloads == 0:  # a first read that failed: say so now, not at lookup
            raise ValueError(f"{self.zone_file}: the zone could not be read; see the log")

    def refresh(self) -> None:
        """Reads the file again if it changed; keeps the last good zone if it cannot (and says
        so once per change, not on every lookup)."""
        try:
            signature: Optional[Tuple[int, int, int]] = _signature(self.zone_file)
        except OSError:
            signature = None  # gone or unreadable: read_text below says why
        if signature == self.seen:
            return
        with self.lock:
            if signature == self.seen:
                return
            self.seen = signature
            try:
                hosts = parse_zone(self.zone_file.read_text(encoding="utf-8"), str(self.zone_file))
            except (OSError, ValueError) as exc:
                log.error("%s; answering from the last good zone", exc)
                return
            self.hosts = hosts
            self.reloads += 1

    def lookup(
        self, query: nspv2.QuerySet, flags: nspv2.LookupFlags, session: nspv2.Session
    ) -> List[nspv2.QuerySet]:
        self.refresh()
        name = (query.instance_name or "").lower().rstrip(".")
        hosts = self.hosts  # one read: a reload swaps the whole dict
        results: List[nspv2.QuerySet] = []
        seen = set()
        while name in hosts and name not in seen:  # follow aliases, never around a loop
            seen.add(name)
            host = hosts[name]
            if host.alias_of is not None:
                results.append(
                    nspv2.QuerySet(
                        instance_name=name,
                        comment=host.alias_of,
                        output_flags=nspv2.RESULT_IS_ALIAS,
                    )
                )
                name = host.alias_of
                continue
            results.append(
                nspv2.QuerySet(
                    instance_name=name,
                    comment=host.comment,
                    addresses=tuple(_address(a) for a in host.addresses),
                )
            )
            break
        if not results:
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        return results


def _address(text: str) -> nspv2.CsAddr:
    remote: Any = (text, 0) if ":" not in text else (text, 0, 0, 0)
    return nspv2.CsAddr(remote=remote, socket_type=nspv2.SOCK_STREAM, protocol=nspv2.IPPROTO_TCP)
