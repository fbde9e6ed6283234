"""`digest init` run again keeps the operator's files and says which ones it kept."""

from __future__ import annotations

import json

from tests.conftest import digest_child


def test_init_again_names_the_files_it_kept_and_changes_none(tmp_path):
    """A second `digest init` said "config: … (kept)" and nothing at all about the topics
    file it kept, so an operator could not tell whether their edits had survived."""
    first = digest_child("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    config, topics = tmp_path / "config.toml", tmp_path / "data" / "topics.toml"
    assert f"topics: wrote {topics}" in first.stdout
    assert f"database: created {tmp_path / 'data' / 'digest.db'}" in first.stdout
    config.write_text(config.read_text() + "\n# my edit\n")
    topics.write_text(topics.read_text() + "\n# my topics\n")
    before = (config.read_bytes(), topics.read_bytes())
    again = digest_child("init", cwd=tmp_path)
    assert again.returncode == 0 and again.stderr == "", again.stderr
    lines = again.stdout.splitlines()
    assert f"config: kept {config} (already there, left as it was)" in lines
    assert f"topics: kept {topics} (already there, left as it was)" in lines
    assert any(line.startswith("database: kept ") for line in lines)
    assert (config.read_bytes(), topics.read_bytes()) == before


def test_init_json_reports_each_file_and_what_was_kept(tmp_path):
    (tmp_path / "config.toml").write_text('[ranking]\ntopics_file = "mine.toml"\n')
    (tmp_path / "mine.toml").write_text("# the operator's own topics\n")
    result = digest_child("init", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"] == {"path": str(tmp_path / "config.toml"), "action": "kept"}
    assert report["topics"] == {"path": str(tmp_path / "mine.toml"), "action": "kept"}
    assert report["database"] == {"path": str(tmp_path / "data" / "digest.db"), "action": "created"}
    assert report["kept"] == [str(tmp_path / "config.toml"), str(tmp_path / "mine.toml")]
    assert (tmp_path / "mine.toml").read_text() == "# the operator's own topics\n"
