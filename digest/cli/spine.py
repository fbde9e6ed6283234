"""CLI commands for the spine: init, fetch, import, papers, status, demo (embed: embed.py)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from digest.cli.common import (
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
from digest.models import IngestReport

papers_app = typer.Typer(
    help="Look at stored papers: show one, or search them by meaning.", no_args_is_help=True
)


@contextmanager
def progress_bar(description: str, total: int | None = None):
    """A rich progress bar on a terminal; a no-op callback otherwise (cron, pipes, --json)."""
    if not show_progress():
        yield lambda done, total_=None: None
        return
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    # stderr, where show_progress() looked: on stdout the bar ended up in `--json > file`
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(done: int, total_: int | None = None) -> None:
            bar.update(task, completed=done, total=total_ if total_ is not None else total)

        yield advance


def _report_dict(report: IngestReport) -> dict:
    out = asdict(report)
    out["skipped"] = [asdict(s) for s in report.skipped[:20]]
    return out


def _print_reports(reports: list[IngestReport]) -> None:
    table = Table(
        "source",
        "feed / input",
        "status",
        "date",
        "fetched",
        "new",
        "updated",
        "unchanged",
        "skipped",
        box=None,
    )
    for r in reports:
        c = r.counts
        table.add_row(
            r.source,
            escape(r.label),
            r.status,
            str(r.channel_date or ""),
            str(c.fetched),
            str(c.new),
            str(c.updated),
            str(c.unchanged),
            str(c.skipped),
        )
    console.print(table)
    for r in reports:
        if r.error:
            console.print(f"[red]{escape(r.label)}: {escape(r.error)}[/]")
        for s in r.skipped[:5]:
            console.print(f"  skipped {escape(s.ref)}: {escape(s.reason)}", highlight=False)
        if len(r.skipped) > 5:
            console.print(f"  … and {len(r.skipped) - 5} more skipped records")


def init(as_json: JsonOption = False) -> None:
    """Create config.toml, the database and the sample topics file here, each if missing.

    Safe to run again: files already there are named and kept as they were, never overwritten.
    """
    from digest.ops.init import init_lines, init_project

    report = init_project(Path.cwd(), state)
    if as_json:
        print_json(report.as_dict())
        return
    for line in init_lines(report):
        console.print(line, highlight=False, markup=False)


def fetch(
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category",
            "-C",
            help="arXiv category to fetch (repeatable). Default: \\[arxiv].categories.",
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            help="feed = today's listing (RSS/Atom); "
            "api = the arXiv API, for back-fill by --ids or by category and --from/--to."
        ),
    ] = "feed",
    date_from: Annotated[
        str | None, typer.Option("--from", help="API: first submission date, YYYY-MM-DD.")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="API: last submission date.")] = None,
    ids: Annotated[
        list[str] | None,
        typer.Option(
            "--ids",
            help="API: arXiv ids to look up "
            "(repeatable or comma-separated; 2401.01234, 2401.01234v2, hep-th/9901001).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch new papers from arXiv and store them. Politely: one request per 3 s."""
    from digest.ingest.fetching import run_fetch

    _check_categories(category or [])
    reports = run_fetch(
        state.db,
        state.config,
        source=source,
        categories=category or None,
        ids=[i for raw in ids or [] for i in raw.split(",") if i.strip()],
        date_from=parse_date_option(date_from, "--from"),
        date_to=parse_date_option(date_to, "--to"),
    )
    if as_json:
        print_json([_report_dict(r) for r in reports])
    else:
        _print_reports(reports)
        if reports and all(r.status == "empty" for r in reports):
            console.print(_no_announcement_line())
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(1)


def _no_announcement_line() -> str:
    """An empty feed on a weekend is expected; on a weekday it is an arXiv holiday, or a
    rebuild that is late, which fetching again later tells apart."""
    from datetime import datetime

    from digest.pipeline import ARXIV_ZONE

    if datetime.now(ARXIV_ZONE).weekday() >= 5:
        return "No announcement today (a weekend in New York): nothing to do."
    return (
        "No announcement in the feed: an arXiv holiday, or today's listing is late "
        "(`digest fetch` again in an hour tells them apart)."
    )


def _check_categories(categories: list[str]) -> None:
    """A misspelt --category (cs.ai, notacat) fetched a feed arXiv answers with no papers,
    read as 'no announcement today'; name it before any request, as topics do."""
    from digest.config.categories import feed_problem

    for category in categories:
        problem = feed_problem(category)
        if problem:
            raise UsageError(f"--category: {problem}")


def _count_lines(path: Path) -> int:
    """Lines in a file, read in 1 MiB blocks (for the progress bar's total; about 1 s/GB)."""
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


