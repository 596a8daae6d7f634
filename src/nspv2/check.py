"""``nspv2 check module:Class``: a provider run through a conformance suite in the stand-in.

The provider is installed under a fresh GUID in the Winsock catalog of this process (the
stand-in's), advertised, and asked as Winsock clients ask: every callback its class defines
(Startup and Cleanup through a client session, SetServiceEx when it has ``set_service``), the
buffer protocol (a buffer too small gets WSAEFAULT with the size needed, and the retry the same
result), Unicode names (outside the BMP, a lone surrogate), the LUP_* flags, an End during a
NextEx, what its exceptions and wrong return types turn into, how long a plain ``lookup`` takes,
every contract violation the stand-in records, and the domains it declares (a provider that
declares none is asked for every name of its namespace on the machine, and the check says what
that costs). Each finding says what to change; the exit
status is 1 when any check failed (2 with ``--strict`` for warnings too), so it can gate CI.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import statistics
import threading
import time
import uuid
from typing import Any, Callable, Iterator, List, Optional

from . import catalog, domains, napi
from ._constants import (
    LUP_RETURN_ALIASES,
    LUP_RETURN_ALL,
    LUP_RETURN_NAME,
    NS_DNS,
    NS_EMAIL,
    SOCKET_ERROR,
    WSA_E_CANCELLED,
    WSA_E_NO_MORE,
    WSA_INVALID_HANDLE,
    WSAEFAULT,
    WSANO_RECOVERY,
    SetServiceOperation,
)
from ._marshal import Marshal
from ._native import Native, load
from .client import SERVICE_CLASS, lookup, set_service, winsock_session
from .errors import WinsockError
from .host import advertise
from .provider import Provider, Session, implemented
from .queryset import QuerySet

#: What a NextEx racing an End may answer: its result, the end, cancelled, or (End first) an
#: invalid handle.
ANSWERS_AFTER_END = (0, WSA_E_CANCELLED, WSA_E_NO_MORE, WSAEFAULT, WSA_INVALID_HANDLE)
#: A plain lookup slower than this (median, in ms) gets a warning: it holds a Winsock thread.
SLOW_MS = 1.0


@dataclasses.dataclass
class Finding:
    """One check's outcome: ``level`` is "pass", "warn" or "fail"; ``fix`` says what to do."""

    level: str
    check: str
    message: str
    fix: str = ""


