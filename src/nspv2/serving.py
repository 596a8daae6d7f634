"""Serving providers to other processes: what ``nspv2 serve`` runs.

Advertising a provider (:func:`nspv2.advertise`) publishes it to every process of the same user:
off Windows the Winsock stand-in listens on a Unix domain socket in the runtime folder
(``NSPV2_RUNTIME_DIR``, default ``$XDG_RUNTIME_DIR/nspv2``, ``/run/nspv2`` for root) and carries
other processes' lookups to it, as Winsock carries them to a host process on Windows. Clients route
by the catalog, so a host also makes sure each provider it serves is installed there (the
stand-in's catalog file in the runtime folder is shared by the user's processes).

Run as a host, this process must not ask itself through glibc's resolver: ``NSPV2_NSS_BYPASS``
makes libnss_nspv2 answer NOTFOUND at once in this process and the processes it starts (as sssd's
daemons do with ``_SSS_LOOPS``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from typing import Iterator, List, Sequence

from . import catalog, napi
from ._constants import NS_EMAIL, ProviderLevel
from .config import ConfigError
from .host import advertise
from .provider import Provider

#: Set in a host's environment: libnss_nspv2 declines every name there (no lookup loops).
NSS_BYPASS = "NSPV2_NSS_BYPASS"


@dataclass(frozen=True)
class Target:
    """One provider a host serves: its GUID, catalog identifier and namespace."""

    provider_id: uuid.UUID
    identifier: str
    namespace: int
    provider: Provider


def example_targets() -> List[Target]:
    """The built-in example zone, as its NS_EMAIL provider and its NS_DNS face."""
    from .examples.zone import ZoneDnsProvider, ZoneProvider

    return [
        Target(ZoneProvider.provider_id, ZoneProvider.name, int(ZoneProvider.namespace),
               ZoneProvider()),
        Target(ZoneDnsProvider.provider_id, ZoneDnsProvider.name, int(ZoneDnsProvider.namespace),
               ZoneDnsProvider()),
    ]  # fmt: skip


def target_of(provider_id: uuid.UUID, provider: Provider) -> Target:
    """A provider instance as a target: its class's ``name`` and ``namespace``."""
    name = getattr(provider, "name", "") or type(provider).__qualname__
    return Target(provider_id, str(name), int(getattr(provider, "namespace", 0) or 0), provider)


def ensure_installed(targets: Sequence[Target]) -> List[uuid.UUID]:
    """Installs each target the catalog does not have yet (one that names no namespace is
    left to the installer); returns the GUIDs it installed."""
    present = {entry.provider_id for entry in catalog.entries()}
    installed = []
    for target in targets:
        if target.provider_id not in present and target.namespace:
            catalog.install(
                target.provider_id,
                target.identifier,
                target.namespace,
                provider_specific=installation_blob(target),
            )
            installed.append(target.provider_id)
    return installed


def installation_blob(target: Target) -> bytes:
    """An NS_EMAIL target's NAPI_PROVIDER_INSTALLATION_BLOB, from its class's ``domains``,
    ``wildcard`` and ``auth_level``, without which Winsock routes no name to it; a provider
    declaring no domains is installed as a wildcard, so that serving it reaches it."""
    if target.namespace != NS_EMAIL:
        return b""
    cls = type(target.provider)
    domains = tuple(getattr(cls, "domains", ()) or ())
    level = getattr(cls, "auth_level", ProviderLevel.ProviderLevel_Primary)
    wildcard = bool(getattr(cls, "wildcard", False)) or not domains
    return napi.InstallationBlob.of(domains, wildcard=wildcard, level=level).pack()


def allow_users(uids: Sequence[int], source: str) -> None:
    """Lets the processes of these other users reach what this process advertises from now on
    (the stand-in's StandinAllowUsers: SO_PEERCRED lets them in, the socket is 0666 in a 0711
    folder); ``source`` names where the list came from, for the error. Off Windows only: there
    Winsock shows a provider to its host's user alone."""
    if not uids:
        return
    from ._native import load

    native = load()
    allow = getattr(native.winsock, "StandinAllowUsers", None)
    if allow is None:
        raise ConfigError(f"{source}: allow_users: this Winsock cannot let other users in")
    limit = int(native.winsock.STANDIN_MAX_ALLOWED_USERS)
    if len(uids) > limit or allow(native.ffi.new("DWORD[]", list(uids)), len(uids)) != 0:
        raise ConfigError(f"{source}: [nspv2] allow_users: name at most {limit} users")


@contextlib.contextmanager
def hosting(targets: Sequence[Target]) -> Iterator[List[Target]]:
    """Installs what is missing from the catalog and advertises every target until the block
    ends (then withdraws them; the catalog entries stay, as installations do on Windows)."""
    os.environ[NSS_BYPASS] = "1"
    ensure_installed(targets)
    with contextlib.ExitStack() as stack:
        for target in targets:
            stack.enter_context(advertise(target.provider, target.provider_id))
        yield list(targets)


def bare(args: object) -> bool:
    """Whether ``nspv2 serve`` was given nothing to serve (then it serves the example)."""
    return not (
        getattr(args, "provider", None)
        or getattr(args, "config", None)
        or getattr(args, "configured", False)
    )
