"""The ``nspv2`` command: ``paths --json`` and ``example`` (the main job: the native host serves
the built-in example provider and looks names up through Winsock)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest

import nspv2
from nspv2 import _native

#: nspv2-host through its entry point (a console script or not, as pip laid it out).
HOST_MAIN = "import sys; from nspv2.cli import host_main; sys.exit(host_main())"


def nspv2_command(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs the installed console script (or the module, where the script is not beside this
    Python)."""
    script = Path(sys.executable).parent / ("nspv2.exe" if os.name == "nt" else "nspv2")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "nspv2.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_paths_json() -> None:
    """`nspv2 paths --json` prints a JSON object of absolute paths that exist."""
    done = nspv2_command("paths", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert isinstance(found, dict)
    expected = {"provider", "host"} | ({"winsock"} if sys.platform != "win32" else set())
    assert expected <= set(found)
    for key, value in found.items():
        path = Path(value)
        assert path.is_absolute(), (key, value)
        assert path.exists(), (key, value)


def test_paths_plain() -> None:
    """`nspv2 paths` prints one `key: path` line per built part."""
    done = nspv2_command("paths")
    assert done.returncode == 0, done.stderr
    keys = {line.split(": ", 1)[0] for line in done.stdout.splitlines()}
    assert {"provider", "host"} <= keys


@pytest.fixture
def example_env(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The example gets its own catalog file, so it cannot meet another run's entries."""
    monkeypatch.setenv("NSPV2_STANDIN_CATALOG", str(tmp_path / "catalog.txt"))


def test_example(example_env) -> None:
    """`nspv2 example` (the README's main job) runs the native host, a process without Python,
    wherever this Python has a shared libpython, and it prints alice@example.test's mail hosts
    (192.0.2.25:25) and the alias line of ftp.example.test."""
    done = nspv2_command("example")
    assert done.returncode == 0, done.stdout + done.stderr
    if sys.platform == "win32" or sysconfig.get_config_var("Py_ENABLE_SHARED"):
        host = str(_native.host_program())
        assert done.stderr.startswith(("$ ", "> ")) and host in done.stderr, done.stderr
        if sys.platform != "win32":  # the echoed command pastes back into a shell as it ran
            echoed = shlex.split(done.stderr.splitlines()[0][2:])
            assert echoed[0] == host and "nspv2 example zone" in echoed, echoed
        assert "from this process" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    alice = [line for line in lines if line.startswith("alice@example.test:")]
    assert alice, done.stdout
    assert any("192.0.2.25:25" in line for line in alice), done.stdout
    assert any("198.51.100.25:25" in line for line in alice), done.stdout
    assert any(
        re.match(r"ftp\.example\.test: .*alias of www\.example\.test", line) for line in lines
    ), done.stdout
    assert any(line.startswith("www.example.test:") and "192.0.2.10" in line for line in lines), (
        done.stdout
    )


def test_example_unknown_name(example_env) -> None:
    """`nspv2 example NAME` for a name the zone lacks reports WSASERVICE_NOT_FOUND (10108) and
    exits 1, without a crash."""
    done = nspv2_command("example", "nobody@example.test")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "nobody@example.test: not found" in done.stdout
    assert "10108" in done.stdout
    assert "Traceback" not in done.stderr


def test_python_dash_m() -> None:
    """`python -m nspv2` is the nspv2 command."""
    done = subprocess.run(
        [sys.executable, "-m", "nspv2", "paths", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) >= {"provider", "host"}


def test_lookup_explains_not_found() -> None:
    """`nspv2 lookup` of a name nobody serves prints the host's "not found" line, and on stderr
    one line naming the namespace asked, what is installed there and the command to serve."""
    done = nspv2_command("lookup", "nobody.test", "--namespace", "NS_DNS")
    assert done.returncode == 1
    assert done.stdout.strip() == "nobody.test: not found (Winsock error 10108)"
    assert "no provider answered in NS_DNS" in done.stderr and "nspv2 serve" in done.stderr
    as_json = nspv2_command("lookup", "nobody.test", "--json")
    assert json.loads(as_json.stdout)["error"] == 10108


def test_lookup_flags_by_name() -> None:
    """--flags takes LUP_* names; an unknown one is refused with the valid names listed."""
    done = nspv2_command("lookup", "x", "--flags", "LUP_RETURN_NAME,LUP_NOPE")
    assert done.returncode == 2
    assert "unknown flag 'LUP_NOPE'" in done.stderr and "LUP_RETURN_ADDR" in done.stderr


def test_results_are_shown_field_by_field() -> None:
    """A result prints as the native host prints it (IPv6 as socket.inet_ntop writes it, an
    alias as "alias of"), every set field on its own line, and as JSON."""
    from nspv2 import cli

    result = nspv2.QuerySet(
        instance_name="www.example.test",
        comment="example.test",
        namespace=nspv2.NS_DNS,
        output_flags=nspv2.RESULT_IS_ALIAS,
        addresses=(nspv2.CsAddr(remote=("2001:db8:0:0:0:0:0:25", 25, 0, 0)),),
        blob=b"\x01\x02",
    )
    assert cli.format_result(result) == "www.example.test (alias of example.test) [2001:db8::25]:25"
    lines = cli.describe(result)
    assert "namespace: NS_DNS" in lines and "blob: 2 bytes 0102" in lines
    assert any(line.startswith("address: [2001:db8::25]:25") for line in lines)
    as_json = cli.result_json(result)
    assert as_json["addresses"][0]["remote"] == "[2001:db8::25]:25"
    assert as_json["blob"] == "0102"


@pytest.mark.parametrize("command", ["catalog", "list"])
def test_empty_listings_say_so(command: str, tmp_path: Path, monkeypatch: Any) -> None:
    """`nspv2 catalog` and `nspv2 list` of an empty catalog say it is empty and how to fill it."""
    monkeypatch.setenv("NSPV2_STANDIN_CATALOG", str(tmp_path / "empty-catalog.txt"))
    done = nspv2_command(command)
    assert done.returncode == 0, done.stderr
    assert "no namespace provider" in done.stdout and "nspv2 install" in done.stdout


def test_nspv2_host_is_a_command(example_env) -> None:
    """`nspv2-host`, as the README writes it, is a console script beside `nspv2` (where nspv2
    is pip-installed) that runs the native host inside the package."""
    script = Path(sys.executable).parent / ("nspv2-host.exe" if os.name == "nt" else "nspv2-host")
    try:
        declared = {e.name for e in importlib.metadata.entry_points(group="console_scripts")}
    except Exception:
        declared = set()
    if script.exists() or "nspv2-host" in declared:
        assert script.exists(), f"{script} is not installed: pip install ."
        command = [str(script)]
    else:  # a layout without pip's scripts (the Windows test layout under Wine)
        command = [sys.executable, "-c", HOST_MAIN]
    done = subprocess.run(
        [*command, "--provider", "not-a-guid"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "not-a-guid" in done.stderr


def test_every_command_has_a_description_and_an_example() -> None:
    """`nspv2 COMMAND --help` describes each command and shows an example."""
    from nspv2 import cli

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        assert sub.description, f"nspv2 {name} has no description"
        assert sub.epilog and sub.epilog.startswith("example: nspv2 "), name


BROKEN_GUID = "6d1e0c3a-2b4f-4a58-9c71-0e5f3a9b8d42"


def broken_config(folder: Path, *settings: str) -> Path:
    """A configuration whose one provider's module does not exist (plus [nspv2] settings)."""
    ini = folder / "broken.ini"
    host_section = "[nspv2]\nlog_file = none\n" + "".join(f"{s}\n" for s in settings)
    ini.write_text(f"{host_section}[{{{BROKEN_GUID}}}]\nclass = nspv2_no_such_module:Provider\n")
    return ini


def assert_leads_with_file_guid_and_fix(stderr: str, ini: Path) -> None:
    first = stderr.splitlines()[0]
    assert str(ini) in first and BROKEN_GUID in first, stderr
    assert "cannot import 'nspv2_no_such_module'" in first and "check `class`" in first, stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_serve_configuration_error_and_verbose(
    verbose: bool, example_env: None, tmp_path: Path
) -> None:
    """`nspv2 serve` of a provider whose class cannot be loaded leads with one line naming the
    file, the GUID and the fix; the traceback comes only with --verbose."""
    ini = broken_config(tmp_path)
    done = nspv2_command(
        "serve", "--config", str(ini), "--lookup", "x.test", *(["--verbose"] if verbose else [])
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert_leads_with_file_guid_and_fix(done.stderr, ini)
    assert ("Traceback" in done.stderr) == verbose, done.stderr
    assert ("--verbose" in done.stderr) != verbose, done.stderr


@pytest.mark.parametrize(
    ("level", "verbose"), [("WARNING", False), ("WARNING", True), ("DEBUG", False)]
)
def test_native_host_configuration_error_and_debug_level(
    level: str, verbose: bool, example_env: None, tmp_path: Path
) -> None:
    """nspv2-host (the native host) leads with the same line for a class it cannot load, and
    shows the traceback only with --verbose (NSPv2SetLogLevel, over the configuration) or when
    the configuration's [nspv2] log_level is DEBUG."""
    ini = broken_config(tmp_path, f"log_level = {level}")
    done = subprocess.run(
        [
            sys.executable, "-c", HOST_MAIN,
            "--config", str(ini), "--provider", BROKEN_GUID,
            "--install", "broken", "--namespace", "12", "--lookup", "x.test",
            *(["--verbose"] if verbose else []),
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0, done.stdout + done.stderr
    assert_leads_with_file_guid_and_fix(done.stderr.replace("nspv2: ERROR: ", "", 1), ini)
    assert ("Traceback" in done.stderr) == (verbose or level == "DEBUG"), done.stderr


@pytest.mark.skipif(
    sys.platform == "win32", reason="Windows' Winsock does not say what is advertised"
)
def test_not_found_says_what_is_advertised_and_the_command_to_serve(
    example_env: None, tmp_path: Path
) -> None:
    """`nspv2 lookup`'s WSASERVICE_NOT_FOUND line says of each installed provider whether a host
    advertises it (then it declined the name) or not, with the command that would serve it."""
    idle = "0b7c4e2a-5d13-4f6e-8a90-3c2d1e5f7a64"
    install = f"import nspv2, uuid; nspv2.catalog.install(uuid.UUID({idle!r}), 'idle', 12)"
    subprocess.run([sys.executable, "-c", install], check=True, timeout=120)
    toml_zone = "nspv2.examples.toml_zone:TomlZoneProvider"
    err = tmp_path / "serve.err"
    with err.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "nspv2", "serve", "--provider", toml_zone], stderr=sink
        )
    try:
        deadline = time.monotonic() + 120
        while "stop with Ctrl+C" not in err.read_text():
            assert server.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        done = nspv2_command("lookup", "nobody.zone.test", "--namespace", "NS_DNS")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"idle {{{idle}}} (not advertised: serve it with `nspv2 serve --provider {idle}`)" in (
        done.stderr
    )
    zone = "nspv2 example: TOML zone {8f0c2d6e-7a41-4b59-9e3a-1d5c7b2e4f60}"
    assert f"{zone} (advertised: it declined the name)" in done.stderr, done.stderr


def test_every_lookup_hint_is_given_for_its_code() -> None:
    """`nspv2 lookup` explains each Winsock code it has a hint for with that hint, in one line
    naming the code and the namespace asked; a code without one points to --help."""
    from nspv2 import cli

    for code, hint in cli.LOOKUP_HINTS.items():
        line = cli.explain(nspv2.WinsockError(code), nspv2.NS_DNS, None)
        assert hint in line and f"({code}) in NS_DNS" in line and "\n" not in line, line
    assert "nspv2 lookup --help" in cli.explain(nspv2.WinsockError(10050), nspv2.NS_DNS, None)


FAILING_INIT = """
import uuid
import nspv2


class Provider(nspv2.Provider):
    provider_id = uuid.UUID("2f4e6a8c-0b1d-4e3f-9a5c-7d8e9f0a1b2c")

    def __init__(self):
        raise RuntimeError("no back end")
"""


@pytest.mark.parametrize("command", ["serve", "check"])
def test_provider_whose_init_fails_is_one_line(
    command: str, example_env: None, tmp_path: Path
) -> None:
    """A class named on the command line whose __init__ raises gives one line naming it, the
    error and the fix (nspv2 serve and nspv2 check), not a traceback."""
    (tmp_path / "failing_init.py").write_text(FAILING_INIT)
    arguments = ["--path", str(tmp_path)]
    if command == "serve":
        done = nspv2_command("serve", "--provider", "failing_init:Provider", *arguments)
    else:
        done = nspv2_command("check", "failing_init:Provider", *arguments)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    first = done.stderr.splitlines()[0]
    assert "cannot create failing_init:Provider (RuntimeError: no back end)" in first, first
    assert "its __init__ must succeed without arguments" in first, first
