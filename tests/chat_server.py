"""A loopback OpenAI-compatible chat-completions server for tests (real HTTP on 127.0.0.1).

Each POST /v1/chat/completions takes the next scripted reply: ("ok", text), ("status", code,
headers), ("hang", seconds), ("empty",) or ("raw", body). When the script runs out it answers
("ok", DEFAULT). Requests are recorded (path, headers, JSON body). The server stops with the
context manager; a hanging reply sleeps in its own thread and ends by itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT = "The paper proposes a method. It beats the baselines."


def completion(text: str | None) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
    }


class ChatServer:
    def __init__(self) -> None:
        self.script: deque = deque()
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.default: tuple = ("ok", DEFAULT)
        self.latency = 0.0  # seconds every reply takes (a model's generation time, for benches)

    def reply(self, *steps: tuple) -> None:
        with self.lock:
            self.script.extend(steps)

    def next_step(self) -> tuple:
        with self.lock:
            return self.script.popleft() if self.script else self.default


def _handler(server: ChatServer):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with server.lock:
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
            step = server.next_step()
            kind = step[0]
            if server.latency:
                time.sleep(server.latency)
            if kind == "hang":
                time.sleep(step[1])
                return
            if kind == "status":
                payload = b'{"error": {"message": "try later"}}'
                self.send_response(step[1])
                for name, value in (step[2] if len(step) > 2 else {}).items():
                    self.send_header(name, value)
            else:
                if kind == "ok":
                    payload = json.dumps(completion(step[1])).encode()
                elif kind == "empty":
                    payload = json.dumps(completion("")).encode()
                else:  # raw
                    payload = step[1].encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def chat_server():
    """Yields (ChatServer, base_url ending in /v1)."""
    state = ChatServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, address: None  # a client that gave up: not news
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
