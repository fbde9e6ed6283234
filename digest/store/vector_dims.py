"""SQL that reads what the embeddings cache holds for a model without loading any vectors."""

from __future__ import annotations


def stored_dim(db, model: str) -> int | None:
    """The length of the vectors stored for `model` (one model writes one length), or None
    when nothing is stored for it: reports name the dimension without loading the model."""
    row = db.execute("SELECT dim FROM embeddings WHERE model = ? LIMIT 1", [model]).fetchone()
    return None if row is None else int(row[0])
