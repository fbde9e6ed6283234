"""Screenshots for the README, taken from what `digest demo` made (real recorded papers).

Usage: run `digest demo` in a directory (it writes ada's latest email as a preview, the path is
in its last lines), then: python scripts/screenshots.py DEMO_DIR PREVIEW_HTML
Writes docs/img/readme-email.png, readme-home.png, readme-paper.png, readme-search.png.
"""

from __future__ import annotations

import http.server
import sys
import threading
from functools import partial
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "img"


def main(demo_dir: Path, preview_html: Path) -> None:
    site = demo_dir / "data" / "site"
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 700, "height": 1400})
        page.goto(preview_html.resolve().as_uri())
        page.screenshot(path=str(OUT / "readme-email.png"), full_page=False)
        page = browser.new_page(viewport={"width": 1200, "height": 1100})
        page.goto(f"{base}/index.html")
        page.screenshot(path=str(OUT / "readme-home.png"))
        page.goto(f"{base}/papers/2510.06870.html")  # maths in its title and abstract
        page.screenshot(path=str(OUT / "readme-paper.png"))
        page.goto(f"{base}/search.html?q=robot+manipulation")
        page.wait_for_selector("#search-list li")
        page.screenshot(path=str(OUT / "readme-search.png"))
        browser.close()
    server.shutdown()
    print(
        "\n".join(
            str(OUT / n)
            for n in (
                "readme-email.png",
                "readme-home.png",
                "readme-paper.png",
                "readme-search.png",
            )
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
