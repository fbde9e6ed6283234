"""`digest doctor`: the pre-flight check an operator runs before sending (config, sender identity,
secrets, the From domain's SPF/DKIM/DMARC, the database, templates and the schedule)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from digest.config import Config, secret


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))


def doctor(config: Config, *, dns_timeout: float = 3.0, resolver=None) -> DoctorReport:
    """Check config, sender identity, DNS authentication, database, templates and schedule."""
    report = DoctorReport()
    report.add("config", "ok", f"loaded from {config.source}")
    _check_sender(config, report)
    _check_secrets(config, report)
    _check_database(config, report)
    _check_templates(config, report)
    _check_schedule(config, report)
    _check_dns(config, report, dns_timeout, resolver)
    return report


def _check_sender(config: Config, report: DoctorReport) -> None:
    mail = config.mail
    if mail.postal_address.strip():
        report.add("postal address", "ok", "set (appears in every email)")
    else:
        status = "warn" if mail.backend == "outbox" else "fail"
        report.add(
            "postal address",
            status,
            "[mail].postal_address is empty; real sends need "
            "the sender's physical address (CAN-SPAM)",
        )
    domain = mail.from_address.rsplit("@", 1)[-1].lower()
    if domain in ("example.org", "example.com", "example.net"):
        report.add(
            "from address",
            "warn" if mail.backend == "outbox" else "fail",
            f"{mail.from_address} is a placeholder; set [mail].from_address",
        )
    else:
        report.add("from address", "ok", mail.from_address)
    public = config.service.public_url
    if public.startswith("https://"):
        report.add("public url", "ok", public)
    else:
        report.add(
            "public url",
            "warn",
            f"{public}: links in emails should use https "
            "(RFC 8058 one-click unsubscribe requires it)",
        )


def _check_secrets(config: Config, report: DoctorReport) -> None:
    if config.mail.backend == "sendgrid" and not secret("SENDGRID_API_KEY"):
        report.add("sendgrid key", "fail", "SENDGRID_API_KEY is not set")
    webhook_key = secret("SENDGRID_WEBHOOK_PUBLIC_KEY")
    if webhook_key:
        try:
            from digest.web.webhooks import load_public_key

            load_public_key(webhook_key)
            report.add("webhook key", "ok", "SENDGRID_WEBHOOK_PUBLIC_KEY parses as an EC key")
        except (ValueError, TypeError) as exc:
            report.add("webhook key", "fail", f"SENDGRID_WEBHOOK_PUBLIC_KEY: {exc}")
    elif config.mail.backend == "sendgrid":
        report.add(
            "webhook key",
            "warn",
            "SENDGRID_WEBHOOK_PUBLIC_KEY not set: bounces and complaints will not be applied",
        )
    key_file = config.db_path.parent / "secret.key"
    keep = "; keep it, and apart from database backups: every emailed link is made with it"
    if secret("DIGEST_SECRET_KEY"):
        report.add("secret key", "ok", "DIGEST_SECRET_KEY from the environment" + keep)
    elif config.on_postgres:
        report.add(
            "secret key",
            "fail",
            "DIGEST_SECRET_KEY is not set: with PostgreSQL every machine needs the same one "
            "(manage links in emails and the web forms are made with it)",
        )
    elif key_file.exists():
        mode = key_file.stat().st_mode & 0o777
        status = "ok" if mode & 0o077 == 0 else "warn"
        report.add("secret key", status, f"{key_file} (mode {mode:o}){keep}")
    else:
        report.add(
            "secret key", "ok", f"will be generated at {key_file} when the first link is made"
        )


def _check_database(config: Config, report: DoctorReport) -> None:
    path = config.db_path
    if not path.exists():
        report.add("database", "warn", f"{path} does not exist yet (run `digest init`)")
        return
    try:
        # as_uri() percent-encodes '?', '#' and '%': a raw path there opened another file
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
    except sqlite3.Error as exc:
        report.add("database", "fail", f"{path}: {exc}")
        return
    status = "ok" if result == "ok" else "fail"
    report.add("database", status, f"{path}: quick_check {result}, journal {mode}")


def _check_templates(config: Config, report: DoctorReport) -> None:
    import jinja2

    from digest.render import environment

    env = environment()
    broken = []
    names = [n for n in env.list_templates() if n.endswith(".j2")]
    for name in names:
        try:
            env.get_template(name)
        except jinja2.TemplateError as exc:
            broken.append(f"{name}: {exc}")
    try:
        from digest.mail.notices import confirmation_email

        confirmation_email(config, "doctor@example.org", "x" * 43)
    except Exception as exc:  # any failure here means sign-ups break
        broken.append(f"confirmation email: {exc}")
    if broken:
        report.add("templates", "fail", "; ".join(broken))
    else:
        report.add("templates", "ok", f"{len(names)} templates compile; confirmation renders")


def _check_schedule(config: Config, report: DoctorReport) -> None:
    from zoneinfo import ZoneInfo

    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(
            config.schedule.cron, timezone=ZoneInfo(config.schedule.timezone)
        )
        upcoming = trigger.get_next_fire_time(
            None, datetime.now(ZoneInfo(config.schedule.timezone))
        )
        report.add(
            "schedule",
            "ok",
            f"{config.schedule.cron} ({config.schedule.timezone}); next run {upcoming}",
        )
    except ValueError as exc:
        report.add("schedule", "fail", f"[schedule].cron: {exc}")


# ------------------------------------------------------------------ DNS
def _check_dns(config: Config, report: DoctorReport, timeout: float, resolver) -> None:
    domain = config.mail.from_address.rsplit("@", 1)[-1].lower()
    try:
        import dns.exception
        import dns.resolver
    except ImportError:
        report.add("dns", "skip", "could not check (dnspython not installed)")
        return
    if resolver is None:
        try:
            resolver = dns.resolver.Resolver()
        except (dns.resolver.NoResolverConfiguration, OSError):
            report.add("dns", "skip", "could not check (no network)")
            return
        resolver.lifetime = timeout
        resolver.timeout = timeout

    def txt(name: str) -> list[str] | None:
        """TXT strings; [] when the name has none; None when DNS is unreachable."""
        try:
            answer = resolver.resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.resolver.NoNameservers, dns.exception.Timeout, OSError):
            return None
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]

    spf = txt(domain)
    if spf is None:
        report.add("dns", "skip", "could not check SPF/DKIM/DMARC (no network)")
        return
    spf_records = [r for r in spf if r.lower().startswith("v=spf1")]
    if len(spf_records) == 1:
        report.add("spf", "ok", f"{domain}: {spf_records[0]}")
    else:
        report.add("spf", "warn", f"{domain}: {len(spf_records)} SPF records (want exactly one)")
    dmarc = [r for r in (txt(f"_dmarc.{domain}") or []) if r.lower().startswith("v=dmarc1")]
    if dmarc:
        report.add("dmarc", "ok", f"_dmarc.{domain}: {dmarc[0]}")
    else:
        report.add("dmarc", "warn", f"_dmarc.{domain}: no DMARC record (add at least p=none)")
    found = []
    for selector in ("s1", "s2", "default", "google", "selector1"):
        name = f"{selector}._domainkey.{domain}"
        try:
            resolver.resolve(name, "CNAME")
            found.append(name)
            continue
        except Exception:  # noqa: BLE001 - a missing selector is the normal case
            pass
        if any("p=" in r for r in (txt(name) or [])):
            found.append(name)
    if found:
        report.add("dkim", "ok", "DKIM selector(s): " + ", ".join(found))
    else:
        report.add(
            "dkim",
            "warn",
            f"no DKIM key found at s1/s2._domainkey.{domain} "
            "(set up SendGrid domain authentication or your provider's DKIM)",
        )
