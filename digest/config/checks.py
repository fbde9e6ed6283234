"""Value checks of a loaded config that types alone can't express: ranges, choices, paths.

Each error names the file, the key and what was expected (`ConfigError`, exit 2 in the CLI).
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.config.categories import feed_problem
from digest.config.settings import (
    BUNDLED_MODEL,
    ArxivConfig,
    Config,
    ConfigError,
    MailConfig,
    ScheduleConfig,
)
from digest.models import ANNOUNCE_TYPES


def _choice(value: str, allowed: tuple[str, ...], key: str, source: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{source}: {key} must be one of {', '.join(allowed)}, got {value!r}")


# (setting, lowest, highest, lowest allowed?): bounds a type alone cannot express. A wrong
# value is named with the range; the upper bounds catch typos that would look like a hang.
_BOUNDS: tuple[tuple[str, float, float | None, bool], ...] = (
    ("database.busy_timeout_ms", 0, None, True),
    ("arxiv.max_retries", 0, 20, True),
    ("arxiv.request_delay_seconds", 0, 300, True),  # a typo of 3000 waited 50 min a feed
    ("arxiv.timeout_seconds", 0, 600, False),
    ("arxiv.api_page_size", 1, 2000, True),
    ("embedding.batch_size", 1, 4096, True),  # x16 texts are encoded per call
    ("ranking.default_threshold", -1, 1, True),
    ("ranking.diversity_lambda", 0, 1, True),
    ("ranking.trending_weight", 0, 1, True),
    ("ranking.min_feedback_for_model", 1, None, True),
    ("mail.rate_per_second", 0, None, False),
    ("mail.max_lateness_hours", 0, None, False),
    ("mail.smtp_port", 1, 65535, True),
    ("mail.smtp_timeout_seconds", 0, None, False),
    ("mail.sendgrid_timeout_seconds", 0, None, False),
    ("mail.send_retries", 0, None, True),
    ("mail.retry_base_seconds", 0, None, True),
    ("mail.rate_limit_max_wait_seconds", 0, None, True),  # negative: every 429 stopped the run
    ("mail.max_consecutive_errors", 1, None, True),
    ("mail.max_per_hour", 0, None, True),
    ("mail.max_per_day", 0, None, True),
    ("mail.complaint_min_sent", 0, None, True),
    ("service.port", 1, 65535, True),
    ("service.confirm_token_days", 1, 3650, True),
    ("service.subscribe_per_ip_per_minute", 1, None, True),
    ("service.confirm_mails_per_address_per_day", 1, None, True),
    ("service.token_misses_per_ip_per_minute", 1, None, True),
    ("service.backup_keep", 1, None, True),
    ("schedule.misfire_grace_hours", 0, None, False),
    ("schedule.lease_minutes", 0, None, False),
    ("summaries.max_papers_per_run", 0, None, True),
    ("summaries.max_seconds_per_run", 0, 86400, True),
    ("summaries.concurrency", 1, 64, True),
    ("summaries.timeout_seconds", 0, 600, False),
    ("summaries.max_retries", 0, 10, True),
    ("summaries.max_chars", 40, 4000, True),
)


def _validate_bounds(config: Config, src: str) -> None:
    for setting, low, high, low_ok in _BOUNDS:
        section, key = setting.split(".")
        value = getattr(getattr(config, section), key)
        above = value >= low if low_ok else value > low
        if above and (high is None or value <= high):
            continue
        sign = ">=" if low_ok else ">"
        if high is None:
            wanted = f"{sign} {low:g}"
        elif low_ok:
            wanted = f"between {low:g} and {high:g}"
        else:
            wanted = f"> {low:g} and <= {high:g}"
        raise ConfigError(f"{src}: [{section}].{key} must be {wanted}, got {value:g}")


def _validate_mail(mail: MailConfig, src: str) -> None:
    _choice(mail.backend, ("outbox", "smtp", "sendgrid"), "[mail].backend", src)
    _choice(mail.smtp_security, ("starttls", "ssl", "none"), "[mail].smtp_security", src)
    if "@" not in mail.from_address:
        raise ConfigError(f"{src}: [mail].from_address must be an email address")
    if mail.reply_to and not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", mail.reply_to):
        raise ConfigError(  # it went into every Reply-To header as typed
            f"{src}: [mail].reply_to must be empty or an email address, got {mail.reply_to!r}"
        )
    if not mail.from_name.isprintable():  # a line break in a header name
        raise ConfigError(f"{src}: [mail].from_name must be one line of text")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.[A-Za-z0-9._-]+", mail.list_id):
        raise ConfigError(  # it goes into the List-Id header as is: no spaces, CR/LF or <>
            f"{src}: [mail].list_id must look like daily.digest.example.org, got {mail.list_id!r}"
        )
    if mail.backend != "outbox" and not mail.postal_address.strip():
        raise ConfigError(
            f"{src}: [mail].postal_address is required with the {mail.backend} backend "
            "(a sender's physical address must appear in every email)"
        )
    if not 0 < mail.complaint_warn_rate <= mail.complaint_pause_rate < 1:
        raise ConfigError(
            f"{src}: [mail].complaint_warn_rate and complaint_pause_rate must be fractions with "
            f"0 < warn <= pause < 1 (e.g. 0.001 and 0.003), got {mail.complaint_warn_rate} and "
            f"{mail.complaint_pause_rate}"
        )


def _validate_arxiv(arxiv: ArxivConfig, src: str) -> None:
    if not arxiv.categories:
        raise ConfigError(f"{src}: [arxiv].categories must name at least one category")
    for category in arxiv.categories:
        problem = feed_problem(category)
        if problem:
            raise ConfigError(
                f"{src}: [arxiv].categories: {problem} (several may be joined with '+': "
                "cs.LG+stat.ML)"
            )
    if not arxiv.announce_types:
        raise ConfigError(f"{src}: [arxiv].announce_types must name at least one type")
    for kind in arxiv.announce_types:
        _choice(kind, ANNOUNCE_TYPES, "[arxiv].announce_types", src)
    _choice(arxiv.feed_format, ("atom", "rss"), "[arxiv].feed_format", src)
    if not (arxiv.user_agent.isascii() and arxiv.user_agent.isprintable()):  # an HTTP header
        raise ConfigError(f"{src}: [arxiv].user_agent must be printable ASCII on one line")
    for key in ("feed_base_url", "api_base_url"):
        url = getattr(arxiv, key)
        if not url.startswith(("http://", "https://")) or len(url) < 9 or " " in url:
            raise ConfigError(f"{src}: [arxiv].{key} must be an http(s) URL, got {url!r}")


def _is_http_url(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return url.startswith(("http://", "https://")) and bool(host) and not re.search(r"\s", url)


def _https_or_loopback(url: str) -> bool:
    """https, or http to this machine (a test or a local trial: no recipient can reach it)."""
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return url.startswith("https://") or host in ("localhost", "127.0.0.1", "[::1]")


def _validate_service(config: Config, src: str) -> None:
    """Links in every email are built from these; a proxy list is matched address by address."""
    if not _is_http_url(config.service.public_url):
        raise ConfigError(
            f"{src}: [service].public_url must be an http(s) URL like https://digest.example.org "
            f"(links in emails point there), got {config.service.public_url!r}"
        )
    if config.mail.backend != "outbox" and not _https_or_loopback(config.service.public_url):
        raise ConfigError(
            f"{src}: [service].public_url must be https:// with the {config.mail.backend} "
            "backend: Gmail and Yahoo honour one-click unsubscribe (RFC 8058) only over HTTPS, "
            f"got {config.service.public_url!r}"
        )
    if config.site.base_url and not _is_http_url(config.site.base_url):
        raise ConfigError(
            f"{src}: [site].base_url must be empty or an http(s) URL like "
            f"https://papers.example.org, got {config.site.base_url!r}"
        )
    for proxy in config.service.trusted_proxies:
        try:
            ipaddress.ip_address(proxy)
        except ValueError as exc:
            raise ConfigError(
                f"{src}: [service].trusted_proxies: {proxy!r} is not an IP address (list each "
                "proxy's address, e.g. 127.0.0.1; networks like 10.0.0.0/8 never match)"
            ) from exc
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", config.embedding.device):
        raise ConfigError(
            f"{src}: [embedding].device must be cpu, cuda, cuda:N or mps, "
            f"got {config.embedding.device!r}"
        )
    _validate_embedding_backend(config, src)
    ca_file = config.mail.smtp_ca_file
    if config.mail.backend == "smtp" and ca_file and not config.path(ca_file).is_file():
        raise ConfigError(f"{src}: [mail].smtp_ca_file {config.path(ca_file)}: no such file")


def _validate_embedding_backend(config: Config, src: str) -> None:
    embedding = config.embedding
    if embedding.backend not in ("auto", "onnx", "sentence-transformers"):
        raise ConfigError(
            f"{src}: [embedding].backend must be auto, onnx or sentence-transformers, "
            f"got {embedding.backend!r}"
        )
    bundled = (BUNDLED_MODEL, BUNDLED_MODEL + "-int8")
    if embedding.backend == "onnx" and (
        embedding.model not in bundled or embedding.device != "cpu"
    ):
        raise ConfigError(
            f"{src}: [embedding].backend = 'onnx' runs the bundled model on the cpu device only "
            f"({' or '.join(bundled)})"
        )
    if embedding.model == bundled[1] and (
        embedding.backend == "sentence-transformers" or embedding.device != "cpu"
    ):
        raise ConfigError(
            f"{src}: [embedding].model {bundled[1]!r} runs on ONNX Runtime on the cpu only: "
            "set backend to auto or onnx and device to cpu"
        )


def _path_settings(config: Config) -> dict[str, str]:
    return {
        "[database].path": config.database.path,
        "[ranking].topics_file": config.ranking.topics_file,
        "[mail].outbox_dir": config.mail.outbox_dir,
        "[mail].smtp_ca_file": config.mail.smtp_ca_file,
        "[site].dir": config.site.dir,
        "[service].backup_dir": config.service.backup_dir,
    }


def _validate_paths(config: Config, src: str) -> None:
    """Paths must expand, and [site].dir must hold nothing else: every site build replaces it
    wholesale (with dir = "data" a build deleted the database, outbox and topics file)."""
    for key, value in _path_settings(config).items():
        try:
            Path(value).expanduser()
        except RuntimeError as exc:  # ~someone that is not a user, or no $HOME
            raise ConfigError(f"{src}: {key} {value!r}: {exc}") from exc
    site = config.path(config.site.dir).resolve()
    if site.exists() and not site.is_dir():  # a build would swap the file for the site
        raise ConfigError(
            f"{src}: [site].dir {site} is a file, not a folder; each site build replaces "
            "that path, so give the site a folder of its own (e.g. data/site)"
        )
    for key in ("[mail].outbox_dir", "[service].backup_dir"):  # sends retried, then failed
        folder = config.path(_path_settings(config)[key])
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{src}: {key} {folder} is a file, not a folder")
    kept = {k: config.path(v) for k, v in _path_settings(config).items() if v and k != "[site].dir"}
    for name, path in (kept | {"the config file's folder": config.base_dir}).items():
        other = path.resolve()
        if other == site or site in other.parents:  # the site folder would hold it
            raise ConfigError(
                f"{src}: [site].dir {site} overlaps {name} ({other}); each site build "
                "replaces that folder, so give the site a folder of its own (e.g. data/site)"
            )


def validate(config: Config) -> None:
    """Value checks that types alone can't express."""
    src = config.source
    if not config.database.path.strip():
        raise ConfigError(f"{src}: [database].path must not be empty")
    # the URL as given: the SQLite default is built from [database].path, checked below
    url = (os.environ.get("DIGEST_DATABASE_URL") or config.database.url).strip()
    if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise ConfigError(
            f"{src}: [database].url (or DIGEST_DATABASE_URL) {url.split('@')[-1]!r} is neither "
            "sqlite:///PATH nor postgresql://user@host/db"
        )
    if not config.embedding.model.strip():
        raise ConfigError(f"{src}: [embedding].model must not be empty (default {BUNDLED_MODEL})")
    _validate_bounds(config, src)
    _validate_paths(config, src)
    _validate_arxiv(config.arxiv, src)
    _validate_mail(config.mail, src)
    _validate_service(config, src)
    ranking = config.ranking
    if not 1 <= ranking.default_max_papers <= ranking.max_papers_cap <= 50:
        raise ConfigError(
            f"{src}: [ranking].default_max_papers must be between 1 and max_papers_cap (<= 50)"
        )
    _validate_schedule(config, src)
    _validate_summaries(config, src)


