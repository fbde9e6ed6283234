"""`digest embed`: embed every stored paper that has no vector yet, streaming and resumable;
`--prepare` builds and checks the bundled model's ONNX export ahead of time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
)
from rich.text import Text

from digest.cli.common import JsonOption, console, err_console, print_json, show_progress, state

LOG_EVERY_SECONDS = 60.0  # off a terminal (cron, nohup, a log file): one status line a minute


def _rate_and_eta(done: float, total: float | None, elapsed: float | None) -> tuple[str, str]:
    """Papers/s since the start (a long run's steady rate) and the time left at that rate."""
    if not done or not elapsed or total is None:
        return "", "?"
    rate = done / elapsed
    left = max(total - done, 0) / rate
    eta = (
        f"{left / 86400:.1f} days"
        if left >= 86400
        else time.strftime("%H:%M:%S", time.gmtime(left))
    )
    return f"{rate:,.1f} papers/s", eta


class RateAndEtaColumn(ProgressColumn):
    def render(self, task) -> Text:
        rate, eta = _rate_and_eta(task.completed, task.total, task.elapsed)
        return Text(f"{rate}  {eta} left" if rate else "")


def _status_line(done: int, total: int, started: float) -> str:
    rate, eta = _rate_and_eta(done, total, time.monotonic() - started)
    return f"embedded {done:,} of {total:,} papers ({rate or 'starting'}, about {eta} left)"


@contextmanager
def embed_progress() -> Iterator:
    """A bar with papers/s and ETA on a terminal; elsewhere a status line every minute."""
    if not show_progress():
        started = time.monotonic()
        last = [started]

        def log_line(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= LOG_EVERY_SECONDS and done < total:
                last[0] = now
                err_console.print(_status_line(done, total, started))

        yield log_line
        return
    columns = [
        TextColumn("embedding"),
        BarColumn(),
        MofNCompleteColumn(),
        RateAndEtaColumn(),
    ]
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("embedding", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def embed(
    prepare: Annotated[
        bool,
        typer.Option(
            "--prepare",
            help="Build and check the ONNX export of the bundled model now (otherwise it is "
            "built on first use, once); embeds nothing.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Embed every stored paper that has no vector for the configured model yet.

    Streams in pages and commits each one: stop it any time (Ctrl-C) and run it again to continue; nothing is embedded twice.
    """
    if prepare:
        _prepare(as_json)
        return
    from digest.embed.encoder import embed_missing

    try:
        with embed_progress() as advance:
            report = embed_missing(state.db, state.config.embedding, progress=advance)
    except KeyboardInterrupt:
        err_console.print(
            "interrupted: the papers embedded so far are kept; run `digest embed` again to continue"
        )
        raise typer.Exit(130) from None
    if as_json:
        shown = asdict(report)
        if report.dim is None:  # a null without a reason reads like a bug
            shown["dim_note"] = "no vectors stored for this model yet: no papers to embed"
        print_json(shown)
        return
    size = f", {report.dim} dimensions" if report.dim else ""
    rate = ""
    if report.embedded and report.seconds:
        rate = f" in {report.seconds:.1f} s ({report.embedded / report.seconds:,.1f} papers/s)"
    backend = f" on {report.backend}" if report.backend else ""
    console.print(
        f"embedded {report.embedded} papers ({report.cached} already had vectors) "
        f"with {report.model}{size}{backend}{rate}"
    )


def _prepare(as_json: bool) -> None:
    from digest.embed import export
    from digest.embed.backends import uses_onnx

    embedding = state.config.embedding
    if not uses_onnx(embedding):
        message = f"{embedding.model} runs on sentence-transformers: no ONNX export to prepare"
        if as_json:
            print_json({"model": embedding.model, "onnx": False})
        else:
            console.print(message)
        return
    report = export.prepare(embedding.model)
    if not report.verified or not export.loads(Path(report.directory)):
        report = export.prepare(embedding.model, force=True)  # a cached failure or damage
    if as_json:
        print_json(asdict(report))
    elif report.verified:
        how = f"built and checked in {report.seconds:.1f} s" if report.built else "already built"
        console.print(
            f"ONNX export of {report.model} ready ({report.variant}, {how}; lowest cosine to "
            f"the torch vectors {report.min_cosine:.5f}): {report.directory}"
        )
    if not report.verified:
        err_console.print(
            f"[bold red]error:[/] the ONNX export of {report.model} cannot be used "
            f"({report.reason}); embedding falls back to sentence-transformers"
        )
        raise typer.Exit(1)
