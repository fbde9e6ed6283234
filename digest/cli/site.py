"""CLI commands for the static archive: `digest site build` and `digest site path`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from digest.cli.common import console, print_json, show_progress, state, stored_db
from digest.errors import DigestError

site_app = typer.Typer(
    help="Build the static archive site (days, topics, papers, authors, "
    "search, feeds) from the database.",
    no_args_is_help=True,
)


@site_app.command("build")
def build(
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Re-render every page and re-index search, ignoring the last build."
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON only.")
    ] = False,
) -> None:
    """Render the static archive into \\[site].dir (default data/site).

    Only pages whose inputs changed are re-rendered; the new site replaces the old one in one atomic swap.
    """
    from digest.site.build import build_site

    progress = None
    if show_progress() and not as_json:

        def progress(stage: str, done: int, total: int) -> None:
            console.print(f"  {stage}: {done}/{total}", end="\r")

    try:
        report = build_site(stored_db(), state.config, full=full, progress=progress)
    except OSError as exc:  # [site].dir on a read-only disk, under /proc, a full disk ...
        where = exc.filename or state.config.path(state.config.site.dir)
        raise DigestError(
            f"site build: cannot write {where}: {exc.strerror or exc} "
            "([site].dir must be a folder this user can create and write)"
        ) from exc
    if as_json:
        print_json(asdict(report))
        return
    console.print(
        f"site built in {report.seconds:.1f} s: {report.pages} pages "
        f"({report.rendered} rendered, {report.reused} unchanged), "
        f"{report.search_bundles_built}/{report.search_bundles} search bundles indexed"
    )
    console.print(report.index_path)


@site_app.command("path")
def path() -> None:
    """Print the path of the site's index.html (open it in a browser, or run `digest serve`)."""
    from digest.site.build import site_dir

    console.print(str(site_dir(state.config) / "index.html"))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(site_app, name="site")
