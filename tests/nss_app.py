"""A provider only the tests know, for tests/test_nss.py: ``www.app.test`` is 127.0.0.1 (where
the test's web server listens); every other name is WSASERVICE_NOT_FOUND."""

from __future__ import annotations

import uuid
from typing import Any

import nspv2


class AppProvider(nspv2.Provider):
    """Answers ``www.app.test`` (and ``app.test`` as its alias) as an NS_DNS provider."""

    name = "nspv2 test app"
    namespace = nspv2.NS_DNS
    provider_id = uuid.UUID("0d3c8a61-7e2b-4f59-a1c4-9b8e7d6f5a43")
    domains = ("app.test",)  # every other host name is declined without reaching its host

    def lookup(self, query: nspv2.QuerySet, flags: Any, session: nspv2.Session) -> Any:
        name = (query.instance_name or "").lower().rstrip(".")
        if name not in ("www.app.test", "app.test"):
            raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)
        results = []
        if name == "app.test":
            results.append(
                nspv2.QuerySet(
                    instance_name="app.test",
                    comment="www.app.test",
                    output_flags=nspv2.RESULT_IS_ALIAS,
                )
            )
        results.append(
            nspv2.QuerySet(
                instance_name="www.app.test",
                addresses=(nspv2.CsAddr(remote=("127.0.0.1", 0)),),
            )
        )
        return results
