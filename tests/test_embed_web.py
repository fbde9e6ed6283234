"""Saving preferences embeds a subscriber's own topic right away, through the encoder the web
process loaded once (real uvicorn, a real form post, the real model)."""

from __future__ import annotations

import hashlib
import re

import httpx

from digest.config import BUNDLED_MODEL
from digest.store import open_db
from digest.subscribers.manage import add_subscriber
from digest.web.server import ServerThread


def cached_query_vector(db, text: str):
    key = "q:" + hashlib.sha256(text.encode()).hexdigest()[:30]
    return db.execute(
        "SELECT dim FROM embeddings WHERE model = ? AND content_hash = ?", [BUNDLED_MODEL, key]
    ).fetchone()


def test_saving_preferences_embeds_a_new_own_topic(make_config):
    config, _ = make_config()
    db = open_db(config.db_path)
    token = add_subscriber(db, "gia@example.org", status="active").manage_token
    own = "causal inference for policy evaluation"
    assert cached_query_vector(db, own) is None
    with ServerThread(config) as base_url:
        page = httpx.get(f"{base_url}/p/{token}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        form = {
            "action": "save",
            "csrf": csrf,
            "own_topics": f"{own}\n",
            "frequency": "daily",
            "max_papers": "10",
            "timezone": "UTC",
        }
        saved = httpx.post(f"{base_url}/p/{token}", data=form, timeout=60)
        assert saved.status_code == 200 and "Saved." in saved.text
        assert cached_query_vector(db, own) == (384,)
        again = httpx.post(f"{base_url}/p/{token}", data={**form, "own_topics": "x\n"}, timeout=60)
        assert again.status_code == 200
    assert cached_query_vector(db, "x") == (384,)
    db.conn.close()
