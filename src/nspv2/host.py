"""Serving providers from a Python process: :func:`advertise`."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, Iterator, Optional, Union

from . import _runtime
from ._constants import SOCKET_ERROR
from ._native import load
from .client import winsock_session
from .errors import WinsockError
from .provider import Provider


class Advertisement:
    """A provider being served; what :func:`advertise` yields."""

    def __init__(self, provider: Provider, provider_id: uuid.UUID, routine: Any) -> None:
        self.provider = provider
        self.provider_id = provider_id
        #: The NSPV2_ROUTINE handed to WSAAdvertiseProvider (kept alive while advertised).
        self.routine = routine


@contextlib.contextmanager
def advertise(
    provider: Provider, provider_id: Optional[Union[str, uuid.UUID]] = None
) -> Iterator[Advertisement]:
    """Serve ``provider`` under ``provider_id`` while the block runs.

    Loads the provider library, gets its routine table for the GUID (NSPv2GetRoutine), calls
    WSAAdvertiseProvider, and WSAUnadvertiseProvider on exit. The GUID must be installed in the
    catalog first (:func:`nspv2.catalog.install`): WSAAdvertiseProvider refuses one that is not
    with WSAEINVALIDPROVIDER, raised here as :class:`WinsockError`.
    ``provider_id`` defaults to the class attribute ``provider_id``.
    """
    guid_value = provider_id if provider_id is not None else getattr(provider, "provider_id", None)
    if guid_value is None:
        raise ValueError("advertise() needs a provider_id (argument or class attribute)")
    guid = uuid.UUID(str(guid_value))
    native = load()
    ffi = native.ffi
    with winsock_session(native):
        _runtime.register(provider, guid)
        try:
            c_guid = native.guid(guid)
            routine = ffi.new("NSPV2_ROUTINE *")
            if native.provider.NSPv2GetRoutine(c_guid, routine) == SOCKET_ERROR:
                raise WinsockError(native.winsock.WSAGetLastError())
            if native.winsock.WSAAdvertiseProvider(c_guid, routine) == SOCKET_ERROR:
                raise WinsockError(native.winsock.WSAGetLastError())
            try:
                yield Advertisement(provider, guid, routine)
            finally:
                native.winsock.WSAUnadvertiseProvider(c_guid)
        finally:
            _runtime.unregister(guid)
