"""Shared fixtures: real SQLite files, the real bundled model, the recorded arXiv samples.

`sample_db_path` (session): the recorded Atom feed (cs.AI, 2025-08-20, 86 papers) and the
RSS sample (2026-09-24) ingested and embedded once. `sample_db` / `sample_config` give each
test its own copy, with a Config whose paths all live in tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from digest.config import Config, parse_config  # noqa: E402
from digest.paths import SAMPLES_DIR  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
ARXIV_FIXTURES = FIXTURES / "arxiv"
ATOM_SAMPLE = SAMPLES_DIR / "cs.AI-2025-08-20.atom.xml"
RSS_SAMPLE = SAMPLES_DIR / "cs.LG+cs.AI+cs.CL+stat.ML-2026-09-24.rss.xml"
EMPTY_RSS = (
    ARXIV_FIXTURES
    / "rss"
    / ("broadfield-dev-ticker__rss.arxiv.org_rss_physics__2025-12-31__EMPTY_reconstructed.xml")
)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def toml_text(sections: dict[str, dict]) -> str:
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(val)}" for key, val in values.items()]
        lines.append("")
    return "\n".join(lines)


@pytest.fixture
def make_config(tmp_path):
    """make_config({"mail": {...}}) -> (Config, path of the config.toml it wrote).

    The database, outbox and site live under tmp_path; the file can be passed to the CLI
    with --config.
    """

    def build(overrides: dict[str, dict] | None = None) -> tuple[Config, Path]:
        sections: dict[str, dict] = {
            "database": {"path": "data/digest.db"},
            "arxiv": {"request_delay_seconds": 0.0},
            "mail": {"outbox_dir": "data/outbox"},
            "site": {"dir": "data/site"},
        }
        for name, values in (overrides or {}).items():
            sections.setdefault(name, {}).update(values)
        path = tmp_path / "config.toml"
        path.write_text(toml_text(sections), encoding="utf-8")
        import tomllib

        config = parse_config(tomllib.loads(path.read_text()), source=str(path), base_dir=tmp_path)
        return config, path

    return build


@pytest.fixture(scope="session")
def sample_db_path(tmp_path_factory) -> Path:
    """A database with both recorded sample feeds ingested and embedded (built once)."""
    from digest.embed.encoder import embed_missing
    from digest.ingest.daily import ingest_feed_file
    from digest.store import open_db

    path = tmp_path_factory.mktemp("sample") / "digest.db"
    db = open_db(path)
    config = Config()
    ingest_feed_file(db, config, ATOM_SAMPLE, label="cs.AI")
    ingest_feed_file(db, config, RSS_SAMPLE, label="cs.LG+cs.AI+cs.CL+stat.ML")
    embed_missing(db, config.embedding)
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


@pytest.fixture
def sample_config(make_config) -> Config:
    config, _ = make_config()
    return config


@pytest.fixture
def sample_db(sample_db_path, sample_config):
    """A private copy of the sample database at sample_config.db_path."""
    from digest.store import open_db

    sample_config.db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sample_db_path, sample_config.db_path)
    db = open_db(sample_config.db_path)
    yield db
    db.conn.close()


@pytest.fixture(autouse=True)
def _reset_cli_state():
    """The CLI caches config and db per process; CliRunner tests get a fresh one each time."""
    from digest.cli.common import state

    state.config_path = None
    state._config = None
    state._db = None
    yield
    if state._db is not None:
        state._db.conn.close()
    state._config = None
    state._db = None


def skip_or_fail_without(what: str) -> None:
    """A missing browser skips a developer's run but fails CI (CI=true): CI installs it."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI (scripts/install-browser installs it)")
    pytest.skip(f"{what} is not installed")


def run_cli_in_process(config_path: Path, capsys, *args: str) -> tuple[int, str, str]:
    """Run `digest --config <config_path> ARGS` in this process; (exit code, stdout, stderr)."""
    import sys

    from digest.cli import main
    from digest.cli.common import state

    if state._db is not None:
        state._db.conn.close()
    state.config_path, state._config, state._db = None, None, None
    old_argv = sys.argv
    sys.argv = ["digest", "--config", str(config_path), *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        sys.argv = old_argv
    out = capsys.readouterr()
    return code, out.out, out.err


SMTP_SENDER = {  # a sender identity the real backends accept, fast pacing for tests
    "from_address": "digest@lab.test",
    "postal_address": "1 Main St, Springfield",
    "rate_per_second": 500.0,
    "retry_base_seconds": 0.01,
}


@pytest.fixture
def smtp_server(make_config):
    """Start a real SMTP server (aiosmtpd on 127.0.0.1) and a config sending to it:
    `start(handler=None, **mail) -> (config, config_path, handler)`; stopped after the test."""
    import portpicker
    from aiosmtpd.controller import Controller

    from tests.delivery_support import RecordingHandler

    started = []

    def start(handler=None, **mail):
        port = portpicker.pick_unused_port()
        handler = handler or RecordingHandler()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        config, path = make_config(
            {
                "mail": {
                    **SMTP_SENDER,
                    "backend": "smtp",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": port,
                    "smtp_security": "none",
                    "smtp_timeout_seconds": 5.0,
                    **mail,
                }
            }
        )
        return config, path, handler

    yield start
    for controller in started:
        controller.stop()


def digest_child(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """`python -m digest ARGS` in a child process (text output captured), without the
    DIGEST_CONFIG of the environment the tests run in."""
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
    command = [sys.executable, "-m", "digest", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def cli_runner(config_path: Path):
    """run(*args) -> (exit code, stdout, stderr) of `digest --config PATH ARGS` through
    typer's CliRunner, in this process."""
    from typer.testing import CliRunner

    from digest.cli import app

    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["--config", str(config_path), *args])
        return result.exit_code, result.stdout, result.stderr

    return run


# ------------------------------------------------------------------ PostgreSQL
@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 15 server for the session (tests/pg_server.py), stopped at the end."""
    from tests import pg_server as pg

    if not pg.available():
        skip_or_fail_without(f"PostgreSQL 15 ({pg.PG_BIN}; `make test` installs postgresql-15)")
    server = pg.start_server()
    try:
        yield server
    finally:
        from digest.store.postgres import close_pools

        close_pools()
        server.stop()


@pytest.fixture
def pg_url(pg_server, monkeypatch):
    """The URL of a new empty database on the session's server, dropped after the test. A
    fleet shares DIGEST_SECRET_KEY (manage links are made with it): the test's processes too."""
    from tests import pg_server as pg

    if not os.environ.get("DIGEST_SECRET_KEY"):
        monkeypatch.setenv("DIGEST_SECRET_KEY", "tests-fleet-key-" + "0" * 48)
    url = pg.fresh_database(pg_server)
    yield url
    pg.drop_database(pg_server, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_target(request, tmp_path):
    """What open_db opens, once per backend: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "digest.db"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def any_db(backend_target):
    """An open, migrated database of each backend in turn."""
    from digest.store import open_db

    db = open_db(backend_target)
    yield db
    db.close()
