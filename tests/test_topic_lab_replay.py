"""`digest topics test` against what the planner really sends, and its histogram at the edges."""

from __future__ import annotations

import sqlite3
from datetime import date

from digest.models import Topic
from digest.rank.planning import plan_digest
from digest.store.subscribers import get_subscriber_by_email
from digest.subscribers.manage import add_subscriber, record_feedback
from digest.topics import lab as topic_lab
from digest.topics.catalog import add_topic
from digest.topics.lab import histogram
from tests.conftest import cli_runner

DAY = date(2025, 8, 20)
AGENT_SEEDS = ("2508.13167", "2508.14040")  # both announced on DAY


def _agents(db, threshold: float = 0.35) -> None:
    add_topic(
        db,
        Topic(
            name="Agents",
            kind="curated",
            description="autonomous agents built on large language models, tool use",
            # this cs.AI day is full of agents: only the words a curator names stay rare enough
            # to count as a paper's own evidence (docs/ranking.md)
            keywords=("LLM agent", "agentic", "multi-agent", "tool use"),
            seed_ids=AGENT_SEEDS,
            threshold=threshold,
        ),
    )


def test_a_day_passes_exactly_what_a_follower_of_the_topic_is_sent(sample_db, sample_config):
    """Seeds are never sent; the community's interest orders a follower's picks but never lifts
    a paper over the threshold, so `topics test` counts exactly what a follower gets."""
    _agents(sample_db, threshold=0.3)
    before = topic_lab.test_topic(sample_db, sample_config, "Agents", days=None)
    just_under = [r for r in before.borderline if not r.passes and r.score > 0.3 - 0.03]
    assert just_under, before.borderline
    fan = add_subscriber(sample_db, "fan@example.org", status="active", text="cooking")
    assert fan.id
    for result in just_under:
        record_feedback(sample_db, "fan@example.org", result.paper_id, "like")
    add_subscriber(sample_db, "f@example.org", status="active", topics=["Agents"], max_papers=50)
    follower = get_subscriber_by_email(sample_db, "f@example.org")
    assert follower is not None
    plan = plan_digest(sample_db, sample_config, follower, DAY)
    sent = {p.paper_id for p in plan.picks}
    report = topic_lab.test_topic(sample_db, sample_config, "Agents", days=None)
    day = next(d for d in report.days if d.day == DAY)
    assert 0 < day.passing == len(sent) < 50
    assert not sent & set(AGENT_SEEDS)
    assert not {r.paper_id for r in just_under} & sent  # liked by others, still under the line
    for result in report.borderline:
        if result.announced == DAY.isoformat():
            assert result.passes == (result.paper_id in sent), result


def test_histogram_puts_the_threshold_on_a_bin_edge():
    import numpy as np

    scores = [float(np.float32(s)) for s in (0.1, 0.2, 0.3, 0.33, 0.35)]  # as the planner's
    for threshold in (0.1, 0.27, 0.3, 0.35):
        bins = histogram(scores, threshold, bins=5)
        assert sum(c for _, _, c in bins) == len(scores)
        assert any(abs(lo - threshold) < 1e-6 for lo, _, _ in bins), (threshold, bins)
        passing = sum(c for lo, _, c in bins if lo >= threshold - 1e-6)
        assert passing == sum(s >= np.float32(threshold) for s in scores), (threshold, bins)
    outside = histogram(scores, -1.0, bins=5)
    assert outside[0][0] == scores[0] and sum(c for _, _, c in outside) == 5


def _bars(out: str) -> list[str]:
    return [line for line in out.splitlines() if "│" in line and " .. " in line]


def _cli(make_config):
    _, path = make_config()
    return cli_runner(path)


