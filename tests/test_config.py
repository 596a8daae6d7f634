"""nspv2.config: which class serves which GUID for hosts that are not Python. A valid file,
every kind of mistake (each a ConfigError naming the file and the fix), the built-in example,
and the provider library reading the configuration through NSPv2SetConfigFile."""

from __future__ import annotations

import logging
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

import nspv2
import nspv2.catalog
import nspv2.client
from nspv2 import _runtime, config
from nspv2.config import EXAMPLE_PROVIDER_ID, ConfigError, NotConfigured

PROVIDER_SOURCE = """
import nspv2

class {cls}(nspv2.Provider):
    namespace = nspv2.NS_DNS

    def lookup(self, query, flags, session):
        return nspv2.QuerySet(instance_name="from-config:" + (query.instance_name or ""))

class NotAProvider:
    pass

not_a_class = 42
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """sys.path, sys.modules and the override file are restored after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    modules = set(sys.modules)
    yield
    config.set_config_file(None)
    for name in set(sys.modules) - modules:
        if name.startswith("cfgmod_"):
            del sys.modules[name]


@pytest.fixture
def module(tmp_path: Path) -> tuple[Path, str]:
    """A provider module in its own folder: (folder, module name)."""
    folder = tmp_path / "lib"
    folder.mkdir()
    name = f"cfgmod_{uuid.uuid4().hex}"
    (folder / f"{name}.py").write_text(PROVIDER_SOURCE.format(cls="MyProvider"))
    return folder, name


