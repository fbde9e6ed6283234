"""The topic lab (`digest topics try` / `digest topics test`) on the real sample embeddings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from digest.errors import UsageError
from digest.models import Topic
from digest.store.papers import load_all_vectors
from digest.topics import lab as topic_lab
from digest.topics.catalog import add_topic
from digest.topics.lab import histogram, try_topic
from tests.conftest import cli_runner

EVOVERILOG = "2508.13156"  # LLM-assisted Verilog generation
VITAD = "2508.13257"  # debugging RTL code with LLMs
SPEECH = "2508.13358"  # on-device speech translation
WHISPER = "2508.13376"  # long speech transcripts


@pytest.fixture
def cli(sample_db, sample_config, make_config):
    """Run the CLI against the sample database copy; returns (exit code, stdout, stderr)."""
    _, path = make_config()
    return cli_runner(path)


def test_like_ranks_neighbours_and_never_returns_the_liked_paper(sample_db, sample_config):
    results = try_topic(sample_db, sample_config, like=[EVOVERILOG], limit=5)
    ids = [r.paper_id for r in results]
    assert EVOVERILOG not in ids
    assert VITAD in ids[:2]  # the other LLM-for-hardware paper
    assert all("close to “EvoVerilog" in r.why for r in results)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    assert [r.rank for r in results] == [1, 2, 3, 4, 5]


def test_dislike_moves_papers_down(sample_db, sample_config):
    plain = try_topic(sample_db, sample_config, like=[SPEECH], limit=100)
    pushed = try_topic(sample_db, sample_config, like=[SPEECH], dislike=[WHISPER], limit=100)
    score = {r.paper_id: r.score for r in plain}
    moved = {r.paper_id: r.score for r in pushed}
    assert WHISPER in score and WHISPER not in moved
    ids, vectors = load_all_vectors(sample_db, sample_config.embedding.model)
    closeness = vectors @ vectors[ids.index(WHISPER)]
    near = [ids[i] for i in np.argsort(-closeness) if ids[i] not in (WHISPER, SPEECH)][:4]
    change = {pid: moved[pid] - score[pid] for pid in moved}
    average = sum(change.values()) / len(change)
    assert sum(change[p] for p in near) / len(near) < average - 0.05


def test_keywords_exclude_and_days(sample_db, sample_config):
    results = try_topic(
        sample_db, sample_config, text=None, keywords=["speech"], exclude=["translation"], limit=50
    )
    assert results and all("speech" in (r.title + r.why).lower() for r in results)
    assert SPEECH not in [r.paper_id for r in results]  # its abstract says "translation"
    recent = try_topic(sample_db, sample_config, keywords=["learning"], days=1, limit=50)
    assert recent and all(r.announced == "2026-09-24" for r in recent)


def test_bad_input_names_the_problem(sample_db, sample_config):
    with pytest.raises(UsageError, match="'9999.99999'"):
        try_topic(sample_db, sample_config, like=["9999.99999"])
    with pytest.raises(UsageError, match="empty"):
        try_topic(sample_db, sample_config, exclude=["x"])
    with pytest.raises(UsageError, match="threshold"):
        try_topic(sample_db, sample_config, keywords=["x"], threshold=3)


def test_cli_try_json_and_unknown_id_exit_code(cli):
    code, out, _ = cli("topics", "try", "--like", EVOVERILOG, "--limit", "3", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 3 and {"id", "title", "score", "why"} <= set(rows[0])
    assert EVOVERILOG not in [r["id"] for r in rows]


def run_digest(*args: str) -> subprocess.CompletedProcess:
    """The real console entry point (exit codes come from its error mapping)."""
    return subprocess.run(
        [sys.executable, "-c", "from digest.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unknown_liked_id_names_it_and_exits_2(sample_db, make_config):
    _, path = make_config()
    done = run_digest("--config", str(path), "topics", "try", "--like", "1234.56789")
    assert done.returncode == 2 and "1234.56789" in done.stderr


def test_try_with_only_likes_never_loads_the_model(sample_db, sample_config, make_config):
    """In a fresh process: likes/dislikes use stored vectors, so no sentence-transformers."""
    _, path = make_config()
    script = textwrap.dedent(f"""
        import json, sys
        from digest.cli import main
        sys.argv = ["digest", "--config", {str(path)!r}, "topics", "try", "--like",
                    "{EVOVERILOG}", "--dislike", "{WHISPER}", "--json"]
        try:
            main()
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        loaded = [m for m in ("sentence_transformers", "torch") if m in sys.modules]
        print("LOADED", json.dumps(loaded), file=sys.stderr)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr
    assert VITAD in [r["id"] for r in json.loads(done.stdout)[:3]]


