"""Registration (nspv2.registration and `nspv2 install|reinstall|uninstall|enable|disable|list`):
catalog entries in the stand-in's shared catalog file, the NS_EMAIL installation blob, the
configuration file, the logon unit, the access-denied message and `nspv2 serve`."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

import nspv2
from nspv2 import catalog, config, registration
from nspv2.cli import example_install_arguments, example_spec
from nspv2.errors import WinsockError
from nspv2.napi import Domain, InstallationBlob

EXAMPLE = "nspv2.examples.zone:ZoneProvider"
EXAMPLE_ID = config.EXAMPLE_PROVIDER_ID


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs `python -m nspv2.cli ARGS` in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "nspv2.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


@pytest.fixture
def shared(tmp_path: Path) -> dict[str, str]:
    """An environment whose stand-in catalog is a file, so separate processes share it."""
    keep = ("NSPV2_WINSOCK_LIBRARY",)  # set on Windows to use the stand-in, not ws2_32.dll
    env = {k: v for k, v in os.environ.items() if not k.startswith("NSPV2_") or k in keep}
    env["NSPV2_STANDIN_CATALOG"] = str(tmp_path / "catalog.txt")
    return env


def test_install_list_uninstall_across_processes(tmp_path: Path, shared: dict[str, str]) -> None:
    """`nspv2 install` in one process is seen by `nspv2 list` in another (ours marked *), and
    `nspv2 uninstall` in a third removes the entry and its configuration."""
    ini = tmp_path / "providers.ini"
    done = cli(
        "install",
        "--provider",
        EXAMPLE,
        "--domain",
        "example.test",
        "--config",
        str(ini),
        env=shared,
    )
    assert done.returncode == 0, done.stderr
    assert f"{{{EXAMPLE_ID}}}" in done.stdout
    assert config.read_file(ini)[0].class_spec == EXAMPLE
    listed = cli("list", "--config", str(ini), env=shared)
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if str(EXAMPLE_ID) in x)
    assert line.startswith("*"), listed.stdout
    assert "NS_EMAIL" in line and "enabled" in line
    assert "domains: example.test:primary; wildcard" in line
    disabled = cli("disable", "--provider", EXAMPLE, env=shared)
    assert disabled.returncode == 0, disabled.stderr
    assert "disabled" in cli("list", env=shared).stdout
    gone = cli("uninstall", "--provider", EXAMPLE, "--config", str(ini), env=shared)
    assert gone.returncode == 0, gone.stderr
    assert str(EXAMPLE_ID) not in cli("list", env=shared).stdout
    assert config.read_file(ini) == []


def test_list_marks_only_ours(tmp_path: Path, shared: dict[str, str]) -> None:
    """`nspv2 list` shows a provider nobody configured here (someone else's) without the mark."""
    foreign = uuid.uuid4()
    done = cli(
        "install",
        "--guid",
        str(foreign),
        "--name",
        "someone else",
        "--namespace",
        "NS_DNS",
        "--no-config",
        env=shared,
    )
    assert done.returncode == 0, done.stderr
    listed = cli("list", "--config", str(tmp_path / "none.ini"), env=shared)
    line = next(x for x in listed.stdout.splitlines() if str(foreign) in x)
    assert line.startswith(" "), listed.stdout
    assert "someone else" in line


def test_install_as_the_sample(tmp_path: Path, shared: dict[str, str]) -> None:
    """`nspv2 install` writes the catalog entry as Microsoft's NSPv2 sample (Install.c) does:
    version 1 and an empty library path, so no catalog, 32- or 64-bit, names a file to load."""
    ini = str(tmp_path / "p.ini")
    assert cli("install", "--provider", EXAMPLE, "--config", ini, env=shared).returncode == 0
    entry = next(e for e in catalog_lines(shared) if e[1] == f"{{{str(EXAMPLE_ID).upper()}}}")
    # ns {GUID} namespace version enabled identifier path blob (csrc/winsock/catalog.c)
    assert (entry[2], entry[3], entry[6]) == ("37", "1", "-"), entry


def catalog_lines(env: dict[str, str]) -> list[list[str]]:
    """The entries of the stand-in's catalog file, split into their fields."""
    text = Path(env["NSPV2_STANDIN_CATALOG"]).read_text(encoding="utf-8")
    return [line.split() for line in text.splitlines() if line.startswith("ns ")]


def test_install_domains_levels_and_wildcard(tmp_path: Path, shared: dict[str, str]) -> None:
    """`nspv2 install --domain NAME[:LEVEL] --wildcard` puts those domains, levels and the
    wildcard in the NS_EMAIL installation blob, and `nspv2 list` shows them."""
    guid = uuid.uuid4()
    done = cli(
        "install",
        *("--guid", str(guid), "--name", "mail", "--namespace", "NS_EMAIL", "--no-config"),
        *("--domain", "corp.test", "--domain", "backup.test:secondary", "--wildcard"),
        env=shared,
    )
    assert done.returncode == 0, done.stderr
    entry = next(e for e in catalog_lines(shared) if e[1] == f"{{{str(guid).upper()}}}")
    blob = bytes.fromhex(entry[7])
    assert InstallationBlob.unpack(blob) == InstallationBlob(
        (Domain("corp.test"), Domain("backup.test", nspv2.ProviderLevel_Secondary)), True
    )
    line = next(x for x in cli("list", env=shared).stdout.splitlines() if str(guid) in x)
    assert "domains: corp.test:primary, backup.test:secondary; wildcard" in line, line
    bad = cli("install", "--guid", str(uuid.uuid4()), "--domain", "x.test:tertiary", env=shared)
    assert bad.returncode == 1 and "--domain" in bad.stderr and "Traceback" not in bad.stderr


def test_example_installs_with_its_domain(shared: dict[str, str]) -> None:
    """The built-in example provider installs as primary for example.test and as a wildcard
    provider (its host names have no @), so Winsock routes its names to it."""
    blob = InstallationBlob.unpack(example_spec().blob())
    assert blob == InstallationBlob((Domain("example.test"),), wildcard=True)
    arguments = example_install_arguments()
    assert arguments[arguments.index("--blob") + 1] == example_spec().blob().hex()


def test_install_twice_then_reinstall(tmp_path: Path, shared: dict[str, str]) -> None:
    """A second install of the same GUID fails with a message naming `reinstall`; `reinstall`
    replaces the entry (new name) and leaves exactly one."""
    ini = str(tmp_path / "p.ini")
    assert cli("install", "--provider", EXAMPLE, "--config", ini, env=shared).returncode == 0
    again = cli("install", "--provider", EXAMPLE, "--config", ini, env=shared)
    assert again.returncode == 1
    assert "reinstall" in again.stderr and "Traceback" not in again.stderr
    done = cli("reinstall", "--provider", EXAMPLE, "--name", "renamed", "--config", ini, env=shared)
    assert done.returncode == 0, done.stderr
    rows = [x for x in cli("list", env=shared).stdout.splitlines() if str(EXAMPLE_ID) in x]
    assert len(rows) == 1 and "renamed" in rows[0], rows


def test_reinstall_when_not_installed(tmp_path: Path, shared: dict[str, str]) -> None:
    """`reinstall` of a provider that is not installed simply installs it."""
    done = cli("reinstall", "--provider", EXAMPLE, "--config", str(tmp_path / "p.ini"), env=shared)
    assert done.returncode == 0, done.stderr
    assert str(EXAMPLE_ID) in cli("list", env=shared).stdout


def test_uninstall_unknown(shared: dict[str, str]) -> None:
    """Uninstalling a GUID that is not in the catalog says so in one line, exit 1."""
    done = cli("uninstall", "--guid", str(uuid.uuid4()), env=shared)
    assert done.returncode == 1
    assert "not in the Winsock catalog" in done.stderr and "Traceback" not in done.stderr


def test_catalog_holds_the_blob(provider_id: uuid.UUID, tmp_path: Path) -> None:
    """install() gives WSCInstallNameSpaceEx the NAPI blob, as the catalog's ProviderSpecific."""
    spec = registration.ProviderSpec(
        provider_id, "blob test", int(nspv2.NS_EMAIL), domains=(Domain("corp.example"),)
    )
    registration.install(spec, write_configuration=False)
    try:
        entry = next(e for e in catalog.entries() if e.provider_id == provider_id)
        assert entry.provider_specific == spec.blob()
    finally:
        registration.uninstall(spec, config_file=str(tmp_path / "none.ini"))


@pytest.mark.parametrize("code", [nspv2.WSAEACCES, nspv2.WSANO_RECOVERY])
def test_access_denied_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, code: int
) -> None:
    """When Winsock refuses an install of a GUID the catalog does not hold with WSAEACCES or
    WSANO_RECOVERY (WSCInstallNameSpaceEx's page: no administrator rights), the command prints
    "run from an elevated prompt" in one line and exits 1."""

    def denied(*args: object, **kwargs: object) -> None:
        raise WinsockError(code)

    monkeypatch.setattr(catalog, "install", denied)
    code = registration.handle_command_line(
        None, ["install", "--provider", EXAMPLE, "--config", str(tmp_path / "p.ini")]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "run from an elevated prompt" in err and "Traceback" not in err


def test_handle_command_line_with_class(
    provider_id: uuid.UUID, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """handle_command_line(cls, argv) from an author's script installs and uninstalls the class
    named by its own attributes, with no --provider."""

    class Mine(nspv2.Provider):
        name = "mine"
        namespace = nspv2.NS_EMAIL
        domains = ("mine.example",)

        def lookup(self, query, flags, session):  # type: ignore[no-untyped-def]
            return []

    Mine.provider_id = provider_id  # type: ignore[attr-defined]
    ini = str(tmp_path / "p.ini")
    assert registration.handle_command_line(Mine, ["install", "--config", ini]) == 0
    entry = next(e for e in catalog.entries() if e.provider_id == provider_id)
    assert entry.identifier == "mine" and entry.namespace == nspv2.NS_EMAIL
    assert config.read_file(Path(ini))[0].class_spec.endswith(":" + Mine.__qualname__)
    assert registration.handle_command_line(Mine, ["uninstall", "--config", ini]) == 0
    assert all(e.provider_id != provider_id for e in catalog.entries())
    assert "configuration: removed" in capsys.readouterr().out


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="POSIX file modes (0644, chmod 0777); Windows has ACLs, checked by test_windows_acl.py",
)
def test_config_file_mode_and_untrusted_folder(tmp_path: Path) -> None:
    """The configuration is written 0644 (--config file), and never into a folder other users
    can write."""
    spec = registration.ProviderSpec(EXAMPLE_ID, "x", 37, class_spec=EXAMPLE)
    ini = tmp_path / "ok" / "providers.ini"
    registration.write_config(spec, str(ini))
    assert stat.S_IMODE(os.stat(ini).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(ini.parent).st_mode) == 0o700
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    with pytest.raises(registration.RegistrationError, match="writable by other users"):
        registration.write_config(spec, str(open_folder / "providers.ini"))
    assert not (open_folder / "providers.ini").exists()


def test_reinstall_keeps_configured_domains(tmp_path: Path) -> None:
    """Writing a GUID's section again (install, reinstall) replaces its class and path but keeps
    what the user wrote there by hand (`domains`), as the Windows registry values are kept."""
    ini = tmp_path / "conf" / "providers.ini"
    ini.parent.mkdir(mode=0o700)
    section = f"[{{{str(EXAMPLE_ID).upper()}}}]"
    ini.write_text(f"{section}\nclass = old.module:Old\ndomains = corp.example, corp.test\n")
    spec = registration.ProviderSpec(EXAMPLE_ID, "x", 37, class_spec=EXAMPLE)
    registration.write_config(spec, str(ini))
    [entry] = config.read_file(ini)
    assert entry.class_spec == EXAMPLE
    assert entry.domains == ("corp.example", "corp.test")


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="systemd user unit; on Windows --at-logon writes the HKCU Run value "
    "(test_windows_registry_and_run_value)",
)
def test_logon_unit_written_and_removed(tmp_path: Path, shared: dict[str, str]) -> None:
    """`install --at-logon` writes the systemd user unit running the native host with the
    provider's GUID (not started); a second provider joins it; uninstall removes each GUID and
    the unit with the last one."""
    units = tmp_path / "units"
    ini = str(tmp_path / "p.ini")
    done = cli(
        "install",
        "--provider",
        EXAMPLE,
        "--config",
        ini,
        "--at-logon",
        "--unit-dir",
        str(units),
        env=shared,
    )
    assert done.returncode == 0, done.stderr
    unit = units / registration.UNIT_NAME
    text = unit.read_text()
    assert f"--provider {EXAMPLE_ID}" in text and "--serve" in text
    assert "nspv2-host" in text.split("ExecStart=", 1)[1].split()[0]
    assert f"--config {Path(ini).resolve()}" in text
    assert stat.S_IMODE(os.stat(unit).st_mode) == 0o644
    other = uuid.uuid4()
    assert (
        cli(
            "install",
            "--guid",
            str(other),
            "--name",
            "other",
            "--no-config",
            "--at-logon",
            "--unit-dir",
            str(units),
            env=shared,
        ).returncode
        == 0
    )
    assert str(other) in unit.read_text() and str(EXAMPLE_ID) in unit.read_text()
    assert (
        cli(
            "uninstall",
            "--provider",
            EXAMPLE,
            "--config",
            ini,
            "--unit-dir",
            str(units),
            env=shared,
        ).returncode
        == 0
    )
    assert str(EXAMPLE_ID) not in unit.read_text() and str(other) in unit.read_text()
    assert (
        cli("uninstall", "--guid", str(other), "--unit-dir", str(units), env=shared).returncode == 0
    )
    assert not unit.exists()


