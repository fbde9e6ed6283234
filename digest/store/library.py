"""SQL for imported reference libraries (`libraries`, `library_entries`) and the lookups that
match their entries to stored papers (by DOI, by title). Matching itself is
`digest.subscribers.library`; this is storage only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from digest.store.db import transaction, utcnow

MATCHED_STATES = ("matched", "fetched")


@dataclass(frozen=True)
class EntryRow:
    """One library entry as stored (what `replace_library` writes)."""

    position: int
    ref: str
    title: str
    arxiv_id: str | None
    doi: str | None
    paper_id: str | None
    matched_by: str
    status: str  # matched | fetched | pending | unmatched


def stored_dois(db) -> dict[str, str]:
    """{lower-cased DOI: paper id} of every stored paper that has one."""
    rows = db.execute("SELECT id, doi FROM papers WHERE doi IS NOT NULL AND doi <> ''")
    return {str(doi).strip().lower(): paper_id for paper_id, doi in rows}


def iter_stored_titles(db) -> Iterator[tuple[str, str]]:
    """(paper id, title) of every stored paper, streamed (the title index is built from it)."""
    cursor = db.execute("SELECT id, title FROM papers")
    while rows := cursor.fetchmany(2000):
        yield from rows


def replace_library(
    db, subscriber_id: int, file_name: str, fmt: str, skipped: int, source: str, rows: Sequence
) -> None:
    """The subscriber's library becomes `rows`, in one transaction: a re-import replaces the
    previous one entirely (nothing doubles), and a failure keeps the previous one whole."""
    with transaction(db):
        db.execute("DELETE FROM library_entries WHERE subscriber_id = ?", [subscriber_id])
        db.execute(
            "INSERT INTO libraries (subscriber_id, file_name, format, entries, skipped, source,"
            " imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (subscriber_id) DO UPDATE SET file_name = excluded.file_name,"
            " format = excluded.format, entries = excluded.entries, skipped = excluded.skipped,"
            " source = excluded.source, imported_at = excluded.imported_at",
            [subscriber_id, file_name, fmt, len(rows), skipped, source, utcnow()],
        )
        db.executemany(
            "INSERT INTO library_entries (subscriber_id, position, ref, title, arxiv_id, doi,"
            " paper_id, matched_by, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    subscriber_id,
                    r.position,
                    r.ref,
                    r.title,
                    r.arxiv_id,
                    r.doi,
                    r.paper_id,
                    r.matched_by,
                    r.status,
                )
                for r in rows
            ],
        )


def remove_library(db, subscriber_id: int) -> bool:
    with transaction(db):
        db.execute("DELETE FROM library_entries WHERE subscriber_id = ?", [subscriber_id])
        cursor = db.execute("DELETE FROM libraries WHERE subscriber_id = ?", [subscriber_id])
    return cursor.rowcount > 0


def library_paper_ids(db, subscriber_id: int) -> list[str]:
    """The stored papers the subscriber's library matched, in file order, each once."""
    rows = db.execute(
        "SELECT paper_id FROM library_entries WHERE subscriber_id = ? AND status IN (?, ?)"
        " AND paper_id IS NOT NULL ORDER BY position",
        [subscriber_id, *MATCHED_STATES],
    )
    return list(dict.fromkeys(r[0] for r in rows))


def library_summary(db, subscriber_id: int, titles_shown: int = 20) -> dict | None:
    """The stored library: file, format, counts per status and the first unmatched titles."""
    rows = list(db.query("SELECT * FROM libraries WHERE subscriber_id = ?", [subscriber_id]))
    if not rows:
        return None
    counts = dict(
        db.execute(
            "SELECT status, COUNT(*) FROM library_entries WHERE subscriber_id = ? GROUP BY status",
            [subscriber_id],
        ).fetchall()
    )
    unmatched = [
        r[0] or r[1]
        for r in db.execute(
            "SELECT title, ref FROM library_entries WHERE subscriber_id = ? AND status = ?"
            " ORDER BY position LIMIT ?",
            [subscriber_id, "unmatched", titles_shown],
        )
    ]
    papers = len(library_paper_ids(db, subscriber_id))
    return {**rows[0], "counts": counts, "papers": papers, "unmatched_titles": unmatched}


def pending_arxiv_ids(db, limit: int = 2000) -> list[str]:
    """arXiv ids that libraries name and the store does not hold yet (oldest import first)."""
    rows = db.execute(
        "SELECT arxiv_id FROM library_entries WHERE status = ? AND arxiv_id IS NOT NULL"
        " GROUP BY arxiv_id ORDER BY MIN(subscriber_id), MIN(position) LIMIT ?",
        ["pending", limit],
    )
    return [r[0] for r in rows]


def settle_pending(db, found: Sequence[str], not_found: Sequence[str]) -> int:
    """Pending entries whose paper is now stored become `fetched`; those the API does not
    know become `unmatched`. Returns how many entries became `fetched`."""
    fetched = 0
    with transaction(db):
        for start in range(0, len(found), 500):
            chunk = list(found[start : start + 500])
            marks = ",".join("?" for _ in chunk)
            cursor = db.execute(
                "UPDATE library_entries SET status = 'fetched', paper_id = arxiv_id,"  # noqa: S608
                f" matched_by = 'arxiv' WHERE status = 'pending' AND arxiv_id IN ({marks})",
                chunk,
            )
            fetched += cursor.rowcount
        for start in range(0, len(not_found), 500):
            chunk = list(not_found[start : start + 500])
            marks = ",".join("?" for _ in chunk)
            db.execute(
                "UPDATE library_entries SET status = 'unmatched'"  # noqa: S608
                f" WHERE status = 'pending' AND arxiv_id IN ({marks})",
                chunk,
            )
    return fetched


def library_entry_rows(db, subscriber_id: int) -> list[dict]:
    """Every entry of the subscriber's library, in file order (for export)."""
    return list(
        db.query(
            "SELECT position, ref, title, arxiv_id, doi, paper_id, matched_by, status"
            " FROM library_entries WHERE subscriber_id = ? ORDER BY position",
            [subscriber_id],
        )
    )
