"""JSON Lines: both formats, bad lines, duplicates, streaming, and import into real SQLite."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.errors import UsageError
from digest.ingest.backfill import import_jsonl
from digest.ingest.jsonl import fast_clean, iter_jsonl, iter_jsonl_numbered
from digest.models import Paper, SkippedRecord
from digest.store.db import open_db
from digest.store.papers import count_papers, get_paper, paper_versions, recent_ingest_runs
from digest.textclean import clean_field

EVAL = Path(__file__).parent / "fixtures" / "eval" / "papers_dev.jsonl"

# A record as the public arxiv-metadata-oai-snapshot.json has it (0704.0001, abridged abstract).
SNAPSHOT_0704_0001 = {
    "id": "0704.0001",
    "submitter": "Pavel Nadolsky",
    "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan",
    "title": "Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies",
    "comments": "37 pages, 15 figures; published version",
    "journal-ref": "Phys.Rev.D76:013009,2007",
    "doi": "10.1103/PhysRevD.76.013009",
    "report-no": "ANL-HEP-PR-07-12",
    "categories": "hep-ph",
    "license": None,
    "abstract": "  A fully differential calculation in perturbative quantum chromodynamics is\n"
    "presented for the production of massive photon pairs at hadron colliders.\n",
    "versions": [
        {"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
        {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"},
    ],
    "update_date": "2008-11-13",
    "authors_parsed": [
        ["Balázs", "C.", ""],
        ["Berger", "E. L.", ""],
        ["Nadolsky", "P. M.", ""],
        ["Yuan", "C. -P.", ""],
    ],
}


def snapshot_record(number: int, versions: int = 1, **extra) -> dict:
    record = {
        "id": f"2401.{number:05d}",
        "authors": "Ada Lovelace, Andr\\'e Weil and Emmy Noether",
        "title": f"Paper number {number} on\n  graph learning",
        "abstract": f"  We study problem {number}.\nIt is hard.\n",
        "categories": "cs.LG cs.AI stat.ML",
        "versions": [
            {"version": f"v{v}", "created": f"Mon, {v} Jan 2024 10:00:00 GMT"}
            for v in range(1, versions + 1)
        ],
        "update_date": "2024-01-09",
        "authors_parsed": [
            ["Lovelace", "Ada", ""],
            ["Weil", "Andr\\'e", ""],
            ["Noether", "Emmy", ""],
        ],
        "license": "http://creativecommons.org/licenses/by/4.0/",
    }
    record.update(extra)
    return record


def write_lines(path: Path, lines: list[bytes | dict]) -> Path:
    with path.open("wb") as out:
        for line in lines:
            out.write(json.dumps(line).encode() if isinstance(line, dict) else line)
            out.write(b"\n")
    return path


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "digest.db")
    yield database
    database.conn.close()


@pytest.fixture
def snapshot_file(tmp_path) -> Path:
    """Snapshot-format file with one of each kind of bad line among good ones."""
    return write_lines(
        tmp_path / "snapshot.jsonl",
        [
            SNAPSHOT_0704_0001,  # 1
            snapshot_record(1, versions=3),  # 2
            b"this is not json",  # 3
            b"[1, 2, 3]",  # 4
            snapshot_record(2, title=""),  # 5 missing title
            {k: v for k, v in snapshot_record(3).items() if k != "abstract"},  # 6
            b'{"id": "2401.00004", "title": "caf\xe9", "abstract": "x"}',  # 7 latin-1
            b"",  # 8 blank: ignored
            snapshot_record(5, id="not an id"),  # 9
            snapshot_record(1, versions=2, title="Older copy"),  # 10 duplicate, lower version
            snapshot_record(6),  # 11
            snapshot_record(6, versions=2, title="Paper six, revised"),  # 12 duplicate, higher
            b'{"id": "2401.00007", "title": "<script>alert(1)</script> XSS", "abstract": "ok"}',
            b'{"id": 7, "title": 3, "abstract": "x"}',  # 14 wrong type
        ],
    )


def test_eval_file_plain_format_with_foreign_ids():
    items = list(iter_jsonl(EVAL))
    assert len(items) == 170 and all(isinstance(i, Paper) for i in items)
    assert items[1].id == "dev-0001" and not items[1].is_arxiv
    assert items[1].title == "Raising the Bar in Graph-level Anomaly Detection"
    assert items[1].abs_url is None and items[1].authors == () and items[1].categories == ()


def test_snapshot_record_fields():
    (paper,) = list(iter_jsonl(io.BytesIO(json.dumps(SNAPSHOT_0704_0001).encode())))
    assert paper.id == "0704.0001" and paper.is_arxiv and paper.version == 2
    assert paper.title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert paper.abstract.startswith("A fully differential") and "\n" not in paper.abstract
    assert paper.authors == ("C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan")
    assert paper.categories == ("hep-ph",) and paper.primary_category == "hep-ph"
    assert paper.published == "2007-04-02T19:18:42Z" and paper.updated == "2007-07-24T20:10:27Z"
    assert paper.doi == "10.1103/PhysRevD.76.013009"
    assert paper.journal_ref == "Phys.Rev.D76:013009,2007"
    assert paper.comments == "37 pages, 15 figures; published version"
    assert paper.license is None


def test_snapshot_authors_fall_back_to_the_authors_string():
    record = snapshot_record(9)
    del record["authors_parsed"]
    (paper,) = list(iter_jsonl(io.BytesIO(json.dumps(record).encode())))
    assert paper.authors == ("Ada Lovelace", "André Weil", "Emmy Noether")
    assert paper.categories == ("cs.LG", "cs.AI", "stat.ML") and paper.primary_category == "cs.LG"


def test_plain_format_with_arxiv_ids_and_old_style():
    lines = [
        {
            "id": "2408.01234v3",
            "title": "T",
            "abstract": "A",
            "authors": ["B. C", "D E"],
            "categories": ["cs.CL", "cs.AI"],
            "published": "2024-08-02",
            "group": "x",
        },
        {"id": "hep-th/9901001", "title": "Old", "abstract": "Style"},
        {"id": "openreview:abc123", "title": "Elsewhere", "abstract": "Not arXiv"},
    ]
    items = list(iter_jsonl(io.BytesIO(b"\n".join(json.dumps(x).encode() for x in lines))))
    first, old, foreign = items
    assert (first.id, first.version, first.is_arxiv) == ("2408.01234", 3, True)
    assert first.authors == ("B. C", "D E") and first.primary_category == "cs.CL"
    assert first.published == "2024-08-02"
    assert (old.id, old.is_arxiv) == ("hep-th/9901001", True)
    assert (foreign.id, foreign.is_arxiv, foreign.abs_url) == ("openreview:abc123", False, None)


def test_bad_lines_are_skipped_with_line_numbers(snapshot_file):
    numbered = list(iter_jsonl_numbered(snapshot_file))
    skipped = {n: item.reason for n, item in numbered if isinstance(item, SkippedRecord)}
    assert skipped[3].startswith("not JSON")
    assert skipped[4] == "not a JSON object (got list)"
    assert skipped[5] == "missing title"
    assert skipped[6] == "missing abstract"
    assert skipped[7].startswith("not UTF-8 text")
    assert skipped[9].startswith("id 'not an id' is not an arXiv id")
    assert skipped[14].startswith("id must be a string") or skipped[14].startswith("title")
    assert 8 not in dict(numbered)  # blank line: nothing
    script = next(i for _, i in numbered if isinstance(i, Paper) and i.id == "2401.00007")
    assert script.title == "<script>alert(1)</script> XSS"  # kept as text; escaped at render


def test_import_counts_duplicates_and_rerun(db, snapshot_file):
    report = import_jsonl(db, snapshot_file)
    assert report.status == "ok" and report.source == "jsonl" and report.label == "snapshot.jsonl"
    # 13 non-blank lines: 4 papers stored, 7 bad lines + 2 superseded duplicates skipped
    assert report.counts.fetched == 13
    assert report.counts.new == 4 and count_papers(db) == 4
    assert report.counts.skipped == 9
    reasons = [s.reason for s in report.skipped]
    assert "duplicate id 2401.00001: line 2 has a higher version" in reasons
    assert "duplicate id 2401.00006: superseded by line 12" in reasons
    assert get_paper(db, "2401.00001").version == 3
    assert get_paper(db, "2401.00006").title == "Paper six, revised"
    assert get_paper(db, "2401.00001").authors == ("Ada Lovelace", "André Weil", "Emmy Noether")

    again = import_jsonl(db, snapshot_file)
    assert (again.counts.new, again.counts.updated, again.counts.unchanged) == (0, 0, 4)
    assert count_papers(db) == 4
    assert db.execute("SELECT COUNT(*) FROM paper_authors").fetchone()[0] == 4 + 3 + 3 + 0
    runs = recent_ingest_runs(db)
    assert [r["status"] for r in runs] == ["ok", "ok"] and runs[0]["skipped"] == 9
    assert json.loads(runs[0]["skipped_json"])[0]["ref"] == "line 3"


def test_duplicates_across_batches_keep_the_highest_version(db, tmp_path):
    path = write_lines(
        tmp_path / "dups.jsonl",
        [
            snapshot_record(1, versions=2),
            snapshot_record(2),
            snapshot_record(3),
            snapshot_record(1, versions=1, title="stale v1"),  # lower version, later batch
            snapshot_record(2, title="retitled, same version"),  # same version, later: wins
        ],
    )
    done: list[int] = []
    report = import_jsonl(db, path, progress=done.append, batch_size=2)
    assert done == [2, 4, 5]
    assert get_paper(db, "2401.00001").version == 2
    assert get_paper(db, "2401.00001").title == "Paper number 1 on graph learning"
    assert get_paper(db, "2401.00002").title == "retitled, same version"
    assert [v["version"] for v in paper_versions(db, "2401.00001")] == [1, 2]
    assert report.counts.new == 3 and count_papers(db) == 3


def test_eval_file_import_stores_foreign_ids(db):
    report = import_jsonl(db, EVAL, batch_size=64)
    assert report.counts.new == 170 and report.counts.skipped == 0
    paper = get_paper(db, "dev-0042")
    assert paper is not None and not paper.is_arxiv and paper.abs_url is None


def test_missing_file_is_a_usage_error(db, tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        import_jsonl(db, tmp_path / "nope.jsonl")
    assert recent_ingest_runs(db) == []


def test_gzip_and_bom(tmp_path):
    import gzip

    path = tmp_path / "x.jsonl.gz"
    with gzip.open(path, "wb") as out:
        out.write(b"\xef\xbb\xbf" + json.dumps(snapshot_record(1)).encode() + b"\n")
    (paper,) = list(iter_jsonl(path))
    assert paper.id == "2401.00001"


class GeneratedSnapshot(io.RawIOBase):
    """A stream of `lines` snapshot records generated on the fly (no file, no list)."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        self.number = 0
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pending and self.number < self.lines:
            self.number += 1
            self.pending = json.dumps(snapshot_record(self.number % 99999)).encode() + b"\n"
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


