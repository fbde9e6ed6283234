"""CLI commands for the service stage: run, schedule, serve, backup, doctor (thin wrappers)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from digest.cli.common import (
    ARXIV_BEGAN,
    JsonOption,
    console,
    err_console,
    parse_date_option,
    print_json,
    show_progress,
    state,
)
from digest.config import ConfigError
from digest.errors import UsageError


def run(
    day: Annotated[
        str | None,
        typer.Option(
            "--date",
            help="Issue date YYYY-MM-DD (default: arXiv's newest listing, today in New York).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Redo every stage, even ones that finished for this date, and send "
            "even when the issue is late. The ledger still never sends a digest twice.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the whole day once: fetch, embed, rank, send, build the site.

    Re-running continues where a crashed run stopped. A second concurrent run refuses to start (exit 1).
    No announcement today is not an error (exit 0, nothing sent).
    """
    from digest.pipeline import run_daily

    progress = (
        (lambda text: err_console.print(f"[dim]{escape(text)}[/]"))
        if (show_progress() and not as_json)
        else None
    )
    issue = parse_date_option(day)
    if issue is not None and issue < ARXIV_BEGAN:
        raise UsageError(f"--date {issue} is before arXiv's first listing ({ARXIV_BEGAN})")
    report = run_daily(state.db, state.config, issue, force=force, progress=progress)
    if as_json:
        print_json(report.as_dict())
    else:
        table = Table("stage", "status", "seconds", "counts", box=None)
        for stage in report.stages:
            counts = ", ".join(f"{k}={v}" for k, v in stage.counts.items() if k != "trace")
            table.add_row(stage.stage, stage.status, f"{stage.duration_s:.1f}", escape(counts))
        console.print(table)
        for stage in report.stages:
            if stage.error:
                console.print(f"[red]{stage.stage}: {escape(stage.error)}[/]")
        console.print(escape(report.summary))
    if report.status == "stale":
        err_console.print(
            f"arXiv's feeds do not list {report.issue_date} yet (they still show an earlier "
            "day); run again later: the scheduler retries every 30 minutes"
        )
    if report.status == "partial":
        err_console.print(
            "some feeds failed (see the fetch stage); the next `digest run` fetches them again"
        )
    if report.status in ("failed", "partial"):
        raise typer.Exit(1)


def schedule(
    in_process: Annotated[
        bool,
        typer.Option(
            "--in-process",
            help="Run the daily job inside this process instead of as a child "
            "`digest run` (which starts with fresh memory every day).",
        ),
    ] = False,
) -> None:
    """Run the scheduler (one long-lived process) that starts `digest run` at \\[schedule].cron.

    On SQLite it refuses to start when another scheduler holds the lock.
    On PostgreSQL run one on several machines: one leads, the others wait and take over.
    Ctrl-C stops it.
    """
    import logging

    from jobs.scheduler import run_scheduler

    config = state.config  # loading it checks [schedule].cron with the scheduler's parser
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    err_console.print(
        f"scheduler: `digest run` at '{config.schedule.cron}' "
        f"({config.schedule.timezone}); Ctrl-C stops it"
    )
    run_scheduler(config, in_process=in_process)


def _check_listen_address(host: str | None, port: int | None) -> None:
    """Refuse what uvicorn would die on with a traceback (a port out of range, a host that
    does not resolve)."""
    import socket

    if port is not None and not 1 <= port <= 65535:
        raise UsageError(f"--port must be between 1 and 65535, got {port}")
    if host is not None:
        try:
            socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError) as exc:
            raise UsageError(f"host {host!r} does not resolve to an address ({exc})") from exc


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default \\[service].host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default \\[service].port, 8000).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Web processes (several share DIGEST_SECRET_KEY; meant for PostgreSQL).",
        ),
    ] = 1,
) -> None:
    """Serve the web app (sign-up, confirm, preferences, unsubscribe, feedback, webhooks) and the static archive."""
    import logging

    from digest.web.server import serve as serve_app

    _check_listen_address(host or state.config.service.host, port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve_app(state.config, host, port, workers=workers)


def backup(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write the backup (default \\[service].backup_dir)."),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(help="How many newest backups to keep (default \\[service].backup_keep)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Copy the live database to a timestamped file only its owner can read, check it, prune old backups.

    Safe while the service and a run are writing.
    """
    from digest.ops.backup import backup as make_backup

    if keep is not None and keep < 1:
        raise UsageError("--keep must be at least 1")
    report = make_backup(state.config, directory, keep)
    if as_json:
        print_json(
            {
                "path": str(report.path),
                "size_bytes": report.size_bytes,
                "integrity": report.integrity,
                "seconds": report.seconds,
                "pruned": [str(p) for p in report.pruned],
            }
        )
        return
    console.print(
        f"backup {report.path} ({report.size_bytes:,} bytes, integrity "
        f"{report.integrity}, {report.seconds:.2f} s); pruned {len(report.pruned)}",
        markup=False,
    )


def doctor(as_json: JsonOption = False) -> None:
    """Check config, postal address, the From domain's SPF/DKIM/DMARC, the database, templates and the schedule. Exit 1 when a check fails."""
    from dataclasses import asdict

    from digest.ops.doctor import doctor as run_doctor

    try:
        config = state.config
    except ConfigError as exc:  # the first check failed: say so in the report's own format
        _print_checks(as_json, [{"name": "config", "status": "fail", "detail": str(exc)}])
        raise typer.Exit(2) from exc
    report = run_doctor(config)
    _print_checks(as_json, [asdict(c) for c in report.checks])
    if not report.ok:
        raise typer.Exit(1)


def _print_checks(as_json: bool, checks: list[dict]) -> None:
    if as_json:
        print_json({"ok": all(c["status"] != "fail" for c in checks), "checks": checks})
        return
    colours = {"ok": "green", "warn": "yellow", "fail": "red", "skip": "dim"}
    for check in checks:
        colour = colours[check["status"]]
        status, name, detail = check["status"], check["name"], escape(check["detail"])
        console.print(f"[{colour}]{status:>4}[/] {name}: {detail}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("run")(run)
    app.command("schedule")(schedule)
    app.command("serve")(serve)
    app.command("backup")(backup)
    app.command("doctor")(doctor)
