"""Chat channels: a digest posted to Slack and Discord incoming webhooks through the same
at-most-once ledger as email. Loopback servers speak each service's webhook format and refuse
what the real services refuse (too many blocks or embeds, long fields), answer 429 with
Retry-After, 5xx, or "unknown webhook"."""

from __future__ import annotations

import json
from datetime import date

import pytest
from werkzeug import Request, Response

from digest.errors import UsageError
from digest.mail import chat
from digest.mail.chat_backend import CHAT_HEADER, ChatRouter, WebhookBackend
from digest.mail.outbox import OutboxBackend
from digest.mail.sending import send_issue
from digest.models import DigestPlan, Pick
from digest.paths import PROJECT_DIR
from digest.rank.planning import plan_all
from digest.rank.plans import save_plan
from digest.store import deliveries as ledger_store
from digest.subscribers.channels import channel_of, set_channel, webhook_service
from digest.subscribers.manage import add_subscriber

ISSUE = date(2025, 8, 20)
FAST = {"rate_per_second": 500.0, "retry_base_seconds": 0.01, "send_retries": 2}


# ---------------------------------------------------------------- the two services


def slack_problem(body: dict) -> str | None:
    """What Slack's incoming webhook answers 400 to (its documented limits)."""
    blocks = body.get("blocks", [])
    if not body.get("text") and not blocks:
        return "no_text"
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if block.get("type") == "header" and len(block["text"]["text"]) > 150:
            return "invalid_blocks"
        if block.get("type") == "section" and len(block["text"]["text"]) > 3000:
            return "invalid_blocks"
        for element in block.get("elements", []):
            if len(element.get("text", "")) > 3000:
                return "invalid_blocks"
    return None


def discord_problem(body: dict) -> str | None:
    """What Discord's execute-webhook answers 400 (50035 Invalid Form Body) to."""
    embeds = body.get("embeds", [])
    if not body.get("content") and not embeds:
        return "Cannot send an empty message"
    if len(body.get("content", "")) > 2000 or len(embeds) > 10:
        return "Invalid Form Body"
    total = 0
    for embed in embeds:
        if len(embed.get("title", "")) > 256 or len(embed.get("description", "")) > 4096:
            return "Invalid Form Body"
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", ""))
    return "Invalid Form Body" if total > 6000 else None


class WebhookLoopback:
    """One incoming webhook. `script` answers the next calls first (status, headers, body);
    `fail_after` accepted posts, every further call gets a 500."""

    def __init__(self, server, service: str) -> None:
        self.service = service
        self.posts: list[dict] = []
        self.calls = 0
        self.script: list[tuple[int, dict, str]] = []
        self.fail_after: int | None = None
        path = "/services/T0001/B0001/sEcReT" if service == "slack" else "/api/webhooks/42/sEcReT"
        server.expect_request(path, method="POST").respond_with_handler(self.handle)
        self.url = server.url_for(path)

    def handle(self, request: Request) -> Response:
        self.calls += 1
        if self.script:
            status, headers, text = self.script.pop(0)
            return Response(text, status=status, headers=headers)
        if self.fail_after is not None and len(self.posts) >= self.fail_after:
            return Response("server error", status=500)
        body = json.loads(request.get_data())
        if self.service == "slack":
            problem = slack_problem(body)
            if problem:
                return Response(problem, status=400)
            self.posts.append(body)
            return Response("ok", status=200, content_type="text/plain")
        problem = discord_problem(body)
        if problem:
            return Response(json.dumps({"code": 50035, "message": problem}), status=400)
        self.posts.append(body)
        if request.args.get("wait") != "true":
            return Response(status=204)
        message = {"id": str(1000 + len(self.posts)), "channel_id": "7", **body}
        return Response(json.dumps(message), status=200, content_type="application/json")


# ---------------------------------------------------------------- set-up


@pytest.fixture
def world(sample_db, make_config, httpserver):
    """The sample day, a lab's Slack channel and a Discord channel following curated topics,
    and an email reader."""
    from digest.topics.toml_file import sync_topics

    config, _ = make_config({"mail": FAST})
    sync_topics(sample_db, PROJECT_DIR / "data" / "topics.toml")
    slack = WebhookLoopback(httpserver, "slack")
    discord = WebhookLoopback(httpserver, "discord")
    for email, hook in (
        ("lab@uni.test", slack),
        ("club@uni.test", discord),
        ("ann@uni.test", None),
    ):
        # two topics: on this cs.AI day "LLM agents" alone passes only its own seed paper,
        # which a topic never picks
        add_subscriber(
            sample_db, email, status="active", topics=("LLM agents", "Reasoning & planning")
        )
        if hook is not None:
            set_channel(sample_db, email, hook.url, allow_loopback=True)
    return sample_db, config, slack, discord


