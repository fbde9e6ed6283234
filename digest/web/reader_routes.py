"""The preferences page's library and feed block, and its two routes: the private Atom feed
(`GET /feed/<token>.atom`) and the library form (`POST /p/<manage token>/library`: upload a
BibTeX, RIS or CSL-JSON file, remove the library, or get a new feed address).

An upload is read up to the library size limit and no further; a file that is too large or
not a library is a page saying so, with nothing of the subscriber changed. arXiv ids the store
lacks are not fetched during the request: the next daily run fetches them.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from digest.config import Config
from digest.errors import UsageError
from digest.mail import links
from digest.models import Subscriber
from digest.store import library as library_store
from digest.subscribers.library_formats import MAX_LIBRARY_BYTES
from digest.web import feed as feeds
from digest.web.context import WebContext
from digest.web.plumbing import RateLimited, csrf_ok, read_capped

FORM_OVERHEAD_BYTES = 64 * 1024  # the multipart headers and the other fields around the file


def library_view(db, config: Config, key: bytes, subscriber: Subscriber) -> dict:
    """What the preferences page's library and feed block shows."""
    token = subscriber.manage_token or ""
    return {
        "library": library_store.library_summary(db, subscriber.id),
        "feed_url": feeds.feed_url(config, feeds.feed_token(db, key, subscriber.id)),
        "library_action": f"/p/{token}/library",
        "library_max_mb": MAX_LIBRARY_BYTES // 2**20,
    }


def reader_routes(ctx: WebContext) -> list[Route]:
    """The feed and the library form, for `digest.web.app.create_app`."""
    dbs, config, key, message = ctx.dbs, ctx.config, ctx.key, ctx.message

    async def feed(request: Request) -> Response:
        token = request.path_params["token"]
        body = await run_in_threadpool(lambda: feeds.subscriber_feed(dbs.get(), config, key, token))
        if body is None:
            return Response("no feed at this address\n", status_code=404, media_type="text/plain")
        headers = {"cache-control": "private, max-age=300", "x-robots-tag": "noindex"}
        return Response(body, media_type="application/atom+xml; charset=utf-8", headers=headers)

    async def library(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            subscriber = await ctx.subscriber_for(request, token)
        except RateLimited:
            return message("Too many requests", "Please wait a little and try again.", 429)
        if subscriber is None:
            return message("Link not found", "This link is not valid (any more).", 404)
        back = f"{links.preferences_url('', token)}#library"
        body = await read_capped(request, MAX_LIBRARY_BYTES + FORM_OVERHEAD_BYTES)
        if body is None:
            return message(
                "File too large",
                f"A library file can be at most {MAX_LIBRARY_BYTES // 2**20} MB: export a "
                "collection rather than everything. Nothing was changed.",
                413,
                link=back,
                link_text="Back to your preferences",
            )
        request._body = body  # the form is parsed from what was read, never read again
        form = await request.form(max_files=1, max_fields=10, max_part_size=64 * 1024)
        if not csrf_ok(key, token, str(form.get("csrf", ""))):
            return message("Form expired", "Please reload the page and try again.", 403)
        what = str(form.get("action", "upload"))
        db = dbs.get()
        if what == "remove":
            await run_in_threadpool(lambda: library_store.remove_library(db, subscriber.id))
            return RedirectResponse(back, status_code=303)
        if what == "new_feed":
            await run_in_threadpool(lambda: feeds.new_feed_address(db, key, subscriber.id))
            return RedirectResponse(back, status_code=303)
        upload = form.get("library")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return message(
                "No file chosen",
                "Choose a BibTeX, RIS or CSL-JSON file to import. Nothing was changed.",
                400,
                link=back,
                link_text="Back to your preferences",
            )
        raw = await upload.read()
        name = (upload.filename or "")[-200:]

        def store() -> None:
            from digest.subscribers.library import import_library

            import_library(db, config, subscriber, raw, name, source="web", fetch=False)

        try:
            await run_in_threadpool(store)
        except UsageError as exc:
            return message(
                "Not imported",
                f"{exc}. Nothing was changed.",
                400,
                link=back,
                link_text="Back to your preferences",
            )
        return RedirectResponse(back, status_code=303)

    return [
        Route("/feed/{token}.atom", feed, methods=["GET"]),
        Route("/p/{token}/library", library, methods=["POST"]),
    ]
