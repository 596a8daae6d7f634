"""The provider library embedded in hosts with no Python in them.

tests/hosts/embed_host.c is built with gcc, loads the installed Winsock stand-in and provider
library with dlopen(RTLD_NOW | RTLD_LOCAL), sets a configuration file written here, advertises
Python providers written here and looks names up as a Winsock client would. The tests assert on
what it prints and on its exit status (see the host's header comment for both).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
from conftest import WILDCARD_BLOB
from prerequisites import missing

from nspv2.cli import example_install_arguments

ROOT = Path(__file__).parents[1]
HOSTS = Path(__file__).parent / "hosts"
CFLAGS = [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-D_GNU_SOURCE",
    f"-I{ROOT / 'csrc' / 'include'}",
]
TIMEOUT = 60

ANSWERS = "11111111-2222-3333-4444-555555555555"
RECORDER = "22222222-2222-3333-4444-555555555555"
NO_SET_SERVICE = "33333333-2222-3333-4444-555555555555"
BROKEN = "44444444-2222-3333-4444-555555555555"
MISSING = "55555555-2222-3333-4444-555555555555"
EXAMPLE = "5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d21"
NS_EMAIL = 37

WSAEOPNOTSUPP = 10045
WSAEINVALIDPROVIDER = 10105
WSAEPROVIDERFAILEDINIT = 10106
WSASERVICE_NOT_FOUND = 10108
WSANO_RECOVERY = 11003

BIG_BLOB_SIZE = 100_000
NON_BMP_QUERY = "\U0001f600.test"
NON_BMP_ANSWER = "\U0001f600\u00e9.test"

PROVIDER_MODULE = '''
"""Test providers for tests/test_embedding.py; they record their calls in calls.log beside them."""
from pathlib import Path

from nspv2 import CsAddr, Provider, QuerySet, WinsockError, WSASERVICE_NOT_FOUND

LOG = Path(__file__).with_name("calls.log")
BIG = bytes((i * 7) % 251 for i in range(BIG_BLOB_SIZE))


def record(*words):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(" ".join(str(w) for w in words) + "\\n")


def gen(name):
    try:
        yield QuerySet(instance_name=name, comment="first")
        yield QuerySet(instance_name=name, comment="second")
    finally:
        record("gen-closed")


class Answers(Provider):
    namespace = 37

    def lookup(self, query, flags, session):
        name = query.instance_name
        if name == "host.test":
            return [
                QuerySet(
                    instance_name=name,
                    comment="two",
                    context="ctx",
                    addresses=(
                        CsAddr(remote=("192.0.2.1", 80)),
                        CsAddr(remote=("2001:db8::1", 443, 0, 0)),
                    ),
                ),
                QuerySet(instance_name="second.test"),
            ]
        if name == "big.test":
            return QuerySet(instance_name=name, blob=BIG)
        if name == NON_BMP_QUERY:
            return QuerySet(instance_name=NON_BMP_ANSWER, comment="\\U00010348")
        if name == "gen.test":
            return gen(name)
        if name == "boom.test":
            raise RuntimeError("provider exploded on purpose")
        raise WinsockError(WSASERVICE_NOT_FOUND)


class NoSetService(Answers):
    def startup(self, session):
        record("startup", type(self).__name__, session.id)

    def cleanup(self, session):
        record("cleanup", type(self).__name__, session.id)

    def session_rundown(self, session):
        record("rundown", type(self).__name__, session.id)


class Recorder(NoSetService):
    def set_service(self, query, operation, flags, session):
        record("set_service", type(self).__name__, operation.name, query.instance_name, session.id)
'''

MALICIOUS = """
import os
with open({marker!r}, "a") as f:
    f.write({what!r} + "\\n")
