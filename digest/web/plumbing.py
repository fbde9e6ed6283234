"""The web app's plumbing: security-headers middleware, one SQLite connection per worker thread,
the static archive mount, the request guards (secret key, CSRF tokens, rate limits) and readers
(small forms, capped bodies). The routes are in `digest.web.app`; the runners in `server`."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from digest.config import Config
from digest.errors import DigestError, UsageError
from digest.store import service, tokens

log = logging.getLogger("digest.web")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self' 'wasm-unsafe-eval'; form-action 'self'; frame-ancestors 'none'; "
        b"base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
PERSONAL_PREFIXES = ("/u/", "/p/", "/confirm/", "/f/", "/subscribe")


class SecurityHeaders:
    """Pure ASGI middleware: security headers everywhere, noindex on personal pages, and an
    access log line that names the route but never the token in the path."""

    def __init__(self, app, error_page: Callable[[], str] | None = None) -> None:
        self.app = app
        self.error_page = error_page or (lambda: "<!DOCTYPE html><h1>Something went wrong</h1>")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        personal = path.startswith(PERSONAL_PREFIXES)
        started = time.monotonic()
        response_started = False

        async def send_with_headers(message):
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                headers = [
                    h
                    for h in message.get("headers", [])
                    if h[0].lower() not in {k for k, _ in SECURITY_HEADERS}
                ]
                headers += SECURITY_HEADERS
                if personal:
                    headers.append((b"x-robots-tag", b"noindex, nofollow"))
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
                segments = path.split("/")
                shown = "/".join(segments[:2]) + "/…" if personal and len(segments) > 2 else path
                log.info(
                    "%s %s %s %.0fms",
                    scope["method"],
                    shown,
                    message["status"],
                    (time.monotonic() - started) * 1000,
                )
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Answered here, inside these headers (Starlette's error middleware sits outside
            # every user middleware); the operator's log gets the traceback, never the client.
            log.exception("%s /%s failed", scope["method"], path.split("/")[1])
            if response_started:
                raise
            page = HTMLResponse(self.error_page(), status_code=500)
            await page(scope, receive, send_with_headers)


async def read_form(request: Request) -> FormData:
    """The form, small: no file uploads, 200 fields, 64 KB per field. Anything else is an
    HTTPException(400), which the app answers with a page."""
    form = await request.form(max_files=0, max_fields=200, max_part_size=64 * 1024)
    if any(isinstance(value, UploadFile) for _, value in form.multi_items()):
        raise HTTPException(400, "This form takes no file uploads.")
    return form


def whole_number(name: str, text: str, default: int | None) -> int | None:
    """A form number, with an error a person can read (UsageError)."""
    text = text.strip()
    if not text:
        return default
    if not text.lstrip("-").isdigit() or len(text) > 6:
        raise UsageError(f"{name} must be a whole number, got {text[:20]!r}")
    return int(text)


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (the rest is never buffered)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------ secret key and CSRF
def load_secret_key(config: Config) -> bytes:
    """DIGEST_SECRET_KEY from the environment, else a generated 0600 key file in the data dir
    (the key manage tokens are derived with, too: digest/store/tokens.py). On PostgreSQL the
    fleet shares one key, so it must come from the environment (DigestError otherwise)."""
    if config.on_postgres and not os.environ.get("DIGEST_SECRET_KEY"):
        raise DigestError(
            "set DIGEST_SECRET_KEY, the same on every machine: with a database server, "
            "manage links and the web forms are made with it"
        )
    return tokens.secret_key(config.db_path)


def csrf_token(key: bytes, manage_token: str) -> str:
    """A per-subscriber form token: HMAC of their manage token (no cookies needed)."""
    return hmac.new(key, b"csrf:" + manage_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, manage_token: str, given: str) -> bool:
    # bytes: compare_digest raises TypeError on a non-ASCII str (a forged form must be a 403)
    return hmac.compare_digest(csrf_token(key, manage_token).encode(), (given or "").encode())


def _opaque(key: bytes, kind: str, value: str) -> str:
    """Rate-limit keys never hold a raw address or IP."""
    return kind + ":" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


# ------------------------------------------------------------------ rate limits
def over_limit(db, key: bytes, kind: str, value: str, limit: int, per: str) -> bool:
    """Count one hit for (kind, value); True when over `limit` per minute/day."""
    return _recent_hits(db, _opaque(key, kind, value), per, hit=True) > limit


def token_misses_over(db, key: bytes, ip: str, limit: int) -> bool:
    """Has this client had `limit` wrong token links in the last minute? (Counts nothing.)"""
    return _recent_hits(db, _opaque(key, "token-miss", ip), "minute", hit=False) >= limit


def count_token_miss(db, key: bytes, ip: str) -> None:
    """One more wrong token link from this client (its own write transaction)."""
    with service.eager_transaction(db):
        _recent_hits(db, _opaque(key, "token-miss", ip), "minute", hit=True)


def _recent_hits(db, opaque: str, per: str, *, hit: bool) -> float:
    """Hits in the last minute/day, counting one more first when `hit`.

    A sliding-window estimate: this window's hits plus the previous window's, weighted by how
    much of it still lies within the last minute/day, so a burst across a boundary still counts.
    """
    now = datetime.now(UTC)
    span = timedelta(minutes=1) if per == "minute" else timedelta(days=1)
    shape = "%Y-%m-%dT%H:%M" if per == "minute" else "%Y-%m-%d"
    window = now.strftime(shape)
    count = (service.hit_rate_limit if hit else service.rate_count)(db, opaque, window)
    previous = service.rate_count(db, opaque, (now - span).strftime(shape))
    start = datetime.strptime(window, shape).replace(tzinfo=UTC)
    remaining = 1 - (now - start) / span
    if hit and count == 1:  # a new window: the ones of two days ago can go
        service.prune_rate_limits(db, (now - timedelta(days=2)).strftime("%Y-%m-%d"))
    return count + previous * remaining


class RateLimited(Exception):
    """Too many requests from one IP or for one address."""


class Databases:
    """One SQLite connection per worker thread (sqlite3 connections are not thread-safe)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.local = threading.local()

    def get(self):
        db = getattr(self.local, "db", None)
        if db is None:
            from digest.store import open_db

            db = open_db(
                self.config.db_target,
                busy_timeout_ms=self.config.database.busy_timeout_ms,
                migrate=False,
            )
            self.local.db = db
        return db


