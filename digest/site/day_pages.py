"""Day pages and the home page: each paper of a day once, with badges and a no-JS filter.

The home page is the latest announcement day (SiteData.latest_day) shown like its day page.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from digest.mail import links
from digest.site import views
from digest.site.gather import SiteData
from digest.site.jobs import PageJob, fingerprint, render, template_job
from digest.site.trending_view import Ranked
from digest.site.views import page_base as _base

DAY_TRENDING = 50  # readers' signals mark at most this many papers of a day as trending


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
