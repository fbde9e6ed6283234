"""An operator's and a curator's first day on the command line: what the help and the
status say must be what is so."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import ATOM_SAMPLE

CONFIG_KEY = re.compile(r"\\?\[([a-z_]+)\]\.([a-z_]+)")


def _commands():
    from typer.main import get_command

    from digest.cli import app

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(get_command(app), []))


def _mentioned_keys(command) -> set[str]:
    """Every `[section].key` the command's help texts name, as the operator should read it."""
    texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
    return {f"[{s}].{k}" for text in texts for s, k in CONFIG_KEY.findall(text)}


@pytest.mark.parametrize("path", [p for p, c in _commands() if _mentioned_keys(c)], ids=" ".join)
def test_help_shows_the_config_keys_it_names(path, monkeypatch):
    """Rich read an unescaped '[arxiv]' as a style tag and dropped it: the help said
    'Default: .categories.'"""
    from digest.cli import app

    monkeypatch.setenv("COLUMNS", "400")
    command = dict((" ".join(p), c) for p, c in _commands())[" ".join(path)]
    shown = CliRunner().invoke(app, [*path, "--help"]).output
    for key in _mentioned_keys(command):
        assert key in shown, f"`digest {' '.join(path)} --help` lost {key!r}:\n{shown}"


def _digest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "digest", *args], capture_output=True, text=True, timeout=300
    )


def test_status_warns_about_a_category_that_failed_before_another_succeeded(
    make_config, httpserver
):
    """One fetch makes one run per category: status looked only at the newest run, so a
    feed that failed first was hidden by the next category's success."""
    httpserver.expect_request("/atom/cs.AI").respond_with_data(
        ATOM_SAMPLE.read_bytes(), content_type="application/atom+xml"
    )
    httpserver.expect_request("/atom/cs.CL").respond_with_data("gone", status=404)
    _, path = make_config({"arxiv": {"feed_base_url": httpserver.url_for("/").rstrip("/")}})
    fetched = _digest("--config", str(path), "fetch", "-C", "cs.CL", "-C", "cs.AI")
    assert fetched.returncode == 1, fetched.stderr
    status = _digest("--config", str(path), "status", "--json")
    warnings = json.loads(status.stdout)["warnings"]
    assert any(w.startswith("the last fetch (cs.CL) failed: ") for w in warnings), warnings
    assert not any("cs.AI" in w for w in warnings), warnings

    httpserver.clear()  # the failed feed is back: its failure is history, not a warning
    for category in ("cs.CL", "cs.AI"):
        httpserver.expect_request(f"/atom/{category}").respond_with_data(
            ATOM_SAMPLE.read_bytes(), content_type="application/atom+xml"
        )
    assert _digest("--config", str(path), "fetch", "-C", "cs.CL").returncode == 0
    status = _digest("--config", str(path), "status", "--json")
    assert not any("failed" in w for w in json.loads(status.stdout)["warnings"])


def test_status_json_lists_skipped_records_like_fetch_json(make_config, tmp_path):
    """`status --json` showed the reasons as "skipped_json": "[...]", a JSON text inside the
    JSON, where `import --json` and `fetch --json` give a list of {ref, reason}."""
    _, path = make_config()
    papers = tmp_path / "papers.jsonl"
    good = {"id": "2401.00001", "title": "A paper", "abstract": "About things.", "authors": []}
    papers.write_text(json.dumps(good) + "\n{not json\n", encoding="utf-8")
    imported = _digest("--config", str(path), "import", str(papers), "--json")
    assert imported.returncode == 0, imported.stderr
    status = _digest("--config", str(path), "status", "--json")
    (run,) = json.loads(status.stdout)["ingest_runs"]
    assert run["skipped"] == 1 and "skipped_json" not in run
    assert run["skipped_records"] == json.loads(imported.stdout)["skipped"]
    assert run["skipped_records"][0]["ref"] == "line 2"


