"""Opening the database (SQLite file or PostgreSQL URL) and applying every migration set."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from digest.store.migrations import MIGRATION_SETS
from digest.store.sqlite_backend import SqliteDatabase
from digest.store.tx import commit_or_roll_back, transaction

__all__ = ["commit_or_roll_back", "open_db", "transaction", "utcnow"]


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def is_postgres_url(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


def sqlite_path(target: str | Path) -> Path:
    """A plain path, or a `sqlite:///relative` / `sqlite:////absolute` URL, as a path."""
    text = str(target)
    return Path(text[len("sqlite:///") :]) if text.startswith("sqlite:///") else Path(text)


def open_db(target: str | Path, *, busy_timeout_ms: int = 30000, migrate: bool = True):
    """Open the database `target` names, migrated to the current schema (unless migrate=False).

    A path or `sqlite:///path`: the SQLite file (created if needed) with WAL, a busy timeout
    and foreign keys. `postgresql://user@host/db`: a connection from this process's pool.
    """
    if is_postgres_url(target):
        from digest.store.postgres import open_postgres

        return open_postgres(str(target), migrate=migrate)
    path = sqlite_path(target)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    if str(path) != ":memory:":
        _enable_wal(conn)
    db = SqliteDatabase(conn)
    if migrate:
        apply_migrations(db)
    return db


def database_errors() -> tuple[type[BaseException], ...]:
    """The exception types a database failure can raise, on either backend (for the CLI)."""
    errors: tuple[type[BaseException], ...] = (sqlite3.DatabaseError,)
    try:
        import psycopg
    except ImportError:
        return errors
    return (*errors, psycopg.Error)


def _enable_wal(conn: sqlite3.Connection) -> None:
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def apply_migrations(db) -> None:
    for migrations in MIGRATION_SETS:
        if migrations.pending(db):
            try:
                migrations.apply(db)
            except sqlite3.OperationalError as exc:
                # Two processes migrating a fresh file at once: the loser retries once.
                if "already exists" not in str(exc):
                    raise
                if migrations.pending(db):
                    migrations.apply(db)
