"""TL;DRs from any OpenAI-compatible chat-completions endpoint (Ollama, llama.cpp, vLLM, hosted).

Every network call of the summaries stage is here, each with a timeout no longer than what is
left of the run's budget. 429 and 5xx are retried (Retry-After honoured when it fits in the
budget, else the paper fails at once); a hang ends at the timeout; an empty or markup-only reply
is a failure. Failures are returned, never raised: the caller shows the extractive line instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx

from digest.config import SummariesConfig
from digest.ingest.http import parse_retry_after
from digest.models import LANGUAGES
from digest.summaries.cleaning import clean_tldr

API_KEY_ENV = "DIGEST_LLM_API_KEY"
RETRYABLE = frozenset({429, 500, 502, 503, 504})
BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0)
MAX_INPUT_CHARS = 6000  # title + abstract sent; a longer abstract is cut
SYSTEM_PROMPT = (
    "You write TL;DRs of research papers for a daily newsletter. Answer with exactly two short "
    "sentences in {language} (at most 60 words in all): what the paper does, and its main "
    "result. Plain text only: no Markdown, no lists, no HTML, no title, no preamble."
)


@dataclass(frozen=True)
class SummaryJob:
    key: str  # the caller's key (content hash)
    title: str
    abstract: str
    language: str  # a code of LANGUAGES


@dataclass(frozen=True)
class SummaryResult:
    job: SummaryJob
    tldr: str | None  # None: failed, see error
    error: str | None = None
    attempts: int = 0


class SummaryFailed(Exception):
    """One paper could not be summarised (the message says why, in words)."""


def chat_request(job: SummaryJob, model: str) -> dict:
    """The chat-completions request body for one paper (pure)."""
    language = LANGUAGES.get(job.language, "English")
    text = f"Title: {' '.join(job.title.split())}\n\nAbstract: {' '.join(job.abstract.split())}"
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT.format(language=language)},
            {"role": "user", "content": text[:MAX_INPUT_CHARS]},
        ],
        "temperature": 0.2,
        "max_tokens": 300,
        "stream": False,
    }


def reply_text(body: object) -> str:
    """The assistant's text from a chat-completions response body; SummaryFailed if none."""
    try:
        content = body["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        raise SummaryFailed("the reply has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise SummaryFailed("the reply's content is not text")
    return content


class ChatSummariser:
    """One endpoint, one connection pool, one deadline (time.monotonic() seconds)."""

    def __init__(
        self,
        config: SummariesConfig,
        api_key: str | None,
        deadline: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.deadline = deadline
        self.sleep = sleep
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(headers=headers, follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def summarise(self, job: SummaryJob) -> SummaryResult:
        """One paper's TL;DR, with retries; a failure is a result with its reason."""
        attempt = 0
        try:
            while True:
                attempt += 1
                outcome = self._attempt(job, attempt)
                if isinstance(outcome, str):
                    return SummaryResult(job, outcome, None, attempt)
                wait_for, why = outcome
                if attempt > self.config.max_retries:
                    raise SummaryFailed(f"{why}, still after {attempt} attempts")
                if wait_for >= self.left():
                    raise SummaryFailed(f"{why}: waiting {wait_for:g} s would pass the budget")
                self.sleep(wait_for)
        except SummaryFailed as exc:
            return SummaryResult(job, None, str(exc), attempt)

    def _attempt(self, job: SummaryJob, attempt: int) -> str | tuple[float, str]:
        """The TL;DR, or (seconds to wait, why) before a retry; SummaryFailed when hopeless."""
        budget = min(self.config.timeout_seconds, self.left())
        if budget <= 0.05:
            raise SummaryFailed("the run's summary budget ran out")
        try:
            response = self.client.post(
                self.url, json=chat_request(job, self.config.model), timeout=budget
            )
        except httpx.TimeoutException:
            raise SummaryFailed(f"no answer within {budget:.0f} s") from None
        except httpx.HTTPError as exc:
            return _backoff(None, attempt), f"{type(exc).__name__}: {exc}"
        if response.status_code in RETRYABLE:
            return _backoff(response, attempt), f"HTTP {response.status_code}"
        if response.status_code != 200:
            raise SummaryFailed(f"HTTP {response.status_code}: {response.text[:120]}")
        try:
            body = response.json()
        except ValueError:
            raise SummaryFailed("the reply is not JSON") from None
        tldr = clean_tldr(reply_text(body), self.config.max_chars)
        if not tldr:
            raise SummaryFailed("the reply was empty (or only markup)")
        return tldr


def _backoff(response: httpx.Response | None, attempt: int) -> float:
    """The server's Retry-After when it gives one, else 1, 2, 4, 8 s."""
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if response else None
    if retry_after is not None:
        return retry_after
    return BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)]


def summarise_all(
    summariser: ChatSummariser, jobs: Sequence[SummaryJob], concurrency: int
) -> tuple[list[SummaryResult], list[SummaryJob]]:
    """Run jobs `concurrency` at a time until done or the deadline: (results, jobs not started
    or still running at the deadline). Never waits past the deadline: a request in flight then
    is abandoned (its own timeout ends it) and its paper counted as not done."""
    results: list[SummaryResult] = []
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="tldr")
    pending: dict[Future, SummaryJob] = {}
    queue = list(jobs)
    try:
        while queue or pending:
            while queue and len(pending) < concurrency and summariser.left() > 0:
                job = queue.pop(0)
                pending[pool.submit(summariser.summarise, job)] = job
            if not pending:
                break
            done, _ = wait(
                pending, timeout=max(0.0, summariser.left()), return_when=FIRST_COMPLETED
            )
            if not done:  # the deadline passed with requests in flight
                break
            for future in done:
                pending.pop(future)
                results.append(future.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results, [*pending.values(), *queue]
