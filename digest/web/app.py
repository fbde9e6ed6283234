"""The ASGI service: sign-up, confirm, webhooks, the archive; the token-link pages
(preferences, unsubscribe, feedback) are in `digest.web.personal`.

State changes only on POST (except a paper's title link: its click is the feedback).
Personal pages carry noindex; every response carries the security headers. Database work
runs in worker threads with one connection per thread; writes take the lock up front (BEGIN
IMMEDIATE) and wait up to the busy timeout, so a concurrent daily run never surfaces "database is locked".
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route

from digest.config import Config
from digest.errors import UsageError
from digest.mail import links
from digest.web import actions, personal
from digest.web import preferences as preferences_actions
from digest.web.context import WebContext
from digest.web.mailing import shown_address
from digest.web.pages import APP_FILES, app_file, archive_root, error_page, field_errors
from digest.web.plumbing import (
    Databases,
    RateLimited,
    SecurityHeaders,
    SiteFiles,
    load_secret_key,
    read_form,
    warm_up,
)
from digest.web.webhooks import load_public_key, sendgrid_endpoint

log = logging.getLogger("digest.web")

LINK_NOT_VALID = "This link is not valid (any more). If you copied it, check that it is complete."
NO_PAGE_HERE = (
    "There is no page at this address: check it for a typo, or start again from the archive."
)


def create_app(config: Config) -> Starlette:
    """The web app for this config (migrates the database once, at creation)."""
    from digest.store import open_db

    open_db(config.db_target, busy_timeout_ms=config.database.busy_timeout_ms).conn.close()
    warm_up()
    public_key_text = os.environ.get("SENDGRID_WEBHOOK_PUBLIC_KEY")
    webhook_key = load_public_key(public_key_text) if public_key_text else None
    ctx = WebContext(
        config=config,
        dbs=Databases(config),
        key=load_secret_key(config),
        site_dir=config.path(config.site.dir),
        # One thread sends service mails in order, off the request path (and off keep-alive
        # connections, which a BackgroundTask would hold until the mail is out).
        mailer=ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-confirm-mail"),
    )
    dbs, key, site_dir, page, message = ctx.dbs, ctx.key, ctx.site_dir, ctx.page, ctx.message
    preferences_actions.preload_encoder(config)  # once the settings are known to be good

    # ------------------------------------------------------------ home and sign-up
    async def home(request: Request) -> Response:
        index = site_dir / "index.html"
        if index.is_file():
            return FileResponse(index)
        return await subscribe_page(request)

    async def subscribe_page(
        request: Request, typed: actions.SignupForm | None = None, error: Exception | None = None
    ) -> Response:
        """The sign-up form; refused, it comes back as typed with the error by its field."""
        topics = await run_in_threadpool(ctx.curated_topics)
        if error is None:
            return page("subscribe.html.j2", personal=False, topics=topics, typed=None, errors={})
        return page(
            "subscribe.html.j2", 400, topics=topics, typed=typed, errors=field_errors(error)
        )

    async def subscribe(request: Request) -> Response:
        form = await read_form(request)
        signup = actions.SignupForm(
            email=str(form.get("email", "")),
            topics=[str(t) for t in form.getlist("topics")],
            own_topic=str(form.get("own_topic", "")),
            frequency=str(form.get("frequency", "daily")),
            honeypot=str(form.get("website", "")),
            authors=[str(a) for a in form.getlist("author")][:5],
        )
        ip = ctx.client_ip(request)
        try:
            mail = await run_in_threadpool(
                lambda: actions.subscribe(dbs.get(), config, key, signup, ip)
            )
        except UsageError as exc:
            return await subscribe_page(request, signup, exc)
        ctx.send_later(mail)
        return message(
            "Check your inbox",
            "If this address can subscribe, we have sent it a confirmation link (or, if it is "
            "subscribed already, the link to its preferences). Your subscription starts once "
            "you open the link and press the button.",
            address=shown_address(signup.email),
        )

    # ------------------------------------------------------------ confirm
    async def confirm(request: Request) -> Response:
        token = request.path_params["token"]
        if not actions.token_format_ok(token):
            return message("Link not found", LINK_NOT_VALID, 404)
        # HEAD (scanners, previews) never confirms; GET only with confirm_on_get
        confirm_now = request.method == "POST" or (
            request.method == "GET" and config.service.confirm_on_get
        )
        if not confirm_now:
            address = await run_in_threadpool(
                lambda: actions.confirm_token_address(dbs.get(), token)
            )
            if address is None:
                return await confirm_link_spent(token)
            return page("confirm.html.j2", action=f"/confirm/{token}", address=address)
        subscriber = await run_in_threadpool(
            lambda: actions.confirm(dbs.get(), config, token, ctx.client_ip(request))
        )
        if subscriber is None:
            return await confirm_link_spent(token)
        unfollowed = await run_in_threadpool(
            lambda: preferences_actions.follows_nothing(dbs.get(), subscriber.id)
        )
        return message(
            "You are subscribed",
            "Thank you. You follow no topic yet, and a digest only carries papers that match "
            "your topics: choose some to get your first one."
            if unfollowed
            else "Thank you. Your first digest comes with the next issue.",
            link=links.preferences_url("", subscriber.manage_token or ""),
            link_text="Choose your topics and settings",
            address=subscriber.email,
        )

    async def confirm_link_spent(token: str) -> Response:
        """A used link of an active subscription says so (people click twice); else 404."""
        if await run_in_threadpool(lambda: actions.already_confirmed(dbs.get(), token)):
            return message(
                "Already confirmed",
                "This link was used already: your subscription is active. Each digest "
                "has links to change your preferences or unsubscribe.",
            )
        return message(
            "Link expired or used",
            "This confirmation link was already used or has expired. Sign up again to get "
            "a fresh one.",
            404,
            link="/subscribe",
            link_text="Sign up",
        )

    async def app_static(request: Request) -> Response:
        """The page scripts and the stylesheets, from the templates (never the site dir)."""
        body, media_type, etag = app_file(request.url.path)
        headers = {"etag": etag, "cache-control": "no-cache"}  # kept, but asked about each time
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    routes = [
        Route("/", home),
        Route("/healthz", health),
        Route("/subscribe", subscribe_page, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
        *personal.routes(ctx),
        *(Route(path, app_static, methods=["GET"]) for path in APP_FILES),
        Route("/webhooks/sendgrid", sendgrid_endpoint(dbs, config, webhook_key), methods=["POST"]),
        Mount("/", app=SiteFiles(site_dir)),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own 4xx (bad form, wrong method) as one of our pages."""
        assert isinstance(exc, HTTPException)
        titles = {404: "Not found", 405: "Method not allowed", 413: "Too large"}
        title = titles.get(exc.status_code, "Request not understood")
        if exc.status_code == 404:  # a way on: the archive, or sign-up when none is here
            archive = archive_root(config, site_dir)
            text = NO_PAGE_HERE if exc.detail == "Not Found" else exc.detail  # Starlette's phrase
            link, label = (
                (archive, "Browse the archive") if archive else ("/subscribe", "Subscribe")
            )
            answer = message(title, text, 404, link=link, link_text=label)
        else:
            answer = message(title, exc.detail, exc.status_code)
        answer.headers.update(exc.headers or {})
        return answer

    async def too_many(request: Request, exc: Exception) -> Response:
        """A rate limit (sign-ups, mailed links, wrong token links): 429, try in a minute."""
        answer = message("Too many requests", "Please wait a minute and try again.", 429)
        answer.headers["retry-after"] = "60"
        return answer

    app = Starlette(
        routes=routes, exception_handlers={HTTPException: http_error, RateLimited: too_many}
    )
    app.add_middleware(SecurityHeaders, error_page=lambda: error_page(config, site_dir))
    return app
