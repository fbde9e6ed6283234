"""The `digest` command. Each module registers a few thin commands over library functions.

Exit codes: 0 ok (including "no announcement today"), 1 operational failure, 2 usage/config.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.markup import escape

from digest.cli import mail, preview, scale, service, site, spine, subscribers, topic_lab, topics
from digest.cli.common import database_problem, err_console, state
from digest.config import ConfigError
from digest.errors import DigestError, UsageError
from digest.store.db import database_errors

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    name="digest",
    help="A daily arXiv papers digest: fetch new listings, rank them for each subscriber, "
    "email the digests and build a static archive.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


@app.callback()
def _main(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="Path to config.toml (default: $DIGEST_CONFIG, then ./config.toml, "
            "then built-in defaults).",
            envvar="DIGEST_CONFIG",
        ),
    ] = None,
) -> None:
    state.config_path = config
    source = ctx.get_parameter_source("config")
    from_env = config is not None and source is not None and source.name == "ENVIRONMENT"
    state.config_shown = f"DIGEST_CONFIG={config}" if from_env else None


for module in (spine, topics, topic_lab, subscribers, preview, mail, service, site, scale):
    module.register(app)


def main() -> None:
    """Console entry point: turn library errors into one clear line and an exit code."""
    bad = _first_argument_not_utf8(sys.argv[1:])
    if bad is not None:
        err_console.print(
            f"[bold red]error:[/] argument {escape(ascii(bad))} is not valid UTF-8 "
            "(set the terminal's encoding to UTF-8)",
            highlight=False,
        )
        sys.exit(2)
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (ConfigError, UsageError) as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except DigestError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except database_errors() as exc:  # damage found after opening, a read-only file, ...
        err_console.print(f"[bold red]error:[/] {escape(_database_line(exc))}", highlight=False)
        sys.exit(1)
    except OSError as exc:  # a folder that cannot be written, a full disk, ...: no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        err_console.print(
            f"[bold red]error:[/] {escape(where + (exc.strerror or str(exc)))}", highlight=False
        )
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and friends
        usage_errors, aborts = _click_exception_types()
        if isinstance(exc, usage_errors):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(2)
        if isinstance(exc, aborts):
            sys.exit(1)
        raise


def _database_line(exc: BaseException) -> str:
    """Name the database file when the config that names it loaded."""
    if state._config is None:
        return f"database: {exc}"
    return database_problem(state.config.db_path, exc)


def _first_argument_not_utf8(args: list[str]) -> str | None:
    """Python keeps bytes it cannot decode as lone surrogates, which SQLite and the tokenizer
    refuse deep inside a command; name the argument up front instead."""
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return arg
    return None


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Usage errors and aborts of click: recent typer vendors its own copy, older uses click's."""
    import importlib

    usage: list[type] = []
    aborts: list[type] = [typer.Abort]
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        usage.append(module.ClickException)
        if hasattr(module, "Abort"):
            aborts.append(module.Abort)
    return tuple(usage), tuple(aborts)
