"""SQL for papers, listings, authors, ingest runs and embeddings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np

from digest.models import IngestCounts, Paper, SkippedRecord
from digest.store.db import transaction, utcnow
from digest.textclean import normalize_author

# ---------------------------------------------------------------- papers


def upsert_papers(db, papers: Iterable[Paper], source: str) -> IngestCounts:
    """Insert or update papers keyed by base id, in one transaction. Never lowers a version.

    A paper is `updated` when a higher version or changed text arrives, `unchanged` otherwise.
    """
    new = updated = unchanged = 0
    now = utcnow()
    with transaction(db):
        for paper in papers:
            row = db.execute(
                "SELECT version, content_hash, first_announced FROM papers WHERE id = ?",
                [paper.id],
            ).fetchone()
            if row is None:
                _insert_paper(db, paper, source, now)
                new += 1
            elif _is_newer(paper, row[0], row[1]):
                _update_paper(db, paper, source, now)
                updated += 1
            else:
                _touch_listing(db, paper, now)
                unchanged += 1
            _record_version_and_listing(db, paper, source, now)
    return IngestCounts(
        fetched=new + updated + unchanged, new=new, updated=updated, unchanged=unchanged
    )


def _is_newer(paper: Paper, stored_version: int | None, stored_hash: str) -> bool:
    if paper.version is not None and (stored_version is None or paper.version > stored_version):
        return True
    same_version = paper.version is None or paper.version == stored_version
    return same_version and paper.content_hash != stored_hash


def _paper_values(paper: Paper) -> dict:
    return {
        "version": paper.version,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors_json": json.dumps(list(paper.authors), ensure_ascii=False),
        "categories_json": json.dumps(list(paper.categories)),
        "primary_category": paper.primary_category,
        "published": paper.published,
        "updated": paper.updated,
        "license": paper.license,
        "doi": paper.doi,
        "journal_ref": paper.journal_ref,
        "comments": paper.comments,
        "is_arxiv": int(paper.is_arxiv),
        "content_hash": paper.content_hash,
    }


def _insert_paper(db, paper: Paper, source: str, now: str) -> None:
    announced = paper.announced.isoformat() if paper.announced else None
    values = _paper_values(paper) | {
        "id": paper.id,
        "announce_type": paper.announce_type,
        "first_announced": announced,
        "last_announced": announced,
        "source": source,
        "created_at": now,
        "updated_at": now,
    }
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    db.execute(f"INSERT INTO papers ({columns}) VALUES ({marks})", list(values.values()))  # noqa: S608
    _link_authors(db, paper.id, paper.authors)


def _update_paper(db, paper: Paper, source: str, now: str) -> None:
    values = _paper_values(paper)
    # Keep what the newer record doesn't know (e.g. a feed has no primary category, a plain
    # JSONL line no version, authors or categories): text may change, facts never vanish.
    keep_if_null = (
        "version",
        "primary_category",
        "published",
        "updated",
        "license",
        "doi",
        "journal_ref",
        "comments",
    )
    if not paper.authors:
        del values["authors_json"]
    if not paper.categories:
        del values["categories_json"]
    sets = [f"{k} = COALESCE(?, {k})" if k in keep_if_null else f"{k} = ?" for k in values]
    db.execute(
        f"UPDATE papers SET {', '.join(sets)}, updated_at = ?, "  # noqa: S608
        "first_announced = COALESCE(first_announced, ?), "
        "announce_type = COALESCE(announce_type, ?), "
        "last_announced = CASE WHEN COALESCE(?, '') > COALESCE(last_announced, '')"
        " THEN COALESCE(?, '') ELSE COALESCE(last_announced, '') END "
        "WHERE id = ?",
        [
            *values.values(),
            now,
            _iso(paper.announced),
            paper.announce_type,
            _iso(paper.announced),
            _iso(paper.announced),
            paper.id,
        ],
    )
    if paper.authors:
        db.execute("DELETE FROM paper_authors WHERE paper_id = ?", [paper.id])
        _link_authors(db, paper.id, paper.authors)


def _touch_listing(db, paper: Paper, now: str) -> None:
    if paper.announced:
        db.execute(
            "UPDATE papers SET first_announced = COALESCE(first_announced, ?), "
            "announce_type = COALESCE(announce_type, ?) WHERE id = ?",
            [paper.announced.isoformat(), paper.announce_type, paper.id],
        )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _record_version_and_listing(db, paper: Paper, source: str, now: str) -> None:
    if paper.version is not None:
        db.execute(
            "INSERT INTO paper_versions (paper_id, version, first_seen, source) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [paper.id, paper.version, now, source],
        )
    if paper.announced and paper.announce_type:
        db.execute(
            "INSERT INTO listings (paper_id, announce_date, announce_type, version) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [paper.id, paper.announced.isoformat(), paper.announce_type, paper.version],
        )


def _link_authors(db, paper_id: str, names: Sequence[str]) -> None:
    """Authors are shared rows keyed by their normalised name; links keep the order."""
    keyed = [(name, normalize_author(name)) for name in names]
    keyed = [(name, key) for name, key in keyed if key]
    if not keyed:
        return
    # WHERE NOT EXISTS first: on PostgreSQL a conflicting INSERT still uses up an id, and
    # author ids are in the archive's URLs (they must be the same on both backends)
    db.executemany(
        "INSERT INTO authors (name, norm_name) SELECT ?, ? WHERE NOT EXISTS"
        " (SELECT 1 FROM authors WHERE norm_name = ?) ON CONFLICT DO NOTHING",
        [(name, key, key) for name, key in keyed],
    )
    keys = list(dict.fromkeys(key for _, key in keyed))
    marks = ",".join("?" for _ in keys)
    ids = dict(db.execute(f"SELECT norm_name, id FROM authors WHERE norm_name IN ({marks})", keys))  # noqa: S608
    db.executemany(
        "INSERT INTO paper_authors (paper_id, author_id, position) VALUES (?, ?, ?)"
        " ON CONFLICT (paper_id, position) DO UPDATE SET author_id = excluded.author_id",
        [(paper_id, ids[key], position) for position, (_, key) in enumerate(keyed)],
    )


def paper_from_row(row: dict) -> Paper:
    return Paper(
        id=row["id"],
        title=row["title"],
        abstract=row["abstract"],
        authors=tuple(json.loads(row["authors_json"])),
        categories=tuple(json.loads(row["categories_json"])),
        primary_category=row["primary_category"],
        version=row["version"],
        announce_type=row["announce_type"],
        announced=date.fromisoformat(row["first_announced"]) if row["first_announced"] else None,
        published=row["published"],
        updated=row["updated"],
        license=row["license"],
        doi=row["doi"],
        journal_ref=row["journal_ref"],
        comments=row["comments"],
        is_arxiv=bool(row["is_arxiv"]),
    )


def get_paper(db, paper_id: str) -> Paper | None:
    rows = list(db.query("SELECT * FROM papers WHERE id = ?", [paper_id]))
    return paper_from_row(rows[0]) if rows else None


def get_papers(db, paper_ids: Sequence[str]) -> dict[str, Paper]:
    found: dict[str, Paper] = {}
    for chunk_start in range(0, len(paper_ids), 500):
        chunk = list(paper_ids[chunk_start : chunk_start + 500])
        marks = ",".join("?" for _ in chunk)
        for row in db.query(f"SELECT * FROM papers WHERE id IN ({marks})", chunk):  # noqa: S608
            found[row["id"]] = paper_from_row(row)
    return found


def existing_paper_ids(db, paper_ids: Sequence[str]) -> set[str]:
    return set(get_paper_ids_in(db, paper_ids))


def get_paper_ids_in(db, paper_ids: Sequence[str]) -> list[str]:
    out: list[str] = []
    for start in range(0, len(paper_ids), 500):
        chunk = list(paper_ids[start : start + 500])
        marks = ",".join("?" for _ in chunk)
        out += [r[0] for r in db.execute(f"SELECT id FROM papers WHERE id IN ({marks})", chunk)]  # noqa: S608
    return out


def announcement_dates(db) -> list[date]:
    rows = db.execute("SELECT DISTINCT announce_date FROM listings ORDER BY announce_date")
    return [date.fromisoformat(r[0]) for r in rows]


def count_papers(db) -> int:
    return db.execute("SELECT COUNT(*) FROM papers").fetchone()[0]


def author_ids_for(db, paper_id: str) -> list[int]:
    rows = db.execute(
        "SELECT author_id FROM paper_authors WHERE paper_id = ? ORDER BY position", [paper_id]
    )
    return [r[0] for r in rows]


def paper_versions(db, paper_id: str) -> list[dict]:
    return list(
        db.query(
            "SELECT version, first_seen, source FROM paper_versions WHERE paper_id = ? ORDER BY version",
            [paper_id],
        )
    )


# ---------------------------------------------------------------- ingest runs


def start_ingest_run(db, source: str, category: str | None, url: str | None) -> int:
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO ingest_runs (source, category, url, started_at, status) "
            "VALUES (?, ?, ?, ?, 'running') RETURNING id",
            [source, category, url, utcnow()],
        )
        run_id = int(cursor.fetchone()[0])
    return run_id


def finish_ingest_run(
    db,
    run_id: int,
    status: str,
    counts: IngestCounts,
    skipped: Sequence[SkippedRecord] = (),
    channel_date: date | None = None,
    error: str | None = None,
) -> None:
    reasons = [{"ref": s.ref, "reason": s.reason} for s in list(skipped)[:50]]
    with transaction(db):
        db.execute(
            "UPDATE ingest_runs SET finished_at = ?, status = ?, fetched = ?, new = ?, updated = ?,"
            " unchanged = ?, skipped = ?, skipped_json = ?, channel_date = ?, error = ? WHERE id = ?",
            [
                utcnow(),
                status,
                counts.fetched,
                counts.new,
                counts.updated,
                counts.unchanged,
                counts.skipped,
                json.dumps(reasons, ensure_ascii=False),
                _iso(channel_date),
                error,
                run_id,
            ],
        )


def last_channel_date(db, source: str, category: str) -> date | None:
    """The channel date of the last successful run of this feed (for staleness checks)."""
    row = db.execute(
        "SELECT channel_date FROM ingest_runs WHERE source = ? AND category = ? "
        "AND status IN ('ok', 'stale') AND channel_date IS NOT NULL ORDER BY id DESC LIMIT 1",
        [source, category],
    ).fetchone()
    return date.fromisoformat(row[0]) if row else None


def recent_ingest_runs(db, limit: int = 10) -> list[dict]:
    return list(db.query("SELECT * FROM ingest_runs ORDER BY id DESC LIMIT ?", [limit]))


# ---------------------------------------------------------------- embeddings


def missing_embeddings(
    db, model: str, paper_ids: Sequence[str] | None = None
) -> list[tuple[str, str, str]]:
    """(content_hash, title, abstract) of papers whose text has no vector for `model` yet."""
    sql = (
        "SELECT p.content_hash, p.title, p.abstract FROM papers p "
        "LEFT JOIN embeddings e ON e.model = ? AND e.content_hash = p.content_hash "
        "WHERE e.content_hash IS NULL"
    )
    rows = db.execute(sql, [model]).fetchall()
    if paper_ids is not None:
        wanted = {p.content_hash for p in get_papers(db, list(paper_ids)).values()}
        rows = [r for r in rows if r[0] in wanted]
    unique: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        unique.setdefault(row[0], (row[0], row[1], row[2]))
    return list(unique.values())


def save_embeddings(db, model: str, hashes: Sequence[str], vectors: np.ndarray) -> None:
    now = utcnow()
    vectors = np.asarray(vectors, dtype=np.float32)
    with transaction(db):
        db.executemany(
            "INSERT INTO embeddings (model, content_hash, dim, vector, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model, content_hash) DO UPDATE SET"
            " dim = excluded.dim, vector = excluded.vector, created_at = excluded.created_at",
            [
                (model, h, vectors.shape[1], v.tobytes(), now)
                for h, v in zip(hashes, vectors, strict=True)
            ],
        )


def load_vectors(db, model: str, paper_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Vectors for the given papers (those that have one), in the order given."""
    by_id: dict[str, np.ndarray] = {}
    for start in range(0, len(paper_ids), 500):
        chunk = list(paper_ids[start : start + 500])
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT p.id, e.vector FROM papers p JOIN embeddings e "  # noqa: S608
            f"ON e.model = ? AND e.content_hash = p.content_hash WHERE p.id IN ({marks})",
            [model, *chunk],
        )
        for paper_id, blob in rows:
            by_id[paper_id] = np.frombuffer(blob, dtype=np.float32)
    ids = [p for p in paper_ids if p in by_id]
    if not ids:
        return [], np.zeros((0, 0), dtype=np.float32)
    return ids, np.vstack([by_id[p] for p in ids])


