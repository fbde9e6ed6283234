"""A second process reading while a fetch writes must not see errors."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from digest.ingest.arxiv_feed import parse_feed
from digest.store import open_db, transaction
from digest.store import papers as paper_store
from digest.store.service import eager_transaction
from tests.conftest import ATOM_SAMPLE

READER = textwrap.dedent(
    """
    import sys, time
    from digest.store import open_db
    from digest.store import papers as paper_store
    db = open_db(sys.argv[1])
    reads = errors = 0
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        try:
            paper_store.count_papers(db)
            paper_store.recent_ingest_runs(db, 5)
            list(db.query("SELECT id, title FROM papers ORDER BY id LIMIT 50"))
            reads += 1
        except Exception as exc:
            errors += 1
            print("ERROR", exc, file=sys.stderr)
    print(reads, errors)
    """
)


def test_reader_process_sees_no_errors_while_ingest_writes(tmp_path):
    path = tmp_path / "digest.db"
    db = open_db(path)
    papers = parse_feed(ATOM_SAMPLE.read_bytes()).papers
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    version = 1
    while reader.poll() is None:
        version += 1
        batch = [replace(p, version=version, abstract=f"{p.abstract} v{version}") for p in papers]
        run = paper_store.start_ingest_run(db, "test", "cs.AI", None)
        counts = paper_store.upsert_papers(db, batch, source="test")
        paper_store.finish_ingest_run(db, run, "ok", counts)
    out, err = reader.communicate(timeout=30)
    reads, errors = map(int, out.split())
    assert errors == 0, err
    assert reads > 10 and version > 3
    assert paper_store.count_papers(db) == 86


@pytest.mark.parametrize("begin", [transaction, eager_transaction])
def test_a_failed_commit_rolls_back_and_later_writes_land(tmp_path, begin):
    """store.transaction and the web's eager_transaction: if COMMIT fails (a deferred foreign
    key here, a full disk in life) and the transaction stayed open, the next transaction on
    this connection (the web keeps one per worker thread) would become a savepoint inside it
    and never be committed."""
    db = open_db(tmp_path / "t.db")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER"
        " REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError):
        with begin(db):
            db.execute("INSERT INTO child (parent_id) VALUES (42)")
    assert not db.conn.in_transaction
    with begin(db):
        db.execute("INSERT INTO parent (id) VALUES (1)")
    other = sqlite3.connect(tmp_path / "t.db")
    assert other.execute("SELECT COUNT(*) FROM parent").fetchone()[0] == 1
    assert other.execute("SELECT COUNT(*) FROM child").fetchone()[0] == 0
