"""Registering a provider: the Winsock catalog entry, the GUID -> class configuration the
provider library reads, and optionally the host started at the user's logon.

Usable from a provider author's own script, the way pywin32's ``isapi.install`` is::

    # corp/directory.py
    import nspv2

    class Directory(nspv2.Provider):
        provider_id = uuid.UUID("2a9e3f52-0c55-4f4e-9a43-6d1c8f1e8c01")
        name = "corp directory"
        namespace = nspv2.NS_EMAIL
        domains = ("corp.example",)      # NS_EMAIL: the domains Winsock routes to it
        wildcard = False                 # NS_EMAIL: also names of domains nobody claims
        ...

    if __name__ == "__main__":
        from nspv2.registration import handle_command_line
        handle_command_line(Directory)   # python -m corp.directory install|uninstall|...

and from a shell: ``nspv2 install --provider corp.directory:Directory [--at-logon]``,
``nspv2 uninstall|enable|disable --provider ...``, ``nspv2 list``.

What ``install`` does:

1. writes the configuration (Windows: the registry key ``SOFTWARE\\nspv2\\Providers\\{GUID}``
   under HKLM, or HKCU with ``--user``, values ``Class`` and ``PythonPath``; elsewhere
   ``~/.config/nspv2/providers.ini`` of this user, or ``--config FILE``), refusing a folder
   other users can write;
2. WSCInstallNameSpaceEx(name, "", namespace, 1, GUID, blob), as Microsoft's NSPv2 sample
   installs its provider: an empty library path, since Winsock loads nothing for an NSPv2
   provider (it lives in the host that advertises it), and version 1; the blob of an NS_EMAIL
   provider is its NAPI_PROVIDER_INSTALLATION_BLOB (:mod:`nspv2.napi`): its domains, each
   primary, secondary or none (``--domain NAME[:LEVEL]``), and ``--wildcard``; on 64-bit
   Windows also WSCInstallNameSpaceEx32 for the 32-bit catalog, with the same entry;
3. on Windows, records the Python the host must use in ``nspv2-host.ini`` beside the native host;
4. with ``at_logon``: registers the native host to start at the user's logon (Windows: the
   ``HKCU\\...\\Run`` value ``nspv2-host``; elsewhere the systemd user unit
   ``~/.config/systemd/user/nspv2-host.service``, written, not started).

An install of a GUID already in the catalog fails (Winsock's rule); ``reinstall`` uninstalls
first. Without the rights to change the catalog the error says to run from an elevated prompt:
WSCInstallNameSpaceEx and WSCUnInstallNameSpace answer WSANO_RECOVERY for both "already
installed" and "not an administrator" (their pages), so an install that fails with it is
"already installed" when the GUID is in the catalog and "run elevated" otherwise; WSAEACCES and
ERROR_ACCESS_DENIED are "run elevated" too.
"""

from __future__ import annotations

import argparse
import configparser
import inspect
import os
import re
import shlex
import stat
import struct
import sys
import tempfile
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import _native, catalog, config
from ._constants import (
    NS_EMAIL,
    WSAEACCES,
    WSAEINVAL,
    WSANO_RECOVERY,
    Namespace,
    ProviderLevel,
)
from .errors import WinsockError
from .napi import Domain, InstallationBlob

WINDOWS = sys.platform == "win32"

#: What Windows answers a process that may not change the catalog besides WSAEACCES.
ERROR_ACCESS_DENIED = 5

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
RUN_VALUE = "nspv2-host"
UNIT_NAME = "nspv2-host.service"
HOST_INI = "nspv2-host.ini"


class RegistrationError(Exception):
    """Registration cannot go on; the message says why and what to do."""


class AccessDenied(RegistrationError):
    """The catalog or the configuration may not be changed by this process."""


ELEVATE = (
    "access denied: changing the Winsock catalog needs administrator rights; "
    "run from an elevated prompt (Run as administrator)"
)


@dataclass(frozen=True)
class ProviderSpec:
    """What registration needs to know about one provider."""

    provider_id: uuid.UUID
    name: str
    namespace: int
    class_spec: Optional[str] = None
    python_path: Tuple[str, ...] = ()
    domains: Tuple[Domain, ...] = ()
    wildcard: bool = False

    def blob(self) -> bytes:
        """The provider-specific catalog blob: NAPI_PROVIDER_INSTALLATION_BLOB for NS_EMAIL."""
        if self.namespace != NS_EMAIL:
            return b""
        return InstallationBlob(self.domains, self.wildcard).pack()


