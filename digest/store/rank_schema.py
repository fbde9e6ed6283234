"""Tables owned by the ranking stage (saved picks, topic matches) (migration set `digest.rank`). Add migrations; never edit applied ones."""

from __future__ import annotations

from sqlite_utils import Migrations

from digest.store.db import register

migrations = register(Migrations("digest.rank"))