"""


def fnv1a(data: bytes) -> str:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return f"{h:08x}"


BIG_BLOB = bytes((i * 7) % 251 for i in range(BIG_BLOB_SIZE))
HOST_LINES = [
    "result host.test: instance=host.test comment=two context=ctx ns=37 flags=0 "
    "addrs=[192.0.2.1:80,[2001:db8:0:0:0:0:0:1]:443] blob=- efault=1",
    "result host.test: instance=second.test comment=- context=- ns=37 flags=0 addrs=[] "
    "blob=- efault=0",
]
BIG_LINE = (
    f"result big.test: instance=big.test comment=- context=- ns=37 flags=0 addrs=[] "
    f"blob={BIG_BLOB_SIZE}/{fnv1a(BIG_BLOB)} efault=1"
)
NON_BMP_LINE = (
    f"result {NON_BMP_QUERY}: instance={NON_BMP_ANSWER} comment=\U00010348 context=- ns=37 "
    f"flags=0 addrs=[] blob=- efault=0"
)
NAMES = ["host.test", "big.test", NON_BMP_QUERY]
EXPECTED = [*HOST_LINES, BIG_LINE, NON_BMP_LINE]

pytestmark = pytest.mark.requires("gcc")


@pytest.fixture(scope="session")
def installed() -> Dict[str, str]:
    """`nspv2 paths --json` of the installed package."""
    script = shutil.which("nspv2")
    command = (
        [script]
        if script
        else [sys.executable, "-c", "import sys; from nspv2.cli import main; sys.exit(main())"]
    )
    out = subprocess.run(
        [*command, "paths", "--json"], capture_output=True, text=True, check=True, timeout=TIMEOUT
    )
    paths: Dict[str, str] = json.loads(out.stdout)
    for key in ("provider", "winsock", "host"):
        assert Path(paths[key]).exists(), f"{key}: {paths[key]} is missing; pip install . first"
    return paths


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/hosts/embed_host.c built with the project's warnings, linking -ldl -lpthread only."""
    out = tmp_path_factory.mktemp("hosts") / "embed_host"
    subprocess.run(
        ["gcc", *CFLAGS, "-g", "-o", str(out), str(HOSTS / "embed_host.c"), "-ldl", "-lpthread"],
        check=True,
        timeout=TIMEOUT,
    )
    return out


@pytest.fixture
def provider_dir(tmp_path: Path) -> Path:
    """A folder with the test provider modules (found through the config's `path`)."""
    folder = tmp_path / "providers"
    folder.mkdir()
    source = PROVIDER_MODULE.replace("BIG_BLOB_SIZE", str(BIG_BLOB_SIZE))
    source = source.replace("NON_BMP_QUERY", repr(NON_BMP_QUERY)).replace(
        "NON_BMP_ANSWER", repr(NON_BMP_ANSWER)
    )
    (folder / "embedprov.py").write_text(source, encoding="utf-8")
    (folder / "brokenprov.py").write_text(
        'raise RuntimeError("brokenprov fails on import on purpose")\n'
    )
    return folder


@pytest.fixture
def config(tmp_path: Path, provider_dir: Path) -> Path:
    """The INI file mapping the test GUIDs to the test classes."""
    path = tmp_path / "providers.ini"
    sections = [
        (ANSWERS, "embedprov:Answers"),
        (RECORDER, "embedprov:Recorder"),
        (NO_SET_SERVICE, "embedprov:NoSetService"),
        (BROKEN, "brokenprov:Broken"),
    ]
    path.write_text(
        "".join(
            f"[{{{guid}}}]\nclass = {spec}\npath = {provider_dir}\n\n" for guid, spec in sections
        ),
        encoding="utf-8",
    )
    return path


def clean_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment without PYTHON* and NSPV2_* variables (an in-memory stand-in catalog)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "NSPV2_"))}
    env["NSPV2_STANDIN_CATALOG"] = ""  # unset, the stand-in would share the runtime folder's
    env["NSPV2_RUNTIME_DIR"] = os.environ["NSPV2_RUNTIME_DIR"]  # this run's (conftest.py)
    env.update(extra or {})
    return env


def run_host(
    host: Path,
    installed: Dict[str, str],
    config: Optional[Path],
    guids: List[str],
    names: List[str],
    *extra: str,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[Path] = None,
    prefix: Optional[List[str]] = None,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    command = [
        *(prefix or []),
        str(host),
        "--winsock",
        installed["winsock"],
        "--provider",
        installed["provider"],
    ]
    if config is not None:
        command += ["--config", str(config)]
    for guid in guids:
        command += ["--guid", guid]
    # The test providers answer names with no domain: they are installed as wildcard providers.
    command += ["--namespace", str(NS_EMAIL), "--blob", WILDCARD_BLOB.hex()]
    for name in names:
        command += ["--lookup", name]
    command += list(extra)
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=env if env is not None else clean_env(),
        cwd=cwd,
        timeout=timeout,
    )