# ---- describing a provider ----


def spec_from_class(cls: type, class_spec: Optional[str] = None) -> ProviderSpec:
    """The spec from a provider class: ``provider_id``, ``name``, ``namespace`` and, for
    NS_EMAIL, optional ``domains`` (names, ``name:secondary`` or :class:`nspv2.napi.Domain`),
    ``wildcard`` and ``auth_level`` (the level of the domains named without one, primary by
    default) class attributes. The class spec and the folder to put on sys.path come from
    where the class is defined (a class in a script run as ``__main__`` is recorded under the
    script's file name)."""
    guid = getattr(cls, "provider_id", None)
    if guid is None:
        raise RegistrationError(
            f"{cls.__qualname__} has no `provider_id` class attribute (a uuid.UUID); add "
            f"one, a GUID of its own (python -c 'import uuid; print(uuid.uuid4())'); nspv2 "
            f"install also takes --guid"
        )
    python_path: Tuple[str, ...] = ()
    if class_spec is None:
        module = cls.__module__
        path_root: Optional[Path] = None
        source = inspect.getsourcefile(cls) if module in sys.modules else None
        if source is not None:
            here = Path(source).resolve()
            if module == "__main__":
                module = here.stem
                path_root = here.parent
            else:
                path_root = here.parents[module.count(".")]
        class_spec = f"{module}:{cls.__qualname__}"
        if path_root is not None and not _importable_from_sys_path(path_root):
            python_path = (str(path_root),)
    try:
        blob = InstallationBlob.of(
            getattr(cls, "domains", ()) or (),
            bool(getattr(cls, "wildcard", False)),
            ProviderLevel(getattr(cls, "auth_level", ProviderLevel.ProviderLevel_Primary)),
        )
    except ValueError as exc:
        raise RegistrationError(f"{cls.__qualname__}.domains: {exc}") from exc
    return ProviderSpec(
        provider_id=uuid.UUID(str(guid)),
        name=str(getattr(cls, "name", cls.__qualname__)),
        namespace=int(getattr(cls, "namespace", 0)),
        class_spec=class_spec,
        python_path=python_path,
        domains=blob.domains,
        wildcard=blob.wildcard,
    )


def _importable_from_sys_path(folder: Path) -> bool:
    """Whether ``folder`` is a site folder any Python here imports from anyway (not the current
    directory or a script folder, which a host would not have)."""
    import site
    import sysconfig

    sites = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    sites.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    return any(os.path.realpath(s) == os.path.realpath(folder) for s in sites)


def spec_from_string(text: str) -> ProviderSpec:
    """``package.module:Class`` -> the class's spec (imports it)."""
    entry = config.ProviderConfig(uuid.UUID(int=0), text, (), "--provider")
    if ":" not in text:
        raise RegistrationError(f"--provider {text!r}: write it as package.module:ClassName")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        cls = config.load_class(entry)
    except config.ConfigError as exc:
        raise RegistrationError(str(exc)) from exc
    return spec_from_class(cls)


# ---- the configuration ----


def _check_folder(folder: Path) -> None:
    """Refuses to write into a folder other users can write (or that another user owns)."""
    try:
        config.check_trusted(folder, "configuration folder")
    except config.ConfigError as exc:
        raise RegistrationError(str(exc)) from exc


