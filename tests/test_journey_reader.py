"""A subscriber's and a reader's journey, checked where a person following the README found
something wrong: the words on the pages they land on, over real uvicorn on loopback."""

from __future__ import annotations

import re

import httpx
import pytest

from digest.models import Paper
from digest.store import open_db
from digest.web_server import ServerThread


@pytest.fixture
def served(make_config):
    """(config, base_url, db) with one stored paper and a real server running."""
    config, _ = make_config({"service": {"subscribe_per_ip_per_minute": 100}})
    db = open_db(config.db_path)
    from digest.store.papers import upsert_papers

    upsert_papers(
        db,
        [Paper(id="2508.01234", title="A paper", abstract="About graphs.", authors=("A B",))],
        source="test",
    )
    with ServerThread(config) as base_url:
        yield config, base_url, db
    db.conn.close()


def _active(db, address: str) -> str:
    from digest.subscribers import add_subscriber

    return add_subscriber(db, address, status="active").manage_token or ""


def _notice(page: httpx.Response) -> str:
    """The page's notice as a reader sees it: tags gone, white space collapsed."""
    found = re.search(r'<p class="notice">(.*?)</p>', page.text, re.S)
    assert found, page.text
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


@pytest.mark.parametrize("kind", ["like", "dislike"])
def test_the_noted_page_says_which_paper_with_a_space_before_its_title(served, kind):
    """The template's line break after the verdict was eaten (trim_blocks): 'You like“A paper”'."""
    _, base_url, db = served
    token = _active(db, "ida@example.org")
    url = f"{base_url}/f/{token}"
    params = {"paper": "2508.01234", "kind": kind}
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', httpx.get(url, params=params).text)
    assert csrf
    noted = httpx.post(url, params=params, data={"csrf": csrf.group(1)})
    assert noted.status_code == 200
    assert _notice(noted).startswith(f"You {kind} “A paper”. Future digests")