def write_ini(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "providers.ini"
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_file_maps_guid_to_class(tmp_path, module, provider_id) -> None:
    """A section [{GUID}] with class and path loads that class from that folder."""
    folder, name = module
    ini = write_ini(
        tmp_path,
        f"""
        [{{{provider_id}}}]
        class = {name}:MyProvider
        path = {folder}
        """,
    )
    entry = config.find(provider_id, str(ini))
    assert entry.class_spec == f"{name}:MyProvider"
    assert entry.python_path == (str(folder),)
    assert entry.source == str(ini)
    provider = config.load_provider(provider_id, str(ini))
    assert type(provider).__name__ == "MyProvider"
    assert isinstance(provider, nspv2.Provider)
    assert str(folder) in sys.path


def test_guid_section_without_braces_and_other_sections(tmp_path, module, provider_id) -> None:
    """A GUID section may be written without braces, and other providers' sections are
    skipped."""
    folder, name = module
    other = uuid.uuid4()
    ini = write_ini(
        tmp_path,
        f"""
        [{other}]
        class = elsewhere:Other

        [{provider_id}]
        class = {name}:MyProvider
        path = {folder}
        """,
    )
    assert config.find(provider_id, str(ini)).class_spec == f"{name}:MyProvider"
    assert config.find(other, str(ini)).class_spec == "elsewhere:Other"


def assert_names_file_and_fix(exc: ConfigError, path: Path, *fix: str) -> None:
    message = str(exc)
    assert str(path) in message, message
    for words in fix:
        assert words in message, message


def test_missing_file(tmp_path, provider_id) -> None:
    """A configuration file that does not exist is a ConfigError naming it."""
    missing = tmp_path / "nope.ini"
    with pytest.raises(ConfigError) as info:
        config.find(provider_id, str(missing))
    assert_names_file_and_fix(info.value, missing, "does not exist", "create it")


def test_malformed_ini(tmp_path, provider_id) -> None:
    """A file that is not INI is a ConfigError naming it."""
    ini = write_ini(tmp_path, "this is = not\n[unclosed\nclass = x:y\n")
    with pytest.raises(ConfigError) as info:
        config.find(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, "not a valid INI file")


def test_bad_guid_section(tmp_path, provider_id) -> None:
    """A section that is not a GUID is a ConfigError showing how to write one."""
    ini = write_ini(tmp_path, "[my provider]\nclass = a:B\n")
    with pytest.raises(ConfigError) as info:
        config.find(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, "[my provider]", "xxxxxxxx-xxxx")


@pytest.mark.parametrize("line", ["", "class =", "class = module_without_colon"])
def test_missing_class(tmp_path, provider_id, line: str) -> None:
    """A section without `class = package.module:Class` is a ConfigError saying so."""
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        config.find(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, "class = package.module:ClassName")


def test_relative_path(tmp_path, module, provider_id) -> None:
    """A relative `path` is a ConfigError asking for an absolute one."""
    _, name = module
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = {name}:MyProvider\npath = lib\n")
    with pytest.raises(ConfigError) as info:
        config.find(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, "'lib'", "must be absolute")


def test_module_raises_on_import(tmp_path, provider_id) -> None:
    """A module that raises on import is a ConfigError with the exception and what to check."""
    folder = tmp_path / "lib"
    folder.mkdir()
    name = f"cfgmod_{uuid.uuid4().hex}"
    (folder / f"{name}.py").write_text("raise RuntimeError('broken module 77')\n")
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = {name}:P\npath = {folder}\n")
    with pytest.raises(ConfigError) as info:
        config.load_provider(provider_id, str(ini))
    assert_names_file_and_fix(
        info.value, ini, "cannot import", "RuntimeError", "broken module 77", "check `class`"
    )


def test_module_not_found(tmp_path, provider_id) -> None:
    """A module that cannot be found is a ConfigError telling to check class and path."""
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = cfgmod_missing_xyz:P\n")
    with pytest.raises(ConfigError) as info:
        config.load_provider(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, "cfgmod_missing_xyz", "check `class` and `path`")


def test_class_missing_from_module(tmp_path, module, provider_id) -> None:
    """A class name the module does not define is a ConfigError naming it."""
    folder, name = module
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = {name}:Nope\npath = {folder}\n")
    with pytest.raises(ConfigError) as info:
        config.load_provider(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, "'Nope'", "check `class`")


@pytest.mark.parametrize("attr", ["NotAProvider", "not_a_class"])
def test_class_not_a_provider(tmp_path, module, provider_id, attr: str) -> None:
    """A class (or object) that is not an nspv2.Provider subclass is a ConfigError."""
    folder, name = module
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = {name}:{attr}\npath = {folder}\n")
    with pytest.raises(ConfigError) as info:
        config.load_provider(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, "not a subclass of nspv2.Provider")


def test_guid_not_configured(tmp_path, provider_id) -> None:
    """A GUID the file does not name is NotConfigured, naming the file and the section to
    add."""
    ini = write_ini(tmp_path, f"[{{{uuid.uuid4()}}}]\nclass = a:B\n")
    with pytest.raises(NotConfigured) as info:
        config.find(provider_id, str(ini))
    assert_names_file_and_fix(info.value, ini, f"[{{{provider_id}}}]", "class = ")


def test_builtin_example_without_file(monkeypatch, tmp_path) -> None:
    """The built-in example GUID resolves with no configuration file at all."""
    monkeypatch.setattr(config, "default_files", lambda: [tmp_path / "absent.ini"])
    entry = config.find(EXAMPLE_PROVIDER_ID)
    assert entry.source == "built-in"
    provider = config.load_provider(EXAMPLE_PROVIDER_ID)
    assert type(provider).__name__ == "ZoneProvider"
    empty = write_ini(tmp_path, "")
    assert config.find(EXAMPLE_PROVIDER_ID, str(empty)).source == "built-in"


def test_set_config_file_override(tmp_path, module, provider_id) -> None:
    """set_config_file makes find() read that file; None goes back to the defaults."""
    folder, name = module
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = {name}:MyProvider\npath={folder}\n")
    config.set_config_file(ini)
    assert config.find(provider_id).source == str(ini)
    config.set_config_file(None)
    with pytest.raises(NotConfigured):
        config.find(provider_id)


@pytest.fixture
def library_config(native) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Points the provider library at a file with NSPv2SetConfigFile; restores the default."""
    used: list[uuid.UUID] = []

    def use(path: Path, guid: uuid.UUID) -> None:
        used.append(guid)
        assert native.provider.NSPv2SetConfigFile(str(path).encode()) == 0

    yield use
    native.provider.NSPv2SetConfigFile(native.ffi.NULL)
    for guid in used:
        _runtime.unregister(guid)


def test_provider_library_serves_configured_class(
    tmp_path, module, provider_id, native, library_config
) -> None:
    """NSPv2GetRoutine for a GUID only the configuration names loads the class, and lookups
    reach it."""
    folder, name = module
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = {name}:MyProvider\npath={folder}\n")
    library_config(ini, provider_id)
    routine = native.ffi.new("NSPV2_ROUTINE *")
    assert native.provider.NSPv2GetRoutine(native.guid(provider_id), routine) == 0
    nspv2.catalog.install(provider_id, "configured", nspv2.NS_DNS)
    try:
        with nspv2.client.winsock_session(native):
            c_guid = native.guid(provider_id)
            assert native.winsock.WSAAdvertiseProvider(c_guid, routine) == 0
            try:
                (result,) = nspv2.lookup("abc", provider_id=provider_id)
            finally:
                assert native.winsock.WSAUnadvertiseProvider(c_guid) == 0
    finally:
        nspv2.catalog.uninstall(provider_id)
    assert result.instance_name == "from-config:abc"


def test_provider_library_broken_configuration(
    tmp_path, provider_id, native, library_config, caplog
) -> None:
    """NSPv2GetRoutine for a configured class that fails to import answers
    WSAEPROVIDERFAILEDINIT (and logs why)."""
    ini = write_ini(tmp_path, f"[{{{provider_id}}}]\nclass = cfgmod_missing_abc:P\n")
    library_config(ini, provider_id)
    routine = native.ffi.new("NSPV2_ROUTINE *")
    native.winsock.WSASetLastError(0)
    with caplog.at_level("ERROR", logger="nspv2"):
        assert native.provider.NSPv2GetRoutine(native.guid(provider_id), routine) == -1
    assert native.winsock.WSAGetLastError() == nspv2.WSAEPROVIDERFAILEDINIT
    assert "cfgmod_missing_abc" in caplog.text


def test_log_settings_section(tmp_path: Path) -> None:
    """The [nspv2] section of providers.ini gives the host's log settings and is not taken for
    a provider GUID; `log_file = none` turns the file off."""
    from nspv2 import hostlog

    path = tmp_path / "providers.ini"
    path.write_text("[nspv2]\nlog_level = debug\nlog_file = none\n")
    path.chmod(0o644)
    assert config.read_file(path) == []
    values = config.log_values(str(path))
    chosen = hostlog.settings(values)
    assert chosen.level == logging.DEBUG and not chosen.enabled
    assert hostlog.settings({}).enabled and hostlog.settings({}).level == logging.WARNING


def test_log_file_is_checked_at_once_and_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host's log file is created when logging is configured (so a file that cannot be
    written is reported then), written in the host's format from its first record, and rotated
    at ROTATE_BYTES keeping ROTATE_COUNT old files."""
    from nspv2 import hostlog

    monkeypatch.setattr(hostlog, "ROTATE_BYTES", 300)
    logger = logging.getLogger("nspv2.test-rotation")
    file = tmp_path / "logs" / "host.log"
    try:
        assert hostlog.configure(logger, {"log_file": str(file), "log_level": "info"}) == file
        assert file.exists() and file.read_text() == ""
        for i in range(40):
            logger.info("record %d of the rotation test", i)
        assert " nspv2[" in file.read_text() and "INFO: record 39 " in file.read_text()
        rotated = sorted(p.name for p in file.parent.iterdir())
        assert rotated == ["host.log", "host.log.1", "host.log.2", "host.log.3"]
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("")
        assert hostlog.configure(logger, {"log_file": str(blocked / "host.log")}) is None
    finally:
        for handler in list(logger.handlers):
            handler.close()
            logger.removeHandler(handler)