def test_topics_try_and_test_json_name_a_paper_alike(sample_db, make_config):
    """`topics try --json` called the paper "id" and the verdict "passes_threshold" where
    `topics test --json` (and picks, trending, papers search) say "paper_id" and "passes"."""
    _, path = make_config()
    config = ["--config", str(path)]
    added = _digest(*config, "topics", "add", "Agents", "--keyword", "agentic")
    assert added.returncode == 0, added.stderr
    tried = _digest(*config, "topics", "try", "--keyword", "agentic", "--days", "500", "--json")
    tested = _digest(*config, "topics", "test", "Agents", "--days", "500", "--json")
    assert tried.returncode == 0 and tested.returncode == 0, tried.stderr + tested.stderr
    tried_rows = {row["paper_id"]: row for row in json.loads(tried.stdout)}
    for row in json.loads(tested.stdout)["borderline"]:
        if row["paper_id"] in tried_rows:
            same = tried_rows[row["paper_id"]]
            assert {key: same[key] for key in row if key not in ("rank", "why")} == {
                key: value for key, value in row.items() if key not in ("rank", "why")
            }
            assert same["id"] == same["paper_id"] and same["passes_threshold"] == same["passes"]
            break
    else:
        raise AssertionError("no borderline paper of `topics test` among `topics try`'s")


def test_remove_without_an_answer_says_why_nothing_was_removed(make_config):
    """With stdin closed (cron, a script) the question got no answer and the command ended
    with exit 1 and not a word after the prompt."""
    _, path = make_config()
    config = ["--config", str(path)]
    assert _digest(*config, "subscribers", "add", "reader@example.org").returncode == 0
    removed = subprocess.run(
        [sys.executable, "-m", "digest", *config, "subscribers", "remove", "reader@example.org"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert removed.returncode == 1
    assert "reader@example.org was not removed" in removed.stderr
    assert "--yes" in removed.stderr
    shown = _digest(*config, "subscribers", "show", "reader@example.org", "--json")
    assert json.loads(shown.stdout)["email"] == "reader@example.org"


def test_personal_topics_list_names_the_owner_that_show_asks_for(make_config):
    """`topics list --personal` gave only owner_id, while show/edit/remove --owner take the
    subscriber's address: a curator could not get from the list to the topic."""
    _, path = make_config()
    config = ["--config", str(path)]
    added = _digest(*config, "subscribers", "add", "reader@example.org", "--text", "sea ice")
    assert added.returncode == 0, added.stderr
    listed = _digest(*config, "topics", "list", "--personal", "--json")
    (row,) = [r for r in json.loads(listed.stdout) if r["kind"] == "personal"]
    assert row["owner"] == "reader@example.org"
    shown = _digest(*config, "topics", "show", row["name"], "--owner", row["owner"], "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == row["id"]
    table = _digest(*config, "topics", "list", "--personal")
    assert "reader@example.org" in table.stdout


def test_sync_of_a_missing_configured_topics_file_names_the_setting(make_config):
    """'data/topic.toml: topics file not found' left the operator to guess where that path
    came from; it is [ranking].topics_file, and `digest init` writes a sample."""
    _, path = make_config({"ranking": {"topics_file": "data/topic.toml"}})
    synced = _digest("--config", str(path), "topics", "sync")
    assert synced.returncode == 2
    line = " ".join(synced.stderr.split())
    assert "topic.toml: topics file not found" in line
    assert f"[ranking].topics_file in {path}" in line and "digest init" in line


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=" ".join)
def test_help_never_breaks_a_sentence_across_lines(path):
    """The help keeps a docstring's line breaks: 'feedback, webhooks) and' then 'the static
    archive.' on the next line of `digest --help`. A paragraph's lines must end sentences."""
    command = dict((" ".join(p), c) for p, c in _commands())[" ".join(path)]
    for paragraph in inspect.cleandoc(command.help or "").split("\n\n"):
        for line in paragraph.strip().splitlines()[:-1]:
            assert line.rstrip().endswith((".", ":", "!", "?")), (
                f"`digest {' '.join(path)}` help breaks a sentence after {line!r}"
            )


def test_topics_file_named_from_the_root_directory_is_absolute(make_config, tmp_path):
    """Run from '/' (a service's working directory), the path read 'tmp/.../topics.toml',
    relative to '/', which looks like a path under the config's folder."""
    topics = tmp_path / "data" / "topics.toml"
    topics.parent.mkdir(parents=True, exist_ok=True)
    topics.write_text('[[topic]]\nname = "Sea ice"\nkeywords = ["sea ice"]\n', encoding="utf-8")
    _, path = make_config({"ranking": {"topics_file": "data/topics.toml"}})
    synced = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(path), "topics", "sync", "--json"],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=120,
    )
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["file"] == str(topics.resolve())


