"""Operations: `init` (a working folder), `demo` (the whole product offline), `status`, `backup`
and `doctor` (the pre-flight check), `migrate_db` (SQLite to PostgreSQL). The daily run's lease
is `digest.store.lease`."""
