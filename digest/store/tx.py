"""Transactions, the same on both backends: a write transaction, savepoints when nested."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator


@contextlib.contextmanager
def transaction(db, *, eager_timeout_s: float | None = None) -> Iterator[None]:
    """A write transaction; nested use becomes a savepoint.

    SQLite takes the write lock up front (BEGIN IMMEDIATE): deferred transactions that read
    then write can fail at once with "database is locked" when another process writes.
    `eager_timeout_s` polls for that lock (short web requests); PostgreSQL ignores it.
    """
    if db.in_transaction:
        name = f"sp_{next(_savepoints)}"
        db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            db.execute(f"ROLLBACK TO SAVEPOINT {name}")
            db.execute(f"RELEASE SAVEPOINT {name}")
            raise
        db.execute(f"RELEASE SAVEPOINT {name}")
        return
    db.begin_write(eager_timeout_s)
    with commit_or_roll_back(db):
        yield


_savepoints = itertools.count()


@contextlib.contextmanager
def commit_or_roll_back(db) -> Iterator[None]:
    """End the transaction `db` has begun: COMMIT after the block, ROLLBACK if it raised.

    A failed COMMIT (deferred foreign key, full disk) can leave the transaction open; every
    later write on this connection would then nest in it and be lost, so it is rolled back.
    """
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
