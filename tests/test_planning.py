"""Planning digests on the recorded sample papers with their real embeddings (bundled model).

The sample database holds the cs.AI Atom listing of 2025-08-20 (86 papers, a Wednesday) and
three papers of 2026-09-24.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np

from digest.embed.encoder import embed_missing
from digest.models import Topic
from digest.rank import planning
from digest.store.feedback import add_feedback
from digest.store.papers import get_paper, save_embeddings, upsert_papers
from digest.store.subscribers import get_subscriber, set_last_digest_date
from digest.subscribers.manage import add_subscriber
from digest.topics.catalog import add_personal_topic, add_topic

DAY = date(2025, 8, 20)  # a Wednesday
PIANO = "2508.13161"  # "Piano: A Multi-Constraint Pin Assignment-Aware Floorplanner"
SPEECH = "2508.13358"  # on-device speech translation


def subscriber(db, email="reader@example.org", **kw):
    return add_subscriber(db, email, status="active", **kw)


def plan_for(db, config, sub, day=DAY):
    return planning.plan_digest(db, config, get_subscriber(db, sub.id), day)


def test_a_topic_in_words_ranks_the_matching_paper_first(sample_db, sample_config):
    sub = subscriber(sample_db)
    add_personal_topic(
        sample_db,
        sub.id,
        "pin assignment aware floorplanning for chip placement",
        name="Chip layout",
    )
    plan = plan_for(sample_db, sample_config, sub)
    assert plan.candidates == 86
    assert plan.picks and plan.picks[0].paper_id == PIANO
    assert plan.picks[0].topic == "Chip layout"
    assert plan.picks[0].why.startswith("Chip layout: ")
    assert f"(score {plan.picks[0].score:.2f})" in plan.picks[0].why


def test_the_why_line_names_the_right_topic(sample_db, sample_config):
    sub = subscriber(sample_db)
    add_personal_topic(
        sample_db,
        sub.id,
        "pin assignment aware floorplanning for chip placement",
        name="Chip layout",
    )
    add_personal_topic(
        sample_db,
        sub.id,
        "low latency speech translation on mobile devices",
        name="Speech",
        keywords=["speech"],
    )
    picks = {p.paper_id: p for p in plan_for(sample_db, sample_config, sub).picks}
    assert picks[PIANO].topic == "Chip layout"
    assert picks[SPEECH].topic == "Speech"
    assert picks[SPEECH].why.startswith("Speech: mentions “speech”")


def test_exclude_keywords_never_appear(sample_db, sample_config):
    sub = subscriber(sample_db, max_papers=50)
    add_personal_topic(
        sample_db,
        sub.id,
        "large language model agents",
        name="Agents",
        exclude=["agent", "agents"],
        threshold=0.1,
    )
    plan = plan_for(sample_db, sample_config, sub)
    assert len(plan.picks) >= 5
    for pick in plan.picks:
        paper = get_paper(sample_db, pick.paper_id)
        text = f"{paper.title} {paper.abstract}".lower()
        assert " agent " not in f" {text} ".replace(",", " ").replace(".", " ")
        assert " agents " not in f" {text} ".replace(",", " ").replace(".", " ")


def test_nothing_qualifies_gives_an_empty_plan(sample_db, sample_config):
    sub = subscriber(sample_db)
    add_personal_topic(sample_db, sub.id, "medieval poetry", name="Poetry", threshold=0.9)
    plan = plan_for(sample_db, sample_config, sub)
    assert plan.picks == () and plan.candidates == 86


def test_a_picked_paper_is_never_picked_again(sample_db, sample_config):
    sub = subscriber(sample_db, max_papers=3)
    add_personal_topic(sample_db, sub.id, "chip design and circuits", name="Chips", threshold=0.1)
    first = plan_for(sample_db, sample_config, sub)
    assert len(first.picks) == 3
    assert planning.save_plan(sample_db, first)
    # The digest of the 20th was never marked sent: the next issue's window reaches back to it.
    set_last_digest_date(sample_db, sub.id, date(2025, 8, 19))
    second = plan_for(sample_db, sample_config, sub, date(2025, 8, 21))
    assert len(second.picks) == 3
    assert not {p.paper_id for p in first.picks} & {p.paper_id for p in second.picks}


def test_save_and_load_roundtrip_and_replanning_replaces(sample_db, sample_config):
    sub = subscriber(sample_db, max_papers=4)
    add_personal_topic(sample_db, sub.id, "speech", name="Speech", keywords=["speech"])
    plan = plan_for(sample_db, sample_config, sub)
    planning.save_plan(sample_db, plan)
    planning.save_plan(sample_db, plan)  # idempotent
    loaded = planning.load_plan(sample_db, sub.id, DAY)
    assert loaded == dataclasses.replace(plan, window_start=DAY)
    smaller = dataclasses.replace(plan, picks=plan.picks[:1])
    planning.save_plan(sample_db, smaller)
    assert planning.load_plan(sample_db, sub.id, DAY).picks == plan.picks[:1]
    assert planning.load_plan(sample_db, sub.id, date(2025, 8, 21)) is None


def test_mmr_drops_a_near_duplicate(sample_db, sample_config):
    original = get_paper(sample_db, PIANO)
    copy = dataclasses.replace(original, id="2508.99999", title=original.title + " (extended)")
    upsert_papers(sample_db, [copy], source="test")
    embed_missing(sample_db, sample_config.embedding)
    sub = subscriber(sample_db)
    add_personal_topic(
        sample_db,
        sub.id,
        "pin assignment aware floorplanning for chip placement",
        name="Chip layout",
        threshold=0.2,
    )
    picked = [p.paper_id for p in plan_for(sample_db, sample_config, sub).picks]
    assert len(picked) >= 2
    assert (PIANO in picked) != ("2508.99999" in picked)


def test_likes_and_dislikes_move_the_ranking(sample_db, sample_config):
    sub = subscriber(sample_db, max_papers=10)
    add_personal_topic(
        sample_db, sub.id, "artificial intelligence research", name="AI", threshold=-1.0
    )
    before = [p.paper_id for p in plan_for(sample_db, sample_config, sub).picks]
    assert PIANO not in before
    liked = ["2508.13156", "2508.13172", "2508.13257"]  # chip/RTL design with LLMs
    disliked = ["2508.13358", "2508.13376"]  # speech
    for pid in liked:
        add_feedback(sample_db, sub.id, pid, "like")
    for pid in disliked:
        add_feedback(sample_db, sub.id, pid, "dislike")
    after = {p.paper_id: p for p in plan_for(sample_db, sample_config, sub).picks}
    assert not (set(liked) | set(disliked)) & set(after)  # already seen: never re-sent
    assert PIANO in after  # the floorplanner moved into the email
    assert after[PIANO].topic == "" and after[PIANO].similar_to in liked
    assert "close to a paper you liked" in after[PIANO].why
    # The learned model (5 >= min_feedback_for_model examples) favours chips over speech.
    reader = planning.gather_reader(sample_db, sample_config, get_subscriber(sample_db, sub.id))
    pool = planning.load_pool(sample_db, sample_config, DAY, DAY)
    model = planning.feedback_model(sample_db, sample_config, reader, pool)
    assert model is not None
    bonus = dict(zip(pool.ids, model.bonus(pool.vectors), strict=True))
    assert bonus[PIANO] > 0 > bonus["2508.13376"]
    assert bonus[PIANO] > bonus[SPEECH] + 0.05


def test_weekly_subscribers_get_the_weeks_papers_once(sample_db, sample_config):
    earlier = get_paper(sample_db, "2508.13207")
    monday = dataclasses.replace(
        earlier, id="2508.00001", announced=date(2025, 8, 18), announce_type="new"
    )
    upsert_papers(sample_db, [monday], source="test")  # same text: vector reused
    sub = subscriber(sample_db, frequency="weekly", weekday=2, max_papers=50)
    add_personal_topic(
        sample_db,
        sub.id,
        "drug combinations with graph neural networks",
        name="Drugs",
        threshold=0.2,
    )
    assert planning.due_subscribers(sample_db, date(2025, 8, 19)) == []
    assert [s.id for s in planning.due_subscribers(sample_db, DAY)] == [sub.id]
    plan = plan_for(sample_db, sample_config, sub)
    assert plan.candidates == 87 and plan.window_start == date(2025, 8, 14)
    ids = {p.paper_id for p in plan.picks}
    assert "2508.00001" in ids or "2508.13207" in ids
    planning.save_plan(sample_db, plan)
    set_last_digest_date(sample_db, sub.id, DAY)
    next_week = plan_for(sample_db, sample_config, sub, date(2025, 8, 27))
    assert next_week.candidates == 0 and next_week.picks == ()


def test_plan_all_skips_a_failing_subscriber_and_matches_curated_topics(sample_db, sample_config):
    add_topic(sample_db, Topic(name="Speech", kind="curated", keywords=("speech",)))
    good = subscriber(sample_db, "good@example.org", topics=["Speech"])
    bad = subscriber(sample_db, "bad@example.org")
    add_personal_topic(sample_db, bad.id, "", name="Broken", seed_ids=["2609.26811"])
    pending = add_subscriber(sample_db, "pending@example.org", topics=["Speech"])
    # A corrupt stored vector (wrong dimension) for the broken topic's seed paper.
    broken = get_paper(sample_db, "2609.26811")
    save_embeddings(
        sample_db,
        sample_config.embedding.model,
        [broken.content_hash],
        np.ones((1, 7), dtype=np.float32),
    )
    report = planning.plan_all(sample_db, sample_config, DAY)
    assert report.due == 2 and report.failed == 1 and report.planned == 1
    assert report.errors and report.errors[0].startswith("bad@example.org")
    assert planning.load_plan(sample_db, good.id, DAY).picks
    assert planning.load_plan(sample_db, pending.id, DAY) is None
    assert report.topic_matches >= 2
    rows = sample_db.execute("SELECT paper_id FROM topic_matches").fetchall()
    assert (SPEECH,) in rows


def test_picks_command_shows_reasons(sample_db, sample_config, make_config):
    import json

    from typer.testing import CliRunner

    from digest.cli import app

    sub = subscriber(sample_db, max_papers=3)
    add_personal_topic(sample_db, sub.id, "speech", name="Speech", keywords=["speech"])
    planning.save_plan(sample_db, plan_for(sample_db, sample_config, sub))
    _, path = make_config()
    runner = CliRunner()
    # the default day is the latest announcement day (2026-09-24 in the samples), as in every
    # command: not planned for this reader, so it says which issue is and how to see it
    latest = runner.invoke(app, ["--config", str(path), "picks", "reader@example.org"])
    assert latest.exit_code == 0, latest.output
    assert "no planned issue for reader@example.org on 2026-09-24" in latest.stdout
    assert "digest picks reader@example.org --date 2025-08-20" in latest.stdout
    shown = runner.invoke(
        app, ["--config", str(path), "picks", " READER@example.org", "--date", "2025-08-20"]
    )
    assert shown.exit_code == 0, shown.output
    assert "Speech: mentions “speech”" in shown.stdout and "issue 2025-08-20" in shown.stdout
    assert "reader@example.org: issue" in shown.stdout  # the stored address, not as typed
    as_json = runner.invoke(
        app,
        ["--config", str(path), "picks", "reader@example.org", "--date", "2025-08-20", "--json"],
    )
    plan = json.loads(as_json.stdout)
    assert plan["issue_date"] == "2025-08-20" and plan["picks"][0]["why"].startswith("Speech")
    assert plan["picks"][0]["title"]


def test_plan_all_without_saving_counts_but_stores_nothing(sample_db, sample_config):
    sub = subscriber(sample_db)
    add_personal_topic(sample_db, sub.id, "speech", name="Speech", keywords=["speech"])
    report = planning.plan_all(sample_db, sample_config, DAY, save=False)
    assert report.planned == 1 and report.with_picks == 1 and report.picks >= 1
    assert planning.load_plan(sample_db, sub.id, DAY) is None


def _due_ids(db, day):
    return [s.id for s in planning.due_subscribers(db, day)]


def test_a_weekly_reader_on_a_day_without_an_issue_gets_the_next_issue_once(sample_db):
    from digest.models import DigestPlan

    joined = "2025-08-11T09:00:00+00:00"  # a Monday
    saturday = subscriber(
        sample_db, "sat@example.org", frequency="weekly", weekday="sat", created_at=joined
    )
    monday, tuesday = date(2025, 8, 18), date(2025, 8, 19)
    # arXiv announces nothing on Saturday: the Monday after it is their issue, once
    assert _due_ids(sample_db, date(2025, 8, 15)) == []  # Friday, before their weekday
    assert _due_ids(sample_db, monday) == [saturday.id]
    planning.save_plan(sample_db, DigestPlan(saturday.id, monday, (), 0, monday))  # empty
    assert _due_ids(sample_db, tuesday) == []  # planned on Monday, even with nothing to send
    set_last_digest_date(sample_db, saturday.id, monday)
    assert _due_ids(sample_db, date(2025, 8, 22)) == []
    assert _due_ids(sample_db, date(2025, 8, 25)) == [saturday.id]


def test_a_weekly_reader_whose_weekday_run_failed_gets_the_next_days_issue(sample_db):
    wednesday_reader = subscriber(
        sample_db, frequency="weekly", weekday=2, created_at="2025-08-01T09:00:00+00:00"
    )
    set_last_digest_date(sample_db, wednesday_reader.id, date(2025, 8, 13))
    thursday = date(2025, 8, 21)  # no plan for Wednesday 2025-08-20: that run failed
    assert _due_ids(sample_db, thursday) == [wednesday_reader.id]
    since, until = planning.candidate_window(
        get_subscriber(sample_db, wednesday_reader.id), thursday
    )
    assert (since, until) == (date(2025, 8, 14), thursday)


def test_a_new_weekly_reader_waits_for_their_weekday(sample_db):
    reader = subscriber(
        sample_db, frequency="weekly", weekday="wed", created_at="2025-08-18T09:00:00+00:00"
    )
    assert _due_ids(sample_db, date(2025, 8, 18)) == []  # joined Monday; Wednesday is theirs
    assert _due_ids(sample_db, date(2025, 8, 20)) == [reader.id]


def test_a_plan_whose_email_is_queued_is_not_replaced(sample_db, sample_config):
    """A digest held for the reader's local hour is already rendered: re-planning the issue
    (a re-run after a feed came back) must not make the stored plan differ from that email."""
    from digest.store.deliveries import NewDelivery, queue_deliveries

    reader = subscriber(sample_db, max_papers=3)
    add_personal_topic(sample_db, reader.id, "floorplanning and pin assignment", name="Chips")
    first = planning.plan_all(sample_db, sample_config, DAY)
    assert first.planned == 1
    before = planning.load_plan(sample_db, reader.id, DAY)
    queue_deliveries(sample_db, [NewDelivery("d-held", reader.id, DAY, "Your digest", b"raw")])
    add_personal_topic(sample_db, reader.id, "on-device speech translation", name="Speech")
    again = planning.plan_all(sample_db, sample_config, DAY)
    assert (again.planned, again.kept_sent) == (0, 1)
    assert planning.load_plan(sample_db, reader.id, DAY) == before