def _write_private(path: Path, text: str, mode: int) -> None:
    """Writes ``text`` atomically (temporary file in the same folder, then rename) with
    ``mode``, after checking no other user can write the folder."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    _check_folder(folder)
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with _suppress_os():
            os.unlink(temp)
        raise


class _suppress_os:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)


def config_path(config_file: Optional[str] = None) -> Path:
    """The INI file registration writes (not on Windows, unless ``config_file`` is given)."""
    if config_file:
        return Path(config_file)
    user = config.user_file()
    if user is None:
        raise RegistrationError("no configuration file: name one with --config")
    return user


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        config.check_trusted(path, "nspv2 provider configuration")
        with open(path, encoding="utf-8") as f:
            parser.read_file(f, source=str(path))
    return parser


def write_config(spec: ProviderSpec, config_file: Optional[str] = None, user: bool = False) -> str:
    """Records ``GUID -> class`` where the provider library reads it; returns where."""
    if spec.class_spec is None:
        raise RegistrationError(
            f"{{{spec.provider_id}}}: no class to record; use --provider package.module:Class "
            f"(a GUID alone installs the catalog entry only with --no-config)"
        )
    if WINDOWS and not config_file:
        return _write_registry(spec, user)
    path = config_path(config_file)
    parser = _read_ini(path)
    section = f"{{{spec.provider_id}}}"
    kept: Dict[str, str] = {}  # what install does not write (`domains`): the user's, kept
    for existing in parser.sections():
        if existing.strip().strip("{}").lower() == str(spec.provider_id):
            kept.update((k, v) for k, v in parser[existing].items() if k not in ("class", "path"))
            parser.remove_section(existing)
    parser[section] = {"class": spec.class_spec}
    if spec.python_path:
        parser[section]["path"] = os.pathsep.join(spec.python_path)
    parser[section].update(kept)
    mode = 0o600 if path == config.user_file() else 0o644
    _write_private(path, _ini_text(parser), mode)
    return str(path)


def _ini_text(parser: configparser.ConfigParser) -> str:
    import io

    out = io.StringIO()
    out.write("# nspv2 providers: GUID -> class (written by `nspv2 install`)\n")
    parser.write(out)
    return out.getvalue()


def remove_config(
    provider_id: uuid.UUID, config_file: Optional[str] = None, user: bool = False
) -> bool:
    """Removes the GUID's configuration; False if there was none."""
    if WINDOWS and not config_file:
        return _remove_registry(provider_id, user)
    path = config_path(config_file)
    if not path.exists():
        return False
    parser = _read_ini(path)
    found = False
    for existing in parser.sections():
        if existing.strip().strip("{}").lower() == str(provider_id):
            parser.remove_section(existing)
            found = True
    if found:
        mode = stat.S_IMODE(os.stat(path).st_mode) & 0o644
        _write_private(path, _ini_text(parser), mode or 0o600)
    return found


def configured_ids(config_file: Optional[str] = None) -> List[uuid.UUID]:
    """Every GUID the configuration names (registry on Windows, INI files elsewhere)."""
    if WINDOWS and not config_file:
        return _registry_ids()
    files = [Path(config_file)] if config_file else config.default_files()
    found: List[uuid.UUID] = []
    for path in files:
        for entry in config.read_file(path):
            if entry.provider_id not in found:
                found.append(entry.provider_id)
    return found


def _winreg() -> Any:
    """The winreg module (Windows only), untyped so the module type-checks on every platform."""
    import importlib

    return importlib.import_module("winreg")


def _hive(user: bool) -> Any:
    winreg = _winreg()

    return winreg.HKEY_CURRENT_USER if user else winreg.HKEY_LOCAL_MACHINE


def _write_registry(spec: ProviderSpec, user: bool) -> str:
    winreg = _winreg()

    name = f"{config.REGISTRY_KEY}\\{{{spec.provider_id}}}"
    try:
        with winreg.CreateKeyEx(_hive(user), name, 0, winreg.KEY_SET_VALUE) as key:
            winreg.SetValueEx(key, "Class", 0, winreg.REG_SZ, spec.class_spec)
            winreg.SetValueEx(key, "PythonPath", 0, winreg.REG_SZ, ";".join(spec.python_path))
    except PermissionError as exc:
        raise AccessDenied(f"{ELEVATE} (writing HKLM\\{name}; or use --user)") from exc
    return f"{'HKCU' if user else 'HKLM'}\\{name}"


def _remove_registry(provider_id: uuid.UUID, user: bool) -> bool:
    winreg = _winreg()

    name = f"{config.REGISTRY_KEY}\\{{{provider_id}}}"
    try:
        winreg.DeleteKey(_hive(user), name)
    except FileNotFoundError:
        return False
    except PermissionError as exc:
        raise AccessDenied(f"{ELEVATE} (removing HKLM\\{name})") from exc
    return True


def _registry_ids() -> List[uuid.UUID]:
    winreg = _winreg()

    found: List[uuid.UUID] = []
    for user in (False, True):
        try:
            with winreg.OpenKey(_hive(user), config.REGISTRY_KEY) as key:
                i = 0
                while True:
                    try:
                        sub = winreg.EnumKey(key, i)
                    except OSError:
                        break
                    i += 1
                    with _suppress_os():
                        guid = uuid.UUID(sub.strip("{}"))
                        if guid not in found:
                            found.append(guid)
        except OSError:
            continue
    return found


# ---- the catalog ----


def _is_64bit_windows() -> bool:
    """Whether there is a 32-bit catalog to keep in step: 64-bit Windows with the real Winsock
    (the stand-in, NSPV2_WINSOCK_LIBRARY, has one catalog and no *32 functions)."""
    return WINDOWS and struct.calcsize("P") == 8 and _native.winsock_library() is None


