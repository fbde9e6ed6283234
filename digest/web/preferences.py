"""The subscriber's preferences page: what the form shows, saving it, export and deletion.

Called by digest/web.py in a worker thread; each write is one transaction with a consent row.
"""

from __future__ import annotations

import logging

from digest.config import Config
from digest.models import LANGUAGES, Subscriber
from digest.store import service as service_store
from digest.store.service import eager_transaction
from digest.subscribers import fields
from digest.web.actions import FieldError, _one_line, blame, curated_topic_names, record_consent
from digest.web.plumbing import whole_number

log = logging.getLogger("digest.web")
MAX_OWN_TOPICS = 10
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_VALUES = frozenset([*WEEKDAYS, *"0123456"])


def own_topic_line(topic) -> str:
    """How an own topic appears in the preferences textarea: one line per topic."""
    return _one_line(topic.description or topic.name)


def preferences_view(db, subscriber: Subscriber, typed: dict | None = None) -> dict:
    """What the preferences form shows: followed curated topics, own topics and authors (one
    per line), from the store, or as `typed` in a refused form so nothing typed is lost."""
    from digest.store import topics as topic_store
    from digest.topics.catalog import followed_authors, is_author_follow

    if typed is not None:
        return {
            "followed": set(typed["topics"]),
            "own_topics": typed["own_topics"],
            "authors": typed["authors"],
            "settings": typed["settings"],
            "languages": LANGUAGES,
        }
    curated = topic_store.topics_for_subscriber(db, subscriber.id)
    own = topic_store.list_topics(db, kind="personal", owner_id=subscriber.id)
    return {
        "followed": {t.name for t in curated if t.kind == "curated"},
        "own_topics": "\n".join(own_topic_line(t) for t in own if not is_author_follow(t)),
        "authors": "\n".join(followed_authors(db, subscriber.id)),
        "settings": stored_settings(subscriber),
        "languages": LANGUAGES,
    }


def follows_nothing(db, subscriber_id: int) -> bool:
    """No curated topic, own topic or followed author: no paper can qualify, no digest comes."""
    from digest.store import topics as topic_store

    return not topic_store.topics_for_subscriber(db, subscriber_id)


def stored_settings(subscriber: Subscriber) -> dict[str, str]:
    """The schedule fields of the form as text, the way a submitted form holds them."""
    weekday = subscriber.weekday
    return {
        "frequency": subscriber.frequency,
        "weekday": WEEKDAYS[weekday] if weekday is not None and 0 <= weekday < 7 else "",
        "max_papers": str(subscriber.max_papers),
        "timezone": subscriber.timezone,
        "send_hour": "" if subscriber.send_hour is None else str(subscriber.send_hour),
        "language": subscriber.language,
    }


def update_preferences(
    db,
    config: Config,
    subscriber: Subscriber,
    *,
    topics: list[str],
    own_topics: list[str],
    frequency: str,
    weekday: str | None,
    max_papers: int,
    timezone: str,
    ip: str | None,
    send_hour: int | None = None,
    authors: list[str] | None = None,
    language: str | None = None,
) -> Subscriber:
    """Apply the preferences form in one transaction (UsageError names a bad value).
    `authors` None leaves followed authors as they are."""
    from digest.store import topics as topic_store
    from digest.subscribers import manage as people
    from digest.topics import catalog as topic_logic

    if frequency not in ("daily", "weekly"):
        raise FieldError("frequency", "frequency must be daily or weekly")
    if weekday is not None and weekday.strip().lower() not in WEEKDAY_VALUES:
        raise FieldError(
            "weekday",
            f"weekday must be one of mon, tue, wed, thu, fri, sat, sun, got {weekday[:20]!r}",
        )
    wanted = [_one_line(text) for text in own_topics if text.strip()]
    if len(wanted) > MAX_OWN_TOPICS:  # refused, never silently cut: nothing is lost unseen
        raise FieldError("own_topics", f"at most {MAX_OWN_TOPICS} own topics, got {len(wanted)}")
    too_long = [text for text in wanted if len(text) > 500]
    if too_long:
        raise FieldError(
            "own_topics", f"an own topic can be 500 characters long: {too_long[0][:40]!r}…"
        )
    with blame("timezone"):  # checked here too, to show the error next to its field
        fields.check_timezone(timezone)
    with blame("max_papers"):
        fields.check_max_papers(max_papers)
    with blame("language"):
        language = fields.check_language(language or subscriber.language)
    with eager_transaction(db):
        updated = people.update_subscriber(
            db,
            subscriber.id,
            frequency=frequency,
            weekday=(weekday or "mon") if frequency == "weekly" else None,
            max_papers=max_papers,
            timezone=timezone,
            send_hour=send_hour,
            language=language,
        )
        with blame("topics"):
            topic_logic.set_subscriber_topics(db, subscriber.id, curated_topic_names(db, topics))
        current = topic_store.list_topics(db, kind="personal", owner_id=subscriber.id)
        current = [t for t in current if not topic_logic.is_author_follow(t)]
        # Compared as the page shows them (description, else name, on one line), so a save
        # that changes nothing keeps every topic with its keywords, seeds and threshold.
        for topic in current:
            if own_topic_line(topic) not in wanted and topic.id is not None:
                topic_store.delete_topic(db, topic.id)
        kept = {own_topic_line(t) for t in current}
        with blame("own_topics"):
            for text in dict.fromkeys(wanted):
                if text not in kept:
                    topic_logic.add_personal_topic(db, subscriber.id, text=text)
        if authors is not None:
            with blame("authors"):
                topic_logic.set_followed_authors(db, subscriber.id, authors)
        record_consent(db, config, subscriber.id, "preferences", "web", ip)
        added = [text for text in dict.fromkeys(wanted) if text not in kept]
    embed_descriptions(db, config, added)
    return updated


