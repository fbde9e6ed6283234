"""CLI commands for the email preview (thin wrappers over library functions)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
