"""CLI commands for subscribers and feedback (thin wrappers over library functions)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from digest.cli.common import console, err_console, print_json, state, stored_db

subscribers_app = typer.Typer(
    help="People who get the digest: add, list, show, edit, remove, import from CSV, export. "
    "Adds from the command line are operator actions: the subscriber is active at once.",
    no_args_is_help=True,
)
feedback_app = typer.Typer(
    help="Record a subscriber's likes and dislikes of papers (they teach their ranking).",
    no_args_is_help=True,
)


@subscribers_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    name: Annotated[str, typer.Option(help="Their name, used in the greeting.")] = "",
    topic: Annotated[
        list[str] | None,
        typer.Option(
            "--topic",
            "-t",
            help="A curated topic to follow (repeatable). See `digest topics list`.",
        ),
    ] = None,
    text: Annotated[
        str,
        typer.Option(
            help='A personal topic in their own words, e.g. "diffusion models for protein design".'
        ),
    ] = "",
    author: Annotated[
        list[str] | None,
        typer.Option(
            "--author",
            "-a",
            help="Follow papers by this author (repeatable; a name stored in the archive).",
        ),
    ] = None,
    frequency: Annotated[str, typer.Option(help="daily or weekly.")] = "daily",
    weekday: Annotated[
        str | None, typer.Option(help="Day of the weekly digest: mon..sun (weekly only).")
    ] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone, e.g. Europe/Paris.")] = "UTC",
    max_papers: Annotated[int, typer.Option(help="Most papers per email (1..50).")] = 10,
    send_hour: Annotated[
        int | None,
        typer.Option(
            help="Deliver at this hour (0..23) of their time zone; default: as soon as it is out."
        ),
    ] = None,
    always_send: Annotated[
        bool, typer.Option("--always-send", help="Send an email even when nothing matched.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the new subscriber as JSON.")
    ] = False,
) -> None:
    """Add an active subscriber (an operator action; web sign-ups use double opt-in)."""
    from digest.subscribers.manage import add_subscriber, subscriber_details

    db = state.db
    subscriber = add_subscriber(
        db,
        email,
        name=name,
        status="active",
        frequency=frequency,
        weekday=weekday,
        timezone=timezone,
        max_papers=max_papers,
        send_hour=send_hour,
        always_send=always_send,
        source="cli",
        topics=topic or (),
        text=text,
        authors=author or (),
    )
    details = subscriber_details(db, subscriber)
    if as_json:
        print_json(details)
        return
    topics = details["topics"] + [t["name"] for t in details["personal_topics"]]
    console.print(
        escape(
            f"added {subscriber.email} (id {subscriber.id}, {subscriber.frequency}, "
            f"topics: {', '.join(topics) or 'none'})"
        )
    )


@subscribers_app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(
            help="Only this status: pending, active, unsubscribed, bounced or complained."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List subscribers with their status, schedule and topics."""
    from digest.subscribers.import_export import export_subscribers

    rows = export_subscribers(stored_db(), status=status)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no subscribers" + (f" with status {status}" if status else ""))
        return
    table = Table("email", "status", "schedule", "max", "topics", "feedback")
    for row in rows:
        schedule = row["frequency"] + (f" ({row['weekday']})" if row["weekday"] else "")
        topics = row["topics"] + [f"own: {t['name']}" for t in row["personal_topics"]]
        fb = row["feedback"]
        table.add_row(
            escape(row["email"]),
            row["status"],
            schedule,
            str(row["max_papers"]),
            escape("; ".join(topics)),
            f"+{fb['like']} -{fb['dislike']}",
        )
    console.print(table)