def import_file(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON Lines file: the arXiv metadata snapshot "
            "format or one {id, title, abstract, authors, categories, published} per line."
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Import papers from a JSON Lines file (streamed; bad lines are skipped and counted)."""
    from digest.ingest.backfill import import_jsonl

    total = _count_lines(file) if show_progress() and file.is_file() else None
    with progress_bar(f"importing {file.name}", total) as advance:
        report = import_jsonl(state.db, file, progress=lambda done: advance(done))
    if as_json:
        print_json(_report_dict(report))
    else:
        _print_reports([report])
    if report.status == "failed":  # not one line was a paper: the input is wrong
        raise typer.Exit(2)


@papers_app.command("show")
def papers_show(
    paper_id: Annotated[str, typer.Argument(help="arXiv id (or imported id).")],
    as_json: JsonOption = False,
) -> None:
    """Show everything stored about one paper."""
    from digest.models import split_arxiv_id
    from digest.store import papers as paper_store

    key = (split_arxiv_id(paper_id) or (paper_id,))[0]
    db = stored_db()
    paper = paper_store.get_paper(db, key)
    if paper is None:
        raise UsageError(f"no stored paper with id {paper_id!r}")
    versions = paper_store.paper_versions(db, key)
    if as_json:
        print_json(asdict(paper) | {"versions": versions, "url": paper.abs_url})
        return
    console.print(f"[bold]{escape(paper.title)}[/]", highlight=False)
    if paper.authors:
        console.print(escape(", ".join(paper.authors)), highlight=False)
    facts = [  # an imported paper may know none of these: no 'v? ·  ·' then
        f"{paper.id} v{paper.version}" if paper.version else paper.id,
        " ".join(paper.categories),
        f"{paper.announce_type or ''} {paper.announced or ''}".strip(),
    ]
    console.print(escape(" · ".join(fact for fact in facts if fact)), highlight=False)
    if paper.abs_url:
        console.print(paper.abs_url)
    console.print()
    console.print(escape(paper.abstract), highlight=False)


@papers_app.command("search")
def papers_search(
    query: Annotated[str, typer.Argument(help="What you are looking for, in plain words.")],
    limit: Annotated[int, typer.Option(help="How many results.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Search stored papers by meaning (semantic search over the embeddings)."""
    from digest.embed.search import search_papers

    hits = search_papers(stored_db(), state.config, query, limit)
    if as_json:
        print_json([asdict(h) for h in hits])
        return
    for rank, hit in enumerate(hits, start=1):
        console.print(
            f"{rank:>2}. {hit.score:.3f}  [bold]{escape(hit.title)}[/]  ({hit.paper_id})",
            highlight=False,
        )


def status(as_json: JsonOption = False) -> None:
    """Show the last runs, how much is stored, the model, and any warnings."""
    from digest.ops.status import collect_status

    info = collect_status(stored_db(), state.config)
    if as_json:
        print_json(info)
        return
    console.print(
        f"database  {info['database']} ({info['database_bytes'] / 1e6:.1f} MB)", markup=False
    )
    console.print(
        f"papers    {info['papers']}   embedded {info['embeddings']} ({info['model']})",
        markup=False,
    )
    if info.get("subscribers") is not None:
        console.print(f"subscribers {info['subscribers']}")
    from datetime import UTC, datetime

    from digest.ops.status import day_lines

    console.print()
    for line in day_lines(info["day"], datetime.now(UTC)):
        console.print(line, markup=False, highlight=False)
    console.print()
    table = Table(
        "run",
        "source",
        "feed / input",
        "status",
        "date",
        "new",
        "updated",
        "skipped",
        "started",
        box=None,
    )
    for run in info["ingest_runs"]:
        table.add_row(
            str(run["id"]),
            run["source"],
            escape(run["category"] or ""),
            run["status"],
            run["channel_date"] or "",
            str(run["new"]),
            str(run["updated"]),
            str(run["skipped"]),
            run["started_at"],
        )
    console.print(table)
    for warning in info["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)


def demo(
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            max=5,
            help="Only the last N days of the recorded week (default: all 5, 1,202 papers; "
            "1 embeds about a third as many).",
        ),
    ] = None,
) -> None:
    """Run the whole product offline on a real recorded week of arXiv, in this directory."""
    from digest.ops.demo import run_demo

    _refuse_a_real_list()
    for line in run_demo(state, progress_factory=progress_bar, days=days):
        console.print(line, highlight=False, markup=False)


def _refuse_a_real_list() -> None:
    """The demo adds sample subscribers (example.org addresses) and papers: in a directory
    whose database has real subscribers they would join the real list and be mailed."""
    from digest.ops.demo import DEMO_LIBRARY_READER, DEMO_SUBSCRIBERS
    from digest.store.subscribers import list_subscribers
    from digest.summaries.demo_reader import DEMO_READER

    if not state.config.on_postgres and not state.config.db_path.exists():
        return
    samples = {email for email, *_ in DEMO_SUBSCRIBERS} | {DEMO_READER[0], DEMO_LIBRARY_READER}
    real = [s for s in list_subscribers(state.db) if s.email not in samples]
    if real:
        raise UsageError(
            f"{_database_name()} has {len(real)} real subscriber(s): the demo would add its "
            "sample subscribers and papers to them; run it in an empty directory "
            "(mkdir digest-demo && cd digest-demo && digest demo)"
        )


def _database_name() -> str:
    return "the PostgreSQL database" if state.config.on_postgres else str(state.config.db_path)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command()(init)
    app.command()(fetch)
    app.command("import")(import_file)
    from digest.cli.embed import embed

    app.command()(embed)
    app.add_typer(papers_app, name="papers")
    app.command()(status)
    app.command()(demo)
