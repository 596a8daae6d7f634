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
      domains = corp.example, corp.test

``domains`` (Windows: a ``Domains`` string value), optional, replaces the class's ``domains``:
the names the provider serves (:mod:`nspv2.domains`), separated by commas or spaces.

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
from typing import Any, Dict, List, Optional, Tuple

from . import domains
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
    #: The configured ``domains`` (normalized), or None to keep the class's.
    domains: Optional[Tuple[str, ...]] = None

    @property
    def label(self) -> str:
        """How messages name the provider: ``provider {GUID}``, or ``provider module:Class``
        where the GUID is not known before the class is (the nil GUID: ``--provider``,
        ``nspv2 check``)."""
        if self.provider_id.int == 0:
            return f"provider {self.class_spec}"
        return f"provider {{{self.provider_id}}}"


def parse_domains(text: str, where: str) -> Tuple[str, ...]:
    """A configured ``domains`` value (names separated by commas or spaces), normalized;
    ConfigError naming ``where`` for a name that is not a domain."""
    try:
        return domains.normalize(text.replace(",", " ").split(), f"{where} domains")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{exc}; write `domains = corp.example, corp.test`") from None


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


def check_trusted(path: Path, what: str, import_root: Optional[Path] = None) -> None:
    """Refuses ``path`` if another user could change it (OpenSSH's StrictModes rule): it, or a
    folder above it, is owned by someone other than root or this user, or is writable by group
    or others. A folder with the sticky bit (like /tmp) is accepted above the path, where it
    only lets users add their own entries, but never as ``path``'s own folder nor at or below
    ``import_root`` (the import folder a module file is found in): there, anyone could add a
    module. Symbolic links are followed: the folders checked are those of the real path.

    On Windows the configuration is in the registry (HKLM is writable by administrators only,
    HKCU by its user) and folders and files get the equivalent ACL check: no missing DACL, no
    write right for Everyone, Authenticated Users, INTERACTIVE or Users; each file and folder
    from ``import_root`` down to ``path`` is checked."""
    resolved = Path(os.path.realpath(path))
    root = Path(os.path.realpath(import_root)) if import_root is not None else None
    # Where a sticky world-writable folder is not enough: the path, the import folder and what is
    # below it, and the real folder of a module file that a symbolic link put outside it.
    strict_folders = set()
    if root is not None:
        strict_folders = {root} if resolved.is_dir() else {root, resolved.parent}

    def strict(candidate: Path) -> bool:
        return (
            candidate == resolved
            or candidate in strict_folders
            or (root is not None and root in candidate.parents)
        )

    if sys.platform == "win32":
        for candidate in [resolved, *resolved.parents]:
            if strict(candidate):
                _check_windows_acl(candidate, what, path)
        return
    import stat

    uid = os.getuid()
    for candidate in [resolved, *resolved.parents]:
        try:
            info = os.stat(candidate)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot check the {what}: {exc}") from exc
        if info.st_uid not in (0, uid):
            raise ConfigError(
                f"{path}: refusing the {what}: {candidate} belongs to {_user(info.st_uid)}, "
                f"who is neither root nor the user this host runs as ({_user(uid)}), so that "
                f"user can change it; run `chown {_user_name(uid)} {candidate}` (as root) or "
                f"move the file to a folder of yours"
            )
        writers = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if not writers:
            continue
        sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
        if sticky_dir and not strict(candidate):
            continue
        who = (
            "every user"
            if info.st_mode & stat.S_IWOTH
            else f"the members of group {_group(info.st_gid)}"
        )
        mode = f"mode {stat.S_IMODE(info.st_mode):o}"
        if sticky_dir:
            raise ConfigError(
                f"{path}: refusing the {what}: {candidate} is a shared folder ({mode}, sticky) "
                f"where {who} can add files, so anyone could plant a module there; move the "
                f"code into a folder only root or {_user_name(uid)} can write (such as "
                f"/opt/<name>) and point the configuration at it"
            )
        raise ConfigError(
            f"{path}: refusing the {what}: {candidate} is writable by other users: {who} "
            f"({mode}); run `chmod go-w {candidate}`"
        )


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _user(uid: int) -> str:
    return f"user {_user_name(uid)} (uid {uid})"


