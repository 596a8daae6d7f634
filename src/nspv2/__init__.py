"""nspv2: Windows Winsock namespace providers (NSPv2) written in Python.

Write a provider as a subclass of :class:`Provider`; serve it with :func:`advertise` (from a
Python host) or through the native host and the configuration in :mod:`nspv2.config`; ask it
with :func:`lookup`. Winsock's numbers are here under their SDK names (``NS_EMAIL``,
``LUP_RETURN_ALL``, ``WSA_E_NO_MORE``, ...) and grouped as enums (:class:`Namespace`,
:class:`LookupFlags`, :class:`ErrorCode`, ...).
"""

from ._constants import *  # noqa: F403
from ._constants import __all__ as _constant_names
from ._runtime import lookup_cancelled
from .catalog import CatalogEntry
from .client import lookup, set_service
from .errors import WinsockError
from .host import Advertisement, advertise
from .provider import LookupResult, Provider, Session
from .queryset import AfProtocol, CsAddr, QuerySet, SockAddr, Version

__version__ = "0.1.0"

__all__ = [
    "AfProtocol",
    "Advertisement",
    "CatalogEntry",
    "CsAddr",
    "LookupResult",
    "Provider",
    "QuerySet",
    "Session",
    "SockAddr",
    "Version",
    "WinsockError",
    "advertise",
    "lookup",
    "lookup_cancelled",
    "set_service",
    *_constant_names,
]
