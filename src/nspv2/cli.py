"""The ``nspv2`` command.

nspv2 paths [--json]                  where the built libraries and the host are
nspv2 example [NAME ...]              the main job: the native host serves the built-in
                                      example provider and looks NAMEs up through Winsock
nspv2 lookup NAME [--namespace NS]    a client lookup through Winsock
nspv2 catalog                         the providers in the Winsock catalog
nspv2 install|reinstall|uninstall|enable|disable --provider package.module:Class
                                      register a provider (nspv2.registration)
nspv2 list                            every catalog provider, ours marked *
nspv2 serve [--provider P ... | --configured] [--lookup NAME ...]
                                      serve to every process of this user until
                                      Ctrl+C (no arguments: the built-in example)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import ipaddress
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from pathlib import Path
from typing import Any, List, Optional

from . import _native, catalog, config, registration, serving
from ._constants import (
    LUP_RETURN_ALL,
    NS_ALL,
    RESULT_IS_ALIAS,
    WSA_E_CANCELLED,
    WSA_NOT_ENOUGH_MEMORY,
    WSAEACCES,
    WSAEINVAL,
    WSAEINVALIDPROVIDER,
    WSAEOPNOTSUPP,
    WSAEPROVIDERFAILEDINIT,
    WSAHOST_NOT_FOUND,
    WSANO_DATA,
    WSANO_RECOVERY,
    WSASERVICE_NOT_FOUND,
    WSASYSNOTREADY,
    WSATRY_AGAIN,
    LookupFlags,
    Namespace,
    ResultFlags,
)
from .client import lookup
from .config import EXAMPLE_PROVIDER_ID
from .errors import WinsockError
from .host import advertise
from .provider import Provider
from .queryset import QuerySet
from .registration import namespace_arg

EXAMPLE_NAMES = ["alice@example.test", "www.example.test", "ftp.example.test"]


def format_address(remote: Any) -> str:
    """A socket address as `socket` writes it (IPv6 in brackets, as socket.inet_ntop prints it),
    the same text the native host prints."""
    if isinstance(remote, tuple) and len(remote) == 4:
        packed = ipaddress.IPv6Address(remote[0]).packed
        return f"[{socket.inet_ntop(socket.AF_INET6, packed)}]:{remote[1]}"
    if isinstance(remote, tuple):
        return f"{remote[0]}:{remote[1]}"
    return f"<{len(remote)}-byte sockaddr>" if isinstance(remote, bytes) else ""


def format_result(result: QuerySet) -> str:
    """One result on one line, as the native host prints it: the name, the comment in
    parentheses (``alias of ...`` for a RESULT_IS_ALIAS result), the remote addresses."""
    parts = [result.instance_name or ""]
    if result.comment:
        alias = result.output_flags & RESULT_IS_ALIAS
        parts.append(f"(alias of {result.comment})" if alias else f"({result.comment})")
    parts += [format_address(a.remote) for a in result.addresses if a.remote is not None]
    return " ".join(p for p in parts if p)


def cmd_paths(args: argparse.Namespace) -> int:
    found = _native.paths()
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for key, value in found.items():
            print(f"{key}: {value}")
    return 0


def print_lookups(names: List[str], namespace: int) -> bool:
    """Looks each name up through Winsock and prints its results; True if every one answered."""
    answered = True
    for name in names:
        try:
            results = lookup(name, namespace=namespace)
        except WinsockError as exc:
            print(not_found_line(name, exc))
            answered = False
            continue
        for result in results:
            print(f"{name}: {format_result(result)}")
        answered = answered and bool(results)
    sys.stdout.flush()
    return answered


def example_spec() -> registration.ProviderSpec:
    """The built-in example provider as it is installed, its NS_EMAIL domains included."""
    from .examples.zone import ZoneProvider

    return registration.spec_from_class(ZoneProvider)


def example_install_arguments() -> List[str]:
    """The native host's arguments that install the example provider in the catalog as
    `nspv2 install` would: name, namespace and installation blob (hex)."""
    spec = example_spec()
    return [
        *("--install", spec.name),
        *("--namespace", str(spec.namespace)),
        *("--blob", spec.blob().hex()),
    ]


def example_in_process(names: List[str]) -> int:
    """The example served from this Python process: install the example provider in the
    catalog (unless it is there), advertise it, look the names up, withdraw it."""
    with contextlib.ExitStack() as stack:
        if not any(e.provider_id == EXAMPLE_PROVIDER_ID for e in catalog.entries()):
            spec = example_spec()
            catalog.install(
                spec.provider_id, spec.name, spec.namespace, provider_specific=spec.blob()
            )
            stack.callback(catalog.uninstall, EXAMPLE_PROVIDER_ID)
        provider = config.load_provider(EXAMPLE_PROVIDER_ID)
        stack.enter_context(advertise(provider, EXAMPLE_PROVIDER_ID))
        print(f"nspv2: serving {{{EXAMPLE_PROVIDER_ID}}} from this process", file=sys.stderr)
        return 0 if print_lookups(names, int(NS_ALL)) else 1


def cmd_example(args: argparse.Namespace) -> int:
    names = args.names or EXAMPLE_NAMES
    if args.in_process:
        return example_in_process(names)
    if not _native.WINDOWS and not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        # The native host, a process without Python, must load a shared libpython; this Python
        # has none (the manylinux images' CPythons, some distributions' builds).
        print(
            "nspv2: this Python has no shared libpython for the native host to load; serving "
            "the example from this Python process instead",
            file=sys.stderr,
        )
        return example_in_process(names)
    command = [
        str(_native.host_program()),
        *("--provider", str(EXAMPLE_PROVIDER_ID)),
        *example_install_arguments(),
    ]
    if _native.WINDOWS:
        # python3XY.dll is not beside the host in site-packages\nspv2: name its folder, as the
        # Run value written by `install --at-logon` does.
        dll = registration.python_dll()
        command += ["--python-home", str(dll.parent if dll else sys.base_prefix)]
    for name in names:
        command += ["--lookup", name]
    env = dict(os.environ)
    winsock = _native.winsock_library()
    if winsock is not None:
        env.setdefault("NSPV2_WINSOCK_LIBRARY", str(winsock))
    # Quoted for the shell it would be pasted into.
    shown = subprocess.list2cmdline(command) if _native.WINDOWS else shlex.join(command)
    print(("> " if _native.WINDOWS else "$ ") + shown, file=sys.stderr)
    return subprocess.call(command, env=env)


def not_found_line(name: str, exc: WinsockError) -> str:
    """A failed lookup, in the words the native host prints it."""
    return f"{name}: not found (Winsock error {exc.code})"


def namespace_name(namespace: int) -> str:
    try:
        return Namespace(namespace).name
    except ValueError:
        return str(namespace)


#: The likely fix `nspv2 lookup` prints for a Winsock error (WSASERVICE_NOT_FOUND's, which
#: lists the catalog, is built in explain); docs/troubleshooting.md has each of them.
LOOKUP_HINTS: dict[int, str] = {
    WSANO_RECOVERY: "the provider failed on this query: its host's log (logger nspv2) has "
    "the traceback",
    WSASYSNOTREADY: "the provider library could not start Python: the host's first error "
    "line says why",
    WSAEINVAL: "Winsock refused the query: check the name and --namespace",
    WSATRY_AGAIN: "a host serving this namespace did not answer in time: it may be hung; "
    "restart its `nspv2 serve`",
    WSAEINVALIDPROVIDER: "is not an installed provider: `nspv2 list` shows the catalog",
    WSAHOST_NOT_FOUND: "the provider says the name does not exist: check its spelling",
    WSANO_DATA: "the name exists but has no data of the kind asked: ask with other --flags",
    WSAEACCES: "the host serving this namespace runs as another user, and Winsock shows a "
    "provider only to its own user's processes: run the host as yourself",
    WSAEPROVIDERFAILEDINIT: "the host could not load the provider's class: its first error line "
    "names the file and the fix (`nspv2 serve --verbose` adds the traceback)",
    WSAEOPNOTSUPP: "the provider does not implement this call",
    WSA_NOT_ENOUGH_MEMORY: "the host ran out of memory or of lookup handles: restart it",
    WSA_E_CANCELLED: "the lookup ended while it waited: the host withdrew the provider (it "
    "stopped, or was restarted); ask again",
}


def advertised_note(provider_id: uuid.UUID) -> str:
    """Whether a catalog entry is advertised, and if not the command that would serve it ("" on
    Windows, where Winsock does not say)."""
    state = catalog.advertised(provider_id)
    if state is None:
        return ""
    if state:
        return " (advertised: it declined the name)"
    serve = (
        "nspv2 serve" if provider_id in config.BUILTIN else f"nspv2 serve --provider {provider_id}"
    )
    return f" (not advertised: serve it with `{serve}`)"


def explain(exc: WinsockError, namespace: int, provider: Optional[str]) -> str:
    """One line saying what a lookup's Winsock error means here and the likely fix."""
    asked = f"{namespace_name(namespace)}" + (f", provider {{{provider}}}" if provider else "")
    code = exc.code
    if code == WSASERVICE_NOT_FOUND:
        installed = [
            e
            for e in catalog.entries()
            if e.active and (namespace == NS_ALL or e.namespace == namespace)
        ]
        listing = ", ".join(
            f"{e.identifier} {{{e.provider_id}}}{advertised_note(e.provider_id)}" for e in installed
        ) or ("none (install one with `nspv2 install --provider package.module:Class`)")
        return (
            f"{exc.strerror}: no provider answered in {asked}; installed and enabled there: "
            f"{listing}. A provider answers only while a host advertises it: run `nspv2 serve` "
            "(or `nspv2 example` for the built-in example), and `nspv2 install` first if it is "
            "not installed"
        )
    hint = LOOKUP_HINTS.get(code, "see `nspv2 lookup --help`")
    if code == WSAEINVALIDPROVIDER:
        hint = f"{{{provider}}} {hint}"
    return f"{exc.strerror} ({code}) in {asked}: {hint}"


