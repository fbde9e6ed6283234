"""The badge, TL;DR-cache and lead-line SQL on each backend (SQLite, and PostgreSQL where the
session has its server)."""

from __future__ import annotations

from datetime import date

import numpy as np

from digest.models import Badges, CodeLink, Paper
from digest.store import summaries as store
from digest.store.papers import save_embeddings, upsert_papers
from digest.store.subscribers import get_subscriber
from digest.subscribers.manage import add_subscriber, update_subscriber


def test_badges_cache_and_leads_round_trip(any_db):
    db = any_db
    papers = [
        Paper(id=f"2510.0000{i}", title=f"T{i}", abstract="A b c.", version=1) for i in (1, 2)
    ]
    upsert_papers(db, papers, source="jsonl")
    assert [row["id"] for row in store.papers_needing_badges(db, 1)] == ["2510.00001", "2510.00002"]
    badges = Badges(
        links=(CodeLink("github", "https://github.com/a/b"),), venue="ICLR 2026", venue_key="ICLR"
    )
    store.save_badges(db, [("2510.00001", badges), ("2510.00002", Badges())], version=1)
    store.save_badges(db, [("2510.00001", badges)], version=1)  # again: replaced, not doubled
    assert store.badges_for(db, ["2510.00001", "2510.00002"]) == {"2510.00001": badges}
    assert store.papers_needing_badges(db, 1) == []
    assert len(store.papers_needing_badges(db, 2)) == 2  # a newer extractor redoes them
    assert store.badge_counts(db) == {"with_code": 1, "with_venue": 1}

    store.save_summary(db, "m", "v1", "de", "hash1", "Kurz. Gut.")
    store.save_summary(db, "m", "v1", "de", "hash1", "Anders.")  # the first one stays
    assert store.cached_summaries(db, "m", "v1", "de", ["hash1", "hash2"]) == {
        "hash1": "Kurz. Gut."
    }
    assert store.cached_summaries(db, "m", "v2", "de", ["hash1"]) == {}
    assert store.cached_summaries(db, "m", "v1", "zh", ["hash1"]) == {}

    sub = add_subscriber(db, "x@example.org", status="active")
    update_subscriber(db, sub.id, language="zh-TW")
    assert get_subscriber(db, sub.id).language == "zh-TW"
    day = date(2025, 10, 10)
    store.save_leads(db, sub.id, day, {"2510.00001": ("A line.", "extractive")})
    store.save_leads(db, sub.id, day, {"2510.00001": ("Ein Satz.", "llm")})
    assert store.leads_for(db, sub.id, day) == {"2510.00001": ("Ein Satz.", "llm")}

    vectors = np.eye(2, 4, dtype=np.float32)
    save_embeddings(db, "model", ["s:a", "s:b"], vectors)
    found = store.vectors_by_key(db, "model", ["s:a", "s:b", "s:c"])
    assert set(found) == {"s:a", "s:b"} and np.array_equal(found["s:b"], vectors[1])