def _group(gid: int) -> str:
    import grp

    try:
        return f"{grp.getgrgid(gid).gr_name} (gid {gid})"
    except KeyError:
        return f"gid {gid}"


def _installation() -> Tuple[Path, ...]:
    """The folders of the Python installation the library runs (standard library and
    site-packages, of a virtual environment and of its base): trusted as installed."""
    import sysconfig

    base = {
        "base": sys.base_prefix,
        "platbase": sys.base_exec_prefix,
        "installed_base": sys.base_prefix,
        "installed_platbase": sys.base_exec_prefix,
    }
    folders = {os.path.dirname(os.__file__)}  # the standard library really used (a zip too)
    for paths in (sysconfig.get_paths(), sysconfig.get_paths(vars=base)):
        folders.update(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    return tuple(Path(os.path.realpath(folder)) for folder in folders)


def _installed(path: Path, installation: Tuple[Path, ...]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == folder or folder in real.parents for folder in installation)


def _import_root(path: str) -> Optional[Path]:
    """The sys.path entry ``path`` was found under (the longest that contains it)."""
    target = Path(os.path.abspath(path))
    best: Optional[Path] = None
    for entry in sys.path:
        folder = Path(os.path.abspath(entry or os.curdir))
        if (folder == target or folder in target.parents) and (
            best is None or len(folder.parts) > len(best.parts)
        ):
            best = folder
    return best


def import_files(module_name: str) -> List[Path]:
    """The files and folders importing ``module_name`` would read, found without running any
    of them: for each package on the way, its ``__init__`` and its folder, then the module, and
    each one's cached bytecode where it exists. Modules already imported are not listed."""
    import importlib.machinery
    import importlib.util

    files: List[Path] = []
    search: Optional[List[str]] = None  # sys.path, for the top-level name
    parts = module_name.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        module = sys.modules.get(name)
        if module is not None:
            search = list(getattr(module, "__path__", None) or []) or None
            continue
        spec = importlib.machinery.PathFinder.find_spec(name, search)
        if spec is None and depth == 1:
            spec = importlib.util.find_spec(name)  # other finders; a top-level name runs nothing
        if spec is None:
            break  # the import will fail and say so
        if spec.has_location and spec.origin:
            files += _with_bytecode(Path(spec.origin))
        locations = list(spec.submodule_search_locations or [])
        files.extend(Path(folder) for folder in locations)
        search = locations or None
    return files


class _GuardedFolders:
    """A finder first on sys.meta_path that checks, when it is imported, every module found in a
    folder a configuration added to the import path (the provider's own later imports), as
    check_import checks the provider's class: a refusal is an ImportError naming the file."""

    def __init__(self) -> None:
        self.folders: dict[Path, str] = {}  # real import folder -> what it is (for messages)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or not spec.has_location or not spec.origin:
            return None  # not ours: the usual finders go on
        real = Path(os.path.realpath(spec.origin))
        for folder, what in self.folders.items():
            if folder in real.parents:
                try:
                    for file in _with_bytecode(Path(spec.origin)):
                        check_trusted(file, what, folder)
                except ConfigError as exc:
                    raise ImportError(str(exc), name=name, path=spec.origin) from None
                return spec
        return None


_guard = _GuardedFolders()


def _with_bytecode(origin: Path) -> List[Path]:
    """A module's file, and its bytecode cache folder and file where they exist."""
    import importlib.util

    files = [origin]
    if origin.suffix == ".py":
        try:
            cached = Path(importlib.util.cache_from_source(str(origin)))
        except (NotImplementedError, ValueError):
            return files
        files += [p for p in (cached.parent, cached) if p.exists()]
    return files


def check_import(entry: ProviderConfig) -> None:
    """Before anything of the provider's is imported: every folder the entry adds to the import
    path, and every file and folder its class is imported from (the module, each package
    ``__init__`` on the way, the folders between them and their bytecode caches) pass
    :func:`check_trusted`, with the import folder as the strict root. What lies inside the Python
    installation the library runs (its standard library and site-packages) is trusted as
    installed."""
    for folder in entry.python_path:
        what = f"module folder of {entry.label}"
        check_trusted(Path(folder), what, Path(folder))
        real = Path(os.path.realpath(folder))
        _guard.folders.setdefault(real, f"module of {entry.label}")
    if _guard.folders and _guard not in sys.meta_path:
        sys.meta_path.insert(0, _guard)
    installation = _installation()
    module_name = entry.class_spec.partition(":")[0].strip()
    for file in import_files(module_name):
        if _installed(file, installation):
            continue
        check_trusted(
            file,
            f"code of {entry.label} ({module_name})",
            _import_root(str(file)) or file.parent,
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


def _check_windows_acl(path: Path, what: str, checked: Optional[Path] = None) -> None:
    """The Windows form of check_trusted: refuses ``path`` (a folder or file ``checked`` is or is
    in) if its DACL is missing (everyone may do anything) or lets Everyone, Authenticated Users,
    INTERACTIVE or Users write to it."""
    named = checked if checked is not None else path
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
        raise ConfigError(
            f"{named}: cannot read the {what}'s permissions ({path}: Windows error {error})"
        )
    try:
        if not dacl.value:
            raise ConfigError(
                f"{named}: refusing the {what}: {path} has no access control list, so every "
                f'user may change it; give it its parent\'s permissions (icacls "{path}" /reset)'
            )

        class AclSizeInformation(ctypes.Structure):
            _fields_ = [
                ("count", wintypes.DWORD),
                ("used", wintypes.DWORD),
                ("free", wintypes.DWORD),
            ]

        info = AclSizeInformation()
        if not advapi.GetAclInformation(dacl, ctypes.byref(info), ctypes.sizeof(info), 2):
            raise ConfigError(f"{named}: cannot read the access control list of {path}")
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
                        f"{named}: refusing the {what}: {label} may write to {path}; remove "
                        f'that permission (icacls "{path}" /remove:g "{label}") or use a '
                        f"folder only administrators can write, such as Program Files"
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
        if section.strip().lower() == SETTINGS_SECTION:
            continue
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
        raw_domains = parser.get(section, "domains", fallback=None)
        served = (
            parse_domains(raw_domains, f"{path}: [{section}]") if raw_domains is not None else None
        )
        entries.append(ProviderConfig(guid, spec, folders, str(path), served))
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
                try:
                    served: Optional[str] = str(winreg.QueryValueEx(key, "Domains")[0])
                except OSError:
                    served = None
        except OSError:
            continue
        where = f"{label}\\{name}"
        return ProviderConfig(
            guid,
            spec,
            tuple(p for p in folders.split(";") if p),
            where,
            parse_domains(served, where) if served is not None else None,
        )
    return None


_override: Optional[Path] = None

#: The section of providers.ini that holds the host's own settings (nspv2.hostlog's).
SETTINGS_SECTION = "nspv2"


def log_values(config_file: Optional[str] = None) -> Dict[str, str]:
    """The host's log settings: the ``[nspv2]`` section of the configuration file in use (the
    first of the default files that has one), or on Windows the values ``LogLevel``, ``LogFile``
    and ``EventLog`` of ``SOFTWARE\\nspv2`` (HKLM, then HKCU); keys in lower case."""
    if sys.platform == "win32" and not (config_file or _override):
        return _registry_log_values()
    return settings(config_file)[1]


def settings(config_file: Optional[str] = None) -> Tuple[Optional[Path], Dict[str, str]]:
    """The ``[nspv2]`` section of the configuration file in use (the first of the default files
    that has one), keys in lower case, and that file; (None, {}) where none has one."""
    chosen = Path(config_file) if config_file else _override
    for path in [chosen] if chosen is not None else default_files():
        if not path.exists():
            continue
        check_trusted(path, "nspv2 provider configuration")
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(path, encoding="utf-8") as f:
                parser.read_file(f, source=str(path))
        except (OSError, UnicodeDecodeError, configparser.Error):
            continue  # read_file reports it when the providers are loaded
        for section in parser.sections():
            if section.strip().lower() == SETTINGS_SECTION:
                return path, {k.lower(): v for k, v in parser.items(section)}
    return None, {}


def allowed_users(config_file: Optional[str] = None) -> Tuple[str, Tuple[int, ...]]:
    """The users other than the host's own whose processes may reach what ``nspv2 serve``
    advertises (off Windows): ``allow_users`` in the ``[nspv2]`` section, user names or
    numeric uids separated by commas or spaces, and the file that says so; () when not set.
    ConfigError naming the file for a user the system does not know."""
    path, values = settings(config_file)
    text = values.get("allow_users", "")
    if not text.strip() or sys.platform == "win32":
        return str(path), ()
    import pwd

    uids: List[int] = []
    for word in text.replace(",", " ").split():
        try:
            uid = int(word) if word.isdigit() else pwd.getpwnam(word).pw_uid
        except KeyError:
            raise ConfigError(
                f"{path}: [nspv2] allow_users: no user {word!r} on this system; write user "
                f"names or numeric uids separated by commas"
            ) from None
        if uid not in uids:
            uids.append(uid)
    return str(path), tuple(uids)


def _registry_log_values() -> Dict[str, str]:
    if sys.platform != "win32":
        return {}
    import winreg

    names = {"LogLevel": "log_level", "LogFile": "log_file", "EventLog": "event_log"}
    key_name = REGISTRY_KEY.rsplit("\\", 1)[0]
    for root in (winreg.HKEY_LOCAL_MACHINE, winreg.HKEY_CURRENT_USER):
        try:
            with winreg.OpenKey(root, key_name) as key:
                values = {}
                for name, setting in names.items():
                    try:
                        values[setting] = str(winreg.QueryValueEx(key, name)[0])
                    except OSError:
                        pass
                if values:
                    return values
        except OSError:
            continue
    return {}


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
    """Imports the entry's class, with its folders first on sys.path, once check_import has
    passed everything the import will read (if it refuses, the folders leave sys.path again)."""
    added = [folder for folder in reversed(entry.python_path) if folder not in sys.path]
    for folder in added:
        sys.path.insert(0, folder)
    try:
        check_import(entry)
    except ConfigError:
        for folder in added:
            sys.path.remove(folder)
        raise
    module_name, _, class_name = entry.class_spec.partition(":")
    try:
        module = importlib.import_module(module_name.strip())
    except BaseException as exc:  # SystemExit at import too: a host must get a clear error
        raise ConfigError(
            f"{entry.source}: {entry.label}: cannot import {module_name!r} "
            f"({type(exc).__name__}: {exc}); check `class` and `path`"
        ) from exc
    cls = module
    for part in class_name.strip().split("."):
        cls = getattr(cls, part, None)  # type: ignore[assignment]
        if cls is None:
            raise ConfigError(
                f"{entry.source}: {entry.label}: {module_name} has no {class_name!r}; check `class`"
            )
    if not isinstance(cls, type) or not issubclass(cls, Provider):
        raise ConfigError(
            f"{entry.source}: {entry.label}: {entry.class_spec} is not a subclass of nspv2.Provider"
        )
    return cls


def create(entry: ProviderConfig) -> Provider:
    """An instance of the entry's class (imported by :func:`load_class`); ConfigError naming
    the entry, the class and the fix if its ``__init__`` fails."""
    cls = load_class(entry)
    try:
        provider = cls()
    except BaseException as exc:
        raise ConfigError(
            f"{entry.source}: {entry.label}: cannot create {entry.class_spec} "
            f"({type(exc).__name__}: {exc}); its __init__ must succeed without arguments"
        ) from exc
    if entry.domains is not None:
        try:
            provider.domains = entry.domains  # the configuration's, over the class's
        except AttributeError as exc:
            raise ConfigError(
                f"{entry.source}: {entry.label}: `domains` is configured, but "
                f"{entry.class_spec} instances cannot take it ({exc})"
            ) from exc
    return provider


def load_provider(guid: uuid.UUID, config_file: Optional[str] = None) -> Provider:
    """An instance of the class configured for ``guid``."""
    return create(find(guid, config_file))
