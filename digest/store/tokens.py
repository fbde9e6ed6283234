"""Manage-link tokens (`/u/…`, `/p/…`, `/f/…`) that the database alone cannot reproduce.

A subscriber row holds a random *selector*; the token is the selector followed by an HMAC of it
under the secret key (DIGEST_SECRET_KEY, else the 0600 `secret.key` beside the database). So a
copy of the database (a backup) holds no usable link, while anything that has the key, such as
the sender building an email, derives the same token for the same subscriber every time. Tokens
issued before this scheme live on only as a keyed hash (`legacy_token_hash`): links in emails
already sent keep working, found by hashing the token a visitor brings. Losing or changing the
key breaks every link in every email sent: keep it apart from the database's backups, and the
same on every machine that sends or serves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import lru_cache
from pathlib import Path

from digest.errors import DigestError

SELECTOR_CHARS = 16  # 12 random bytes, base64url: finds the row, proves nothing
MAC_CHARS = 32  # 24 bytes of HMAC-SHA256: what a guess has to hit
TOKEN_CHARS = SELECTOR_CHARS + MAC_CHARS
KEY_FILE = "secret.key"
_EPHEMERAL_KEY = secrets.token_hex(32).encode()  # an in-memory database's, for this process


def new_selector() -> str:
    return secrets.token_urlsafe(12)


def secret_key(db_path: str | Path | None) -> bytes:
    """DIGEST_SECRET_KEY from the environment, else the key file beside the database (made
    once, 0600, whole or not at all: two processes starting together read the same key)."""
    env = os.environ.get("DIGEST_SECRET_KEY")
    if env:
        return env.encode("utf-8")
    if not db_path or str(db_path) == ":memory:":
        return _EPHEMERAL_KEY
    return _key_file(Path(db_path).parent / KEY_FILE)


def _key_file(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # fails if another process made it first: theirs wins
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ValueError(f"{path} is empty: restore the key the links were made with")
    return key.encode("utf-8")


def database_key(db) -> bytes:
    """The secret key of an open database, cached: for SQLite, the key beside its file (read
    again only when the file changes); for a server database, DIGEST_SECRET_KEY, which every
    machine of the fleet must share (there is no folder to keep a key file in)."""
    if getattr(db, "dialect", "sqlite") != "sqlite":
        env = os.environ.get("DIGEST_SECRET_KEY")
        if not env:
            raise DigestError(
                "set DIGEST_SECRET_KEY, the same on every machine: with a database server, "
                "manage links (and the web forms) are made with it"
            )
        return env.encode("utf-8")
    db_file = _sqlite_file(db)
    stamp: tuple[int, int] | None = None
    if db_file:
        try:
            found = (Path(db_file).parent / KEY_FILE).stat()
            stamp = (found.st_ino, found.st_mtime_ns)
        except FileNotFoundError:
            pass
    return _cached_key(db_file, os.environ.get("DIGEST_SECRET_KEY", ""), stamp)


def _sqlite_file(db) -> str:
    """The main database file of a SQLite connection ("" in memory)."""
    location = getattr(db, "location", None)
    if location is not None:
        return location() or ""
    row = db.conn.execute("PRAGMA database_list").fetchone()  # a bare sqlite-utils Database
    return row[2] if row else ""


@lru_cache(maxsize=64)
def _cached_key(db_file: str, env: str, stamp: tuple[int, int] | None) -> bytes:
    del env, stamp  # part of the cache key only
    return secret_key(db_file or None)


def manage_token(key: bytes, selector: str) -> str:
    """The token of the row holding `selector`: the selector, then its MAC under `key`."""
    mac = hmac.new(key, b"manage-link:" + selector.encode("ascii"), hashlib.sha256).digest()
    return selector + base64.urlsafe_b64encode(mac).decode("ascii")[:MAC_CHARS]


def selector_of(key: bytes, token: str) -> str | None:
    """The selector of a well-formed token whose MAC checks out (constant time), else None."""
    if len(token) != TOKEN_CHARS or not token.isascii():
        return None
    selector = token[:SELECTOR_CHARS]
    return selector if hmac.compare_digest(manage_token(key, selector), token) else None


def legacy_token_hash(key: bytes, token: str) -> str:
    """The keyed hash a token issued before selectors is stored as."""
    message = b"legacy-manage-token:" + token.encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()
