"""CLI commands for the mail stage (thin wrappers over library functions)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from digest.cli.common import (
    ARXIV_BEGAN,
    JsonOption,
    console,
    err_console,
    parse_date_option,
    print_json,
    show_progress,
    state,
    stored_db,
)
from digest.errors import UsageError

deliveries_app = typer.Typer(
    help="The delivery ledger: one row per subscriber per issue, queued -> sending -> "
    "sent | failed | unknown. List rows, resolve the `unknown` ones, requeue the ones "
    "never handed to the provider.",
    no_args_is_help=True,
)

DateOption = Annotated[
    str | None,
    typer.Option(
        "--date",
        "-d",
        help="Issue date, YYYY-MM-DD (default: the latest announcement day stored).",
    ),
]


def _issue_date(value: str | None) -> date:
    """--date, else the latest announcement day with papers (what `preview`, `picks` and the
    site call the latest day), else arXiv's newest listing date (today in New York)."""
    if value is None:
        from digest.pipeline import default_issue_date
        from digest.store.days import latest_announcement_day

        newest = default_issue_date(state.config)
        # a wrong directory has no database: make none there (the command then says so)
        stored = latest_announcement_day(state.db) if state.config.db_path.exists() else None
        return stored if stored is not None and stored <= newest else newest
    return parse_date_option(value)  # type: ignore[return-value]


def _sendable_issue_date(value: str | None) -> date:
    """An issue arXiv has announced by now: a later --date (a typo of the year) sent every
    always-send subscriber a real 'Nothing matched today' email dated in the future."""
    from digest.pipeline import default_issue_date

    issue = _issue_date(value)
    newest = default_issue_date(state.config)
    if issue > newest:
        raise UsageError(
            f"--date {issue} is after arXiv's newest listing ({newest}, today in New York): "
            "nothing is announced for it yet"
        )
    if issue < ARXIV_BEGAN:
        raise UsageError(f"--date {issue} is before arXiv's first listing ({ARXIV_BEGAN})")
    return issue


