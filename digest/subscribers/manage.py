"""Subscribers: validated adds and changes, lookups by address, feedback by address.

Every public function takes an open database. Bad input raises UsageError naming the value;
nothing is written unless everything checks out (multi-row changes are one transaction).
The read functions are re-exported from `digest.store.subscribers` so callers need one import.
"""

from __future__ import annotations

from collections.abc import Sequence

from digest.errors import UsageError
from digest.models import FEEDBACK_KINDS, SUBSCRIBER_STATUSES, Subscriber, Topic
from digest.store import feedback as feedback_store
from digest.store import subscribers as store
from digest.store.db import transaction, utcnow
from digest.store.subscribers import (  # noqa: F401  (re-exported: the one import callers need)
    delete_subscriber,
    get_subscriber,
    get_subscriber_by_token,
    list_subscribers,
    set_last_digest_date,
    set_status,
)
from digest.subscribers.fields import (
    DEFAULT_MAX_PAPERS,
    check_frequency,
    check_language,
    check_max_papers,
    check_schedule,
    check_send_hour,
    check_timezone,
    clean_name,
    normalise_email,
    parse_weekday,
    weekday_name,
)


def add_subscriber(
    db,
    email: str,
    *,
    name: str = "",
    status: str = "pending",
    frequency: str = "daily",
    weekday: str | int | None = None,
    timezone: str = "UTC",
    max_papers: int = DEFAULT_MAX_PAPERS,
    always_send: bool = False,
    source: str = "cli",
    send_hour: int | None = None,
    topics: Sequence[str] = (),
    text: str = "",
    authors: Sequence[str] = (),
    created_at: str | None = None,
    confirmed_at: str | None = None,
) -> Subscriber:
    """Validate and add one subscriber (with curated `topics`, an own-words `text` topic and
    followed `authors`, each an author stored in the archive). `created_at`/`confirmed_at`
    keep the dates of an imported export (an active subscriber is confirmed now otherwise).

    All in one transaction: an unknown topic name or a duplicate address writes nothing.
    """
    address = normalise_email(email)
    if status not in SUBSCRIBER_STATUSES:
        raise UsageError(f"status must be one of {', '.join(SUBSCRIBER_STATUSES)}, got {status!r}")
    frequency = check_frequency(frequency)
    if frequency == "daily" and parse_weekday(weekday) is not None:
        raise UsageError(f"a weekday ({weekday}) only applies to a weekly digest")
    values = {
        "email": address,
        "name": clean_name(name),
        "status": status,
        "frequency": frequency,
        "weekday": check_schedule(frequency, parse_weekday(weekday)),
        "timezone": check_timezone(timezone),
        "send_hour": check_send_hour(send_hour),
        "max_papers": check_max_papers(max_papers),
        "always_send": int(bool(always_send)),
        "source": source,
        "created_at": created_at or utcnow(),
        "confirmed_at": confirmed_at or (utcnow() if status == "active" else None),
    }
    from digest.topics import catalog as topic_logic  # topics imports nothing from here; kept local

    with transaction(db):
        if _find_stored(db, address) is not None:
            raise UsageError(f"{address} is already a subscriber")
        subscriber_id = store.insert_subscriber(db, values)
        if topics:
            topic_logic.set_subscriber_topics(db, subscriber_id, topics)
        if text and text.strip():
            topic_logic.add_personal_topic(db, subscriber_id, text=text)
        if authors:
            topic_logic.set_followed_authors(db, subscriber_id, authors)
    found = store.get_subscriber(db, subscriber_id)
    assert found is not None
    return found


def update_subscriber(db, subscriber_id: int, **changes: object) -> Subscriber:
    """Change preferences: frequency, weekday, timezone, max_papers, always_send, name, send_hour,
    language (of the TL;DR lines).

    The result is checked as a whole (switching to weekly needs a weekday; daily clears it).
    """
    unknown = set(changes) - set(store.UPDATABLE_COLUMNS)
    if unknown:
        raise UsageError(
            f"cannot change {', '.join(sorted(unknown))} "
            f"(changeable: {', '.join(store.UPDATABLE_COLUMNS)})"
        )
    with transaction(db):
        current = store.get_subscriber(db, subscriber_id)
        if current is None:
            raise UsageError(f"no subscriber with id {subscriber_id}")
        frequency = (
            check_frequency(str(changes["frequency"]))
            if "frequency" in changes
            else current.frequency
        )
        weekday = (
            parse_weekday(changes["weekday"])  # type: ignore[arg-type]
            if "weekday" in changes
            else current.weekday
        )
        row: dict[str, object] = {}
        if frequency == "daily" and "weekday" in changes and weekday is not None:
            raise UsageError(f"a weekday ({changes['weekday']}) only applies to a weekly digest")
        if "frequency" in changes or "weekday" in changes:
            row["frequency"] = frequency
            row["weekday"] = check_schedule(frequency, weekday)
        if "timezone" in changes:
            row["timezone"] = check_timezone(str(changes["timezone"]))
        if "max_papers" in changes:
            row["max_papers"] = check_max_papers(changes["max_papers"])  # type: ignore[arg-type]
        if "always_send" in changes:
            row["always_send"] = int(bool(changes["always_send"]))
        if "name" in changes:
            row["name"] = clean_name(str(changes["name"] or ""))
        if "send_hour" in changes:
            row["send_hour"] = check_send_hour(changes["send_hour"])  # type: ignore[arg-type]
        if "language" in changes:
            row["language"] = check_language(str(changes["language"]))
        store.update_subscriber_row(db, subscriber_id, row)
    found = store.get_subscriber(db, subscriber_id)
    assert found is not None
    return found


