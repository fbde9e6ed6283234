"""Code and venue badges on a real week of arXiv listings: how many were found, and a sample to
check by hand.

Reads `../shared/fixtures/arxiv/listings/*.jsonl` (1,202 papers with arXiv's `comments`), runs
`extract_badges` on every paper and prints: papers with a comment, code links and venues found
(from the comments, and from the abstract), the CPU and wall seconds of the extraction beside a
baseline measured in the same run (one pass of a plain URL regex over the same texts), and
writes a seeded random sample of papers that have a badge or a comment mentioning a URL or a
conference to a TSV for checking by hand (`--sample 50`).

    python bench/badges.py [--listings DIR] [--sample 50] [--out data/badges_sample.tsv]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from digest.ingest.badges import extract_badges
from digest.models import Paper

DEFAULT_LISTINGS = Path(__file__).resolve().parents[2] / "shared/fixtures/arxiv/listings"
PLAIN_URL = re.compile(r"https?://\S+")
HINT = re.compile(r"https?://|github|accepted|20\d\d|workshop|conference|review", re.I)


def load(listings: Path) -> list[Paper]:
    papers = []
    for path in sorted(listings.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            papers.append(
                Paper(
                    id=row["id"],
                    title=row["title"],
                    abstract=row["abstract"],
                    comments=row.get("comments"),
                )
            )
    return papers


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listings", type=Path, default=DEFAULT_LISTINGS)
    parser.add_argument("--sample", type=int, default=50)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--out", type=Path, default=Path("data/badges_sample.tsv"))
    args = parser.parse_args()
    papers = load(args.listings)
    texts = [f"{p.comments or ''}\n{p.abstract}" for p in papers]
    _, base_wall, base_cpu = timed(lambda: [PLAIN_URL.findall(t) for t in texts])
    badges, wall, cpu = timed(lambda: [extract_badges(p) for p in papers])
    with_comment = sum(1 for p in papers if p.comments)
    comment_links = sum(
        1
        for p, b in zip(papers, badges, strict=True)
        for link in b.links
        if link.url in (p.comments or "") or link.url.removeprefix("https://") in (p.comments or "")
    )
    all_links = sum(len(b.links) for b in badges)
    print(f"papers: {len(papers)} ({with_comment} with a comment)")
    print(
        f"code/project links: {all_links} in {sum(1 for b in badges if b.links)} papers "
        f"({comment_links} from comments, {all_links - comment_links} from abstracts)"
    )
    kinds: dict[str, int] = {}
    for b in badges:
        for link in b.links:
            kinds[link.kind] = kinds.get(link.kind, 0) + 1
    print("  by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"papers with code (has_code): {sum(1 for b in badges if b.has_code)}")
    venue_keys: dict[str, int] = {}
    for b in badges:
        if b.venue_key:
            venue_keys[b.venue_key] = venue_keys.get(b.venue_key, 0) + 1
    print(
        f"venues: {sum(1 for b in badges if b.venue)} papers; top: "
        + ", ".join(f"{k} {v}" for k, v in sorted(venue_keys.items(), key=lambda kv: -kv[1])[:10])
    )
    print(
        f"extraction: {wall:.3f} s wall, {cpu:.3f} s CPU for {len(papers)} papers "
        f"({wall / len(papers) * 1e6:.0f} µs a paper); baseline plain URL regex: "
        f"{base_wall:.3f} s wall, {base_cpu:.3f} s CPU (ratio {wall / max(base_wall, 1e-9):.1f}x)"
    )
    pool = [
        (p, b)
        for p, b in zip(papers, badges, strict=True)
        if not b.is_empty or HINT.search(p.comments or "")
    ]
    rng = random.Random(args.seed)
    sample = rng.sample(pool, min(args.sample, len(pool)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        out.write("id\tcomments\tlinks\tvenue\tvenue_key\n")
        for p, b in sample:
            comments = " ".join((p.comments or "").split())
            links = " ".join(f"{link.kind}:{link.url}" for link in b.links)
            out.write(f"{p.id}\t{comments}\t{links}\t{b.venue or ''}\t{b.venue_key or ''}\n")
    print(f"sample of {len(sample)} (of {len(pool)} with a badge or a hint) written to {args.out}")


if __name__ == "__main__":
    main()
