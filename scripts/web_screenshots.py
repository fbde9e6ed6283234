"""Screenshots of the subscriber's web pages and service mails, to look at after a change.

Usage: run `digest demo` in a directory, then: python scripts/web_screenshots.py DEMO_DIR OUT_DIR
It serves the subscription app on the demo's database (a loopback port), signs up a new
address in headless Chromium, and writes, at 1280 px and at a 375 px phone width:
check-inbox, confirmation mail, confirm page, subscribed, preferences (active and paused),
a dead link's page, and the outbox index with one digest opened from it.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

WIDTHS = {"desktop": 1280, "phone": 375}


def newest_mail(outbox: Path, after: float) -> email.message.EmailMessage:
    for _ in range(100):
        found = [p for p in outbox.glob("*/*.eml") if p.stat().st_mtime >= after]
        if found:
            newest = max(found, key=lambda p: p.stat().st_mtime)
            parsed = email.message_from_bytes(newest.read_bytes(), policy=email.policy.default)
            return parsed  # type: ignore[return-value]
        time.sleep(0.1)
    raise SystemExit(f"no mail arrived in {outbox}")


def main(demo_dir: Path, out: Path) -> None:
    os.chdir(demo_dir)
    from digest.config import load_config
    from digest.web.server import ServerThread

    config = load_config(None)
    config = replace(config, service=replace(config.service, subscribe_per_ip_per_minute=100))
    outbox = config.path(config.mail.outbox_dir)
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with ServerThread(config) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for label, width in WIDTHS.items():
            # a reader in Paris: the preferences page offers their zone from the browser
            context = browser.new_context(
                viewport={"width": width, "height": 900}, timezone_id="Europe/Paris"
            )
            page = context.new_page()

            def shot(name: str, full: bool = True, page=page, label=label, shots=shots) -> None:
                path = out / f"{name}-{label}.png"
                page.screenshot(path=str(path), full_page=full)
                shots.append(path)

            started = time.time()
            page.goto(f"{base}/subscribe")
            page.fill("#email", f"screenshot-{label}-{int(started)}@example.org")
            boxes = page.locator("input[name=topics]")
            for n in range(min(2, boxes.count())):
                boxes.nth(n).check()
            page.get_by_role("button", name=re.compile("Subscribe", re.I)).first.click()
            page.wait_for_load_state()
            shot("check-inbox")
            mail = newest_mail(outbox, started)
            html_part = mail.get_body(("html",))
            assert html_part is not None
            mail_file = out / f"confirmation-mail-{label}.html"
            mail_file.write_text(html_part.get_content(), encoding="utf-8")
            page.goto(mail_file.as_uri())
            shot("confirmation-mail")
            text_part = mail.get_body(("plain",))
            assert text_part is not None
            link = re.search(r"/confirm/[A-Za-z0-9_-]+", text_part.get_content())
            assert link is not None
            page.goto(base + link.group(0))
            shot("confirm")
            page.get_by_role("button", name="Yes, subscribe me").click()
            page.wait_for_load_state()
            shot("subscribed")
            page.get_by_role("link", name="Choose your topics and settings").click()
            page.wait_for_load_state()
            shot("preferences")
            page.locator("#timezone").scroll_into_view_if_needed()
            page.locator("form.subscribe").screenshot(path=str(out / f"form-{label}.png"))
            page.locator("#stop-h").locator("..").screenshot(path=str(out / f"stop-{label}.png"))
            shots += [out / f"form-{label}.png", out / f"stop-{label}.png"]
            page.get_by_role("button", name="Pause digests").click()
            page.wait_for_load_state()
            shot("preferences-paused", full=False)
            page.goto(f"{base}/p/{'A' * 48}")
            shot("dead-link")
            index = sorted(outbox.glob("2*/index.html"))[0]
            page.goto(index.as_uri())
            shot("outbox-index")
            page.get_by_role("link", name="View").first.click()
            page.wait_for_load_state()
            shot("outbox-digest", full=False)
            context.close()
        browser.close()
    print("\n".join(str(path) for path in shots))


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