def test_serve_lookup_end_to_end(tmp_path: Path, shared: dict[str, str]) -> None:
    """`nspv2 install` then `nspv2 serve --lookup` in another process: the configured provider is
    advertised, answers through Winsock, and the command exits 0 after unadvertising."""
    ini = str(tmp_path / "p.ini")
    assert cli("install", "--provider", EXAMPLE, "--config", ini, env=shared).returncode == 0
    done = cli(
        "serve",
        "--config",
        ini,
        "--lookup",
        "alice@example.test",
        "--lookup",
        "www.example.test",
        env=shared,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alice@example.test: alice@example.test (Alice Example) 192.0.2.25:25" in done.stdout
    assert "www.example.test: www.example.test 192.0.2.10:0" in done.stdout
    missing = cli(
        "serve",
        "--provider",
        str(EXAMPLE_ID),
        "--config",
        ini,
        "--lookup",
        "nobody@example.test",
        env=shared,
    )
    assert missing.returncode == 1
    assert "nobody@example.test: not found" in missing.stdout and "10108" in missing.stdout


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="no SIGTERM on Windows: Popen.terminate() is TerminateProcess, which kills the "
    "process without letting it withdraw its providers",
)
def test_serve_until_sigterm(tmp_path: Path, shared: dict[str, str]) -> None:
    """`nspv2 serve` keeps serving until SIGTERM, then withdraws its providers and exits 0."""
    ini = str(tmp_path / "p.ini")
    assert cli("install", "--provider", EXAMPLE, "--config", ini, env=shared).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "nspv2.cli", "serve", "--config", ini],
        stderr=subprocess.PIPE,
        text=True,
        env=shared,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "stop with Ctrl+C" in line:
            break
    proc.terminate()
    rest = proc.stderr.read()
    assert proc.wait(timeout=30) == 0, rest
    assert "providers withdrawn" in rest


