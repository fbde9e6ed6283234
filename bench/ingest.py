"""Ingest throughput: JSONL parse + import (GENERATED 100k lines), Atom and API parsing.

Run: python bench/ingest.py [--lines 100000] [--repeat 20]
Prints entries/s for each step next to a baseline measured in the same run, and peak RSS.
The JSONL file is GENERATED: the 170 real papers of tests/fixtures/eval/papers_dev.jsonl,
re-used under new arXiv-style ids in the snapshot format, with synthetic author names.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.ingest.arxiv_api import parse_api_response  # noqa: E402
from digest.ingest.backfill import import_jsonl  # noqa: E402
from digest.ingest.jsonl import iter_jsonl  # noqa: E402
from digest.store.db import open_db  # noqa: E402

EVAL = ROOT / "tests" / "fixtures" / "eval" / "papers_dev.jsonl"
ATOM = ROOT / "data" / "samples" / "cs.AI-2025-08-20.atom.xml"
API_100 = next(
    (ROOT / "tests" / "fixtures" / "arxiv" / "api").glob("arxivpy-2026__q_testing_s0_m100_*")
)
FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Emmy",
    "Kurt",
    "Sofia",
    "Srinivasa",
    "Maryam",
    "John",
    "Hedy",
    "André",
    "Chen",
    "Yuki",
    "Olga",
    "Kwame",
    "Lucía",
    "Ravi",
    "Ines",
    "Tomás",
    "Zhang",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Noether",
    "Gödel",
    "Kovalevskaya",
    "Ramanujan",
    "Mirzakhani",
    "Neumann",
    "Lamarr",
    "Weil",
    "Ning",
    "Tanaka",
    "Ladyzhenskaya",
    "Mensah",
    "García",
    "Kannan",
    "Dubois",
    "Silva",
    "Wei",
    "Smith",
    "Müller",
    "Rossi",
    "Novak",
    "Kim",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate_snapshot(path: Path, lines: int) -> int:
    """Write `lines` snapshot-format records; return the file size in bytes."""
    papers = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line]
    names = list(itertools.product(LAST, FIRST))
    with path.open("w", encoding="utf-8") as out:
        for number in range(lines):
            paper = papers[number % len(papers)]
            authors = [names[(number * 7 + k * 13) % len(names)] for k in range(1 + number % 5)]
            record = {
                "id": f"{2401 + number // 99999}.{number % 99999 + 1:05d}",
                "submitter": "generated",
                "authors": ", ".join(f"{first} {last}" for last, first in authors),
                "title": paper["title"],
                "comments": None,
                "journal-ref": None,
                "doi": None,
                "categories": "cs.LG cs.AI",
                "license": "http://creativecommons.org/licenses/by/4.0/",
                "abstract": paper["abstract"],
                "versions": [{"version": "v1", "created": "Mon, 1 Jan 2024 10:00:00 GMT"}],
                "update_date": "2024-01-02",
                "authors_parsed": [[last, first, ""] for last, first in authors],
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path.stat().st_size


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def bench_jsonl(lines: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated-snapshot.jsonl"
        size = generate_snapshot(path, lines)
        print(
            f"JSONL: GENERATED file, {lines} lines, {size / 1e6:.1f} MB "
            f"(eval papers re-used under new ids, synthetic authors)"
        )

        def baseline() -> int:
            with path.open("rb") as stream:
                return sum(1 for line in stream if json.loads(line))

        base_s, base_n = timed(baseline)
        parse_s, parsed = timed(lambda: sum(1 for _ in iter_jsonl(path)))
        print(f"  baseline json.loads per line : {base_n / base_s:>10,.0f} lines/s")
        print(
            f"  iter_jsonl (parse + clean)   : {parsed / parse_s:>10,.0f} entries/s "
            f"({base_s / parse_s:.2f}x of baseline)"
        )
        rss_before = peak_rss_mb()
        db = open_db(Path(tmp) / "bench.db")
        import_s, report = timed(lambda: import_jsonl(db, path))
        assert report.counts.new == lines, report.counts
        print(
            f"  import_jsonl into SQLite     : {lines / import_s:>10,.0f} entries/s "
            f"({import_s:.1f} s, batches of 1000, authors linked)"
        )
        rerun_s, again = timed(lambda: import_jsonl(db, path))
        print(
            f"  re-import (all unchanged)    : {lines / rerun_s:>10,.0f} entries/s "
            f"(new={again.counts.new}, unchanged={again.counts.unchanged})"
        )
        db.conn.close()
        print(f"  peak RSS: {peak_rss_mb():.0f} MB (was {rss_before:.0f} MB before the import)")


def bench_xml(repeat: int) -> None:
    raw_api = API_100.read_bytes()
    api_s, listing = timed(lambda: [parse_api_response(raw_api) for _ in range(repeat)])
    entries = len(listing[0].papers) * repeat
    print(
        f"API: parse_api_response on the recorded 100-entry response x{repeat}: "
        f"{entries / api_s:,.0f} entries/s"
    )
    try:
        from digest.ingest.arxiv_feed import parse_feed
    except ImportError:
        print("Atom: digest.ingest.arxiv_feed.parse_feed not available; skipped")
        return
    import feedparser

    raw = ATOM.read_bytes()
    base_s, _ = timed(lambda: [feedparser.parse(raw) for _ in range(repeat)])
    feed_s, parsed = timed(lambda: [parse_feed(raw) for _ in range(repeat)])
    count = len(parsed[0].papers) + len(parsed[0].skipped)
    print(f"Atom: {ATOM.name} ({count} entries) x{repeat}")
    print(f"  baseline feedparser.parse    : {count * repeat / base_s:>10,.0f} entries/s")
    print(
        f"  parse_feed                   : {count * repeat / feed_s:>10,.0f} entries/s "
        f"({base_s / feed_s:.2f}x of baseline)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    bench_xml(args.repeat)
    bench_jsonl(args.lines)


if __name__ == "__main__":
    main()
