"""Stages 4 and 5, render and send. `compose` turns a plan into an email (`text`, `mime`);
`sending.send_issue` sends an issue at most once through the ledger (`delivery`; its states in
`digest.store.ledger`) and a
backend (`registry`: outbox, SMTP, SendGrid; `chat_backend` posts Slack/Discord channels' digests,
built by `chat`); `send_times` and `held` hold a digest for the
subscriber's local hour; `preview` renders without sending; `links` makes every URL we hand out."""
