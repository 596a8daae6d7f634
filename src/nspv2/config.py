"""Which Python class serves which provider GUID, for hosts that are not Python.

A host written in C knows only GUIDs. The provider library finds the class for a GUID here,
the way pywin32's COM servers keep a class spec and an extra Python path per GUID:

- Windows: the registry key ``SOFTWARE\\nspv2\\Providers\\{GUID}`` under HKEY_LOCAL_MACHINE,
  then HKEY_CURRENT_USER, with string values ``Class`` (``package.module:Class``) and, optionally,
  ``PythonPath`` (folders separated by ``;``).
- Elsewhere: the INI file ``/etc/nspv2/providers.ini``, then ``~/.config/nspv2/providers.ini`` of
  the user the host runs as (found through the password database, never through $HOME or the
  current directory), with one section per provider::

      [{2a9e3f52-0c55-4f4e-9a43-6d1c8f1e8c01}]
      class = mypackage.provider:MyProvider
      path = /opt/myprovider/lib

A host may name another file instead (the native host's ``--config``, NSPv2SetConfigFile in C,
:func:`nspv2.config.set_config_file` in Python). The built-in example provider needs no entry.
Nothing a client sends is ever used to find or import code.
"""

from __future__ import annotations

import configparser
import importlib
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from .provider import Provider

#: The built-in example provider's GUID (nspv2.examples.zone).
EXAMPLE_PROVIDER_ID = uuid.UUID("5b4d8a3e-2f1c-4e7a-9b6d-0c3e5f7a9d21")
BUILTIN = {EXAMPLE_PROVIDER_ID: "nspv2.examples.zone:ZoneProvider"}

SYSTEM_FILE = Path("/etc/nspv2/providers.ini")
REGISTRY_KEY = r"SOFTWARE\nspv2\Providers"


class ConfigError(Exception):
    """The configuration is unreadable or malformed; the message names the file and the fix."""


class NotConfigured(ConfigError):
    """No configuration names the GUID."""


@dataclass(frozen=True)
class ProviderConfig:
    """One provider's entry: its class and the folders its code lives in."""

    provider_id: uuid.UUID
    class_spec: str
    python_path: Tuple[str, ...]
    source: str


def user_file() -> Optional[Path]:
    """~/.config/nspv2/providers.ini of the user the process runs as (not of $HOME)."""
    if sys.platform == "win32":
        return None
    import pwd

    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return None
    return Path(home) / ".config" / "nspv2" / "providers.ini"


def default_files() -> List[Path]:
    files = [SYSTEM_FILE]
    user = user_file()
    if user is not None:
        files.append(user)
    return files