_ws32: Any = None


def _catalog32() -> Any:
    """ws2_32's 32-bit catalog functions (64-bit Windows only), through cffi's ABI mode with a
    small cdef of their own (the stand-in has none of them)."""
    global _ws32
    if _ws32 is None:
        native = _native.load()
        import cffi

        ffi: Any = cffi.FFI()
        ffi.cdef(
            """
            typedef struct { unsigned long Data1; unsigned short Data2, Data3;
                             unsigned char Data4[8]; } GUID32;
            typedef struct { unsigned long cbSize; unsigned char *pBlobData; } BLOB32;
            int __stdcall WSCInstallNameSpaceEx32(wchar_t *, wchar_t *, unsigned long,
                                                  unsigned long, GUID32 *, BLOB32 *);
            int __stdcall WSCUnInstallNameSpace32(GUID32 *);
            int __stdcall WSCEnableNSProvider32(GUID32 *, int);
            """
        )
        _ws32 = (ffi, ffi.dlopen("ws2_32.dll"), native)
    return _ws32


def _check32(rc: int, what: str) -> None:
    if rc != 0:
        native = _catalog32()[2]
        raise WinsockError(native.winsock.WSAGetLastError())


def _call32(op: str, spec: ProviderSpec, enable: bool = True) -> None:
    ffi, lib, native = _catalog32()
    guid = ffi.new("GUID32 *")
    ffi.memmove(guid, spec.provider_id.bytes_le, 16)
    from .client import winsock_session

    with winsock_session(native):
        if op == "install":
            data = spec.blob()
            blob = ffi.new("BLOB32 *")
            keep = ffi.new("unsigned char[]", data) if data else ffi.NULL
            blob.cbSize = len(data)
            blob.pBlobData = keep
            rc = lib.WSCInstallNameSpaceEx32(spec.name, "", spec.namespace, 1, guid, blob)
        elif op == "uninstall":
            rc = lib.WSCUnInstallNameSpace32(guid)
        else:
            rc = lib.WSCEnableNSProvider32(guid, int(enable))
        _check32(rc, op)


def _catalog_call(action: Callable[[], None], what: str) -> None:
    """Runs a catalog change; the codes Windows gives a process without administrator rights
    become :class:`AccessDenied` (WSANO_RECOVERY is also "already installed" for an install:
    :func:`install` tells the two apart)."""
    try:
        action()
    except WinsockError as exc:
        if exc.code in (WSAEACCES, ERROR_ACCESS_DENIED, WSANO_RECOVERY):
            raise AccessDenied(f"{what}: {ELEVATE}") from exc
        raise


def _installed(provider_id: uuid.UUID) -> bool:
    return any(e.provider_id == provider_id for e in catalog.entries())


def install(
    spec: ProviderSpec,
    *,
    config_file: Optional[str] = None,
    user: bool = False,
    write_configuration: bool = True,
    at_logon: bool = False,
    unit_dir: Optional[Path] = None,
) -> List[str]:
    """Installs ``spec``: configuration, catalog entry (both catalogs on 64-bit Windows), the
    host's Python record and, with ``at_logon``, the logon start. Returns what it did, a line
    each."""
    done: List[str] = []
    if write_configuration and spec.class_spec is not None:
        done.append(f"configuration: {write_config(spec, config_file, user)}")
    try:
        _catalog_call(
            lambda: catalog.install(
                spec.provider_id, spec.name, spec.namespace, provider_specific=spec.blob()
            ),
            "WSCInstallNameSpaceEx",
        )
    except AccessDenied as exc:
        if _installed(spec.provider_id):
            raise RegistrationError(
                f"{{{spec.provider_id}}} is already in the Winsock catalog; use `reinstall` "
                f"(or `uninstall` first)"
            ) from exc
        raise
    done.append(f"catalog: {{{spec.provider_id}}} {spec.name!r} {_routing(spec)}")
    if spec.namespace == NS_EMAIL and not spec.domains and not spec.wildcard:
        done.append(
            "catalog: warning: no domain and no wildcard, so Winsock routes no name to this "
            "NS_EMAIL provider; add --domain NAME or --wildcard"
        )
    if _is_64bit_windows():
        _catalog_call(lambda: _call32("install", spec), "WSCInstallNameSpaceEx32")
        done.append("catalog (32-bit): installed")
    if WINDOWS:
        try:
            done.append(f"host Python: {write_host_ini()}")
        except OSError as exc:
            done.append(f"host Python: not recorded ({exc}); start nspv2-host with --python-home")
    if at_logon:
        done.append(f"logon: {register_logon(spec.provider_id, config_file, unit_dir)}")
    return done


