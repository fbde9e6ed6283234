"""Atom feeds (feedgen): one for the whole digest and one per curated topic.

Entry times are the announcement day (midnight UTC), so an unchanged feed is byte-identical
between builds and feed readers don't see spurious updates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from feedgen.feed import FeedGenerator

from digest.mail import links
from digest.site import views
from digest.site.gather import SiteData
from digest.site.jobs import PageJob, depth_root, fingerprint
from digest.site.texmath import tex_plain
from digest.site.trending_view import top_papers
from digest.textclean import strip_invisible

FEED_DAYS = 7
FEED_PER_DAY = 10
TOPIC_FEED_ENTRIES = 50
# Characters XML 1.0 cannot carry (lxml refuses them and the whole build would stop): C0
# controls other than tab/newline/return, lone surrogates, U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Text an Atom document can hold: one paper with a stray control character in its title
    (a JSON source can carry one) must not cost the whole site its feeds. Bidi overrides and
    zero-width spaces go too, as on every page (render.visible)."""
    return _NOT_XML.sub("", strip_invisible(text))


def _absolute(site: dict, path: str, feed_path: str) -> str:
    """An absolute URL with a base_url; else relative to the feed, which is what a feed reader
    resolves it against (topics/x.xml links to ../papers/...)."""
    base = site.get("base_url") or ""
    return links.site_url(base, path) if base else depth_root(feed_path) + path


def _entry(
    data: SiteData, site: dict, paper_id: str, day, topics: list[str], feed_path: str
) -> dict:
    paper = data.papers[paper_id]
    page = _absolute(site, links.paper_path(paper_id), feed_path)
    return {
        "id": links.arxiv_abs_url(paper_id) if paper.is_arxiv else f"urn:digest:paper:{paper_id}",
        "title": _xml_text(tex_plain(paper.title)),
        "link": page
        if page.startswith("http") or not paper.is_arxiv
        else links.arxiv_abs_url(paper_id),
        "summary": _xml_text(tex_plain(paper.abstract)),
        "authors": [n for n in map(_xml_text, paper.author_names[:20]) if n.strip()],
        "categories": [t for t in map(_xml_text, topics or paper.categories[:4]) if t.strip()],
        "day": day.isoformat(),
    }


def render_feed(site: dict, path: str, title: str, subtitle: str, entries: list[dict]) -> bytes:
    generator = FeedGenerator()
    generator.id(_absolute(site, path, path) if site.get("base_url") else f"urn:digest:feed:{path}")
    generator.title(_xml_text(title))
    generator.subtitle(_xml_text(subtitle or title))
    generator.link(href=_absolute(site, path, path), rel="self")
    generator.link(href=_absolute(site, "index.html", path), rel="alternate")
    generator.language("en")
    latest = max((e["day"] for e in entries), default="1970-01-01")
    generator.updated(datetime.fromisoformat(latest).replace(tzinfo=UTC))
    for item in reversed(entries):  # feedgen prepends: keep newest first in the file
        entry = generator.add_entry()
        entry.id(item["id"])
        entry.title(item["title"])
        entry.link(href=item["link"])
        entry.summary(item["summary"])
        for name in item["authors"]:
            entry.author(name=name)
        for term in item["categories"]:
            entry.category(term=term)
        stamp = datetime.fromisoformat(item["day"]).replace(tzinfo=UTC)
        entry.updated(stamp)
        entry.published(stamp)
    return generator.atom_str(pretty=True)


def _feed_job(
    salt: str, site: dict, path: str, title: str, subtitle: str, entries: list[dict]
) -> PageJob:
    key = fingerprint(salt, "feed", path, title, subtitle, entries)
    return PageJob(path, key, lambda: render_feed(site, path, title, subtitle, entries))


def feed_jobs(data: SiteData, site: dict, salt: str, trend) -> list[PageJob]:
    by_id = data.topics_by_id
    entries: list[dict] = []
    for day in reversed(data.days[-FEED_DAYS:]):
        chosen = [r.paper_id for r in top_papers(trend, data, "day", day, FEED_PER_DAY)]
        for topic_id, matches in data.matches_by_topic.items():
            chosen += [m.paper_id for m in matches if m.day == day and topic_id in by_id]
        for paper_id in dict.fromkeys(chosen):
            topics = [t["name"] for t in views.topic_chips(data, paper_id, day)]
            entries.append(_entry(data, site, paper_id, day, topics, "feed.xml"))
    jobs = [
        _feed_job(
            salt,
            site,
            "feed.xml",
            site["title"],
            "Trending and topic-matched arXiv papers, per announcement day",
            entries,
        )
    ]
    for topic in data.topics:
        matches = sorted(
            data.matches_by_topic.get(topic.id, []), key=lambda m: (m.day, m.score), reverse=True
        )[:TOPIC_FEED_ENTRIES]
        path = f"topics/{topic.slug}.xml"
        topic_entries = [_entry(data, site, m.paper_id, m.day, [topic.name], path) for m in matches]
        jobs.append(
            _feed_job(
                salt,
                site,
                path,
                f"{site['title']}: {topic.name}",
                topic.description or f"Papers matching {topic.name}",
                topic_entries,
            )
        )
    return jobs