def embed_descriptions(db, config: Config, texts: list[str]) -> None:
    """Embed new own topics as they are saved (tens of ms: the encoder stays loaded between
    requests), so previews and the next digest find the vector cached. A failure only leaves
    the work to the daily run; the saved preferences stand."""
    from digest.rank.planning import text_vector

    for text in texts:
        try:
            text_vector(db, config, text)
        except Exception:  # the model is an optimisation here, never a reason to lose a save
            log.warning("could not embed an own topic now; the daily run will", exc_info=True)


def preload_encoder(config: Config) -> None:
    """Load the embedding model in the background at start-up, once per process, so the first
    preferences save does not wait for it."""
    import threading

    from digest.embed.encoder import get_encoder

    def load() -> None:
        try:
            get_encoder(config.embedding)
        except Exception:
            log.warning("could not load the embedding model at start-up", exc_info=True)

    # Not a daemon: a process that exits while onnxruntime is still loading would abort
    # ("terminate called without an active exception"); exit waits for the load instead.
    threading.Thread(target=load, name="digest-embedding-preload", daemon=False).start()


def save_form(db, config: Config, subscriber: Subscriber, form, ip: str | None) -> Subscriber:
    """Save the submitted preferences form (a Starlette FormData); FieldError names the field."""
    with blame("max_papers"):
        max_papers = whole_number(
            "max papers", str(form.get("max_papers", "")), subscriber.max_papers
        )
    with blame("send_hour"):
        send_hour = whole_number("send hour", str(form.get("send_hour", "")), None)
    return update_preferences(
        db,
        config,
        subscriber,
        topics=[str(t) for t in form.getlist("topics")],
        own_topics=str(form.get("own_topics", "")).splitlines(),
        frequency=str(form.get("frequency", "daily")),
        weekday=str(form.get("weekday", "")) or None,
        max_papers=max_papers or 0,
        timezone=str(form.get("timezone", "UTC")),
        send_hour=send_hour,
        authors=str(form.get("authors", "")).splitlines(),
        ip=ip,
        language=str(form.get("language", "")) or None,
    )


def typed_form(form) -> dict:
    """A refused form as typed, for preferences_view: nothing typed is lost to one error."""
    return {
        "topics": [str(t) for t in form.getlist("topics")],
        "own_topics": str(form.get("own_topics", "")),
        "authors": str(form.get("authors", "")),
        "settings": {
            name: str(form.get(name, ""))
            for name in ("frequency", "weekday", "max_papers", "timezone", "send_hour", "language")
        },
    }


def export_data(db, subscriber: Subscriber) -> dict:
    """Everything we hold about this person, as JSON-able data."""
    from digest.store import feedback as feedback_store
    from digest.subscribers import manage as people

    return {
        "subscriber": people.subscriber_details(db, subscriber),
        "feedback": feedback_store.feedback_events(db, subscriber.id, limit=10_000),
        "consents": service_store.consents_for(db, subscriber.id),
    }


STATUS_CHANGES = {  # the button -> (the statuses it applies to, the status it sets)
    "pause": (("active",), "paused"),
    "resume": (("paused",), "active"),
    "unsubscribe": (("active", "paused", "pending"), "unsubscribed"),
}


def change_status(
    db, config: Config, subscriber: Subscriber, change: str, ip: str | None
) -> Subscriber:
    """Pause, resume or unsubscribe from the preferences page, with a consent row. A button
    pressed twice (or on a stale page) changes nothing; bounced and complained stay so."""
    from digest.store import subscribers as subscriber_store

    applies_to, target = STATUS_CHANGES[change]
    with eager_transaction(db):
        current = subscriber_store.get_subscriber(db, subscriber.id)
        if current is None or current.status not in applies_to:
            return current or subscriber
        updated = subscriber_store.set_status(db, subscriber.id, target)
        record_consent(db, config, subscriber.id, change, "web", ip)
    return updated


def delete_subscriber(db, config: Config, subscriber: Subscriber, ip: str | None) -> None:
    """Erase the person; the consent log keeps an anonymous 'delete' row as evidence."""
    from digest.store import subscribers as subscriber_store

    with eager_transaction(db):
        subscriber_store.delete_subscriber(db, subscriber.id)
        record_consent(db, config, None, "delete", "web", ip)
