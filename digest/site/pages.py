"""Listing pages: home, days, weeks, months, the archive calendar, topics, search, subscribe.

Each function returns PageJobs; contexts are plain dicts (see views.py) so they can be hashed.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import date

from digest.mail import links
from digest.site import views
from digest.site.gather import SiteData
from digest.site.jobs import PageJob, fingerprint, render, template_job
from digest.site.trending_view import Ranked, most_matched, week_start
from digest.site.views import page_base as _base

PERIOD_TRENDING = 30
TOPIC_CARD_DAYS = 10
TOPIC_ROW_DAYS = 60  # older days are listed as links with counts (a topic page stays small)


def _period_context(
    data: SiteData,
    site: dict,
    path: str,
    title: str,
    days: list[date],
    trending: list[Ranked],
    prev: dict | None,
    nxt: dict | None,
) -> dict:
    return _base(site, path, title, "archive") | {
        "title": title,
        "range": views.days_range(days),
        "total": sum(len(data.listings.get(d, [])) for d in days),
        "days": [
            {
                "url": links.day_path(d),
                "label": views.day_label(d),
                "count": len(data.listings.get(d, [])),
            }
            for d in days
        ],
        "trending": [views.card(data, r.paper_id, signals=r) for r in trending],
        # no reader signal in the period: its papers that matched the most topics, so labelled
        "by_topics": not any(r.likes or r.clicks or r.upvotes for r in trending),
        "prev": prev,
        "next": nxt,
    }


def _period_job(
    data: SiteData,
    site: dict,
    salt: str,
    keys: dict[str, str],
    path: str,
    title: str,
    days: list[date],
    trending: list[Ranked],
    links_around: tuple[dict | None, dict | None],
) -> PageJob:
    """Fingerprinted from compact inputs (its days and their counts, the trending papers' keys
    and likes, the neighbouring periods); the context with its cards is built only to render."""
    prev, nxt = links_around
    key = fingerprint(
        salt,
        "period",
        path,
        title,
        [(d, len(data.listings.get(d, ()))) for d in days],
        [(r, keys.get(r.paper_id)) for r in trending],
        prev,
        nxt,
    )

    def produce() -> str:
        context = _period_context(data, site, path, title, days, trending, prev, nxt)
        return render("site/period.html.j2", **context)

    return PageJob(path, key, produce)


def period_jobs(
    data: SiteData, site: dict, salt: str, trend, keys: dict[str, str]
) -> list[PageJob]:
    jobs: list[PageJob] = []
    weeks = sorted({week_start(d) for d in data.days})

    def link(m: date) -> dict:
        y, w, _ = m.isocalendar()
        return {"url": links.week_path(y, w), "label": f"Week {w}, {y}"}

    for i, monday in enumerate(weeks):
        year, week, _ = monday.isocalendar()
        days = [d for d in data.days if week_start(d) == monday]
        around = (
            link(weeks[i - 1]) if i > 0 else None,
            link(weeks[i + 1]) if i + 1 < len(weeks) else None,
        )
        trending = trend("week", days[0], PERIOD_TRENDING) or most_matched(
            data, "week", days[0], PERIOD_TRENDING
        )
        path, title = links.week_path(year, week), f"Week {week}, {year}"
        jobs.append(_period_job(data, site, salt, keys, path, title, days, trending, around))
    months = sorted({(d.year, d.month) for d in data.days})

    def mlink(ym: tuple[int, int]) -> dict:
        return {"url": links.month_path(*ym), "label": f"{calendar.month_name[ym[1]]} {ym[0]}"}

    for i, (year, month) in enumerate(months):
        days = [d for d in data.days if (d.year, d.month) == (year, month)]
        around = (
            mlink(months[i - 1]) if i > 0 else None,
            mlink(months[i + 1]) if i + 1 < len(months) else None,
        )
        trending = trend("month", days[0], PERIOD_TRENDING) or most_matched(
            data, "month", days[0], PERIOD_TRENDING
        )
        path, title = links.month_path(year, month), f"{calendar.month_name[month]} {year}"
        jobs.append(_period_job(data, site, salt, keys, path, title, days, trending, around))
    return jobs


def archive_job(data: SiteData, site: dict, salt: str) -> PageJob:
    """The calendar: every month with its announcement days, weeks and counts."""
    counts = {d: len(data.listings.get(d, [])) for d in data.days}
    months = []
    for year, month in sorted({(d.year, d.month) for d in data.days}, reverse=True):
        weeks = []
        for week in calendar.Calendar().monthdatescalendar(year, month):
            y, w, _ = week[0].isocalendar()
            has_days = any(d in counts for d in week)
            weeks.append(
                {
                    "url": links.week_path(y, w) if has_days else None,
                    "label": f"W{w:02d}",
                    "cells": [
                        {
                            "num": d.day if d.month == month else None,
                            "url": links.day_path(d) if d in counts and d.month == month else None,
                            "count": counts.get(d, 0) if d.month == month else 0,
                        }
                        for d in week
                    ],
                }
            )
        months.append(
            {
                "label": f"{calendar.month_name[month]} {year}",
                "url": links.month_path(year, month),
                "weeks": weeks,
                "total": sum(c for d, c in counts.items() if (d.year, d.month) == (year, month)),
            }
        )
    context = _base(site, "archive.html", "Archive", "archive") | {
        "months": months,
        "total_days": len(data.days),
        "total_papers": len(data.papers),
    }
    return template_job(salt, "archive.html", "site/archive.html.j2", context)


def _topic_context(data: SiteData, site: dict, topic, path: str) -> dict:
    matches = data.matches_by_topic.get(topic.id, [])
    by_day: dict[date, list] = defaultdict(list)
    for match in matches:
        by_day[match.day].append(match)
    days, earlier = [], []
    for n, day in enumerate(sorted(by_day, reverse=True)):
        if n >= TOPIC_ROW_DAYS:
            earlier.append(
                {
                    "label": views.day_label(day),
                    "url": links.day_path(day),
                    "count": len(by_day[day]),
                }
            )
            continue
        ordered = sorted(by_day[day], key=lambda m: (-m.score, m.paper_id))
        days.append(
            {
                "label": views.day_label(day),
                "url": links.day_path(day),
                "cards": [views.card(data, m.paper_id, day=day) for m in ordered]
                if n < TOPIC_CARD_DAYS
                else [],
                "rows": []
                if n < TOPIC_CARD_DAYS
                else [views.row(data, m.paper_id) for m in ordered],
            }
        )
    return _base(site, path, topic.name, "topics") | {
        "topic": {
            "id": topic.id,
            "name": topic.name,
            "description": topic.description,
            "keywords": list(topic.keywords),
            "feed": f"topics/{topic.slug}.xml",
        },
        "total": len({m.paper_id for m in matches}),
        "days": days,
        "earlier": earlier,
    }


def topic_jobs(data: SiteData, site: dict, salt: str, keys: dict[str, str]) -> list[PageJob]:
    jobs = []
    summaries = []
    for topic in data.topics:
        matches = data.matches_by_topic.get(topic.id, [])
        path = links.topic_path(topic.slug)
        key = fingerprint(
            salt,
            "topic",
            path,
            [(m.paper_id, m.day, m.score, keys.get(m.paper_id)) for m in matches],
        )

        def produce(topic=topic, path=path) -> str:
            return render("site/topic.html.j2", **_topic_context(data, site, topic, path))

        jobs.append(PageJob(path, key, produce))
        latest = max((m.day for m in matches), default=None)
        summaries.append(
            {
                "name": topic.name,
                "url": path,
                "feed": f"topics/{topic.slug}.xml",
                "description": topic.description,
                "total": len({m.paper_id for m in matches}),
                "latest": views.day_label(latest) if latest else None,
            }
        )
    context = _base(site, "topics/index.html", "Topics", "topics") | {"topics": summaries}
    jobs.append(template_job(salt, "topics/index.html", "site/topics.html.j2", context))
    return jobs


def simple_jobs(data: SiteData, site: dict, salt: str, bundles: list[str]) -> list[PageJob]:
    topics = [{"id": t.id, "name": t.name} for t in data.topics]
    search = _base(site, "search.html", "Search", "search") | {"bundles": bundles}
    subscribe = _base(site, "subscribe.html", "Subscribe", "subscribe") | {"topics": topics}
    return [
        template_job(salt, "search.html", "site/search.html.j2", search),
        template_job(salt, "subscribe.html", "site/subscribe.html.j2", subscribe),
    ]


def stats_job(data: SiteData, site: dict, salt: str) -> PageJob:
    from digest.site import charts

    matched = {m.paper_id for ms in data.matches_by_topic.values() for m in ms}
    context = _base(site, "stats.html", "Statistics", "stats") | {
        "per_day": charts.papers_per_day(data),
        "per_topic": charts.matches_per_topic(data),
        "categories": charts.category_totals(data),
        "totals": {
            "papers": len(data.papers),
            "days": len(data.days),
            "authors": len(data.author_papers),
            "topics": len(data.topics),
            "matched": len(matched),
        },
    }
    return template_job(salt, "stats.html", "site/stats.html.j2", context)
