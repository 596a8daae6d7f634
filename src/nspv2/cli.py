"""The ``nspv2`` command.

nspv2 paths [--json]                  where the built libraries and the host are
nspv2 example [NAME ...]              the main job: the native host serves the built-in
                                      example provider and looks NAMEs up through Winsock
nspv2 lookup NAME [--namespace NS]    a client lookup through Winsock
nspv2 catalog                         the providers in the Winsock catalog
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import List, Optional

from . import _native, catalog
from ._constants import NS_ALL, NS_EMAIL, LookupFlags, Namespace
from .client import lookup
from .config import EXAMPLE_PROVIDER_ID
from .errors import WinsockError
from .queryset import QuerySet

EXAMPLE_NAMES = ["alice@example.test", "www.example.test", "ftp.example.test"]


def namespace_arg(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(Namespace[text.upper()])
        except KeyError:
            raise argparse.ArgumentTypeError(f"unknown namespace {text!r}") from None


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


def cmd_example(args: argparse.Namespace) -> int:
    names = args.names or EXAMPLE_NAMES
    command = [
        str(_native.host_program()),
        "--provider",
        str(EXAMPLE_PROVIDER_ID),
        "--install",
        "nspv2 example zone",
        "--namespace",
        str(int(NS_EMAIL)),
    ]
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
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


__all__ = ["LookupFlags", "main"]

if __name__ == "__main__":
    sys.exit(main())