def test_cli_edges_no_match_all_pass_and_threshold_at_the_top(
    sample_db, sample_config, make_config
):
    cli = _cli(make_config)
    add_topic(
        sample_db,
        Topic(name="Strings", kind="curated", description="string theory", categories=("hep-th",)),
    )
    code, out, err = cli("topics", "test", "Strings", "--days", "9999")
    assert code == 0, (out, err)
    assert "no candidate paper is eligible" in out and "no paper matches" in out
    # keyword topics: no calibration, no evidence rule, so a threshold of -1 passes everything
    add_topic(sample_db, Topic(name="All", kind="curated", keywords=("learning",), threshold=-1.0))
    code, out, _ = cli("topics", "test", "All", "--days", "9999")
    assert code == 0 and "86 of 86 papers pass" in out and "all pass" in out
    assert "░" not in "".join(_bars(out)) and "◀ threshold" not in out
    report = topic_lab.test_topic(sample_db, sample_config, "All", days=None)
    top = max(report.scores)
    add_topic(
        sample_db,
        Topic(
            name="Top", kind="curated", keywords=("learning",), threshold=round(top, 4) - 0.00005
        ),
    )
    code, out, _ = cli("topics", "test", "Top", "--days", "9999")
    lines = out.splitlines()
    marked = [line for line in lines if "◀ threshold" in line]
    assert code == 0 and len(marked) == 1 and "█" in marked[0], out
    assert "1 of" in out or "2 of" in out
    assert _bars(out) and all(len(line) <= 80 for line in _bars(out))


def test_try_lists_only_announcement_kinds_the_planner_sends(sample_db, sample_config):
    """A replacement (an old paper revised) is stored but never sent: the lab must not show it."""
    from digest.topics.lab import try_topic

    ranked = try_topic(sample_db, sample_config, keywords=["learning"], limit=3)
    replaced = ranked[0].paper_id
    with sqlite3.connect(sample_config.db_path) as conn:
        conn.execute("UPDATE papers SET announce_type = 'replace' WHERE id = ?", (replaced,))
    again = try_topic(sample_db, sample_config, keywords=["learning"], limit=3)
    assert replaced not in [r.paper_id for r in again]
    assert again[0].paper_id == ranked[1].paper_id


def test_try_why_lines_read_without_the_lab_topic_name(sample_db, sample_config):
    from digest.topics.lab import try_topic

    results = try_topic(sample_db, sample_config, keywords=["learning"], limit=3)
    assert results and all(r.why.startswith("mentions “learning”") for r in results), results


def test_weekly_announcement_days_window_and_total(sample_db, sample_config, make_config):
    """Listings stored one day a week: --days counts calendar days back from the newest."""
    with sqlite3.connect(sample_config.db_path) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM papers ORDER BY id")]
        for n, paper_id in enumerate(ids):
            day = ("2025-08-06", "2025-08-13", "2025-08-20")[n % 3]
            conn.execute("UPDATE papers SET first_announced = ? WHERE id = ?", (day, paper_id))
            conn.execute(
                "UPDATE listings SET announce_date = ? WHERE paper_id = ?", (day, paper_id)
            )
    add_topic(sample_db, Topic(name="Learn", kind="curated", keywords=("learning",)))
    shown = {}
    for days in (7, 8, 14, 15):
        report = topic_lab.test_topic(sample_db, sample_config, "Learn", days)
        shown[days] = [d.day.isoformat() for d in report.days]
    assert shown[7] == ["2025-08-20"] and shown[8] == ["2025-08-13", "2025-08-20"]
    assert shown[14] == shown[8] and shown[15] == ["2025-08-06", "2025-08-13", "2025-08-20"]
    report = topic_lab.test_topic(sample_db, sample_config, "Learn", 15)
    assert sum(d.candidates for d in report.days) == len(ids)
    code, out, _ = _cli(make_config)("topics", "test", "Learn", "--days", "15")
    total = next(line for line in out.splitlines() if line.strip().startswith("total"))
    assert code == 0 and f"{report.total_passing} of {len(ids)} papers over 3 days" in total


def test_the_same_paper_liked_and_disliked_is_a_usage_error(sample_db, sample_config):
    import pytest

    from digest.errors import UsageError
    from digest.topics.lab import try_topic

    with pytest.raises(UsageError, match="--like and --dislike both name 2508.13167"):
        try_topic(sample_db, sample_config, like=["2508.13167"], dislike=["arXiv:2508.13167v1"])


