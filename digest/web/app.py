"""The ASGI service: sign-up, confirm, preferences, unsubscribe, feedback, webhooks, archive.

State changes only on POST (except a paper's title link: its click is the feedback).
Personal pages carry noindex; every response carries the security headers. Database work
runs in worker threads with one connection per thread; writes take the lock up front (BEGIN
IMMEDIATE) and wait up to the busy timeout, so a concurrent daily run never surfaces "database is locked".
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from digest.config import Config
from digest.errors import UsageError
from digest.mail import links
from digest.models import FEEDBACK_KINDS, split_arxiv_id
from digest.render import render
from digest.web import actions
from digest.web import preferences as preferences_actions
from digest.web.pages import (
    APP_FILES,
    FEEDBACK_SCRIPT_PATH,
    app_file,
    archive_root,
    error_page,
    field_errors,
    page_context,
)
from digest.web.plumbing import (
    Databases,
    RateLimited,
    SecurityHeaders,
    SiteFiles,
    csrf_ok,
    csrf_token,
    load_secret_key,
    read_capped,
    read_form,
    warm_up,
)
from digest.web.webhooks import load_public_key, sendgrid_endpoint

log = logging.getLogger("digest.web")

NO_PAGE_HERE = (
    "There is no page at this address: check it for a typo, or start again from the archive."
)


def create_app(config: Config) -> Starlette:
    """The web app for this config (migrates the database once, at creation)."""
    from digest.store import open_db

    open_db(config.db_target, busy_timeout_ms=config.database.busy_timeout_ms).conn.close()
    warm_up()
    dbs = Databases(config)
    key = load_secret_key(config)
    public_key_text = os.environ.get("SENDGRID_WEBHOOK_PUBLIC_KEY")
    webhook_key = load_public_key(public_key_text) if public_key_text else None
    site_dir = config.path(config.site.dir)
    # One thread sends confirmation mails in order, off the request path (and off keep-alive
    # connections, which a BackgroundTask would hold until the mail is out).
    mailer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-confirm-mail")

    def client_ip(request: Request) -> str | None:
        host = request.client.host if request.client else None
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded and host in config.service.trusted_proxies:
            return forwarded.split(",")[-1].strip()
        return host

    def page(template: str, status: int = 200, personal: bool = True, **context) -> HTMLResponse:
        shared = page_context(config, site_dir)
        html = render(f"web/{template}", **shared, noindex=personal, **context)
        return HTMLResponse(html, status_code=status)

    def message(
        title: str, text: str, status: int = 200, link: str | None = None, link_text: str = ""
    ) -> HTMLResponse:
        return page(
            "message.html.j2", status, title=title, text=text, link=link, link_text=link_text
        )

    def not_found() -> HTMLResponse:
        return message(
            "Link not found",
            "This link is not valid (any more). If you copied it, check that it is complete.",
            404,
        )

    def curated_topics() -> list:
        from digest.store import topics as topic_store

        return topic_store.list_topics(dbs.get(), kind="curated")

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
        topics = await run_in_threadpool(curated_topics)
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
        ip = client_ip(request)
        try:
            mail = await run_in_threadpool(
                lambda: actions.subscribe(dbs.get(), config, key, signup, ip)
            )
        except RateLimited:
            return message("Too many requests", "Please wait a little and try again.", 429)
        except UsageError as exc:
            return await subscribe_page(request, signup, exc)
        if mail is not None:  # sent by the mail thread: the answer never waits for it
            mailer.submit(actions.send_confirmation, config, mail)
        return message(
            "Check your inbox",
            "If this address can subscribe, we have sent it a confirmation link. Your "
            "subscription starts once you open the link and press the button.",
        )

    # ------------------------------------------------------------ confirm
    async def confirm(request: Request) -> Response:
        token = request.path_params["token"]
        if not actions.token_format_ok(token):
            return not_found()
        # HEAD (scanners, previews) never confirms; GET only with confirm_on_get
        confirm_now = request.method == "POST" or (
            request.method == "GET" and config.service.confirm_on_get
        )
        if not confirm_now:
            row = await run_in_threadpool(lambda: actions.find_confirm_token(dbs.get(), token))
            if row is None:
                return await confirm_link_spent(token)
            return page("confirm.html.j2", action=f"/confirm/{token}")
        subscriber = await run_in_threadpool(
            lambda: actions.confirm(dbs.get(), config, token, client_ip(request))
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

    async def subscriber_for(token: str):
        """The token's subscriber, or None; a malformed token never reaches the database."""
        if not actions.token_format_ok(token):
            return None
        return await run_in_threadpool(lambda: actions.subscriber_for_token(dbs.get(), token))

    # ------------------------------------------------------------ unsubscribe
    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = await subscriber_for(token)
        if subscriber is None:  # forged, or the person deleted everything: true either way
            return message(
                "No subscription here",
                "No subscription belongs to this link (any more): nothing will be sent for it.",
                404,
            )
        if request.method != "POST":  # GET and HEAD only show the button
            return page(
                "unsubscribe.html.j2",
                action=f"/u/{token}",
                already=subscriber.status != "active",
                preferences=f"/p/{token}",
            )
        body = await read_capped(request, 4096) or b""  # the one-click body is 26 bytes
        # urlencoded "List-Unsubscribe=One-Click", or the same field as multipart/form-data
        one_click = b"List-Unsubscribe" in body and b"One-Click" in body
        source = "one-click" if one_click else "web"
        await run_in_threadpool(
            lambda: actions.unsubscribe(dbs.get(), config, subscriber, source, client_ip(request))
        )
        return message(
            "You are unsubscribed",
            "You will not get any more digests. Changed your mind? Sign up again at any time.",
            link="/subscribe",
            link_text="Sign up again",
        )

    # ------------------------------------------------------------ preferences
    def preferences_page(
        subscriber,
        notice: str = "",
        status: int = 200,
        typed: dict | None = None,
        errors: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """The form from the store, or with what was `typed` when a save was refused."""
        return page(
            "preferences.html.j2",
            status,
            subscriber=subscriber,
            topics=curated_topics(),
            **preferences_actions.preferences_view(dbs.get(), subscriber, typed),
            follows_nothing=preferences_actions.follows_nothing(dbs.get(), subscriber.id),
            notice=notice,
            errors=errors or {},
            csrf=csrf_token(key, subscriber.manage_token or ""),
            action=f"/p/{subscriber.manage_token}",
            weekdays=preferences_actions.WEEKDAYS,
        )

    async def preferences(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = await subscriber_for(token)
        if subscriber is None:
            return not_found()
        if request.method != "POST":
            return await run_in_threadpool(preferences_page, subscriber)
        form = await read_form(request)
        if not csrf_ok(key, token, str(form.get("csrf", ""))):
            return message("Form expired", "Please reload the page and try again.", 403)
        ip = client_ip(request)
        what = str(form.get("action", "save"))
        if what == "export":
            exported = await run_in_threadpool(
                lambda: preferences_actions.export_data(dbs.get(), subscriber)
            )
            return Response(
                json.dumps(exported, indent=2, default=str, ensure_ascii=False),
                media_type="application/json",
                headers={"content-disposition": 'attachment; filename="my-data.json"'},
            )
        if what == "delete":
            if form.get("confirm_delete") != "yes":
                tick = "Tick the box to confirm the deletion."
                return await run_in_threadpool(
                    preferences_page, subscriber, tick, 400, None, {"confirm_delete": tick}
                )
            await run_in_threadpool(
                lambda: preferences_actions.delete_subscriber(dbs.get(), config, subscriber, ip)
            )
            return message("Deleted", "Everything we held about you has been deleted.")
        try:
            updated = await run_in_threadpool(
                lambda: preferences_actions.save_form(dbs.get(), config, subscriber, form, ip)
            )
        except (UsageError, ValueError) as exc:  # ValueError: a check deeper down, unworded
            errors = field_errors(exc)
            typed = preferences_actions.typed_form(form)
            notice = f"Not saved: {next(iter(errors.values()))}"
            return await run_in_threadpool(preferences_page, subscriber, notice, 400, typed, errors)
        return await run_in_threadpool(preferences_page, updated, "Saved.")

    # ------------------------------------------------------------ feedback
    async def feedback(request: Request) -> Response:
        """Title clicks record on GET and redirect; a like or dislike is recorded only by
        the POST of the page a GET shows (its script sends it at once), since mail link
        scanners GET every link of a mail, 👍 and 👎 alike. Scanners get a title's redirect
        too; their clicks are kept and left out when read (feedback.counted_clicks)."""
        token = request.path_params["token"]
        paper = request.query_params.get("paper", "")
        kind = request.query_params.get("kind", "")
        if kind not in FEEDBACK_KINDS or not paper or len(paper) > 100:
            return message("Link not valid", "This feedback link is incomplete.", 400)
        subscriber = await subscriber_for(token)
        if subscriber is None:
            return not_found()
        found = await run_in_threadpool(lambda: actions.feedback_paper(dbs.get(), paper))
        if found is None:
            return not_found()
        arxiv_url = links.arxiv_abs_url(found.id) if split_arxiv_id(found.id) else None
        show = {"kind": kind, "paper": found, "arxiv_url": arxiv_url, "recorded": False}
        if kind == "click" and request.method == "HEAD" and arxiv_url:  # a scanner: no record
            return RedirectResponse(arxiv_url, status_code=303)
        if request.method == "POST":
            form = await read_form(request)
            if not csrf_ok(key, token, str(form.get("csrf", ""))):
                return message("Form expired", "Please open the link in the email again.", 403)
        elif request.method == "HEAD" or kind != "click":  # a scanner may be looking
            csrf = csrf_token(key, token)
            return page(
                "feedback.html.j2",
                **show,
                csrf=csrf,
                action=links.feedback_url("", token, paper, kind),
                script=FEEDBACK_SCRIPT_PATH,
            )
        agent = request.headers.get("user-agent")

        def record() -> str | None:
            from digest.store.feedback import record_email_click

            if kind == "click":  # every one is kept; readers leave out a scanner's
                return record_email_click(dbs.get(), subscriber.id, paper, agent)
            return actions.record_feedback(dbs.get(), subscriber, paper, kind)

        stored = await run_in_threadpool(record)
        if stored is None:  # deleted between the look-up and now
            return not_found()
        if kind == "click" and arxiv_url:
            return RedirectResponse(arxiv_url, status_code=303)
        preferences = links.preferences_url("", token)
        return page("feedback.html.j2", **{**show, "recorded": True}, preferences=preferences)

    async def app_static(request: Request) -> Response:
        """The feedback script and the stylesheets, from the templates (never the site dir)."""
        body, media_type, etag = app_file(request.url.path)
        headers = {"etag": etag, "cache-control": "no-cache"}  # kept, but asked about each time
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=media_type, headers=headers)

    # ------------------------------------------------------------ webhooks
    async def health(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    routes = [
        Route("/", home),
        Route("/healthz", health),
        Route("/subscribe", subscribe_page, methods=["GET"]),
        Route("/subscribe", subscribe, methods=["POST"]),
        Route("/confirm/{token}", confirm, methods=["GET", "POST"]),
        Route("/u/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/p/{token}", preferences, methods=["GET", "POST"]),
        Route("/f/{token}", feedback, methods=["GET", "POST"]),
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

    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.add_middleware(SecurityHeaders, error_page=lambda: error_page(config, site_dir))
    return app