def send(
    day: DateOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Plan and render every email and report; send nothing, change no delivery state.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Send even when the issue is older than \\[mail].max_lateness_hours."
        ),
    ] = False,
    held: Annotated[
        bool,
        typer.Option(
            "--held",
            help="Only deliver digests held for a subscriber's local send hour whose hour has "
            "come (recent issues; plans and renders nothing). Run it hourly from cron.",
        ),
    ] = False,
    ignore_complaints: Annotated[
        bool,
        typer.Option(
            "--ignore-complaints",
            help="Send although the 7-day complaint rate is above \\[mail].complaint_pause_rate.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Send one issue's digests with the configured backend (outbox, smtp or sendgrid).

    Every subscriber gets at most one email per issue: running it again sends nothing new.
    Subscribers with a local send hour stay queued ("held") until that hour; `--held` sends them.
    """
    from digest.mail.sending import send_issue

    if held:
        _send_held(as_json, ignore_complaints)
        return
    issue = _sendable_issue_date(day)

    def print_progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            err_console.print(f"\rsending {done}/{total}", end="\n" if done == total else "")

    progress = print_progress if show_progress() and not as_json else None
    report = send_issue(
        stored_db(),
        state.config,
        issue,
        dry_run=dry_run,
        force=force,
        progress=progress,
        ignore_complaints=ignore_complaints,
    )
    if as_json:
        print_json(report.as_dict())
    else:
        _print_send_report(report)
    if report.stopped or report.unknown or report.recovered_unknown:
        raise typer.Exit(1)


def _send_held(as_json: bool, ignore_complaints: bool) -> None:
    if state.config.on_postgres:  # the workers send them, under the fleet's limits
        from digest.workers.held import fleet_send_held

        progress = (lambda line: err_console.print(line)) if show_progress() else None
        reports = fleet_send_held(
            stored_db(), state.config, progress=progress, ignore_complaints=ignore_complaints
        )
    else:
        from digest.mail.held import send_held

        reports = send_held(stored_db(), state.config, ignore_complaints=ignore_complaints)
    if as_json:
        print_json([report.as_dict() for report in reports])
    elif not reports:
        console.print("no held digests are waiting")
    for report in [] if as_json else reports:
        _print_send_report(report)
    if any(r.stopped or r.unknown or r.recovered_unknown for r in reports):
        raise typer.Exit(1)


def _print_send_report(report) -> None:
    verb = "would send" if report.dry_run else "sent"
    console.print(
        f"{report.issue_date.isoformat()} via {report.backend}: {report.due} due, "
        f"{report.rendered} rendered, {report.empty} with nothing to send, "
        f"{report.already_handled} handled before; {verb} "
        f"{report.queued if report.dry_run else report.sent}, failed {report.failed}, "
        f"unknown {report.unknown}, skipped {report.skipped}"
        + (
            f", {report.recovered_unknown} interrupted earlier -> unknown"
            if report.recovered_unknown
            else ""
        )
        + (
            f", {report.requeued} not sent earlier -> {'would be ' if report.dry_run else ''}"
            "queued again"
            if report.requeued
            else ""
        )
        + (
            f", {report.reported} reported by the provider before a second try -> sent, "
            "not sent again"
            if report.reported
            else ""
        )
        + (
            f"; {report.held} held for their local hour (next {report.next_send_at})"
            if report.held
            else ""
        )
    )
    for line in report.errors[:20]:
        err_console.print(f"  {line}", markup=False)
    if report.unknown or report.recovered_unknown:
        err_console.print(
            "some deliveries are `unknown`: check the provider, then run "
            "`digest deliveries list --state unknown` and `digest deliveries "
            "resolve ID --sent|--failed`",
            markup=False,
        )
    if report.stopped:
        err_console.print(f"stopped: {report.stopped}", markup=False)
    if report.window:
        err_console.print(
            f"sending window: {report.window}; the rest stay queued for `digest send --held`",
            markup=False,
        )
    if report.outbox_index:
        console.print(f"outbox: {report.outbox_index}", markup=False)


@deliveries_app.command("list")
def list_command(
    delivery_state: Annotated[
        str | None,
        typer.Option(
            "--state",
            "-s",
            help="Only rows in this state: queued, sending, sent, failed, unknown or skipped.",
        ),
    ] = None,
    day: Annotated[
        str | None, typer.Option("--date", "-d", help="Only this issue date, YYYY-MM-DD.")
    ] = None,
    limit: Annotated[int, typer.Option(min=0, help="Show at most this many rows.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """List delivery ledger rows, oldest first."""
    from digest.store.deliveries import list_deliveries

    issue = _issue_date(day) if day else None
    rows = list_deliveries(stored_db(), state=delivery_state, issue_date=issue, limit=limit)
    if as_json:
        print_json([row.as_dict() for row in rows])
        return
    table = Table("id", "issue", "email", "state", "attempts", "provider id / error")
    for row in rows:
        detail = (
            row.error
            if row.state in ("failed", "unknown", "skipped")
            else (row.provider_message_id or "")
        )
        table.add_row(  # Text: a provider's error ("550 [/] ...") is not rich markup
            row.id,
            row.issue_date.isoformat(),
            Text(row.email or str(row.subscriber_id)),
            row.state,
            str(row.attempts),
            Text((detail or "")[:80]),
        )
    console.print(table)
    console.print(f"{len(rows)} deliveries")


@deliveries_app.command("resolve")
def resolve_command(
    delivery_id: Annotated[
        str, typer.Argument(help="The delivery id (see `digest deliveries list --state unknown`).")
    ],
    sent: Annotated[bool, typer.Option("--sent", help="The provider did deliver it.")] = False,
    failed: Annotated[
        bool, typer.Option("--failed", help="It was not delivered (it is still never resent).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Mark an `unknown` delivery sent or failed, after checking the provider's logs."""
    from digest.store.deliveries import resolve

    if sent == failed:
        raise UsageError("pass exactly one of --sent or --failed")
    row = resolve(stored_db(), delivery_id, "sent" if sent else "failed")
    if as_json:
        print_json(row.as_dict())
    else:
        console.print(f"{row.id}: {row.state}")


@deliveries_app.command("retry")
def retry_command(
    day: DateOption = None,
    email: Annotated[
        str | None, typer.Option("--email", "-e", help="Only this subscriber's rows.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be requeued; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Requeue failed deliveries the provider never accepted (an outage, Ctrl-C).

    The next `digest send` of the issue sends them.
    Rejections, `unknown` rows and readers who left stay failed.
    """
    from digest.mail.requeue import requeue_not_sent

    issue = _issue_date(day)
    subscriber_id = None
    if email is not None:
        from digest.subscribers.manage import require_subscriber

        subscriber_id = require_subscriber(stored_db(), email).id
    report = requeue_not_sent(stored_db(), issue, subscriber_id=subscriber_id, dry_run=dry_run)
    if as_json:
        print_json(report.as_dict())
        return
    verb = "would requeue" if dry_run else "requeued"
    console.print(f"{issue.isoformat()}: {verb} {len(report.requeued)} not-sent deliveries")
    for row in report.requeued:
        console.print(Text(f"  {row.id}  {row.email or row.subscriber_id}  was: {row.error}"))
    for passed in report.passed_over:
        row = passed.delivery
        err_console.print(
            Text(f"  left failed: {row.id}  {row.email or row.subscriber_id}  {passed.reason}")
        )
    if report.requeued and dry_run:  # nothing moved: no send would pick them up yet
        console.print("next: run it again without --dry-run to requeue them", markup=False)
    elif report.requeued:
        console.print(_send_hint(issue), markup=False)


def _send_hint(issue: date) -> str:
    from datetime import UTC, datetime

    from digest.mail.sending import hours_since_issue

    command = f"digest send --date {issue.isoformat()}"
    limit = state.config.mail.max_lateness_hours
    if hours_since_issue(state.config, issue, datetime.now(UTC)) > limit:
        return f"next: `{command} --force` sends them (the issue is past max_lateness_hours)"
    return f"next: `{command}` sends them (so does the scheduler's hourly pass)"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("send")(send)
    app.add_typer(deliveries_app, name="deliveries")
