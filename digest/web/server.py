"""Running the web app: `serve` for `digest serve`, and `ServerThread` (a real uvicorn on a free
loopback port in a thread, for the tests and the load bench)."""

from __future__ import annotations

import threading
import time

from digest.config import Config
from digest.web.app import create_app


def serve(
    config: Config, host: str | None = None, port: int | None = None, workers: int = 1
) -> None:
    """Run the app with uvicorn until interrupted (no access log: ours never shows tokens).

    uvicorn's own proxy-header handling is off: X-Forwarded-For is believed only from
    [service].trusted_proxies, in `client_ip`. With workers > 1, uvicorn starts that many
    processes, each building the app from the same config file (`app_from_environment`)."""
    import os

    import uvicorn

    options: dict = {
        "host": host or config.service.host,
        "port": port or config.service.port,
        "access_log": False,
        "log_level": "info",
        "proxy_headers": False,
    }
    if workers <= 1:
        uvicorn.run(create_app(config), **options)
        return
    if config.source and config.source != "(embedded defaults)":
        os.environ["DIGEST_CONFIG"] = config.source
    uvicorn.run("digest.web.server:app_from_environment", factory=True, workers=workers, **options)


def app_from_environment():
    """The app for one of several web processes: the config named by $DIGEST_CONFIG."""
    import os

    from digest.config import load_config

    return create_app(load_config(os.environ.get("DIGEST_CONFIG")))


class ServerThread:
    """`with ServerThread(config) as base_url:` a real uvicorn on a free loopback port, in a
    thread, stopped on exit. Used by the tests and the load bench."""

    def __init__(self, config: Config, app=None) -> None:
        import socket

        import uvicorn

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(
                app or create_app(config),
                host="127.0.0.1",
                port=self.port,
                access_log=False,
                log_level="warning",
                lifespan="off",
                proxy_headers=False,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
