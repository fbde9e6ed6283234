"""PoliteFetcher against a real HTTP server on loopback: spacing, backoff, Retry-After, timeouts."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from digest.config import ArxivConfig
from digest.errors import FetchError
from digest.ingest.http import PoliteFetcher, parse_retry_after

DELAY = 0.2
# Server-side arrival gaps can be a little shorter than the client-side start gaps (the first
# request also opens the connection; the machine may be busy): allow this much skew.
SKEW = 0.05


@pytest.fixture(scope="module")
def _module_server():
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    yield srv
    srv.clear()
    srv.stop()


@pytest.fixture
def server(_module_server):
    _module_server.clear()
    yield _module_server
    _module_server.clear()


class Recorder:
    """Server side: arrival time of every request; client side: every sleep the fetcher took."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        time.sleep(seconds)

    def respond(self, status: int = 200, body: bytes = b"ok", headers=None, pause: float = 0.0):
        def handler(request: Request) -> Response:
            self.arrivals.append(time.monotonic())
            if pause:
                time.sleep(pause)
            return Response(body, status=status, headers=headers or {})

        return handler

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


def make_fetcher(
    recorder: Recorder,
    *,
    retries: int = 3,
    timeout: float = 2.0,
    jitter: float = 1.0,
    delay: float = DELAY,
) -> PoliteFetcher:
    cfg = ArxivConfig(
        request_delay_seconds=delay,
        timeout_seconds=timeout,
        max_retries=retries,
        user_agent="digest-tests/1.0 (mailto:test@example.org)",
    )
    return PoliteFetcher(cfg, sleep=recorder.sleep, jitter=lambda: jitter)


def test_requests_are_spaced_by_the_delay_and_carry_the_user_agent(server):
    rec = Recorder()
    server.expect_request("/feed").respond_with_handler(rec.respond(body=b"<feed/>"))
    with make_fetcher(rec) as fetcher:
        bodies = [fetcher.get(server.url_for("/feed")).body for _ in range(4)]
    assert bodies == [b"<feed/>"] * 4
    assert len(rec.arrivals) == 4
    assert all(gap >= DELAY - SKEW for gap in rec.gaps()), rec.gaps()
    request, _ = server.log[0]
    assert request.headers["User-Agent"] == "digest-tests/1.0 (mailto:test@example.org)"


