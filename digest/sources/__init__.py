"""Where papers come from: each module fetches bytes and parses them with pure functions."""

from __future__ import annotations

from digest.models import split_arxiv_id

MAX_VERSION = 99_999


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
