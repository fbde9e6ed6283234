"""Import and export subscriber lists (CSV in, CSV or JSON out).

Import checks every row and is all or nothing: bad rows are reported with their line number
and then nothing is added; addresses already subscribed are skipped. A header with ';' or tab
separators (spreadsheet exports) is understood too. Export writes the same columns import
reads, so an export can be imported elsewhere. Manage tokens are never exported.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from digest.errors import UsageError
from digest.store import subscribers as store
from digest.store.db import transaction
from digest.subscribers.fields import DEFAULT_MAX_PAPERS, normalise_email
from digest.subscribers.manage import add_subscriber, details_from, get_subscriber_by_email
from digest.topics import catalog as topic_logic

CSV_COLUMNS = (
    "email",
    "name",
    "topics",  # curated topic names separated by ';'
    "text",  # own-words topics separated by '|'
    "authors",  # followed authors separated by ';'
    "frequency",
    "weekday",
    "timezone",
    "max_papers",
    "always_send",
    "send_hour",
    "status",
)
EXPORT_ONLY_COLUMNS = ("created_at", "confirmed_at")  # read back when present (a move)
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"", "0", "false", "no", "n", "off"}


@dataclass
class ImportReport:
    """Outcome of one import: addresses added, and skipped rows with their line and reason.

    An import is all or nothing: with any bad row nothing is added (`imported` is False and
    `good_rows` says how many rows would have been added once the bad ones are fixed).
    """

    added: list[str] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (line, address)
    repeats: list[tuple[int, str, int]] = field(default_factory=list)  # (line, address, first)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    good_rows: int = 0

    @property
    def imported(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict:
        return {
            "imported": self.imported,
            "added": self.added,
            "good_rows": self.good_rows,
            "duplicates": [{"line": n, "email": e} for n, e in self.duplicates],
            "repeats": [{"line": n, "email": e, "first_line": f} for n, e, f in self.repeats],
            "errors": [{"line": n, "error": e} for n, e in self.errors],
        }


class _BadRows(Exception):
    """Raised inside the import transaction to roll every row back."""


def _flag(value: str, column: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{column} must be yes or no, got {value!r}")


def _timestamp(value: str, column: str) -> str | None:
    """An exported created_at/confirmed_at, kept so a move to a new store keeps consent dates."""
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{column} must be an ISO date and time, got {value!r}") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat(timespec="seconds")


def _row_options(row: dict[str, str]) -> dict:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    max_papers = cell("max_papers")
    if max_papers and not max_papers.lstrip("-").isdecimal():
        raise UsageError(f"max_papers must be a whole number, got {max_papers!r}")
    send_hour = cell("send_hour")
    if send_hour and not send_hour.isdecimal():
        raise UsageError(f"send_hour must be a whole number 0..23, got {send_hour!r}")
    return {
        "name": cell("name"),
        "topics": [t for t in cell("topics").split(";") if t.strip()],
        "frequency": cell("frequency").lower() or "daily",
        "weekday": cell("weekday") or None,
        "timezone": cell("timezone") or "UTC",
        "max_papers": int(max_papers) if max_papers else DEFAULT_MAX_PAPERS,
        "always_send": _flag(cell("always_send"), "always_send"),
        "send_hour": int(send_hour) if send_hour else None,
        "status": cell("status").lower() or "active",
        "created_at": _timestamp(cell("created_at"), "created_at"),
        "confirmed_at": _timestamp(cell("confirmed_at"), "confirmed_at"),
    }


def _delimiter(header_line: str) -> str:
    """',' unless the header only makes sense split on ';' or a tab (spreadsheet exports)."""
    for delimiter in (",", ";", "\t"):
        names = [h.strip().lower() for h in header_line.split(delimiter)]
        if "email" in names:
            return delimiter
    return ","


def _header(cells: list[str]) -> list[str]:
    """The lower-cased column names; unknown, repeated or missing `email` -> UsageError."""
    headers = [h.strip().lower() for h in cells]
    if "email" not in headers:
        found = ", ".join(repr(h.strip()[:40]) for h in cells[:8] if h.strip()) or "nothing"
        raise UsageError(
            f"the CSV needs a header row with an 'email' column (its first row has {found})"
        )
    named = [h for h in headers if h]
    unknown = [h for h in named if h not in CSV_COLUMNS + EXPORT_ONLY_COLUMNS]
    if unknown:
        raise UsageError(
            f"unknown CSV column(s): {', '.join(unknown)} (known: {', '.join(CSV_COLUMNS)})"
        )
    repeated = sorted({h for h in named if named.count(h) > 1})
    if repeated:
        raise UsageError(f"CSV column(s) named twice in the header: {', '.join(repeated)}")
    return headers


def _row_cells(headers: list[str], cells: list[str]) -> dict[str, str]:
    """Cells by column name; a cell under no (or an empty) header name must be empty."""
    stray = [
        n
        for n, value in enumerate(cells, start=1)
        if value.strip() and (n > len(headers) or not headers[n - 1])
    ]
    if stray:
        raise UsageError(
            f"{len(cells)} cells but the header has {len(headers)} columns "
            f"(a value with a comma needs quotes)"
            if stray[-1] > len(headers)
            else f"a value in column {stray[0]}, which has no name in the header"
        )
    return {h: _unsheet(v) for h, v in zip(headers, cells, strict=False) if h}


def _add_row(db, address: str, row: dict[str, str]) -> None:
    options = _row_options(row)
    texts: dict[str, str] = {}  # one topic per text, whatever its case or spacing
    for part in (row.get("text") or "").split("|"):
        own_words = " ".join(part.split())
        texts.setdefault(own_words.lower(), own_words)
    with transaction(db):  # a savepoint: a failing row leaves nothing behind
        subscriber = add_subscriber(db, address, source="import", **options)
        for own_words in texts.values():
            if own_words:
                topic_logic.add_personal_topic(db, subscriber.id, text=own_words)
        authors = [a for a in (row.get("authors") or "").split(";") if a.strip()]
        if authors:
            topic_logic.set_followed_authors(db, subscriber.id, authors, must_exist=False)


def import_subscribers_csv(db, text: str) -> ImportReport:
    """Add every row of a subscriber CSV (header row required, `email` column required).

    Every row is checked; if any is bad nothing is added and the report lists them all.
    Addresses already subscribed (or repeated in the file) are skipped, not errors.
    """
    text = text.lstrip("\ufeff")
    first, _, rest = text.partition("\n")
    skipped_lines = 0
    if first.rstrip("\r").lower().startswith("sep=") and len(first.rstrip("\r")) == 5:
        delimiter, text = first[4], rest  # Excel's "sep=;" line names the separator
        skipped_lines = 1  # so line numbers still count it
    else:
        delimiter = _delimiter(first)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    headers = _header(next(reader, []))
    report = ImportReport()
    seen: dict[str, int] = {}  # address -> the line that added it
    last_line = reader.line_num + skipped_lines
    try:
        with transaction(db):
            for cells in reader:
                # a row's first line (a quoted cell may span lines; line_num is the last)
                line, last_line = last_line + 1, reader.line_num + skipped_lines
                if not any(cell.strip() for cell in cells):
                    continue  # blank line
                try:
                    row = _row_cells(headers, cells)
                    address = normalise_email(row.get("email", ""))
                    if address.lower() in seen:  # the file names it twice
                        report.repeats.append((line, address, seen[address.lower()]))
                        continue
                    if get_subscriber_by_email(db, address):
                        report.duplicates.append((line, address))
                        continue
                    _add_row(db, address, row)
                except UsageError as exc:
                    report.errors.append((line, str(exc)))
                    continue
                seen[address.lower()] = line
                report.added.append(address)
            report.good_rows = len(report.added)
            if report.errors:
                raise _BadRows
    except _BadRows:
        report.added = []
    return report


def import_subscribers_file(db, path: str | Path, stdin: IO[bytes] | None = None) -> ImportReport:
    """Import a CSV file; the path "-" reads `stdin` (`digest subscribers export | ... import -`)."""
    file_path = Path(path)
    try:
        if str(path) == "-" and stdin is not None:
            raw = stdin.read()
        else:
            raw = file_path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{file_path}: file not found") from None
    except OSError as exc:
        raise UsageError(f"{file_path}: cannot read it ({exc.strerror or exc})") from None
    text = _decoded(raw, file_path)
    try:
        return import_subscribers_csv(db, text)
    except csv.Error as exc:
        raise UsageError(f"{file_path}: not a readable CSV file ({exc})") from None


def _decoded(raw: bytes, file_path: Path) -> str:
    """UTF-8 (with or without a BOM), or UTF-16 with its BOM (Excel's 'Unicode text'); other
    bytes are refused naming the line, since guessing a legacy code page mangles names."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise UsageError(f"{file_path}: broken UTF-16 text") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{file_path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save it as 'CSV UTF-8'"
        ) from None


def export_subscribers(db, status: str | None = None) -> list[dict]:
    """Every subscriber with topics, personal topics and feedback counts (JSON export).

    The same as `subscriber_details` for each, in three queries instead of two per person.
    """
    from digest.store.feedback import feedback_by_subscriber
    from digest.store.topics import topics_by_subscriber

    subscribers = store.list_subscribers(db, status=status)
    topics = topics_by_subscriber(db)
    feedback = feedback_by_subscriber(db)
    out = []
    for subscriber in subscribers:
        liked, disliked, clicked = feedback.get(subscriber.id, ([], [], []))
        counts = {"like": len(liked), "dislike": len(disliked), "click": len(clicked)}
        out.append(details_from(subscriber, topics.get(subscriber.id, []), counts))
    return out


def export_subscribers_csv(db, status: str | None = None) -> str:
    """The CSV export: the import columns plus created_at and confirmed_at."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=[*CSV_COLUMNS, *EXPORT_ONLY_COLUMNS], lineterminator="\n"
    )
    writer.writeheader()
    for details in export_subscribers(db, status=status):
        writer.writerow(
            _sheet_safe(
                {
                    "email": details["email"],
                    "name": details["name"],
                    "topics": ";".join(details["topics"]),
                    "text": " | ".join(
                        t["description"] for t in details["personal_topics"] if t["description"]
                    ),
                    "authors": ";".join(details["followed_authors"]),
                    "frequency": details["frequency"],
                    "weekday": details["weekday"] or "",
                    "timezone": details["timezone"],
                    "max_papers": details["max_papers"],
                    "always_send": "yes" if details["always_send"] else "no",
                    "send_hour": "" if details["send_hour"] is None else details["send_hour"],
                    "status": details["status"],
                    "created_at": details["created_at"],
                    "confirmed_at": details["confirmed_at"] or "",
                }
            )
        )
    return out.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _sheet_safe(row: dict) -> dict:
    """A cell a spreadsheet would run as a formula gets a leading "'" (import removes it):
    names and own-words topics come from subscribers, so they must not run in Excel."""
    return {
        key: f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_STARTS) else value
        for key, value in row.items()
    }


def _unsheet(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_STARTS) else value


__all__ = [
    "CSV_COLUMNS",
    "ImportReport",
    "export_subscribers",
    "export_subscribers_csv",
    "import_subscribers_csv",
    "import_subscribers_file",
]