def test_reading_streams_in_flat_memory():
    stream = io.BufferedReader(GeneratedSnapshot(3000))
    tracemalloc.start()
    try:
        items = iter_jsonl(stream)
        assert next(items).id == "2401.00001"
        for _ in range(500):
            next(items)
        _, warm_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        assert sum(1 for _ in items) == 3000 - 501
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the whole input is ~1.8 MB; reading it all at once would show here
    assert warm_peak < 500_000 and peak < 500_000, (warm_peak, peak)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=120) | st.text(max_size=80).map(str.encode), max_size=8))
def test_fuzz_lines_of_bytes(lines):
    for item in iter_jsonl(io.BytesIO(b"\n".join(lines))):
        assert isinstance(item, Paper | SkippedRecord)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
keys = st.sampled_from(
    [
        "id",
        "title",
        "abstract",
        "authors",
        "categories",
        "versions",
        "authors_parsed",
        "published",
        "update_date",
        "doi",
        "journal-ref",
        "license",
        "comments",
        "version",
        "primary_category",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        keys, json_values | st.sampled_from(["2401.00001v2", "dev-1", "x"]), max_size=10
    )
)
def test_fuzz_objects_with_the_real_keys(record):
    (item,) = list(iter_jsonl(io.BytesIO(json.dumps(record).encode())))
    assert isinstance(item, Paper | SkippedRecord)
    if isinstance(item, Paper):
        assert item.id and item.title and item.abstract


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x85\u00a0\u2003\u3000ab\\'\"{}éo")),
        max_size=60,
    )
    | st.text(max_size=60)
)
def test_fast_clean_agrees_with_clean_field(text):
    assert fast_clean(text) == clean_field(text)