def test_topic_test_replays_days_with_histogram_and_borderline(
    sample_db, sample_config, cli, make_config
):
    add_topic(
        sample_db,
        Topic(
            name="Speech",
            kind="curated",
            description="speech recognition and translation",
            threshold=0.4,
        ),
    )
    report = topic_lab.test_topic(sample_db, sample_config, "Speech", days=None)
    assert [d.day.isoformat() for d in report.days] == ["2025-08-20", "2026-09-24"]
    assert report.days[0].candidates == 86 and report.days[0].passing >= 1
    assert sum(c for _, _, c in histogram(report.scores)) == len(report.scores)
    assert 1 <= len(report.borderline) <= 6
    assert all(abs(r.score - 0.4) < 0.3 for r in report.borderline)
    code, out, _ = cli("topics", "test", "Speech", "--days", "800")
    assert code == 0 and "threshold" in out and "█" in out and "2025-08-20" in out
    _, path = make_config()
    done = run_digest("--config", str(path), "topics", "test", "Nope")
    assert done.returncode == 2 and "Nope" in done.stderr


def test_histogram_bins():
    assert histogram([]) == []
    assert histogram([0.5, 0.5]) == [(0.5, 0.5, 2)]
    bins = histogram([0.0, 0.1, 0.9, 1.0], bins=2)
    assert [c for _, _, c in bins] == [2, 2]


def test_a_huge_days_window_means_every_stored_day(sample_db, sample_config):
    everything = try_topic(sample_db, sample_config, keywords=["learning"], limit=50)
    huge = try_topic(sample_db, sample_config, keywords=["learning"], days=10**11, limit=50)
    assert huge == everything
    add_topic(sample_db, Topic(name="Speech", kind="curated", keywords=("speech",)))
    report = topic_lab.test_topic(sample_db, sample_config, "Speech", days=10**11)
    assert [d.day.isoformat() for d in report.days] == ["2025-08-20", "2026-09-24"]


def test_a_bad_category_is_named_not_an_empty_result(sample_db, sample_config):
    with pytest.raises(UsageError, match="--category: category 'cs AI' is not an arXiv category"):
        try_topic(sample_db, sample_config, keywords=["speech"], categories=["cs AI"])


def test_cli_huge_days_and_bad_category_through_the_real_entry_point(sample_db, make_config):
    _, path = make_config()
    done = run_digest(
        "--config", str(path), "topics", "try", "--keyword", "speech", "--days", "99999999999"
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    done = run_digest(
        "--config", str(path), "topics", "try", "--keyword", "speech", "--category", "bogus cat"
    )
    assert done.returncode == 2 and "'bogus cat'" in done.stderr and done.stdout == ""


def test_keyword_topic_borderline_papers_are_ones_it_matched(sample_db, sample_config):
    """Papers a keyword-only topic does not match score 0 with a made-up 'why'; never listed."""
    add_topic(sample_db, Topic(name="Nothing", kind="curated", keywords=("zzqqxx",)))
    report = topic_lab.test_topic(sample_db, sample_config, "Nothing", days=None)
    assert report.days and report.borderline == []
    add_topic(sample_db, Topic(name="Speechy", kind="curated", keywords=("speech",)))
    report = topic_lab.test_topic(sample_db, sample_config, "Speechy", days=None)
    assert report.borderline and all(r.score > 0 for r in report.borderline)
    assert all("speech" in r.why.lower() for r in report.borderline)
