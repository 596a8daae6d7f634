"""Example: an NS_EMAIL provider whose names are registered with ``WSASetService``.

The shape of Microsoft's NSPv2 sample (a host advertising an NS_EMAIL provider that answers the
email names registered with it), written as an nspv2 class:

- ``WSASetService(query, RNRSERVICE_REGISTER, 0)`` for ``name@mail.test`` registers the name
  with what the query carries (``comment``, ``addresses``, ``blob``); registering it again
  replaces that;
- ``RNRSERVICE_DEREGISTER`` or ``RNRSERVICE_DELETE`` removes it (``WSASERVICE_NOT_FOUND`` if it
  was not registered);
- a lookup of a registered name answers with what was registered; of any other,
  ``WSASERVICE_NOT_FOUND``.

Registrations live in the provider's memory, shared by every client process, until the host
stops. Winsock routes to it only the names of its ``domains`` (its NS_EMAIL installation blob,
which ``nspv2 install`` writes from them); a registration of another domain is refused with
``WSAEINVAL``.
"""

from __future__ import annotations

import threading
import uuid
from typing import Dict, List

import nspv2


class EmailDirectory(nspv2.Provider):
    """Email names registered by clients (SetServiceEx), found by lookups."""

    name = "nspv2 example: email directory"
    namespace = nspv2.NS_EMAIL
    provider_id = uuid.UUID("d2e8b4a1-9f37-4c05-b6e2-7a1c3f5d9e08")
    #: The names this provider serves; Winsock declines others before Python runs.
    domains = ("mail.test",)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.names: Dict[str, nspv2.QuerySet] = {}

    def key(self, query: nspv2.QuerySet) -> str:
        """The registered name a query is about; WSAEINVAL if it is no address of our domains."""
        name = (query.instance_name or "").strip().lower()
        user, at, domain = name.partition("@")
        if not (user and at and domain in self.domains):
            raise nspv2.WinsockError(
                nspv2.WSAEINVAL, f"{name!r} is not an address in {', '.join(self.domains)}"
            )
        return name

    def set_service(
        self,
        query: nspv2.QuerySet,
        operation: nspv2.SetServiceOperation,
        flags: int,
        session: nspv2.Session,
    ) -> None:
        name = self.key(query)
        with self.lock:
            if operation == nspv2.RNRSERVICE_REGISTER:
                self.names[name] = nspv2.QuerySet(
                    instance_name=name,
                    comment=query.comment,
                    addresses=query.addresses,
                    blob=query.blob,
                )
            elif self.names.pop(name, None) is None:  # RNRSERVICE_DEREGISTER, _DELETE
                raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)

    def lookup(
        self, query: nspv2.QuerySet, flags: nspv2.LookupFlags, session: nspv2.Session
    ) -> List[nspv2.QuerySet]:
        name = (query.instance_name or "").strip().lower()
        found = self.names.get(name)  # one dict read: no lock needed
        if found is None:
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        return [found]