def _find_stored(db, address: str) -> Subscriber | None:
    """A normalised address, also under its xn-- spelling (rows stored before that was merged)."""
    found = store.get_subscriber_by_email(db, address)
    local, domain = address.split("@")
    if found is None and not domain.isascii():
        found = store.get_subscriber_by_email(db, f"{local}@{domain.encode('idna').decode()}")
    return found


def edit_subscriber(
    db,
    email: str,
    *,
    status: str | None = None,
    topics: Sequence[str] | None = None,
    text_version: str = "",
    **changes: object,
) -> Subscriber:
    """An operator's change to one subscriber, in one transaction: preferences (as in
    `update_subscriber`), the curated `topics` followed (replaced) and the `status`.

    A status change is recorded in the consent log (source "cli"), like the web's.
    """
    subscriber = require_subscriber(db, email)
    if status is not None and status not in SUBSCRIBER_STATUSES:
        raise UsageError(f"status must be one of {', '.join(SUBSCRIBER_STATUSES)}, got {status!r}")
    from digest.store import service as service_store
    from digest.topics import catalog as topic_logic

    with transaction(db):
        if changes:
            update_subscriber(db, subscriber.id, **changes)
        if topics is not None:
            topic_logic.set_subscriber_topics(db, subscriber.id, topics)
        if status is not None and status != subscriber.status:
            store.set_status(db, subscriber.id, status)
            action = "unsubscribe" if status == "unsubscribed" else "preferences"
            detail = f"status {subscriber.status} -> {status} by the operator"
            service_store.add_consent(db, subscriber.id, action, "cli", text_version, detail=detail)
    found = store.get_subscriber(db, subscriber.id)
    assert found is not None
    return found


def get_subscriber_by_email(db, email: str) -> Subscriber | None:
    """Look up an address as a person would type it (trimmed, any case, either IDN form)."""
    try:
        address = normalise_email(email)
    except UsageError:
        return None
    return _find_stored(db, address)


def require_subscriber(db, email: str) -> Subscriber:
    """The subscriber with this address, or UsageError naming it."""
    found = get_subscriber_by_email(db, email)
    if found is None:
        raise UsageError(f"no subscriber with address {email.strip()!r}")
    return found


def remove_subscriber(db, email: str) -> Subscriber:
    """Delete a subscriber by address with their personal topics and feedback."""
    subscriber = require_subscriber(db, email)
    with transaction(db):
        store.delete_subscriber(db, subscriber.id)
    return subscriber


def record_feedback(db, email: str, paper_id: str, kind: str, source: str = "cli") -> str:
    """Record a like/dislike/click by address; returns the stored paper id."""
    if kind not in FEEDBACK_KINDS:
        raise UsageError(f"unknown feedback kind {kind!r} (known: {', '.join(FEEDBACK_KINDS)})")
    subscriber = require_subscriber(db, email)
    with transaction(db):
        return feedback_store.add_feedback(db, subscriber.id, paper_id, kind, source=source)


def subscriber_public_fields(subscriber: Subscriber) -> dict:
    """What `show`/`list`/`export` print: everything except the secret manage token."""
    return {
        "id": subscriber.id,
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "frequency": subscriber.frequency,
        "weekday": weekday_name(subscriber.weekday),
        "timezone": subscriber.timezone,
        "send_hour": subscriber.send_hour,
        "max_papers": subscriber.max_papers,
        "language": subscriber.language,
        "always_send": subscriber.always_send,
        "source": subscriber.source,
        "created_at": subscriber.created_at,
        "confirmed_at": subscriber.confirmed_at,
        "unsubscribed_at": subscriber.unsubscribed_at,
        "last_digest_date": subscriber.last_digest_date,
    }


def subscriber_details(db, subscriber: Subscriber) -> dict:
    """Fields + followed curated topics + personal topics + feedback counts (for `show`)."""
    from digest.topics import catalog as topic_logic

    topics = topic_logic.topics_for_subscriber(db, subscriber.id)
    return details_from(subscriber, topics, feedback_store.feedback_summary(db, subscriber.id))


def details_from(subscriber: Subscriber, topics: Sequence[Topic], feedback: dict[str, int]) -> dict:
    """The `subscriber_details` shape from already loaded topics and feedback counts."""
    from digest.topics import catalog as topic_logic

    return {
        **subscriber_public_fields(subscriber),
        "topics": [t.name for t in topics if t.kind == "curated"],
        "personal_topics": [topic_logic.topic_as_dict(t) for t in topics if t.kind == "personal"],
        "followed_authors": [t.authors[0] for t in topics if topic_logic.is_author_follow(t)],
        "feedback": feedback,
    }