def _validate_summaries(config: Config, src: str) -> None:
    summaries = config.summaries
    _choice(summaries.backend, ("extractive", "openai"), "[summaries].backend", src)
    if summaries.backend != "openai":
        return
    if not summaries.model.strip():
        raise ConfigError(f"{src}: [summaries].model must name the model when backend = openai")
    if not _is_http_url(summaries.base_url):
        raise ConfigError(
            f"{src}: [summaries].base_url must be the endpoint's http(s) URL when backend = "
            f"openai (e.g. http://127.0.0.1:11434/v1), got {summaries.base_url!r}"
        )


CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
DEFAULT_CRON = ScheduleConfig.cron  # checked by tests: loads skip the 80 ms scheduler import


def _validate_schedule(config: Config, src: str) -> None:
    schedule = config.schedule
    try:
        zone = ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"{src}: [schedule].timezone {schedule.timezone!r} is not a known time zone"
        ) from exc
    if schedule.cron != DEFAULT_CRON:
        check_cron(schedule.cron, zone, f"{src}: [schedule].cron {schedule.cron!r}")


def check_cron(cron: str, zone: ZoneInfo, shown: str) -> None:
    """The cron is read by APScheduler's own parser (as `digest schedule` reads it), so a cron
    that loads is one the scheduler accepts; one that never fires is refused as well."""
    parts = cron.split()
    if len(parts) != 5:
        raise ConfigError(
            f"{shown} must have 5 fields (minute hour day month weekday), got {len(parts)}; "
            "e.g. '30 0 * * mon-fri'"
        )
    # crontab reads 1-5 as mon-fri and */2 as sun,tue,..., APScheduler 3 as tue-sat and
    # mon,wed,...: only names mean the same in both
    if re.search(r"\d", parts[4]):
        raise ConfigError(
            f"{shown}: write the weekday field with names (mon-fri, sun), not {parts[4]!r}: "
            "the scheduler counts 0 as Monday where crontab counts it as Sunday"
        )
    from apscheduler.triggers.cron import CronTrigger

    for name, part in zip(CRON_FIELDS, parts, strict=True):
        try:
            CronTrigger(**{name: part}, timezone=zone)
        except ValueError as exc:
            field = name.replace("_", " ")
            why = re.sub(r"^Error validating expression '.*?': ", "", str(exc))
            raise ConfigError(f"{shown}: the {field} field {part!r} is wrong: {why}") from exc
    try:
        trigger = CronTrigger.from_crontab(cron, timezone=zone)
    except ValueError as exc:
        raise ConfigError(f"{shown} is not a cron expression: {exc}") from exc
    if trigger.get_next_fire_time(None, datetime.now(zone)) is None:
        raise ConfigError(f"{shown} never fires: no calendar date matches its day and month")
