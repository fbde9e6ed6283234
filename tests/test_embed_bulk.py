"""Bulk embedding streams and resumes: a SIGKILL mid-way then a rerun embeds every paper exactly
once; a batch of ids (a worker's job) is idempotent; a text shared by two papers is encoded once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from digest.config import BUNDLED_MODEL, EmbeddingConfig
from digest.embed.encoder import embed_missing, embed_papers
from digest.ingest.backfill import import_jsonl
from digest.store import embeddings as embedding_store
from digest.store import open_db
from digest.store import papers as paper_store

LISTINGS = Path(__file__).resolve().parent.parent / "data" / "samples" / "listings"


def write_generated_papers(path: Path, count: int) -> None:
    """`count` papers from the real week (data/samples/listings/, 1,202 papers), its abstracts
    re-used under new ids once the week runs out (a suffix keeps each text distinct)."""
    week = [
        json.loads(line)
        for day in sorted(LISTINGS.glob("*.jsonl"))
        for line in day.read_text(encoding="utf-8").splitlines()
    ]
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            row, copy = dict(week[n % len(week)]), n // len(week)
            if copy:
                row["id"] = f"{row['id']}-r{copy}"
                row["abstract"] = f"{row['abstract']} (reissue {copy})"
            out.write(json.dumps(row) + "\n")


def run_digest(config_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config_path), *args],
        capture_output=True,
        text=True,
        check=True,
    )


def vectors_per_model(db) -> tuple[int, int]:
    return db.execute(
        "SELECT COUNT(*), COUNT(DISTINCT content_hash) FROM embeddings WHERE model = ?",
        [BUNDLED_MODEL],
    ).fetchone()


@pytest.mark.slow
def test_sigkill_mid_embed_then_a_rerun_embeds_every_paper_exactly_once(make_config, tmp_path):
    total = 1500  # bench/embed.py --papers 20000 runs the same on the full 20k
    config, config_path = make_config({"embedding": {"batch_size": 8}})  # pages of 64
    jsonl = tmp_path / "papers.jsonl"
    write_generated_papers(jsonl, total)
    run_digest(config_path, "import", str(jsonl))
    db = open_db(config.db_path)
    assert embedding_store.count_missing(db, BUNDLED_MODEL) == total

    embedder = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config_path), "embed"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 900
    while vectors_per_model(db)[0] == 0 and embedder.poll() is None:
        assert time.monotonic() < deadline, "no page was committed"
        time.sleep(0.05)
    assert embedder.poll() is None, "embed finished before it could be killed"
    embedder.send_signal(signal.SIGKILL)
    assert embedder.wait() == -signal.SIGKILL
    kept, distinct = vectors_per_model(db)
    assert kept == distinct and 0 < kept < total  # whole pages survived, the rest did not

    rerun = json.loads(run_digest(config_path, "embed", "--json").stdout)
    assert rerun["embedded"] == total - kept  # what was committed is not encoded again
    assert rerun["stored"] == rerun["embedded"]  # and nothing it encoded was already there
    assert rerun["backend"] == "onnx"
    assert vectors_per_model(db) == (total, total)
    assert paper_store.count_embedded_papers(db, BUNDLED_MODEL) == total
    third = json.loads(run_digest(config_path, "embed", "--json").stdout)
    assert third["embedded"] == 0 and third["cached"] == total
    db.conn.close()


@pytest.fixture
def week_db(tmp_path):
    jsonl = tmp_path / "papers.jsonl"
    write_generated_papers(jsonl, 200)
    db = open_db(tmp_path / "digest.db")
    import_jsonl(db, jsonl)
    yield db
    db.conn.close()


def first_ids(db, count: int) -> list[str]:
    return [r[0] for r in db.execute("SELECT id FROM papers ORDER BY id LIMIT ?", [count])]


def test_a_batch_of_ids_is_idempotent_and_names_unknown_ids(week_db):
    """The worker entry point: one job per batch; a rerun or a second worker encodes nothing."""
    ids = [r[0] for r in week_db.execute("SELECT id FROM papers ORDER BY id").fetchall()]
    config = EmbeddingConfig()
    first = embed_papers(week_db, config, [*ids[:60], "no-such-paper"])
    assert (first.embedded, first.stored, first.unknown, first.dim) == (60, 60, 1, 384)
    again = embed_papers(week_db, config, ids[:60])
    assert (again.embedded, again.cached, again.backend) == (0, 60, None)
    rest = embed_missing(week_db, config, page_size=50)  # streams the other 140 in 3 pages
    assert (rest.embedded, rest.stored) == (140, 140)
    found, matrix = paper_store.load_vectors(week_db, BUNDLED_MODEL, ids)
    assert found == ids and np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)


def test_a_text_shared_by_two_papers_is_encoded_once(week_db):
    originals = paper_store.get_papers(week_db, first_ids(week_db, 5))
    twins = [replace(p, id=f"twin-{p.id}") for p in originals.values()]
    paper_store.upsert_papers(week_db, twins, source="test")
    assert embedding_store.count_missing(week_db, BUNDLED_MODEL) == 200
    report = embed_missing(week_db, EmbeddingConfig(), page_size=3)  # twins on other pages
    assert report.embedded == 200 and report.stored == 200
    assert paper_store.count_embedded_papers(week_db, BUNDLED_MODEL) == 205


def test_storing_a_vector_twice_keeps_the_first(week_db):
    """Two workers finishing the same text: the second insert is a no-op, and says so."""
    hashes = [r[0] for r in week_db.execute("SELECT content_hash FROM papers LIMIT 3")]
    first = np.eye(3, 384, dtype=np.float32)
    assert embedding_store.store_vectors(week_db, "m", hashes, first) == 3
    assert embedding_store.store_vectors(week_db, "m", hashes, -first) == 0
    blob = week_db.execute(
        "SELECT vector FROM embeddings WHERE model = 'm' AND content_hash = ?", [hashes[0]]
    ).fetchone()[0]
    assert np.frombuffer(blob, dtype=np.float32)[0] == 1.0


def test_the_bulk_embedding_sql_runs_on_both_backends(any_db):
    """Keyset pages, the per-batch look-up and the conflict-free insert, on SQLite and
    PostgreSQL alike (the scale-out workers run embed_papers on PostgreSQL)."""
    from digest.models import Paper

    papers = [
        Paper(id=f"p{n:02d}", title=f"Title {n}", abstract=f"Abstract {n}.") for n in range(7)
    ]
    papers.append(Paper(id="twin", title="Title 3", abstract="Abstract 3."))  # same text as p03
    paper_store.upsert_papers(any_db, papers, source="test")
    assert embedding_store.count_missing(any_db, "m") == 7
    first = embedding_store.missing_page(any_db, "m", None, 3)
    assert [row[0] for row in first] == ["p00", "p01", "p02"]
    after = embedding_store.missing_page(any_db, "m", first[-1][0], 10)
    assert [row[0] for row in after] == ["p03", "p04", "p05", "p06", "twin"]
    missing, found = embedding_store.missing_for_papers(any_db, "m", ["p03", "twin", "nope"])
    assert found == 2 and len(missing) == 1  # one text for the twins; "nope" is not stored
    hashes = [row[1] for row in first]
    vectors = np.eye(3, 4, dtype=np.float32)
    assert embedding_store.store_vectors(any_db, "m", hashes, vectors) == 3
    assert embedding_store.store_vectors(any_db, "m", hashes, vectors) == 0
    assert embedding_store.count_missing(any_db, "m") == 4
    assert [row[0] for row in embedding_store.missing_page(any_db, "m", None, 10)][0] == "p03"


def test_progress_shows_the_steady_rate_and_the_time_left():
    from digest.cli.embed import _rate_and_eta

    assert _rate_and_eta(100, 1000, 10.0) == ("10.0 papers/s", "00:01:30")
    assert _rate_and_eta(500, 3_000_000, 10.0) == ("50.0 papers/s", "16:39:50")
    assert _rate_and_eta(500, 6_000_000, 10.0) == ("50.0 papers/s", "1.4 days")
    assert _rate_and_eta(0, 1000, 10.0) == ("", "?")  # nothing done yet: no guess
