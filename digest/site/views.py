"""Plain dicts the templates show (cards, author lists, labels), built from gathered data.

Everything here is pure and returns JSON-like values, so a page's context can be hashed.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from markupsafe import Markup

from digest.mail import links
from digest.site.gather import PaperEntry, SiteData
from digest.site.jobs import depth_root
from digest.site.texmath import clip_tex, tex_html

SNIPPET_CHARS = 320
CARD_AUTHORS = 6
TYPE_LABELS = {
    "new": "New",
    "cross": "Cross-list",
    "replace": "Replaced",
    "replace-cross": "Replaced cross-list",
}


def page_base(site: dict, path: str, title: str, active: str) -> dict:
    """What every page's base template needs."""
    return {
        "site": site,
        "root": depth_root(path),
        "page_title": title,
        "active": active,
        "page_path": path,
    }


@lru_cache(maxsize=4096)
def day_label(day: date | None) -> str:
    return f"{day:%b} {day.day}, {day.year}" if day else "undated"


def days_range(days: list[date]) -> str:
    """'Aug 18, 2025 – Aug 22, 2025', or one date when the period had one announcement day."""
    first, last = day_label(days[0]), day_label(days[-1])
    return first if first == last else f"{first} – {last}"


def clip(text: str, limit: int = SNIPPET_CHARS) -> Markup:
    """The start of an abstract as HTML: cut at a word (never inside a formula) with '…',
    its maths as MathML and its TeX styling as typography."""
    return tex_html(clip_tex(text, limit))


def author_links(
    paper: PaperEntry, limit: int | None = CARD_AUTHORS, keep: int | None = None
) -> list[dict]:
    """The first `limit` authors as links; `keep` (the author whose page this is) is always
    among them, last in place of the limit-th, never hidden in "+N more"."""
    people = list(zip(paper.author_ids, paper.author_names, strict=False))
    if not people:
        return [{"name": name, "url": None} for name in paper.author_names[:limit]]
    shown = people if limit is None else people[:limit]
    if keep is not None and limit and all(aid != keep for aid, _ in shown):
        kept = [person for person in people if person[0] == keep]
        shown = shown[: limit - 1] + kept[:1] if kept else shown
    return [{"name": name, "url": links.author_path(aid)} for aid, name in shown]


def topic_chips(data: SiteData, paper_id: str, day: date | None = None) -> list[dict]:
    by_id = data.topics_by_id
    seen: dict[int, dict] = {}
    for match in data.matches_by_paper.get(paper_id, []):
        if (day is None or match.day == day) and match.topic_id in by_id:
            topic = by_id[match.topic_id]
            seen.setdefault(topic.id, {"name": topic.name, "url": links.topic_path(topic.slug)})
    return list(seen.values())


def card(data: SiteData, paper_id: str, *, day: date | None = None, signals=None) -> dict:
    """What a paper card shows: title, authors, categories, snippet, why (topics), links."""
    paper = data.papers[paper_id]
    shown_day = day or paper.first_announced
    return {
        "id": paper.id,
        "url": links.paper_path(paper.id),
        "title": tex_html(paper.title),
        "authors": author_links(paper),
        "more_authors": max(0, len(paper.author_names) - CARD_AUTHORS),
        "n_authors": len(paper.author_names),
        "categories": paper.categories[:4],
        "snippet": clip(paper.abstract),
        "day": day_label(shown_day),
        "topics": topic_chips(data, paper_id, day),
        "likes": getattr(signals, "likes", 0),
        "clicks": getattr(signals, "clicks", 0),
        "upvotes": getattr(signals, "upvotes", 0),
        "abs_url": links.arxiv_abs_url(paper.id) if paper.is_arxiv else None,
        "pdf_url": links.arxiv_pdf_url(paper.id) if paper.is_arxiv else None,
    }


DAY_SNIPPET_CHARS = 220
DAY_AUTHORS = 4
KINDS = {"new": "new", "cross": "cross", "replace": "replaced", "replace-cross": "replaced"}


def day_item(data: SiteData, paper_id: str, announce_type: str, day: date, signals=None) -> dict:
    """A paper in its day's list, shown once: kind, topics matched that day and readers'
    signals as badges; `classes` are the filter keys it answers to (k-new, t12, tr)."""
    paper = data.papers[paper_id]
    kind = KINDS.get(announce_type, "")
    topics = [
        {"id": t.id, "name": t.name, "url": links.topic_path(t.slug)}
        for t in (data.topics_by_id[i] for i in _topic_ids(data, paper_id, day))
    ]
    likes = getattr(signals, "likes", 0)
    clicks = getattr(signals, "clicks", 0)
    upvotes = getattr(signals, "upvotes", 0)
    trending = bool(likes or clicks or upvotes)
    keys = [f"k-{kind}"] if kind else []
    keys += [f"t{t['id']}" for t in topics] + (["tr"] if trending else [])
    return {
        "id": paper.id,
        "url": links.paper_path(paper.id),
        "title": tex_html(paper.title),
        "authors": author_links(paper, DAY_AUTHORS),
        "more_authors": max(0, len(paper.author_names) - DAY_AUTHORS),
        "categories": paper.categories[:3],
        "snippet": clip(paper.abstract, DAY_SNIPPET_CHARS),
        "kind": kind,
        "kind_label": TYPE_LABELS.get(announce_type, announce_type),
        "topics": topics,
        "likes": likes,
        "clicks": clicks,
        "upvotes": upvotes,
        "trending": trending,
        "classes": " ".join(keys),
        "abs_url": links.arxiv_abs_url(paper.id) if paper.is_arxiv else None,
        "pdf_url": links.arxiv_pdf_url(paper.id) if paper.is_arxiv else None,
    }


def _topic_ids(data: SiteData, paper_id: str, day: date) -> list[int]:
    by_id = data.topics_by_id
    found = {m.topic_id for m in data.matches_by_paper.get(paper_id, ()) if m.day == day}
    return [t.id for t in data.topics if t.id in found and t.id in by_id]


def row(data: SiteData, paper_id: str, announce_type: str | None = None) -> dict:
    """A compact list line: title, first authors, primary category."""
    paper = data.papers[paper_id]
    return {
        "id": paper.id,
        "url": links.paper_path(paper.id),
        "title": tex_html(paper.title),
        "authors": author_links(paper, 3),
        "more_authors": max(0, len(paper.author_names) - 3),
        "category": paper.primary_category or (paper.categories[0] if paper.categories else ""),
        "type": TYPE_LABELS.get(announce_type or "", announce_type or ""),
        "day": day_label(paper.first_announced),
    }


def nav_for_day(data: SiteData, day: date) -> dict:
    """Previous/next announcement day, and the week and month this day belongs to."""
    index = data.days.index(day)
    year, week, _ = day.isocalendar()
    prev_day = data.days[index - 1] if index > 0 else None
    next_day = data.days[index + 1] if index + 1 < len(data.days) else None
    return {
        "prev": {"url": links.day_path(prev_day), "label": day_label(prev_day)}
        if prev_day
        else None,
        "next": {"url": links.day_path(next_day), "label": day_label(next_day)}
        if next_day
        else None,
        "week": {"url": links.week_path(year, week), "label": f"Week {week}, {year}"},
        "month": {"url": links.month_path(day.year, day.month), "label": f"{day:%B %Y}"},
    }
