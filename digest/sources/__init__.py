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
    """`split_arxiv_id`, also refusing what no arXiv id has and SQLite cannot store: digits
    other than 0-9 (a fullwidth '２４０１.00001') and a version over 99,999 (v99999999999999999999
    overflowed the INTEGER column and failed the whole feed or import batch)."""
    split = split_arxiv_id(raw)
    if split is None or not split[0].isascii():
        return None
    if split[1] is not None and not 0 <= split[1] <= MAX_VERSION:
        return None
    return split


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
