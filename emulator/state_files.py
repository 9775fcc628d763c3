"""The embedded backend's state files: checked before MiniStack reads them, backed up once it has
loaded them, and the API's account of its save at shutdown.

MiniStack saves each service as `<state>/ministack/<service>.json` when it stops, replacing the
file atomically (a `.tmp` beside it, then a rename). At start it logs a file it cannot parse and
goes on without it, then overwrites it at the next stop: so here a file that is not readable JSON
stops the start instead, and is never written.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

BACKUP_PARTIAL_PREFIX = ".partial-"
# Prefixes of a literal that a file cut short can end with.
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")


def ministack_dir(root: Path) -> Path:
    return root / "ministack"


def backup_dir(root: Path) -> Path:
    return root / "backup"


def checkpoints_dir(root: Path) -> Path:
    return root / "checkpoints"


def scratch_dir(root: Path) -> Path:
    """The API process's TMPDIR: function workers extract their code here, not in /tmp, and it
    is removed at every stop, so nothing of theirs outlives the backend."""
    return root / "tmp"


def shutdown_report_path(root: Path) -> Path:
    return root / "run" / "api.shutdown.json"


def shown(path: Path) -> str:
    """`path` relative to the current folder when inside it, as the user typed STATE_DIR."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def remove_interrupted_saves(root: Path) -> list[str]:
    """Delete the `.tmp` files a save cut short left behind (never the good copy: every save
    replaces its file atomically); returns one warning per file."""
    warnings = []
    for folder in (ministack_dir(root), checkpoints_dir(root)):
        for leftover in sorted(folder.glob("*.tmp")):
            size = leftover.stat().st_size
            leftover.unlink()
            warnings.append(
                f"removed {shown(leftover)} ({_size(size)}), left by an interrupted save; "
                f"the file beside it holds the last complete save"
            )
    return warnings


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} bytes"


def first_unreadable(root: Path) -> str | None:
    """One line naming the first state file MiniStack could not load, and what to do; None when
    every file is a JSON object."""
    for path in sorted(ministack_dir(root).glob("*.json")):
        reason = _unreadable_reason(path)
        if reason:
            backup = newest_backup_of(root, path.name)
            restore = f"restore it from {shown(backup)}, " if backup else ""
            return f"state file {shown(path)} {reason}: {restore}move it away to start without it, or make clean"
    return None


def _unreadable_reason(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if not data.strip():
        return "is empty"
    try:
        text = data.decode()
    except UnicodeDecodeError as error:
        return f"is not readable JSON (not UTF-8 at byte {error.start})"
    top_level: list[tuple[str, object]] = []

    def shallow(pairs: list[tuple[str, object]]) -> object:
        # Each object is dropped once parsed: only the last one, the top level, is kept, so a
        # file of hundreds of MB is checked in a fraction of what MiniStack takes to load it.
        top_level[:] = pairs
        return _Object

    try:
        parsed = json.loads(text, object_pairs_hook=shallow)
    except json.JSONDecodeError as error:
        rest = text[error.pos :].strip()
        if not rest or error.msg.startswith("Unterminated string") or any(w.startswith(rest) for w in _LITERALS):
            return f"is not readable JSON (truncated at byte {len(data)})"
        return f"is not readable JSON ({error.msg} at line {error.lineno} column {error.colno})"
    if parsed is not _Object:
        return "is not a JSON object"
    fields = dict(top_level)
    if "__ministack_format__" in fields and "payload" not in fields:
        return "is not a MiniStack state file (a format mark without a payload)"
    return None


class _Object:
    """What the check makes of every JSON object."""


def newest_backup_of(root: Path, name: str) -> Path | None:
    for generation in reversed(backup_generations(root)):
        if (generation / name).is_file():
            return generation / name
    return None


def backup_generations(root: Path) -> list[Path]:
    """Complete backups, oldest first (their names are UTC times)."""
    folder = backup_dir(root)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(BACKUP_PARTIAL_PREFIX))


