"""`digest migrate-db --to postgresql://...`: copy the SQLite database into an empty
PostgreSQL database, table by table in batches, then check row counts and a checksum per table.
The source is opened read-only and never changed; a target that holds any row is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from digest.errors import DigestError, UsageError
from digest.store import copying
from digest.store.db import is_postgres_url
from digest.store.sqlite_backend import SqliteDatabase

Progress = Callable[[str, int, int], None]  # (table, rows copied, rows in table)
BATCH = 2000


@dataclass
class TableCopy:
    table: str
    rows: int
    target_rows: int
    checksum_ok: bool


@dataclass
class MigrateReport:
    target: str
    tables: list[TableCopy] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.rows == t.target_rows and t.checksum_ok for t in self.tables)

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "ok": self.ok,
            "tables": [t.__dict__ for t in self.tables],
        }


def open_source(path: Path) -> SqliteDatabase:
    if not path.is_file():
        raise UsageError(f"no SQLite database at {path} to copy from")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    return SqliteDatabase(conn)


def migrate_db(source_path: Path, url: str, progress: Progress | None = None) -> MigrateReport:
    from digest.store import open_db, transaction

    if not is_postgres_url(url):
        raise UsageError(f"--to must be a postgresql:// URL, not {url.split('@')[-1]!r}")
    source = open_source(source_path)
    if source.table_exists("_sqlite_migrations") is False:
        raise UsageError(f"{source_path} is not a digest database (no migration record)")
    target = open_db(url)  # migrates the empty target from zero
    try:
        _refuse_non_empty(target)
        report = MigrateReport(target=url.split("@")[-1])
        tables = [t for t in copying.TABLE_ORDER if source.table_exists(t)]
        with transaction(target):  # all or nothing: a failed copy leaves the target empty
            for table in tables:
                _copy_table(source, target, table, progress)
            for table, column in copying.identity_columns(target):
                copying.reset_identity(target, table, column)
        for table in tables:
            report.tables.append(_check(source, target, table))
        return report
    finally:
        target.close()
        source.close()


def _refuse_non_empty(target) -> None:
    busy = [
        t
        for t in copying.user_tables(target)
        if t in copying.TABLE_ORDER and copying.count_rows(target, t)
    ]
    if busy:
        raise DigestError(
            f"the target database is not empty ({', '.join(sorted(busy)[:5])} hold rows); "
            "migrate-db copies into an empty database only"
        )


def _copy_table(source, target, table: str, progress: Progress | None) -> None:
    cols = copying.columns(source, table)
    with_rowid = "rowid" in copying.columns_with_rowid(target, table)
    total = copying.count_rows(source, table)
    done = 0
    names = (["rowid"] if with_rowid else []) + cols
    for batch in copying.read_batches(source, table, cols, BATCH, with_rowid):
        copying.write_batch(target, table, names, batch)
        done += len(batch)
        if progress:
            progress(table, done, total)
    if progress and not total:
        progress(table, 0, 0)


def _check(source, target, table: str) -> TableCopy:
    cols = copying.columns(source, table)
    return TableCopy(
        table,
        copying.count_rows(source, table),
        copying.count_rows(target, table),
        copying.checksum(source, table, cols) == copying.checksum(target, table, cols),
    )
