"""A topic's badge filters (`venues = ["NeurIPS", "ICLR"]`, `has_code = true`), checked (pure).

Venue names are matched case-insensitively against the venue key the badge extractor stores
("NeurIPS", "EMNLP", "TMLR", …; digest.ingest.badges lists the names it knows).
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_VENUES = 30


class BadgeFilterProblem(ValueError):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def clean_venues(values: Iterable[object]) -> tuple[str, ...]:
    """Venue names, trimmed, each once; BadgeFilterProblem for a non-string or too many."""
    cleaned: list[str] = []
    for value in values or ():
        if not isinstance(value, str):
            raise BadgeFilterProblem("venues", f"venues must be names (strings), got {value!r}")
        name = " ".join(value.split())
        if not name:
            continue
        if len(name) > 60:
            raise BadgeFilterProblem("venues", f"venue name too long: {name[:40]!r}…")
        if name.lower() not in {v.lower() for v in cleaned}:
            cleaned.append(name)
    if len(cleaned) > MAX_VENUES:
        raise BadgeFilterProblem("venues", f"at most {MAX_VENUES} venues, got {len(cleaned)}")
    return tuple(cleaned)


def check_has_code(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise BadgeFilterProblem("has_code", f"has_code must be true or false, got {value!r}")