def test_spacing_holds_across_threads_sharing_one_fetcher(server):
    rec = Recorder()
    server.expect_request("/feed").respond_with_handler(rec.respond(body=b"<feed/>"))
    with make_fetcher(rec) as fetcher:
        workers = [
            threading.Thread(
                target=lambda: [fetcher.get(server.url_for("/feed")) for _ in range(2)]
            )
            for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert len(rec.arrivals) == 6
    assert all(gap >= DELAY - SKEW for gap in rec.gaps()), rec.gaps()


def test_429_without_retry_after_backs_off_then_succeeds(server):
    rec = Recorder()
    server.expect_ordered_request("/api").respond_with_handler(rec.respond(429, b"Rate exceeded."))
    server.expect_ordered_request("/api").respond_with_handler(rec.respond(429, b"Rate exceeded."))
    server.expect_ordered_request("/api").respond_with_handler(rec.respond(200, b"fine"))
    with make_fetcher(rec, jitter=1.0) as fetcher:
        response = fetcher.get(server.url_for("/api"), params={"id_list": "2104.12255"})
    assert response.body == b"fine"
    assert response.status == 200
    assert "id_list=2104.12255" in response.url
    # full jitter pinned to its ceiling: base (= delay) * 2**attempt
    assert [round(s, 3) for s in rec.sleeps if s > DELAY / 2][:2] == [0.2, 0.4]
    assert rec.gaps()[0] >= 0.2 - SKEW and rec.gaps()[1] >= 0.4 - SKEW


def test_429_with_retry_after_seconds_is_honoured(server):
    rec = Recorder()
    server.expect_ordered_request("/api").respond_with_handler(
        rec.respond(429, b"slow down", headers={"Retry-After": "1"})
    )
    server.expect_ordered_request("/api").respond_with_handler(rec.respond(200, b"fine"))
    with make_fetcher(rec, jitter=0.0) as fetcher:
        assert fetcher.get(server.url_for("/api")).body == b"fine"
    assert rec.gaps()[0] >= 1.0 - SKEW


def test_503_with_retry_after_http_date_is_honoured(server):
    rec = Recorder()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    server.expect_ordered_request("/api").respond_with_handler(
        rec.respond(503, b"busy", headers={"Retry-After": when})
    )
    server.expect_ordered_request("/api").respond_with_handler(rec.respond(200, b"fine"))
    with make_fetcher(rec, jitter=0.0) as fetcher:
        assert fetcher.get(server.url_for("/api")).body == b"fine"
    # the date has one-second resolution: at least ~1 s must have been waited
    assert rec.gaps()[0] >= 0.9


def test_persistent_503_gives_up_with_the_url_and_cause(server):
    rec = Recorder()
    server.expect_request("/api/query").respond_with_handler(rec.respond(503, b"down"))
    with make_fetcher(rec, retries=2, jitter=0.5) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.get(server.url_for("/api/query"), params={"search_query": "cat:cs.AI"})
    message = str(caught.value)
    assert server.url_for("/api/query") in message
    assert "search_query=cat%3Acs.AI" in message
    assert "HTTP 503" in message and "3 attempt(s)" in message
    assert len(rec.arrivals) == 3
    assert all(gap >= DELAY - SKEW for gap in rec.gaps())


def test_slow_response_times_out_and_is_retried(server):
    rec = Recorder()
    server.expect_ordered_request("/slow").respond_with_handler(
        rec.respond(200, b"late", pause=0.8)
    )
    server.expect_ordered_request("/slow").respond_with_handler(rec.respond(200, b"quick"))
    with make_fetcher(rec, timeout=0.3, jitter=0.0) as fetcher:
        assert fetcher.get(server.url_for("/slow")).body == b"quick"
    assert len(rec.arrivals) == 2


def test_always_slow_gives_up_naming_the_timeout(server):
    rec = Recorder()
    server.expect_request("/slow").respond_with_handler(rec.respond(200, b"late", pause=0.6))
    with make_fetcher(rec, retries=1, timeout=0.2, jitter=0.0) as fetcher:
        with pytest.raises(
            FetchError, match=r"/slow failed after 2 attempt\(s\): timed out after 0.2 s"
        ):
            fetcher.get(server.url_for("/slow"))


def test_connection_refused_is_retried_then_named():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    rec = Recorder()
    url = f"http://127.0.0.1:{port}/api/query"
    with make_fetcher(rec, retries=2, jitter=1.0, delay=0.05) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetcher.get(url)
        elapsed = time.monotonic() - started
    assert url in str(caught.value)
    assert "connection failed" in str(caught.value) and "ConnectError" in str(caught.value)
    assert fetcher.requests_made == 3
    assert elapsed >= 0.05 + 0.1 - 0.02  # two backoffs: 0.05 * 2**0, 0.05 * 2**1


def test_a_404_fails_at_once_without_retrying(server):
    rec = Recorder()
    server.expect_request("/missing").respond_with_handler(rec.respond(404, b"no"))
    with make_fetcher(rec) as fetcher:
        with pytest.raises(FetchError, match=r"/missing failed: HTTP 404"):
            fetcher.get(server.url_for("/missing"))
    assert len(rec.arrivals) == 1


def test_an_accepted_error_status_is_returned(server):
    rec = Recorder()
    server.expect_request("/api").respond_with_handler(rec.respond(400, b"<feed/>"))
    with make_fetcher(rec) as fetcher:
        response = fetcher.get(server.url_for("/api"), ok_statuses=(200, 400))
    assert (response.status, response.body) == (400, b"<feed/>")


def test_retry_after_longer_than_we_wait_fails_fast(server):
    rec = Recorder()
    server.expect_request("/api").respond_with_handler(
        rec.respond(429, b"later", headers={"Retry-After": "3600"})
    )
    with make_fetcher(rec) as fetcher:
        with pytest.raises(FetchError, match="retry after 3600 s"):
            fetcher.get(server.url_for("/api"))
    assert len(rec.arrivals) == 1


def test_parse_retry_after():
    now = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Mon, 05 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 05 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# ------------------------------------------------------------------ hostile servers
def hostile_fetcher(**limits) -> PoliteFetcher:
    cfg = ArxivConfig(request_delay_seconds=0.0, timeout_seconds=1.0, max_retries=1)
    return PoliteFetcher(cfg, jitter=lambda: 0.0, **limits)


def test_a_trickling_response_meets_the_whole_response_deadline(server):
    """Each byte within the read timeout, the whole never: before, this held a run forever."""

    def trickle(request: Request) -> Response:
        def body():
            for _ in range(40):
                yield b"<"
                time.sleep(0.1)

        return Response(body(), status=200, content_type="application/atom+xml")

    server.expect_request("/atom/cs.AI").respond_with_handler(trickle)
    with hostile_fetcher(deadline_seconds=0.5) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"2 attempt\(s\): the whole response took over 0.5 s"):
            fetcher.get(server.url_for("/atom/cs.AI"))
    assert time.monotonic() - started < 2.5  # two attempts of ~0.6 s, not 2 x 4 s


