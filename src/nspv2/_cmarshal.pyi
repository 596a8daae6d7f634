"""Types of nspv2._cmarshal, the lookup's hot-path marshalling in C (csrc/marshal/)."""

import uuid
from typing import Any, Callable, Dict, Optional

from .queryset import QuerySet

RECORD_SIZE: int

class Marshaller:
    def __init__(
        self,
        queryset: type,
        version: type,
        afprotocol: type,
        csaddr: type,
        uuid: type,
        uuid_from_bytes_le: Callable[[bytes], uuid.UUID],
        read_restrictions: Callable[[int], QuerySet],
        create_lookup: Callable[..., int],
        lookups_create: Optional[int] = None,
    ) -> None: ...
    def guid_at(self, address: int) -> bytes: ...
    def read_restrictions(self, address: int) -> QuerySet: ...
    def pack_results(
        self, result: Any, provider_id: Optional[uuid.UUID], namespace: int
    ) -> Optional[bytes]: ...
    def create_lookup(
        self,
        result: Any,
        provider_id: Optional[uuid.UUID],
        namespace: int,
        session: int,
        provider_address: int,
        flags: int,
        failed: Callable[[BaseException], int],
    ) -> int: ...

class Begin:
    def __init__(
        self,
        marshaller: Marshaller,
        providers: Dict[bytes, Any],
        sessions: Dict[int, Any],
        lookup_flags: Dict[int, Any],
        serve: Callable[[Any, Any, int, QuerySet, Any, bool], int],
        failed: Callable[[BaseException, uuid.UUID], int],
    ) -> None: ...
    @property
    def entry(self) -> int: ...
    @property
    def context(self) -> int: ...

class Stepper:
    def __init__(
        self,
        marshaller: Marshaller,
        write: Callable[[Any, uuid.UUID, int, Callable[[BaseException], int]], bytes],
        lookups_create_source: int,
    ) -> None: ...
    def create(
        self,
        iterator: Any,
        provider_id: uuid.UUID,
        namespace: int,
        session: int,
        provider: bytes,
        flags: int,
        next_failed: Callable[[BaseException], int],
        end_failed: Callable[[BaseException], int],
    ) -> int: ...
    @property
    def step(self) -> int: ...
    @property
    def drop(self) -> int: ...
    @property
    def context(self) -> int: ...