def test_borderline_rows_show_their_day_and_a_why_without_the_topic_name(
    sample_db, sample_config, make_config
):
    _agents(sample_db)
    report = topic_lab.test_topic(sample_db, sample_config, "Agents", days=None)
    assert report.borderline and not any(r.why.startswith("Agents:") for r in report.borderline)
    code, out, _ = _cli(make_config)("topics", "test", "Agents", "--days", "9999")
    assert code == 0 and "┃ day " in out and "│ 2025-08-20 │" in out
    assert out.startswith("topic Agents, threshold 0.35\n")  # its own, not the default
    add_topic(sample_db, Topic(name="Plain", kind="curated", keywords=("learning",)))
    code, out, _ = _cli(make_config)("topics", "test", "Plain", "--days", "9999")
    assert out.startswith("topic Plain, threshold 0.35 ([ranking].default_threshold)\n")


def test_test_json_has_the_days_total_and_bins_split_at_the_threshold(sample_db, make_config):
    import json

    _agents(sample_db, threshold=0.3)
    code, out, _ = _cli(make_config)("topics", "test", "Agents", "--days", "9999", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["total_passing"] == sum(d["passing"] for d in report["days"])
    assert any(abs(b["low"] - 0.3) < 1e-6 for b in report["histogram"])
    at_or_above = sum(b["count"] for b in report["histogram"] if b["low"] >= 0.3 - 1e-6)
    # a paper at or above the threshold passes only with its own evidence for the topic
    assert 0 < report["total_passing"] <= at_or_above


def test_a_threshold_exactly_at_a_papers_score_passes_it_as_the_planner_does(
    sample_db, sample_config
):
    from digest.topics.catalog import update_topic

    _agents(sample_db)
    first = topic_lab.test_topic(sample_db, sample_config, "Agents", days=None, borderline=40)
    evident = [s for s, e in zip(first.scores, first.evidence, strict=True) if e]
    edge = next(
        r
        for r in first.borderline
        if r.announced == DAY.isoformat() and any(abs(s - r.score) < 1e-4 for s in evident)
    )
    exact = next(s for s in evident if abs(s - edge.score) < 1e-4)
    update_topic(sample_db, "Agents", threshold=exact)
    add_subscriber(sample_db, "f@example.org", status="active", topics=["Agents"], max_papers=50)
    follower = get_subscriber_by_email(sample_db, "f@example.org")
    assert follower is not None
    sent = {p.paper_id for p in plan_digest(sample_db, sample_config, follower, DAY).picks}
    report = topic_lab.test_topic(sample_db, sample_config, "Agents", days=None)
    assert edge.paper_id in sent
    assert next(d for d in report.days if d.day == DAY).passing == len(sent)
    bins = histogram(report.scores, report.threshold)
    at_or_above = sum(c for lo, _, c in bins if lo >= report.threshold - 1e-6)
    assert report.total_passing == sum(
        e and s >= report.threshold - 1e-7
        for s, e in zip(report.scores, report.evidence, strict=True)
    )
    assert report.total_passing <= at_or_above


def test_try_an_author_with_no_stored_paper_is_named_not_an_empty_result(sample_db, sample_config):
    import pytest

    from digest.errors import UsageError
    from digest.store.papers import get_paper
    from digest.topics.lab import try_topic

    with pytest.raises(UsageError, match="--author: no papers by 'Nobody At All'"):
        try_topic(sample_db, sample_config, authors=["Nobody At All"])
    paper = get_paper(sample_db, "2508.13167")
    assert paper is not None
    results = try_topic(sample_db, sample_config, authors=[paper.authors[0].upper()], limit=50)
    assert "2508.13167" in [r.paper_id for r in results]


def test_a_day_with_only_replacements_is_listed_with_nothing_to_send(sample_db, sample_config):
    with sqlite3.connect(sample_config.db_path) as conn:
        conn.execute(
            "UPDATE papers SET announce_type = 'replace' WHERE first_announced = '2026-09-24'"
        )
    add_topic(sample_db, Topic(name="Learn", kind="curated", keywords=("learning",)))
    report = topic_lab.test_topic(sample_db, sample_config, "Learn", days=None)
    last = report.days[-1]
    assert (last.day.isoformat(), last.candidates, last.passing) == ("2026-09-24", 0, 0)
