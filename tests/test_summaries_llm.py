"""The TL;DR client against a loopback chat-completions server: ok, 429 with Retry-After, 500,
a hang, a reply with <script>, an empty reply; and the run budget (papers in flight at the
deadline are given up, not waited for)."""

from __future__ import annotations

import time

import pytest

from digest.config import SummariesConfig
from digest.summaries.cleaning import clean_tldr, strip_markup
from digest.summaries.llm import ChatSummariser, SummaryJob, chat_request, summarise_all
from tests.chat_server import DEFAULT, chat_server

JOB = SummaryJob(
    key="h1",
    title="Graph neural networks at scale",
    abstract="We study graphs. We find things.",
    language="de",
)


def settings(base_url: str, **overrides) -> SummariesConfig:
    values = {
        "backend": "openai",
        "model": "test-model",
        "base_url": base_url,
        "timeout_seconds": 5.0,
        "max_retries": 2,
        "concurrency": 2,
    } | overrides
    return SummariesConfig(**values)


def summariser(base_url: str, waits: list[float], budget: float = 60.0, **overrides):
    return ChatSummariser(
        settings(base_url, **overrides),
        "sk-test",
        deadline=time.monotonic() + budget,
        sleep=waits.append,  # the waits the client chose, without spending them
    )


def test_ok_reply_is_the_tldr_and_the_request_speaks_the_wire_format():
    with chat_server() as (server, url):
        client = summariser(url, [])
        result = client.summarise(JOB)
        client.close()
    assert result.tldr == DEFAULT and result.error is None and result.attempts == 1
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "test-model" and body["stream"] is False
    assert "German" in body["messages"][0]["content"]
    assert body["messages"][1]["content"].startswith("Title: Graph neural networks at scale")


def test_429_waits_as_long_as_retry_after_says_then_succeeds():
    waits: list[float] = []
    with chat_server() as (server, url):
        server.reply(("status", 429, {"Retry-After": "7"}), ("ok", "Kurz gesagt. Gut."))
        client = summariser(url, waits)
        result = client.summarise(JOB)
        client.close()
    assert result.tldr == "Kurz gesagt. Gut." and result.attempts == 2
    assert waits == [7.0]


def test_500_is_retried_with_backoff_and_fails_after_the_last_retry():
    waits: list[float] = []
    with chat_server() as (server, url):
        server.reply(*[("status", 500)] * 3)
        client = summariser(url, waits, max_retries=2)
        result = client.summarise(JOB)
        client.close()
    assert result.tldr is None and result.attempts == 3
    assert "HTTP 500" in (result.error or "")
    assert waits == [1.0, 2.0]
    assert len(server.requests) == 3


def test_a_retry_after_past_the_budget_fails_at_once_instead_of_waiting():
    waits: list[float] = []
    with chat_server() as (server, url):
        server.reply(("status", 503, {"Retry-After": "3600"}))
        client = summariser(url, waits, budget=30.0)
        result = client.summarise(JOB)
        client.close()
    assert result.tldr is None and "budget" in (result.error or "")
    assert waits == [] and len(server.requests) == 1


def test_a_hang_ends_at_the_request_timeout():
    with chat_server() as (server, url):
        server.reply(("hang", 3.0))
        client = summariser(url, [], timeout_seconds=0.5)
        result = client.summarise(JOB)
        client.close()
    assert result.tldr is None and "no answer within" in (result.error or "")


def test_script_in_the_reply_is_stripped_to_text():
    with chat_server() as (server, url):
        server.reply(
            ("ok", "<script>alert('x')</script>**Wir** zeigen <b>X</b>. Es [hilft](http://a.b).")
        )
        client = summariser(url, [])
        result = client.summarise(JOB)
        client.close()
    assert result.tldr == "Wir zeigen X. Es hilft."
    assert "<" not in (result.tldr or "") and "alert" not in (result.tldr or "")


@pytest.mark.parametrize(
    "reply",
    [("empty",), ("ok", "<script>only markup</script>"), ("raw", '{"choices": []}'), ("raw", "x")],
)
def test_an_empty_or_unusable_reply_is_a_failure(reply):
    with chat_server() as (server, url):
        server.reply(reply)
        client = summariser(url, [])
        result = client.summarise(JOB)
        client.close()
    assert result.tldr is None and result.error


def test_the_run_budget_gives_up_on_requests_in_flight_instead_of_waiting():
    jobs = [SummaryJob(f"h{i}", f"Title {i}", "An abstract.", "en") for i in range(6)]
    with chat_server() as (server, url):
        server.reply(("ok", "One. Two."), ("hang", 4.0), ("hang", 4.0))
        client = summariser(url, [], budget=1.0, concurrency=1, timeout_seconds=10.0)
        results, unfinished = summarise_all(client, jobs, concurrency=1)
        client.close()
    done = {r.job.key for r in results if r.tldr}
    assert done == {"h0"}
    # the hung request was abandoned at the deadline; the rest were never started
    assert {j.key for j in unfinished} | {r.job.key for r in results} == {j.key for j in jobs}
    assert len(server.requests) <= 3


def test_cleaning_cuts_at_a_word_and_drops_preambles_and_reasoning():
    text = "TL;DR: " + "word " * 200
    cleaned = clean_tldr(text, 60)
    assert len(cleaned) <= 60 and cleaned.endswith("…") and not cleaned.startswith("TL;DR")
    assert strip_markup("<think>secret plan</think>Answer.") == "Answer."
    assert strip_markup("&lt;img src=x onerror=alert(1)&gt;Hi") == "Hi"
    assert strip_markup("# Title\n- one\n- two") == "Title one two"


def test_the_request_cuts_a_huge_abstract():
    job = SummaryJob("h", "T", "a" * 50_000, "zh")
    body = chat_request(job, "m")
    assert len(body["messages"][1]["content"]) <= 6000
    assert "Simplified Chinese" in body["messages"][0]["content"]
