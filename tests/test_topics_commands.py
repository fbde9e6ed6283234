"""`digest topics remove --json`: a script learns what went and how many followed it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from digest.cli import app
from digest.models import Topic
from digest.subscribers.manage import add_subscriber
from digest.topics.catalog import add_topic, get_topic


def test_remove_json_prints_the_removed_topic_and_its_followers(sample_db, make_config):
    _, path = make_config()
    add_topic(sample_db, Topic(name="Speech", kind="curated", keywords=("speech",)))
    add_subscriber(sample_db, "a@example.org", status="active", topics=["Speech"])
    result = CliRunner().invoke(
        app, ["--config", str(path), "topics", "remove", "speech", "--json"]
    )
    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)
    assert removed["name"] == "Speech" and removed["keywords"] == ["speech"]
    assert removed["subscribers"] == 1
    assert get_topic(sample_db, "Speech") is None


def test_list_keeps_one_topic_to_a_line_or_two_on_an_80_column_terminal(
    sample_db, make_config, monkeypatch
):
    from digest.cli import common

    _, path = make_config()
    summary = "Autonomous agents built on large language models: tool use, web and computer use"
    add_topic(sample_db, Topic(name="LLM agents", kind="curated", description=summary))
    monkeypatch.setattr(common.console, "width", 80)  # what a terminal of 80 columns reports
    result = CliRunner().invoke(app, ["--config", str(path), "topics", "list"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert 1 <= len(rows) <= 2 and all(len(line) <= 80 for line in result.stdout.splitlines())
    assert "Autonomous" in rows[0]
