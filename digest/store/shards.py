"""SQL for a worker's share of the ledger: the rows one send job claimed."""

from __future__ import annotations

from digest.store.deliveries import _move
from digest.store.tx import transaction

INTERRUPTED = (
    "interrupted while sending (the worker stopped before the provider answered); "
    "it may or may not have been delivered"
)


def recover_interrupted_rows(db, claimer: str) -> list[str]:
    """The rows an earlier attempt of this job claimed and left `sending` (its worker died
    mid-call): they become `unknown`, never sent again. Returns their ids. Only this job's
    own claims: a row another job is sending right now is not touched."""
    with transaction(db):
        rows = db.execute(
            "SELECT id FROM deliveries WHERE state = 'sending' AND claimed_by = ? ORDER BY id",
            [claimer],
        ).fetchall()
        found = [row[0] for row in rows]
        for delivery_id in found:
            _move(db, delivery_id, "unknown", {"error": INTERRUPTED})
    return found