def _routing(spec: ProviderSpec) -> str:
    """The namespace and, for NS_EMAIL, the domains, as install and list show them."""
    try:
        text = Namespace(spec.namespace).name
    except ValueError:
        text = str(spec.namespace)
    if spec.namespace == NS_EMAIL:
        text += f" ({InstallationBlob(spec.domains, spec.wildcard).describe()})"
    return text


def uninstall(
    spec: ProviderSpec,
    *,
    config_file: Optional[str] = None,
    user: bool = False,
    unit_dir: Optional[Path] = None,
    missing_ok: bool = False,
) -> List[str]:
    """Removes the catalog entries, the configuration and the logon start of ``spec``."""
    done: List[str] = []
    try:
        _catalog_call(lambda: catalog.uninstall(spec.provider_id), "WSCUnInstallNameSpace")
        done.append(f"catalog: {{{spec.provider_id}}} removed")
    except WinsockError as exc:
        if exc.code != WSAEINVAL or not missing_ok:
            if exc.code == WSAEINVAL:
                raise RegistrationError(
                    f"{{{spec.provider_id}}} is not in the Winsock catalog"
                ) from exc
            raise
    if _is_64bit_windows():
        try:
            _catalog_call(lambda: _call32("uninstall", spec), "WSCUnInstallNameSpace32")
        except WinsockError:
            pass  # not in the 32-bit catalog: nothing to remove
    if remove_config(spec.provider_id, config_file, user):
        done.append("configuration: removed")
    removed = unregister_logon(spec.provider_id, unit_dir)
    if removed:
        done.append(f"logon: {removed}")
    return done


def reinstall(spec: ProviderSpec, **options: Any) -> List[str]:
    """Uninstall (if installed), then install."""
    unit_dir = options.get("unit_dir")
    config_file = options.get("config_file")
    user = bool(options.get("user", False))
    done = uninstall(spec, config_file=config_file, user=user, unit_dir=unit_dir, missing_ok=True)
    return done + install(spec, **options)


def enable(spec: ProviderSpec, enabled: bool = True) -> List[str]:
    """WSCEnableNSProvider (and the 32-bit one on 64-bit Windows)."""
    try:
        _catalog_call(lambda: catalog.enable(spec.provider_id, enabled), "WSCEnableNSProvider")
    except WinsockError as exc:
        if exc.code == WSAEINVAL:
            raise RegistrationError(
                f"{{{spec.provider_id}}} is not in the Winsock catalog; install it first"
            ) from exc
        raise
    if _is_64bit_windows():
        try:
            _catalog_call(lambda: _call32("enable", spec, enabled), "WSCEnableNSProvider32")
        except WinsockError:
            pass
    return [f"catalog: {{{spec.provider_id}}} {'enabled' if enabled else 'disabled'}"]


@dataclass(frozen=True)
class Listed:
    """One catalog entry as ``list`` shows it."""

    entry: catalog.CatalogEntry
    ours: bool
    configured: bool
    class_spec: Optional[str] = None
    #: NS_EMAIL: the installation blob's domains and wildcard (:meth:`InstallationBlob.describe`).
    routing: Optional[str] = None


def listing(config_file: Optional[str] = None) -> List[Listed]:
    """Every catalog provider; ours are those whose GUID is configured, and the built-in example
    provider. (The catalog entry itself says nothing of nspv2: like Microsoft's sample, nspv2
    installs with an empty library path.)"""
    configured: Dict[uuid.UUID, Optional[str]] = {}
    with _suppress_os():
        for guid in configured_ids(config_file):
            try:
                configured[guid] = config.find(guid, config_file).class_spec
            except config.ConfigError:
                configured[guid] = None
    rows = []
    for entry in catalog.entries():
        rows.append(
            Listed(
                entry,
                ours=entry.provider_id in configured or entry.provider_id in config.BUILTIN,
                configured=entry.provider_id in configured,
                class_spec=configured.get(entry.provider_id),
                routing=_describe_blob(entry.provider_specific)
                if entry.namespace == NS_EMAIL
                else None,
            )
        )
    return rows


