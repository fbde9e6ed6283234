"""CLI commands for the topic lab and trending (thin wrappers over library functions)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app (and to the `topics` group)."""
