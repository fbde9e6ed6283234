"""What every CLI command shares: the loaded config, the open database, output helpers."""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from digest.config import Config, load_config
from digest.errors import DigestError, UsageError
from digest.textclean import has_invisible, strip_invisible


class _CleanConsole(Console):
    """Every string it shows, printed or in a table cell, loses terminal escapes, other
    controls and bidi overrides: paper text stored before the sources cleaned it (or an
    address, a topic name) must not recolour, move or flip the operator's terminal."""

    def render_str(self, text: str, **kwargs: Any):  # type: ignore[override]
        return super().render_str(strip_invisible(text) if has_invisible(text) else text, **kwargs)


def _console(stderr: bool) -> Console:
    """Wide, unwrapped output when piped (logs, cron mail); the terminal's width otherwise."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 200
    return _CleanConsole(stderr=stderr, highlight=False, width=width, soft_wrap=not stream.isatty())


console = _console(stderr=False)
err_console = _console(stderr=True)


@dataclass
class CliState:
    config_path: str | None = None
    config_shown: str | None = None  # "DIGEST_CONFIG=path" when the path came from there
    _config: Config | None = None
    _db: Any = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, self.config_shown)
        return self._config

    @property
    def db(self):
        if self._db is None:
            from digest.store import open_db
            from digest.store.db import database_errors

            path = self.config.db_path
            try:
                if not self.config.on_postgres:
                    _refuse_a_foreign_database(path)
                self._db = open_db(
                    self.config.db_target, busy_timeout_ms=self.config.database.busy_timeout_ms
                )
            except (*database_errors(), OSError) as exc:
                if self.config.on_postgres:
                    raise DigestError(f"database {_shown_url(self.config)}: {exc}") from exc
                raise DigestError(database_problem(path, exc)) from exc
        return self._db


def _shown_url(config: Config) -> str:
    """The PostgreSQL URL without its password, for messages."""
    scheme, _, rest = config.database_url.partition("://")
    user, at, host = rest.rpartition("@")
    return f"{scheme}://{user.split(':')[0]}{at}{host}"


def _refuse_a_foreign_database(path: Path) -> None:
    """Migrating would add our tables to another program's SQLite file ([database].path
    pointing at the wrong file): refuse when it has tables but no migration record of ours."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    if names and "_sqlite_migrations" not in names:
        shown = ", ".join(sorted(names)[:5])
        raise DigestError(
            f"database {path}: a SQLite file of something else (tables {shown}); "
            "not touching it: point [database].path at digest's own database"
        )


def database_problem(path: Path, exc: BaseException) -> str:
    """One line naming the database file, what went wrong and what to do about it."""
    text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if path.is_dir():
        return f"database {path}: is a directory, not a database file ([database].path)"
    if "not a database" in text or "malformed" in text:
        return (
            f"database {path}: {text}: not SQLite, or damaged; restore a copy from the "
            "backups (`digest backup` makes them) or move it away to start afresh"
        )
    if "unable to open" in text or "readonly" in text or isinstance(exc, OSError):
        return (
            f"database {path}: {text}: the file and its directory must be writable "
            f"(SQLite creates {path.name}-wal and {path.name}-shm beside it)"
        )
    if "locked" in text:
        return f"database {path}: {text}: another process holds it; try again when it is done"
    return f"database {path}: {text}"


state = CliState()


def stored_db():
    """The database for commands that only look: a missing file is an error naming where it
    was looked for (a wrong directory or --config), not a new empty database there."""
    path = state.config.db_path
    if not state.config.on_postgres and not path.exists():
        raise UsageError(
            f"no database at {path} (run `digest init` to create one, or point --config or "
            "[database].path at yours)"
        )
    return state.db


def print_json(value: Any) -> None:
    """Machine-readable output only, on stdout: strict JSON (NaN and infinities become null,
    which every parser reads; bare NaN is not JSON)."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(value), indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(text + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def show_progress() -> bool:
    return sys.stderr.isatty()


ARXIV_BEGAN = date(1991, 8, 14)  # an issue date before it is a typo, not a past issue

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]


def parse_date_option(value: str | None, option: str = "--date") -> date | None:
    """A YYYY-MM-DD option value, or None when it was not given; anything else is exit 2."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"{option} {value!r} is not a date (expected YYYY-MM-DD)") from exc
