"""What the web app does to the store, without HTTP: sign up, confirm, unsubscribe, preferences.

Every change that matters for consent writes a `consents` row in the same transaction. Network
work (sending the confirmation mail) happens outside any transaction.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from digest.config import Config
from digest.errors import UsageError
from digest.mail.notices import confirmation_email, preferences_link_email
from digest.models import Subscriber
from digest.store import service as service_store
from digest.store.db import transaction
from digest.store.service import eager_transaction
from digest.subscribers import fields
from digest.web.plumbing import RateLimited, over_limit

log = logging.getLogger("digest.web")

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
RESEND_STATUSES = ("pending", "unsubscribed")  # a new sign-up re-sends the confirmation
LINK_STATUSES = ("active", "paused", "unsubscribed")  # may be sent their preferences link


def token_format_ok(token: str) -> bool:
    """Cheap shape check so garbage never reaches the database."""
    return bool(TOKEN_RE.match(token))


class FieldError(UsageError):
    """A refused form value, with the form field it belongs to (the page shows it there)."""

    def __init__(self, field_name: str, text: str) -> None:
        super().__init__(text)
        self.field_name = field_name


@contextmanager
def blame(field_name: str) -> Iterator[None]:
    """A UsageError raised inside is about `field_name` (unless it already names a field)."""
    try:
        yield
    except FieldError:
        raise
    except UsageError as exc:
        raise FieldError(field_name, str(exc)) from None


# ------------------------------------------------------------------ sign-up
def curated_topic_names(db, values: list[str]) -> list[str]:
    """Form values are curated topic names, or topic ids (the archive's form sends ids)."""
    from digest.store import topics as topic_store

    names = []
    for value in values[:50]:
        value = value.strip()
        if value.isascii() and value.isdigit():
            topic = topic_store.get_topic_by_id(db, int(value)) if len(value) < 10 else None
            if topic is None or topic.kind != "curated":
                raise UsageError(f"unknown topic {value!r}")
            names.append(topic.name)
        elif value:
            names.append(value)
    return names


@dataclass
class SignupForm:
    email: str
    topics: list[str]
    own_topic: str
    frequency: str
    honeypot: str = ""
    authors: list[str] = field(default_factory=list)  # "follow this author" from author pages


def subscribe(
    db, config: Config, key: bytes, form: SignupForm, ip: str | None
) -> EmailMessage | None:
    """Handle a sign-up; returns the confirmation mail to send, or None (nothing to send).

    The caller answers the same page either way, so the response says nothing about whether
    the address is known. Raises RateLimited (-> 429) and UsageError (bad form -> 400).
    """
    from digest.subscribers import manage as people

    service = config.service
    with eager_transaction(db):
        too_many_ip = over_limit(
            db, key, "ip", ip or "-", service.subscribe_per_ip_per_minute, "minute"
        )
    if too_many_ip:
        raise RateLimited("too many sign-ups from this address; try again in a minute")
    if form.honeypot.strip():
        return None  # a bot filled the hidden field: same answer, nothing stored
    with blame("email"):
        email = fields.normalise_email(form.email)  # UsageError on a malformed address
    if form.frequency not in ("daily", "weekly"):
        raise FieldError("frequency", "frequency must be daily or weekly")
    with eager_transaction(db):  # its own transaction: the hit must count even when we refuse
        too_many = over_limit(
            db, key, "addr", email, service.confirm_mails_per_address_per_day, "day"
        )
    if too_many:
        raise RateLimited("too many confirmation mails for this address today")
    with eager_transaction(db):
        if service_store.forget_unconfirmed_sign_ups(db):
            log.info("forgot sign-ups never confirmed")
        choices = _choices(db, form)
        _dry_run(db, choices)  # every form gets the same checks and work: no tell-tale
        existing = people.get_subscriber_by_email(db, email)
        if existing is not None and existing.status not in RESEND_STATUSES:
            return _already_subscribed(db, config, existing, ip)
        # a new address gets a bare pending row; the choices wait with the token (confirm)
        subscriber = existing or people.add_subscriber(db, email, status="pending", source="web")
        token = secrets.token_urlsafe(32)
        service_store.insert_confirm_token(
            db, subscriber.id, token, service.confirm_token_days, choices
        )
        detail = "new" if existing is None else "re-sent confirmation"
        record_consent(db, config, subscriber.id, "subscribe", "web", ip, detail)
    return confirmation_email(config, subscriber.email, token, choices)


def _already_subscribed(db, config: Config, existing: Subscriber, ip: str | None):
    """A subscribed address used the sign-up form: it gets its preferences link, and nothing
    else changes until someone opens it (the form's choices are not applied). Bounced and
    complained addresses get nothing: we never mail them."""
    mailable = existing.status in LINK_STATUSES and existing.manage_token
    detail = f"already {existing.status}: " + (
        "preferences link sent" if mailable else "nothing sent"
    )
    record_consent(db, config, existing.id, "subscribe", "web", ip, detail)
    if not mailable:
        return None
    return preferences_link_email(
        config, existing.email, existing.manage_token or "", signed_up_again=True
    )


def _choices(db, form: SignupForm) -> dict:
    """What the form asks for, as stored with its confirmation token (topic ids become names)."""
    with blame("topics"):
        topics = curated_topic_names(db, form.topics)
    return {
        "frequency": form.frequency,
        "topics": topics,
        "own_topic": _one_line(form.own_topic)[:500],
        "authors": [_archive_spelling(db, name) for name in form.authors[:5]],
    }


def _archive_spelling(db, author: str) -> str:
    """A followed author as the archive spells them (the confirmation mail names them so);
    one the archive does not know stays as typed, and the dry run refuses it by its field."""
    from digest.topics.catalog import resolve_author

    try:
        return resolve_author(db, author)
    except UsageError:
        return author


def _apply_choices(db, subscriber_id: int, choices: dict) -> None:
    """At confirmation, the confirmed sign-up starts afresh: its topics, own topic, authors and
    frequency replace the old ones (feedback, their taste, stays). Checked at sign-up; a
    curated topic removed since then is skipped, an author is followed as written."""
    from digest.store import topics as topic_store
    from digest.subscribers import manage as people
    from digest.topics import catalog as topic_logic

    weekly = choices["frequency"] == "weekly"
    people.update_subscriber(
        db, subscriber_id, frequency=choices["frequency"], weekday="mon" if weekly else None
    )
    names = [n for n in choices["topics"] if topic_store.get_topic(db, n, kind="curated")]
    topic_logic.set_subscriber_topics(db, subscriber_id, names)
    for topic in topic_store.list_topics(db, kind="personal", owner_id=subscriber_id):
        if not topic_logic.is_author_follow(topic) and topic.id is not None:
            topic_store.delete_topic(db, topic.id)
    if choices["own_topic"]:
        topic_logic.add_personal_topic(db, subscriber_id, text=choices["own_topic"])
    topic_logic.set_followed_authors(db, subscriber_id, choices["authors"], must_exist=False)


class _DryRun(Exception):
    pass


def _dry_run(db, choices: dict) -> None:
    """Add the choices as a new subscriber inside a savepoint that is always rolled back: the
    form is checked before anything is stored, and a known address gets exactly the errors
    (and roughly the time) a new one would. A refusal names the field it came from."""
    try:
        _dry_add(db, choices)
    except UsageError as exc:
        raise FieldError(_refused_field(db, choices), str(exc)) from None


def _refused_field(db, choices: dict) -> str:
    """Which one choice the checks refuse on its own ("" if only their mix is refused)."""
    alone = {"topics": [], "own_topic": "", "authors": []}
    for name, form_field in (
        ("topics", "topics"),
        ("own_topic", "own_topic"),
        ("authors", "author"),
    ):
        try:
            _dry_add(db, {**choices, **alone, name: choices[name]})
        except UsageError:
            return form_field
    return ""


def _dry_add(db, choices: dict) -> None:
    from digest.subscribers import manage as people

    try:
        with transaction(db):
            people.add_subscriber(
                db,
                f"dry-run-{secrets.token_hex(8)}@example.invalid",
                status="pending",
                frequency=choices["frequency"],
                weekday=0 if choices["frequency"] == "weekly" else None,
                source="web",
                topics=choices["topics"],
                text=choices["own_topic"],
                authors=choices["authors"],
            )
            raise _DryRun
    except _DryRun:
        pass


def find_confirm_token(db, token: str) -> dict | None:
    """The usable token's row, or None (unknown, used or expired)."""
    if not token_format_ok(token):
        return None
    row = service_store.find_confirm_token(db, token)
    if row is None or not service_store.confirm_token_usable(row):
        return None
    return row


def confirm_token_address(db, token: str) -> str | None:
    """The address a usable confirmation link would confirm (shown on its page), else None."""
    from digest.store import subscribers as subscriber_store

    row = find_confirm_token(db, token)
    subscriber = subscriber_store.get_subscriber(db, row["subscriber_id"]) if row else None
    return subscriber.email if subscriber is not None else None


def already_confirmed(db, token: str) -> bool:
    """True when this confirmation token was used and its subscriber is active."""
    from digest.store import subscribers as subscriber_store

    row = service_store.find_confirm_token(db, token) if token_format_ok(token) else None
    if row is None or row["used_at"] is None:
        return False
    subscriber = subscriber_store.get_subscriber(db, row["subscriber_id"])
    return subscriber is not None and subscriber.status == "active"


def confirm(db, config: Config, token: str, ip: str | None) -> Subscriber | None:
    """Use a confirmation token: its sign-up's choices are applied and the subscriber becomes
    active, in one transaction. None when the token is no good."""
    from digest.store import subscribers as subscriber_store

    with eager_transaction(db):
        row = find_confirm_token(db, token)
        if row is None or not service_store.use_confirm_token(db, row["id"]):
            return None
        subscriber = subscriber_store.get_subscriber(db, row["subscriber_id"])
        if subscriber is None or subscriber.status in ("bounced", "complained"):
            return None
        choices = service_store.confirm_token_choices(row)
        if choices is not None:  # None: a link from before choices waited with the token
            _apply_choices(db, subscriber.id, choices)
        service_store.supersede_confirm_tokens(db, subscriber.id)
        subscriber = subscriber_store.set_status(db, subscriber.id, "active")
        record_consent(db, config, subscriber.id, "confirm", "web", ip)
    return subscriber


# ------------------------------------------------------------------ token-link pages
def subscriber_for_token(db, token: str) -> Subscriber | None:
    """The subscriber whose manage token this is (shape-checked; the store checks the MAC in
    constant time, or finds a token from before by its keyed hash)."""
    from digest.store import subscribers as subscriber_store

    if not token_format_ok(token):
        return None
    return subscriber_store.get_subscriber_by_token(db, token)


def unsubscribe(db, config: Config, subscriber: Subscriber, source: str, ip: str | None) -> None:
    """Suppress at once (idempotent); bounced/complained stay as they are."""
    from digest.store import subscribers as subscriber_store

    with eager_transaction(db):
        current = subscriber_store.get_subscriber(db, subscriber.id)
        if current is None or current.status not in ("active", "pending"):
            return
        subscriber_store.set_status(db, subscriber.id, "unsubscribed")
        record_consent(db, config, subscriber.id, "unsubscribe", source, ip)


def record_consent(
    db,
    config: Config,
    subscriber_id: int | None,
    event: str,
    source: str,
    ip: str | None,
    detail: str = "",
) -> None:
    """One consent-log row for a web action; the IP only when [service].record_ip is on."""
    service_store.add_consent(
        db,
        subscriber_id,
        event,
        source,
        config.service.consent_text_version,
        ip=ip if config.service.record_ip else None,
        detail=detail,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def feedback_paper(db, paper_id: str):
    """The stored paper a feedback link names (any spelling of an arXiv id), or None."""
    from digest.store.feedback import normalise_paper_id
    from digest.store.papers import get_paper

    try:
        return get_paper(db, normalise_paper_id(paper_id))
    except UnicodeEncodeError:  # a lone surrogate SQLite cannot take: no such paper
        return None


def record_feedback(db, subscriber: Subscriber, paper_id: str, kind: str) -> str | None:
    """Record like/dislike/click; returns the stored paper id, or None for an unknown paper."""
    from digest.store import feedback as feedback_store

    try:
        with eager_transaction(db):
            return feedback_store.add_feedback(db, subscriber.id, paper_id, kind, source="email")
    except UsageError:
        return None
