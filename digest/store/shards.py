"""SQL for a worker's share of the ledger: the rows of one send job."""

from __future__ import annotations

import json

from digest.store.deliveries import _move
from digest.store.tx import transaction

INTERRUPTED = (
    "interrupted while sending (the worker stopped before the provider answered); "
    "it may or may not have been delivered"
)


def recover_interrupted_rows(db, delivery_ids: list[str]) -> list[str]:
    """This job's rows left `sending` by an earlier attempt of it (its worker died): they
    become `unknown`, never sent again. Returns their ids."""
    with transaction(db):
        rows = db.execute(
            "SELECT id FROM deliveries WHERE state = 'sending'"
            " AND id IN (SELECT value FROM json_each(?))",
            [json.dumps(delivery_ids)],
        ).fetchall()
        found = [row[0] for row in rows]
        for delivery_id in found:
            _move(db, delivery_id, "unknown", {"error": INTERRUPTED})
    return found
