"""Winsock errors as Python exceptions.

A provider raises :class:`WinsockError` with a Winsock code to answer with that code; the library
turns it into ``SOCKET_ERROR`` + ``WSASetLastError`` for synchronous calls and into the completion
code of asynchronous ones. The client side (:func:`nspv2.lookup`) raises it for failed calls.
"""

from __future__ import annotations

from ._constants import ErrorCode


class WinsockError(OSError):
    """A Winsock error code, raised by providers and by the client functions.

    ``code`` (also ``winerror`` and ``errno``) is the Winsock code, e.g. ``WSASERVICE_NOT_FOUND``.
    """

    def __init__(self, code: int, message: str | None = None) -> None:
        code = int(code)
        if message is None:
            message = describe(code)
        super().__init__(code, message)
        self.code = code
        self.winerror = code

    def __reduce__(self) -> tuple[type[WinsockError], tuple[int, str]]:
        return (type(self), (self.code, self.strerror or ""))


def describe(code: int) -> str:
    """The SDK name of a Winsock code, or the number itself if it has none."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"Winsock error {code}"
