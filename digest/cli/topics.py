"""CLI commands for curated and personal topics (thin wrappers over library functions)."""

from __future__ import annotations

import typer

topics_app = typer.Typer(
    help="Curated and personal topics: list, show, add, edit, remove, sync from topics.toml, "
    "and the topic lab (try, test).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `topics` group to the main app."""
    app.add_typer(topics_app, name="topics")
