"""Trending from community signals, and the Hugging Face Daily Papers source (loopback server)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from typer.testing import CliRunner

from digest.cli import app
from digest.config import ArxivConfig
from digest.errors import ParseError, UsageError
from digest.ingest.hf import fetch_hf_daily, parse_hf_daily
from digest.ingest.http import PoliteFetcher
from digest.models import Topic
from digest.rank import planning, trending
from digest.store.feedback import add_feedback
from digest.subscribers.manage import add_subscriber
from digest.topics.catalog import add_topic
from tests.conftest import run_cli_in_process

DAY = date(2025, 8, 20)


def hf_item(arxiv_id: str, upvotes: int, title: str = "A paper") -> dict:
    """One item in the shape of GET /api/daily_papers (see the reference notes)."""
    return {
        "paper": {
            "id": arxiv_id,
            "authors": [{"_id": "x", "name": "A. Author", "hidden": False}],
            "publishedAt": "2025-08-19T17:59:00.000Z",
            "submittedOnDailyAt": "2025-08-20T01:00:00Z",
            "title": title,
            "summary": "An abstract.",
            "upvotes": upvotes,
            "discussionId": "d1",
            "ai_summary": "",
            "ai_keywords": [],
        },
        "title": title,
        "summary": "An abstract.",
        "publishedAt": "2025-08-20T01:00:00.000Z",
        "thumbnail": "",
        "numComments": 0,
        "isAuthorParticipating": False,
    }


def test_parse_hf_daily_keeps_ids_and_upvotes_and_skips_bad_items():
    raw = json.dumps(
        [
            hf_item("2508.13167", 12, "Chain-of-Agents"),
            hf_item("2508.13204v2", 40, "QuickMerge++"),
            {"paper": {"id": "not an id", "upvotes": 5}},
            {"title": "no paper object"},
            "junk",
        ]
    ).encode()
    papers = parse_hf_daily(raw)
    assert [(p.paper_id, p.upvotes, p.title) for p in papers] == [
        ("2508.13204", 40, "QuickMerge++"),
        ("2508.13167", 12, "Chain-of-Agents"),
    ]
    with pytest.raises(ParseError):
        parse_hf_daily(b"<html>rate limited</html>")
    with pytest.raises(ParseError):
        parse_hf_daily(b'{"error": "x"}')


def test_fetch_hf_daily_against_a_loopback_server(httpserver):
    body = json.dumps([hf_item("2508.13167", 7)])
    httpserver.expect_request(
        "/api/daily_papers", query_string={"date": "2025-08-20", "limit": "100"}
    ).respond_with_data(body, content_type="application/json")
    with PoliteFetcher(ArxivConfig(request_delay_seconds=0)) as fetcher:
        raw = fetch_hf_daily(fetcher, httpserver.url_for("/"), DAY)
    assert parse_hf_daily(raw)[0].upvotes == 7


def test_trending_orders_by_likes_clicks_and_upvotes_never_topic_matches(
    sample_db, sample_config, httpserver
):
    a = add_subscriber(sample_db, "a@example.org", status="active")
    b = add_subscriber(sample_db, "b@example.org", status="active")
    for sub in (a, b):
        add_feedback(sample_db, sub.id, "2508.13161", "like")
    add_feedback(sample_db, a.id, "2508.13161", "like")  # the same person twice counts once
    add_feedback(sample_db, a.id, "2508.13358", "click")
    add_feedback(sample_db, b.id, "2508.13358", "click")
    add_feedback(sample_db, b.id, "2508.13174", "dislike")
    add_topic(sample_db, Topic(name="Speech", kind="curated", keywords=("speech",)))
    planning.match_curated_topics(sample_db, sample_config, DAY)

    top = trending.trending(sample_db, DAY, period="day", limit=5)
    assert top[0].paper_id == "2508.13161" and top[0].likes == 2
    speech = next(t for t in top if t.paper_id == "2508.13358")
    assert speech.clicks == 2 and speech.score == 2.0  # its topic match adds nothing
    assert "2508.13174" not in [t.paper_id for t in top]  # only a dislike: not trending
    # papers that only matched curated topics are not trending: nobody read them
    assert {t.paper_id for t in top} == {"2508.13161", "2508.13358"}
    assert trending.trending(sample_db, date(2025, 8, 21), period="day") == []
    week = trending.trending(sample_db, date(2025, 8, 24), period="week")
    assert week[0].paper_id == "2508.13161"
    assert trending.trending(sample_db, date(2025, 8, 1), period="month")[0] == week[0]

    # Hugging Face upvotes (source on, loopback server) lift a paper nobody here liked yet.
    httpserver.expect_request("/api/daily_papers").respond_with_data(
        json.dumps([hf_item("2508.13204", 1000)]), content_type="application/json"
    )
    hf_on = sample_config.with_overrides(
        ranking=sample_config.ranking.__class__(
            hf_enabled=True, hf_base_url=httpserver.url_for("/")
        ),
        arxiv=ArxivConfig(request_delay_seconds=0),
    )
    assert trending.refresh_hf(sample_db, sample_config, DAY) == 0  # off by default
    assert trending.refresh_hf(sample_db, hf_on, DAY) == 1
    top = trending.trending(sample_db, DAY, limit=3)
    assert top[0].paper_id == "2508.13204" and top[0].hf_upvotes == 1000


def test_trending_cli_json(sample_db, make_config):
    sub = add_subscriber(sample_db, "a@example.org", status="active")
    add_feedback(sample_db, sub.id, "2508.13161", "like")
    _, path = make_config()
    result = CliRunner().invoke(
        app, ["--config", str(path), "trending", "--week", "--date", "2025-08-20", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["paper_id"] == "2508.13161" and rows[0]["likes"] == 1
    assert {"score", "likes", "clicks", "hf_upvotes"} <= set(rows[0])
    assert "matches" not in rows[0]  # topic overlap is not a trending signal


def test_period_bounds():
    assert trending.period_bounds(date(2025, 8, 20), "week") == (
        date(2025, 8, 18),
        date(2025, 8, 24),
    )
    assert trending.period_bounds(date(2025, 2, 10), "month") == (
        date(2025, 2, 1),
        date(2025, 2, 28),
    )
    with pytest.raises(Exception, match="period"):
        trending.period_bounds(DAY, "year")


def test_plan_all_refreshes_hf_when_on_and_survives_its_failure(
    sample_db, sample_config, httpserver
):
    from digest.config import RankingConfig

    httpserver.expect_request("/api/daily_papers").respond_with_data(
        json.dumps([hf_item("2508.13204", 9)]), content_type="application/json"
    )
    on = sample_config.with_overrides(
        ranking=RankingConfig(hf_enabled=True, hf_base_url=httpserver.url_for("/")),
        arxiv=ArxivConfig(request_delay_seconds=0, max_retries=0),
    )
    report = planning.plan_all(sample_db, on, DAY)
    assert report.hf_papers == 1 and not report.errors
    httpserver.clear()
    httpserver.expect_request("/api/daily_papers").respond_with_data("oops", status=404)
    report = planning.plan_all(sample_db, on, DAY)
    assert report.hf_papers == 0 and report.errors[0].startswith("hf: ")


def test_period_bounds_stop_at_the_end_of_the_calendar():
    last = date.max
    assert trending.period_bounds(last, "month") == (date(9999, 12, 1), last)
    assert trending.period_bounds(last, "week") == (date(9999, 12, 27), last)
    assert trending.period_bounds(date(2024, 12, 15), "month") == (
        date(2024, 12, 1),
        date(2024, 12, 31),
    )
    assert trending.period_bounds(date.min, "week")[0] == date.min


def test_a_limit_below_one_is_a_usage_error_not_an_empty_list(sample_db):
    sub = add_subscriber(sample_db, "a@example.org", status="active")
    add_feedback(sample_db, sub.id, "2508.13161", "like")
    assert [t.paper_id for t in trending.trending(sample_db, DAY, limit=1)] == ["2508.13161"]
    for bad in (0, -5):
        with pytest.raises(UsageError, match="--limit must be at least 1"):
            trending.trending(sample_db, DAY, limit=bad)


def test_trending_cli_far_dates_and_bad_limits_exit_cleanly(sample_db, make_config, capsys):
    _, path = make_config()
    for period in ("--week", "--month"):
        code, out, err = run_cli_in_process(
            path, capsys, "trending", period, "--date", "9999-12-31", "--json"
        )
        assert (code, json.loads(out), err) == (0, [], "")
    code, out, err = run_cli_in_process(path, capsys, "trending", "--limit", "0")
    assert code == 2 and out == "" and "--limit must be at least 1" in err


def test_the_email_has_no_trending_section_until_a_reader_shows_interest(sample_db, sample_config):
    """Papers that matched curated topics are not "Trending today": with no like or click
    the issue's trending list is empty (the email leaves the section out)."""
    from digest.mail.sending import trending_papers

    add_topic(sample_db, Topic(name="Agents", kind="curated", keywords=("agent", "agents")))
    assert planning.match_curated_topics(sample_db, sample_config, DAY) > 0
    assert trending_papers(sample_db, DAY) == []
    reader = add_subscriber(sample_db, "r@example.org", status="active")
    add_feedback(sample_db, reader.id, "2508.13174", "like")
    assert [p.id for p in trending_papers(sample_db, DAY)] == ["2508.13174"]
