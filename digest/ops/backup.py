"""Operations: online backups and `doctor`, the pre-flight check an operator runs before sending.

Backups use SQLite's online backup API (safe while the service and a run are writing), land in
a timestamped 0600 file, are checked with `PRAGMA integrity_check`, and old ones are pruned.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from digest.config import Config, secret
from digest.errors import DigestError, UsageError

BACKUP_PREFIX = "digest-"
BACKUP_NAME_RE = re.compile(r"digest-\d{8}T\d{12}Z\.db")  # digest-20260101T003000123456Z.db


@dataclass
class BackupReport:
    path: Path
    size_bytes: int
    integrity: str
    seconds: float
    pruned: list[Path] = field(default_factory=list)


def backup(
    config: Config,
    dest_dir: str | Path | None = None,
    keep: int | None = None,
    now: datetime | None = None,
) -> BackupReport:
    """Copy the live database to <dir>/digest-<UTC timestamp>.db and verify the copy."""
    import time

    source = config.db_path
    if source.is_dir():
        raise UsageError(
            f"database {source}: is a directory, not a database file ([database].path)"
        )
    if not source.is_file():
        raise UsageError(
            f"no database at {source} to back up (point --config or [database].path at yours)"
        )
    folder = Path(dest_dir) if dest_dir else config.path(config.service.backup_dir)
    if folder.exists() and not folder.is_dir():
        where = "--dir" if dest_dir else "[service].backup_dir"
        raise UsageError(f"backup: {where} {folder} is a file, not a folder")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    target = folder / f"{BACKUP_PREFIX}{stamp}.db"
    started = time.monotonic()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        what = f"{folder}: is not a directory" if not folder.is_dir() else f"{target}: exists"
        raise DigestError(f"backup: {what}") from exc
    except OSError as exc:
        raise DigestError(
            f"backup: cannot write to {folder}: {exc.strerror or exc} (choose another --dir)"
        ) from exc
    os.close(fd)
    os.chmod(target, 0o600)
    src = sqlite3.connect(str(source), timeout=config.database.busy_timeout_ms / 1000)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)  # one step: a consistent snapshot even while others write (WAL)
        dst.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
        integrity = dst.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.Error as exc:
        dst.close()
        target.unlink(missing_ok=True)
        hint = (
            " (the folders of both must be writable: SQLite makes -wal and -shm files beside "
            "the database)"
            if "unable to open" in str(exc)
            else ""
        )
        raise DigestError(f"backup of {source} to {target} failed: {exc}{hint}") from exc
    finally:
        src.close()
    dst.close()
    if integrity != "ok":  # keep the copy for salvage, under a name pruning never counts
        kept = target.with_name(target.name + ".failed-integrity")
        target.rename(kept)
        raise DigestError(f"{kept}: integrity_check failed: {integrity}")
    pruned = prune_backups(folder, keep or config.service.backup_keep, live=source)
    return BackupReport(
        target, target.stat().st_size, integrity, round(time.monotonic() - started, 3), pruned
    )


def prune_backups(folder: Path, keep: int, live: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` backups (names sort by time).

    Only names `backup` writes count: a database that merely starts with `digest-` in the
    same folder (say the live `digest-prod.db`) is never touched.
    """
    live_file = live.resolve() if live else None
    backups = sorted(
        path
        for path in folder.glob(f"{BACKUP_PREFIX}*.db")
        if BACKUP_NAME_RE.fullmatch(path.name) and path.resolve() != live_file
    )
    doomed = backups[:-keep] if keep > 0 else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


# ------------------------------------------------------------------ doctor
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
    if secret("DIGEST_SECRET_KEY"):
        report.add("secret key", "ok", "DIGEST_SECRET_KEY from the environment")
    elif key_file.exists():
        mode = key_file.stat().st_mode & 0o777
        status = "ok" if mode & 0o077 == 0 else "warn"
        report.add("secret key", status, f"{key_file} (mode {mode:o})")
    else:
        report.add("secret key", "ok", f"will be generated at {key_file} on first `serve`")


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
        from digest.web.actions import confirmation_email

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
