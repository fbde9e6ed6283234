"""The digest email: a pure view of one subscriber's plan, rendered to HTML + text.

`build_digest_email` never touches the database or the network: it takes the plan and the
papers and returns a `RenderedEmail`; `to_mime` wraps that into a multipart/alternative
message with the headers mailbox providers expect (RFC 8058 one-click unsubscribe, List-Id).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import css_inline
from markupsafe import Markup

from digest.config import Config
from digest.errors import DigestError
from digest.mail import links
from digest.mail.card_extras import card_extras
from digest.mail.mime import (
    RenderedEmail,
    _one_line,
    build_transactional_email,
    encoded_size,
    list_headers,
    message_bytes,
    to_mime,
)
from digest.mail.text import (
    TEXT_WIDTH,
    abstract_snippet,
    clip_words,
    hang,
    issue_long,
    issue_short,
    join_names,
    plain_tex,
    reader_why,
    shorten_authors,
    wrap_text,
)
from digest.models import Badges, DigestPlan, Paper, Pick, Subscriber
from digest.paths import TEMPLATES_DIR
from digest.render import count_of, render

__all__ = [  # the MIME half lives in digest.mail.mime; callers use digest.mail.compose.*
    "RenderedEmail",
    "build_digest_email",
    "digest_context",
    "to_mime",
    "message_bytes",
    "list_headers",
    "build_transactional_email",
    "abstract_snippet",
    "shorten_authors",
]

CardInputs = tuple[Mapping[str, tuple[str, str]], Mapping[str, Badges]]  # (leads, badges)
HTML_BUDGET_BYTES = 100_000  # Gmail clips messages whose HTML passes ~102 KB (as sent, encoded)
TRENDING_MAX = 3
OTHER_SECTION = "More for you"  # picks with no topic (Pick.topic == "")
# Keeps the body text out of the inbox preview after the preheader (zero-width filler).
_PREHEADER_PADDING = Markup("&#847;&zwnj;&nbsp;" * 40)


# ---------------------------------------------------------------- the view model
def _urls(config: Config) -> tuple[str, str]:
    """(public_url for personal links, archive base for site links)."""
    public = config.service.public_url
    return public, (config.site.base_url or public)


def _card(
    paper: Paper,
    pick: Pick | None,
    number: int,
    token: str,
    public: str,
    archive: str,
    extras: CardInputs = ({}, {}),
) -> dict[str, Any]:
    more_url = links.site_url(archive, links.paper_path(paper.id))
    categories = list(paper.categories)
    if paper.primary_category and paper.primary_category in categories:
        categories.remove(paper.primary_category)
        categories.insert(0, paper.primary_category)
    abs_url = links.arxiv_abs_url(paper.id) if paper.is_arxiv else None
    snippet = abstract_snippet(plain_tex(paper.abstract))
    title = plain_tex(_one_line(paper.title)) or paper.id
    authors = shorten_authors(paper.authors)
    why = reader_why(pick.why, pick.topic) if pick else ""
    meta = " · ".join([authors, " ".join(categories[:4])]) if categories else authors
    return {
        "number": number,
        "id": paper.id,
        "title": title,
        "title_url": abs_url or more_url,
        "authors": authors,
        "categories": categories[:4],
        "snippet": snippet,
        "why": why[:1].upper() + why[1:],
        # the plain-text part, wrapped: numbered title, meta line, snippet, why-line
        "title_text": hang(title, f"{number}. " if number else "- ", "   " if number else "  "),
        "meta_text": hang(meta, "   ", "   ") if number else hang(authors, "  ", "  "),
        "snippet_wrapped": wrap_text(snippet),
        "why_text": hang(why, "   Why: ", "        ") if why else "",
        "abs_url": abs_url,
        "pdf_url": links.arxiv_pdf_url(paper.id) if paper.is_arxiv else None,
        "more_url": more_url,
        "like_url": links.feedback_url(public, token, paper.id, "like"),
        "dislike_url": links.feedback_url(public, token, paper.id, "dislike"),
        **card_extras(paper.id, *extras, numbered=bool(number)),
    }


def _sections(
    plan: DigestPlan,
    papers: dict[str, Paper],
    token: str,
    public: str,
    archive: str,
    extras: CardInputs = ({}, {}),
) -> list[dict[str, Any]]:
    """Picks grouped by topic; sections in the order their best pick ranks."""
    grouped: dict[str, list[tuple[Pick, Paper]]] = {}
    for pick in plan.picks:
        paper = papers.get(pick.paper_id)
        if paper is None:  # a pick whose paper vanished is dropped, not an error
            continue
        grouped.setdefault(pick.topic or OTHER_SECTION, []).append((pick, paper))
    sections: list[dict[str, Any]] = []
    number = 0
    for name, pairs in grouped.items():
        cards = []
        for pick, paper in pairs:
            number += 1
            cards.append(_card(paper, pick, number, token, public, archive, extras))
        sections.append({"name": name, "cards": cards})
    return sections


def _preheader(count: int, topics: Sequence[str], titles: Sequence[str], day: date) -> str:
    if not count:
        return f"No new papers matched your topics on {issue_short(day)}."
    noun = "paper" if count == 1 else "papers"
    named = [name for name in topics if name != OTHER_SECTION]
    where = f" in {join_names(named[:3])}" if named else ""
    return clip_words(f"{count} new {noun}{where}: " + " · ".join(titles[:3]), 150)


def _headline_and_lede(
    count: int, candidates: int, named_sections: Sequence[str], weekly: bool
) -> tuple[str, str]:
    """'3 new papers for you' / 'Picked from 86 new listings across X and Y.', in the right
    number ('1 new listing') and period ('this week' for weekly readers)."""
    listings = count_of(candidates, "new listing")
    if count:
        headline = f"{count_of(count, 'new paper')} {'this week' if weekly else 'for you'}"
        topics_part = f" across {join_names(named_sections)}" if named_sections else ""
        return headline, f"Picked from {listings}{topics_part}".rstrip(".…") + "."
    headline = f"Nothing matched {'this week' if weekly else 'today'}"
    if not candidates:
        return headline, f"arXiv listed no new papers {'this week' if weekly else 'today'}."
    if candidates == 1:
        return headline, "The one new listing did not match your topics closely enough."
    which = "this week's" if weekly else "today's"
    return headline, f"None of {which} {listings} matched your topics closely enough."


def digest_context(
    config: Config,
    subscriber: Subscriber,
    plan: DigestPlan,
    papers: dict[str, Paper],
    trending: Iterable[Paper] = (),
    topic_names: Sequence[str] = (),
    extras: CardInputs = ({}, {}),
) -> dict[str, Any]:
    """Everything the two templates show, as plain values (no markup, no I/O). `extras` are
    the issue's lead lines of this reader and the papers' badges (`digest.mail.card_extras`)."""
    token = subscriber.manage_token
    if not token:
        raise DigestError(
            f"subscriber {subscriber.id} has no manage token; cannot build personal links"
        )
    public, archive = _urls(config)
    sections = _sections(plan, papers, token, public, archive, extras)
    cards = [card for section in sections for card in section["cards"]]
    shown = {card["id"] for card in cards}
    trending_cards: list[dict[str, Any]] = []
    for paper in trending:
        if paper.id in shown or len(trending_cards) >= TRENDING_MAX:
            continue
        shown.add(paper.id)
        trending_cards.append(_card(paper, None, 0, token, public, archive, ({}, extras[1])))
    count = len(cards)
    day = plan.issue_date
    section_names = [str(s["name"]) for s in sections]
    named_sections = [n for n in section_names if n != OTHER_SECTION]
    weekly = subscriber.frequency == "weekly"
    headline, lede = _headline_and_lede(count, plan.candidates, named_sections, weekly)
    subscribed_to = list(topic_names) or named_sections
    site_title = config.site.title
    host = urlsplit(archive).netloc or archive
    what = f"{join_names(subscribed_to)} on " if subscribed_to else ""
    why_you_get_this = f"You get this because you subscribed to {what}{site_title} ({host})."
    return {
        "subject": f"{headline} · {issue_short(day)}",
        "preheader": _preheader(count, section_names, [str(c["title"]) for c in cards], day),
        "preheader_padding": _PREHEADER_PADDING,
        "headline": headline,
        "lede": lede,
        "issue_label": issue_long(day),
        "site_title": site_title,
        "sections": sections,
        "trending": trending_cards,
        "truncated": 0,
        "period": "this week" if weekly else "today",  # of an empty issue's archive link
        "archive_url": links.site_url(archive, "index.html"),
        "day_url": links.site_url(archive, links.day_path(day)),
        "preferences_url": links.preferences_url(public, token),
        "unsubscribe_url": links.unsubscribe_url(public, token),
        "why_you_get_this": why_you_get_this,
        "why_you_get_this_text": wrap_text(why_you_get_this, TEXT_WIDTH, indent=""),
        "lede_text": wrap_text(lede, TEXT_WIDTH, indent=""),
        "postal_address": _one_line(config.mail.postal_address),
        "paper_ids": tuple(str(c["id"]) for c in cards),
    }


# ---------------------------------------------------------------- rendering
def _minify_css(css: str) -> str:
    """Comments and layout whitespace out: the kept @media block ships in every email."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    return re.sub(r"\s*([{};:,>])\s*", r"\1", css).replace(";}", "}").strip()


