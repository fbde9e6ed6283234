"""CLI commands for running past one machine: worker, migrate-db (docs/scale.md)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from digest.cli.common import JsonOption, console, err_console, print_json, show_progress, state


def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            help="Jobs this process runs at once (threads; for more CPU start more processes).",
            min=1,
        ),
    ] = 1,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "-q",
            help="Only jobs of this queue (repeatable): embed, plan, send, site, maintenance.",
        ),
    ] = None,
) -> None:
    """Run the day's jobs (embedding, planning, rendering and sending) on PostgreSQL.

    Start any number, on any machines, against the same \\[database].url.
    `digest run` splits its stages into jobs for them and waits for them.
    Ctrl-C or SIGTERM stops it after the job under way.
    """
    import logging

    from digest.workers.runner import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    err_console.print(
        f"worker: {concurrency} at a time, queues {', '.join(queue or ['all'])}; Ctrl-C stops it"
    )
    run_worker(state.config, concurrency=concurrency, queues=queue)


def migrate_db(
    to: Annotated[
        str, typer.Option("--to", help="The empty PostgreSQL database: postgresql://user@host/db.")
    ],
    as_json: JsonOption = False,
) -> None:
    """Copy this SQLite database into an empty PostgreSQL database, then check it.

    Every table is copied in batches, then row counts and a checksum per table are compared.
    Exit 1 if any differs. The SQLite file is only read; a target holding rows is refused.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from digest.ops.migrate_db import migrate_db as run_migrate

    source = state.config.db_path
    if show_progress() and not as_json:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            tasks: dict = {}

            def progress(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=total or 1)
                bar.update(tasks[table], completed=done if total else 1)

            report = run_migrate(source, to, progress)
    else:
        report = run_migrate(source, to)
    if as_json:
        print_json(report.as_dict())
    else:
        for table in report.tables:
            mark = "ok" if table.rows == table.target_rows and table.checksum_ok else "DIFFERS"
            console.print(f"{table.table:<20} {table.rows:>9,} rows  {mark}", markup=False)
        console.print(
            escape(
                f"copied {source} to {report.target}: "
                + ("every table checked" if report.ok else "some tables differ")
            ),
        )
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("worker")(worker)
    app.command("migrate-db")(migrate_db)