def warm_up() -> None:
    """Import and compile now what the first requests would otherwise wait for."""
    import digest.mail.compose  # noqa: F401  (css-inline, the mail templates)
    import digest.mail.notices  # noqa: F401
    import digest.store.feedback  # noqa: F401
    import digest.subscribers.manage  # noqa: F401
    import digest.topics.catalog  # noqa: F401
    from digest.render import environment

    for name in environment().list_templates():
        if name.startswith("web/") or name.startswith("email/notice"):
            environment().get_template(name)


class _ArchiveFiles(StaticFiles):
    """StaticFiles whose folder-without-slash redirect is relative: Starlette builds an absolute
    URL from the request's Host header, so `GET //evil.com/x` with `Host: evil.com` was sent
    to another site. `topics` -> `topics/` stays on whatever host the reader used."""

    async def get_response(self, path: str, scope) -> Response:
        response = await super().get_response(path, scope)
        if isinstance(response, RedirectResponse):  # only ever the folder case
            folder = scope["path"].rsplit("/", 1)[-1]
            return RedirectResponse(quote(folder, safe="") + "/", status_code=307)
        return response


class SiteFiles:
    """The static archive, served once it has been built (404 until then)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: StaticFiles | None = None

    async def __call__(self, scope, receive, send):
        if self.files is None and self.directory.is_dir():
            self.files = _ArchiveFiles(directory=str(self.directory), html=True)
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(405, "This address only answers GET.", {"allow": "GET, HEAD"})
        if self.files is None:
            raise HTTPException(
                404, "Nothing here yet: the archive has not been built (`digest site build`)."
            )
        if any(part in (".", "..") for part in scope["path"].split("/")):
            raise HTTPException(404)  # no page of the archive has a dot segment in its address
        await self.files(scope, receive, send)