def load_all_vectors(db, model: str) -> tuple[list[str], np.ndarray]:
    rows = db.execute(
        "SELECT p.id, e.vector FROM papers p JOIN embeddings e "
        "ON e.model = ? AND e.content_hash = p.content_hash ORDER BY p.id",
        [model],
    ).fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)  # one copy, not 100k
    return [r[0] for r in rows], matrix.reshape(len(rows), -1)


def count_embedded_papers(db, model: str) -> int:
    """Stored papers that have a vector for `model` (the table also caches topic texts)."""
    return db.execute(
        "SELECT COUNT(*) FROM papers p JOIN embeddings e"
        " ON e.model = ? AND e.content_hash = p.content_hash",
        [model],
    ).fetchone()[0]


def author_display_name(db, norm_name: str) -> str | None:
    """The stored display name of the author with this identity key, or None."""
    row = db.execute("SELECT name FROM authors WHERE norm_name = ?", [norm_name]).fetchone()
    return str(row[0]) if row else None


def paper_ids_missing_embeddings(db, model: str) -> list[str]:
    """Ids of stored papers whose text has no vector for `model`, in id order."""
    rows = db.execute(
        "SELECT p.id FROM papers p LEFT JOIN embeddings e"
        " ON e.model = ? AND e.content_hash = p.content_hash"
        " WHERE e.content_hash IS NULL ORDER BY p.id",
        [model],
    ).fetchall()
    return [row[0] for row in rows]
