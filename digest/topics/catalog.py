"""Topics: validation, curated CRUD, personal topics and who follows what.

Reading and syncing `topics.toml` lives in `digest.topics.toml_file`. Bad input raises UsageError
naming the topic and the field. The store's read functions are re-exported here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import replace

from digest.config.categories import category_problem
from digest.errors import UsageError
from digest.models import Topic, split_arxiv_id
from digest.store import topics as store
from digest.store.db import transaction
from digest.store.topics import (  # noqa: F401  (re-exported: the one import callers need)
    get_topic,
    list_topics,
    topics_for_subscriber,
)
from digest.topics.badge_filters import BadgeFilterProblem, check_has_code, clean_venues

TOPIC_KINDS = ("curated", "personal")
MAX_NAME_LENGTH = 80


class TopicProblem(ValueError):
    """One invalid field of one topic; `field` lets the file reader point at its line."""

    def __init__(self, topic: str, field: str, message: str) -> None:
        super().__init__(f"topic {topic!r}: {message}")
        self.topic = topic
        self.field = field
        self.detail = message


def one_line(text: str) -> str:
    """Whitespace collapsed, control characters (terminal escapes, NUL) dropped.

    Text that is not valid Unicode (bytes a non-UTF-8 terminal put in an argument) is refused.
    """
    if not text.isascii() and any("\ud800" <= ch <= "\udfff" for ch in text):
        raise UsageError(f"{text!r} is not valid UTF-8 text (check the terminal's encoding)")
    kept = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(kept.split())


def _clean_words(values: Iterable[str], topic: str, field: str) -> tuple[str, ...]:
    """Trim, drop empties, de-duplicate case-insensitively, keep first spelling and order."""
    seen: dict[str, str] = {}
    for value in values:
        if not isinstance(value, str):
            raise TopicProblem(topic, field, f"{field} must be a list of strings, got {value!r}")
        text = one_line(value)
        if text and text.lower() not in seen:
            seen[text.lower()] = text
    return tuple(seen.values())


def _clean_seeds(values: Iterable[str], topic: str) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for value in values:
        if not isinstance(value, str):
            raise TopicProblem(topic, "seeds", f"seeds must be arXiv ids, got {value!r}")
        text = value.strip()
        if not text:
            continue
        parsed = split_arxiv_id(text)
        if parsed is None:
            raise TopicProblem(topic, "seeds", f"seed {text!r} is not an arXiv id")
        out[parsed[0]] = None
    return tuple(out)


def clean_categories(values: Iterable[str], topic: str) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for value in _clean_words(values, topic, "categories"):
        problem = category_problem(value)
        if problem:
            raise TopicProblem(topic, "categories", problem)
        out[value] = None
    return tuple(out)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def validate_topic(topic: Topic) -> Topic:
    """Return the cleaned topic, or raise TopicProblem naming the topic and the field."""
    name = one_line(topic.name or "")
    label = name or "(unnamed)"
    if not name:
        raise TopicProblem(label, "name", "a topic needs a name")
    if len(name) > MAX_NAME_LENGTH:
        raise TopicProblem(label, "name", f"name is longer than {MAX_NAME_LENGTH} characters")
    if topic.kind not in TOPIC_KINDS:
        raise TopicProblem(label, "kind", f"kind must be curated or personal, got {topic.kind!r}")
    if topic.kind == "personal" and topic.owner_id is None:
        raise TopicProblem(label, "owner", "a personal topic needs an owner")
    if topic.kind == "curated" and topic.owner_id is not None:
        raise TopicProblem(label, "owner", "a curated topic has no owner")
    if topic.kind == "curated" and (";" in name or name.isdigit()):
        raise TopicProblem(  # ';' separates names in CSV files; digits are topic ids in forms
            label, "name", "a curated topic name cannot contain ';' or be only digits"
        )
    threshold = topic.threshold
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            quoted = isinstance(threshold, str) and _is_number(threshold)
            hint = (
                f" (write threshold = {str(threshold).strip()}, without quotes)" if quoted else ""
            )
            raise TopicProblem(
                label, "threshold", f"threshold must be a number, got {threshold!r}{hint}"
            )
        if not -1.0 <= float(threshold) <= 1.0:
            raise TopicProblem(label, "threshold", "threshold must be between -1 and 1")
        threshold = float(threshold)
    if not isinstance(topic.description, str):
        raise TopicProblem(label, "description", "description must be a string")
    cleaned = replace(
        topic,
        name=name,
        description=one_line(topic.description),
        keywords=_clean_words(topic.keywords, label, "keywords"),
        exclude=_clean_words(topic.exclude, label, "exclude"),
        seed_ids=_clean_seeds(topic.seed_ids, label),
        authors=_clean_words(topic.authors, label, "authors"),
        categories=clean_categories(topic.categories, label),
        threshold=threshold,
    )
    try:  # the badge filters: venues = ["NeurIPS"], has_code = true
        cleaned = replace(
            cleaned, venues=clean_venues(topic.venues), has_code=check_has_code(topic.has_code)
        )
    except BadgeFilterProblem as exc:
        raise TopicProblem(label, exc.field, exc.detail) from None
    if not (cleaned.description or cleaned.keywords or cleaned.seed_ids or cleaned.authors):
        raise TopicProblem(
            label,
            "description",
            "topic is empty: give a description, keywords, seed papers or authors",
        )
    return cleaned


def unstored_seeds(db, seed_ids: Sequence[str]) -> list[str]:
    """Seeds the archive does not hold (they would count for nothing); none while it holds no
    paper at all, since a fresh install syncs its topics before its first fetch."""
    from digest.store.papers import count_papers, existing_paper_ids

    if not seed_ids or count_papers(db) == 0:
        return []
    found = existing_paper_ids(db, list(seed_ids))
    return [seed for seed in seed_ids if seed not in found]


def seed_problem(missing: Sequence[str]) -> str:
    return (
        f"seed {', '.join(repr(m) for m in missing)} is not a stored paper (check the id; "
        f"to use an older paper, fetch it: digest fetch --source api --ids {','.join(missing)})"
    )


def _refuse_unstored_seeds(db, topic: Topic, seed_ids: Sequence[str]) -> None:
    missing = unstored_seeds(db, seed_ids)
    if missing:
        raise UsageError(f"topic {topic.name!r}: {seed_problem(missing)}")


def _checked(topic: Topic) -> Topic:
    try:
        return validate_topic(topic)
    except TopicProblem as exc:
        raise UsageError(str(exc)) from None


def add_topic(db, topic: Topic) -> Topic:
    """Validate and insert a topic (curated or personal); a name clash -> UsageError."""
    cleaned = _checked(topic)
    _refuse_unstored_seeds(db, cleaned, cleaned.seed_ids)
    with transaction(db):
        return store.insert_topic(db, cleaned)


def require_topic(db, name: str, kind: str = "curated", owner_id: int | None = None) -> Topic:
    found = store.get_topic(db, one_line(name), kind=kind, owner_id=owner_id)
    if found is None:
        raise UsageError(f"unknown {kind} topic {name.strip()!r}")
    return found


def update_topic(
    db, name: str, /, kind: str = "curated", owner_id: int | None = None, **changes: object
) -> Topic:
    """Change fields of a saved topic (name, description, keywords, exclude, seed_ids, authors,
    categories, threshold). List fields are replaced, not merged."""
    allowed = {
        "name",
        "description",
        "keywords",
        "exclude",
        "seed_ids",
        "authors",
        "categories",
        "threshold",
        "venues",
        "has_code",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise UsageError(f"cannot change topic field(s): {', '.join(sorted(unknown))}")
    with transaction(db):
        current = require_topic(db, name, kind=kind, owner_id=owner_id)
        values = {key: tuple(v) if isinstance(v, list | tuple) else v for key, v in changes.items()}
        cleaned = _checked(replace(current, **values))  # type: ignore[arg-type]
        _refuse_unstored_seeds(
            db, cleaned, [seed for seed in cleaned.seed_ids if seed not in current.seed_ids]
        )
        if cleaned.name.lower() != current.name.lower():
            clash = store.get_topic(db, cleaned.name, kind=kind, owner_id=owner_id)
            if clash is not None:
                raise UsageError(f"a {kind} topic named {clash.name!r} already exists")
        assert current.id is not None
        return store.update_topic_row(db, current.id, cleaned)


def remove_topic(db, name: str, kind: str = "curated", owner_id: int | None = None) -> Topic:
    """Delete a topic by name; its followers stop following it. Unknown name -> UsageError."""
    with transaction(db):
        current = require_topic(db, name, kind=kind, owner_id=owner_id)
        assert current.id is not None
        store.delete_topic(db, current.id)
    return current


def set_subscriber_topics(db, subscriber_id: int, curated_names: Sequence[str]) -> list[Topic]:
    """Replace the curated topics a subscriber follows. Unknown names -> UsageError naming them."""
    names = [name.strip() for name in curated_names if name and name.strip()]
    with transaction(db):
        found: list[Topic] = []
        missing: list[str] = []
        for name in names:
            topic = store.get_topic(db, name, kind="curated")
            if topic is None:
                missing.append(name)
            else:
                found.append(topic)
        if missing:
            known = ", ".join(t.name for t in store.list_topics(db, kind="curated")) or "none yet"
            raise UsageError(
                f"unknown topic {', '.join(repr(m) for m in missing)} (curated topics: {known})"
            )
        store.set_followed_topic_ids(db, subscriber_id, [t.id for t in found if t.id])
    return found


def personal_topic_name(text: str, taken: Iterable[str] = ()) -> str:
    """A short name from the first words of the text, made unique among `taken`."""
    words = " ".join(text.split())
    base = words if len(words) <= 40 else words[:40].rsplit(" ", 1)[0] + "…"
    base = base or "My topic"
    taken_lower = {t.lower() for t in taken}
    name, n = base, 2
    while name.lower() in taken_lower:
        name, n = f"{base} ({n})", n + 1
    return name


def add_personal_topic(
    db,
    subscriber_id: int,
    text: str = "",
    *,
    name: str | None = None,
    keywords: Sequence[str] = (),
    exclude: Sequence[str] = (),
    seed_ids: Sequence[str] = (),
    authors: Sequence[str] = (),
    categories: Sequence[str] = (),
    threshold: float | None = None,
) -> Topic:
    """Add a topic owned by one subscriber; `text` is its description in their own words."""
    with transaction(db):
        if name is None:
            taken = [t.name for t in store.list_topics(db, kind="personal", owner_id=subscriber_id)]
            name = personal_topic_name(text, taken)
        topic = Topic(
            name=name,
            kind="personal",
            owner_id=subscriber_id,
            description=text,
            keywords=tuple(keywords),
            exclude=tuple(exclude),
            seed_ids=tuple(seed_ids),
            authors=tuple(authors),
            categories=tuple(categories),
            threshold=threshold,
        )
        return store.insert_topic(db, _checked(topic))


def topic_as_dict(topic: Topic, followers: int | None = None) -> dict:
    """JSON shape of a topic (as `topics show --json` prints it)."""
    out = {
        "id": topic.id,
        "name": topic.name,
        "kind": topic.kind,
        "description": topic.description,
        "keywords": list(topic.keywords),
        "exclude": list(topic.exclude),
        "seeds": list(topic.seed_ids),
        "authors": list(topic.authors),
        "categories": list(topic.categories),
        "threshold": topic.threshold,
        "venues": list(topic.venues),
        "has_code": topic.has_code,
    }
    if topic.owner_id is not None:
        out["owner_id"] = topic.owner_id
    if followers is not None:
        out["subscribers"] = followers
    return out


def curated_topics_with_followers(db) -> list[tuple[Topic, int]]:
    counts = store.follower_counts(db)
    return [(t, counts.get(t.id or 0, 0)) for t in store.list_topics(db, kind="curated")]


# ---------------------------------------------------------------- followed authors
FOLLOW_PREFIX = "Papers by "
MAX_FOLLOWED_AUTHORS = 20


def is_author_follow(topic: Topic) -> bool:
    """A personal topic that only follows one author (made by `set_followed_authors`)."""
    return (
        topic.kind == "personal"
        and len(topic.authors) == 1
        and not (topic.description or topic.keywords or topic.seed_ids)
    )


def followed_authors(db, subscriber_id: int) -> list[str]:
    return [
        t.authors[0]
        for t in store.list_topics(db, kind="personal", owner_id=subscriber_id)
        if is_author_follow(t)
    ]


def resolve_author(db, name: str) -> str:
    """The archive's spelling of an author name (UsageError when nobody of that name is stored)."""
    from digest.store.papers import author_display_name
    from digest.textclean import normalize_author

    cleaned = " ".join(str(name).split())[:200]
    found = author_display_name(db, normalize_author(cleaned)) if cleaned else None
    if found is None:
        raise UsageError(f"no papers by {cleaned!r} in the archive; check the spelling")
    return found