def check_trusted(path: Path, what: str) -> None:
    """Refuses ``path`` if another user could change it: it, or a folder above it, is owned by
    someone other than root or this user, or is writable by group or others (folders with the
    sticky bit, like /tmp, excepted). On Windows the configuration is in the registry (HKLM is
    writable by administrators only, HKCU by its user) and module folders get the equivalent ACL
    check: no missing DACL, no write right for Everyone, Authenticated Users, INTERACTIVE or
    Users."""
    if sys.platform == "win32":
        _check_windows_acl(path, what)
        return
    import stat

    uid = os.getuid()
    resolved = Path(os.path.realpath(path))
    for candidate in [resolved, *resolved.parents]:
        try:
            info = os.stat(candidate)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot check the {what}: {exc}") from exc
        if info.st_uid not in (0, uid):
            raise ConfigError(
                f"{path}: refusing the {what}: {candidate} belongs to uid {info.st_uid}, "
                f"not to root or to this user (uid {uid}); fix the owner with chown"
            )
        sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky_dir:
            raise ConfigError(
                f"{path}: refusing the {what}: {candidate} is writable by other users "
                f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod go-w {candidate}`"
            )


# Rights that let a principal change a folder's or file's contents or its protection.
_WRITE_RIGHTS = (
    0x2  # FILE_WRITE_DATA / FILE_ADD_FILE
    | 0x4  # FILE_APPEND_DATA / FILE_ADD_SUBDIRECTORY
    | 0x40  # FILE_DELETE_CHILD
    | 0x10000  # DELETE
    | 0x40000  # WRITE_DAC
    | 0x80000  # WRITE_OWNER
    | 0x10000000  # GENERIC_ALL
    | 0x40000000  # GENERIC_WRITE
)
# WELL_KNOWN_SID_TYPE values of principals that stand for "other users".
_BROAD_SIDS = {1: "Everyone", 4: "INTERACTIVE", 17: "Authenticated Users", 27: "Users"}


def _check_windows_acl(path: Path, what: str) -> None:
    """The Windows form of check_trusted: refuses ``path`` if its DACL is missing (everyone may do
    anything) or lets Everyone, Authenticated Users, INTERACTIVE or Users write to it."""
    import ctypes
    from ctypes import wintypes

    advapi = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]
    kernel = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    dacl, descriptor = ctypes.c_void_p(), ctypes.c_void_p()
    error = advapi.GetNamedSecurityInfoW(
        ctypes.c_wchar_p(str(path)),
        1,
        4,
        None,
        None,
        ctypes.byref(dacl),
        None,
        ctypes.byref(descriptor),
    )  # fmt: skip  (SE_FILE_OBJECT, DACL_SECURITY_INFORMATION)
    if error != 0:
        raise ConfigError(f"{path}: cannot read the {what}'s permissions (Windows error {error})")
    try:
        if not dacl.value:
            raise ConfigError(
                f"{path}: refusing the {what}: it has no access control list, so every user may "
                f"change it; give it the permissions of its parent folder (icacls /reset)"
            )

        class AclSizeInformation(ctypes.Structure):
            _fields_ = [
                ("count", wintypes.DWORD),
                ("used", wintypes.DWORD),
                ("free", wintypes.DWORD),
            ]

        info = AclSizeInformation()
        if not advapi.GetAclInformation(dacl, ctypes.byref(info), ctypes.sizeof(info), 2):
            raise ConfigError(f"{path}: cannot read the {what}'s access control list")
        broad = []
        for kind, label in _BROAD_SIDS.items():
            sid = ctypes.create_string_buffer(68)  # SECURITY_MAX_SID_SIZE
            size = wintypes.DWORD(len(sid))
            if advapi.CreateWellKnownSid(kind, None, sid, ctypes.byref(size)):
                broad.append((sid, label))
        for index in range(info.count):
            ace = ctypes.c_void_p()
            if not advapi.GetAce(dacl, index, ctypes.byref(ace)) or not ace.value:
                continue
            header = ctypes.string_at(ace.value, 8)
            ace_type, ace_flags, mask = header[0], header[1], int.from_bytes(header[4:8], "little")
            if ace_type != 0 or ace_flags & 0x8 or not mask & _WRITE_RIGHTS:
                continue  # not ACCESS_ALLOWED, inherit-only, or no write right
            for sid, label in broad:
                if advapi.EqualSid(ctypes.c_void_p(ace.value + 8), sid):
                    raise ConfigError(
                        f"{path}: refusing the {what}: {label} may write to it; remove that "
                        f'permission (icacls "{path}" /remove:g "{label}") or use a folder '
                        f"only administrators can write, such as Program Files"
                    )
    finally:
        kernel.LocalFree(descriptor)


def _section_guid(section: str, source: Path) -> uuid.UUID:
    try:
        return uuid.UUID(section.strip().strip("{}"))
    except ValueError:
        raise ConfigError(
            f"{source}: section [{section}] is not a provider GUID; "
            f"write it as [{{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}}]"
        ) from None


def read_file(path: Path) -> List[ProviderConfig]:
    """Every provider entry of one INI file; ConfigError naming the file if it is malformed."""
    parser = configparser.ConfigParser(interpolation=None)
    if not path.exists():
        return []
    check_trusted(path, "nspv2 provider configuration")
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f, source=str(path))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the nspv2 provider configuration: {exc}") from exc
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid INI file ({exc}); see nspv2.config") from exc
    entries = []
    for section in parser.sections():
        guid = _section_guid(section, path)
        spec = parser.get(section, "class", fallback="").strip()
        if ":" not in spec:
            raise ConfigError(
                f"{path}: [{section}] needs `class = package.module:ClassName` (got {spec!r})"
            )
        raw_path = parser.get(section, "path", fallback="")
        folders = tuple(
            p.strip() for p in raw_path.replace(os.pathsep, "\n").splitlines() if p.strip()
        )
        for folder in folders:
            if not os.path.isabs(folder):
                raise ConfigError(
                    f"{path}: [{section}] path {folder!r} must be absolute "
                    f"(a relative one would depend on the host's current directory)"
                )
        entries.append(ProviderConfig(guid, spec, folders, str(path)))
    return entries


def _read_registry(guid: uuid.UUID) -> Optional[ProviderConfig]:
    if sys.platform != "win32":
        return None
    import winreg

    name = f"{REGISTRY_KEY}\\{{{guid}}}"
    for root, label in ((winreg.HKEY_LOCAL_MACHINE, "HKLM"), (winreg.HKEY_CURRENT_USER, "HKCU")):
        try:
            with winreg.OpenKey(root, name) as key:
                spec = str(winreg.QueryValueEx(key, "Class")[0])
                try:
                    folders = str(winreg.QueryValueEx(key, "PythonPath")[0])
                except OSError:
                    folders = ""
        except OSError:
            continue
        return ProviderConfig(
            guid, spec, tuple(p for p in folders.split(";") if p), f"{label}\\{name}"
        )
    return None


_override: Optional[Path] = None


def set_config_file(path: Optional[os.PathLike[str] | str]) -> None:
    """Read providers from ``path`` instead of the default locations (None: back to them)."""
    global _override
    _override = Path(path) if path is not None else None


def find(guid: uuid.UUID, config_file: Optional[str] = None) -> ProviderConfig:
    """The entry for ``guid``: the given file, or the default locations, or a built-in."""
    chosen = Path(config_file) if config_file else _override
    if chosen is not None:
        files = [chosen]
        if not chosen.exists():
            raise ConfigError(
                f"{chosen}: the nspv2 provider configuration file does not exist; create it "
                f"or name an existing file (--config, NSPv2SetConfigFile, set_config_file)"
            )
    elif sys.platform == "win32":
        entry = _read_registry(guid)
        if entry is not None:
            return entry
        files = []
    else:
        files = default_files()
    for path in files:
        for entry in read_file(path):
            if entry.provider_id == guid:
                return entry
    if guid in BUILTIN:
        return ProviderConfig(guid, BUILTIN[guid], (), "built-in")
    where = ", ".join(str(f) for f in files) or f"HKLM/HKCU\\{REGISTRY_KEY}"
    raise NotConfigured(
        f"no provider is configured for {{{guid}}} in {where}; add a section "
        f"[{{{guid}}}] with `class = package.module:ClassName` (or run `nspv2 install`)"
    )


def load_class(entry: ProviderConfig) -> type[Provider]:
    """Imports the entry's class, with its folders first on sys.path."""
    for folder in entry.python_path:
        check_trusted(Path(folder), f"module folder of provider {{{entry.provider_id}}}")
    for folder in reversed(entry.python_path):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module_name, _, class_name = entry.class_spec.partition(":")
    try:
        module = importlib.import_module(module_name.strip())
    except BaseException as exc:  # SystemExit at import too: a host must get a clear error
        raise ConfigError(
            f"{entry.source}: provider {{{entry.provider_id}}}: cannot import {module_name!r} "
            f"({type(exc).__name__}: {exc}); check `class` and `path`"
        ) from exc
    cls = module
    for part in class_name.strip().split("."):
        cls = getattr(cls, part, None)  # type: ignore[assignment]
        if cls is None:
            raise ConfigError(
                f"{entry.source}: provider {{{entry.provider_id}}}: {module_name} has no "
                f"{class_name!r}; check `class`"
            )
    if not isinstance(cls, type) or not issubclass(cls, Provider):
        raise ConfigError(
            f"{entry.source}: provider {{{entry.provider_id}}}: {entry.class_spec} is not a "
            f"subclass of nspv2.Provider"
        )
    return cls


def load_provider(guid: uuid.UUID, config_file: Optional[str] = None) -> Provider:
    """An instance of the class configured for ``guid``."""
    entry = find(guid, config_file)
    cls = load_class(entry)
    try:
        return cls()
    except BaseException as exc:
        raise ConfigError(
            f"{entry.source}: provider {{{guid}}}: cannot create {entry.class_spec} "
            f"({type(exc).__name__}: {exc}); its __init__ must succeed without arguments"
        ) from exc
