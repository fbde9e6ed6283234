"""Library import: a GENERATED 2,000-entry BibTeX library against the real week of listings.

Run: python bench/library_import.py [--listings data/samples/listings] [--repeat 3] [--pad N]

The store holds the recorded week (1,202 papers, 2025-10-06 … 10). The library is GENERATED
from it: every paper of the week once, written the ways exporters write them (Zotero eprint,
Google Scholar "arXiv preprint arXiv:…", an arxiv.org URL, the 10.48550 DOI, or the title
alone: upper-cased, TeX accents, braces), plus 798 entries the store cannot match (598 books
and journal papers without an arXiv id, 200 arXiv ids of papers not stored: what the API would
be asked for); 2,000 entries in all. Prints wall and CPU seconds of the import (parse + match + store, no API), of a
re-import (replaces: the entry count must not double), next to bibtexparser's parse of the
same file measured in the same run, and the match rate overall and among stored papers.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.config import Config  # noqa: E402
from digest.ingest.backfill import import_jsonl  # noqa: E402
from digest.store.db import open_db  # noqa: E402
from digest.subscribers.library import import_library  # noqa: E402
from digest.subscribers.manage import add_subscriber  # noqa: E402

LISTINGS = ROOT / "data" / "samples" / "listings"  # the recorded real week
ACCENTS = {"é": r"\'{e}", "ü": r"\"{u}", "ö": r"\"{o}", "á": r"\'{a}", "è": r"\`{e}"}


def tex(title: str) -> str:
    for plain, escaped in ACCENTS.items():
        title = title.replace(plain, escaped)
    return title


def bib_entry(n: int, paper: dict, style: str) -> str:
    title, pid = paper["title"], paper["id"]
    if style == "eprint":
        extra = f"eprint = {{{pid}}},\n  archivePrefix = {{arXiv}},"
    elif style == "scholar":
        extra = f"journal = {{arXiv preprint arXiv:{pid}}},"
    elif style == "url":
        extra = f"url = {{https://arxiv.org/abs/{pid}v1}},"
    elif style == "doi":
        extra = f"doi = {{10.48550/arXiv.{pid}}},"
    else:  # title only, as a hand-typed entry might have it
        words = tex(title).split()
        title = " ".join(
            w.upper() if i % 3 == 0 and "\\" not in w else "{" + w + "}"
            for i, w in enumerate(words)
        )
        extra = "year = {2025},"
    return f"@article{{k{n},\n  title = {{{title}}},\n  {extra}\n}}\n"


def generated_library(papers: list[dict], rng: random.Random) -> tuple[str, int]:
    """(BibTeX text, entries whose paper is stored)."""
    styles = ["eprint"] * 40 + ["scholar"] * 15 + ["url"] * 10 + ["doi"] * 10 + ["title"] * 25
    parts = [bib_entry(n, p, rng.choice(styles)) for n, p in enumerate(papers)]
    for n in range(max(0, 2000 - len(papers) - 200)):
        parts.append(
            f"@book{{b{n}, title = {{A Monograph on Topic {n} and Its Applications}},"
            f" doi = {{10.1007/978-3-{n:05d}}}, year = {{2001}}}}\n"
        )
    for n in range(200):
        parts.append(
            f"@article{{o{n}, title = {{An Older Preprint Number {n}}},"
            f" eprint = {{1706.{n + 1:05d}}}, archivePrefix = {{arXiv}}}}\n"
        )
    rng.shuffle(parts)
    return "".join(parts), len(papers)


def pad(db, papers: list[dict], count: int) -> None:
    from digest.models import Paper
    from digest.store.papers import upsert_papers

    batch = []
    for n in range(count):
        p = papers[n % len(papers)]
        batch.append(Paper(id=f"3001.{n:05d}", title=f"{p['title']} ({n})", abstract=p["abstract"]))
        if len(batch) == 5000:
            upsert_papers(db, batch, source="bench")
            batch = []
    upsert_papers(db, batch, source="bench")
    print(f"padded the store with {count} GENERATED papers")


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=Path, default=LISTINGS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pad",
        type=int,
        default=0,
        help="also store this many GENERATED papers (the week's titles with a number added, "
        "under new ids): the title index then scans a large archive",
    )
    args = parser.parse_args()
    files = sorted(args.listings.glob("*.jsonl"))
    if not files:
        sys.exit(f"no listings in {args.listings} (give --listings)")
    import bibtexparser

    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        for path in files:
            import_jsonl(db, path)
        papers = [json.loads(line) for path in files for line in path.open(encoding="utf-8")]
        papers = list({p["id"]: p for p in papers}.values())
        if args.pad:
            pad(db, papers, args.pad)
        text, stored = generated_library(papers, random.Random(19))
        raw = text.encode("utf-8")
        reader = add_subscriber(db, "bench@example.org", status="active", topics=(), text="x")
        config = Config()
        print(
            f"store: {len(papers)} papers of the real week; library: GENERATED, "
            f"{len(papers) + max(0, 2000 - len(papers) - 200) + 200} entries, {len(raw) / 1024:.0f} KiB BibTeX"
        )
        runs = []
        for _ in range(args.repeat):
            _, base_wall, base_cpu = timed(lambda: bibtexparser.parse_string(text))
            report, wall, cpu = timed(
                lambda: import_library(db, config, reader, raw, "gen.bib", fetch=False)
            )
            runs.append((wall, cpu, base_wall, base_cpu, report))
        rows = db.execute("SELECT COUNT(*) FROM library_entries").fetchone()[0]
        for n, (wall, cpu, base_wall, base_cpu, _) in enumerate(runs, start=1):
            kind = "import" if n == 1 else "re-import"
            print(
                f"{kind:9} {wall:6.2f} s wall {cpu:6.2f} s CPU | baseline bibtexparser.parse_string "
                f"{base_wall:5.2f} s wall {base_cpu:5.2f} s CPU | ratio {wall / base_wall:4.2f}x"
            )
        report = runs[-1][4]
        in_store = report.matched / stored
        print(
            f"matched {report.matched} of {report.entries} ({report.match_rate:.1%}): "
            f"{report.by_arxiv_id} by arXiv id, {report.by_doi} by DOI, {report.by_title} by title; "
            f"{report.pending} arXiv ids left for the API, {report.unmatched} unmatched, "
            f"{len(report.skipped)} skipped"
        )
        print(f"match rate among the {stored} entries whose paper is stored: {in_store:.1%}")
        print(f"library_entries rows after {args.repeat} imports: {rows} (no doubling)")
        pages = -(-report.pending // config.arxiv.api_page_size)
        print(
            f"API part, not run here: {report.pending} ids = {pages} request(s) of "
            f"{config.arxiv.api_page_size} ids, {config.arxiv.request_delay_seconds:g} s apart"
        )
        db.conn.close()


if __name__ == "__main__":
    main()
