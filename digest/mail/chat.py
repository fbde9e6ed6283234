"""A digest as a chat message: Slack blocks or Discord embeds, for an incoming-webhook channel.

Pure functions over the email's view model (`compose.digest_context`): the same picks, links
and why-lines, in each service's own JSON. One message per issue; split into several only
where the service's size limits demand it (Slack: 50 blocks, 3,000 characters a section;
Discord: 10 embeds and 6,000 characters a message, 256 a title, 4,096 a description).
Text from papers is escaped for each service's markup and mentions are switched off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from digest.errors import UsageError

SERVICES = ("slack", "discord")
SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_CHARS = 3000
SLACK_MAX_HEADER_CHARS = 150
SLACK_MAX_TEXT_CHARS = 3000  # the notification fallback; Slack cuts past 40,000
DISCORD_MAX_EMBEDS = 10
DISCORD_MAX_TOTAL_CHARS = 6000
DISCORD_MAX_TITLE_CHARS = 256
DISCORD_MAX_DESCRIPTION_CHARS = 4096
DISCORD_MAX_CONTENT_CHARS = 2000
DISCORD_MAX_FOOTER_CHARS = 2048
DISCORD_COLOR = 0xB31B1B  # arXiv red


def chat_payloads(service: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue as one or more webhook bodies for `service` (in posting order)."""
    if service == "slack":
        return slack_payloads(context)
    if service == "discord":
        return discord_payloads(context)
    raise UsageError(f"unknown chat service {service!r} (known: {', '.join(SERVICES)})")


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cards(context: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(str(s["name"]), card) for s in context["sections"] for card in s["cards"]]


# ---------------------------------------------------------------- Slack


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters (&, <, >) as entities; link text without '|'."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, text: str) -> str:
    return f"<{slack_escape(url)}|{slack_escape(text).replace('|', '¦')}>"


def _slack_card(card: dict[str, Any]) -> dict[str, Any]:
    lines = [
        "*" + _slack_link(card["title_url"], _cut(card["title"], 300)) + "*",
        slack_escape(_cut(card["authors"], 300)),
    ]
    if card["why"]:
        lines.append("_" + slack_escape(_cut(card["why"], 500)) + "_")
    if card["snippet"]:
        lines.append(slack_escape(_cut(card["snippet"], 1200)))
    lines.append(
        " · ".join(
            [
                _slack_link(card["abs_url"] or card["more_url"], "abstract"),
                *([_slack_link(card["pdf_url"], "PDF")] if card["pdf_url"] else []),
                _slack_link(card["like_url"], "👍"),
                _slack_link(card["dislike_url"], "👎"),
            ]
        )
    )
    text = "\n".join(lines)[:SLACK_MAX_SECTION_CHARS]
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def slack_payloads(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Blocks: a header, the lede, each topic's name and cards, the footer links; cut into
    messages of at most 50 blocks, each with its notification text."""
    head = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(context["headline"], 150), "emoji": True},
        },
        _slack_context(f"{context['issue_label']} · {context['lede']}"),
    ]
    body: list[dict[str, Any]] = []
    section = None
    for name, card in _cards(context):
        if name != section:
            section = name
            body.append(_slack_context(f"*{slack_escape(_cut(name, 200))}*"))
        body.append(_slack_card(card))
    footer = _slack_context(
        " · ".join(
            [
                _slack_link(context["day_url"], "the whole day"),
                _slack_link(context["preferences_url"], "preferences"),
                _slack_link(context["unsubscribe_url"], "unsubscribe"),
            ]
        )
    )
    blocks = [*head, *body, footer]
    chunks = [blocks[i : i + SLACK_MAX_BLOCKS] for i in range(0, len(blocks), SLACK_MAX_BLOCKS)]
    text = _cut(f"{context['headline']} · {context['issue_label']}", SLACK_MAX_TEXT_CHARS)
    if len(chunks) == 1:
        return [{"text": text, "blocks": chunks[0], "unfurl_links": False}]
    return [
        {"text": f"{text} ({n}/{len(chunks)})", "blocks": chunk, "unfurl_links": False}
        for n, chunk in enumerate(chunks, start=1)
    ]


def _slack_context(mrkdwn: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": mrkdwn[:SLACK_MAX_SECTION_CHARS]}],
    }


# ---------------------------------------------------------------- Discord

_DISCORD_MARKUP = re.compile(r"([\\*_~`|>#\[\]()<@-])")


def discord_escape(text: str) -> str:
    """Discord markdown characters escaped with a backslash (mentions are off anyway)."""
    return _DISCORD_MARKUP.sub(r"\\\1", text)


def _discord_embed(name: str, card: dict[str, Any]) -> dict[str, Any]:
    # no abstract snippet: ten papers must fit Discord's 6,000 characters in one message
    lines = [discord_escape(_cut(card["authors"], 150))]
    if card["why"]:
        lines.append("*" + discord_escape(_cut(card["why"], 300)) + "*")
    links = [f"[abstract]({card['abs_url'] or card['more_url']})"]
    if card["pdf_url"]:
        links.append(f"[PDF]({card['pdf_url']})")
    links += [f"[👍]({card['like_url']})", f"[👎]({card['dislike_url']})"]
    lines.append(" · ".join(links))
    return {
        "title": _cut(card["title"], DISCORD_MAX_TITLE_CHARS),
        "url": card["title_url"],
        "description": "\n".join(lines)[:DISCORD_MAX_DESCRIPTION_CHARS],
        "color": DISCORD_COLOR,
        "footer": {"text": _cut(name, 200)},
    }


def embed_chars(embed: dict[str, Any]) -> int:
    """What Discord counts against its 6,000-character message limit."""
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("footer", {}).get("text", ""))
    )


def discord_payloads(context: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline and footer links as content, one embed per paper; a new message when
    the next embed would pass 10 embeds or 6,000 characters."""
    content = discord_escape(
        _cut(f"{context['headline']} · {context['issue_label']}. {context['lede']}", 1500)
    )
    footer = (
        f"[The whole day]({context['day_url']}) · [Preferences]({context['preferences_url']})"
        f" · [Unsubscribe]({context['unsubscribe_url']})"
    )
    embeds = [_discord_embed(name, card) for name, card in _cards(context)]
    messages: list[list[dict[str, Any]]] = [[]]
    used = 0
    for embed in embeds:
        size = embed_chars(embed)
        if messages[-1] and (
            len(messages[-1]) >= DISCORD_MAX_EMBEDS or used + size > DISCORD_MAX_TOTAL_CHARS
        ):
            messages.append([])
            used = 0
        messages[-1].append(embed)
        used += size
    out = []
    for n, chunk in enumerate(messages, start=1):
        text = content if n == 1 else f"({n}/{len(messages)})"
        if n == len(messages):
            text = f"{text}\n{footer}"
        out.append(
            {
                "content": text[:DISCORD_MAX_CONTENT_CHARS],
                "embeds": chunk,
                "allowed_mentions": {"parse": []},
            }
        )
    return out


def payload_sizes(payloads: Sequence[dict[str, Any]]) -> list[int]:
    """Blocks (Slack) or embeds (Discord) per message, for reports and tests."""
    return [len(p.get("blocks", p.get("embeds", []))) for p in payloads]