@subscribers_app.command("show")
def show(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one subscriber: settings, topics, personal topics and feedback counts."""
    from digest.subscribers.manage import require_subscriber, subscriber_details

    details = subscriber_details(stored_db(), require_subscriber(stored_db(), email))
    if as_json:
        print_json(details)
        return
    for key, value in details.items():
        if key == "personal_topics":
            for topic in value:
                console.print(f"{'personal topic':>16}: {escape(topic['name'])}")
        elif key in ("topics", "followed_authors"):
            console.print(f"{key.replace('_', ' '):>16}: {escape(', '.join(value)) or '(none)'}")
        elif key == "feedback":
            console.print(
                f"{'feedback':>16}: {value['like']} liked, {value['dislike']} "
                f"disliked, {value['click']} clicked"
            )
        elif value not in (None, ""):
            console.print(f"{key:>16}: {escape(str(value))}")


@subscribers_app.command("edit")
def edit(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    status: Annotated[
        str | None,
        typer.Option(
            help="pending, active, unsubscribed (stops mail, keeps the record), bounced or "
            "complained."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Their name.")] = None,
    topic: Annotated[
        list[str] | None,
        typer.Option(
            "--topic",
            "-t",
            help='Curated topics to follow, replacing the current ones (repeatable; --topic "" '
            "follows none).",
        ),
    ] = None,
    frequency: Annotated[str | None, typer.Option(help="daily or weekly.")] = None,
    weekday: Annotated[str | None, typer.Option(help="Day of the weekly digest: mon..sun.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    max_papers: Annotated[int | None, typer.Option(help="Most papers per email (1..50).")] = None,
    send_hour: Annotated[
        int | None, typer.Option(help="Deliver at this hour (0..23) of their time zone.")
    ] = None,
    no_send_hour: Annotated[
        bool,
        typer.Option(
            "--no-send-hour", help="Deliver with the daily run again, at no particular hour."
        ),
    ] = False,
    always_send: Annotated[
        bool | None,
        typer.Option("--always-send/--no-always-send", help="Send even when nothing matched."),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="Language of the TL;DR lines (en, zh, zh-TW, ja, ko, de, fr, es, …); the rest "
            "of the email stays English."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the subscriber as JSON.")] = False,
) -> None:
    """Change a subscriber's status, topics or preferences (options not given stay as they are)."""
    from digest.errors import UsageError
    from digest.subscribers.manage import edit_subscriber, subscriber_details

    given = {
        "name": name,
        "frequency": frequency,
        "weekday": weekday,
        "timezone": timezone,
        "max_papers": max_papers,
        "send_hour": send_hour,
        "always_send": always_send,
        "language": language,
    }
    changes: dict[str, object] = {key: value for key, value in given.items() if value is not None}
    if no_send_hour:  # a send hour set once could not be taken back from the command line
        if send_hour is not None:
            raise UsageError("choose one of --send-hour and --no-send-hour")
        changes["send_hour"] = None
    if not changes and status is None and topic is None:
        raise UsageError("nothing to change: give at least one option (see --help)")
    subscriber = edit_subscriber(
        stored_db(),
        email,
        status=status,
        topics=None if topic is None else [t for t in topic if t.strip()],
        text_version=state.config.service.consent_text_version,
        **changes,
    )
    if as_json:
        print_json(subscriber_details(stored_db(), subscriber))
    else:
        console.print(escape(f"updated {subscriber.email} ({subscriber.status})"))


def _confirmed(question: str) -> bool:
    """Ask on the terminal; no answer at all (stdin closed: cron, a script) is a no, said so,
    rather than a silent exit 1."""
    try:
        return typer.confirm(question)
    except typer.Abort:
        err_console.print("\nno answer (pass --yes to delete without asking)")
        return False


@subscribers_app.command("remove")
def remove(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Don't ask for confirmation.")] = False,
) -> None:
    """Delete a subscriber with their personal topics and feedback (to stop mail but keep the record, the subscriber can unsubscribe instead)."""
    from digest.subscribers.manage import remove_subscriber, require_subscriber

    subscriber = require_subscriber(stored_db(), email)
    if subscriber.status in ("unsubscribed", "bounced", "complained"):
        err_console.print(
            escape(
                f"warning: {subscriber.email} is {subscriber.status}; once deleted nothing "
                "remembers that, so a later add or import could mail them again "
                "(`digest subscribers edit --status unsubscribed` keeps the record)"
            )
        )
    if not yes and not _confirmed(f"Delete {subscriber.email} and their feedback?"):
        err_console.print(f"{escape(subscriber.email)} was not removed")
        raise typer.Exit(1)
    remove_subscriber(stored_db(), subscriber.email)
    console.print(f"removed {escape(subscriber.email)}")


@subscribers_app.command("import")
def import_(
    csv_path: Annotated[
        Path,
        typer.Argument(
            help="CSV file with a header row. Columns: email "
            "(required), name, topics (names separated by ';'), text (own-words "
            "topics separated by '|'), authors (followed authors separated by ';'), "
            "frequency, weekday, timezone, max_papers, "
            "always_send, send_hour, status (default active), created_at and confirmed_at "
            "(an export's dates are kept). Cells may be separated "
            "by ',' or, in spreadsheet exports, by ';' or tabs. '-' reads standard input.",
            metavar="CSV",
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Add subscribers from a CSV file.

    All or nothing: if any row is bad, every bad row is listed and nothing is added (exit code 2). Addresses already subscribed are skipped."""
    from digest.errors import UsageError
    from digest.subscribers.import_export import import_subscribers_file

    report = import_subscribers_file(state.db, csv_path, stdin=sys.stdin.buffer)
    if as_json:
        print_json(report.as_dict())
    else:
        for line, address in report.duplicates:
            err_console.print(
                escape(f"{csv_path}:{line}: {address} is already a subscriber (skipped)")
            )
        for line, address, first in report.repeats:
            err_console.print(
                escape(f"{csv_path}:{line}: {address} repeats line {first} (skipped)")
            )
        for line, reason in report.errors:
            err_console.print(escape(f"{csv_path}:{line}: {reason}"))
        if report.imported:
            console.print(
                f"added {len(report.added)}, already subscribed {len(report.duplicates)}, "
                f"repeated in the file {len(report.repeats)}"
            )
    if report.errors:
        raise UsageError(
            f"nothing imported: {len(report.errors)} bad row(s) in {csv_path} "
            f"({report.good_rows} good, {len(report.duplicates)} already subscribed, "
            f"{len(report.repeats)} repeated in the file)"
        )


@subscribers_app.command("export")
def export(
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON with personal topics and feedback counts.")
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV in the import format (default).")
    ] = False,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
) -> None:
    """Write all subscribers to stdout (CSV by default, re-importable with `import`)."""
    from digest.errors import UsageError
    from digest.subscribers.import_export import export_subscribers, export_subscribers_csv

    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    if as_json:
        print_json(export_subscribers(stored_db(), status=status))
    else:
        typer.echo(export_subscribers_csv(stored_db(), status=status), nl=False)


@feedback_app.command("add")
def feedback_add(
    email: Annotated[str, typer.Argument(help="The subscriber's email address.")],
    paper: Annotated[str, typer.Argument(help="arXiv id of a stored paper, e.g. 2508.12345.")],
    like: Annotated[bool, typer.Option("--like", help="They liked it.")] = False,
    dislike: Annotated[bool, typer.Option("--dislike", help="They didn't like it.")] = False,
    click: Annotated[bool, typer.Option("--click", help="They opened it.")] = False,
) -> None:
    """Record that a subscriber liked or disliked a paper.

    A later verdict replaces an earlier opposite one."""
    from digest.errors import UsageError
    from digest.subscribers.manage import record_feedback, require_subscriber

    chosen = [kind for kind, on in (("like", like), ("dislike", dislike), ("click", click)) if on]
    if len(chosen) != 1:
        raise UsageError("give exactly one of --like, --dislike, --click")
    paper_id = record_feedback(stored_db(), email, paper, chosen[0])
    address = require_subscriber(stored_db(), email).email
    console.print(escape(f"recorded {chosen[0]} of {paper_id} by {address}"))


def register(app: typer.Typer) -> None:
    """Add the `subscribers` and `feedback` groups to the main app."""
    app.add_typer(subscribers_app, name="subscribers")
    app.add_typer(feedback_app, name="feedback")