def test_an_oversized_body_fails_at_once(server):
    server.expect_request("/atom/big").respond_with_data(b"x" * 300_000)
    with hostile_fetcher(max_body_bytes=100_000) as fetcher:
        with pytest.raises(FetchError, match="failed: the response is larger than"):
            fetcher.get(server.url_for("/atom/big"))
        assert fetcher.requests_made == 1


def test_a_redirect_loop_and_a_bad_url_are_fetch_errors(server):
    """Both used to escape as httpx exceptions: a traceback that also skipped the other feeds."""
    loop = server.url_for("/atom/loop")
    server.expect_request("/atom/loop").respond_with_data(
        "", status=302, headers={"Location": loop}
    )
    with hostile_fetcher() as fetcher:
        with pytest.raises(FetchError, match="too many redirects"):
            fetcher.get(loop)
        with pytest.raises(FetchError, match="not a usable http"):
            fetcher.get("ftp://127.0.0.1/atom/cs.AI")
        with pytest.raises(FetchError, match="not a usable http"):
            fetcher.get("http://[::1/atom")


def test_a_body_that_does_not_decode_is_retried_then_named(server):
    server.expect_request("/atom/gz").respond_with_data(
        b"\x1f\x8b\x08\x00 this is not gzip", headers={"Content-Encoding": "gzip"}
    )
    with hostile_fetcher() as fetcher:
        with pytest.raises(FetchError, match=r"2 attempt\(s\): unreadable response \(Decoding"):
            fetcher.get(server.url_for("/atom/gz"))


def test_a_name_that_does_not_resolve_fails_at_once_naming_the_host():
    """Offline, `digest fetch` retried a DNS failure six times with backoff: two silent
    minutes for three feeds. A name that does not resolve is named at once, and the next
    feed on that host fails without another lookup. (A 503 is still retried:
    test_persistent_503_gives_up_with_the_url_and_cause.) RFC 6761: .invalid never resolves."""
    rec = Recorder()
    with make_fetcher(rec, retries=5, delay=0.0) as fetcher:
        with pytest.raises(FetchError) as caught:
            fetcher.get("http://feeds.digest-test.invalid/atom/cs.AI")
        with pytest.raises(FetchError) as again:
            fetcher.get("http://feeds.digest-test.invalid/atom/cs.LG")
    said = str(caught.value)
    assert "cannot reach feeds.digest-test.invalid" in said and "does not resolve" in said
    assert fetcher.requests_made == 1 and rec.sleeps == []  # no retry, no backoff
    assert str(again.value) == said


def test_fetch_offline_says_which_host_it_cannot_reach(make_config, capsys):
    from tests.conftest import run_cli_in_process

    _, config_path = make_config({"arxiv": {"feed_base_url": "https://rss.digest-test.invalid"}})
    code, out, err = run_cli_in_process(config_path, capsys, "fetch")
    said = " ".join((out + err).split())
    assert code == 1
    assert said.count("cannot reach rss.digest-test.invalid: its name does not resolve") == 3
    assert "attempt" not in said  # one try, not six