def send(db, config):
    backend = ChatRouter(OutboxBackend(config.path(config.mail.outbox_dir)), WebhookBackend())
    return send_issue(db, config, ISSUE, backend=backend, force=True)


def states(db) -> dict[str, str]:
    return {d.email: d.state for d in ledger_store.list_deliveries(db, issue_date=ISSUE)}


def outbox_files(config) -> list:
    return sorted((config.path(config.mail.outbox_dir) / ISSUE.isoformat()).glob("*.eml"))


# ---------------------------------------------------------------- delivery


def test_each_channel_gets_one_message_and_email_readers_their_mail(world):
    db, config, slack, discord = world
    report = send(db, config)
    assert states(db) == {"lab@uni.test": "sent", "club@uni.test": "sent", "ann@uni.test": "sent"}
    assert len(slack.posts) == 1 and len(discord.posts) == 1
    blocks = slack.posts[0]["blocks"]
    assert blocks[0]["type"] == "header" and "for you" in blocks[0]["text"]["text"]
    cards = [b for b in blocks if b["type"] == "section"]
    assert cards and all("<https://arxiv.org/abs/" in c["text"]["text"] for c in cards)
    assert discord.posts[0]["allowed_mentions"] == {"parse": []}
    assert all(e["url"].startswith("https://arxiv.org/abs/") for e in discord.posts[0]["embeds"])
    assert len(outbox_files(config)) == 1  # only the email reader's message is a file
    assert report.sent == 3
    # the ledger keeps the provider's answer: Discord's message id
    rows = {d.email: d for d in ledger_store.list_deliveries(db, issue_date=ISSUE)}
    assert rows["club@uni.test"].provider_message_id == "discord:1 message(s):1001"
    # at most once: running the send again posts nothing
    again = send(db, config)
    assert (again.sent, len(slack.posts), len(discord.posts)) == (0, 1, 1)


def test_429_with_retry_after_is_waited_out_and_posted_once(world):
    db, config, slack, discord = world
    slack.script = [(429, {"Retry-After": "1"}, "rate_limited")]
    discord.script = [
        (
            429,
            {"Retry-After": "1"},
            json.dumps(
                {"message": "You are being rate limited.", "retry_after": 0.4, "global": False}
            ),
        )
    ]
    report = send(db, config)
    assert report.rate_limited == 2 and report.sent == 3
    assert (slack.calls, len(slack.posts), discord.calls, len(discord.posts)) == (2, 1, 2, 1)
    waits = [e for e in report.errors if "waiting" in e]
    assert any("Retry-After 1s" in e and "waiting 1.0s" in e for e in waits)
    assert any("Retry-After 0.4s" in e for e in waits)  # Discord's exact JSON value


def test_5xx_is_retried_then_posted(world):
    db, config, slack, _ = world
    slack.script = [(500, {}, "internal_error"), (503, {}, "")]
    report = send(db, config)
    assert states(db)["lab@uni.test"] == "sent" and len(slack.posts) == 1
    assert report.retries >= 2


def test_a_revoked_webhook_fails_that_row_and_the_others_go_out(world):
    db, config, slack, discord = world
    discord.script = [(404, {}, json.dumps({"message": "Unknown Webhook", "code": 10015}))]
    report = send(db, config)
    assert states(db) == {"lab@uni.test": "sent", "club@uni.test": "failed", "ann@uni.test": "sent"}
    failed = [d for d in ledger_store.list_deliveries(db, issue_date=ISSUE) if d.state == "failed"][
        0
    ]
    assert "Unknown Webhook" in (failed.error or "") and "revoked or deleted" in (
        failed.error or ""
    )
    assert not failed.not_sent and report.stopped is None


def test_a_channel_rate_limited_past_the_budget_does_not_stop_the_email_run(world, make_config):
    db, config, slack, _ = world
    config, _ = make_config({"mail": {**FAST, "rate_limit_max_wait_seconds": 2.0}})
    slack.script = [(429, {"Retry-After": "600"}, "rate_limited")]
    report = send(db, config)
    assert states(db)["lab@uni.test"] == "failed" and states(db)["ann@uni.test"] == "sent"
    assert report.stopped is None and slack.posts == []


