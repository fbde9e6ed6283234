"""One holder at a time for the daily run (and for the scheduler): a lock plus a DB lease.

On SQLite the lock is a file lock next to the database: it stops a second process on this
machine at once. On PostgreSQL it is a session advisory lock held on a connection of its own,
so it works across machines, and the server drops it the moment its holder dies (its
connection closes; TCP keepalives find a machine that vanished within a minute). The lease row
says who holds it and until when; on SQLite a crashed holder's lease is taken over when it
expires or when its process is gone from this host.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from filelock import FileLock, Timeout

from digest.errors import DigestError
from digest.store import service as service_store
from digest.store import transaction


class LeaseHeld(DigestError):
    """Someone else holds the lease; the message says who and until when."""


def _pid_alive(pid: int) -> bool:
    """Whether the process runs. A killed one nobody has reaped yet (a zombie: in a container
    whose init does not reap, for ever) answers signal 0 but holds nothing: dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (macOS) or it just went away
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _holder_is_dead(holder: str) -> bool:
    """True when the holder ran on this host and its process no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    return int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))


class Lease:
    """`with Lease(db, db_path, "daily-run", minutes=120):` ... raises LeaseHeld when taken."""

    def __init__(self, db, db_path: str | Path, name: str, minutes: float) -> None:
        self.db = db
        self.name = name
        self.minutes = minutes
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.db_path = Path(db_path)
        self.location = db.location() or str(db_path)
        self._file_lock = _machine_lock(db, db_path, name)
        self.held = False
        self._stop_beat: threading.Event | None = None
        self._beat: threading.Thread | None = None

    def _expiry(self) -> datetime:
        return datetime.now(UTC) + timedelta(minutes=self.minutes)

    def acquire(self) -> None:
        try:
            self._file_lock.acquire()
        except Timeout as exc:
            raise LeaseHeld(
                f"another {self.name} is already running on this machine "
                f"(lock file {self._file_lock.lock_file}); not starting a second one"
            ) from exc
        except _Taken as exc:
            holding = service_store.get_lease(self.db, self.name) or {}
            raise LeaseHeld(
                f"another {self.name} holds the lease ({holding.get('holder', 'unknown')}, "
                f"since {holding.get('acquired_at', '?')}); not starting a second one"
            ) from exc
        try:
            with transaction(self.db):
                current = service_store.get_lease(self.db, self.name)
                if current is not None and not self._file_lock.proves_holder_dead:
                    expires = datetime.fromisoformat(current["expires_at"])
                    if expires > datetime.now(UTC) and not _holder_is_dead(current["holder"]):
                        raise LeaseHeld(
                            f"another {self.name} holds the lease ({current['holder']}, "
                            f"since {current['acquired_at']}, until {current['expires_at']}); "
                            "not starting a second one"
                        )
                service_store.put_lease(self.db, self.name, self.holder, self._expiry())
        except BaseException:
            self._file_lock.release()
            raise
        self.held = True

    def renew(self) -> None:
        """Push the expiry forward; raises LeaseHeld if someone took the lease over."""
        with transaction(self.db):
            ok = service_store.renew_lease(self.db, self.name, self.holder, self._expiry())
        if not ok:
            raise LeaseHeld(f"the {self.name} lease was taken over by another process")

    def start_heartbeat(self, interval_s: float | None = None) -> None:
        """Renew the lease from a background thread (own connection) until release, so a long
        stage never outlives its lease while the holder is alive."""
        interval = interval_s or max(1.0, min(60.0, self.minutes * 60 / 4))
        stop = self._stop_beat = threading.Event()

        def beat() -> None:
            from digest.store import open_db

            db = open_db(self.location, migrate=False)
            try:
                while not stop.wait(interval):
                    try:
                        with transaction(db):
                            renewed = service_store.renew_lease(
                                db, self.name, self.holder, self._expiry()
                            )
                    except db.errors:
                        continue  # try again next beat; the lease is still far from expiry
                    if not renewed:
                        return
            finally:
                db.conn.close()

        self._beat = threading.Thread(target=beat, name=f"lease-{self.name}", daemon=True)
        self._beat.start()

    def release(self) -> None:
        if self._stop_beat is not None and self._beat is not None:
            self._stop_beat.set()
            self._beat.join(timeout=30)
            self._stop_beat = self._beat = None
        if not self.held:
            return
        try:
            with transaction(self.db):
                service_store.release_lease(self.db, self.name, self.holder)
        finally:
            self.held = False
            self._file_lock.release()

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _Taken(Exception):
    """The advisory lock is held by another session."""


class _FileLock(FileLock):
    proves_holder_dead = False  # a free file lock says nothing of other machines


class _AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own: free again as soon as
    its holder's connection ends, wherever that holder ran."""

    proves_holder_dead = True  # a free lock means the last holder is gone

    def __init__(self, url: str, name: str) -> None:
        self.url, self.name = url, name
        self.lock_file = f"advisory lock {name!r}"
        self._db = None

    def acquire(self) -> None:
        from digest.store import open_db
        from digest.store.service import try_session_lock

        db = open_db(self.url, migrate=False)
        if not try_session_lock(db, f"lease:{self.name}"):
            db.close()
            raise _Taken(self.name)
        self._db = db

    def release(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.conn.close()  # ends the session: the lock goes with it (the pool resets it)


def _machine_lock(db, db_path: str | Path, name: str) -> _FileLock | _AdvisoryLock:
    """The lock that keeps a second holder out: across machines on PostgreSQL."""
    location = db.location()
    if location and location.startswith(("postgresql://", "postgres://")):
        return _AdvisoryLock(location, name)
    return _FileLock(f"{db_path}.{name}.lock", timeout=0)
