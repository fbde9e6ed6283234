"""All SQL lives in this package: one module per group of tables, one place for migrations."""

from digest.store.db import open_db, transaction, utcnow

__all__ = ["open_db", "transaction", "utcnow"]
