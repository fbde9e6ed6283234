"""The summaries step on the recorded sample day with the real embedding model: extractive lead
lines, a reader in German with a loopback chat-completions server, the cache on a re-run,
failures falling back, and the email that shows the lines and the badges."""

from __future__ import annotations

import dataclasses
import email
from datetime import date

import pytest

from digest.config import SummariesConfig
from digest.ingest.badging import save_from
from digest.mail.sending import send_issue
from digest.models import Paper
from digest.rank import planning
from digest.store import summaries as summary_store
from digest.store.papers import get_paper
from digest.subscribers.manage import add_subscriber, update_subscriber
from digest.summaries.sentences import split_sentences
from digest.summaries.stage import summarise_issue
from digest.topics.catalog import add_personal_topic
from tests.chat_server import chat_server

DAY = date(2025, 8, 20)
PIANO = "2508.13161"  # "Piano: A Multi-Constraint Pin Assignment-Aware Floorplanner"


@pytest.fixture
def reader(sample_db):
    sub = add_subscriber(sample_db, "leser@example.org", status="active")
    update_subscriber(sample_db, sub.id, language="de")
    add_personal_topic(
        sample_db, sub.id, "pin assignment aware floorplanning for chip placement", name="Chips"
    )
    return sub


def with_summaries(config, **values):
    return dataclasses.replace(config, summaries=SummariesConfig(**values))


def test_extractive_leads_come_from_the_abstract_and_sentence_vectors_are_cached(
    sample_db, sample_config, reader
):
    planning.plan_all(sample_db, sample_config, DAY)
    first = summarise_issue(sample_db, sample_config, DAY)
    assert first.subscribers == 1 and first.cards >= 1
    assert first.extractive_leads == first.cards and first.llm_leads == 0
    assert first.sentences_embedded > 0
    leads = summary_store.leads_for(sample_db, reader.id, DAY)
    line, source = leads[PIANO]
    assert source == "extractive"
    sentences = split_sentences(get_paper(sample_db, PIANO).abstract)
    assert line in sentences  # one of its own sentences, whole
    assert "pin" in line.lower() or "floorplan" in line.lower()  # the one about the topic
    again = summarise_issue(sample_db, sample_config, DAY)
    assert again.sentences_embedded == 0 and again.sentences_cached == first.sentences_embedded
    assert summary_store.leads_for(sample_db, reader.id, DAY) == leads


def test_a_reader_in_german_gets_model_tldrs_once_then_from_the_cache(
    sample_db, sample_config, reader
):
    planning.plan_all(sample_db, sample_config, DAY)
    with chat_server() as (server, url):
        server.default = ("ok", "Die Arbeit stellt Piano vor. Es ist schneller.")
        config = with_summaries(sample_config, backend="openai", model="m", base_url=url)
        first = summarise_issue(sample_db, config, DAY)
        asked = len(server.requests)
        second = summarise_issue(sample_db, config, DAY)
        assert len(server.requests) == asked  # nothing asked twice
    assert first.llm_new == first.papers == asked and first.llm_cache_hits == 0
    assert second.llm_cache_hits == first.papers and second.llm_new == 0
    assert second.llm_leads == second.cards
    assert all("German" in r["body"]["messages"][0]["content"] for r in server.requests)
    line, source = summary_store.leads_for(sample_db, reader.id, DAY)[PIANO]
    assert (line, source) == ("Die Arbeit stellt Piano vor. Es ist schneller.", "llm")


def test_failures_and_the_paper_budget_fall_back_to_the_extractive_line_and_are_counted(
    sample_db, sample_config, reader
):
    planning.plan_all(sample_db, sample_config, DAY)
    with chat_server() as (server, url):
        server.default = ("status", 500)
        config = with_summaries(
            sample_config, backend="openai", model="m", base_url=url, max_retries=0
        )
        failed = summarise_issue(sample_db, config, DAY)
        budget = with_summaries(
            sample_config, backend="openai", model="m", base_url=url, max_papers_per_run=0
        )
        asked = len(server.requests)
        skipped = summarise_issue(sample_db, budget, DAY)
        assert len(server.requests) == asked
    assert failed.llm_failed == failed.papers and failed.llm_new == 0
    assert failed.extractive_leads == failed.cards and "HTTP 500" in failed.errors[0]
    assert skipped.llm_over_budget == skipped.papers and skipped.extractive_leads == skipped.cards
    assert summary_store.leads_for(sample_db, reader.id, DAY)[PIANO][1] == "extractive"


def test_the_email_shows_the_tldr_and_the_badges_and_never_the_models_markup(
    sample_db, sample_config, reader
):
    piano = get_paper(sample_db, PIANO)
    save_from(
        sample_db,
        [
            Paper(
                id=PIANO,
                title=piano.title,
                abstract=piano.abstract,
                comments="Accepted at ICCAD 2025. Code: https://github.com/example/piano",
            )
        ],
    )
    planning.plan_all(sample_db, sample_config, DAY)
    with chat_server() as (server, url):
        server.default = ("ok", "<script>alert(1)</script>Piano platziert Pins. Es ist gut.")
        config = with_summaries(sample_config, backend="openai", model="m", base_url=url)
        summarise_issue(sample_db, config, DAY)
    report = send_issue(sample_db, config, DAY, force=True)
    assert report.sent == 1
    (path,) = (config.path(config.mail.outbox_dir) / DAY.isoformat()).glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Piano platziert Pins. Es ist gut." in html and "alert" not in html
    assert "<script" not in html.lower()
    assert "TL;DR: Piano platziert Pins." in text
    assert "ICCAD 2025" in html and 'href="https://github.com/example/piano"' in html
    assert "GitHub: https://github.com/example/piano" in text