class _Captured(logging.Handler):
    """The nspv2 log records of one check (a provider's exceptions are logged there)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        self.lines.append(text)


class Checker:
    """Runs the checks against one provider instance, served under a fresh GUID."""

    def __init__(self, provider: Provider, names: List[str], slow_ms: float = SLOW_MS) -> None:
        self.provider = provider
        self.names = names
        self.slow_ms = slow_ms
        self.guid = uuid.uuid4()
        self.namespace = int(getattr(provider, "namespace", 0) or NS_DNS)
        self.findings: List[Finding] = []
        self.log = _Captured()
        #: The names it serves (() for every name), once check_domains has read them.
        self.domains: tuple[str, ...] = ()

    # -- reporting -------------------------------------------------------------------------------

    def add(self, level: str, check: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(level, check, message, fix))

    def failed_because(self, check: str, fix: str) -> None:
        """A WinsockError from a client call: WSANO_RECOVERY means the provider misbehaved (its
        exception or wrong result is in the log); any other code is an answer."""
        logged = "; ".join(self.log.lines[-2:]) or "see the nspv2 log"
        self.add("fail", check, f"answered WSANO_RECOVERY ({logged})", fix)

    # -- the checks ------------------------------------------------------------------------------

    def run(self) -> List[Finding]:
        logger = logging.getLogger("nspv2")
        logger.addHandler(self.log)
        blob = b""
        if self.namespace == NS_EMAIL:  # Winsock routes NS_EMAIL names by the blob's claims
            blob = napi.InstallationBlob.of(wildcard=True).pack()
        if not self.check_domains():
            return self.findings  # it cannot be advertised with them
        try:
            catalog.install(self.guid, "nspv2 check", self.namespace, provider_specific=blob)
            try:
                native = load()
                native.winsock.StandinResetViolations()
                with advertise(self.provider, self.guid):
                    for check in (
                        self.check_lookups,
                        self.check_buffer_protocol,
                        self.check_unicode,
                        self.check_flags,
                        self.check_set_service,
                        self.check_end_during_next,
                        self.check_plain_speed,
                    ):
                        check()
                self.check_violations(native)
            finally:
                catalog.uninstall(self.guid)
        finally:
            logger.removeHandler(self.log)
        return self.findings

    def ask(self, name: str, flags: int = LUP_RETURN_ALL) -> List[QuerySet]:
        return lookup(name, namespace=self.namespace, provider_id=self.guid, flags=flags)

    def check_domains(self) -> bool:
        """The names it serves: declared (the others cost nothing), or none (every name of its
        namespace on the machine comes to it). False when they cannot be read."""
        try:
            self.domains = domains.declared(self.provider)
        except (TypeError, ValueError) as exc:
            self.add("fail", "domains", str(exc), 'write domains = ("corp.example",)')
            return False
        if self.domains:
            self.add(
                "pass",
                "domains",
                f"serves {', '.join(self.domains)}; every other name is declined in C "
                "(no Python, no GIL), and libnss_nspv2 declines it without asking the host",
            )
            outside = [n for n in self.names if not domains.served(n, self.domains)]
            if outside:
                self.add(
                    "fail",
                    "domains",
                    f"--name {', '.join(outside)} is outside the declared domains: the "
                    "provider is never asked for it",
                    "add its domain to `domains`, or check the name",
                )
            return True
        wildcard = getattr(self.provider, "wildcard", False)
        why = "sets wildcard = True" if wildcard else "declares no domains"
        self.add(
            "warn",
            "domains",
            f"{why}, so it is asked for every name of its namespace on the machine: with "
            "`hosts: files nspv2 dns` every host name any program resolves goes to its host and "
            "into Python (a full Begin holding the GIL, about as costly as a lookup it answers), "
            "and waits whenever another thread of the host holds the GIL",
            'declare the names it serves, domains = ("corp.example",): nspv2 then declines '
            "every other name in C, without Python and without contacting the host",
        )
        return True

    def inside(self, label: str) -> str:
        """A name the provider serves the domain of: ``label`` below its first domain."""
        return f"{label}.{self.domains[0]}" if self.domains else label

    def check_lookups(self) -> None:
        """Each name answers (startup and cleanup run around it, in the client session)."""
        if not self.names:
            self.add(
                "warn",
                "lookup",
                "no --name given: only names the provider does not serve were asked",
                "pass the names your provider answers: nspv2 check module:Class --name NAME",
            )
        for name in self.names:
            try:
                results = self.ask(name)
            except WinsockError as exc:
                if exc.code == WSANO_RECOVERY:
                    self.failed_because(
                        f"lookup {name}",
                        "return QuerySet objects (or a list of them, or yield them); raise "
                        "nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND) for a name you do not "
                        "serve instead of letting another exception escape",
                    )
                else:
                    self.add(
                        "warn",
                        f"lookup {name}",
                        f"answered {exc.strerror} ({exc.code}) for a name given with --name",
                        "check that the provider serves this name",
                    )
                continue
            self.add("pass", f"lookup {name}", f"{len(results)} result(s)")
        try:
            self.ask(self.inside("nspv2-check-unknown") if self.domains else "nspv2-check.invalid")
        except WinsockError as exc:
            if exc.code == WSANO_RECOVERY:
                self.failed_because(
                    "unknown name",
                    "raise nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND) for names you do not "
                    "serve",
                )
            else:
                self.add("pass", "unknown name", f"answered {exc.strerror} ({exc.code})")
        else:
            self.add("pass", "unknown name", "answered (the provider serves every name)")

    def check_buffer_protocol(self) -> None:
        """A 16-byte buffer gets WSAEFAULT and the size needed; the retry gets the same result."""
        name = self.served_name()
        if name is None:
            return
        native = load()
        with winsock_session(native):
            handle = self.begin(native, name, LUP_RETURN_ALL)
            if handle is None:
                return
            try:
                code, needed, _ = self.next(native, handle, 16)
                if code != WSAEFAULT or needed <= 16:
                    self.add(
                        "fail",
                        "buffer protocol",
                        f"a 16-byte buffer got {code} with size {needed}, not WSAEFAULT "
                        "with a larger size",
                        "report this to nspv2: the library packs results, not the provider",
                    )
                    return
                code, _, result = self.next(native, handle, needed)
                expected = self.ask(name)[:1]
                if code != 0 or [result] != expected:
                    self.add(
                        "fail",
                        "buffer protocol",
                        f"the retry with {needed} bytes got code {code}, not the first result",
                        "return the same results for the same query: a lookup whose answers "
                        "change between calls confuses clients that retry",
                    )
                    return
            finally:
                native.winsock.WSALookupServiceEnd(handle)
        self.add(
            "pass", "buffer protocol", f"WSAEFAULT with {needed} bytes needed, then the result"
        )

    def check_unicode(self) -> None:
        """Names outside the BMP and with a lone surrogate reach the provider and get an answer."""
        for label, name in (
            ("non-BMP name", self.inside("\U0001f600.nspv2-check")),
            ("lone surrogate", self.inside("\ud800x")),
        ):
            try:
                self.ask(name)
            except WinsockError as exc:
                if exc.code == WSANO_RECOVERY:
                    self.failed_because(
                        label,
                        "names are str and may hold any code point, lone surrogates included "
                        "(they arrive decoded with surrogatepass): encode them with "
                        "errors='surrogatepass' or 'replace', or decline them with "
                        "nspv2.WinsockError(nspv2.WSASERVICE_NOT_FOUND)",
                    )
                    continue
            self.add("pass", label, "answered without failing")

    def check_flags(self) -> None:
        """LUP_RETURN_NAME alone gives names without addresses; aliases only when asked."""
        name = self.served_name()
        if name is None:
            return
        try:
            narrow = self.ask(name, LUP_RETURN_NAME)
            every = self.ask(name, LUP_RETURN_ALL | LUP_RETURN_ALIASES)
        except WinsockError as exc:
            if exc.code == WSANO_RECOVERY:
                self.failed_because("LUP flags", "answer the same name whatever the flags")
            return
        if any(r.addresses or r.blob for r in narrow):
            self.add("fail", "LUP flags", "LUP_RETURN_NAME alone returned addresses or a blob")
        elif len(narrow) > len(every):
            self.add("fail", "LUP flags", "fewer results when aliases were asked for")
        else:
            self.add("pass", "LUP flags", "each flag narrows what a result carries")

    def check_set_service(self) -> None:
        """SetServiceEx reaches set_service, when the class defines it."""
        if not implemented(self.provider, "set_service"):
            return
        query = QuerySet(
            instance_name=self.names[0] if self.names else "nspv2-check.invalid",
            namespace=self.namespace,
            provider_id=self.guid,
        )
        try:
            set_service(query, SetServiceOperation.RNRSERVICE_REGISTER)
        except WinsockError as exc:
            if exc.code == WSANO_RECOVERY:
                self.failed_because(
                    "set_service",
                    "return None (or await) from set_service, and raise nspv2.WinsockError "
                    "for a registration you refuse",
                )
                return
        self.add("pass", "set_service", "RNRSERVICE_REGISTER answered")

    def check_end_during_next(self) -> None:
        """An End while a NextEx waits completes that NextEx; the provider keeps serving."""
        name = self.names[0] if self.names else "nspv2-check.invalid"
        native = load()
        outcome: List[int] = []
        with winsock_session(native):
            handle = self.begin(native, name, LUP_RETURN_ALL)
            if handle is None:
                return

            def next_in_thread() -> None:
                outcome.append(self.next(native, handle, 65536)[0])

            thread = threading.Thread(target=next_in_thread, daemon=True)
            thread.start()
            native.winsock.WSALookupServiceEnd(handle)
            thread.join(10)
        if thread.is_alive():
            self.add(
                "fail",
                "End during NextEx",
                "a NextEx did not return within 10 s of End",
                "report this to nspv2: End must complete a waiting NextEx",
            )
        elif outcome and outcome[0] not in ANSWERS_AFTER_END:
            self.add("fail", "End during NextEx", f"the NextEx answered {outcome[0]}")
        else:
            self.add("pass", "End during NextEx", "the waiting NextEx returned")

    def check_plain_speed(self) -> None:
        """A plain lookup runs inside Begin on a Winsock thread: it must be quick."""
        lookup_method: Callable[..., Any] = self.provider.lookup
        if inspect.iscoroutinefunction(lookup_method) or inspect.isasyncgenfunction(lookup_method):
            return
        if inspect.isgeneratorfunction(lookup_method):
            return
        session = Session(1, self.guid)
        times = []
        for name in (self.names or ["nspv2-check.invalid"])[:5]:
            query = QuerySet(instance_name=name, namespace=self.namespace, provider_id=self.guid)
            for _ in range(20):
                started = time.perf_counter()
                try:
                    self.provider.lookup(query, LUP_RETURN_ALL, session)
                except Exception:
                    pass
                times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        if median > self.slow_ms:
            self.add(
                "warn",
                "plain lookup speed",
                f"a plain lookup takes {median:.2f} ms (over {self.slow_ms} ms): it runs inside "
                "NSPv2LookupServiceBegin and holds a Winsock thread while it works",
                "write `async def lookup(...)` and await the slow part (the runtime's event "
                "loop serves other lookups meanwhile)",
            )
        else:
            self.add("pass", "plain lookup speed", f"{median:.3f} ms per lookup")

    def check_violations(self, native: Native) -> None:
        count = native.winsock.StandinViolationCount()
        for i in range(min(count, 20)):
            buf = native.ffi.new("CHAR[]", 512)
            native.winsock.StandinGetViolation(i, buf, 512)
            text = native.ffi.string(buf).decode("utf-8", "replace")
            self.add("fail", "Winsock contract", text, "report this to nspv2 with the provider")
        native.winsock.StandinResetViolations()
        if not count:
            self.add("pass", "Winsock contract", "the stand-in saw no violation")

    # -- helpers ---------------------------------------------------------------------------------

    def served_name(self) -> Optional[str]:
        for name in self.names:
            try:
                if self.ask(name):
                    return name
            except WinsockError:
                continue
        return None

    def begin(self, native: Native, name: str, flags: int) -> Any:
        query = QuerySet(instance_name=name, namespace=self.namespace, provider_id=self.guid)
        qs, _keep = Marshal(native.ffi).build(query, "WSAQUERYSETW", service_class=SERVICE_CLASS)
        handle = native.ffi.new("HANDLE *")
        if native.winsock.WSALookupServiceBeginW(qs, flags, handle) == SOCKET_ERROR:
            return None
        return handle[0]

    def next(self, native: Native, handle: Any, size: int) -> tuple[int, int, Optional[QuerySet]]:
        """One NextW with a ``size``-byte buffer: its code, the length Winsock reported, and the
        result read back on success."""
        ffi = native.ffi
        buf = ffi.new("char[]", size)
        length = ffi.new("DWORD *", size)
        out = ffi.cast("WSAQUERYSETW *", buf)
        if native.winsock.WSALookupServiceNextW(handle, LUP_RETURN_ALL, length, out) != 0:
            return native.winsock.WSAGetLastError(), length[0], None
        return 0, length[0], Marshal(ffi).read(out, Marshal(ffi).wcslen)


def report(findings: List[Finding]) -> Iterator[str]:
    """The findings as lines: a verdict per check, the fix under each failure or warning."""
    for finding in findings:
        yield f"{finding.level.upper():<4} {finding.check}: {finding.message}"
        if finding.fix and finding.level != "pass":
            yield f"     fix: {finding.fix}"
    failed = sum(f.level == "fail" for f in findings)
    warned = sum(f.level == "warn" for f in findings)
    yield f"{len(findings)} checks: {failed} failed, {warned} warnings"


def exit_status(findings: List[Finding], strict: bool = False) -> int:
    if any(f.level == "fail" for f in findings):
        return 1
    if strict and any(f.level == "warn" for f in findings):
        return 2
    return 0
