"""Hugging Face Daily Papers: fetch one day's list (bytes) and parse it (pure).

Off by default (`[ranking].hf_enabled`). `GET {base}/api/daily_papers?date=YYYY-MM-DD` returns a
JSON array of `{paper: {id, title, upvotes, ...}, title, publishedAt, ...}` items; only the arXiv
id, the upvote count and the title are kept, as one community signal for trending.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from digest.errors import ParseError
from digest.ingest.limits import arxiv_id

MAX_UPVOTES = 10**9


@dataclass(frozen=True)
class HfPaper:
    paper_id: str  # arXiv id without version
    upvotes: int
    title: str


def daily_papers_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/api/daily_papers"


def fetch_hf_daily(fetcher, base_url: str, day: date, limit: int = 100) -> bytes:
    """The raw JSON for one day. `fetcher` is a PoliteFetcher (or anything with its `get`)."""
    response = fetcher.get(
        daily_papers_url(base_url), params={"date": day.isoformat(), "limit": limit}
    )
    return response.body


def parse_hf_daily(raw: bytes) -> list[HfPaper]:
    """Items with a usable arXiv id, best upvoted first; malformed items are skipped."""
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, nested absurdly deep
        raise ParseError(f"Hugging Face daily papers: not JSON ({str(exc)[:120]})") from exc
    if not isinstance(items, list):
        raise ParseError("Hugging Face daily papers: expected a JSON array of items")
    found: dict[str, HfPaper] = {}
    for item in items:
        paper = item.get("paper") if isinstance(item, dict) else None
        if not isinstance(paper, dict):
            continue
        split = arxiv_id(str(paper.get("id", "")))
        if split is None:
            continue
        upvotes = paper.get("upvotes", 0)
        upvotes = upvotes if isinstance(upvotes, int) and not isinstance(upvotes, bool) else 0
        upvotes = min(upvotes, MAX_UPVOTES)  # SQLite integers stop at 2**63
        title = " ".join(str(paper.get("title") or item.get("title") or "").split())[:1000]
        best = found.get(split[0])
        if best is None or upvotes > best.upvotes:
            found[split[0]] = HfPaper(split[0], max(upvotes, 0), title)
    return sorted(found.values(), key=lambda p: (-p.upvotes, p.paper_id))
