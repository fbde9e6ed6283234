"""The demo's reader who takes her TL;DR lines in another language (German). The demo stays
offline, so with the default extractive backend her lines are the abstract sentence that matched
her; with `[summaries].backend = "openai"` they would be written in German."""

from __future__ import annotations

from collections.abc import Iterator

DEMO_READER = ("lena@example.org", "Lena", ("LLM agents", "Retrieval & RAG"), "de")


def add_demo_reader(db) -> Iterator[str]:
    """Adds her once (a re-run of the demo changes nothing)."""
    from digest.models import LANGUAGES
    from digest.store.subscribers import get_subscriber_by_email
    from digest.subscribers.manage import add_subscriber, update_subscriber

    email, name, topics, language = DEMO_READER
    if get_subscriber_by_email(db, email) is not None:
        return
    added = add_subscriber(db, email, name=name, status="active", topics=topics)
    update_subscriber(db, added.id, language=language)
    yield (
        f"added sample subscriber {email} ({', '.join(topics)}; "
        f"TL;DR lines in {LANGUAGES[language]})"
    )


def lead_count(report) -> str:
    """A few words for the demo's line of a day: the lead lines the summaries step made ("" when
    every email of the day went out earlier)."""
    if not report.cards:
        return ""
    if report.backend == "openai":
        return f"{report.llm_leads} TL;DR and {report.extractive_leads} extractive lead lines"
    return f"{report.extractive_leads} lead lines"
