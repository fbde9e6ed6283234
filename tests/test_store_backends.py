"""The store functions on both backends: a SQLite file and a real PostgreSQL server (started by
the session fixture in conftest). Each test runs twice (`any_db`) and checks what the functions
return, so a statement that only SQLite understands fails here on PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from digest.models import Paper, Topic
from digest.store import deliveries as delivery_store
from digest.store import feedback as feedback_store
from digest.store import papers as paper_store
from digest.store import ranking as rank_store
from digest.store import requeues as requeue_store
from digest.store import service as service_store
from digest.store import site as site_store
from digest.store import subscribers as subscriber_store
from digest.store import topics as topic_store
from digest.store import transaction
from digest.store.dialect import NotPortable, to_postgres

DAY = date(2025, 8, 20)


def paper(pid: str, version: int = 1, title: str = "A title", day: date = DAY) -> Paper:
    return Paper(
        id=pid,
        title=title,
        abstract=f"Abstract of {pid}",
        authors=("Ann Lee", "Bo Chen"),
        categories=("cs.AI",),
        version=version,
        announce_type="new",
        announced=day,
    )


def subscriber(db, email: str) -> int:
    return subscriber_store.insert_subscriber(db, {"email": email, "status": "active"})


def test_migrating_twice_is_a_no_op_and_every_table_exists(any_db, backend_target):
    from digest.store import open_db

    again = open_db(backend_target)  # a second open migrates nothing
    for table in ("papers", "deliveries", "site_similar", "leases", "delivery_requeues"):
        assert again.table_exists(table)
    assert not again.table_exists("no_such_table")
    again.close()


def test_papers_versions_authors_and_listings(any_db):
    counts = paper_store.upsert_papers(any_db, [paper("2508.1"), paper("2508.2")], "feed")
    assert (counts.new, counts.updated) == (2, 0)
    later = paper("2508.1", version=2, title="Better title", day=date(2025, 8, 21))
    counts = paper_store.upsert_papers(any_db, [later, paper("2508.2")], "feed")
    assert (counts.new, counts.updated, counts.unchanged) == (0, 1, 1)
    stored = paper_store.get_paper(any_db, "2508.1")
    assert stored is not None and stored.title == "Better title" and stored.version == 2
    assert stored.announced == DAY  # first announcement kept
    last = any_db.execute("SELECT last_announced FROM papers WHERE id = '2508.1'").fetchone()[0]
    assert last == "2025-08-21"
    assert [v["version"] for v in paper_store.paper_versions(any_db, "2508.1")] == [1, 2]
    assert len(paper_store.author_ids_for(any_db, "2508.1")) == 2
    assert paper_store.announcement_dates(any_db) == [DAY, date(2025, 8, 21)]
    assert [row[0] for row in site_store.archive_listings(any_db)] == ["2508.1", "2508.2", "2508.1"]
    assert paper_store.count_papers(any_db) == 2
    run_id = paper_store.start_ingest_run(any_db, "feed", "cs.AI", None)
    assert isinstance(run_id, int)


def test_vectors_are_bytes_in_and_one_matrix_out(any_db):
    paper_store.upsert_papers(any_db, [paper(f"2508.{i}") for i in range(5)], "feed")
    missing = paper_store.missing_embeddings(any_db, "m")
    assert len(missing) == 5
    hashes = [m[0] for m in missing]
    vectors = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    paper_store.save_embeddings(any_db, "m", hashes, vectors)
    paper_store.save_embeddings(any_db, "m", hashes, vectors)  # an upsert, not a clash
    ids, matrix = paper_store.load_all_vectors(any_db, "m")
    assert ids == sorted(ids) and matrix.shape == (5, 8) and matrix.dtype == np.float32
    ids2, matrix2, _ = site_store.archive_vectors(any_db, "m")
    assert ids2 == ids and np.array_equal(matrix, matrix2)
    assert paper_store.missing_embeddings(any_db, "m") == []
    assert paper_store.count_embedded_papers(any_db, "m") == 5


def test_candidates_come_with_their_vectors_in_one_query_and_mixed_sizes_are_refused(any_db):
    later = date(2025, 8, 21)
    papers = [paper("2508.1"), paper("2508.2"), paper("2508.3", day=later), paper("2508.4")]
    paper_store.upsert_papers(any_db, papers, "feed")
    stored = paper_store.get_papers(any_db, [p.id for p in papers])
    hashes = {pid: p.content_hash for pid, p in stored.items()}
    vectors = np.arange(24, dtype=np.float32).reshape(3, 8)
    embedded = [hashes[p] for p in ("2508.1", "2508.2", "2508.3")]
    paper_store.save_embeddings(any_db, "m", embedded, vectors)
    rows, matrix = rank_store.candidate_rows_with_vectors(any_db, DAY, DAY, ["new"], "m")
    assert [r[0] for r in rows] == ["2508.1", "2508.2"]  # 2508.4 has no vector, 2508.3 is later
    assert json.loads(rows[0][3]) == list(papers[0].authors) and rows[0][5] == DAY.isoformat()
    assert np.array_equal(matrix, vectors[:2]) and matrix.dtype == np.float32
    assert rank_store.candidate_rows_with_vectors(any_db, DAY, DAY, ["new"], "other")[0] == []
    paper_store.save_embeddings(any_db, "m", [hashes["2508.4"]], np.ones((1, 7), np.float32))
    with pytest.raises(ValueError, match="'m' vectors have 2 different sizes"):
        rank_store.candidate_rows_with_vectors(any_db, None, None, None, "m")


def test_subscribers_and_topics_compare_case_insensitively(any_db):
    sid = subscriber(any_db, "Ann@Example.org")
    assert subscriber_store.get_subscriber_by_email(any_db, "ann@example.ORG").id == sid
    made = topic_store.insert_topic(any_db, Topic(name="LLM agents", kind="curated"))
    topic_store.insert_topic(any_db, Topic(name="alignment", kind="curated"))
    topic_store.insert_topic(any_db, Topic(name="Mine", kind="personal", owner_id=sid))
    assert topic_store.get_topic(any_db, "llm AGENTS").id == made.id
    assert [t.name for t in topic_store.list_topics(any_db, kind="curated")] == [
        "alignment",
        "LLM agents",
    ]
    topic_store.follow_topic(any_db, sid, made.id)
    topic_store.follow_topic(any_db, sid, made.id)  # twice: one link
    assert [t.name for t in topic_store.topics_for_subscriber(any_db, sid)] == [
        "LLM agents",
        "Mine",
    ]
    assert topic_store.follower_counts(any_db) == {made.id: 1}
    assert subscriber_store.count_subscribers_by_status(any_db) == {"active": 1}


def test_clicks_in_a_burst_do_not_count(any_db):
    paper_store.upsert_papers(any_db, [paper(f"2508.{i}") for i in range(4)], "feed")
    sid = subscriber(any_db, "a@x.org")
    for i in range(3):  # three papers within a second: a scanner
        feedback_store.add_feedback(
            any_db, sid, f"2508.{i}", "click", "email", f"2025-08-20T10:00:0{i}+00:00"
        )
    feedback_store.add_feedback(
        any_db, sid, "2508.3", "click", "email", "2025-08-20T12:00:00+00:00"
    )
    feedback_store.add_feedback(any_db, sid, "2508.3", "like", "cli", "2025-08-20T12:00:01+00:00")
    assert feedback_store.counted_clicks(any_db, sid) == [(sid, "2508.3")]
    assert feedback_store.counted_clicks(any_db, sid, since=DAY, until=DAY) == [(sid, "2508.3")]
    assert feedback_store.feedback_for_subscriber(any_db, sid) == (["2508.3"], [], ["2508.3"])
    counts = feedback_store.feedback_counts(any_db, since=DAY, until=DAY)
    assert counts == {"2508.3": {"like": 1, "dislike": 0, "click": 1}}


def test_the_ledger_moves_forward_only_and_keeps_queue_order(any_db):
    paper_store.upsert_papers(any_db, [paper("2508.1")], "feed")
    ids = [subscriber(any_db, f"s{i}@x.org") for i in range(3)]
    new = [
        delivery_store.NewDelivery(f"d{i}", sid, DAY, "Subject", b"From: a\r\n\r\nbody %s ?")
        for i, sid in zip((2, 0, 1), ids, strict=True)
    ]
    assert delivery_store.queue_deliveries(any_db, new) == 3
    assert delivery_store.queue_deliveries(any_db, new) == 0  # one row per (subscriber, issue)
    assert [d.id for d in delivery_store.list_deliveries(any_db)] == ["d2", "d0", "d1"]
    assert [row[0] for row in delivery_store.queued_send_times(any_db, DAY)] == ["d2", "d0", "d1"]
    assert delivery_store.load_message(any_db, "d0") == b"From: a\r\n\r\nbody %s ?"
    assert delivery_store.claim(any_db, "d0", "outbox") == "claimed"
    assert delivery_store.claim(any_db, "d0", "outbox") == "taken"
    assert delivery_store.mark_sent(any_db, "d0", "msg-1")
    assert not delivery_store.mark_unknown(any_db, "d0", "late")  # never backwards
    assert delivery_store.claim(any_db, "d1", "outbox") == "claimed"
    assert delivery_store.mark_not_sent(any_db, "d1", "outage")
    moved = requeue_store.requeue(any_db, ["d1"], "operator", "test")
    assert moved == ["d1"] and len(requeue_store.requeue_history(any_db, "d1")) == 1
    assert delivery_store.count_by_state(any_db, DAY)["queued"] == 2
    sent_to = subscriber_store.get_subscriber(any_db, ids[1])
    assert sent_to.last_digest_date == DAY


def test_a_workers_share_of_the_ledger_and_who_claimed_what(any_db):
    """The reads a worker's job narrows to its share, the claimer recorded on a claim, and the
    recovery of interrupted claims (a job's own only; nothing a running job holds here)."""
    from digest.store import shards as shard_store

    ids = [subscriber(any_db, f"s{i}@x.org") for i in range(4)]
    new = [
        delivery_store.NewDelivery(f"d{i}", sid, DAY, "Subject", b"x") for i, sid in enumerate(ids)
    ]
    delivery_store.queue_deliveries(any_db, new)
    share = (ids[1], ids[2])
    assert [s.id for s in subscriber_store.list_subscribers(any_db, "active", share)] == ids[1:3]
    assert delivery_store.subscriber_ids_with_delivery(any_db, DAY, share) == set(ids[1:3])
    only = [r[0] for r in delivery_store.queued_send_times(any_db, DAY, only=["d3", "d1"])]
    assert only == ["d1", "d3"]
    assert delivery_store.claim(any_db, "d1", "outbox", "job:7") == "claimed"
    assert delivery_store.claim(any_db, "d2", "outbox", "job:8") == "claimed"
    assert shard_store.recover_interrupted_rows(any_db, "job:7") == ["d1"]  # job 8's stays
    assert delivery_store.get_delivery(any_db, "d2").state == "sending"
    assert delivery_store.recover_interrupted(any_db, DAY) == ["d2"]  # no job runs here
    assert any_db.size_bytes() > 0


def test_service_tables(any_db):
    with transaction(any_db):
        run_id = service_store.start_run(any_db, "2025-08-20", False, "me")
        service_store.record_stage(
            any_db, run_id, "2025-08-20", "fetch", "running", "t", None, {}, None
        )
        service_store.record_stage(
            any_db, run_id, "2025-08-20", "fetch", "ok", "t", 1.5, {"n": 1}, None
        )
        service_store.finish_run(any_db, run_id, "ok")
    runs = service_store.recent_runs(any_db)
    assert runs[0]["stages"][0]["status"] == "ok" and runs[0]["stages"][0]["counts"] == {"n": 1}
    assert service_store.completed_stages(any_db, "2025-08-20") == {"fetch": {"n": 1}}
    assert [service_store.hit_rate_limit(any_db, "k", "w") for _ in range(3)] == [1, 2, 3]
    assert service_store.record_webhook_event(any_db, "e1", "k1", "bounce", "d", 1, None)
    assert not service_store.record_webhook_event(any_db, "e1", "k1", "bounce", "d", 1, None)
    assert service_store.count_reputation_events(any_db, "2000") == {"complaints": 0, "bounces": 1}


def test_site_state_and_similar_lists(any_db):
    build_id = site_store.start_build(any_db, full=True)
    assert isinstance(build_id, int)
    lists = {"a": [("b", 0.9), ("c", 0.5)], "b": [("a", 0.9)]}
    site_store.save_similar_papers(any_db, "m", lists, hashes={"a": "h"}, build_id=build_id)
    assert site_store.similar_papers(any_db, "m") == lists
    assert site_store.similar_lists(any_db, "m", ["b"]) == {"b": [("a", 0.9)]}
    assert site_store.similar_showing(any_db, "m", ["c"]) == {"a"}
    assert site_store.similar_targets_gone(any_db, "m", ["a", "b"]) == {"c"}
    assert site_store.similar_heads(any_db, "m", 2) == {"a": ("h", 0.5), "b": (None, None)}
    site_store.save_paper_state(any_db, [("a", "k", "1 2", build_id)])
    site_store.save_paper_state(any_db, [("a", "k2", "1 2", build_id)])
    assert site_store.paper_state(any_db) == {"a": ("k2", "1 2", build_id)}
    site_store.mark_tree_dirty(any_db, "a")
    site_store.save_tree_fingerprints(any_db, "a", {}, {"x.html": "f"}, "m1", build_id=build_id)
    assert site_store.tree_fingerprints(any_db, "a", "m1") == {"x.html": "f"}


def test_plans_and_topic_matches(any_db):
    paper_store.upsert_papers(any_db, [paper("2508.1")], "feed")
    sid = subscriber(any_db, "a@x.org")
    pick = {"paper_id": "2508.1", "rank": 1, "score": 0.5, "topic": "t", "why": "w", "why_json": {}}
    rank_store.replace_plan(any_db, sid, DAY, 10, None, [pick])
    rank_store.replace_plan(any_db, sid, DAY, 12, None, [pick])
    header, picks = rank_store.plan_rows(any_db, sid, DAY)
    assert header["candidates"] == 12 and [p["paper_id"] for p in picks] == ["2508.1"]
    assert not rank_store.plan_is_sent(any_db, sid, DAY)
    topic = topic_store.insert_topic(any_db, Topic(name="T", kind="curated"))
    rank_store.replace_topic_matches(any_db, [DAY], [(topic.id, "2508.1", "2025-08-20", 0.7)])
    assert rank_store.topic_match_counts(any_db, DAY, DAY) == {"2508.1": 1}
    rank_store.save_hf_papers(any_db, DAY, [("2508.1", 5, "t")])
    rank_store.save_hf_papers(any_db, DAY, [("2508.1", 7, "t")])
    assert rank_store.hf_upvotes(any_db, ["2508.1"]) == {"2508.1": 7}


def test_a_failed_statement_rolls_the_whole_transaction_back(any_db):
    paper_store.upsert_papers(any_db, [paper("2508.1")], "feed")
    with pytest.raises(any_db.errors), transaction(any_db):
        any_db.execute("UPDATE papers SET title = 'changed' WHERE id = '2508.1'")
        any_db.execute("INSERT INTO papers (id) VALUES ('2508.2')")  # NOT NULL columns: refused
    assert paper_store.get_paper(any_db, "2508.1").title == "A title"
    with transaction(any_db):  # the connection is usable again, and savepoints nest
        with pytest.raises(any_db.errors), transaction(any_db):
            any_db.execute("INSERT INTO papers (id) VALUES ('2508.2')")
        any_db.execute("UPDATE papers SET title = 'kept' WHERE id = '2508.1'")
    assert paper_store.get_paper(any_db, "2508.1").title == "kept"


def test_the_dialect_translation_names_what_is_not_portable():
    assert to_postgres("SELECT 'a?%' || ? FROM t WHERE x LIKE 'n%'") == (
        "SELECT 'a?%%' || %s FROM t WHERE x LIKE 'n%%'"
    )
    with pytest.raises(NotPortable, match="ON CONFLICT"):
        to_postgres("INSERT OR REPLACE INTO t (a) VALUES (?)")
    with pytest.raises(NotPortable, match="table_exists"):
        to_postgres("SELECT name FROM sqlite_master")
    ddl = to_postgres("CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL, b BLOB, -- note's\n s TEXT)")
    assert "IDENTITY" in ddl and "DOUBLE PRECISION" in ddl and "BYTEA" in ddl and "note" not in ddl
    assert json.dumps(ddl)
