"""The PostgreSQL backend (psycopg 3 and a psycopg-pool pool per process and URL).

`PostgresDatabase` answers the calls store modules make on a SQLite `db` (execute, query,
executemany, executescript, the transaction hooks), translating each statement once through
`digest.store.dialect`. Connections run in autocommit, like the SQLite ones: a statement
outside `transaction(db)` commits by itself. Migrations are the same ordered sets as SQLite's,
recorded in `digest_migrations`, applied under an advisory lock (two processes starting on a
fresh database apply them once).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.rows
from psycopg.adapt import Dumper, Loader
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from digest.store.dialect import split_script, to_postgres
from digest.store.migrations import MIGRATION_SETS
from digest.store.tx import transaction

POOL_MAX = int(os.environ.get("DIGEST_DATABASE_POOL_MAX", "20"))
MIGRATION_LOCK = 0x6469676573  # "diges": the advisory lock that serialises migrating
_pools: dict[tuple[int, str], ConnectionPool] = {}
_pools_lock = threading.Lock()


class _IntFromBool(Dumper):
    """SQLite stores True as 1 in an INTEGER column; PostgreSQL would refuse a boolean there."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class _NumberFromNumeric(Loader):
    """SUM() over integers is `numeric` in PostgreSQL; SQLite gives an int (or a float)."""

    def load(self, data) -> int | float:
        text = bytes(data).decode()
        try:
            return int(text)
        except ValueError:
            return float(text)


def _configure(conn: psycopg.Connection) -> None:
    conn.adapters.register_dumper(bool, _IntFromBool)
    conn.adapters.register_loader("numeric", _NumberFromNumeric)


def _reset(conn: psycopg.Connection) -> None:
    """A connection back in the pool holds no session lock of its last user."""
    conn.execute("SELECT pg_advisory_unlock_all()")


def pool_for(url: str) -> ConnectionPool:
    """This process's pool for `url` (a forked worker makes its own)."""
    key = (os.getpid(), url)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_MAX,
                kwargs={
                    "autocommit": True,
                    "options": "-c TimeZone=UTC",
                    # a holder whose machine vanished loses its advisory locks within a minute
                    "keepalives": 1,
                    "keepalives_idle": 10,
                    "keepalives_interval": 5,
                    "keepalives_count": 3,
                },
                configure=_configure,
                reset=_reset,
                open=True,
                name=f"digest-{os.getpid()}",
            )
            _pools[key] = pool
    return pool


def close_pools() -> None:
    """Close this process's pools (tests, and a worker on its way out)."""
    with _pools_lock:
        for key in [k for k in _pools if k[0] == os.getpid()]:
            _pools.pop(key).close()


class _Connection:
    """What callers reach as `db.conn`: close() hands the connection back to the pool."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    def close(self) -> None:
        self._db.close()

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def execute(self, sql: str, params: Sequence | None = None):
        return self._db.execute(sql, params)


class PostgresDatabase:
    """One pooled connection, used by one thread at a time (as a SQLite connection is)."""

    dialect = "postgresql"
    errors: tuple[type[BaseException], ...] = (psycopg.Error,)

    def __init__(self, url: str, pool: ConnectionPool) -> None:
        self.url = url
        self._pool = pool
        self._raw: psycopg.Connection | None = pool.getconn()
        self.conn = _Connection(self)

    @property
    def raw(self) -> psycopg.Connection:
        if self._raw is None:
            raise psycopg.InterfaceError("this database connection was closed")
        return self._raw

    def execute(self, sql: str, params: Sequence | dict | None = None) -> psycopg.Cursor:
        cursor = self.raw.cursor()
        cursor.execute(to_postgres(sql), _as_params(params))  # type: ignore[arg-type]
        return cursor

    def query(self, sql: str, params: Sequence | dict | None = None) -> Iterable[dict]:
        cursor = self.raw.cursor(row_factory=psycopg.rows.dict_row)
        cursor.execute(to_postgres(sql), _as_params(params))  # type: ignore[arg-type]
        yield from cursor

    def executemany(self, sql: str, rows: Iterable) -> None:
        rows = [tuple(row) for row in rows]
        if rows:
            self.raw.cursor().executemany(to_postgres(sql), rows)  # type: ignore[arg-type]

    def executescript(self, script: str) -> None:
        for statement in split_script(script):
            self.execute(statement)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def begin_write(self, eager_timeout_s: float | None = None) -> None:
        """Row locks and `serialize` do what SQLite's one writer lock does; no waiting here."""
        self.execute("BEGIN")

    def serialize(self, name: str) -> None:
        """Inside a transaction: one holder of `name` at a time, until the transaction ends."""
        self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [name])

    def skip_locked(self, alias: str) -> str:
        """FOR UPDATE SKIP LOCKED on `alias`'s rows: a second claimer skips, not waits."""
        return f" FOR UPDATE OF {alias} SKIP LOCKED"

    def table_exists(self, name: str) -> bool:
        row = self.execute("SELECT to_regclass(?) IS NOT NULL", [name]).fetchone()
        return bool(row and row[0])

    def data_version(self) -> tuple[int, int]:
        """Grows whenever any transaction that writes starts (the snapshot's xmax)."""
        row = self.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text").fetchone()
        return (int(row[0]) if row else 0), 0

    def size_bytes(self) -> int:
        """The whole database on the server (tables, indexes, the job queue)."""
        row = self.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0

    def location(self) -> str:
        """What another process opens to reach the same data: the URL."""
        return self.url

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            if raw.info.transaction_status != TransactionStatus.IDLE and not raw.closed:
                raw.rollback()
            self._pool.putconn(raw)


def _as_params(params: Sequence | dict | None) -> Sequence | dict:
    """Always a parameter list, so psycopg reads `%s` and `%%` the same in every statement."""
    if params is None:
        return ()
    return params if isinstance(params, dict) else list(params)


def open_postgres(url: str, *, migrate: bool = True) -> PostgresDatabase:
    db = PostgresDatabase(url, pool_for(url))
    if migrate:
        apply_migrations(db)
    return db


# ------------------------------------------------------------------ migrations
def applied_migrations(db: PostgresDatabase) -> set[tuple[str, str]]:
    if not db.table_exists("digest_migrations"):
        return set()
    rows = db.execute("SELECT migration_set, name FROM digest_migrations").fetchall()
    return {(row[0], row[1]) for row in rows}


def pending_migrations(db: PostgresDatabase) -> list[tuple[str, Any]]:
    """(set name, migration) not applied yet, in the order they apply."""
    applied = applied_migrations(db)
    return [
        (migrations.name, migration)
        for migrations in MIGRATION_SETS
        for migration in migrations._migrations
        if (migrations.name, migration.name) not in applied
    ]


def apply_migrations(db: PostgresDatabase) -> int:
    """Apply every pending migration, each in its own transaction; returns how many ran."""
    if not pending_migrations(db):
        return 0
    db.execute("SELECT pg_advisory_lock(?)", [MIGRATION_LOCK])
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS digest_migrations (migration_set TEXT NOT NULL,"
            " name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (migration_set, name))"
        )
        todo = pending_migrations(db)  # again, under the lock: another process may have run
        for set_name, migration in todo:
            with transaction(db):
                migration.fn(db)
                db.execute(
                    "INSERT INTO digest_migrations (migration_set, name, applied_at)"
                    " VALUES (?, ?, ?)",
                    [set_name, migration.name, datetime.now(UTC).isoformat()],
                )
        return len(todo)
    finally:
        db.execute("SELECT pg_advisory_unlock(?)", [MIGRATION_LOCK])