@lru_cache(maxsize=1)
def _inliner() -> css_inline.CSSInliner:
    """Built once per process: parsing the stylesheet is the expensive part of inlining."""
    stylesheet = _minify_css((TEMPLATES_DIR / "email" / "style.css").read_text(encoding="utf-8"))
    return css_inline.CSSInliner(
        keep_at_rules=True,  # @media (dark mode, narrow screens) stays in a <style> tag
        load_remote_stylesheets=False,  # rendering never touches the network
        minify_css=True,
        extra_css=stylesheet,
    )


def _render_html(context: dict[str, Any]) -> str:
    return _inliner().inline(render("email/digest.html.j2", **context))


def _fit_html(context: dict[str, Any], budget: int) -> tuple[str, int]:
    """Render the HTML part; drop trailing cards (linking to the archive) until its encoded
    size on the wire fits (the UTF-8 size let accented abstracts reach 133 KB as sent)."""
    html = _render_html(context)
    size = encoded_size(html)
    sections = context["sections"]
    total = sum(len(s["cards"]) for s in sections)
    keep = total
    while size > budget and keep > 1:
        keep = max(1, min(keep - 1, int(keep * budget / size * 0.97)))
        trimmed, left = [], keep
        for section in sections:
            if left <= 0:
                break
            trimmed.append({"name": section["name"], "cards": section["cards"][:left]})
            left -= len(section["cards"])
        html = _render_html({**context, "sections": trimmed, "truncated": total - keep})
        size = encoded_size(html)
    return html, total - keep


