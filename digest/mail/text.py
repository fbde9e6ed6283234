"""The digest's words as plain text: TeX styling out, snippets cut at sentence and word
boundaries, author lists shortened, the why-line in the reader's terms, and the greedy word
wrap of the plain-text part. Pure functions over strings, no markup."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

SNIPPET_MAX_CHARS = 350
# \textbf{word} -> word: styling macros only (no nested braces); maths is left as written
_TEX_STYLE = re.compile(
    r"\\(?:textbf|textit|textsl|textsc|texttt|textrm|textsf|emph|underline)\{([^{}$]*)\}"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"'$\\])")
_TEX_QUOTES = re.compile(r"``((?:(?!``).)+?)''")  # ``quoted'' -> “quoted”
_SCORE_SUFFIX = re.compile(r"\s*\(score -?\d+(?:\.\d+)?\)$")
TEXT_WIDTH = 72  # plain-text part: body lines wrap here (a lone long URL is left whole)


def plain_tex(text: str) -> str:
    """LaTeX text styling out of a title or abstract: '\\textbf{new} risk' -> 'new risk'."""
    if "``" in text:
        text = _TEX_QUOTES.sub(r"“\1”", text)
    if "\\" not in text:
        return text
    return _TEX_STYLE.sub(r"\1", text)


def reader_why(why: str, topic: str) -> str:
    """The why-line as the email shows it, under its topic's heading: without the topic's
    name (the heading says it) and without the ranking score (a number readers cannot use).
    'Robotics: mentions “robot” (score 0.53)' -> 'mentions “robot”' (the card capitalises it,
    the text part reads 'Why: mentions “robot”')."""
    text = _SCORE_SUFFIX.sub("", " ".join(why.split()))
    head = f"{topic or 'Picked for you'}: "
    return text[len(head) :] if text.startswith(head) and len(text) > len(head) else text


def shorten_authors(authors: Sequence[str], limit: int = 3) -> str:
    """'A, B, C et al.' beyond `limit` names; 'Unknown authors' when there are none."""
    names = [a for a in authors if a]
    if not names:
        return "Unknown authors"
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + " et al."


def abstract_snippet(abstract: str, max_chars: int = SNIPPET_MAX_CHARS, sentences: int = 3) -> str:
    """The first two or three whole sentences that fit in `max_chars`.

    When only one whole sentence fits, the second is added cut at a word boundary with an
    ellipsis (so the card still reads as two sentences' worth); a first sentence longer than
    `max_chars` is cut the same way. Never cuts inside a word.
    """
    text = " ".join(abstract.split())
    if not text:
        return ""
    parts = _SENTENCE_END.split(text)
    chosen: list[str] = []
    length = 0
    for part in parts[:sentences]:
        extra = len(part) + (1 if chosen else 0)
        if length + extra > max_chars:
            break
        chosen.append(part)
        length += extra
    if len(chosen) == len(parts) or len(chosen) >= 2:
        return " ".join(chosen)
    room = max_chars - length - (1 if chosen else 0) - 1  # space before, ellipsis after
    if chosen and room < 60:  # too little left for a useful partial sentence
        return " ".join(chosen)
    partial = _cut_at_word(parts[len(chosen)], room)
    return " ".join([*chosen, partial + "…"]) if partial else " ".join(chosen)


def _cut_at_word(text: str, limit: int) -> str:
    """The longest prefix of `text` up to `limit` chars that ends at a word boundary."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if not text[limit].isspace():
        cut = cut.rsplit(" ", 1)[0] if " " in cut else ""
    return cut.rstrip(" ,;:.-")


def issue_short(day: date) -> str:
    """'Tue 24 Sep' (used in the subject)."""
    return f"{day:%a} {day.day} {day:%b}"


def issue_long(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B} {day.year}"


def clip_words(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[: max_chars - 1].rsplit(" ", 1)[0].rstrip(" ,;:·") + "…"


def wrap_text(text: str, width: int = 70, indent: str = "   ") -> str:
    """Greedy word wrap for the plain-text part (textwrap is 10x slower for this job)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "\n".join(indent + item for item in lines)


def hang(text: str, first: str, rest: str, width: int = TEXT_WIDTH) -> str:
    """`text` wrapped with `first` before its first line and `rest` before the others
    ('1. A long title' over two lines, the second indented under the first word)."""
    lines = wrap_text(text, width - len(rest), indent="").split("\n")
    return "\n".join([first + lines[0], *(rest + line for line in lines[1:])])


def join_names(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