def test_lone_surrogates_and_controls_do_not_abort_the_import(db, tmp_path):
    """JSON escapes for lone surrogates or C0 controls decode to text SQLite (and XML) refuse;
    before, one such line made the whole import fail and lost its batch."""
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        json.dumps(snapshot_record(1))
        + "\n"
        + r'{"id": "2401.00002", "title": "Bad \ud800 surrogate", "abstract": "a\u0000b",'
        + r' "authors": ["Eve \udfff"], "comments": "\u001b[31mred\uffff"}'
        + "\n"
        + r'{"id": "2401.00003", "title": "Pair \ud83d\ude00 kept\u0007", "abstract": "x"}'
        + "\n",
        encoding="ascii",
    )
    report = import_jsonl(db, path)
    assert report.status == "ok" and report.counts.new == 3
    bad = get_paper(db, "2401.00002")
    assert bad.title == "Bad \ufffd surrogate" and bad.abstract == "ab"
    assert bad.authors == ("Eve \ufffd",) and bad.comments == "[31mred"
    assert get_paper(db, "2401.00003").title == "Pair \U0001f600 kept"


def test_foreign_ids_that_cannot_be_a_file_name_or_url_are_skipped(tmp_path):
    lines = [
        {"id": i, "title": "t", "abstract": "a"}
        for i in ["dev-1", "doi:10.1/x", "a#b", "a?b", "..", "50%", "\u00e9t\u00e9"]
    ]
    items = list(iter_jsonl(write_lines(tmp_path / "ids.jsonl", lines)))
    assert [item.id for item in items if isinstance(item, Paper)] == ["dev-1", "doi:10.1/x"]
    assert all("not a plain id" in s.reason for s in items if isinstance(s, SkippedRecord))


