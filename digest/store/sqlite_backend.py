"""The SQLite backend: sqlite-utils' Database plus the few methods both backends share.

Everything a store module may call on `db` besides SQL itself is here and in `postgres.py`
under the same names: executemany, in_transaction, begin_write, table_exists, data_version,
serialize (one writer at a time for a named job), size_bytes and close.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time

import sqlite_utils


class SqliteDatabase(sqlite_utils.Database):
    """One SQLite connection (WAL, foreign keys on, autocommit outside explicit transactions)."""

    dialect = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def executemany(self, sql: str, rows) -> None:
        self.conn.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def begin_write(self, eager_timeout_s: float | None = None) -> None:
        """BEGIN IMMEDIATE: the write lock up front (a read-then-write transaction would fail at
        once with "database is locked" under a concurrent writer). `eager_timeout_s`: poll
        every 1-3 ms instead of SQLite's busy handler, whose sleeps grow to 100 ms, so a short
        web request finds the gap between a long run's batches."""
        if eager_timeout_s is None:
            self.conn.execute("BEGIN IMMEDIATE")
            return
        conn = self.conn
        deadline = time.monotonic() + eager_timeout_s
        previous = conn.execute("PRAGMA busy_timeout").fetchone()[0]
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.001 + random.random() * 0.002)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(previous)}")

    def serialize(self, name: str) -> None:
        """Inside a write transaction: nothing to do, BEGIN IMMEDIATE already excludes every
        other writer (PostgreSQL takes a transaction-level advisory lock on `name`)."""

    def skip_locked(self, alias: str) -> str:
        """The clause that makes a SELECT claim its rows for this transaction, skipping rows
        another one holds: none on SQLite (BEGIN IMMEDIATE holds the one write lock)."""
        return ""

    def table_exists(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
        ).fetchone()
        return row is not None

    def data_version(self) -> tuple[int, int]:
        """Changes when anything was written since: by another connection (SQLite's
        data_version) or by this one (its total_changes)."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes

    def location(self) -> str | None:
        """The file another process opens to reach the same data (None: in memory)."""
        for _seq, name, file in self.conn.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                return file
        return None

    def size_bytes(self) -> int:
        """The database file with its write-ahead log (0 in memory)."""
        location = self.location()
        if location is None:
            return 0
        total = 0
        for suffix in ("", "-wal", "-shm"):
            try:
                total += os.stat(location + suffix).st_size
            except OSError:
                pass
        return total

    def close(self) -> None:
        self.conn.close()