def test_host_ini_names_python(tmp_path: Path) -> None:
    """nspv2-host.ini, which the native host reads on Windows, names the folder of python3XY.dll
    (`home = `) and the DLL itself (`dll = `), one `key = value` a line."""
    dll = tmp_path / "Python311" / "python311.dll"
    written = registration.write_host_ini(tmp_path, dll)
    lines = Path(written).read_text(encoding="utf-8").splitlines()
    values = dict(
        (k.strip(), v.strip()) for k, _, v in (x.partition("=") for x in lines if "=" in x)
    )
    assert values["home"] == str(dll.parent)
    assert values["dll"] == str(dll)
    assert all(x.startswith(";") or "=" in x for x in lines)


WINDOWS_ONLY = pytest.mark.skipif(sys.platform != "win32", reason="the Windows registry")


@WINDOWS_ONLY
@pytest.mark.parametrize("user", [False, True], ids=["HKLM", "HKCU"])
def test_windows_registry_configuration(user: bool) -> None:
    """On Windows the configuration is the registry key SOFTWARE\\nspv2\\Providers\\{GUID}
    (HKLM, or HKCU with --user): write_config writes Class and PythonPath there, config.find
    reads them back, configured_ids lists the GUID, remove_config deletes the key."""
    guid = uuid.uuid4()
    folder = str(Path(__file__).resolve().parent)
    spec = registration.ProviderSpec(
        guid, "registry test", 37, class_spec=EXAMPLE, python_path=(folder,)
    )
    hive = "HKCU" if user else "HKLM"
    where = registration.write_config(spec, user=user)
    try:
        assert where == f"{hive}\\{config.REGISTRY_KEY}\\{{{guid}}}"
        entry = config.find(guid)
        assert entry.class_spec == EXAMPLE and entry.python_path == (folder,)
        assert entry.source == where
        assert guid in registration.configured_ids()
    finally:
        removed = registration.remove_config(guid, user=user)
    assert removed
    assert guid not in registration.configured_ids()
    with pytest.raises(config.NotConfigured, match="HKLM/HKCU"):
        config.find(guid)
    assert not registration.remove_config(guid, user=user)


