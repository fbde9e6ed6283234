"""Polite HTTP fetching for arXiv: one connection, spaced requests, timeouts, backoff.

arXiv's terms ask for at most one request every 3 seconds over a single connection, and its
API answers 429/503 under load (often without Retry-After). Every network call to arXiv goes
through one `PoliteFetcher`, so the spacing holds across feeds, API pages and retries.
"""

from __future__ import annotations

import random
import socket
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
MAX_BODY_BYTES = 200 * 2**20  # a daily listing is ~2 MB, an API page of 2,000 entries ~10 MB
DEADLINE_FACTOR = 10  # one response, start to last byte, may take this many timeouts


class _TooSlow(Exception):
    """The response trickled in for longer than the whole-response deadline."""


class _TooLarge(Exception):
    """The body passed the size limit: not a feed, and not worth the memory."""


def _unresolved_name(exc: BaseException) -> socket.gaierror | None:
    """The name-resolution failure behind a connection error, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _TooLarge):
        return str(exc)
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects (a redirect loop?)"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"not a usable http(s) URL ({exc})"
    return f"{type(exc).__name__}: {exc or 'no detail'}"


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
        max_body_bytes: int = MAX_BODY_BYTES,
        deadline_seconds: float | None = None,
    ) -> None:
        self.delay = max(0.0, cfg.request_delay_seconds)
        self.timeout = cfg.timeout_seconds
        self.max_retries = max(0, cfg.max_retries)
        self.backoff_base = (
            backoff_base_seconds if backoff_base_seconds is not None else (self.delay or 1.0)
        )
        self.backoff_cap = backoff_cap_seconds
        self.max_retry_after = max_retry_after_seconds
        self.deadline = deadline_seconds or max(self.timeout * DEADLINE_FACTOR, 10.0)
        self.max_body_bytes = max_body_bytes
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._last_start: float | None = None
        self._unresolved: dict[str, str] = {}  # host -> why its name did not resolve
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
        try:
            request = self._client.build_request("GET", url, params=params)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise FetchError(f"GET {url} failed: not a usable http(s) URL ({exc})") from exc
        full_url = str(request.url)
        host = request.url.host
        if host in self._unresolved:  # one lookup per run: the next feed would fare no better
            raise FetchError(self._unresolved[host])
        attempts = self.max_retries + 1
        cause = "no attempt made"
        for attempt in range(attempts):
            self._wait_for_slot()
            self.requests_made += 1
            retry_after: float | None = None
            try:
                response, body = self._receive(request)
            except httpx.TimeoutException as exc:
                cause = f"timed out after {self.timeout:g} s ({type(exc).__name__})"
            except _TooSlow:
                cause = f"the whole response took over {self.deadline:g} s (sent too slowly)"
            except (_TooLarge, httpx.TooManyRedirects, httpx.UnsupportedProtocol) as exc:
                raise FetchError(f"GET {full_url} failed: {_describe(exc)}") from exc
            except httpx.TransportError as exc:
                unresolved = _unresolved_name(exc)
                if unresolved is not None:  # no network or no DNS: retrying will not help
                    why = unresolved.strerror or str(unresolved)
                    self._unresolved[host] = (
                        f"cannot reach {host}: its name does not resolve ({why}); is this "
                        "machine offline, or its DNS down?"
                    )
                    raise FetchError(self._unresolved[host]) from exc
                cause = f"connection failed ({_describe(exc)})"
            except httpx.HTTPError as exc:  # e.g. a body that does not decode (bad gzip)
                cause = f"unreadable response ({_describe(exc)})"
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

    def _receive(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """Send and read the body, within `deadline` seconds in all and `max_body_bytes`.

        The per-read timeout alone lets a server that sends a byte every few seconds hold a
        run forever; a listing or API page is a few MB, so a far larger body is not one.
        """
        deadline = time.monotonic() + self.deadline
        response = self._client.send(request, stream=True)
        try:
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise _TooLarge(
                        f"the response is larger than {self.max_body_bytes // 2**20} MiB"
                    )
                if time.monotonic() > deadline:
                    raise _TooSlow
                chunks.append(chunk)
        finally:
            response.close()
        return response, b"".join(chunks)

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
