"""Smoke test of an installed nspv2 wheel, run by cibuildwheel's test-command and by CI.

    python tools/wheel_smoke.py [--example]

1. ``nspv2 paths --json`` (the console script of the Python running this) prints absolute paths
   that exist, inside the installed package;
2. the provider library exports the NSPv2 entry points (only the export table is read: the
   library is loaded, nothing is called, so no Python starts inside it and no Winsock is needed);
3. with ``--example`` (off Windows: the stand-in is in the wheel), ``nspv2 example`` answers
   alice@example.test.

Windows runners have the real Winsock but no stand-in, so 3 is not run there; the release
workflow's end-to-end job does the real thing. Exit status 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path


def nspv2_command() -> list[str]:
    """The nspv2 console script installed beside this Python."""
    scripts = Path(sys.executable).parent
    script = scripts / ("nspv2.exe" if os.name == "nt" else "nspv2")
    if not script.exists():
        raise SystemExit(f"FAIL: no nspv2 script beside {sys.executable}")
    return [str(script)]


def check_paths() -> dict[str, str]:
    done = subprocess.run(
        [*nspv2_command(), "paths", "--json"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"FAIL: nspv2 paths --json exited {done.returncode}\n{done.stderr}")
    found: dict[str, str] = json.loads(done.stdout)
    import nspv2

    package = Path(nspv2.__file__).resolve().parent
    for key, value in found.items():
        path = Path(value)
        if not path.is_absolute() or not path.exists() or package not in path.resolve().parents:
            raise SystemExit(f"FAIL: {key} {value} is not a file of the installed package")
    print(f"PASS paths: {json.dumps(found)}")
    return found


def check_exports(provider: str) -> None:
    from nspv2._native import EXPORTS

    library = ctypes.CDLL(provider)
    missing = [name for name in EXPORTS if not hasattr(library, name)]
    if missing:
        raise SystemExit(f"FAIL: {provider} does not export {', '.join(missing)}")
    print(f"PASS exports: {len(EXPORTS)} NSPv2 entry points")


def check_example() -> None:
    done = subprocess.run(
        [*nspv2_command(), "example"], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0 or "alice@example.test (Alice Example)" not in done.stdout:
        raise SystemExit(
            f"FAIL: nspv2 example exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    print("PASS example: alice@example.test answered")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", action="store_true", help="also run `nspv2 example`")
    args = parser.parse_args()
    found = check_paths()
    check_exports(found["provider"])
    if args.example:
        check_example()
    return 0


if __name__ == "__main__":
    sys.exit(main())
