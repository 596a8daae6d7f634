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
import json
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import uuid
from pathlib import Path
from typing import Any, List, Optional

from . import _native, catalog, config, registration, serving
from ._constants import NS_ALL, NS_EMAIL, LookupFlags, Namespace
from .client import lookup
from .config import EXAMPLE_PROVIDER_ID
from .errors import WinsockError
from .host import advertise
from .provider import Provider
from .queryset import QuerySet
from .registration import namespace_arg

EXAMPLE_NAMES = ["alice@example.test", "www.example.test", "ftp.example.test"]


def format_result(result: QuerySet) -> str:
    parts = [result.instance_name or ""]
    if result.comment:
        parts.append(f"({result.comment})")
    for address in result.addresses:
        remote = address.remote
        if isinstance(remote, tuple) and len(remote) == 4:
            parts.append(f"[{remote[0]}]:{remote[1]}")
        elif isinstance(remote, tuple):
            parts.append(f"{remote[0]}:{remote[1]}")
    return " ".join(parts)


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
            print(f"{name}: not found ({exc.strerror}, {exc.code})")
            answered = False
            continue
        for result in results:
            print(f"{name}: {format_result(result)}")
        answered = answered and bool(results)
    sys.stdout.flush()
    return answered


def example_in_process(names: List[str]) -> int:
    """The example served from this Python process: install the example provider in the
    catalog (unless it is there), advertise it, look the names up, withdraw it."""
    with contextlib.ExitStack() as stack:
        if not any(e.provider_id == EXAMPLE_PROVIDER_ID for e in catalog.entries()):
            catalog.install(EXAMPLE_PROVIDER_ID, "nspv2 example zone", int(NS_EMAIL))
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
        "--provider",
        str(EXAMPLE_PROVIDER_ID),
        "--install",
        "nspv2 example zone",
        "--namespace",
        str(int(NS_EMAIL)),
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
    print("$ " + " ".join(command), file=sys.stderr)
    return subprocess.call(command, env=env)


def cmd_lookup(args: argparse.Namespace) -> int:
    try:
        results = lookup(args.name, namespace=args.namespace, provider_id=args.provider)
    except WinsockError as exc:
        print(f"{args.name}: {exc.strerror} ({exc.code})", file=sys.stderr)
        return 1
    for result in results:
        print(format_result(result))
    return 0 if results else 1


def cmd_catalog(args: argparse.Namespace) -> int:
    for entry in catalog.entries():
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
            targets.append((spec.provider_id, config.load_class(entry)()))
        else:
            guid = uuid.UUID(text.strip("{}"))
            targets.append((guid, config.load_provider(guid, args.config)))
    return targets


def cmd_serve(args: argparse.Namespace) -> int:
    """WSAStartup (inside advertise), advertise every provider, serve until SIGINT/SIGTERM (or
    look the --lookup names up and exit), unadvertise."""
    stop = threading.Event()
    if serving.bare(args):  # no arguments: the built-in example
        targets = serving.example_targets()
    else:
        targets = [serving.target_of(guid, provider) for guid, provider in _serve_targets(args)]
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nspv2", description=__doc__.splitlines()[0])
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
    p = sub.add_parser("lookup", help="look a name up through Winsock")
    p.add_argument("name")
    p.add_argument(
        "--namespace", type=namespace_arg, default=int(NS_ALL), help="NS_* name or number"
    )
    p.add_argument("--provider", help="only this provider GUID")
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
    p.add_argument("--lookup", action="append", help="look NAME up after advertising, then exit")
    p.add_argument(
        "--lookup-namespace", type=namespace_arg, default=int(NS_ALL), help="for --lookup"
    )
    p.set_defaults(run=cmd_serve)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return registration.run(args)


__all__ = ["LookupFlags", "main"]

if __name__ == "__main__":
    sys.exit(main())