@WINDOWS_ONLY
def test_windows_registry_and_run_value(tmp_path: Path, shared: dict[str, str]) -> None:
    """`nspv2 install --at-logon` on Windows, in another process: the configuration goes to HKLM,
    the catalog entry to the (stand-in's) catalog, the HKCU Run value `nspv2-host` starts the
    native host with --python-home, the provider's GUID and --serve, and nspv2-host.ini names
    Python; `list` marks the provider ours (by its configuration); `uninstall` removes the key
    and the GUID from the Run value (the value with its last provider)."""
    import winreg

    guid, other = uuid.uuid4(), uuid.uuid4()
    previous = registration._read_logon()
    try:
        done = cli("install", "--provider", EXAMPLE, "--guid", str(guid), "--at-logon", env=shared)
        assert done.returncode == 0, done.stderr
        assert f"configuration: HKLM\\{config.REGISTRY_KEY}\\{{{guid}}}" in done.stdout
        assert config.find(guid).class_spec == EXAMPLE
        run = registration._read_logon()
        assert run is not None and f"--provider {guid}" in run and run.endswith("--serve")
        assert "nspv2-host.exe" in run and "--python-home" in run
        dll = registration.python_dll()
        assert dll is not None and str(dll.parent) in run
        ini = Path(nspv2._native.host_program()).parent / registration.HOST_INI
        assert f"dll = {dll}" in ini.read_text(encoding="utf-8").splitlines()
        listed = cli("list", env=shared)
        line = next(x for x in listed.stdout.splitlines() if str(guid) in x)
        assert line.startswith("*") and f"[{EXAMPLE}]" in line, listed.stdout
        joined = cli(
            "install", "--guid", str(other), "--name", "o", "--no-config", "--at-logon", env=shared
        )
        assert joined.returncode == 0, joined.stderr
        run = registration._read_logon()
        assert run is not None and str(guid) in run and str(other) in run
        gone = cli("uninstall", "--provider", EXAMPLE, "--guid", str(guid), env=shared)
        assert gone.returncode == 0, gone.stderr
        assert "configuration: removed" in gone.stdout
        with pytest.raises(config.NotConfigured):
            config.find(guid)
        run = registration._read_logon()
        assert run is not None and str(guid) not in run and str(other) in run
        assert cli("uninstall", "--guid", str(other), env=shared).returncode == 0
        if previous is None:
            assert registration._read_logon() is None
    finally:
        for leftover in (guid, other):
            registration.remove_config(leftover)
        with winreg.CreateKeyEx(
            winreg.HKEY_CURRENT_USER, registration.RUN_KEY, 0, winreg.KEY_SET_VALUE
        ) as key:
            if previous is None:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, registration.RUN_VALUE)
            else:
                winreg.SetValueEx(key, registration.RUN_VALUE, 0, winreg.REG_SZ, previous)
