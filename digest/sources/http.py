"""Polite HTTP fetching for arXiv: one connection, spaced requests, timeouts, backoff.

arXiv's terms ask for at most one request every 3 seconds over a single connection, and its
API answers 429/503 under load (often without Retry-After). Every network call to arXiv goes
through one `PoliteFetcher`, so the spacing holds across feeds, API pages and retries.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from digest.config import ArxivConfig
from digest.errors import FetchError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class FetchedResponse:
    """The bytes and facts of one successful response."""

    status: int
    body: bytes
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers)
    url: str  # the final URL, query string included


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, delta)


class PoliteFetcher:
    """GETs with process-wide spacing, a timeout on each request and jittered retries.

    `sleep`, `clock` and `jitter` are injectable so tests can observe the waits; by default
    they are `time.sleep`, `time.monotonic` and `random.random`.
    """

    def __init__(
        self,
        cfg: ArxivConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        backoff_base_seconds: float | None = None,
        backoff_cap_seconds: float = 120.0,
        max_retry_after_seconds: float = 600.0,
    ) -> None:
        self.delay = max(0.0, cfg.request_delay_seconds)
        self.timeout = cfg.timeout_seconds
        self.max_retries = max(0, cfg.max_retries)
        self.backoff_base = (
            backoff_base_seconds if backoff_base_seconds is not None else (self.delay or 1.0)
        )
        self.backoff_cap = backoff_cap_seconds
        self.max_retry_after = max_retry_after_seconds
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._last_start: float | None = None
        self.requests_made = 0
        self._client = httpx.Client(
            headers={"User-Agent": cfg.user_agent},
            timeout=httpx.Timeout(cfg.timeout_seconds),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            follow_redirects=True,
        )

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteFetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ requests

    def get(
        self,
        url: str,
        params: Mapping[str, str | int] | None = None,
        ok_statuses: Collection[int] = (200,),
    ) -> FetchedResponse:
        """GET `url`; retry 429/5xx/timeouts/connection errors; FetchError when it gives up.

        A status in `ok_statuses` is returned as is (the API's 400 carries an error entry the
        caller wants to read); any other non-retryable status fails at once.
        """
        with self._lock:
            return self._get_with_retries(url, params, set(ok_statuses))

    def _get_with_retries(
        self, url: str, params: Mapping[str, str | int] | None, ok: set[int]
    ) -> FetchedResponse:
        request = self._client.build_request("GET", url, params=params)
        full_url = str(request.url)
        attempts = self.max_retries + 1
        cause = "no attempt made"
        for attempt in range(attempts):
            self._wait_for_slot()
            self.requests_made += 1
            retry_after: float | None = None
            try:
                response = self._client.send(request)
                body = response.read()
            except httpx.TimeoutException as exc:
                cause = f"timed out after {self.timeout:g} s ({type(exc).__name__})"
            except httpx.TransportError as exc:
                cause = f"connection failed ({type(exc).__name__}: {exc or 'no detail'})"
            else:
                status = response.status_code
                if status in ok:
                    return FetchedResponse(status, body, response.headers, full_url)
                cause = f"HTTP {status} {response.reason_phrase}".rstrip()
                if status not in RETRYABLE_STATUSES:
                    raise FetchError(f"GET {full_url} failed: {cause}")
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.max_retry_after:
                    raise FetchError(
                        f"GET {full_url} failed: {cause}; the server asks to retry after "
                        f"{retry_after:.0f} s, longer than we wait ({self.max_retry_after:.0f} s)"
                    )
            if attempt + 1 < attempts:
                self._back_off(attempt, retry_after)
        raise FetchError(f"GET {full_url} failed after {attempts} attempt(s): {cause}")

    def _wait_for_slot(self) -> None:
        """Sleep until `delay` seconds have passed since the previous request started."""
        if self._last_start is not None:
            remaining = self._last_start + self.delay - self._clock()
            if remaining > 0:
                self._sleep(remaining)
        self._last_start = self._clock()

    def _back_off(self, attempt: int, retry_after: float | None) -> None:
        """Full-jitter exponential backoff, never shorter than the server's Retry-After."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2**attempt))
        wait = self._jitter() * ceiling
        if retry_after is not None:
            wait = max(wait, retry_after)
        if wait > 0:
            self._sleep(wait)