def _describe_blob(blob: bytes) -> str:
    """An NS_EMAIL entry's routing, from its installation blob, as ``list`` shows it."""
    if not blob:
        return "no installation blob: Winsock routes no name to it"
    try:
        return InstallationBlob.unpack(blob).describe()
    except ValueError as exc:
        return f"malformed installation blob: {exc}"


# ---- the host: its Python, and starting it at logon ----


def python_dll() -> Optional[Path]:
    """The python3XY.dll of this Python (Windows; None elsewhere or if not found)."""
    if not WINDOWS:
        return None
    name = f"python{sys.version_info[0]}{sys.version_info[1]}.dll"
    for folder in (
        sys.base_prefix,
        os.path.dirname(getattr(sys, "_base_executable", sys.executable)),
        sys.prefix,
    ):
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    return None


def host_ini_text(dll: Optional[Path] = None) -> str:
    """``nspv2-host.ini``: where the native host finds the Python this nspv2 is installed in."""
    dll = dll if dll is not None else python_dll()
    home = dll.parent if dll is not None else Path(sys.base_prefix)
    lines = [
        "; written by `nspv2 install`: the Python nspv2-host loads the provider library with",
        f"home = {home}",
    ]
    if dll is not None:
        lines.append(f"dll = {dll}")
    lines.append(f"executable = {sys.executable}")
    return "\n".join(lines) + "\n"


def write_host_ini(folder: Optional[Path] = None, dll: Optional[Path] = None) -> str:
    """Writes ``nspv2-host.ini`` beside the native host (or into ``folder``)."""
    target = (folder or _native.host_program().parent) / HOST_INI
    target.write_text(host_ini_text(dll), encoding="utf-8")
    return str(target)


def _host_command(guids: Sequence[uuid.UUID], config_file: Optional[str]) -> List[str]:
    command = [str(_native.host_program())]
    if WINDOWS:
        dll = python_dll()
        command += ["--python-home", str(dll.parent if dll else sys.base_prefix)]
    if config_file:
        command += ["--config", str(Path(config_file).resolve())]
    for guid in guids:
        command += ["--provider", str(guid)]
    return [*command, "--serve"]


_GUID_ARG = re.compile(r"--provider\s+[\"']?\{?([0-9a-fA-F-]{36})")
_CONFIG_ARG = re.compile(r"--config\s+(\"[^\"]*\"|\S+)")


def _guids_in(command: str) -> List[uuid.UUID]:
    return [uuid.UUID(m) for m in _GUID_ARG.findall(command)]


def _config_in(command: str) -> Optional[str]:
    m = _CONFIG_ARG.search(command)
    return m.group(1).strip('"') if m else None


def default_unit_dir() -> Path:
    user = config.user_file()
    home = user.parents[2] if user is not None else Path.home()
    return home / ".config" / "systemd" / "user"


def _quote_windows(args: Sequence[str]) -> str:
    import subprocess

    return subprocess.list2cmdline(list(args))


def _unit_text(command: List[str]) -> str:
    exec_start = " ".join(shlex.quote(a) for a in command)
    return (
        "# written by `nspv2 install --at-logon`; removed by `nspv2 uninstall`\n"
        "[Unit]\n"
        "Description=nspv2 Winsock namespace provider host\n\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        "Restart=on-failure\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _read_logon() -> Optional[str]:
    winreg = _winreg()

    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY) as key:
            return str(winreg.QueryValueEx(key, RUN_VALUE)[0])
    except OSError:
        return None


def register_logon(
    provider_id: uuid.UUID, config_file: Optional[str] = None, unit_dir: Optional[Path] = None
) -> str:
    """Starts the native host at this user's logon, serving ``provider_id`` and the providers
    already registered there. Returns where."""
    if WINDOWS:
        winreg = _winreg()

        existing = _read_logon() or ""
        guids = [g for g in _guids_in(existing) if g != provider_id] + [provider_id]
        command = _quote_windows(_host_command(guids, config_file or _config_in(existing)))
        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as k:
            winreg.SetValueEx(k, RUN_VALUE, 0, winreg.REG_SZ, command)
        return f"HKCU\\{RUN_KEY}\\{RUN_VALUE}"
    unit = (unit_dir or default_unit_dir()) / UNIT_NAME
    existing = unit.read_text(encoding="utf-8") if unit.exists() else ""
    guids = [g for g in _guids_in(existing) if g != provider_id] + [provider_id]
    text = _unit_text(_host_command(guids, config_file or _config_in(existing)))
    _write_private(unit, text, 0o644)
    return f"{unit} (not started: systemctl --user enable --now {UNIT_NAME})"


