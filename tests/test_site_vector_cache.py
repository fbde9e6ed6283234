"""The embedding matrix file cache returns what a read of the embeddings table returns."""

from __future__ import annotations

from datetime import date

import numpy as np

from digest.models import Paper
from digest.site import vector_cache
from digest.store import open_db
from digest.store import site as site_store
from digest.store.papers import save_embeddings, upsert_papers

MODEL = "test-model"


def _paper(n: int, abstract: str = "text") -> Paper:
    return Paper(
        id=f"2601.{n:05d}", title=f"Paper {n}", abstract=abstract, announced=date(2026, 1, 5)
    )


def _add(db, rng, papers: list[Paper]) -> None:
    upsert_papers(db, papers, source="test")
    vectors = rng.normal(size=(len(papers), 8)).astype(np.float32)
    save_embeddings(db, MODEL, [p.content_hash for p in papers], vectors)


def _assert_same(db, path) -> None:
    ids, vectors, hashes = vector_cache.archive_vectors(db, MODEL, str(path))
    want_ids, want_vectors, want_hashes = site_store.archive_vectors(db, MODEL)
    assert ids == want_ids and hashes == want_hashes
    assert np.array_equal(vectors, want_vectors)


def test_cache_follows_new_replaced_and_deleted_vectors(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "cache.db"
    db = open_db(path)
    _add(db, rng, [_paper(n) for n in range(50)])
    _assert_same(db, path)  # cold cache
    data, meta = vector_cache._files(str(path), MODEL)
    assert data.stat().st_size == 50 * 8 * 4 and meta.exists()
    _assert_same(db, path)  # warm, nothing new
    _add(db, rng, [_paper(n) for n in range(50, 60)])
    _add(db, rng, [_paper(n) for n in range(5)])  # same hashes, new vectors (re-embedded)
    _assert_same(db, path)
    assert data.stat().st_size == 65 * 8 * 4  # appended, not rewritten
    db.execute("DELETE FROM embeddings WHERE content_hash = ?", [_paper(20).content_hash])
    db.conn.commit()
    _assert_same(db, path)  # a row gone: rebuilt from scratch
    assert data.stat().st_size == 59 * 8 * 4
    with open(data, "r+b") as out:
        out.truncate(10)  # a damaged cache file is rebuilt
    _assert_same(db, path)
    db.conn.close()


def test_memory_database_reads_the_table(tmp_path):
    rng = np.random.default_rng(6)
    db = open_db(tmp_path / "plain.db")
    _add(db, rng, [_paper(n) for n in range(5)])
    ids, vectors, _ = vector_cache.archive_vectors(db, MODEL, None)
    assert len(ids) == 5 and vectors.shape == (5, 8)
    assert not list(tmp_path.glob("*.site-vectors-*"))
    db.conn.close()
