"""Tables owned by the service stage (migration set `digest.service`). Add migrations; never edit applied ones."""

from __future__ import annotations

from sqlite_utils import Migrations

from digest.store.db import register

migrations = register(Migrations("digest.service"))
