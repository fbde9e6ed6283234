"""What every CLI command shares: the loaded config, the open database, output helpers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from digest.config import Config, load_config
from digest.errors import UsageError


def _console(stderr: bool) -> Console:
    """Wide, unwrapped output when piped (logs, cron mail); the terminal's width otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return Console(stderr=stderr, highlight=False, width=width, soft_wrap=not stream.isatty())


console = _console(stderr=False)
err_console = _console(stderr=True)


@dataclass
class CliState:
    config_path: str | None = None
    _config: Config | None = None
    _db: Any = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def db(self):
        if self._db is None:
            from digest.store import open_db

            self._db = open_db(
                self.config.db_path, busy_timeout_ms=self.config.database.busy_timeout_ms
            )
        return self._db


state = CliState()


def print_json(value: Any) -> None:
    """Machine-readable output only, on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def show_progress() -> bool:
    return sys.stderr.isatty()


JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]


def parse_date_option(value: str | None, option: str = "--date") -> date | None:
    """A YYYY-MM-DD option value, or None when it was not given; anything else is exit 2."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value!r} is not a date (expected YYYY-MM-DD)") from exc