def test_a_long_issue_is_split_and_a_half_posted_one_is_never_posted_again(world):
    db, config, _, discord = world
    sub = [s for s in _subscribers(db) if s.email == "club@uni.test"][0]
    ids = [r[0] for r in db.execute("SELECT id FROM papers ORDER BY id LIMIT 25")]
    picks = tuple(
        Pick(pid, 0.9 - n / 100, "LLM agents", "LLM agents: matches the topic description")
        for n, pid in enumerate(ids)
    )
    plan_all(db, config, ISSUE)  # everyone's plan; then the channel's is a long one
    save_plan(db, DigestPlan(sub.id, ISSUE, picks, 86))
    discord.fail_after = 1  # part 1 is accepted, every later call fails
    report = send(db, config)
    assert len(discord.posts) == 1 and len(discord.posts[0]["embeds"]) == 10
    assert states(db)["club@uni.test"] == "unknown"  # part of it is in the channel
    assert any("posted in part" in e for e in report.errors)
    calls = discord.calls
    send(db, config)  # nothing of it is posted again, not even part 1
    assert discord.calls == calls and len(discord.posts) == 1


def test_a_split_issue_posts_every_part_in_order(world):
    db, config, _, discord = world
    sub = [s for s in _subscribers(db) if s.email == "club@uni.test"][0]
    ids = [r[0] for r in db.execute("SELECT id FROM papers ORDER BY id LIMIT 25")]
    picks = tuple(Pick(pid, 0.5, "LLM agents", "LLM agents: mentions “agent”") for pid in ids)
    plan_all(db, config, ISSUE)  # everyone's plan; then the channel's is a long one
    save_plan(db, DigestPlan(sub.id, ISSUE, picks, 86))
    send(db, config)
    assert [len(p["embeds"]) for p in discord.posts] == [10, 10, 5]
    assert discord.posts[0]["content"].startswith("25 new papers for you")
    assert discord.posts[1]["content"].startswith("(2/3)")
    assert "Unsubscribe" in discord.posts[-1]["content"]
    assert states(db)["club@uni.test"] == "sent"


def _subscribers(db):
    from digest.store.subscribers import list_subscribers

    return list_subscribers(db)


def test_with_the_outbox_backend_chat_messages_are_files_not_posts(world):
    db, config, slack, discord = world
    report = send_issue(db, config, ISSUE, force=True)  # the configured backend: the outbox
    assert report.sent == 3 and slack.calls == 0 and discord.calls == 0
    heads = [f.read_bytes().split(b"\r\n\r\n", 1)[0] for f in outbox_files(config)]
    assert sum(CHAT_HEADER.encode() in h for h in heads) == 2


# ---------------------------------------------------------------- payloads and URLs


def _context(cards: int, title: str = "A title", why: str = "Agents: mentions “agent”") -> dict:
    card = {
        "title": title,
        "title_url": "https://arxiv.org/abs/2508.13167",
        "authors": "Ann <b>Lee</b> & Bo",
        "why": why,
        "snippet": "An abstract. " * 20,
        "abs_url": "https://arxiv.org/abs/2508.13167",
        "pdf_url": "https://arxiv.org/pdf/2508.13167",
        "more_url": "https://example.org/papers/2508.13167.html",
        "like_url": "https://example.org/f/t?paper=2508.13167&kind=like",
        "dislike_url": "https://example.org/f/t?paper=2508.13167&kind=dislike",
    }
    return {
        "headline": "3 new papers for you",
        "issue_label": "Wednesday 20 August 2025",
        "lede": "Picked from 86 listings.",
        "subject": "3 new papers for you · Wed 20 Aug",
        "sections": [{"name": "Agents", "cards": [dict(card) for _ in range(cards)]}],
        "day_url": "https://example.org/days/2025-08-20.html",
        "preferences_url": "https://example.org/p/t",
        "unsubscribe_url": "https://example.org/u/t",
    }


def test_slack_splits_at_50_blocks_and_escapes_markup():
    payloads = chat.slack_payloads(_context(60, title="<!channel> a|b & c"))
    assert chat.payload_sizes(payloads) == [50, 14]
    assert all(slack_problem(p) is None for p in payloads)
    text = payloads[0]["blocks"][3]["text"]["text"]
    assert "&lt;!channel&gt; a¦b &amp; c" in text and "<!channel>" not in text
    assert "Ann &lt;b&gt;Lee&lt;/b&gt; &amp; Bo" in text
    assert payloads[1]["text"].endswith("(2/2)")