def back_up(root: Path, generations: int, now: Callable[[], float] = time.time) -> Path | None:
    """Copy the state files (just loaded by MiniStack) to `backup/<UTC time>/`, unless the newest
    backup holds the same files; keep the newest `generations`. Copies, not hard links: a file
    damaged in place would take its hard-linked backup with it. Returns the new backup.
    Raises OSError (a full disk, say), leaving no partial backup behind."""
    files = sorted(ministack_dir(root).glob("*.json"))
    if generations <= 0 or not files:
        return None
    existing = backup_generations(root)
    if existing and _same_files(files, existing[-1]):
        return None
    folder = backup_dir(root)
    for partial in folder.glob(f"{BACKUP_PARTIAL_PREFIX}*"):
        shutil.rmtree(partial, ignore_errors=True)
    name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now()))
    partial = folder / f"{BACKUP_PARTIAL_PREFIX}{name}"
    try:
        partial.mkdir(parents=True)
        for path in files:
            shutil.copy2(path, partial / path.name)
        backup = folder / name
        if backup.exists():
            shutil.rmtree(backup)
        # Renamed once complete: a backup folder without the prefix is always whole.
        partial.rename(backup)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    for old in backup_generations(root)[:-generations]:
        shutil.rmtree(old, ignore_errors=True)
    return backup


def _same_files(files: list[Path], backup: Path) -> bool:
    """Copies keep size and modification time, and MiniStack rewrites a file only by replacing it."""
    backed_up = sorted(backup.glob("*.json"))
    if [p.name for p in backed_up] != [p.name for p in files]:
        return False
    return all(_signature(a) == _signature(b) for a, b in zip(files, backed_up, strict=True))


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def remove_scratch(root: Path) -> None:
    shutil.rmtree(scratch_dir(root), ignore_errors=True)


@dataclass(frozen=True)
class ShutdownReport:
    """What the API process saved when it stopped, from `run/api.shutdown.json`:
    `{"saved": ["dynamodb", ...], "failed": {"sqs": "No space left on device"}, "journal_truncated": false}`."""

    saved: tuple[str, ...]
    failed: Mapping[str, str]
    journal_truncated: bool

    @classmethod
    def parse(cls, text: str) -> ShutdownReport:
        """Raises ValueError when `text` is not such a report."""
        content = json.loads(text)
        if not isinstance(content, dict) or set(content) != {"saved", "failed", "journal_truncated"}:
            raise ValueError("not an object of saved, failed and journal_truncated")
        saved, failed, journal_truncated = content["saved"], content["failed"], content["journal_truncated"]
        if not isinstance(saved, list) or not all(isinstance(service, str) for service in saved):
            raise ValueError("saved is not a list of services")
        if not isinstance(failed, dict) or not all(isinstance(error, str) for error in failed.values()):
            raise ValueError("failed is not an object of errors by service")
        if not isinstance(journal_truncated, bool):
            raise ValueError("journal_truncated is not true or false")
        return cls(tuple(saved), failed, journal_truncated)


def read_shutdown_report(root: Path) -> ShutdownReport | None:
    """None when there is none; raises ValueError (OSError and JSON errors included) when it
    cannot be read."""
    path = shutdown_report_path(root)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ValueError(error.strerror or str(error)) from None
    return ShutdownReport.parse(text)


def save_outcome(root: Path) -> tuple[str | None, str | None]:
    """(error, warning) about the API's save at its last stop, each one line or None."""
    report_path, log = shown(shutdown_report_path(root)), shown(root / "logs" / "api.log")
    try:
        report = read_shutdown_report(root)
    except ValueError as error:
        return (
            None,
            f"the shutdown report {report_path} cannot be read ({error}): whether the state was saved is unknown",
        )
    if report is None:
        return None, f"the api process left no shutdown report ({report_path}): whether the state was saved is unknown"
    if not report.failed:
        return None, None
    failures = ", ".join(f"{service} ({error})" for service, error in sorted(report.failed.items()))
    return (
        f"the api process could not save {failures} when it stopped: "
        f"those state files were left as they were before; see {log}",
        None,
    )
