"""nspv2: Windows Winsock namespace providers (NSPv2) written in Python.

Write a provider as a subclass of :class:`Provider`; serve it with :func:`advertise` (from a
Python host) or through the native host and the configuration in :mod:`nspv2.config`; ask it
with :func:`lookup`. Winsock's numbers are here under their SDK names (``NS_EMAIL``,
``LUP_RETURN_ALL``, ``WSA_E_NO_MORE``, ...) and grouped as enums (:class:`Namespace`,
:class:`LookupFlags`, :class:`ErrorCode`, ...).
"""

from typing import TYPE_CHECKING, Any, List

from ._constants import *  # noqa: F403
from ._constants import __all__ as _constant_names
from ._runtime import lookup_cancelled
from .errors import WinsockError
from .provider import LookupResult, Provider, Session
from .queryset import AfProtocol, CsAddr, QuerySet, SockAddr, Version

if TYPE_CHECKING:
    from .catalog import CatalogEntry
    from .client import lookup, set_service
    from .host import Advertisement, advertise

__version__ = "0.1.0"

# The client's and the Python host's side, imported on first use (PEP 562): a host the provider
# library starts needs neither them nor cffi, which they load, and importing is most of its
# cold start.
_LATER = {
    "CatalogEntry": "catalog",
    "lookup": "client",
    "set_service": "client",
    "Advertisement": "host",
    "advertise": "host",
}


# The submodules that importing nspv2 loaded before, still there as its attributes.
_LATER_MODULES = ("catalog", "client", "host", "_native")


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LATER_MODULES:
        return importlib.import_module(f".{name}", __name__)  # sets the attribute itself
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted({*globals(), *_LATER, *_LATER_MODULES})


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
