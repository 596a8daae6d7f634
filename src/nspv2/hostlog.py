"""Where the provider's log goes in a host without Python (nobody else configures logging
there): the host's stderr, when it has one, and a rotating log file.

The file is, by default:

- Linux: ``/var/log/nspv2/host.log`` for root, else ``~/.local/state/nspv2/host.log`` of the user
  the host runs as (from the password database, not ``$HOME``);
- Windows: ``%LOCALAPPDATA%\\nspv2\\host.log`` of that user.

It rotates at 1 MiB, keeping three old files. The configuration sets the level and may move the
file or turn it off: in ``providers.ini`` a section ``[nspv2]`` with ``log_level`` (DEBUG, INFO,
WARNING, ERROR), ``log_file`` (a path, or ``none``) and, on Windows, the registry values
``LogLevel``, ``LogFile`` and ``EventLog`` (1: also the Windows Event Log, source "nspv2", which
needs pywin32) under ``HKLM\\SOFTWARE\\nspv2`` (then HKCU). A log that cannot be written is
reported once on stderr; it never stops the provider.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

FORMAT = "%(asctime)s nspv2[%(process)d]: %(levelname)s: %(message)s"
ROTATE_BYTES = 1 << 20
ROTATE_COUNT = 3


@dataclass(frozen=True)
class LogSettings:
    level: int = logging.WARNING
    file: Optional[Path] = None  # None: the default place
    enabled: bool = True  # False: log_file = none
    event_log: bool = False


def default_file() -> Path:
    """The default log file of the user this process runs as."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "nspv2" / "host.log"
    import pwd

    if os.getuid() == 0:
        return Path("/var/log/nspv2/host.log")
    home = pwd.getpwuid(os.getuid()).pw_dir
    return Path(home) / ".local" / "state" / "nspv2" / "host.log"


class _RotatingFile(logging.Handler):
    """The rotating log file, opened by its first record: importing logging.handlers (with the
    socket, pickle and selectors modules it loads) was a tenth of a host's cold start, and most
    hosts log nothing."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._file: Optional[logging.Handler] = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._file is None:
                from logging.handlers import RotatingFileHandler

                self._file = RotatingFileHandler(
                    self.path, maxBytes=ROTATE_BYTES, backupCount=ROTATE_COUNT, encoding="utf-8"
                )
                self._file.setFormatter(self.formatter)
            self._file.emit(record)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()


def _level(text: str) -> int:
    level = logging.getLevelName(text.strip().upper())
    return level if isinstance(level, int) else logging.WARNING


def settings(values: Dict[str, str]) -> LogSettings:
    """LogSettings from the configuration's values (keys in lower case)."""
    file_text = values.get("log_file", "").strip()
    return LogSettings(
        level=_level(values.get("log_level", "WARNING")),
        file=Path(file_text) if file_text and file_text.lower() != "none" else None,
        enabled=file_text.lower() != "none",
        event_log=values.get("event_log", "").strip().lower() in ("1", "yes", "true", "on"),
    )


def configure(logger: logging.Logger, values: Dict[str, str]) -> Optional[Path]:
    """Gives ``logger`` its handlers (stderr if open, the rotating file, the Event Log if asked);
    returns the log file in use, or None."""
    chosen = settings(values)
    logger.setLevel(chosen.level)
    stream = sys.stderr
    if stream is not None and not getattr(stream, "closed", False):
        handler: logging.Handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("nspv2: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
    path = None
    if chosen.enabled:
        path = chosen.file or default_file()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8"):
                pass  # writable now: the handler opens it at its first record
            rotating = _RotatingFile(path)
        except OSError as exc:
            logger.warning("cannot write the log file %s (%s); logging to stderr only", path, exc)
            path = None
        else:
            rotating.setFormatter(logging.Formatter(FORMAT))
            logger.addHandler(rotating)
    if chosen.event_log and sys.platform == "win32":
        try:
            from logging.handlers import NTEventLogHandler

            logger.addHandler(NTEventLogHandler("nspv2"))
        except Exception as exc:  # pywin32 missing, or no right to register the source
            logger.warning("cannot log to the Windows Event Log (%s)", exc)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return path
