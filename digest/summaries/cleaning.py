"""What a model returns is text (pure): markup stripped, invisible characters dropped, cut.

A model may answer with HTML (`<b>`, even `<script>`), Markdown (`**bold**`, lists, links),
a reasoning block (`<think>…</think>`) or a "TL;DR:" preamble. The card shows plain words only;
templates escape what is left, so nothing a model writes can become markup in an email.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from digest.textclean import squash_whitespace, strip_invisible

_DROPPED_ELEMENTS = frozenset({"script", "style", "think", "head", "title", "template"})


class _TextOnly(HTMLParser):
    """Collects text outside tags; the content of script/style/think elements is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _DROPPED_ELEMENTS:
            self.skipping += 1
        elif tag in ("br", "p", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_ELEMENTS and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


_FENCE_RE = re.compile(r"```.*?(```|$)", re.S)
_UNCLOSED_THINK_RE = re.compile(r"<think>.*", re.S | re.I)
_IMAGE_RE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_EMPHASIS_RE = re.compile(r"(\*{1,3}|_{1,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_CODE_RE = re.compile(r"`([^`]*)`")
_LINE_MARK_RE = re.compile(r"^\s*(#{1,6}\s+|>\s*|[-*+•]\s+|\d+[.)]\s+)", re.M)
_PREAMBLE_RE = re.compile(
    r"^\s*(tl;?\s*dr|summary|here is [^:]{0,60}|sure[^:]{0,40})\s*[:：\-–]\s*", re.I
)


def strip_markup(raw: str) -> str:
    """Plain text of a model's answer: no tags, no Markdown marks, no code fences."""
    text = raw.replace("\r", "")
    text = re.sub(r"<think>.*?</think>", " ", text, flags=re.S | re.I)
    text = _UNCLOSED_THINK_RE.sub(" ", text)  # an answer cut off while still "thinking"
    text = _FENCE_RE.sub(" ", text)
    for _ in range(2):  # twice: "&lt;b&gt;" unescapes to a tag, which goes too
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        text = html.unescape("".join(parser.parts))
    text = _IMAGE_RE.sub(r"\1", text)
    text = _LINK_RE.sub(r"\1", text)
    text = _CODE_RE.sub(r"\1", text)
    text = _LINE_MARK_RE.sub("", text)
    for _ in range(2):  # ***both*** kinds nested
        text = _EMPHASIS_RE.sub(r"\2", text)
    return squash_whitespace(strip_invisible(text))


def cut_at_word(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if " " in head[limit // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(",;:-–") + "…"


def clean_tldr(raw: str | None, max_chars: int) -> str:
    """The TL;DR as shown ("" when nothing usable is left: the caller falls back)."""
    text = strip_markup(raw or "")
    text = _PREAMBLE_RE.sub("", text, count=1)
    return cut_at_word(text, max_chars).strip()
