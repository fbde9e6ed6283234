"""Trending papers: what the community is interested in, per day, week or month.

Signals, all from people: likes and clicks across all subscribers (each person counts once per
paper; clicks are those `feedback.counted_clicks` keeps, so a mail scanner's are left out, as
they are for the personal model), and optionally Hugging Face Daily Papers upvotes. How many
curated topics matched a paper is not a signal: that is the archive's own opinion, and it put
papers nobody had read at the top. No signal, no trending list.
A week is the ISO week (Monday to Sunday) containing the day; a month is its calendar month.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from digest.config import Config
from digest.errors import UsageError
from digest.store import ranking as rank_store
from digest.store.feedback import feedback_counts

PERIODS = ("day", "week", "month")
LIKE_WEIGHT = 3.0
CLICK_WEIGHT = 1.0
DISLIKE_WEIGHT = 1.0
UPVOTE_WEIGHT = 2.0  # times log2(1 + upvotes)


@dataclass(frozen=True)
class TrendingPaper:
    paper_id: str
    score: float
    likes: int = 0
    clicks: int = 0
    hf_upvotes: int = 0
    title: str = ""


def period_bounds(day: date, period: str) -> tuple[date, date]:
    """First and last day of the period containing `day` (the calendar's ends stop it)."""
    if period == "day":
        return day, day
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=min(6, (date.max - start).days))
    if period == "month":
        start = day.replace(day=1)
        if start.month == 12:
            return start, start.replace(day=31)
        return start, start.replace(month=start.month + 1) - timedelta(days=1)
    raise UsageError(f"unknown trending period {period!r} (use one of {', '.join(PERIODS)})")


def _score(likes: int, clicks: int, dislikes: int, upvotes: int) -> float:
    return (
        LIKE_WEIGHT * likes
        + CLICK_WEIGHT * clicks
        - DISLIKE_WEIGHT * dislikes
        + UPVOTE_WEIGHT * math.log2(1 + max(upvotes, 0))
    )


def trending(db, day: date, period: str = "day", limit: int = 20) -> list[TrendingPaper]:
    """Papers announced in the period, ordered by community interest (ties by id).

    Papers nobody showed any interest in are left out, so the list may be short or empty.
    """
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, got {limit}")
    since, until = period_bounds(day, period)
    paper_ids = rank_store.paper_ids_between(db, since, until)
    if not paper_ids:
        return []
    feedback = feedback_counts(db, paper_ids)
    upvotes = rank_store.hf_upvotes(db, paper_ids)
    found = []
    for pid in paper_ids:
        counts = feedback.get(pid, {})
        likes, clicks = counts.get("like", 0), counts.get("click", 0)
        score = _score(likes, clicks, counts.get("dislike", 0), upvotes.get(pid, 0))
        if score > 0:
            found.append(TrendingPaper(pid, round(score, 3), likes, clicks, upvotes.get(pid, 0)))
    found.sort(key=lambda t: (-t.score, t.paper_id))
    found = found[:limit]
    titles = rank_store.paper_text_rows(db, [t.paper_id for t in found])
    return [replace(t, title=titles.get(t.paper_id, {}).get("title", "")) for t in found]


def interest_counts(db, paper_ids: Sequence[str], day: date) -> dict[str, float]:
    """The trending score of each given paper (for the small trending boost in ranking)."""
    if not paper_ids:
        return {}
    feedback = feedback_counts(db, paper_ids)
    upvotes = rank_store.hf_upvotes(db, paper_ids)
    out = {}
    for pid in paper_ids:
        counts = feedback.get(pid, {})
        score = _score(
            counts.get("like", 0),
            counts.get("click", 0),
            counts.get("dislike", 0),
            upvotes.get(pid, 0),
        )
        if score > 0:
            out[pid] = score
    return out


def refresh_hf(db, config: Config, day: date, fetcher=None) -> int:
    """Fetch and store one day of Hugging Face upvotes; 0 when the source is off."""
    if not config.ranking.hf_enabled:
        return 0
    from digest.ingest.hf import fetch_hf_daily, parse_hf_daily

    own = fetcher is None
    if own:
        from digest.ingest.http import PoliteFetcher

        fetcher = PoliteFetcher(config.arxiv)
    try:
        raw = fetch_hf_daily(fetcher, config.ranking.hf_base_url, day)
    finally:
        if own:
            fetcher.close()
    papers = parse_hf_daily(raw)
    return rank_store.save_hf_papers(db, day, [(p.paper_id, p.upvotes, p.title) for p in papers])
