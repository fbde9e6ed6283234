"""The token-link pages: unsubscribe (`/u/…`), preferences (`/p/…`) and feedback (`/f/…`),
and the form that mails someone their link when theirs leads nowhere (`POST /p`).

Every token is looked up through `WebContext.subscriber_for` (rate-limited per client); state
changes only on POST, with the per-subscriber CSRF token, except a title click (its GET is
the feedback)."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from digest.errors import UsageError
from digest.mail import links
from digest.models import FEEDBACK_KINDS, split_arxiv_id
from digest.web import actions, mailing
from digest.web import preferences as preferences_actions
from digest.web.context import WebContext
from digest.web.pages import FEEDBACK_SCRIPT_PATH, TIMEZONE_SCRIPT_PATH, field_errors
from digest.web.plumbing import csrf_ok, csrf_token, read_capped, read_form

PAUSE_NOTICES = {
    "pause": "Paused: no digests until you press Resume. Your topics and settings stay.",
    "resume": "Resumed: your digests come again from the next issue.",
    "unsubscribe": "Unsubscribed: no more digests. Sign up again at any time to resume.",
}


def routes(ctx: WebContext) -> list[Route]:
    """The routes of the token-link pages, sharing the app's context."""

    async def unsubscribe(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = await ctx.subscriber_for(request, token)
        if subscriber is None:  # forged, or the person deleted everything: true either way
            return ctx.message(
                "No subscription here",
                "No subscription belongs to this link (any more): nothing will be sent for it.",
                404,
            )
        if request.method != "POST":  # GET and HEAD only show the button
            return ctx.page(
                "unsubscribe.html.j2",
                action=f"/u/{token}",
                already=subscriber.status not in ("active", "paused", "pending"),
                preferences=f"/p/{token}",
            )
        body = await read_capped(request, 4096) or b""  # the one-click body is 26 bytes
        # urlencoded "List-Unsubscribe=One-Click", or the same field as multipart/form-data
        one_click = b"List-Unsubscribe" in body and b"One-Click" in body
        source = "one-click" if one_click else "web"
        ip = ctx.client_ip(request)
        await run_in_threadpool(
            lambda: actions.unsubscribe(ctx.dbs.get(), ctx.config, subscriber, source, ip)
        )
        return ctx.message(
            "You are unsubscribed",
            "You will not get any more digests. Changed your mind? Sign up again at any time.",
            link="/subscribe",
            link_text="Sign up again",
        )

    def preferences_page(
        subscriber,
        notice: str = "",
        status: int = 200,
        typed: dict | None = None,
        errors: dict[str, str] | None = None,
    ) -> Response:
        """The form from the store, or with what was `typed` when a save was refused."""
        db = ctx.dbs.get()
        token = subscriber.manage_token or ""
        return ctx.page(
            "preferences.html.j2",
            status,
            subscriber=subscriber,
            topics=ctx.curated_topics(),
            **preferences_actions.preferences_view(db, subscriber, typed),
            follows_nothing=preferences_actions.follows_nothing(db, subscriber.id),
            notice=notice,
            errors=errors or {},
            csrf=csrf_token(ctx.key, token),
            action=f"/p/{token}",
            weekdays=preferences_actions.WEEKDAYS,
            suggest_timezone=typed is None and subscriber.timezone == "UTC",
            timezone_script=TIMEZONE_SCRIPT_PATH,
        )

    async def preferences(request: Request) -> Response:
        token = request.path_params["token"]
        subscriber = await ctx.subscriber_for(request, token)
        if subscriber is None:
            return ctx.link_not_found()
        if request.method != "POST":
            return await run_in_threadpool(preferences_page, subscriber)
        form = await read_form(request)
        if not csrf_ok(ctx.key, token, str(form.get("csrf", ""))):
            return ctx.message("Form expired", "Please reload the page and try again.", 403)
        ip = ctx.client_ip(request)
        db = ctx.dbs.get
        what = str(form.get("action", "save"))
        if what == "export":
            exported = await run_in_threadpool(
                lambda: preferences_actions.export_data(db(), subscriber)
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
                lambda: preferences_actions.delete_subscriber(db(), ctx.config, subscriber, ip)
            )
            return ctx.message("Deleted", "Everything we held about you has been deleted.")
        if what in PAUSE_NOTICES:
            updated = await run_in_threadpool(
                lambda: preferences_actions.change_status(db(), ctx.config, subscriber, what, ip)
            )
            return await run_in_threadpool(preferences_page, updated, PAUSE_NOTICES[what])
        try:
            updated = await run_in_threadpool(
                lambda: preferences_actions.save_form(db(), ctx.config, subscriber, form, ip)
            )
        except (UsageError, ValueError) as exc:  # ValueError: a check deeper down, unworded
            errors = field_errors(exc)
            typed = preferences_actions.typed_form(form)
            notice = f"Not saved: {next(iter(errors.values()))}"
            return await run_in_threadpool(preferences_page, subscriber, notice, 400, typed, errors)
        return await run_in_threadpool(preferences_page, updated, "Saved.")

    async def send_link(request: Request) -> Response:
        """`POST /p` from a dead link's page: the address gets its preferences link, if it is
        subscribed. The answer is the same either way (it says nothing about who is)."""
        form = await read_form(request)
        address = str(form.get("email", ""))
        try:
            mail = await run_in_threadpool(
                lambda: mailing.mail_preferences_link(
                    ctx.dbs.get(), ctx.config, ctx.key, address, ctx.client_ip(request)
                )
            )
        except UsageError as exc:
            return ctx.link_not_found(400, notice=f"{exc}.")
        ctx.send_later(mail)
        return ctx.message(
            "Check your inbox",
            "If this address has a subscription here, we have sent it the link to its "
            "preferences. It can take a minute or two to arrive.",
            address=mailing.shown_address(address),
        )

    async def feedback(request: Request) -> Response:
        """Title clicks record on GET and redirect; a like or dislike is recorded only by
        the POST of the page a GET shows (its script sends it at once), since mail link
        scanners GET every link of a mail, 👍 and 👎 alike. Scanners get a title's redirect
        too; their clicks are kept and left out when read (feedback.counted_clicks)."""
        token = request.path_params["token"]
        paper = request.query_params.get("paper", "")
        kind = request.query_params.get("kind", "")
        if kind not in FEEDBACK_KINDS or not paper or len(paper) > 100:
            return ctx.message("Link not valid", "This feedback link is incomplete.", 400)
        subscriber = await ctx.subscriber_for(request, token)
        if subscriber is None:
            return ctx.link_not_found()
        found = await run_in_threadpool(lambda: actions.feedback_paper(ctx.dbs.get(), paper))
        if found is None:
            return ctx.message(
                "Paper not found", "This paper is not in the archive (any more).", 404
            )
        arxiv_url = links.arxiv_abs_url(found.id) if split_arxiv_id(found.id) else None
        show = {"kind": kind, "paper": found, "arxiv_url": arxiv_url, "recorded": False}
        if kind == "click" and request.method == "HEAD" and arxiv_url:  # a scanner: no record
            return RedirectResponse(arxiv_url, status_code=303)
        if request.method == "POST":
            form = await read_form(request)
            if not csrf_ok(ctx.key, token, str(form.get("csrf", ""))):
                return ctx.message("Form expired", "Please open the link in the email again.", 403)
        elif request.method == "HEAD" or kind != "click":  # a scanner may be looking
            return ctx.page(
                "feedback.html.j2",
                **show,
                csrf=csrf_token(ctx.key, token),
                action=links.feedback_url("", token, paper, kind),
                script=FEEDBACK_SCRIPT_PATH,
            )
        agent = request.headers.get("user-agent")

        def record() -> str | None:
            from digest.store.feedback import record_email_click

            db = ctx.dbs.get()
            if kind == "click":  # every one is kept; readers leave out a scanner's
                return record_email_click(db, subscriber.id, paper, agent)
            return actions.record_feedback(db, subscriber, paper, kind)

        stored = await run_in_threadpool(record)
        if stored is None:  # deleted between the look-up and now
            return ctx.link_not_found()
        if kind == "click" and arxiv_url:
            return RedirectResponse(arxiv_url, status_code=303)
        preferences = links.preferences_url("", token)
        return ctx.page("feedback.html.j2", **{**show, "recorded": True}, preferences=preferences)

    return [
        Route("/u/{token}", unsubscribe, methods=["GET", "POST"]),
        Route("/p", send_link, methods=["POST"]),
        Route("/p/{token}", preferences, methods=["GET", "POST"]),
        Route("/f/{token}", feedback, methods=["GET", "POST"]),
    ]
