"""A real PostgreSQL 15 server for the tests, started from Debian's binaries and stopped at the
end of the session, even when tests fail.

initdb and pg_ctl refuse to run as root (CI runs as root), so they run as the `postgres` system
user through `runuser`; the data directory is a temporary folder that user owns, the server
listens on a free port of 127.0.0.1 only. pytest-postgresql's process fixture cannot switch the
OS user, hence this small helper. Each test gets its own database (`fresh_database`).
"""

from __future__ import annotations

import atexit
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("DIGEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass
class PgServer:
    root: Path
    port: int
    as_user: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cursor = conn.execute(sql)
            return str(cursor.fetchall()) if cursor.description else ""

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def available() -> bool:
    return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()


def start_server(durable: bool = False) -> PgServer:
    """initdb + pg_ctl start on a free port; the caller stops it (atexit does too). The tests'
    server skips fsync (nothing in it must survive a crash); `durable` keeps PostgreSQL's
    defaults (fsync, synchronous commit), as a deployment would, for the benches."""
    import portpicker

    root = Path(tempfile.mkdtemp(prefix="digest-pg-"))
    as_user: list[str] = []
    if os.getuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        # runuser lives in /usr/sbin, which a plain user's PATH (CI's is /usr/bin:/bin) lacks
        runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin")
        if runuser is None:
            raise RuntimeError("runuser not found: the tests run PostgreSQL as 'postgres' with it")
        as_user = [runuser, "-u", "postgres", "--"]
    port = portpicker.pick_unused_port()
    server = PgServer(root, port, as_user)
    atexit.register(server.stop)
    data = root / "data"
    run = [*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres"]
    subprocess.run(
        [*run, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    started = subprocess.run(
        [
            *as_user,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if started.returncode != 0:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        server.stop()
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log}")
    return server


_numbers = itertools.count()


def fresh_database(server: PgServer) -> str:
    """A new empty database on the server; returns its URL."""
    name = f"t{os.getpid()}_{next(_numbers)}"
    server.psql(f"CREATE DATABASE {name}")
    return server.url(name)


def drop_database(server: PgServer, url: str) -> None:
    from digest.store.postgres import close_pools

    close_pools()
    name = url.rsplit("/", 1)[1]
    server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def wait_until(check, seconds: float, what: str, every: float = 0.1):
    """What `check()` returns once it is truthy; AssertionError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