def test_a_send_hour_can_be_taken_back(make_config):
    """`subscribers edit --send-hour` set an hour for good: -1 and '' are refused and there
    was no other way back to 'with the daily run'."""
    _, path = make_config()
    config = ["--config", str(path)]
    added = _digest(*config, "subscribers", "add", "reader@example.org", "--send-hour", "8")
    assert added.returncode == 0, added.stderr
    edited = _digest(*config, "subscribers", "edit", "reader@example.org", "--no-send-hour")
    assert edited.returncode == 0, edited.stderr
    shown = _digest(*config, "subscribers", "show", "reader@example.org", "--json")
    assert json.loads(shown.stdout)["send_hour"] is None
    both = _digest(
        *config, "subscribers", "edit", "reader@example.org", "--send-hour", "3", "--no-send-hour"
    )
    assert both.returncode == 2 and "--no-send-hour" in both.stderr


def test_papers_show_of_a_bare_imported_paper_prints_no_empty_fields(make_config, tmp_path):
    """An imported paper with no version, categories, authors or dates was shown as
    'dev-1 v? ·  ·' under an empty author line."""
    _, path = make_config()
    papers = tmp_path / "papers.jsonl"
    bare = {"id": "dev-1", "title": "A bare paper", "abstract": "About things."}
    papers.write_text(json.dumps(bare) + "\n", encoding="utf-8")
    assert _digest("--config", str(path), "import", str(papers)).returncode == 0
    shown = _digest("--config", str(path), "papers", "show", "dev-1")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:3] == ["A bare paper", "dev-1", ""]


@pytest.mark.parametrize(
    ("category", "message"),
    [
        ("notacat", "is not an arXiv category"),
        ("cs.cl", "is written cs.CL on arXiv"),
        ("cond-mat.Str-el", "is written cond-mat.str-el on arXiv"),
        ("hep-th.X", "hep-th has no subject classes"),
    ],
)
def test_a_topic_category_arxiv_never_uses_is_refused(make_config, tmp_path, category, message):
    """Categories match papers exactly: 'notacat' or 'cs.cl' was stored, and the topic then
    matched no paper, ever, without a word."""
    topics = tmp_path / "topics.toml"
    topics.write_text(
        f'[[topic]]\nname = "T"\ndescription = "x"\ncategories = ["{category}"]\n',
        encoding="utf-8",
    )
    _, path = make_config()
    synced = _digest("--config", str(path), "topics", "sync", "--file", str(topics))
    assert synced.returncode == 2 and "topics.toml:4: topic 'T': " in synced.stderr
    assert message in synced.stderr
    added = _digest("--config", str(path), "topics", "add", "U", "-k", "x", "--category", category)
    assert added.returncode == 2 and message in added.stderr


def test_every_kind_of_arxiv_category_is_accepted(make_config, tmp_path):
    kinds = ["cs.CL", "cs", "hep-th", "cond-mat.str-el", "physics.comp-ph", "q-bio.NC", "econ.EM"]
    topics = tmp_path / "topics.toml"
    topics.write_text(
        f'[[topic]]\nname = "T"\ndescription = "x"\ncategories = {json.dumps(kinds)}\n',
        encoding="utf-8",
    )
    _, path = make_config()
    synced = _digest("--config", str(path), "topics", "sync", "--file", str(topics), "--json")
    assert synced.returncode == 0, synced.stderr
    shown = _digest("--config", str(path), "topics", "show", "T", "--json")
    assert json.loads(shown.stdout)["categories"] == kinds