def test_a_truncated_gzip_keeps_the_complete_lines_and_is_a_usage_error(db, tmp_path):
    import gzip

    whole = b"".join(json.dumps(snapshot_record(n)).encode() + b"\n" for n in range(1, 400))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(whole)[:-200])  # the download stopped early
    with pytest.raises(UsageError, match="not a valid gzip file, or cut short") as caught:
        import_jsonl(db, path, batch_size=1000)
    stored = count_papers(db)
    assert stored > 300 and f"the {stored} papers before it were stored" in str(caught.value)
    assert recent_ingest_runs(db)[0]["status"] == "failed"


def test_not_gzip_and_a_directory_are_usage_errors(db, tmp_path):
    fake = tmp_path / "plain.jsonl.gz"
    fake.write_text(json.dumps(snapshot_record(1)) + "\n")
    with pytest.raises(UsageError, match="not a valid gzip file"):
        import_jsonl(db, fake)
    with pytest.raises(UsageError, match="is a directory"):
        import_jsonl(db, tmp_path)


def test_cli_import_of_a_truncated_gzip_prints_one_line_and_exits_2(tmp_path):
    import gzip
    import subprocess
    import sys

    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(json.dumps(snapshot_record(1)).encode() * 50)[:-30])
    (tmp_path / "config.toml").write_text('[database]\npath = "d.db"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "import", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "cut short" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_partial_record_updates_text_but_never_erases_stored_facts(db, tmp_path):
    """A plain line with only id/title/abstract set the stored version to NULL and emptied
    the authors and categories of a paper fetched from arXiv."""
    from digest.config import Config
    from digest.ingest.daily import ingest_feed_file
    from digest.store.papers import author_ids_for
    from tests.conftest import ATOM_SAMPLE

    ingest_feed_file(db, Config(), ATOM_SAMPLE, label="cs.AI")
    before = get_paper(db, "2508.13167")
    authors_before = author_ids_for(db, "2508.13167")
    assert before.version == 1 and len(before.authors) > 5 and before.categories
    line = {"id": "2508.13167", "title": "A corrected title", "abstract": "A new abstract."}
    report = import_jsonl(db, write_lines(tmp_path / "fix.jsonl", [line]))
    assert report.counts.updated == 1
    after = get_paper(db, "2508.13167")
    assert (after.title, after.abstract) == ("A corrected title", "A new abstract.")
    assert after.version == 1 and after.authors == before.authors
    assert after.categories == before.categories and after.announced == before.announced
    assert author_ids_for(db, "2508.13167") == authors_before


def test_huge_titles_and_abstracts_are_skipped_with_their_size(tmp_path):
    lines = [
        {"id": "2401.00001", "title": "x" * 10_000, "abstract": "fine"},
        {"id": "2401.00002", "title": "fine", "abstract": "y " * 1_000_000},
        {"id": "2401.00003", "title": "t" * 1_000, "abstract": "a" * 20_000},  # at the limits
    ]
    items = list(iter_jsonl(write_lines(tmp_path / "big.jsonl", lines)))
    assert [type(i).__name__ for i in items] == ["SkippedRecord", "SkippedRecord", "Paper"]
    assert items[0].reason == "title is 10,000 characters, over 1,000: not a title"
    assert items[1].reason.startswith("abstract is 1,999,999 characters")


def test_cli_imports_from_a_pipe(tmp_path):
    """`... | digest import /dev/stdin` said "/dev/stdin: no such file"."""
    import subprocess
    import sys

    (tmp_path / "config.toml").write_text('[database]\npath = "d.db"\n')
    lines = "".join(json.dumps(snapshot_record(n)) + "\n" for n in (1, 2, 3))
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "import", "/dev/stdin", "--json"],
        input=lines,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"]["new"] == 3


