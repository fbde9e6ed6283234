"""Opening the database and applying every migration set, in a fixed order."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlite_utils

from digest.store.migrations import MIGRATION_SETS


@contextlib.contextmanager
def transaction(db) -> Iterator[None]:
    """A write transaction that takes the write lock up front (BEGIN IMMEDIATE).

    Deferred transactions that read then write can fail at once with "database is locked"
    when another process writes; IMMEDIATE waits for the busy timeout instead. Nested use
    becomes a savepoint.
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    with commit_or_roll_back(conn):
        yield


@contextlib.contextmanager
def commit_or_roll_back(conn) -> Iterator[None]:
    """End the transaction `conn` has begun: COMMIT after the block, ROLLBACK if it raised.

    A failed COMMIT (deferred foreign key, full disk) can leave the transaction open; every
    later write on this connection would then nest in it and be lost, so it is rolled back.
    """
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def open_db(path: str | Path, *, busy_timeout_ms: int = 30000, migrate: bool = True):
    """Open (creating if needed) the SQLite file with WAL, a busy timeout and foreign keys."""
    path = Path(path)
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
    db = sqlite_utils.Database(conn)
    if migrate:
        apply_migrations(db)
    return db


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
