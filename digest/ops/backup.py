"""Online backups of the database: `digest backup`.

Backups use SQLite's online backup API (safe while the service and a run are writing), land in
a timestamped 0600 file, are checked with `PRAGMA integrity_check`, and old ones are pruned.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from digest.config import Config
from digest.errors import DigestError, UsageError

BACKUP_PREFIX = "digest-"
BACKUP_NAME_RE = re.compile(r"digest-\d{8}T\d{12}Z\.db")  # digest-20260101T003000123456Z.db


@dataclass
class BackupReport:
    path: Path
    size_bytes: int
    integrity: str
    seconds: float
    pruned: list[Path] = field(default_factory=list)


def backup(
    config: Config,
    dest_dir: str | Path | None = None,
    keep: int | None = None,
    now: datetime | None = None,
) -> BackupReport:
    """Copy the live database to <dir>/digest-<UTC timestamp>.db and verify the copy."""
    import time

    source = config.db_path
    if source.is_dir():
        raise UsageError(
            f"database {source}: is a directory, not a database file ([database].path)"
        )
    if not source.is_file():
        raise UsageError(
            f"no database at {source} to back up (point --config or [database].path at yours)"
        )
    folder = Path(dest_dir) if dest_dir else config.path(config.service.backup_dir)
    if folder.exists() and not folder.is_dir():
        where = "--dir" if dest_dir else "[service].backup_dir"
        raise UsageError(f"backup: {where} {folder} is a file, not a folder")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{BACKUP_PREFIX}{stamp}.db"
    started = time.monotonic()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        what = f"{folder}: is not a directory" if not folder.is_dir() else f"{target}: exists"
        raise DigestError(f"backup: {what}") from exc
    except OSError as exc:
        raise DigestError(
            f"backup: cannot write to {folder}: {exc.strerror or exc} (choose another --dir)"
        ) from exc
    os.close(fd)
    os.chmod(target, 0o600)
    src = sqlite3.connect(str(source), timeout=config.database.busy_timeout_ms / 1000)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)  # one step: a consistent snapshot even while others write (WAL)
        dst.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
        integrity = dst.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        dst.close()
        target.unlink(missing_ok=True)
        hint = (
            " (the folders of both must be writable: SQLite makes -wal and -shm files beside "
            "the database)"
            if "unable to open" in str(exc)
            else ""
        )
        raise DigestError(f"backup of {source} to {target} failed: {exc}{hint}") from exc
    finally:
        src.close()
    dst.close()
    if integrity != "ok":  # keep the copy for salvage, under a name pruning never counts
        kept = target.with_name(target.name + ".failed-integrity")
        target.rename(kept)
        raise DigestError(f"{kept}: integrity_check failed: {integrity}")
    pruned = prune_backups(folder, keep or config.service.backup_keep, live=source)
    return BackupReport(
        target, target.stat().st_size, integrity, round(time.monotonic() - started, 3), pruned
    )


def prune_backups(folder: Path, keep: int, live: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups (names sort by time).

    Only names `backup` writes count: a database that merely starts with `digest-` in the
    same folder (say the live `digest-prod.db`) is never touched.
    """
    live_file = live.resolve() if live else None
    backups = sorted(
        path
        for path in folder.glob(f"{BACKUP_PREFIX}*.db")
        if BACKUP_NAME_RE.fullmatch(path.name) and path.resolve() != live_file
    )
    doomed = backups[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed
