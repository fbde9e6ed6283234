"""Import and export subscriber lists (CSV in, CSV or JSON out).

Import checks every row; bad rows and duplicates are reported with their line number and
skipped, good rows are added in one transaction. Export writes the same columns import
reads, so an export can be imported elsewhere. Manage tokens are never exported.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from digest import topics as topic_logic
from digest.errors import UsageError
from digest.store import subscribers as store
from digest.store.db import transaction
from digest.subscribers import (
    DEFAULT_MAX_PAPERS,
    add_subscriber,
    normalise_email,
    subscriber_details,
)

CSV_COLUMNS = (
    "email",
    "name",
    "topics",  # curated topic names separated by ';'
    "text",  # own-words topics separated by '|'
    "frequency",
    "weekday",
    "timezone",
    "max_papers",
    "always_send",
    "send_hour",
    "status",
)
EXPORT_ONLY_COLUMNS = ("created_at", "confirmed_at")
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"", "0", "false", "no", "n", "off"}


@dataclass
class ImportReport:
    """Outcome of one import: addresses added, and skipped rows with their line and reason."""

    added: list[str] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (line, address)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    def as_dict(self) -> dict:
        return {
            "added": self.added,
            "duplicates": [{"line": n, "email": e} for n, e in self.duplicates],
            "errors": [{"line": n, "error": e} for n, e in self.errors],
        }


def _flag(value: str, column: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UsageError(f"{column} must be yes or no, got {value!r}")


def _row_options(row: dict[str, str]) -> dict:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    max_papers = cell("max_papers")
    if max_papers and not max_papers.lstrip("-").isdigit():
        raise UsageError(f"max_papers must be a whole number, got {max_papers!r}")
    send_hour = cell("send_hour")
    if send_hour and not send_hour.isdigit():
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
    }


def import_subscribers_csv(db, text: str) -> ImportReport:
    """Add every good row of a subscriber CSV (header row required, `email` column required)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "email" not in headers:
        raise UsageError("the CSV needs a header row with an 'email' column")
    unknown = [h for h in headers if h not in CSV_COLUMNS + EXPORT_ONLY_COLUMNS]
    if unknown:
        raise UsageError(
            f"unknown CSV column(s): {', '.join(unknown)} (known: {', '.join(CSV_COLUMNS)})"
        )
    reader.fieldnames = headers
    report = ImportReport()
    seen: set[str] = set()
    with transaction(db):
        for row in reader:
            line = reader.line_num
            raw_email = (row.get("email") or "").strip()
            if not raw_email and not any(
                (v or "").strip() for v in row.values() if isinstance(v, str)
            ):
                continue  # blank line
            try:
                address = normalise_email(raw_email)
                if address.lower() in seen or store.get_subscriber_by_email(db, address):
                    report.duplicates.append((line, address))
                    continue
                options = _row_options(row)
                texts = [t.strip() for t in (row.get("text") or "").split("|") if t.strip()]
                with transaction(db):  # a savepoint: a failing row leaves nothing behind
                    subscriber = add_subscriber(db, address, source="import", **options)
                    for own_words in texts:
                        topic_logic.add_personal_topic(db, subscriber.id, text=own_words)
            except UsageError as exc:
                report.errors.append((line, str(exc)))
                continue
            seen.add(address.lower())
            report.added.append(address)
    return report


def import_subscribers_file(db, path: str | Path) -> ImportReport:
    file_path = Path(path)
    try:
        text = file_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{file_path}: file not found") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file_path}: not UTF-8 text") from None
    return import_subscribers_csv(db, text)


def export_subscribers(db, status: str | None = None) -> list[dict]:
    """Every subscriber with topics, personal topics and feedback counts (JSON export)."""
    return [subscriber_details(db, s) for s in store.list_subscribers(db, status=status)]


def export_subscribers_csv(db, status: str | None = None) -> str:
    """The CSV export: the import columns plus created_at and confirmed_at."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=[*CSV_COLUMNS, *EXPORT_ONLY_COLUMNS], lineterminator="\n"
    )
    writer.writeheader()
    for details in export_subscribers(db, status=status):
        writer.writerow(
            {
                "email": details["email"],
                "name": details["name"],
                "topics": ";".join(details["topics"]),
                "text": " | ".join(
                    t["description"] for t in details["personal_topics"] if t["description"]
                ),
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
    return out.getvalue()


__all__ = [
    "CSV_COLUMNS",
    "ImportReport",
    "export_subscribers",
    "export_subscribers_csv",
    "import_subscribers_csv",
    "import_subscribers_file",
]