def cmd_lookup(args: argparse.Namespace) -> int:
    flags = LookupFlags(args.flags)
    started = time.perf_counter()
    try:
        results = lookup(
            args.name, namespace=args.namespace, provider_id=args.provider, flags=int(flags)
        )
    except WinsockError as exc:
        if args.json:
            print(json.dumps({"name": args.name, "error": exc.code, "strerror": exc.strerror}))
        else:
            print(not_found_line(args.name, exc))
        print(f"nspv2: {explain(exc, args.namespace, args.provider)}", file=sys.stderr)
        return 1
    elapsed_ms = (time.perf_counter() - started) * 1000
    if args.json:
        document = {"name": args.name, "flags": str(flags), "ms": round(elapsed_ms, 3)}
        document["results"] = [result_json(r) for r in results]
        print(json.dumps(document, indent=2))
    else:
        for result in results:
            print(f"{args.name}: {format_result(result)}")
            for line in describe(result):
                print(f"    {line}")
        print(f"{len(results)} result(s) in {elapsed_ms:.2f} ms (flags {flags!s})", file=sys.stderr)
    return 0 if results else 1


def result_json(result: QuerySet) -> dict[str, Any]:
    """A result's fields as JSON values: addresses as text, the GUID as text, the blob in hex."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if field.name == "addresses":
            value = [
                {
                    "remote": format_address(a.remote) if a.remote is not None else None,
                    "local": format_address(a.local) if a.local is not None else None,
                    "socket_type": a.socket_type,
                    "protocol": a.protocol,
                }
                for a in value
            ]
        elif field.name == "protocols":
            value = [[p.family, p.protocol] for p in value]
        elif field.name == "version" and value is not None:
            value = {"version": value.version, "how": int(value.how)}
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, bytes):
            value = value.hex()
        out[field.name] = value
    return out


def flags_arg(text: str) -> int:
    """LUP_* flags by name, joined with `,` or `|` (or a number)."""
    value = 0
    for part in text.replace("|", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value |= int(part, 0) if part[0].isdigit() else int(LookupFlags[part.upper()])
        except (KeyError, ValueError):
            names = ", ".join(LookupFlags.__members__)
            raise argparse.ArgumentTypeError(f"unknown flag {part!r}; one of: {names}") from None
    return value


def describe(result: QuerySet) -> List[str]:
    """Every field of a result that is set, one per line."""
    lines = []
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if value in (None, (), b"", 0, "") and field.name != "namespace":
            continue
        if field.name == "addresses":
            for a in value:
                local = f" local {format_address(a.local)}" if a.local is not None else ""
                lines.append(
                    f"address: {format_address(a.remote)}{local} socket type {a.socket_type}, "
                    f"protocol {a.protocol}"
                )
        elif field.name == "namespace":
            lines.append(f"namespace: {namespace_name(value)}")
        elif field.name == "output_flags":
            lines.append(f"output_flags: {ResultFlags(value)!s}")
        elif field.name == "blob":
            more = "..." if len(value) > 32 else ""
            lines.append(f"blob: {len(value)} bytes {value[:32].hex()}{more}")
        else:
            lines.append(f"{field.name}: {value}")
    return lines


def cmd_catalog(args: argparse.Namespace) -> int:
    entries = catalog.entries()
    if not entries:
        print(registration.EMPTY_CATALOG)
    for entry in entries:
        state = "enabled" if entry.active else "disabled"
        print(
            f"{{{entry.provider_id}}} {Namespace(entry.namespace).name:<10} {state:<8} "
            f"{entry.identifier}"
        )
    return 0


def _serve_targets(args: argparse.Namespace) -> List[tuple[uuid.UUID, Provider]]:
    """(GUID, provider instance) for each --provider (a GUID or package.module:Class), or for
    every configured provider (--configured or --config)."""
    chosen: List[str] = args.provider or [str(g) for g in registration.configured_ids(args.config)]
    if not chosen:
        raise registration.RegistrationError(
            "no provider to serve: none is configured (run `nspv2 install`) and no --provider"
        )
    targets = []
    for text in chosen:
        if ":" in text:
            spec = registration.spec_from_string(text)
            entry = config.ProviderConfig(spec.provider_id, text, (), "--provider")
            targets.append((spec.provider_id, config.create(entry)))
        else:
            guid = uuid.UUID(text.strip("{}"))
            targets.append((guid, config.load_provider(guid, args.config)))
    return targets


def cmd_serve(args: argparse.Namespace) -> int:
    """WSAStartup (inside advertise), advertise every provider, serve until SIGINT/SIGTERM (or
    look the --lookup names up and exit), unadvertise."""
    stop = threading.Event()
    if args.path:
        folder = os.path.abspath(args.path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    if serving.bare(args):  # no arguments: the built-in example
        targets = serving.example_targets()
    else:
        targets = [serving.target_of(guid, provider) for guid, provider in _serve_targets(args)]
    source, uids = config.allowed_users(args.config)
    serving.allow_users(uids, source)
    with contextlib.ExitStack() as stack:
        for target in stack.enter_context(serving.hosting(targets)):
            print(
                f"nspv2: serving {{{target.provider_id}}} ({type(target.provider).__qualname__})",
                file=sys.stderr,
            )
        if args.lookup:
            return 0 if print_lookups(args.lookup, args.lookup_namespace) else 1
        previous: dict[int, Any] = {}

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, on_signal)
        print("nspv2: serving; stop with Ctrl+C", file=sys.stderr, flush=True)
        try:
            while not stop.wait(0.2):
                pass
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
    print("nspv2: providers withdrawn", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Runs the class through nspv2.check's conformance suite and prints every finding."""
    from . import check

    folder = os.path.abspath(args.path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    entry = config.ProviderConfig(uuid.UUID(int=0), args.provider, (), "nspv2 check")
    provider = config.create(entry)
    findings = check.Checker(provider, args.name or [], args.slow_ms).run()
    for line in check.report(findings):
        print(line)
    return check.exit_status(findings, args.strict)


def cmd_new(args: argparse.Namespace) -> int:
    from . import scaffold

    try:
        folder = scaffold.create(Path(args.name), args.domain, args.namespace)
    except scaffold.ScaffoldError as exc:
        print(f"nspv2: {exc}", file=sys.stderr)
        return 1
    print(f"nspv2: wrote {folder}; next: cd {shlex.quote(str(folder))} && pytest")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nspv2",
        description="Winsock namespace providers (NSPv2) written in Python: serve them, "
        "register them, ask them, check them.",
        epilog="run `nspv2 COMMAND --help` for a command's options and an example",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("paths", help="where the built libraries and host are")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(run=cmd_paths)
    p = sub.add_parser(
        "example", help="serve the example provider from the native host and look names up"
    )
    p.add_argument(
        "names", nargs="*", help=f"names to look up (default: {' '.join(EXAMPLE_NAMES)})"
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="serve from this Python process instead of the native host (the default where "
        "this Python has no shared libpython)",
    )
    p.set_defaults(run=cmd_example)
    p = sub.add_parser(
        "lookup",
        help="look a name up through Winsock",
        description="WSALookupServiceBeginW, NextW until the end, End, as any Windows client "
        "does: prints every result with every field it carries, and how long it took.",
        epilog="example: nspv2 lookup alice@example.test --namespace NS_EMAIL --json",
    )
    p.add_argument("name")
    p.add_argument(
        "--namespace", type=namespace_arg, default=int(NS_ALL), help="NS_* name or number"
    )
    p.add_argument("--provider", help="only this provider GUID")
    p.add_argument(
        "--flags",
        type=flags_arg,
        default=int(LUP_RETURN_ALL),
        help="LUP_* flags by name, e.g. LUP_RETURN_NAME,LUP_RETURN_ADDR (default LUP_RETURN_ALL)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_lookup)
    p = sub.add_parser("catalog", help="list the Winsock namespace catalog")
    p.set_defaults(run=cmd_catalog)
    registration._add_verbs(parser, sub, with_class=True)
    for verb in ("install", "reinstall", "uninstall"):
        sub.choices[verb].add_argument(
            "--unit-dir",
            type=Path,
            help="Linux: the systemd user unit folder (default ~/.config/systemd/user)",
        )
    p = sub.add_parser(
        "serve",
        help="serve providers to every process of this user until Ctrl+C (no arguments: the "
        "built-in example)",
    )
    p.add_argument("--configured", action="store_true", help="serve every configured provider")
    p.add_argument(
        "--provider",
        action="append",
        help="a GUID or package.module:Class (default: every configured provider)",
    )
    p.add_argument("--config", help="the configuration file (default: the usual places)")
    p.add_argument(
        "--path", help="a folder to import --provider package.module:Class from (e.g. src)"
    )
    registration.add_verbose_argument(p)
    p.add_argument("--lookup", action="append", help="look NAME up after advertising, then exit")
    p.add_argument(
        "--lookup-namespace", type=namespace_arg, default=int(NS_ALL), help="for --lookup"
    )
    p.set_defaults(run=cmd_serve)
    p = sub.add_parser(
        "check",
        help="run a provider class through the conformance suite in the stand-in",
        description="Installs and advertises package.module:Class under a fresh GUID in this "
        "process's Winsock stand-in and asks it as clients do: every callback it defines, the "
        "buffer protocol, Unicode names, the LUP flags, End during NextEx, exceptions and wrong "
        "return types, slow plain lookups. Exit status: 1 if a check failed (2 with --strict "
        "for warnings).",
        epilog="example: nspv2 check corp.directory:Directory --name alice@corp.example",
    )
    p.add_argument("provider", metavar="package.module:Class")
    p.add_argument("--name", action="append", help="a name the provider serves (repeatable)")
    p.add_argument(
        "--path", default=".", help="the folder to import the class from (default: here)"
    )
    p.add_argument(
        "--slow-ms",
        type=float,
        default=1.0,
        help="warn when a plain lookup takes longer (default 1 ms)",
    )
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit status 2)")
    registration.add_verbose_argument(p)
    p.set_defaults(run=cmd_check)
    p = sub.add_parser("new", help="start a provider project: module, tests, pyproject, README")
    p.add_argument("name", help="the project's folder and distribution name, e.g. corp-directory")
    p.add_argument("--domain", default="corp.example", help="the domain it serves")
    p.add_argument(
        "--namespace", choices=["NS_EMAIL", "NS_DNS"], default="NS_EMAIL", help="its namespace"
    )
    p.set_defaults(run=cmd_new)
    for name, (description, example) in COMMAND_HELP.items():
        p = sub.choices[name]
        p.description = p.description or description
        p.epilog = p.epilog or f"example: {example}"
    return parser


#: Each command's description and example, for `nspv2 COMMAND --help`.
COMMAND_HELP = {
    "paths": (
        "The absolute paths of the built provider library, the Winsock stand-in (off Windows), "
        "the native host and the NSS module.",
        "nspv2 paths --json",
    ),
    "example": (
        "The main job: the native host (a process without Python) loads the provider library, "
        "which starts Python and serves the built-in example provider, and looks the names up "
        "through Winsock as any client would.",
        "nspv2 example alice@example.test",
    ),
    "catalog": (
        "Every namespace provider in the Winsock catalog (WSAEnumNameSpaceProvidersExW).",
        "nspv2 catalog",
    ),
    "install": (
        "Installs a provider class: its configuration (the registry on Windows, providers.ini "
        "elsewhere) and its Winsock catalog entry (WSCInstallNameSpaceEx), NS_EMAIL domains "
        "included.",
        "nspv2 install --provider corp.directory:Directory --domain corp.example --at-logon",
    ),
    "reinstall": (
        "Uninstalls, then installs a provider class again (a changed name, namespace or domains).",
        "nspv2 reinstall --provider corp.directory:Directory",
    ),
    "uninstall": (
        "Removes a provider's catalog entry, configuration and logon start.",
        "nspv2 uninstall --provider corp.directory:Directory",
    ),
    "enable": (
        "Enables a provider's catalog entry (WSCEnableNSProvider).",
        "nspv2 enable --guid GUID",
    ),
    "disable": (
        "Disables a provider's catalog entry without removing it (WSCEnableNSProvider).",
        "nspv2 disable --provider corp.directory:Directory",
    ),
    "list": (
        "Every catalog provider, ours marked *, with its configured class and NS_EMAIL domains.",
        "nspv2 list",
    ),
    "new": (
        "Writes a provider project to start from: the provider module, tests using the nspv2 "
        "pytest plugin (they pass as generated), a pyproject.toml that builds your wheel, and a "
        "README with the install, serve and register steps.",
        "nspv2 new corp-directory --domain corp.example",
    ),
    "serve": (
        "Serves providers from this Python process until Ctrl+C: the configured ones, or those "
        "named with --provider (a GUID or package.module:Class).",
        "nspv2 serve --provider corp.directory:Directory",
    ),
}


def host_main(argv: Optional[List[str]] = None) -> int:
    """``nspv2-host``: the native host installed inside the package (nspv2 paths' ``host``),
    run with these arguments; off Windows with the stand-in beside it as its Winsock, on
    Windows told where this Python's python3XY.dll is (unless --python-home is given)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = [str(_native.host_program()), *arguments]
    env = dict(os.environ)
    winsock = _native.winsock_library()
    if winsock is not None:
        env.setdefault("NSPV2_WINSOCK_LIBRARY", str(winsock))
    if _native.WINDOWS and "--python-home" not in arguments:
        dll = registration.python_dll()
        command[1:1] = ["--python-home", str(dll.parent if dll else sys.base_prefix)]
    return subprocess.call(command, env=env)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return registration.run(args)


__all__ = ["LookupFlags", "main"]

if __name__ == "__main__":
    sys.exit(main())