def set_followed_authors(
    db, subscriber_id: int, names: Sequence[str], *, must_exist: bool = True
) -> list[str]:
    """Follow exactly these authors (each one a personal author-only topic); returns them.

    With `must_exist` False (an imported list, maybe into an archive not fetched yet) a name
    the archive does not know is followed as written instead of being an error.
    """
    wanted: list[str] = []
    for name in names:
        if name.strip():
            try:
                resolved = resolve_author(db, name)
            except UsageError:
                if must_exist:
                    raise
                resolved = one_line(name)[:200]
            if resolved not in wanted:
                wanted.append(resolved)
    if len(wanted) > MAX_FOLLOWED_AUTHORS:
        raise UsageError(f"follow at most {MAX_FOLLOWED_AUTHORS} authors")
    with transaction(db):
        current = [
            t
            for t in store.list_topics(db, kind="personal", owner_id=subscriber_id)
            if is_author_follow(t)
        ]
        for topic in current:
            if topic.authors[0] not in wanted and topic.id is not None:
                store.delete_topic(db, topic.id)
        have = {t.authors[0] for t in current}
        taken = [t.name for t in store.list_topics(db, kind="personal", owner_id=subscriber_id)]
        for name in wanted:
            if name not in have:
                title = personal_topic_name(FOLLOW_PREFIX + name, taken)
                taken.append(title)
                add_personal_topic(db, subscriber_id, name=title, authors=[name])
    return wanted
