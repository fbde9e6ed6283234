"""What every route of the web app shares: the config, the per-thread database connections,
the secret key, the mail thread, and the pages it answers with (a page, a message, a 404).

Token links (`/u/…`, `/p/…`, `/f/…`) are looked up through `subscriber_for`, which refuses a
client that has guessed wrong too often this minute (HTTP 429) before it looks.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.config import Config
from digest.models import Subscriber
from digest.render import render
from digest.web import actions
from digest.web.mailing import send_service_mail
from digest.web.pages import page_context
from digest.web.plumbing import Databases, RateLimited, count_token_miss, token_misses_over


@dataclass
class WebContext:
    config: Config
    dbs: Databases
    key: bytes
    site_dir: Path
    mailer: ThreadPoolExecutor  # one thread sends service mails in order, off the request path

    def client_ip(self, request: Request) -> str | None:
        host = request.client.host if request.client else None
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded and host in self.config.service.trusted_proxies:
            return forwarded.split(",")[-1].strip()
        return host

    def page(self, template: str, status: int = 200, personal: bool = True, **context):
        shared = page_context(self.config, self.site_dir)
        html = render(f"web/{template}", **shared, noindex=personal, **context)
        return HTMLResponse(html, status_code=status)

    def message(
        self,
        title: str,
        text: str,
        status: int = 200,
        link: str | None = None,
        link_text: str = "",
        address: str = "",
    ) -> HTMLResponse:
        """A page of one message; `address`, when given, is shown (escaped) under the title."""
        return self.page(
            "message.html.j2",
            status,
            title=title,
            text=text,
            link=link,
            link_text=link_text,
            address=address,
        )

    def link_not_found(self, status: int = 404, notice: str = "") -> HTMLResponse:
        """A token link that leads nowhere, with the form that mails the right one."""
        return self.page("link_not_found.html.j2", status, notice=notice)

    def curated_topics(self) -> list:
        from digest.store import topics as topic_store

        return topic_store.list_topics(self.dbs.get(), kind="curated")

    def send_later(self, mail: EmailMessage | None) -> None:
        """Hand a service mail to the mail thread: the answer never waits for the server."""
        if mail is not None:
            self.mailer.submit(send_service_mail, self.config, mail)

    async def subscriber_for(self, request: Request, token: str) -> Subscriber | None:
        """The token's subscriber, or None; a malformed token never reaches the database.
        Raises RateLimited once this client has guessed wrong too often this minute, and
        then answers no token of this client at all (not even a right one) until it passes."""
        ip = self.client_ip(request) or "-"
        limit = self.config.service.token_misses_per_ip_per_minute
        db = self.dbs.get
        if await run_in_threadpool(lambda: token_misses_over(db(), self.key, ip, limit)):
            raise RateLimited("too many wrong links from this address; try again in a minute")
        found = None
        if actions.token_format_ok(token):
            found = await run_in_threadpool(lambda: actions.subscriber_for_token(db(), token))
        if found is None:
            await run_in_threadpool(lambda: count_token_miss(db(), self.key, ip))
        return found
