"""A new operator's walk through the commands that look at the data: a wrong directory, a
wrong date or a one-paper digest each read as one clear line with the right exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import digest_child, run_cli_in_process


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
    result = digest_child(*command, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert result.stderr.startswith(f"error: no database at {tmp_path / 'data' / 'digest.db'}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_preview_of_a_day_without_an_announcement_names_the_latest(sample_db, tmp_path, capsys):
    """`digest preview --date 2020-01-01` wrote a 'Nothing matched today' email for a day
    no announcement of which is stored; it names the latest stored one instead."""
    from digest.subscribers.manage import add_subscriber

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
    code, out, err = run_cli_in_process(
        config_path, capsys, "picks", "one@example.org", "--date", "2020-01-01"
    )
    assert code == 0 and out.startswith("no planned issue for one@example.org on 2020-01-01 (")


def test_a_config_path_from_digest_config_is_named_as_such(tmp_path):
    """With DIGEST_CONFIG left set in the shell, 'nope.toml: config file not found' did not
    say where that path came from."""
    env = {**os.environ, "DIGEST_CONFIG": "nope.toml"}
    result = subprocess.run(
        [sys.executable, "-m", "digest", "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == "error: DIGEST_CONFIG=nope.toml: config file not found"
    explicit = digest_child("--config", "nope.toml", "status", cwd=tmp_path)
    assert explicit.stderr.strip() == "error: nope.toml: config file not found"


def test_doctor_reports_a_broken_config_as_its_failed_check(tmp_path):
    """`doctor --json` on a broken config.toml printed nothing on stdout, so a monitor that
    parses it saw no JSON at all; the config check fails in the report's own format."""
    (tmp_path / "config.toml").write_text("[schedule]\ncron = '61 * * * *'\n")
    result = digest_child("doctor", "--json", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr == ""
    report = json.loads(result.stdout)
    assert report["ok"] is False
    [check] = report["checks"]
    assert check["name"] == "config" and check["status"] == "fail"
    assert "[schedule].cron '61 * * * *': the minute field '61' is wrong" in check["detail"]
    text = digest_child("doctor", cwd=tmp_path)
    assert text.returncode == 2
    assert text.stdout.startswith("fail config: ") and len(text.stdout.splitlines()) == 1


def test_a_site_dir_that_is_a_file_is_refused_and_the_file_kept(tmp_path):
    """[site].dir naming an existing file: `digest site build` replaced the file with a
    symlink to the new site (the operator's file was gone)."""
    assert digest_child("init", cwd=tmp_path).returncode == 0
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "config.toml").write_text('[site]\ndir = "notes.txt"\n')
    result = digest_child("site", "build", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert f"[site].dir {tmp_path / 'notes.txt'} is a file, not a folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
    assert not (tmp_path / "notes.txt").is_symlink()


def test_a_site_dir_that_cannot_be_written_is_one_line(tmp_path):
    """A [site].dir where folders cannot be made (here under /proc) was an 80-line traceback."""
    assert digest_child("init", cwd=tmp_path).returncode == 0
    (tmp_path / "config.toml").write_text('[site]\ndir = "/proc/digest-site"\n')
    result = digest_child("site", "build", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: site build: cannot write /proc/digest-site")
    assert result.stderr.strip().endswith(
        "([site].dir must be a folder this user can create and write)"
    )
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("key", ["[mail].outbox_dir", "[service].backup_dir"])
def test_a_folder_setting_naming_a_file_is_a_config_error(tmp_path, key):
    """[mail].outbox_dir naming a file: every digest was retried four times (30 s of
    backoff each) and then failed, for a setting that could never work."""
    section, name = key.strip("[").split("].")
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / "config.toml").write_text(f'[{section}]\n{name} = "notes.txt"\n')
    result = digest_child("send", "--dry-run", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        f"error: config.toml: {key} {tmp_path / 'notes.txt'} is a file, not a folder"
    )
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_send_refuses_an_issue_date_arxiv_has_not_announced(sample_db, tmp_path, capsys):
    """`digest send --date 2027-01-05` (a typo of the year) sent every always-send
    subscriber a real 'Nothing matched today · Tue 5 Jan' email and marked the issue done."""
    from datetime import timedelta

    from digest.config import load_config
    from digest.pipeline import default_issue_date
    from digest.subscribers.manage import add_subscriber

    add_subscriber(sample_db, "always@example.org", status="active", text="x", always_send=True)
    config_path = tmp_path / "config.toml"
    newest = default_issue_date(load_config(config_path))
    later = newest + timedelta(days=400)
    for args in (["--date", later.isoformat()], ["--date", later.isoformat(), "--dry-run"]):
        code, out, err = run_cli_in_process(config_path, capsys, "send", *args)
        assert code == 2 and out == ""
        assert err.strip() == (
            f"error: --date {later} is after arXiv's newest listing ({newest}, today in "
            "New York): nothing is announced for it yet"
        )
    for command in ("send", "run"):  # `run` fetched, then failed on 'date value out of range'
        code, out, err = run_cli_in_process(config_path, capsys, command, "--date", "0001-01-01")
        assert code == 2 and out == ""
        assert (
            err.strip() == "error: --date 0001-01-01 is before arXiv's first listing (1991-08-14)"
        )
    code, out, _ = run_cli_in_process(config_path, capsys, "deliveries", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_import_names_how_to_read_standard_input(tmp_path):
    """`digest import -` (the usual spelling of standard input) said only '-: no such file'."""
    result = digest_child("import", "-", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip() == "error: -: no such file (to read standard input, give /dev/stdin)"
    )
    piped = subprocess.run(
        [sys.executable, "-m", "digest", "import", "/dev/stdin", "--json"],
        input='{"id": "x-1", "title": "A title", "abstract": "An abstract."}\n',
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"},
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["counts"]["new"] == 1
