"""Every command that defaults to "the latest day" means the same day: the newest
announcement day that listed new or cross-listed papers (`store.days.
latest_announcement_day`). A later day of only replacements, or today's date, is not it."""

from __future__ import annotations

import json
from datetime import date

from digest.ingest.daily import ingest_listing
from digest.models import ParsedListing
from digest.site.build import build_site
from digest.store.days import latest_announcement_day, listed_days
from digest.store.papers import get_paper
from digest.subscribers.manage import add_subscriber
from tests.conftest import run_cli_in_process

LATEST = date(2026, 9, 24)  # the RSS sample's day: 2 new papers and a cross-list


def _replacements_only_day(db, config) -> None:
    """2026-09-25 lists one replaced paper and nothing new."""
    from dataclasses import replace

    paper = get_paper(db, "2508.00875")
    assert paper is not None
    replaced = replace(paper, announce_type="replace", announced=date(2026, 9, 25), version=2)
    listing = ParsedListing(papers=[replaced], channel_date=date(2026, 9, 25))
    ingest_listing(
        db, listing, source="feed", label="x", url=None, announce_types=config.arxiv.announce_types
    )


def test_every_latest_day_default_agrees(sample_db, sample_config, make_config, capsys):
    _config, path = make_config()
    _replacements_only_day(sample_db, sample_config)
    add_subscriber(sample_db, "ada@example.org", status="active", text="language models")
    assert latest_announcement_day(sample_db) == LATEST
    assert listed_days(sample_db) == [date(2025, 8, 20), LATEST]

    code, out, err = run_cli_in_process(path, capsys, "preview", "ada@example.org", "--json")
    assert code == 0, err
    assert f"{LATEST}-subscriber-" in json.loads(out)["html"]

    code, out, err = run_cli_in_process(path, capsys, "send", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["issue_date"] == LATEST.isoformat()

    code, out, err = run_cli_in_process(path, capsys, "picks", "ada@example.org")
    assert code == 0, err
    assert f"on {LATEST}" in out  # dry runs save no plan: none yet, for that day

    code, out, err = run_cli_in_process(path, capsys, "trending")
    assert code == 0, err
    assert f"nothing is trending for the day of {LATEST} yet" in out

    code, out, err = run_cli_in_process(
        path, capsys, "topics", "try", "--text", "language models", "--days", "1", "--json"
    )
    assert code == 0, err
    assert {r["announced"] for r in json.loads(out)} == {LATEST.isoformat()}

    report = build_site(sample_db, sample_config)
    home = (sample_config.path(sample_config.site.dir) / "index.html").read_text(encoding="utf-8")
    assert report.days == 3 and "Daily papers · Sep 24, 2026" in home
