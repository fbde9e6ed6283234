"""SQL for bulk embedding: the papers still missing a vector, read in bounded pages, and vectors
written so that a text already stored is never stored twice (portable: SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from digest.store.db import transaction, utcnow

_MISSING = (
    "FROM papers p LEFT JOIN embeddings e ON e.model = ? AND e.content_hash = p.content_hash "
    "WHERE e.content_hash IS NULL"
)


def count_missing(db, model: str) -> int:
    """Distinct paper texts (content hashes) with no vector for `model` yet."""
    row = db.execute(f"SELECT COUNT(DISTINCT p.content_hash) {_MISSING}", [model]).fetchone()  # noqa: S608
    return int(row[0])


def missing_page(
    db, model: str, after_id: str | None, limit: int
) -> list[tuple[str, str, str, str]]:
    """(paper id, content hash, title, abstract) of up to `limit` papers after `after_id` (by id)
    whose text has no vector for `model`: keyset pages on the primary key, so memory stays
    bounded and each page costs the same however large the store is."""
    rows = db.execute(
        f"SELECT p.id, p.content_hash, p.title, p.abstract {_MISSING} "  # noqa: S608
        "AND p.id > ? ORDER BY p.id LIMIT ?",
        [model, after_id or "", int(limit)],
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def missing_for_papers(
    db, model: str, paper_ids: Sequence[str]
) -> tuple[list[tuple[str, str, str]], int]:
    """For the given papers: (content hash, title, abstract) of each distinct text with no vector
    for `model`, and how many of the given ids are stored papers at all."""
    missing: dict[str, tuple[str, str, str]] = {}
    found = 0
    unique_ids = list(dict.fromkeys(paper_ids))
    for start in range(0, len(unique_ids), 500):
        chunk = unique_ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        rows = db.execute(
            "SELECT p.id, p.content_hash, p.title, p.abstract, e.content_hash FROM papers p "  # noqa: S608
            "LEFT JOIN embeddings e ON e.model = ? AND e.content_hash = p.content_hash "
            f"WHERE p.id IN ({marks})",
            [model, *chunk],
        ).fetchall()
        found += len(rows)
        for _, content_hash, title, abstract, stored in rows:
            if stored is None:
                missing.setdefault(content_hash, (content_hash, title, abstract))
    return list(missing.values()), found


def store_vectors(db, model: str, hashes: Sequence[str], vectors: np.ndarray) -> int:
    """Store one vector per (distinct) content hash in one transaction; a hash that already has
    a vector for `model` (another worker got there first) keeps it. Returns how many were new
    (counted inside the transaction, before the insert)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    now = utcnow()
    with transaction(db):
        marks = ",".join("?" for _ in hashes)
        already = db.execute(
            f"SELECT COUNT(*) FROM embeddings WHERE model = ? AND content_hash IN ({marks})",  # noqa: S608
            [model, *hashes],
        ).fetchone()[0]
        db.executemany(
            "INSERT INTO embeddings (model, content_hash, dim, vector, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model, content_hash) DO NOTHING",
            [
                (model, h, vectors.shape[1], v.tobytes(), now)
                for h, v in zip(hashes, vectors, strict=True)
            ],
        )
    return len(hashes) - int(already)