def lines(result: subprocess.CompletedProcess[str], prefix: str = "result ") -> List[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(prefix)]


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def calls(provider_dir: Path) -> List[List[str]]:
    log = provider_dir / "calls.log"
    return (
        [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
        if log.exists()
        else []
    )


# -- 1. the full path ----------------------------------------------------------------------------


def test_full_path_without_python(host: Path, installed: Dict[str, str], config: Path) -> None:
    """A host without Python gets exact answers (addresses, big blob, non-BMP) from Python."""
    result = run_host(host, installed, config, [ANSWERS], [*NAMES, "nope.test"])
    assert result.returncode == 1, explain(result)  # nope.test finds nothing, as it should
    assert lines(result) == EXPECTED, explain(result)
    assert lines(result, "error ") == [f"error nope.test: {WSASERVICE_NOT_FOUND}"], explain(result)
    assert "violations 0" in result.stdout.splitlines(), explain(result)

    result = run_host(host, installed, config, [ANSWERS], NAMES)
    assert result.returncode == 0, explain(result)
    assert lines(result) == EXPECTED
    assert result.stdout.splitlines()[-2:] == ["violations 0", "exit 0"]


# -- 2. every callback ---------------------------------------------------------------------------


def test_every_callback_from_c(
    host: Path, installed: Dict[str, str], config: Path, provider_dir: Path
) -> None:
    """Sessions balance, SetServiceEx answers with or without set_service, rundown frees lookups."""
    result = run_host(
        host, installed, config, [RECORDER, NO_SET_SERVICE], ["host.test"], "--sessions", "gen.test"
    )
    assert result.returncode == 0, explain(result)
    out = result.stdout.splitlines()
    assert "setservice 0: rc=0 error=0" in out, explain(result)
    assert f"setservice 1: rc=-1 error={WSAEOPNOTSUPP}" in out, explain(result)
    assert "client b begin gen.test: rc=0" in out and "client b next gen.test: rc=0" in out
    assert "client b kill: 0" in out, explain(result)
    assert "violations 0" in out

    log = calls(provider_dir)
    for cls in ("Recorder", "NoSetService"):
        started = [int(c[2]) for c in log if c[0] == "startup" and c[1] == cls]
        cleaned = [int(c[2]) for c in log if c[0] == "cleanup" and c[1] == cls]
        rundown = [int(c[2]) for c in log if c[0] == "rundown" and c[1] == cls]
        # Client 0 (the host's own lookups), client A (cleans up), client B (killed).
        assert len(started) == 3 and len(set(started)) == 3, log
        assert sorted(cleaned + rundown) == sorted(started), log
        assert cleaned == [started[1]], log
        assert started[2] in rundown, log
    sets = [c for c in log if c[0] == "set_service"]
    assert sets == [["set_service", "Recorder", "RNRSERVICE_REGISTER", "svc.test", sets[0][4]]], log
    assert ["gen-closed"] in log, log


# -- 3. isolation --------------------------------------------------------------------------------


def test_isolated_from_client_environment(
    host: Path, installed: Dict[str, str], config: Path, tmp_path: Path
) -> None:
    """PYTHON* variables and a shadow package in the current directory never reach the provider."""
    marker = tmp_path / "marker"
    evil = tmp_path / "evil"
    (evil / "nspv2").mkdir(parents=True)
    (evil / "nspv2" / "__init__.py").write_text(
        MALICIOUS.format(marker=str(marker), what="PYTHONPATH nspv2")
    )
    (evil / "site.py").write_text(MALICIOUS.format(marker=str(marker), what="PYTHONPATH site"))
    (evil / "startup.py").write_text(MALICIOUS.format(marker=str(marker), what="PYTHONSTARTUP"))
    cwd = tmp_path / "cwd"
    (cwd / "nspv2").mkdir(parents=True)
    (cwd / "nspv2" / "__init__.py").write_text(
        MALICIOUS.format(marker=str(marker), what="cwd nspv2")
    )
    (cwd / "embedprov.py").write_text(MALICIOUS.format(marker=str(marker), what="cwd embedprov"))
    env = clean_env(
        {
            "PYTHONPATH": str(evil),
            "PYTHONHOME": "/nonexistent",
            "PYTHONSTARTUP": str(evil / "startup.py"),
            "PYTHONUSERBASE": str(evil),
            "PYTHONINSPECT": "1",
        }
    )
    result = run_host(host, installed, config, [ANSWERS], NAMES, env=env, cwd=cwd)
    assert result.returncode == 0, explain(result)
    assert lines(result) == EXPECTED
    assert not marker.exists(), marker.read_text()


# -- 4. failures become Winsock codes ------------------------------------------------------------


def test_unconfigured_guid(host: Path, installed: Dict[str, str], config: Path) -> None:
    """A GUID the configuration does not name fails NSPv2GetRoutine with WSAEINVALIDPROVIDER."""
    result = run_host(host, installed, config, [MISSING], ["host.test"])
    assert result.returncode == 3, explain(result)
    assert f"getroutine 55555555: rc=-1 error={WSAEINVALIDPROVIDER}" in result.stdout, explain(
        result
    )
    assert MISSING in result.stderr and str(config) in result.stderr, explain(result)


def test_module_raising_on_import(host: Path, installed: Dict[str, str], config: Path) -> None:
    """A module raising on import gives WSAEPROVIDERFAILEDINIT and a log line naming it."""
    result = run_host(host, installed, config, [BROKEN], ["host.test"])
    assert result.returncode == 3, explain(result)
    assert f"getroutine 44444444: rc=-1 error={WSAEPROVIDERFAILEDINIT}" in result.stdout, explain(
        result
    )
    assert "brokenprov" in result.stderr, explain(result)
    assert "Traceback" in result.stderr or "RuntimeError" in result.stderr, explain(result)


def test_untrusted_module_folder(host: Path, installed: Dict[str, str], tmp_path: Path) -> None:
    """A provider whose `path` folder every user can write (as /tmp) is refused before its
    module is imported: NSPv2GetRoutine fails with a Winsock code, and the log line names the
    folder and the fix."""
    shared = tmp_path / "shared"
    shared.mkdir()
    marker = tmp_path / "imported"
    (shared / "plantedprov.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    shared.chmod(0o1777)
    ini = tmp_path / "untrusted.ini"
    ini.write_text(f"[{{{ANSWERS}}}]\nclass = plantedprov:P\npath = {shared}\n")
    result = run_host(host, installed, ini, [ANSWERS], ["host.test"])
    assert result.returncode == 3, explain(result)
    assert f"rc=-1 error={WSAEPROVIDERFAILEDINIT}" in result.stdout, explain(result)
    assert f"{shared} is a shared folder" in result.stderr, explain(result)
    assert "Traceback" not in result.stderr, explain(result)
    assert not marker.exists(), "the planted module ran"


def test_malformed_config(host: Path, installed: Dict[str, str], tmp_path: Path) -> None:
    """A malformed configuration fails NSPv2GetRoutine with a message naming the file."""
    bad = tmp_path / "bad.ini"
    bad.write_text("this is [not an ini file\n[{11111111-2222-3333-4444-555555555555}\nclass\n")
    result = run_host(host, installed, bad, [ANSWERS], ["host.test"])
    assert result.returncode == 3, explain(result)
    codes = {f"rc=-1 error={code}" for code in (WSAEINVALIDPROVIDER, WSAEPROVIDERFAILEDINIT)}
    assert any(code in result.stdout for code in codes), explain(result)
    assert str(bad) in result.stderr, explain(result)


def test_provider_raising_in_lookup(host: Path, installed: Dict[str, str], config: Path) -> None:
    """An exception in lookup reaches the client as WSANO_RECOVERY, with a traceback on stderr."""
    result = run_host(host, installed, config, [ANSWERS], ["boom.test", "host.test"])
    assert result.returncode == 1, explain(result)
    assert lines(result, "error ") == [f"error boom.test: {WSANO_RECOVERY}"], explain(result)
    assert lines(result) == HOST_LINES, explain(result)
    assert "Traceback" in result.stderr and "provider exploded on purpose" in result.stderr, (
        explain(result)
    )
    assert "violations 0" in result.stdout


def test_log_file_from_the_configuration(
    host: Path, installed: Dict[str, str], config: Path, tmp_path: Path
) -> None:
    """A host without Python logs to the rotating file the configuration's [nspv2] section
    names, at its level, even with stdout and stderr closed."""
    log_file = tmp_path / "logs" / "host.log"
    config.write_text(
        config.read_text() + f"[nspv2]\nlog_file = {log_file}\nlog_level = ERROR\n",
        encoding="utf-8",
    )
    result = run_host(host, installed, config, [ANSWERS], ["boom.test"], "--close-stdio")
    assert result.returncode == 1, explain(result)
    text = log_file.read_text(encoding="utf-8")
    assert "ERROR: NSPv2LookupServiceNextEx of provider" in text or "ERROR:" in text, text
    assert "provider exploded on purpose" in text, text


def test_closed_stdout_and_stderr(host: Path, installed: Dict[str, str], config: Path) -> None:
    """A host whose fds 1 and 2 are closed still completes its lookups, without crash or hang."""
    result = run_host(host, installed, config, [ANSWERS], NAMES, "--close-stdio")
    assert result.returncode == 0, explain(result)
    assert result.stdout == "" and result.stderr == ""
    result = run_host(host, installed, config, [ANSWERS], ["boom.test"], "--close-stdio")
    # The lookup failed cleanly; logging to a closed stderr did not crash.
    assert result.returncode == 1, explain(result)
    result = run_host(host, installed, config, [BROKEN], ["host.test"], "--close-stdio")
    assert result.returncode == 3, explain(result)


# -- 5. RTLD_LOCAL and no unload -----------------------------------------------------------------


def test_dlclose_and_reload(host: Path, installed: Dict[str, str], config: Path) -> None:
    """dlclose of the (nodelete) provider library then dlopen again keeps lookups working."""
    result = run_host(host, installed, config, [ANSWERS], NAMES, "--reload")
    assert result.returncode == 0, explain(result)
    out = result.stdout.splitlines()
    assert "dlclose: 0" in out and "reloaded" in out, explain(result)
    assert lines(result) == EXPECTED + EXPECTED, explain(result)
    assert "violations 0" in out


# -- 6. another Python version -------------------------------------------------------------------


VERSION_SCRIPT = """
import ctypes, sys, uuid
winsock = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
provider = ctypes.CDLL(sys.argv[2], mode=ctypes.RTLD_GLOBAL)
guid = (ctypes.c_char * 16).from_buffer_copy(uuid.UUID(sys.argv[3]).bytes_le)
routine = (ctypes.c_char * 72)()
rc = provider.NSPv2GetRoutine(guid, routine)
print("rc", rc, "error", winsock.WSAGetLastError(), flush=True)
"""


def other_python() -> str:
    """A Python 3 of another minor version than this one (pyenv's, where CI has 3.9 to 3.13)."""
    this = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))):
        minor = Path(candidate).parents[1].name.rsplit(".", 1)[0]
        if minor != this and minor.count(".") == 1 and int(minor.split(".")[1]) >= 9:
            return candidate
    missing(f"a Python 3 other than {this}", "pyenv install 3.12 (or any 3.9+ but this one)")


