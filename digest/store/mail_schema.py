"""Tables owned by the mail stage (migration set `digest.mail`). Add migrations; never edit applied ones."""

from __future__ import annotations

from sqlite_utils import Migrations

from digest.store.db import register

migrations = register(Migrations("digest.mail"))