def unregister_logon(provider_id: uuid.UUID, unit_dir: Optional[Path] = None) -> Optional[str]:
    """Stops starting the host for ``provider_id`` at logon (removes the unit or the Run value
    when no provider is left). Returns what changed, or None."""
    if WINDOWS:
        winreg = _winreg()

        existing = _read_logon()
        if existing is None or provider_id not in _guids_in(existing):
            return None
        guids = [g for g in _guids_in(existing) if g != provider_id]
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, RUN_KEY, 0, winreg.KEY_SET_VALUE) as k:
            if guids:
                command = _quote_windows(_host_command(guids, _config_in(existing)))
                winreg.SetValueEx(k, RUN_VALUE, 0, winreg.REG_SZ, command)
                return f"HKCU\\{RUN_KEY}\\{RUN_VALUE} updated"
            winreg.DeleteValue(k, RUN_VALUE)
        return f"HKCU\\{RUN_KEY}\\{RUN_VALUE} removed"
    unit = (unit_dir or default_unit_dir()) / UNIT_NAME
    if not unit.exists():
        return None
    existing = unit.read_text(encoding="utf-8")
    if provider_id not in _guids_in(existing):
        return None
    guids = [g for g in _guids_in(existing) if g != provider_id]
    if guids:
        _write_private(unit, _unit_text(_host_command(guids, _config_in(existing))), 0o644)
        return f"{unit} updated"
    unit.unlink()
    return f"{unit} removed"


# ---- the command line ----


def namespace_arg(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(Namespace[text.upper()])
        except KeyError:
            raise argparse.ArgumentTypeError(f"unknown namespace {text!r}") from None


def add_spec_arguments(parser: argparse.ArgumentParser, with_class: bool = True) -> None:
    if with_class:
        parser.add_argument("--provider", metavar="package.module:Class", help="the provider class")
    parser.add_argument("--guid", help="the provider GUID (instead of or overriding the class's)")
    parser.add_argument("--name", help="the catalog identifier")
    parser.add_argument("--namespace", type=namespace_arg, help="NS_* name or number")
    parser.add_argument(
        "--domain",
        action="append",
        default=[],
        metavar="NAME[:LEVEL]",
        help="NS_EMAIL: a domain Winsock routes to it, LEVEL primary (the default), secondary "
        "or none; repeat for more",
    )
    parser.add_argument(
        "--wildcard",
        action="store_true",
        help="NS_EMAIL: fSupportsWildCard, also names no provider claims (and names with no @)",
    )


def add_location_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="the configuration INI file to write (default: yours)")
    parser.add_argument(
        "--user", action="store_true", help="Windows: HKCU instead of HKLM for the configuration"
    )


def spec_from_args(args: argparse.Namespace, cls: Optional[type] = None) -> ProviderSpec:
    spec: Optional[ProviderSpec] = None
    if cls is not None:
        spec = spec_from_class(cls)
    elif getattr(args, "provider", None):
        spec = spec_from_string(args.provider)
    if spec is None:
        if not args.guid:
            raise RegistrationError("name the provider: --provider package.module:Class or --guid")
        spec = ProviderSpec(
            provider_id=uuid.UUID(args.guid.strip("{}")),
            name=args.name or "nspv2 provider",
            namespace=args.namespace if args.namespace is not None else NS_EMAIL,
        )
    changes: Dict[str, Any] = {}
    if args.guid:
        changes["provider_id"] = uuid.UUID(args.guid.strip("{}"))
    if args.name:
        changes["name"] = args.name
    if args.namespace is not None:
        changes["namespace"] = args.namespace
    if args.domain:
        try:
            changes["domains"] = InstallationBlob.of(args.domain).domains
        except ValueError as exc:
            raise RegistrationError(f"--domain: {exc}") from exc
    if args.wildcard:
        changes["wildcard"] = True
    if changes:
        import dataclasses

        spec = dataclasses.replace(spec, **changes)
    return spec


def build_parser(
    parser: Optional[argparse.ArgumentParser] = None, with_class: bool = True
) -> argparse.ArgumentParser:
    """The verbs install, reinstall, uninstall, enable, disable, list on ``parser``'s
    subcommands (``nspv2``'s own parser, or a new one for handle_command_line)."""
    own = parser is None
    if parser is None:
        parser = argparse.ArgumentParser(description="register an nspv2 provider")
    sub = parser.add_subparsers(dest="command", required=True) if own else None
    return _add_verbs(parser, sub, with_class)


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    """``--verbose``: an error's traceback after its one-line explanation."""
    parser.add_argument(
        "--verbose", action="store_true", help="on an error, also print its traceback"
    )


