"""The stats page's charts: a date axis says which year it is, whatever years the data spans."""

from __future__ import annotations

import re
from datetime import date, timedelta
from itertools import pairwise

from digest.render import render
from digest.site import charts
from digest.site.gather import Match, PaperEntry, SiteData, TopicEntry


def _paper(paper_id: str, day: date) -> PaperEntry:
    return PaperEntry(
        id=paper_id,
        title=f"Paper {paper_id}",
        abstract="",
        author_ids=[],
        author_names=[],
        categories=["cs.LG"],
        primary_category="cs.LG",
        version=1,
        announce_type="new",
        first_announced=day,
        published=None,
        updated=None,
        license=None,
        doi=None,
        journal_ref=None,
        comments=None,
        is_arxiv=True,
        content_hash=paper_id,
    )


def _archive(days: list[date]) -> SiteData:
    """Two papers a day on `days`, all matching one topic."""
    papers = {
        f"{d:%y%m}.{d.day:05d}{n}": _paper(f"{d:%y%m}.{d.day:05d}{n}", d)
        for d in days
        for n in (1, 2)
    }
    listings = {
        d: [(pid, "new") for pid, p in papers.items() if p.first_announced == d] for d in days
    }
    topic = TopicEntry(id=1, name="Graphs", slug="graphs", description="", keywords=())
    matches = [
        Match(1, pid, p.first_announced, 0.5) for pid, p in papers.items() if p.first_announced
    ]
    return SiteData(
        days=days,
        papers=papers,
        listings=listings,
        authors={},
        author_papers={},
        topics=[topic],
        matches_by_paper={},
        matches_by_topic={1: matches},
    )


def _axis_labels(svg: str, base_y: float) -> list[str]:
    """The x-axis labels as read: 'Dec 29 2025' for a date with its year line under it."""
    found = re.findall(rf'<text class="axis"[^>]*y="{base_y + 18:g}"[^>]*>(.*?)</text>', svg)
    return [" ".join(re.sub(r"<[^>]+>", " ", label).split()) for label in found]


def test_each_chart_names_the_year_of_its_first_date_and_each_new_year():
    """Weekdays from mid-November 2025 to late February 2026: 'Dec 29' alone can't say which
    December; the first label and the first label of 2026 must carry their year."""
    start = date(2025, 11, 17)
    days = [start + timedelta(n) for n in range(100) if (start + timedelta(n)).weekday() < 5]
    data = _archive(days)
    for chart, template in (
        (charts.papers_per_day(data), "site/_bars.svg.j2"),
        (charts.matches_per_topic(data), "site/_lines.svg.j2"),
    ):
        labels = _axis_labels(render(template, chart=chart), chart["base_y"])
        assert len(labels) >= 5, labels
        years = [label.split()[2] if len(label.split()) == 3 else "" for label in labels]
        assert years[0] == "2025", labels
        first_of_2026 = next(
            i for i, label in enumerate(labels) if label.startswith(("Jan", "Feb"))
        )
        assert years[first_of_2026] == "2026", labels
        # once said, a year is not repeated: every other label is just month and day
        assert sum(1 for y in years if y) == 2, labels
        # the chart's description (read by screen readers) gives the whole span with years
        assert re.fullmatch(r"from 2025-11-\d\d to 2026-02-\d\d", chart["span"]), chart["span"]


def test_one_past_year_is_still_named():
    """Data all from one past year (a demo archive read a year later): the first label says it."""
    days = [date(2023, 3, 6), date(2023, 3, 7), date(2023, 3, 8)]
    labels = charts.date_labels(days, [100.0, 200.0, 300.0], 1)
    assert [(lab["text"], lab["year"]) for lab in labels] == [
        ("Mar 6", "2023"),
        ("Mar 7", ""),
        ("Mar 8", ""),
    ]


def test_a_label_at_the_right_edge_stays_inside_the_chart():
    """The last week of a line chart sits on the right edge: centred there, half its label
    ('Sep 21' and its year) was cut off by the chart's edge."""
    days = [date(2025, 8, 18), date(2026, 9, 21)]
    labels = charts.date_labels(days, [charts.PAD_LEFT, charts.WIDTH - 8], 1)
    assert [lab["anchor"] for lab in labels] == ["middle", "end"]
    assert [lab["year"] for lab in labels] == ["2025", "2026"]


def test_labels_never_crowd_each_other():
    """86 days in bars: every 14th day is labelled; the last, pulled in from the right edge,
    landed on the one before it on a phone ('Feb 2Mar 13')."""
    start = date(2025, 11, 17)
    days = [start + timedelta(n) for n in range(120) if (start + timedelta(n)).weekday() < 5]
    chart = charts.papers_per_day(_archive(days))
    centres = [lab["centre"] for lab in chart["labels"]]
    assert len(centres) >= 5
    assert all(b - a >= charts.LABEL_GAP for a, b in pairwise(centres)), centres
