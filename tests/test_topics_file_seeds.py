"""A seed the archive does not hold counts for nothing: sync, add and edit refuse it by line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from digest.errors import UsageError
from digest.models import Topic
from digest.store import open_db
from digest.topics.catalog import add_topic, get_topic, update_topic
from digest.topics.toml_file import sync_topics

STORED = "2508.13167"  # in the sample feeds
TOPICS = """\
[[topic]]
name = "LLM agents"
description = "Agents built on large language models."
seeds = ["2508.13167"]

[[topic]]
name = "Robots"
keywords = ["robot"]
seeds = ["2508.13167", "SEED"]
"""


def _rows(path) -> list:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT * FROM topics ORDER BY id").fetchall()


def test_sync_refuses_an_unknown_seed_by_line_and_changes_nothing(
    sample_db, sample_config, tmp_path
):
    path = tmp_path / "topics.toml"
    path.write_text(TOPICS.replace("SEED", STORED), encoding="utf-8")
    sync_topics(sample_db, path)
    before = _rows(sample_config.db_path)
    edited = TOPICS.replace('"Agents built', '"Changed: agents built').replace("SEED", "2508.99999")
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        sync_topics(sample_db, path)
    message = str(caught.value)
    assert message.count("\n") == 0
    assert message.startswith(f"{path}:9: topic 'Robots': seed '2508.99999' is not a stored")
    assert _rows(sample_config.db_path) == before  # the valid edit of line 3 is not applied


def test_a_fresh_archive_accepts_seeds_it_has_not_fetched_yet(tmp_path):
    db = open_db(tmp_path / "fresh.db")
    path = tmp_path / "topics.toml"
    path.write_text(TOPICS.replace("SEED", "2508.99999"), encoding="utf-8")
    assert sync_topics(db, path).added == ["LLM agents", "Robots"]


def test_add_and_edit_refuse_new_unknown_seeds_but_keep_old_ones(sample_db):
    with pytest.raises(UsageError, match="seed '2508.99999' is not a stored paper"):
        add_topic(sample_db, Topic(name="X", kind="curated", seed_ids=("2508.99999",)))
    assert get_topic(sample_db, "X") is None
    add_topic(sample_db, Topic(name="Y", kind="curated", seed_ids=(STORED,)))
    with pytest.raises(UsageError, match="'2508.99998'"):
        update_topic(sample_db, "Y", seed_ids=(STORED, "2508.99998"))
    assert update_topic(sample_db, "Y", threshold=0.2).seed_ids == (STORED,)


def test_cli_sync_exits_2_with_one_line(sample_db, make_config, tmp_path):
    _, config_path = make_config()
    path = tmp_path / "topics.toml"
    path.write_text(TOPICS.replace("SEED", "2508.99999"), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from digest.cli import main; main()",
            "--config",
            str(config_path),
            "topics",
            "sync",
            "--file",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().endswith("--ids 2508.99999)")
    assert len(done.stderr.strip().splitlines()) == 1 and ":9: topic 'Robots'" in done.stderr