def build_digest_email(
    config: Config,
    subscriber: Subscriber,
    plan: DigestPlan,
    papers: dict[str, Paper],
    trending: Iterable[Paper] = (),
    now: datetime | None = None,
    *,
    topic_names: Sequence[str] = (),
    html_budget: int = HTML_BUDGET_BYTES,
    leads: Mapping[str, tuple[str, str]] | None = None,
    badges: Mapping[str, Badges] | None = None,
) -> RenderedEmail:
    """Render one subscriber's digest (pure: no database, no network).

    `papers` must hold every picked paper (missing ones are skipped); `trending` adds up to
    three papers not already picked; `topic_names` (optional) names what the subscriber
    follows in the footer; `leads` (paper id -> (line, source)) and `badges` add each card's
    TL;DR line and code/venue badges. `now` is accepted for symmetry with the sender and not shown:
    the same plan always renders the same email.
    """
    del now
    extras = (leads or {}, badges or {})
    context = digest_context(config, subscriber, plan, papers, trending, topic_names, extras)
    html, truncated = _fit_html(context, html_budget)
    text = render("email/digest.txt.j2", **context)
    return RenderedEmail(
        subject=str(context["subject"]),
        preheader=str(context["preheader"]),
        text=text,
        html=html,
        headers=list_headers(config, subscriber),
        paper_ids=context["paper_ids"],
        truncated=truncated,
    )
