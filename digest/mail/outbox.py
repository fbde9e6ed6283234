"""The embedded default backend: every message becomes a real RFC 5322 `.eml` file.

Files land in `<outbox_dir>/<issue date>/<delivery id>.eml`, with the HTML part beside it as
`<delivery id>.html` (to see the email as designed, in a browser), each written to a temp file
and renamed, so a crash never leaves half a message; an `index.html` per day links them. A
write that fails (a full disk) leaves no temp file, names the path, and stops the send: the
rest stay queued.
"""

from __future__ import annotations

import email.policy
import errno
import os
import uuid
from datetime import date
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from digest.mail.base import PermanentError, SendResult, TransientError
from digest.mail.wire import to_wire
from digest.render import render

DELIVERY_HEADER = "X-Digest-Delivery"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_atomically(path: Path, content: bytes) -> None:
    """Write to a sibling temp file, fsync, rename: readers see all of it or nothing, and a
    failed write (a full disk) leaves no temp file behind."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # unique per writer
    try:
        with open(tmp, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def why_not_written(path: Path, exc: OSError) -> str:
    """One line naming the file and the reason, in words (a full disk says so)."""
    reason = exc.strerror or str(exc)
    if exc.errno in DISK_FULL:
        return f"the disk is full: cannot write {path} ({reason}); free some space"
    return f"cannot write {path} ({reason})"


def html_part(message: EmailMessage) -> bytes | None:
    """The HTML alternative as UTF-8 bytes, or None (a text-only message)."""
    body = message.get_body(("html",))
    if body is None:
        return None
    content = body.get_content()
    return content.encode("utf-8") if isinstance(content, str) else None


class OutboxBackend:
    """Writes messages to disk instead of sending them; the provider id is the file's path."""

    name = "outbox"
    # A send job of a fleet writes no index (each would read every other job's files: work
    # that grows with the square of the issue); the stage writes it once at the end.
    write_indexes = True

    def __init__(self, outbox_dir: Path):
        self.outbox_dir = Path(outbox_dir)
        self.issue_date: date | None = None
        self._written: dict[Path, dict[str, dict[str, str]]] = {}  # folder -> file -> headers
        self.index_problems: list[str] = []  # index pages close() could not write

    def start_issue(self, issue_date: date) -> None:
        """Group the following messages under this issue's folder."""
        self.issue_date = issue_date

    def _day_dir(self, message: EmailMessage) -> Path:
        day = self.issue_date
        if day is None:  # used on its own: fall back to the message's Date header
            try:
                day = parsedate_to_datetime(str(message["Date"])).date()
            except (TypeError, ValueError):
                day = date.today()
        return self.outbox_dir / day.isoformat()

    def send(self, message: EmailMessage, delivery_id: str) -> SendResult:
        if not delivery_id or "/" in delivery_id or delivery_id.startswith("."):
            raise PermanentError(f"unusable delivery id {delivery_id!r}")
        if message[DELIVERY_HEADER] is None:
            message[DELIVERY_HEADER] = delivery_id
        day_dir = self._day_dir(message)
        path = day_dir / f"{delivery_id}.eml"
        page = day_dir / f"{delivery_id}.html"
        html = html_part(message)
        target = day_dir
        try:  # the page first: the .eml is the delivery, written last
            day_dir.mkdir(parents=True, exist_ok=True)
            if html is not None:
                target = page
                write_atomically(page, html)
            target = path
            write_atomically(path, to_wire(message))
        except OSError as exc:  # disk full, permissions: nothing was "delivered"
            page.unlink(missing_ok=True)
            # seconds will not mend a file system: stop the send, the rest stay queued
            raise TransientError(why_not_written(target, exc), retry=False) from exc
        self._written.setdefault(day_dir, {})[path.name] = _index_entry(path, message)
        return SendResult(provider_message_id=str(path))

    def close(self) -> None:
        """Rebuild the index page of every folder written to. One that cannot be written is
        noted in `index_problems` (the messages themselves are written already)."""
        self.index_problems = []
        if not self.write_indexes:
            self._written.clear()
            return
        for day_dir, known in sorted(self._written.items()):
            try:
                write_index(day_dir, known)
            except OSError as exc:
                self.index_problems.append(
                    f"outbox index not updated: {why_not_written(day_dir / 'index.html', exc)}"
                )
        self._written.clear()


def _index_entry(path: Path, headers) -> dict[str, str]:
    page = path.with_suffix(".html")
    return {
        "file": path.name,
        "page": page.name if page.exists() else "",
        "subject": str(headers["Subject"] or "(no subject)"),
        "to": str(headers["To"] or ""),
        "date": str(headers["Date"] or ""),
    }


def write_index(day_dir: Path, known: dict[str, dict[str, str]] | None = None) -> Path:
    """An index.html listing every .eml in the folder (subject, recipient), each with its
    HTML page to open in a browser, escaped by Jinja.

    `known` holds entries for files this process wrote; only the others are parsed.
    """
    parser = BytesHeaderParser(policy=email.policy.default)
    known = known or {}
    messages = []
    for path in sorted(day_dir.glob("*.eml")):
        entry = known.get(path.name)
        if entry is None:
            with open(path, "rb") as handle:
                entry = _index_entry(path, parser.parse(handle))
        messages.append(entry)
    page = render("mail/outbox_index.html", day=day_dir.name, messages=messages)
    index = day_dir / "index.html"
    write_atomically(index, page.encode("utf-8"))
    return index
