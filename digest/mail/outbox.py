"""The embedded default backend: every message becomes a real RFC 5322 `.eml` file.

Files land in `<outbox_dir>/<issue date>/<delivery id>.eml` (written to a temp file and renamed,
so a crash never leaves half a message), with an `index.html` per day linking them.
"""

from __future__ import annotations

import email.policy
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


def write_atomically(path: Path, content: bytes) -> None:
    """Write to a sibling temp file, fsync, rename: readers see all of it or nothing."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # unique per writer
    with open(tmp, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


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
        try:
            day_dir.mkdir(parents=True, exist_ok=True)
            path = day_dir / f"{delivery_id}.eml"
            write_atomically(path, to_wire(message))
        except OSError as exc:  # disk full, permissions: nothing was "delivered"
            raise TransientError(f"cannot write to the outbox {day_dir}: {exc}") from exc
        self._written.setdefault(day_dir, {})[path.name] = _index_entry(path.name, message)
        return SendResult(provider_message_id=str(path))

    def close(self) -> None:
        """Rebuild the index page of every folder written to."""
        if not self.write_indexes:
            self._written.clear()
            return
        for day_dir, known in sorted(self._written.items()):
            write_index(day_dir, known)
        self._written.clear()


def _index_entry(name: str, headers) -> dict[str, str]:
    return {
        "file": name,
        "subject": str(headers["Subject"] or "(no subject)"),
        "to": str(headers["To"] or ""),
        "date": str(headers["Date"] or ""),
    }


def write_index(day_dir: Path, known: dict[str, dict[str, str]] | None = None) -> Path:
    """An index.html listing every .eml in the folder (subject, recipient), escaped by Jinja.

    `known` holds entries for files this process wrote; only the others are parsed.
    """
    parser = BytesHeaderParser(policy=email.policy.default)
    known = known or {}
    messages = []
    for path in sorted(day_dir.glob("*.eml")):
        entry = known.get(path.name)
        if entry is None:
            with open(path, "rb") as handle:
                entry = _index_entry(path.name, parser.parse(handle))
        messages.append(entry)
    page = render("mail/outbox_index.html", day=day_dir.name, messages=messages)
    index = day_dir / "index.html"
    write_atomically(index, page.encode("utf-8"))
    return index
