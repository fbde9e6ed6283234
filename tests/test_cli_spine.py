"""The spine end to end through the real `digest` command: fetch from a loopback arXiv,
import, embed, search, status, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ATOM_SAMPLE, EMPTY_RSS

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def digest(*args: str, cwd=None, check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "digest", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"digest {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
    return proc


@pytest.fixture
def feed_config(make_config, httpserver):
    httpserver.expect_request("/atom/cs.AI").respond_with_data(
        ATOM_SAMPLE.read_bytes(), content_type="application/atom+xml"
    )
    httpserver.expect_request("/atom/physics").respond_with_data(
        EMPTY_RSS.read_bytes(), content_type="application/rss+xml"
    )
    return make_config(
        {
            "arxiv": {
                "feed_base_url": httpserver.url_for("/").rstrip("/"),
                "categories": ["cs.AI"],
                "request_delay_seconds": 0.0,
            }
        }
    )


def test_fetch_twice_stores_86_papers_once(feed_config):
    config, path = feed_config
    first = json.loads(digest("--config", str(path), "fetch", "--json", check=True).stdout)
    assert first[0]["counts"]["new"] == 86 and first[0]["status"] == "ok"
    second = json.loads(digest("--config", str(path), "fetch", "--json", check=True).stdout)
    assert second[0]["counts"]["new"] == 0 and second[0]["counts"]["unchanged"] == 86
    assert second[0]["status"] == "stale"  # the channel date did not move
    from digest.store import open_db

    db = open_db(config.db_path)
    assert db.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM papers").fetchone() == (86, 86)
    assert db.execute("SELECT COUNT(*) FROM listings").fetchone()[0] == 86
    status = json.loads(digest("--config", str(path), "status", "--json", check=True).stdout)
    assert status["papers"] == 86
    assert any("stale" in w for w in status["warnings"])


def test_empty_feed_is_no_announcement_exit_0(feed_config):
    _, path = feed_config
    proc = digest("--config", str(path), "fetch", "--category", "physics")
    assert proc.returncode == 0, proc.stderr
    from datetime import datetime

    from digest.pipeline import ARXIV_ZONE

    # a weekday's empty feed is a holiday or a late rebuild, not "weekend or holiday"
    weekend = datetime.now(ARXIV_ZONE).weekday() >= 5
    expected = "a weekend in New York" if weekend else "an arXiv holiday, or today's listing"
    assert expected in proc.stdout, proc.stdout


def test_network_failure_names_url_and_exits_1(make_config):
    _, path = make_config(
        {
            "arxiv": {
                "feed_base_url": "http://127.0.0.1:9",
                "categories": ["cs.AI"],
                "max_retries": 1,
                "request_delay_seconds": 0.0,
                "timeout_seconds": 2.0,
            }
        }
    )
    proc = digest("--config", str(path), "fetch")
    assert proc.returncode == 1
    assert "127.0.0.1:9/atom/cs.AI" in proc.stdout + proc.stderr


def test_bad_config_key_exits_2_naming_it(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("[arxiv]\nrequest_delay = 3\n")
    proc = digest("--config", str(bad), "status")
    assert proc.returncode == 2
    assert "[arxiv].request_delay" in proc.stderr
    bad.write_text('[mail]\nbackend = "pigeon"\n')
    proc = digest("--config", str(bad), "status")
    assert proc.returncode == 2 and "[mail].backend" in proc.stderr
    bad.write_text('[arxiv]\ntimeout_seconds = "soon"\n')
    proc = digest("--config", str(bad), "status")
    assert proc.returncode == 2 and "[arxiv].timeout_seconds must be a number" in proc.stderr


def test_search_embed_cache_and_show(sample_db, sample_config, make_config):
    _, path = make_config()
    sample_db.conn.close()
    proc = digest("--config", str(path), "embed", "--json", check=True)
    assert json.loads(proc.stdout)["embedded"] == 0  # everything was cached
    hits = json.loads(
        digest(
            "--config",
            str(path),
            "papers",
            "search",
            "large language model agents",
            "--json",
            check=True,
        ).stdout
    )
    assert len(hits) == 10
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0.4
    assert any("agent" in h["title"].lower() for h in hits[:3])
    shown = json.loads(
        digest(
            "--config", str(path), "papers", "show", "arXiv:2508.13167v1", "--json", check=True
        ).stdout
    )
    assert shown["title"].startswith("Chain-of-Agents") and shown["versions"][0]["version"] == 1
    missing = digest("--config", str(path), "papers", "show", "2501.99999")
    assert missing.returncode == 2 and "2501.99999" in missing.stderr


def test_damage_found_after_opening_is_one_line_naming_the_file(
    sample_db, sample_config, make_config
):
    """A damaged table page passes the checks made when the file opens; the search that
    reads it must still end in one line naming the database, not a DatabaseError traceback."""
    _, path = make_config()
    page = sample_db.execute(
        "SELECT pageno FROM dbstat WHERE name = 'papers' AND pagetype = 'leaf' LIMIT 1 OFFSET 1"
    ).fetchone()[0]
    size = sample_db.execute("PRAGMA page_size").fetchone()[0]
    sample_db.conn.close()
    with open(sample_config.db_path, "r+b") as file:
        file.seek(size * (page - 1))
        file.write(b"\x0d" + b"\xff" * (size - 1))
    proc = digest("--config", str(path), "papers", "search", "agents")
    assert proc.returncode == 1, proc.stderr
    assert str(sample_config.db_path) in proc.stderr and "damaged" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 3


def test_new_text_is_embedded_once(sample_db, sample_config):
    from dataclasses import replace

    from digest.embed.encoder import embed_missing
    from digest.store import papers as paper_store

    paper = paper_store.get_paper(sample_db, "2508.13167")
    changed = replace(paper, version=2, abstract=paper.abstract + " Revised.")
    counts = paper_store.upsert_papers(sample_db, [changed], source="test")
    assert counts.updated == 1
    assert embed_missing(sample_db, sample_config.embedding).embedded == 1
    assert embed_missing(sample_db, sample_config.embedding).embedded == 0


def test_every_command_has_help():
    from typer.main import get_command

    from digest.cli import app

    root = get_command(app)

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    for path, command in walk(root, []):
        assert (command.help or "").strip(), f"`digest {' '.join(path)}` has no help text"
        for param in command.params:
            if param.param_type_name == "option" and param.name not in ("help",):
                assert (param.help or "").strip(), f"`digest {' '.join(path)}` {param.name}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("topics", "sync", "extra.toml"), "unexpected extra argument"),
        (("subscribers", "add"), "Missing argument"),
        (("no-such-command",), "No such command"),
        (("topics", "try", "--limit", "many"), "Invalid value for '--limit'"),
        # a misspelt category was fetched: arXiv's empty feed read as 'no announcement today'
        (("fetch", "-C", "cs.ai"), "--category: category 'cs.ai' is written cs.AI on arXiv"),
        (("fetch", "-C", "cs.LG+notacat"), "category 'notacat' is not an arXiv category"),
    ],
)
def test_usage_errors_are_short_and_exit_2(tmp_path, args, message):
    proc = digest(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) <= 6, proc.stderr


def test_argument_not_utf8_is_one_line(tmp_path):
    # A Latin-1 terminal: Python keeps the undecodable byte as a lone surrogate.
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"digest", b"papers", b"search", b"caf\xe9"],
        capture_output=True,
        cwd=tmp_path,
        env=ENV,
        timeout=300,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, stderr
    assert "is not valid UTF-8" in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_demo_in_a_fresh_directory(tmp_path):
    """The demo on the recorded feed and the last day of the real week (`--days 1`: the whole
    week embeds 1,288 papers, too long for a test; the README gives its time): every day is
    planned and sent in order, the home page is the latest real day, the last lines say where
    to look, and a re-run neither resends nor claims "0 picks" before listing some."""
    proc = digest("demo", "--days", "1", cwd=tmp_path, check=True)
    out = proc.stdout
    assert "ingested cs.AI-2025-08-20.atom.xml: 86 papers" in out
    assert "ingested listings/2025-10-10.jsonl: 278 papers" in out
    # the three readers, Lin (her library) and Lena, who reads her lead lines in German (offline: extractive)
    assert "2025-08-20 Wed: 4 planned" in out and "2025-10-10 Fri: 5 planned" in out
    assert "lena@example.org (LLM agents, Retrieval & RAG; TL;DR lines in German)" in out
    friday = re.search(
        r"2025-10-10 Fri: 5 planned, (\d+) picks, .*; (\d+) lead lines; 5 emails written", out
    )
    assert friday and friday.group(1) == friday.group(2) != "0", out  # a lead line per pick
    assert "added sample subscriber grace@example.org (weekly, Fridays" in out
    assert "the picks of 2025-10-10, the latest day" in out
    assert "ada@example.org:" in out and "why: " in out
    # the reader seeded from the sample BibTeX library, and her picks' why-lines
    assert "lin@example.org from the library library.bib: 5 of 10 entries matched" in out
    assert "in your library (score" in out.split("lin@example.org:", 1)[1]
    index = tmp_path / "data" / "site" / "index.html"
    assert f"open the archive: {index}" in out and index.is_file()
    assert "Daily papers · Oct 10, 2025" in index.read_text(encoding="utf-8")
    preview = tmp_path / "data" / "outbox" / "preview" / "2025-10-10-subscriber-1.html"
    assert f"see ada@example.org's email of 2025-10-10 in a browser: {preview}" in out
    assert preview.is_file() and "digest preview ada@example.org" in out
    assert len(list((tmp_path / "data" / "outbox" / "2025-08-20").glob("*.eml"))) == 4
    assert len(list((tmp_path / "data" / "outbox" / "2025-10-10").glob("*.eml"))) == 5
    titles = [line for line in out.splitlines() if re.match(r"\s+\d+\. ", line)]
    assert titles and all(len(line) <= 6 + 88 for line in titles)  # cut at a word, with "…"
    again = digest("demo", "--days", "1", cwd=tmp_path, check=True).stdout
    assert (
        "2025-10-10 Fri: 5 issues planned by an earlier run (kept); 0 emails written, "
        "5 sent earlier" in again
    )
    assert not re.search(r"\b0 picks", again)
    assert len(list((tmp_path / "data" / "outbox" / "2025-10-10").glob("*.eml"))) == 5


def test_demo_titles_are_cut_at_a_word():
    from digest.ops.demo import cut_title

    title = (
        "Enabling Personalized Long-term Interactions in LLM-based Agents through "
        "Persistent Memory and User Profiles"
    )
    cut = cut_title(title)
    assert cut.endswith("…") and len(cut) <= 88
    assert title.startswith(cut[:-1]) and title[len(cut) - 1] == " "
    assert cut_title("Short title") == "Short title"


def test_a_stale_run_says_why_and_when_to_retry(feed_config):
    """arXiv's feed still shows an earlier day: the run is 'stale' (exit 0, not a failure),
    and the operator reads why and what happens next instead of a bare status word."""
    _config, path = feed_config
    digest("--config", str(path), "fetch", check=True)  # the feed's own day is stored
    proc = digest("--config", str(path), "run", "--date", "2030-01-07")
    assert proc.returncode == 0, proc.stderr
    assert "2030-01-07: stale" in proc.stdout
    assert "do not list 2030-01-07 yet" in proc.stderr and "Traceback" not in proc.stderr


def test_status_counts_embedded_papers_not_cached_topic_vectors(feed_config):
    """The embeddings table also caches topic descriptions' vectors: `status` said
    'embeddings 266' for 259 papers. It counts the papers that have a vector."""
    import numpy as np

    from digest.store import open_db
    from digest.store.papers import save_embeddings

    config, path = feed_config
    digest("--config", str(path), "fetch", check=True)
    db = open_db(config.db_path)
    hashes = [row[0] for row in db.execute("SELECT content_hash FROM papers LIMIT 3")]
    vectors = np.eye(4, 8, dtype=np.float32)
    save_embeddings(db, config.embedding.model, [*hashes, "topic-text-hash"], vectors)
    save_embeddings(db, "another/model", hashes[:1], vectors[:1])
    status = json.loads(digest("--config", str(path), "status", "--json", check=True).stdout)
    assert (status["papers"], status["embeddings"]) == (86, 3)
    shown = digest("--config", str(path), "status", check=True).stdout
    assert "embedded 3 (" in shown


def test_embed_json_names_the_stored_dimension_without_loading_the_model(make_config):
    """With nothing left to embed, `embed --json` said "dim": null. The dimension comes from
    the stored vectors: the model here cannot load, so a load would fail the command."""
    import numpy as np

    from digest.store import open_db
    from digest.store import papers as paper_store

    config, path = make_config({"embedding": {"model": "no-such-org/no-such-model"}})
    empty = json.loads(digest("--config", str(path), "embed", "--json", check=True).stdout)
    assert empty["dim"] is None and empty["embedded"] == 0
    assert empty["dim_note"] == "no vectors stored for this model yet: no papers to embed"
    jsonl = path.parent / "p.jsonl"
    jsonl.write_text('{"id": "x-1", "title": "A title", "abstract": "An abstract."}\n')
    digest("--config", str(path), "import", str(jsonl), check=True)
    db = open_db(config.db_path)
    [(content_hash, _, _)] = paper_store.missing_embeddings(db, config.embedding.model)
    vector = np.ones((1, 7), dtype=np.float32) / np.sqrt(7)
    paper_store.save_embeddings(db, config.embedding.model, [content_hash], vector)
    db.conn.close()
    proc = digest("--config", str(path), "embed", "--json", check=True)
    report = json.loads(proc.stdout)
    assert report == {
        "model": "no-such-org/no-such-model",
        "embedded": 0,
        "cached": 1,
        "dim": 7,
        "backend": None,  # nothing to encode: no model loaded
        "stored": 0,
        "unknown": 0,
        "seconds": 0.0,
    }
    text = digest("--config", str(path), "embed", check=True).stdout
    assert text.strip() == (
        "embedded 0 papers (1 already had vectors) with no-such-org/no-such-model, 7 dimensions"
    )
