"""CLI commands for the spine: init, fetch, import, embed, papers, status, demo."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
