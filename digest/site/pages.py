"""Listing pages: home, days, weeks, months, the archive calendar, topics, search, subscribe.

Each function returns PageJobs; contexts are plain dicts (see views.py) so they can be hashed.
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from datetime import date

from digest.mail import links
from digest.site import views
from digest.site.gather import SiteData
from digest.site.jobs import PageJob, depth_root, fingerprint, render, template_job
from digest.site.trending_view import Ranked, most_matched, week_start

DAY_TRENDING = 50  # readers' signals mark at most this many papers of a day as trending
PERIOD_TRENDING = 30
TOPIC_CARD_DAYS = 10
TOPIC_ROW_DAYS = 60  # older days are listed as links with counts (a topic page stays small)


def _base(site: dict, path: str, title: str, active: str) -> dict:
    return {
        "site": site,
        "root": depth_root(path),
        "page_title": title,
        "active": active,
        "page_path": path,
    }


KIND_ORDER = {"new": 0, "cross": 1, "replace": 2, "replace-cross": 2}


def day_papers(data: SiteData, day: date, trending: list[Ranked]) -> list[tuple[str, str]]:
    """(paper id, announce type) of the day, each paper once: trending first (readers'
    signals), then papers that matched a curated topic (most topics, best score), then the
    rest in listing order (new, cross-lists, replacements)."""
    listed: dict[str, str] = {}
    for paper_id, kind in data.listings.get(day, []):
        if paper_id in data.papers and paper_id not in listed:
            listed[paper_id] = kind
    first = [r.paper_id for r in trending if r.paper_id in listed]
    summary = {
        pid: (len({m.topic_id for m in ms}), max(m.score for m in ms))
        for pid in listed
        if (ms := [m for m in data.matches_by_paper.get(pid, ()) if m.day == day])
    }
    rest = [pid for pid in listed if pid not in set(first)]
    order = {pid: i for i, pid in enumerate(rest)}
    rest.sort(
        key=lambda pid: (
            -summary.get(pid, (0, 0.0))[0],
            -summary.get(pid, (0, 0.0))[1],
            KIND_ORDER.get(listed[pid], 3),
            order[pid],
        )
    )
    return [(pid, listed[pid]) for pid in first + rest]


def _day_filters(data: SiteData, items: list[dict]) -> list[dict]:
    """The no-JS filter above a day's list: all, trending, each kind, each matched topic."""
    trending = sum(1 for item in items if item["trending"])
    filters = [{"key": "all", "label": "All", "count": len(items), "topic": False}]
    if trending:
        filters.append({"key": "tr", "label": "▲ Trending", "count": trending, "topic": False})
    kinds = Counter(item["kind"] for item in items)
    for kind, label in (("new", "New"), ("cross", "Cross-list"), ("replaced", "Replaced")):
        if kinds.get(kind):
            filters.append(
                {"key": f"k-{kind}", "label": label, "count": kinds[kind], "topic": False}
            )
    topics = Counter(t["id"] for item in items for t in item["topics"])
    for topic in data.topics:
        if topics.get(topic.id):
            filters.append(
                {
                    "key": f"t{topic.id}",
                    "label": topic.name,
                    "count": topics[topic.id],
                    "topic": True,
                }
            )
    return filters


def day_context(
    data: SiteData, site: dict, day: date, trending: list[Ranked], path: str, *, home: bool
) -> dict:
    listed = data.listings.get(day, [])
    counts = Counter(t for _, t in listed)
    signals = {r.paper_id: r for r in trending}
    items = [
        views.day_item(data, pid, kind, day, signals.get(pid))
        for pid, kind in day_papers(data, day, trending)
    ]
    return _base(
        site,
        path,
        site["title"] if home else f"Papers of {views.day_label(day)}",
        "home" if home else "archive",
    ) | {
        "home": home,
        "day_iso": day.isoformat(),
        "day_label": views.day_label(day),
        "day_url": links.day_path(day),
        "nav": views.nav_for_day(data, day),
        "counts": {
            "total": len(listed),
            "new": counts.get("new", 0),
            "cross": counts.get("cross", 0),
            "replace": counts.get("replace", 0) + counts.get("replace-cross", 0),
        },
        "trending_count": sum(1 for item in items if item["trending"]),
        "filters": _day_filters(data, items),
        "papers": items,
        "topics": [{"id": t.id, "name": t.name} for t in data.topics],
    }


def _day_job(
    data: SiteData,
    site: dict,
    salt: str,
    day: date,
    trending: list[Ranked],
    path: str,
    keys: dict[str, str],
    *,
    home: bool,
) -> PageJob:
    """Fingerprinted from compact inputs (listing, matches, neighbours' days); the context is
    only built when the page must be rendered."""
    listed = [(pid, kind, keys.get(pid)) for pid, kind in data.listings.get(day, [])]
    matched = [
        (t.id, m.paper_id, m.score)
        for t in data.topics
        for m in data.matches_by_topic_day.get((t.id, day), [])
    ]
    key = fingerprint(
        salt, "day", path, home, day, views.nav_for_day(data, day), listed, matched, trending
    )
    template = "site/home.html.j2" if home else "site/day.html.j2"
    return PageJob(
        path,
        key,
        lambda: render(template, **day_context(data, site, day, trending, path, home=home)),
    )


def day_jobs(
    db, data: SiteData, site: dict, salt: str, trend, keys: dict[str, str]
) -> list[PageJob]:
    jobs = [
        _day_job(
            data,
            site,
            salt,
            day,
            trend("day", day, DAY_TRENDING),
            links.day_path(day),
            keys,
            home=False,
        )
        for day in data.days
    ]
    latest = data.latest_day
    if latest is not None:
        jobs.append(
            _day_job(
                data,
                site,
                salt,
                latest,
                trend("day", latest, DAY_TRENDING),
                "index.html",
                keys,
                home=True,
            )
        )
        return jobs
    context = _base(site, "index.html", site["title"], "home") | {
        "home": True,
        "empty": True,
        "topics": [],
    }
    return [template_job(salt, "index.html", "site/home.html.j2", context)]


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
