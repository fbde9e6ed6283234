"""Chart geometry for the stats page, computed at build time (templates draw it as SVG).

Pure functions: counts in, rectangles/polylines out. No JavaScript, no CDN.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

from digest.site.gather import SiteData
from digest.site.trending_view import week_start

# The bottom pad holds two label lines (date, then year), room for the phone's larger labels.
WIDTH, HEIGHT = 720, 268
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 56, 10
MAX_SERIES = 6


def _nice_max(value: int) -> int:
    """The axis top: a round number that four gridlines divide into whole steps."""
    for step in (4, 8, 12, 20, 40, 60, 80, 100, 200, 400, 600, 800, 1000, 2000, 4000, 8000):
        if value <= step:
            return step
    return -(-value // 4000) * 4000


def _ticks(top: int, plot_h: float) -> list[dict]:
    return [
        {"y": round(PAD_TOP + plot_h - plot_h * i / 4, 1), "label": top * i // 4} for i in range(5)
    ]


LABEL_GAP = 96  # chart units between label centres: a phone draws them 24 units high


def date_labels(dates: list[date], xs: list[float], every: int) -> list[dict]:
    """Labels for every `every`-th date ('Aug 20'). The first label, and the first of each new
    year, carry the year on a second line: without it a reader can't tell which year. A label
    at the right edge ends there (centred, half of it was cut off); one that would crowd the
    label before it is left out (its year, if new, goes to the next one)."""
    labels: list[dict] = []
    shown_year = None
    for i, (day, x) in enumerate(zip(dates, xs, strict=True)):
        if i % max(1, every):
            continue
        anchor = "end" if x > WIDTH - 40 else "middle"
        centre = x - 40 if anchor == "end" else x
        if labels and centre - labels[-1]["centre"] < LABEL_GAP:
            continue
        year = "" if day.year == shown_year else str(day.year)
        labels.append(
            {
                "x": round(x, 1),
                "text": f"{day:%b} {day.day}",
                "year": year,
                "anchor": anchor,
                "centre": centre,
            }
        )
        shown_year = day.year
    return labels


def span_text(dates: list[date]) -> str:
    """'from 2025-08-04 to 2026-01-20', the dates a chart covers, for its description."""
    return f"from {dates[0].isoformat()} to {dates[-1].isoformat()}" if dates else "no dates"


def papers_per_day(data: SiteData, days: int = 90) -> dict:
    """Stacked bars: papers listed per announcement day, by primary category (top few + other)."""
    shown = data.days[-days:]
    per_day: dict[date, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for day in shown:
        counter: Counter[str] = Counter()
        for paper_id, _ in data.listings.get(day, []):
            paper = data.papers.get(paper_id)
            if paper is not None:
                counter[paper.primary_category or (paper.categories or ["other"])[0]] += 1
        per_day[day] = counter
        totals.update(counter)
    series = [c for c, _ in totals.most_common(MAX_SERIES)]
    legend = series + (["other"] if len(totals) > len(series) else [])
    top = _nice_max(max((sum(c.values()) for c in per_day.values()), default=1))
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(1, len(shown))
    bars = []
    for i, day in enumerate(shown):
        y = float(PAD_TOP + plot_h)
        for s, name in enumerate(legend):
            count = (
                per_day[day][name]
                if name != "other"
                else sum(n for c, n in per_day[day].items() if c not in series)
            )
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            width = min(max(slot * 0.8, 0.5), 36.0)
            bars.append(
                {
                    "x": round(PAD_LEFT + i * slot + (slot - width) / 2, 1),
                    "y": round(y, 1),
                    "w": round(width, 1),
                    "h": round(h, 1),
                    "series": s,
                    "label": f"{day.isoformat()} · {name}: {count}",
                }
            )
    xs = [PAD_LEFT + i * slot + slot / 2 for i in range(len(shown))]
    labels = date_labels(shown, xs, len(shown) // 6)
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "ticks": _ticks(top, plot_h),
        "labels": labels,
        "legend": [{"name": n, "series": i} for i, n in enumerate(legend)],
        "base_y": PAD_TOP + plot_h,
        "left": PAD_LEFT,
        "right": WIDTH - 8,
        "days": len(shown),
        "span": span_text(shown),
        "empty": not shown,
    }


def calendar_weeks(days: list[date]) -> list[date]:
    """Every ISO week's Monday from the first announcement day's week to the last one's."""
    if not days:
        return []
    first, last = week_start(days[0]), week_start(days[-1])
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def _segments(points: list[dict | None]) -> list[list[dict]]:
    """Runs of consecutive points: a week without any announcement day breaks the line."""
    runs: list[list[dict]] = [[]]
    for point in points:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [run for run in runs if run]


def matches_per_topic(data: SiteData) -> dict:
    """One line per curated topic: matched papers per calendar week. Weeks the archive has
    no announcement day for are gaps in the line (not a zero, not a line across them)."""
    weeks = calendar_weeks(data.days)
    listed = {week_start(d) for d in data.days}
    counts: dict[int, Counter[date]] = defaultdict(Counter)
    for topic_id, matches in data.matches_by_topic.items():
        for match in matches:
            counts[topic_id][week_start(match.day)] += 1
    topics = sorted(
        (t for t in data.topics if counts.get(t.id)), key=lambda t: -sum(counts[t.id].values())
    )[:MAX_SERIES]
    top = _nice_max(max((n for t in topics for n in counts[t.id].values()), default=1))
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(1, len(weeks) - 1)
    xs = [PAD_LEFT + (i * step if len(weeks) > 1 else plot_w / 2) for i in range(len(weeks))]
    lines = []
    for s, topic in enumerate(topics):
        points: list[dict | None] = []
        for x, monday in zip(xs, weeks, strict=True):
            if monday not in listed:
                points.append(None)
                continue
            n = counts[topic.id][monday]
            points.append(
                {
                    "x": round(x, 1),
                    "y": round(PAD_TOP + plot_h - plot_h * n / top, 1),
                    "label": f"{topic.name}, week of {monday.isoformat()}: {n}",
                }
            )
        runs = _segments(points)
        lines.append(
            {
                "name": topic.name,
                "series": s,
                "points": [p for run in runs for p in run],
                "paths": [" ".join(f"{p['x']},{p['y']}" for p in run) for run in runs],
            }
        )
    labels = date_labels(weeks, xs, len(weeks) // 6)
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "lines": lines,
        "ticks": _ticks(top, plot_h),
        "labels": labels,
        "base_y": PAD_TOP + plot_h,
        "left": PAD_LEFT,
        "right": WIDTH - 8,
        "legend": [{"name": t.name, "series": i} for i, t in enumerate(topics)],
        "span": span_text(weeks),
        "gaps": len(weeks) - len(listed),
        "empty": not lines,
    }


def category_totals(data: SiteData) -> list[dict]:
    totals = Counter(
        p.primary_category or (p.categories or ["other"])[0] for p in data.papers.values()
    )
    return [{"name": c, "count": n} for c, n in totals.most_common(12)]
