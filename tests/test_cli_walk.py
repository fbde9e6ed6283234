"""A new operator's walk through the commands that look at the data: a wrong directory, a
wrong date or a one-paper digest each read as one clear line with the right exit code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import run_cli_in_process


def _digest(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "digest", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["preview", "ada@example.org"],
        ["picks", "ada@example.org"],
        ["trending", "--json"],
        ["deliveries", "list", "--json"],
        ["send", "--dry-run", "--json"],
        ["site", "build"],
        ["subscribers", "list", "--json"],
        ["topics", "list"],
    ],
    ids=" ".join,
)
def test_looking_in_the_wrong_directory_creates_no_database(tmp_path, command):
    """`digest site build`, `send --dry-run`, `deliveries list`, `preview` … run in the wrong
    directory made an empty database there (and an empty site), as if nothing were stored."""
    result = _digest(*command, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert result.stderr.startswith(f"error: no database at {tmp_path / 'data' / 'digest.db'}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_preview_of_a_day_without_an_announcement_names_the_latest(sample_db, tmp_path, capsys):
    """`digest preview --date 2020-01-01` wrote a 'Nothing matched today' email for a day
    no announcement of which is stored; it names the latest stored one instead."""
    from digest.subscribers import add_subscriber

    add_subscriber(sample_db, "one@example.org", status="active", text="agents", max_papers=1)
    config_path = tmp_path / "config.toml"  # make_config's, naming sample_db's file
    code, out, err = run_cli_in_process(
        config_path, capsys, "preview", "one@example.org", "--date", "2020-01-01"
    )
    assert code == 2 and out == ""
    assert err.strip() == (
        "error: --date 2020-01-01: no announcement of that day is stored (the latest is "
        "2026-09-24; `digest status` lists recent ones)"
    )
    code, out, err = run_cli_in_process(
        config_path, capsys, "preview", "one@example.org", "--date", "2025-08-20"
    )
    assert code == 0, err
    assert out.splitlines()[0].endswith("(1 paper)")  # not '(1 papers)'
