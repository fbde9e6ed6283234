"""What one send pass did, per issue: the counts `digest send` prints and `--json` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class SendReport:
    """What one `send_issue` did. `ledger` holds the issue's row counts per state afterwards."""

    issue_date: date
    backend: str
    dry_run: bool = False
    due: int = 0  # subscribers due for this issue
    empty: int = 0  # nothing matched and always_send is off: no email
    rendered: int = 0  # new emails rendered this run
    queued: int = 0  # new ledger rows this run
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0  # unsubscribed before their turn
    held: int = 0  # queued for a subscriber's later local send hour
    next_send_at: str | None = None  # UTC moment of the earliest held delivery
    window: str | None = None  # the sending window that left the rest queued for later
    recovered_unknown: int = 0  # rows a crashed run left in `sending`
    requeued: int = 0  # `failed` rows never handed to the provider, put back once (auto)
    already_handled: int = 0  # subscribers whose row was final before this run
    reported: int = 0  # rows the provider reported before their (re)try: settled, not resent
    retries: int = 0  # transient errors retried
    rate_limited: int = 0  # 429 answers waited out
    render_seconds: float = 0.0
    send_seconds: float = 0.0
    stopped: str | None = None  # why the run paused early (remaining rows stay queued)
    outbox_index: str | None = None  # outbox backend: the issue's index.html to open
    errors: list[str] = field(default_factory=list)
    ledger: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "issue_date": self.issue_date.isoformat(),
            "backend": self.backend,
            "dry_run": self.dry_run,
            "due": self.due,
            "empty": self.empty,
            "rendered": self.rendered,
            "queued": self.queued,
            "sent": self.sent,
            "failed": self.failed,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "held": self.held,
            "next_send_at": self.next_send_at,
            "window": self.window,
            "recovered_unknown": self.recovered_unknown,
            "requeued": self.requeued,
            "already_handled": self.already_handled,
            "reported": self.reported,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "render_seconds": round(self.render_seconds, 3),
            "send_seconds": round(self.send_seconds, 3),
            "stopped": self.stopped,
            "outbox_index": self.outbox_index,
            "errors": self.errors,
            "ledger": self.ledger,
        }
