"""The TL;DR line and the code/venue badges of an email card, as plain values (pure).

`badge_items` is shared with the archive site's cards and paper pages. Kept apart from `compose` so the card's other fields and these can change independently; the
markup is in templates/email/_tldr_badges.html.j2 (HTML) and digest.txt.j2 (text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from digest.mail.text import hang
from digest.models import Badges

LEAD_LABELS = {"llm": "TL;DR", "extractive": "Matched you"}
MAX_BADGE_LINKS = 3


def badge_items(badges: Badges | None) -> list[dict[str, str | None]]:
    """The venue (no link) then up to three code/project links, for email and site cards."""
    if badges is None:
        return []
    items: list[dict[str, str | None]] = []
    if badges.venue:
        items.append({"kind": "venue", "label": badges.venue, "url": None})
    items.extend(
        {"kind": link.kind, "label": link.label, "url": link.url}
        for link in badges.links[:MAX_BADGE_LINKS]
    )
    return items


def card_extras(
    paper_id: str,
    leads: Mapping[str, tuple[str, str]],
    badges: Mapping[str, Badges],
    numbered: bool = True,
) -> dict[str, Any]:
    """`tldr`, `tldr_label`, `tldr_text` (wrapped) and `badges` (venue and links) of one card."""
    lead, source = leads.get(paper_id, ("", ""))
    items = badge_items(badges.get(paper_id))
    label = LEAD_LABELS.get(source, "")
    indent = "   " if numbered else "  "
    badge_line = " · ".join(
        f"{item['label']}: {item['url']}" if item["url"] else str(item["label"]) for item in items
    )
    return {
        "tldr": lead,
        "tldr_label": label,
        "tldr_text": hang(lead, f"{indent}{label}: ", indent) if lead else "",
        "badges": items,
        "badges_text": hang(badge_line, indent, indent) if items else "",
    }