def test_wrong_python_version(installed: Dict[str, str], tmp_path: Path) -> None:
    """The library built for this Python, loaded into another minor version, refuses at once,
    saying why, instead of hanging."""
    other = other_python()
    this = f"{sys.version_info[0]}.{sys.version_info[1]}"
    script = tmp_path / "load.py"
    script.write_text(VERSION_SCRIPT)
    result = subprocess.run(
        [other, str(script), installed["winsock"], installed["provider"], EXAMPLE],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, explain(result)
    assert result.stdout.split()[:2] == ["rc", "-1"], explain(result)
    assert f"built for Python {this}" in result.stderr, explain(result)


# -- 7. threads ----------------------------------------------------------------------------------


def test_concurrent_lookups(host: Path, installed: Dict[str, str], config: Path) -> None:
    """8 native threads x 200 lookups each get the correct answers with no contract violation."""
    result = run_host(
        host,
        installed,
        config,
        [ANSWERS],
        ["host.test"],
        "--threads",
        "8",
        "--iterations",
        "200",
        timeout=300,
    )
    assert result.returncode == 0, explain(result)
    assert lines(result) == HOST_LINES
    out = result.stdout.splitlines()
    assert "threads 8 x 200: mismatches 0" in out, explain(result)
    assert "violations 0" in out


# -- 8. the installed native host ----------------------------------------------------------------


def test_installed_native_host(installed: Dict[str, str]) -> None:
    """The installed nspv2-host serves the example provider and rejects a bad GUID with status 2."""
    command = [installed["host"], "--provider", EXAMPLE, *example_install_arguments()]
    result = subprocess.run(
        [*command, "--lookup", "alice@example.test"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, explain(result)
    assert result.stdout.splitlines() == [
        "alice@example.test: alice@example.test (Alice Example) 192.0.2.25:25 [2001:db8::25]:25",
        "alice@example.test: alice@example.test (Alice Example) 198.51.100.25:25",
    ]
    bad = subprocess.run(
        [installed["host"], "--provider", "not-a-guid", "--lookup", "alice@example.test"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=TIMEOUT,
    )
    assert bad.returncode == 2, explain(bad)
    assert "not-a-guid" in bad.stderr


def test_native_host_names_the_guid_it_could_not_advertise(
    installed: Dict[str, str], config: Path
) -> None:
    """nspv2-host names the provider it could not advertise by its GUID, the call that failed
    and the likely fix: a GUID no configuration names, then one configured but not installed."""

    def serve(guid: str) -> subprocess.CompletedProcess[str]:
        command = [installed["host"], "--config", str(config), "--provider", guid]
        return subprocess.run(
            command, capture_output=True, text=True, env=clean_env(), timeout=TIMEOUT
        )

    unknown = serve(MISSING)
    assert unknown.returncode != 0, explain(unknown)
    assert f"provider {{{MISSING.upper()}}} not advertised: NSPv2GetRoutine failed" in (
        unknown.stderr
    ), explain(unknown)
    assert "no class is configured for the GUID" in unknown.stderr, explain(unknown)
    uninstalled = serve(ANSWERS)
    assert uninstalled.returncode != 0, explain(uninstalled)
    assert f"{{{ANSWERS.upper()}}} not advertised: WSAAdvertiseProvider failed" in (
        uninstalled.stderr
    ), explain(uninstalled)
    assert "not installed in the Winsock catalog: add --install" in uninstalled.stderr


def test_installed_native_host_replaces_its_catalog_entry(
    installed: Dict[str, str], tmp_path: Path
) -> None:
    """--install of a GUID already in the catalog uninstalls and installs again, as Microsoft's
    NSPv2 sample (Install.c) does, so a stale entry (here one without the installation blob, to
    which Winsock routes no name) does not stay."""
    env = clean_env({"NSPV2_STANDIN_CATALOG": str(tmp_path / "catalog.txt")})
    lookup = ["--lookup", "alice@example.test"]

    def host(*install: str) -> subprocess.CompletedProcess[str]:
        command = [installed["host"], "--provider", EXAMPLE, *install, *lookup]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT)

    stale = host("--install", "stale", "--namespace", str(NS_EMAIL))
    assert stale.returncode == 1 and f"Winsock error {WSASERVICE_NOT_FOUND}" in stale.stdout
    fresh = host(*example_install_arguments())
    assert fresh.returncode == 0, explain(fresh)
    assert "alice@example.test: alice@example.test (Alice Example)" in fresh.stdout


# -- valgrind ------------------------------------------------------------------------------------


@pytest.mark.requires("valgrind")
def test_full_path_under_valgrind(host: Path, installed: Dict[str, str], config: Path) -> None:
    """The case-1 host under valgrind: no invalid access, no definite leak outside libpython."""
    prefix = [
        "valgrind",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        f"--suppressions={Path(__file__).parent / 'valgrind-python.supp'}",
        "--num-callers=40",
    ]
    result = run_host(
        host,
        installed,
        config,
        [ANSWERS],
        NAMES,
        prefix=prefix,
        env=clean_env({"PYTHONMALLOC": "malloc"}),
        timeout=600,
    )
    assert result.returncode == 0, explain(result)
    assert lines(result) == EXPECTED
    assert "ERROR SUMMARY: 0 errors" in result.stderr, explain(result)
    assert "definitely lost: 0 bytes" in result.stderr, explain(result)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))


def test_importing_nspv2_leaves_the_client_side_for_later() -> None:
    """`import nspv2` and its log settings (what a host the library starts imports) load neither
    the client's nor the Python host's side nor cffi nor logging.handlers (together a quarter
    of a host's cold start here), and they are still there on first use: names, submodules,
    `from nspv2 import *`."""
    script = (
        "import sys, nspv2, nspv2.hostlog\n"
        "early = [m for m in ('cffi', 'nspv2.catalog', 'nspv2.client', 'nspv2.host',"
        " 'logging.handlers') if m in sys.modules]\n"
        "assert early == [], early\n"
        "assert nspv2.lookup.__module__ == 'nspv2.client'\n"
        "assert nspv2.catalog.CatalogEntry is nspv2.CatalogEntry\n"
        "assert callable(nspv2._native.load) and 'advertise' in dir(nspv2)\n"
        "namespace = {}\n"
        "exec('from nspv2 import *', namespace)\n"
        "assert namespace['advertise'] is nspv2.host.advertise\n"
        "try:\n"
        "    nspv2.no_such_name\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')\n"
    )
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
