"""Where papers come from: each module fetches bytes and parses them with pure functions."""

from __future__ import annotations

from digest.models import split_arxiv_id

MAX_VERSION = 99_999
# arXiv caps abstracts at 1,920 characters and titles are rarely over 300: far longer text
# is a broken export or a hostile feed, and would fill archive pages and emails.
MAX_TITLE_CHARS = 1_000
MAX_ABSTRACT_CHARS = 20_000
MAX_AUTHORS = 5_000  # the big collaborations (ATLAS, CMS) sign about 3,000
MAX_AUTHOR_CHARS = 300


def arxiv_id(raw: str) -> tuple[str, int | None] | None:
    """`split_arxiv_id`, also refusing what no arXiv id has (see `arxiv_id_problem`)."""
    split = split_arxiv_id(raw)
    if split is None or arxiv_id_problem(*split):
        return None
    return split


def arxiv_id_problem(base: str, version: int | None) -> str | None:
    """Why an id of arXiv's shape cannot be one, or None: digits other than 0-9 (a fullwidth
    '２４０１.00001'), a version over 99,999 (v99999999999999999999 overflowed the INTEGER
    column and failed the whole feed or import batch), a month 00 or 13, or the wrong number
    of digits after the dot (4 up to 1412, 5 from 1501: '2611.0001' links to no paper)."""
    if not base.isascii():
        return "digits other than 0-9"
    if version is not None and not 0 <= version <= MAX_VERSION:
        return f"version over {MAX_VERSION:,}"
    if "/" in base:
        return None
    yymm, number = base.split(".")
    if not 1 <= int(yymm[2:]) <= 12:
        return f"month {yymm[2:]} does not exist"
    digits = 5 if int(yymm) >= 1501 else 4
    if len(number) != digits:
        return f"ids from {yymm} have {digits} digits after the dot"
    return None


def oversize_reason(title: str, abstract: str, authors: tuple[str, ...]) -> str | None:
    """Why a record's cleaned text is too long to be a paper's, or None: every source
    skips such a record with this reason instead of storing and mailing it."""
    for name, text, limit in (
        ("title", title, MAX_TITLE_CHARS),
        ("abstract", abstract, MAX_ABSTRACT_CHARS),
    ):
        if len(text) > limit:
            return f"{name} is {len(text):,} characters, over {limit:,}: not a {name}"
    if len(authors) > MAX_AUTHORS:
        return f"{len(authors):,} authors, over {MAX_AUTHORS:,}"
    longest = max(authors, key=len, default="")
    if len(longest) > MAX_AUTHOR_CHARS:
        return f"an author name of {len(longest):,} characters, over {MAX_AUTHOR_CHARS}"
    return None