def _add_verbs(
    parser: argparse.ArgumentParser, sub: Any, with_class: bool
) -> argparse.ArgumentParser:
    for verb, text in (
        ("install", "configuration + Winsock catalog entry (+ host at logon)"),
        ("reinstall", "uninstall (if installed), then install"),
        ("uninstall", "remove the catalog entry, configuration and logon start"),
        ("enable", "WSCEnableNSProvider(TRUE)"),
        ("disable", "WSCEnableNSProvider(FALSE)"),
    ):
        p = sub.add_parser(verb, help=text)
        add_verbose_argument(p)
        add_spec_arguments(p, with_class)
        add_location_arguments(p)
        if verb in ("install", "reinstall"):
            p.add_argument(
                "--at-logon", action="store_true", help="start the native host at your logon"
            )
            p.add_argument(
                "--no-config", action="store_true", help="catalog entry only, no configuration"
            )
        p.set_defaults(run=run_verb, verb=verb)
    p = sub.add_parser("list", help="every catalog provider; ours marked *")
    p.add_argument("--config", help="also count providers configured in this file as ours")
    p.set_defaults(run=run_list)
    return parser


def run_verb(args: argparse.Namespace, cls: Optional[type] = None) -> int:
    spec = spec_from_args(args, cls)
    common: Dict[str, Any] = {"config_file": args.config, "user": args.user}
    if args.verb in ("install", "reinstall"):
        options: Dict[str, Any] = dict(
            common,
            at_logon=args.at_logon,
            write_configuration=not args.no_config,
            unit_dir=getattr(args, "unit_dir", None),
        )
        done = (install if args.verb == "install" else reinstall)(spec, **options)
    elif args.verb == "uninstall":
        done = uninstall(spec, unit_dir=getattr(args, "unit_dir", None), **common)
    else:
        done = enable(spec, args.verb == "enable")
    for line in done:
        print(line)
    return 0


#: What `nspv2 list` and `nspv2 catalog` print for a catalog with no namespace provider.
EMPTY_CATALOG = (
    "the Winsock catalog has no namespace provider; install one with `nspv2 install --provider "
    "package.module:Class` (or run `nspv2 example`)"
)


def run_list(args: argparse.Namespace, cls: Optional[type] = None) -> int:
    rows = listing(args.config)
    if not rows:
        print(EMPTY_CATALOG)
    for row in rows:
        e = row.entry
        try:
            ns = Namespace(e.namespace).name
        except ValueError:
            ns = str(e.namespace)
        mark = "*" if row.ours else " "
        state = "enabled" if e.active else "disabled"
        extra = f" [{row.class_spec}]" if row.class_spec else ""
        if row.routing:
            extra += f" {row.routing}"
        print(f"{mark} {{{e.provider_id}}} {ns:<10} {state:<8} {e.identifier}{extra}")
    return 0


def handle_command_line(
    provider_class: Optional[type] = None, argv: Optional[Sequence[str]] = None
) -> int:
    """``install | reinstall | uninstall | enable | disable | list`` for ``provider_class``
    (the verbs take no --provider then), from a provider author's own script. Returns the exit
    status; errors are printed as one line, not a traceback."""
    parser = argparse.ArgumentParser(
        prog=os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "nspv2",
        description=f"register {getattr(provider_class, '__qualname__', 'an nspv2 provider')}",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_verbs(parser, sub, with_class=provider_class is None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    return run(args, provider_class)


def run(args: argparse.Namespace, cls: Optional[type] = None) -> int:
    """Runs a parsed verb, turning registration, configuration and Winsock errors into one line
    on stderr (the file, the GUID and the fix); ``--verbose`` adds the traceback after it."""
    try:
        code: int = args.run(args, cls) if cls is not None else args.run(args)
    except (RegistrationError, config.ConfigError, WinsockError) as exc:
        if isinstance(exc, WinsockError):
            print(f"nspv2: Winsock error: {exc.strerror} ({exc.code})", file=sys.stderr)
        else:
            print(f"nspv2: {exc}", file=sys.stderr)
        if getattr(args, "verbose", False):
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        elif hasattr(args, "verbose"):
            print("nspv2: run again with --verbose for the traceback", file=sys.stderr)
        return 1
    return code
