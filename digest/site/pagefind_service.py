"""Feed search records to `pagefind --service` over its pipe instead of writing them to disk.

A bundle used to be indexed from one tiny HTML file per paper: a full build wrote and deleted
100k files, and on a busy ext4 file creation costs up to ~1 ms of system time each. The service
takes the same HTML as a string (`AddFile` with an explicit URL), so the index is the same
without any source file. This speaks the service's wire format (base64 JSON messages, each
followed by a comma) directly: the `pagefind` package's asyncio wrapper polls for each reply
with a 0.1 s sleep, far too slow for thousands of records.
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from digest.errors import DigestError

TIMEOUT_SECONDS = 1800  # one bundle; the process is killed after this
WRITE_THREADS = 2  # writing a bundle's files (one fragment per paper)


def _executable() -> str:
    from pagefind.service import get_executable

    found = get_executable()
    if found is None:
        raise DigestError("the pagefind binary is not installed (pip install 'pagefind[bin]')")
    return str(found)


def _encode(message_id: int, payload: dict) -> bytes:
    request = {"message_id": message_id, "payload": payload}
    return base64.b64encode(json.dumps(request).encode("utf-8")) + b","


class _Replies:
    """Reads the service's replies in a thread (so its stdout pipe never fills while records
    are being written), keeping the first error and the reply to one awaited message."""

    def __init__(self, stdout, awaited: int) -> None:
        self.stdout, self.awaited = stdout, awaited
        self.error: str | None = None
        self.reply: dict = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._read, name="pagefind-replies", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        parts: list[bytes] = []  # the reply being received (GetFiles sends megabytes at once)
        try:
            while not self.done.is_set():
                chunk = self.stdout.read1(1 << 16)
                if not chunk:
                    break
                start = 0
                while (cut := chunk.find(b",", start)) >= 0:
                    parts.append(chunk[start:cut])
                    self._take(json.loads(base64.b64decode(b"".join(parts))))
                    parts, start = [], cut + 1
                if start < len(chunk):
                    parts.append(chunk[start:])
        finally:
            self.done.set()

    def _take(self, reply: dict) -> None:
        payload = reply.get("payload") or {}
        if payload.get("type") == "Error" and self.error is None:
            self.error = str(payload.get("message"))
        if reply.get("message_id") == self.awaited:
            self.reply = payload
            self.done.set()


def _first_reply(stdout) -> dict:
    buffer = b""
    while b"," not in buffer:
        chunk = stdout.read1(1 << 16)
        if not chunk:
            raise DigestError("pagefind --service exited before replying")
        buffer += chunk
    message, _, rest = buffer.partition(b",")
    if rest:
        raise DigestError("pagefind --service sent more than one reply to NewIndex")
    return json.loads(base64.b64decode(message))


def index_records(
    records: Iterable[tuple[str, str]], output_dir: Path, env: dict | None = None
) -> None:
    """Index (url, html) records into a Pagefind bundle at output_dir (English, one index)."""
    process = subprocess.Popen(
        [_executable(), "--service"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    timer = threading.Timer(TIMEOUT_SECONDS, process.kill)
    timer.start()
    files: list[dict] = []
    try:
        error = _feed(process, records, files)
    except OSError as exc:  # a broken pipe: the service died
        error = f"pagefind --service exited ({exc.__class__.__name__})"
    finally:
        timer.cancel()
        process.kill()
        process.wait()
        with contextlib.suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]
    if error is None and files:
        _write_bundle(output_dir, files)
    if error is None and not bundle_is_whole(output_dir):
        error = f"pagefind --service stopped before writing the index (timeout {TIMEOUT_SECONDS} s)"
    if error is not None:
        raise DigestError(error)


def _feed(process, records: Iterable[tuple[str, str]], files: list[dict]) -> str | None:
    """Send NewIndex, every record and GetFiles; put the bundle's files in `files`; return the
    service's first error, if any."""
    stdin, stdout = process.stdin, process.stdout
    stdin.write(_encode(1, {"type": "NewIndex", "config": {"force_language": "en"}}))
    stdin.flush()
    created = _first_reply(stdout)["payload"]
    if created.get("type") != "NewIndex":
        return f"pagefind could not create an index: {created.get('message')}"
    index_id = created["index_id"]
    message_id = 1
    replies: _Replies | None = None
    batch: list[bytes] = []
    for url, html in records:
        message_id += 1
        payload = {"type": "AddFile", "index_id": index_id, "url": url}
        batch.append(_encode(message_id, payload | {"file_contents": html}))
        if len(batch) >= 256:
            replies = replies or _Replies(stdout, -1)
            stdin.write(b"".join(batch))
            batch = []
    message_id += 1
    batch.append(_encode(message_id, {"type": "GetFiles", "index_id": index_id}))
    replies = replies or _Replies(stdout, message_id)
    replies.awaited = message_id
    stdin.write(b"".join(batch))
    stdin.flush()
    replies.thread.join()
    if replies.error is not None:
        return f"pagefind failed: {replies.error}"
    if replies.reply.get("type") == "GetFiles":
        files += replies.reply.get("files") or []
    return None  # no files: the entry-file check names what went wrong


def _write_bundle(output_dir: Path, files: list[dict]) -> None:
    """Write the bundle ourselves. Pagefind's own WriteFiles replies before its last files are
    on disk, and the service quits (on EOF or a kill) without finishing them: about one bundle
    in forty had an empty pagefind-entry.json or a cut wasm/js file, and search showed nothing."""
    paths = [item["path"] for item in files]
    for path in paths:
        if path.startswith("/") or ".." in path.split("/"):
            raise DigestError(f"pagefind named a file outside its bundle: {path!r}")
    for folder in {(output_dir / path).parent for path in paths}:
        folder.mkdir(parents=True, exist_ok=True)

    def write(chunk: list[dict]) -> None:  # file creation waits on the disk, not the GIL
        for item in chunk:
            with open(output_dir / item["path"], "wb") as target:
                target.write(base64.b64decode(item["content"]))

    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        list(pool.map(write, [files[i::WRITE_THREADS] for i in range(WRITE_THREADS)]))


def bundle_is_whole(output_dir: Path) -> bool:
    """The bundle's entry file parses (a bundle cut short by older builds has it empty)."""
    try:
        entry = json.loads((output_dir / "pagefind-entry.json").read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(entry, dict) and bool(entry.get("languages"))