def test_discord_splits_at_10_embeds_or_6000_characters_and_escapes_markdown():
    long = "word " * 80
    payloads = chat.discord_payloads(_context(12, title=long, why="x" * 290))
    assert all(discord_problem(p) is None for p in payloads)
    assert sum(len(p["embeds"]) for p in payloads) == 12
    assert all(sum(chat.embed_chars(e) for e in p["embeds"]) <= 6000 for p in payloads)
    assert len(payloads) == 2 and len(payloads[0]["embeds"]) < 10  # split by characters
    escaped = chat.discord_payloads(_context(1, title="t", why="**@everyone** _x_"))
    description = escaped[0]["embeds"][0]["description"]
    assert r"\*\*\@everyone\*\* \_x\_" in description


def test_webhook_urls_are_checked():
    assert webhook_service("https://hooks.slack.com/services/T/B/X") == "slack"
    assert webhook_service("https://discord.com/api/webhooks/1/abc") == "discord"
    for bad in (
        "http://hooks.slack.com/services/T/B/X",
        "https://evil.example/services/T/B/X",
        "https://discord.com/channels/1/2",
        "mailto:x@y.z",
    ):
        with pytest.raises(UsageError):
            webhook_service(bad)
    with pytest.raises(UsageError):  # loopback only when a test allows it
        webhook_service("http://127.0.0.1:9/services/T/B/X")


def test_cli_channel_sets_shows_hides_the_secret_and_removes(sample_db, sample_config, capsys):
    from pathlib import Path

    from conftest import run_cli_in_process

    add_subscriber(sample_db, "lab@uni.test", status="active", topics=())
    path = Path(sample_config.base_dir) / "config.toml"
    url = "https://hooks.slack.com/services/T0001/B0001/abcdefSECRET"
    code, out, _ = run_cli_in_process(path, capsys, "subscribers", "channel", "lab@uni.test", url)
    assert code == 0 and "slack https://hooks.slack.com/services/T0001/B0001/abcd…" in out
    assert "SECRET" not in out
    code, out, _ = run_cli_in_process(
        path, capsys, "subscribers", "channel", "lab@uni.test", "--json"
    )
    assert code == 0 and json.loads(out)["service"] == "slack"
    code, _, err = run_cli_in_process(
        path, capsys, "subscribers", "channel", "lab@uni.test", "https://example.org/hook"
    )
    assert code == 2 and "not a Slack or Discord incoming-webhook URL" in err
    code, out, _ = run_cli_in_process(
        path, capsys, "subscribers", "channel", "lab@uni.test", "--remove"
    )
    assert code == 0 and "back to email" in out
    assert channel_of(sample_db, "lab@uni.test")["service"] is None


class RecordingMail:
    """An email backend that keeps what it is handed (the chat rows must never reach it)."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message, delivery_id: str):
        from digest.mail.base import SendResult

        self.sent.append(str(message["To"]))
        return SendResult(f"rec-{delivery_id}")

    def close(self) -> None:
        pass


def test_a_held_chat_digest_goes_to_its_channel_when_its_hour_comes(world):
    """A lab's channel with a local send hour: held by the day's send, posted by the hourly
    pass of held digests (which wraps its backend the same way)."""
    from datetime import UTC, datetime

    from digest.mail.held import send_held
    from digest.subscribers.manage import update_subscriber

    db, config, slack, _ = world
    lab = [s for s in _subscribers(db) if s.email == "lab@uni.test"][0]
    update_subscriber(db, lab.id, send_hour=20)
    morning = datetime(2025, 8, 20, 6, tzinfo=UTC)
    mail = RecordingMail()
    report = send_issue(db, config, ISSUE, backend=mail, now=morning)
    assert report.held == 1 and slack.posts == []
    assert sorted(mail.sent) == ["ann@uni.test"]  # the Discord one went to its webhook
    mail = RecordingMail()
    send_held(db, config, now=datetime(2025, 8, 20, 20, 30, tzinfo=UTC), backend=mail)
    assert len(slack.posts) == 1 and mail.sent == []
    assert states(db)["lab@uni.test"] == "sent"
