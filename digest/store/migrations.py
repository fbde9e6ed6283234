"""Every migration set, in the order they apply on a fresh database: the core and people sets,
then each later stage's (rank, mail, service, site, summaries). Add a set at the end; never reorder."""

from __future__ import annotations

from digest.store import (
    mail_schema,
    rank_schema,
    schema,
    service_schema,
    site_schema,
    summaries_schema,
)

MIGRATION_SETS = (
    schema.core,
    schema.people,
    rank_schema.migrations,
    mail_schema.migrations,
    service_schema.migrations,
    site_schema.migrations,
    summaries_schema.migrations,
)