def test_cli_shows_a_file_name_with_brackets_as_it_is(tmp_path):
    """Labels went through rich markup: `[red]x[bold].jsonl` printed as a red, bold `x.jsonl`."""
    import subprocess
    import sys

    (tmp_path / "config.toml").write_text('[database]\npath = "d.db"\n')
    write_lines(tmp_path / "[red]x[bold].jsonl", [snapshot_record(1)])
    for command in (["import", "[red]x[bold].jsonl"], ["status"]):
        proc = subprocess.run(
            [sys.executable, "-m", "digest", *command],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert "[red]x[bold].jsonl" in proc.stdout


def test_a_file_with_no_paper_on_any_line_is_a_failed_import(db, tmp_path):
    """A JSON array (not JSON Lines) imported nothing, skipped every line, and said 'ok'."""
    path = tmp_path / "papers.json"
    path.write_text(json.dumps([snapshot_record(1), snapshot_record(2)], indent=2))
    report = import_jsonl(db, path)
    assert report.status == "failed" and report.counts.skipped == report.counts.fetched > 5
    assert report.error.startswith(f"none of the {report.counts.fetched} lines is a paper")
    assert recent_ingest_runs(db)[0]["status"] == "failed"
    one_good = write_lines(tmp_path / "mixed.jsonl", [b"oops", snapshot_record(3)])
    assert import_jsonl(db, one_good).status == "ok"


def test_cli_exits_2_when_no_line_is_a_paper(tmp_path):
    import subprocess
    import sys

    (tmp_path / "config.toml").write_text('[database]\npath = "d.db"\n')
    (tmp_path / "papers.json").write_text(json.dumps([snapshot_record(1)], indent=2))
    proc = subprocess.run(
        [sys.executable, "-m", "digest", "import", "papers.json", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert json.loads(proc.stdout)["status"] == "failed"


def test_absurd_author_lists_are_skipped(tmp_path):
    """20,000 authors in one line became 20,000 author rows and archive pages."""
    lines = [
        {"id": "2401.00001", "title": "t", "abstract": "a", "authors": "A, " * 20_000},
        {"id": "2401.00002", "title": "t", "abstract": "a", "authors": ["x" * 5_000]},
        {
            "id": "2401.00003",
            "title": "t",
            "abstract": "a",
            "authors": [f"Person {n}" for n in range(3000)],
        },
    ]
    items = list(iter_jsonl(write_lines(tmp_path / "authors.jsonl", lines)))
    assert [type(i).__name__ for i in items] == ["SkippedRecord", "SkippedRecord", "Paper"]
    assert items[0].reason == "20,000 authors, over 5,000"
    assert items[1].reason == "an author name of 5,000 characters, over 300"


def test_json_output_on_stdout_is_only_json_when_stderr_is_a_terminal(tmp_path):
    """The progress bar (shown when stderr is a terminal) was drawn on stdout: `digest import
    --json > out.json` from a terminal got the bar's output in the file."""
    import os
    import pty
    import subprocess
    import sys

    (tmp_path / "config.toml").write_text('[database]\npath = "d.db"\n')
    path = write_lines(tmp_path / "p.jsonl", [snapshot_record(n) for n in range(1, 50)])
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "digest", "import", str(path), "--json"],
            stdout=subprocess.PIPE,
            stderr=terminal,
            cwd=tmp_path,
            timeout=120,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"{") and json.loads(proc.stdout)["counts"]["new"] == 49


def test_split_arxiv_id_takes_ascii_digits_only():
    from digest.models import split_arxiv_id

    assert split_arxiv_id("arXiv:2401.00001v12") == ("2401.00001", 12)
    assert split_arxiv_id("math.CA/0611800v2") == ("math/0611800", 2)
    assert split_arxiv_id("２４０１.00001") is None  # fullwidth digits
    assert split_arxiv_id("\u0662\u0664\u0660\u0661.00001") is None  # Arabic-Indic digits
