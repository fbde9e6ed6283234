"""Curated-topic matches for every listed day, on real papers: computed when a day is embedded
(nobody needs to be mailed), the same in `topics test`, `topics try`, the planner and the
archive's topic pages and stats; precise enough that a topic with no paper today sends none.

The papers are the first 60 of two real listing days (data/samples/listings), embedded with
the real model; the topics are the demo's curated topics (data/topics.toml, seeds left out:
their papers are not in this store).
"""

from __future__ import annotations

import json
import shutil
import tomllib
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from digest.models import Paper, Topic
from tests.conftest import cli_runner

ROOT = Path(__file__).resolve().parent.parent
LISTINGS = ROOT / "data" / "samples" / "listings"
DAYS = ("2025-10-06", "2025-10-07")
PER_DAY = 60


def demo_topics() -> list[Topic]:
    spec = tomllib.loads((ROOT / "data" / "topics.toml").read_text(encoding="utf-8"))
    return [
        Topic(
            name=t["name"],
            kind="curated",
            description=" ".join(t.get("description", "").split()),
            keywords=tuple(t.get("keywords", ())),
            exclude=tuple(t.get("exclude", ())),
            categories=tuple(t.get("categories", ())),
            threshold=t.get("threshold"),
        )
        for t in spec["topic"]
    ]


@pytest.fixture(scope="module")
def week_db_path(tmp_path_factory) -> Path:
    """Two real listing days, each paper announced on its listing day, embedded; no topics."""
    from digest.config import Config
    from digest.embed.encoder import embed_missing
    from digest.ingest.jsonl import iter_jsonl
    from digest.store import open_db
    from digest.store.papers import upsert_papers

    path = tmp_path_factory.mktemp("week") / "digest.db"
    db = open_db(path)
    for day in DAYS:
        papers = [p for p in iter_jsonl(LISTINGS / f"{day}.jsonl") if isinstance(p, Paper)]
        upsert_papers(
            db,
            [
                replace(p, announced=date.fromisoformat(day), announce_type="new")
                for p in papers[:PER_DAY]
            ],
            source="listings",
        )
    embed_missing(db, Config().embedding)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture
def week(week_db_path, make_config):
    """(db, config, config path) on a private copy of the two days, the demo topics added."""
    from digest.store import open_db
    from digest.topics.catalog import add_topic

    config, path = make_config()
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(week_db_path, config.db_path)
    db = open_db(config.db_path)
    for topic in demo_topics():
        add_topic(db, topic)
    yield db, config, path
    db.conn.close()


def test_embedding_a_day_stores_its_matches_and_topics_test_counts_what_the_site_shows(week):
    from digest import pipeline
    from digest.site.charts import matches_per_topic
    from digest.site.gather import gather
    from digest.store.subscribers import list_subscribers

    db, config, path = week
    assert not list_subscribers(db)  # nobody is mailed on these days
    counts = pipeline._stage_embed(db, config, date.fromisoformat(DAYS[-1]), None)
    assert counts["topic_days"] == len(DAYS)

    site = gather(db)
    by_topic_day = Counter(
        (m.topic_id, m.day.isoformat()) for ms in site.matches_by_topic.values() for m in ms
    )
    # the stats page's weekly series, each point labelled "name, week of D: N"
    charted = {line["name"]: line["points"] for line in matches_per_topic(site)["lines"]}
    run = cli_runner(path)
    total = 0
    for topic in site.topics:
        code, out, err = run("topics", "test", topic.name, "--days", "30", "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["total_passing"] == len(site.matches_by_topic.get(topic.id, []))
        for day in report["days"]:
            assert day["passing"] == by_topic_day[(topic.id, day["day"])], (topic.name, day)
        assert report["per_day"] == pytest.approx(report["total_passing"] / len(DAYS), abs=0.01)
        total += report["total_passing"]
        if topic.name in charted:
            weekly = [int(p["label"].rsplit(": ", 1)[1]) for p in charted[topic.name]]
            assert sum(weekly) == report["total_passing"]
    assert total > 0  # the demo's topics do find papers in a real week
    code, out, _ = run("topics", "test", site.topics[0].name, "--days", "30")
    assert code == 0 and "papers a day at threshold 0.35 (" in out  # what a curator expects


def test_a_papers_score_and_verdict_are_the_same_in_the_week_and_on_its_day(week):
    from digest.rank.matching import refresh_topic_matches
    from digest.store.topics import get_topic
    from digest.topics.lab import try_topic

    db, config, _ = week
    refresh_topic_matches(db, config)
    topic = get_topic(db, "Robotics & embodied AI")
    assert topic is not None
    stored = {
        paper_id: score
        for topic_id, paper_id, score in db.execute(
            "SELECT topic_id, paper_id, score FROM topic_matches"
        ).fetchall()
        if topic_id == topic.id
    }
    # `topics try` over every stored day, with the topic's own words: the same papers pass,
    # with the same scores, as the per-day matches the archive stores
    ranked = try_topic(
        db, config, text=topic.description, keywords=topic.keywords, limit=2 * PER_DAY
    )
    passing = {r.paper_id: r.score for r in ranked if r.passes}
    assert passing.keys() == stored.keys() and passing
    for paper_id, score in passing.items():
        assert score == pytest.approx(stored[paper_id], abs=1e-4)


def test_why_lines_name_the_words_and_a_topic_without_papers_sends_nothing(week):
    from digest.topics.lab import try_topic

    db, config, _ = week
    protein = try_topic(db, config, text="protein structure prediction", limit=10)
    assert protein and not any(r.passes for r in protein)
    robots = try_topic(
        db,
        config,
        text="Robotics: robot manipulation, grasping, locomotion, motion planning and control "
        "of physical robots",
        limit=10,
    )
    sent = [r for r in robots if r.passes]
    assert sent
    for result in robots:
        assert "matches the topic description" not in result.why
    for result in sent:
        assert result.why.startswith("mentions “"), result.why


def test_matches_are_recomputed_only_when_the_curated_topics_change(week):
    from digest.rank.matching import refresh_topic_matches
    from digest.store.topics import get_topic, update_topic_row

    db, config, _ = week
    first = refresh_topic_matches(db, config)
    assert first.days == len(DAYS)
    again = refresh_topic_matches(db, config)
    assert again.days == 0 and again.skipped == len(DAYS)
    topic = get_topic(db, "AI safety & alignment")
    assert topic is not None and topic.id is not None
    update_topic_row(db, topic.id, replace(topic, threshold=0.5))
    changed = refresh_topic_matches(db, config)
    assert changed.days == len(DAYS)
