"""SQL for copying one database into another (`digest migrate-db`): the tables in an order
that satisfies foreign keys, their rows in key order by batches, a per-table checksum that is
the same on both backends, and the identity counters set past the copied ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

# Parents before children. Every table of the schema is here (a test checks it); migration
# bookkeeping is not copied: the target migrates itself from zero first.
TABLE_ORDER = (
    "papers", "listings", "paper_versions", "authors", "paper_authors", "ingest_runs",
    "embeddings", "subscribers", "topics", "subscriber_topics", "feedback", "plans", "picks",
    "topic_matches", "topic_match_days", "hf_papers", "deliveries", "delivery_requeues",
    "confirm_tokens", "consents", "webhook_events", "runs", "run_stages", "leases", "rate_limits", "site_pages",
    "site_similar", "site_builds", "site_tree_pages", "site_trees", "site_paper_state",
    "send_pacing", "paper_badges", "summaries", "digest_leads",
)  # fmt: skip


def columns(db, table: str) -> list[str]:
    """The table's columns, without PostgreSQL's stand-in `rowid` (SQLite's is implicit)."""
    cursor = db.execute(f"SELECT * FROM {table} LIMIT 0")  # noqa: S608 (our table names)
    return [d[0] for d in cursor.description if d[0] != "rowid"]


def count_rows(db, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608


def read_batches(
    db, table: str, cols: list[str], size: int, with_rowid: bool
) -> Iterator[list[tuple]]:
    """The rows in insertion order (rowid on SQLite), `size` at a time; with_rowid puts the
    rowid first so the target keeps the same order for the reads that use it."""
    picked = (["rowid"] if with_rowid else []) + cols
    order = " ORDER BY rowid" if with_rowid else ""  # WITHOUT ROWID tables have none
    cursor = db.execute(f"SELECT {', '.join(picked)} FROM {table}{order}")  # noqa: S608
    while batch := cursor.fetchmany(size):
        yield [tuple(row) for row in batch]


def write_batch(db, table: str, cols: list[str], rows: list[tuple]) -> None:
    marks = ", ".join("?" for _ in cols)
    db.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows)  # noqa: S608


def checksum(db, table: str, cols: list[str]) -> str:
    """The sum (mod 2^256) of every row's sha256 over its values' canonical text: the same
    whatever order a backend returns the rows in (NULLs sort first in SQLite, last here)."""
    total = 0
    for row in db.execute(f"SELECT {', '.join(cols)} FROM {table}"):  # noqa: S608
        text = repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
        total += int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    return f"{total % (1 << 256):064x}"


def reset_identity(db, table: str, column: str) -> None:
    """PostgreSQL: the next generated id comes after the highest copied one."""
    db.execute(
        f"SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)",  # noqa: S608
        [table, column],
    )


def identity_columns(db) -> list[tuple[str, str]]:
    """PostgreSQL: (table, column) of every identity column (ids, and the rowid stand-ins)."""
    rows = db.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def user_tables(db) -> list[str]:
    """PostgreSQL: the tables in the current schema."""
    rows = db.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    ).fetchall()
    return [row[0] for row in rows]


def columns_with_rowid(db, table: str) -> list[str]:
    """Every column, the `rowid` stand-in included where PostgreSQL has one."""
    cursor = db.execute(f"SELECT * FROM {table} LIMIT 0")  # noqa: S608
    return [d[0] for d in cursor.description]
