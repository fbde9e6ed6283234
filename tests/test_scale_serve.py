"""`digest serve --workers 2` on PostgreSQL, for real: uvicorn's two web processes share the
database and DIGEST_SECRET_KEY. A reader signs up through one process and confirms through the
other; the preferences form one process signed is accepted by the other. Which process served
a connection is read from the kernel (psutil: the worker holding the accepted socket).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import urllib.parse

import pytest

from tests.pg_server import wait_until
from tests.test_scale_postgres import write_config

SECRET = "shared-secret-of-the-web-fleet-" + "x" * 16


def web_processes(server: subprocess.Popen, port: int) -> list[int]:
    """The uvicorn workers: the server's children that listen on `port`."""
    import psutil

    found = []
    for child in psutil.Process(server.pid).children(recursive=True):
        try:
            listening = [
                c
                for c in child.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == port
            ]
        except psutil.NoSuchProcess:
            continue
        if listening:
            found.append(child.pid)
    return found


def serving_process(pids: list[int], port: int, client_port: int) -> int | None:
    import psutil

    for pid in pids:
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.laddr.port == port and c.raddr and c.raddr.port == client_port:
                return pid
    return None


def connection_to(pids: list[int], port: int, wanted: int) -> http.client.HTTPConnection:
    """A kept-alive connection that the web process `wanted` accepted (new connections until
    the kernel hands one to it)."""
    for _ in range(500):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        answer.read()
        assert answer.status == 200
        assert conn.sock is not None
        if serving_process(pids, port, conn.sock.getsockname()[1]) == wanted:
            return conn
        conn.close()
    raise AssertionError(f"process {wanted} accepted none of 500 connections")


def call(conn, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
    body = urllib.parse.urlencode(form or {}, doseq=True) if method == "POST" else None
    headers = {"content-type": "application/x-www-form-urlencoded"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    return answer.status, answer.read().decode("utf-8", errors="replace")


@pytest.mark.slow
def test_a_sign_up_through_one_web_process_is_confirmed_through_the_other(tmp_path, pg_url):
    import portpicker

    from digest.models import Topic
    from digest.store import open_db
    from digest.topics.catalog import add_topic
    from digest.web.plumbing import csrf_token

    config_path = write_config(tmp_path, "http://127.0.0.1:9/", url=pg_url)
    db = open_db(pg_url)
    add_topic(db, Topic(name="LLM agents", kind="curated", description="language model agents"))
    port = portpicker.pick_unused_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DIGEST_CONFIG", "DIGEST_DATABASE_URL")}
    env["DIGEST_SECRET_KEY"] = SECRET
    pids: list[int] = []
    server = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(config_path)]
        + ["serve", "--workers", "2", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        pids = wait_until(lambda: len(web_processes(server, port)) == 2, 180, "two web processes")
        pids = web_processes(server, port)
        first, second = (connection_to(pids, port, pid) for pid in pids)

        status, page = call(
            first, "POST", "/subscribe", {"email": "ada@lab.test", "topics": "LLM agents"}
        )
        assert status == 200 and "Check your inbox" in page
        outbox = tmp_path / "data" / "outbox"
        [mail] = wait_until(lambda: list(outbox.rglob("*.eml")), 60, "the confirmation email")
        token = re.search(r"/confirm/([A-Za-z0-9_-]+)", mail.read_text(errors="replace"))[1]

        status, page = call(second, "POST", f"/confirm/{token}")
        assert status == 200 and "You are subscribed" in page
        row = db.execute("SELECT status FROM subscribers WHERE email = ?", ["ada@lab.test"])
        assert row.fetchone()[0] == "active"
        manage = re.search(r'href="[^"]*/p/([A-Za-z0-9_-]+)"', page)[1]

        status, form_page = call(first, "GET", f"/p/{manage}")
        assert status == 200
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form_page)[1]
        assert csrf == csrf_token(SECRET.encode(), manage)  # signed with the shared key
        status, exported = call(second, "POST", f"/p/{manage}", {"csrf": csrf, "action": "export"})
        assert status == 200 and '"ada@lab.test"' in exported  # the other process accepts it
        for conn in (first, second):
            conn.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        db.close()
    assert server.returncode == 0, server.stderr.read() if server.stderr else ""
    wait_until(lambda: not any(alive(pid) for pid in pids), 30, "the web processes to stop")


def alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
