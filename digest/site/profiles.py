"""Paper pages and author pages: one per paper and per author, fingerprinted from compact keys.

There can be hundreds of thousands of these, so their fingerprints come from small tuples of
the inputs (not from a full context) and the context is only built when a page must be rendered.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date

from digest.mail import links
from digest.site import views
from digest.site.gather import PaperEntry, SiteData
from digest.site.jobs import PageJob, fingerprint, render
from digest.site.texmath import clip_tex, tex_html, tex_plain

Neighbours = dict[str, list[tuple[str, float]]]
COLLABORATORS_SHOWN = 24
_CC_RE = re.compile(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)")
WORKS_DETAILED = 60  # newest works with abstracts; older ones as a title list


def paper_key(data: SiteData, paper: PaperEntry) -> str:
    """A digest of everything a paper contributes to any page that shows it (one formatted
    string per paper: it runs for every paper on every build)."""
    matches = data.matches_by_paper.get(paper.id)
    text = (
        f"{paper.content_hash}|{paper.title!r}|{paper.version}|{paper.author_ids}|"
        f"{paper.author_names}|{paper.categories}|{paper.primary_category!r}|"
        f"{paper.announce_type!r}|{paper.first_announced}|{paper.first_announced in data.listings}|"
        f"{paper.listed}|{paper.versions}|{paper.published!r}|{paper.updated!r}|"
        f"{paper.license!r}|{paper.doi!r}|{paper.journal_ref!r}|{paper.comments!r}|"
        f"{paper.is_arxiv}|"
    )
    if matches:
        text += "".join(f"{m.topic_id}:{m.day}:{m.score:.4f};" for m in matches)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _similar_entries(data: SiteData, similar: Neighbours, paper_id: str) -> list[tuple[str, float]]:
    return [(pid, score) for pid, score in similar.get(paper_id, []) if pid in data.papers]


def paper_context(data: SiteData, site: dict, paper: PaperEntry, similar: Neighbours) -> dict:
    path = links.paper_path(paper.id)
    by_id = data.topics_by_id
    listed = paper.listed
    return {
        "site": site,
        "root": "../",
        "page_title": tex_plain(paper.title),
        "active": "",
        "page_path": path,
        "paper": {
            "id": paper.id,
            "title": tex_html(paper.title),
            "abstract": tex_html(paper.abstract),
            "authors": views.author_links(paper, None),
            "categories": paper.categories,
            "primary": paper.primary_category,
            "version": paper.version,
            "is_arxiv": paper.is_arxiv,
            "abs_url": links.arxiv_abs_url(paper.id) if paper.is_arxiv else None,
            "pdf_url": links.arxiv_pdf_url(paper.id) if paper.is_arxiv else None,
            "first_announced": views.day_label(paper.first_announced),
            "first_announced_url": links.day_path(paper.first_announced)
            if paper.first_announced in data.listings
            else None,
            "published": (paper.published or "")[:10],
            "updated": (paper.updated or "")[:10],
            "license": paper.license,
            "license_name": licence_name(paper.license),
            "doi": paper.doi,
            "journal_ref": paper.journal_ref,
            "comments": tex_html(paper.comments) if paper.comments else None,
        },
        "listed": [
            {
                "label": views.day_label(d),
                "url": links.day_path(d),
                "type": views.TYPE_LABELS.get(t, t),
            }
            for d, t in sorted(listed.items())
        ],
        "versions": [
            {"version": v, "seen": views.day_label(date.fromisoformat(seen)) if seen else ""}
            for v, seen in paper.versions
        ],
        "meta": paper_meta(paper, site),
        "matched": [
            {
                "name": by_id[m.topic_id].name,
                "url": links.topic_path(by_id[m.topic_id].slug),
                "day": views.day_label(m.day),
                "score": f"{m.score:.2f}",
            }
            for m in data.matches_by_paper.get(paper.id, [])
            if m.topic_id in by_id
        ],
        "similar": [
            views.row(data, pid) | {"score": f"{score:.2f}"}
            for pid, score in _similar_entries(data, similar, paper.id)
        ],
    }


def licence_name(url: str | None) -> str | None:
    """'http://creativecommons.org/licenses/by/4.0/' -> 'CC BY 4.0' (arXiv's licences by name)."""
    if not url:
        return None
    found = _CC_RE.search(url)
    if found:
        return f"CC {found.group(1).upper()} {found.group(2)}"
    if "publicdomain/zero" in url:
        return "CC0 1.0"
    if "arxiv.org/licenses/nonexclusive-distrib" in url:
        return "arXiv non-exclusive licence to distribute"
    return url


def paper_meta(paper: PaperEntry, site: dict) -> dict:
    """What <head> says about a paper: description, Open Graph, canonical link (with a
    [site].base_url) and Google Scholar's citation_* tags."""
    base = (site.get("base_url") or "").rstrip("/")
    day = paper.first_announced
    published = (paper.published or "")[:10] or (day.isoformat() if day else "")
    return {
        "title": tex_plain(paper.title),
        "description": tex_plain(clip_tex(paper.abstract, 300)),
        "canonical": f"{base}/{links.paper_path(paper.id)}" if base else None,
        "authors": paper.author_names,
        "date": published.replace("-", "/"),
        "arxiv_id": paper.id if paper.is_arxiv else None,
        "doi": paper.doi,
    }


def paper_jobs(
    data: SiteData,
    site: dict,
    salt: str,
    similar: Neighbours,
    keys: dict[str, str],
    paper_ids: Iterable[str] | None = None,
) -> list[PageJob]:
    """Jobs for the given papers' pages (every paper's by default)."""
    jobs = []
    seed = hashlib.blake2b(f"{salt}|paper".encode(), digest_size=16)
    chosen = data.papers.values() if paper_ids is None else [data.papers[p] for p in paper_ids]
    for paper in chosen:
        near = "".join(
            f"|{pid}:{score}:{keys[pid]}" for pid, score in similar.get(paper.id, ()) if pid in keys
        )
        digest = seed.copy()
        digest.update(f"{keys[paper.id]}{near}".encode())
        key = digest.hexdigest()

        def produce(paper: PaperEntry = paper) -> str:
            return render("site/paper.html.j2", **paper_context(data, site, paper, similar))

        jobs.append(PageJob(links.paper_path(paper.id), key, produce))
    return jobs


def _sort_day(paper: PaperEntry) -> date:
    return paper.first_announced or date.min


def author_context(data: SiteData, site: dict, author_id: int) -> dict:
    path = links.author_path(author_id)
    paper_ids = data.author_papers.get(author_id, [])
    papers = sorted(
        (data.papers[p] for p in paper_ids if p in data.papers),
        key=lambda p: (_sort_day(p), p.id),
        reverse=True,
    )
    shared: Counter[int] = Counter()
    topic_counts: Counter[int] = Counter()
    for paper in papers:
        shared.update(a for a in set(paper.author_ids) if a != author_id)
        topic_counts.update({m.topic_id for m in data.matches_by_paper.get(paper.id, [])})
    by_id = data.topics_by_id
    collaborators = sorted(
        shared.items(), key=lambda item: (-item[1], data.authors.get(item[0], ""))
    )
    name = data.authors.get(author_id, "Unknown author")
    return {
        "site": site,
        "root": "../",
        "page_title": name,
        "active": "",
        "page_path": path,
        "author": {"id": author_id, "name": name},
        "counts": {
            "papers": len(papers),
            "topics": len(topic_counts),
            "collaborators": len(shared),
        },
        "collaborators": [
            {"name": data.authors.get(a, "?"), "url": links.author_path(a), "shared": n}
            for a, n in collaborators[:COLLABORATORS_SHOWN]
        ],
        "more_collaborators": max(0, len(collaborators) - COLLABORATORS_SHOWN),
        "topics": [
            {"name": by_id[t].name, "url": links.topic_path(by_id[t].slug), "count": n}
            for t, n in sorted(topic_counts.items(), key=lambda i: (-i[1], i[0]))
            if t in by_id
        ],
        "more_works": [
            {
                "title": tex_html(p.title),
                "url": links.paper_path(p.id),
                "day": views.day_label(p.first_announced),
            }
            for p in papers[WORKS_DETAILED:]
        ],
        "works": [
            {
                "title": tex_html(p.title),
                "url": links.paper_path(p.id),
                "year": p.first_announced.year if p.first_announced else (p.published or "")[:4],
                "source": "arXiv" if p.is_arxiv else "other source",
                "category": p.primary_category or (p.categories[0] if p.categories else ""),
                "day": views.day_label(p.first_announced),
                "authors": views.author_links(p, 8, keep=author_id),
                "more_authors": max(0, len(p.author_names) - 8),
                "snippet": views.clip(p.abstract, 240),
            }
            for p in papers[:WORKS_DETAILED]
        ],
    }


def author_jobs(
    data: SiteData,
    site: dict,
    salt: str,
    keys: dict[str, str],
    author_ids: Iterable[int] | None = None,
) -> list[PageJob]:
    """Jobs for the given authors' pages (every author's by default)."""
    jobs = []
    chosen = (
        data.author_papers.items()
        if author_ids is None
        else [(a, data.author_papers[a]) for a in author_ids]
    )
    for author_id, paper_ids in chosen:
        works = [keys[pid] for pid in paper_ids if pid in keys]
        key = fingerprint(salt, "author", data.authors.get(author_id), works)

        def produce(author_id: int = author_id) -> str:
            return render("site/author.html.j2", **author_context(data, site, author_id))

        jobs.append(PageJob(links.author_path(author_id), key, produce))
    return jobs
