"""All SQL lives in this package: one module per group of tables, one place for migrations;
also what those tables enforce: the send ledger's states (`ledger`) and the named lease that
lets one process at a time run the day (`lease`)."""

from digest.store.db import open_db, transaction, utcnow

__all__ = ["open_db", "transaction", "utcnow"]
