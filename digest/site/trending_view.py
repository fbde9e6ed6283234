"""Trending lists per day, week and month (`digest.rank.trending`: readers' likes and clicks,
Hugging Face upvotes), and, labelled as such, the papers that matched the most curated topics.

Topic matches never make a paper "trending": with no reader signal a period has no trending list
and the pages say so. `most_matched` is the archive's own selection (feeds, period pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain, islice

from digest.rank.trending import trending
from digest.site.gather import SiteData


@dataclass(frozen=True)
class Ranked:
    paper_id: str
    likes: int = 0  # public, aggregated counts only (never who liked what)
    clicks: int = 0
    upvotes: int = 0  # Hugging Face Daily Papers, when that source is on
    matches: int = 0  # curated topics matched (most_matched only)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def period_days(data: SiteData, period: str, anchor: date) -> list[date]:
    """Announcement days in the day/ISO-week/month that contains `anchor`."""
    if period == "day":
        return [anchor] if anchor in data.listings else []
    if period == "week":
        year, week, _ = anchor.isocalendar()
        return [d for d in data.days if d.isocalendar()[:2] == (year, week)]
    return [d for d in data.days if (d.year, d.month) == (anchor.year, anchor.month)]


def most_matched(data: SiteData, period: str, anchor: date, limit: int) -> list[Ranked]:
    """The period's papers by how many curated topics they matched (then best score, then
    listing order); papers without a match follow in listing order."""
    days = period_days(data, period, anchor)
    order = dict.fromkeys(chain.from_iterable(data.new_listed.get(day, ()) for day in days))
    summary = data.match_summary
    # Papers with a topic match come first (most topics, best score, listing order); the many
    # without one follow in listing order, so only the matched few are sorted.
    matched = [(i, pid) for i, pid in enumerate(order) if pid in summary]
    matched.sort(key=lambda item: (-summary[item[1]][0], -summary[item[1]][1], item[0]))
    ranked = [pid for _, pid in matched[:limit]]
    if len(ranked) < limit:
        ranked += islice((pid for pid in order if pid not in summary), limit - len(ranked))
    return [Ranked(pid, matches=summary.get(pid, (0, 0.0))[0]) for pid in ranked]


def trending_list(
    db, data: SiteData, period: str, anchor: date, limit: int, signal_days: set[str] | None = None
) -> list[Ranked]:
    """The period's papers readers showed interest in, most first; empty when nobody did.

    `signal_days`: days with any reader feedback or upvotes; periods without one skip the query.
    """
    quiet = signal_days is not None and not any(
        d.isoformat() in signal_days for d in period_days(data, period, anchor)
    )
    if quiet:
        return []
    return [
        Ranked(item.paper_id, item.likes, item.clicks, item.hf_upvotes)
        for item in trending(db, anchor, period=period, limit=limit)
        if item.paper_id in data.papers
    ]


def top_papers(trend, data: SiteData, period: str, anchor: date, limit: int) -> list[Ranked]:
    """Trending papers first, then the most matched (what a feed of the period carries)."""
    found = list(trend(period, anchor, limit))
    have = {r.paper_id for r in found}
    found += [r for r in most_matched(data, period, anchor, limit) if r.paper_id not in have]
    return found[:limit]
