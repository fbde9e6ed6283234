"""Config lookup order and validation: every error names the key."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from digest.config import BUNDLED_MODEL, Config, ConfigError, load_config
from tests.conftest import digest_child


def test_defaults_without_any_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    config = load_config()
    assert config == Config(base_dir=config.base_dir)
    assert config.embedding.model == BUNDLED_MODEL and config.mail.backend == "outbox"


def test_lookup_order_flag_then_env_then_cwd(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text('[site]\ntitle = "cwd"\n')
    env_file = tmp_path / "env.toml"
    env_file.write_text('[site]\ntitle = "env"\n')
    flag_file = tmp_path / "flag.toml"
    flag_file.write_text('[site]\ntitle = "flag"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    assert load_config().site.title == "cwd"
    monkeypatch.setenv("DIGEST_CONFIG", str(env_file))
    assert load_config().site.title == "env"
    assert load_config(flag_file).site.title == "flag"


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    sub = tmp_path / "ops"
    sub.mkdir()
    (sub / "c.toml").write_text('[database]\npath = "state/d.db"\n')
    assert load_config(sub / "c.toml").db_path == sub / "state" / "d.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[arxiv]\nfoo = 1\n", "unknown key [arxiv].foo"),
        ("[nope]\nx = 1\n", "unknown section [nope]"),
        (
            "[arxiv]\nrequest_delay_seconds = 'x'\n",
            "[arxiv].request_delay_seconds must be a number",
        ),
        ("[arxiv]\ncategories = 'cs.AI'\n", "[arxiv].categories must be a list of strings"),
        ("[arxiv]\nannounce_types = ['new', 'old']\n", "[arxiv].announce_types must be one of"),
        ("[arxiv]\nrequest_delay_seconds = -1\n", "[arxiv].request_delay_seconds must be betw"),
        ("[mail]\nbackend = 'smtp'\n", "[mail].postal_address is required"),
        ("[mail]\nfrom_address = 'nobody'\n", "[mail].from_address must be an email address"),
        ("[schedule]\ntimezone = 'Mars/Olympus'\n", "[schedule].timezone"),
        ("[schedule]\ncron = '30 0 *'\n", "[schedule].cron '30 0 *' must have 5 fields"),
        ("[schedule]\ncron = '* * *'\n", "must have 5 fields (minute hour day month weekday)"),
        (
            "[schedule]\ncron = '30 25 * * *'\n",
            "[schedule].cron '30 25 * * *': the hour field '25' is wrong: the last value (25) "
            "is higher than the maximum value (23)",
        ),
        (
            "[schedule]\ncron = '61 * * * *'\n",
            "[schedule].cron '61 * * * *': the minute field '61' is wrong",
        ),
        ("[schedule]\ncron = '0 0 * jam *'\n", "the month field 'jam' is wrong"),
        ("[schedule]\ncron = '*/0 0 * * *'\n", "Increment must be higher than 0"),
        ("[schedule]\ncron = '0 0 30 feb *'\n", "[schedule].cron '0 0 30 feb *' never fires"),
        (
            "[schedule]\ncron = '30 0 * * 1-5'\n",
            "write the weekday field with names (mon-fri, sun), not '1-5'",
        ),
        ("[schedule]\ncron = '30 0 * * */2'\n", "write the weekday field with names"),
        ("[service]\nport = 70000\n", "[service].port"),
        ("[mail]\ntracking = 'yes'\n", "[mail].tracking must be true or false"),
        ("[arxiv\n", "not valid TOML"),
        # these loaded, then made broken links in every email, or never matched anything
        ("[service]\npublic_url = 'ftp://x'\n", "[service].public_url must be an http(s) URL"),
        ("[site]\nbase_url = 'papers.org'\n", "[site].base_url must be empty or an http(s)"),
        (
            "[service]\ntrusted_proxies = ['10.0.0.0/8']\n",
            "[service].trusted_proxies: '10.0.0.0/8' is not an IP address",
        ),
        ("[embedding]\ndevice = 'gpu'\n", "[embedding].device must be cpu, cuda, cuda:N or mps"),
        ("[mail]\nreply_to = 'nobody'\n", "[mail].reply_to must be empty or an email address"),
        ('[mail]\nfrom_name = "a\\nBcc: x@y.org"\n', "[mail].from_name must be one line"),
        (
            "[mail]\nbackend = 'smtp'\npostal_address = '1 Main St'\nsmtp_ca_file = 'no.pem'\n",
            "[mail].smtp_ca_file",
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_repository_config_toml_is_valid():
    from digest.paths import PROJECT_DIR

    config = load_config(PROJECT_DIR / "config.toml")
    assert config.arxiv.categories


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[arxiv]\ntimeout_seconds = nan\n", "[arxiv].timeout_seconds must be a finite number"),
        (
            "[arxiv]\nrequest_delay_seconds = inf\n",
            "[arxiv].request_delay_seconds must be a finite",
        ),
        ("[schedule]\nlease_minutes = 1e300\n", "[schedule].lease_minutes must be a finite number"),
        ('[database]\npath = "a\\u0000b"\n', "[database].path must be a string (without NUL)"),
        ('[database]\npath = ""\n', "[database].path must not be empty"),
        ("[database]\nbusy_timeout_ms = -1\n", "[database].busy_timeout_ms must be >= 0"),
        ("[database]\nbusy_timeout_ms = 99999999999999999\n", "[database].busy_timeout_ms must"),
        ("[arxiv]\nmax_retries = -5\n", "[arxiv].max_retries must be between 0 and 20"),
        ("[mail]\nsmtp_port = -3\n", "[mail].smtp_port must be between 1 and 65535"),
        ("[arxiv]\nrequest_delay_seconds = 3000\n", "between 0 and 300"),
        ("[arxiv]\nannounce_types = []\n", "[arxiv].announce_types must name at least one"),
        ('[mail]\nlist_id = "x.org>\\r\\nBcc: a@b.c"\n', "[mail].list_id must look like"),
        ('[mail]\nlist_id = "my list"\n', "[mail].list_id must look like"),
        ('[arxiv]\nuser_agent = "caf\u00e9"\n', "[arxiv].user_agent must be printable ASCII"),
        ('[arxiv]\nuser_agent = "a\\r\\nX-Injected: 1"\n', "[arxiv].user_agent must be"),
        ("[arxiv]\ntimeout_seconds = 3600\n", "[arxiv].timeout_seconds must be > 0 and <= 600"),
        ("[embedding]\nbatch_size = 1000000\n", "[embedding].batch_size must be between 1 and"),
        ("[service]\nconfirm_token_days = 1000000000\n", "[service].confirm_token_days"),
        ("[arxiv]\ncategories = ['cs.AI', 'cs AI']\n", "'cs AI' is not an arXiv category"),
        ("[arxiv]\ncategories = ['']\n", "'' is not an arXiv category"),
        ("[embedding]\nmodel = ' '\n", "[embedding].model must not be empty"),
        ("[arxiv]\nfeed_base_url = 'rss.arxiv.org'\n", "[arxiv].feed_base_url must be an http"),
        ("[site]\ndir = 'data'\n", "overlaps [database].path"),
        ("[site]\ndir = '.'\n", "overlaps [database].path"),
        ("[site]\ndir = 'data/outbox'\n", "overlaps [mail].outbox_dir"),
        ("[site]\ndir = 'data/backups'\n", "overlaps [service].backup_dir"),
        ("[site]\ndir = 'data'\n[database]\npath = 'db/d.db'\n", "overlaps [ranking].topics_file"),
        ("[site]\ndir = '..'\n", "overlaps"),
        ("[database]\npath = '~no-such-user-here/d.db'\n", "[database].path '~no-such-user-here"),
        ("[arxiv]\napi_base_url = 'ftp://x/api'\n", "[arxiv].api_base_url must be an http"),
        ("[arxiv]\ncategories = ['cs.AI/../x']\n", "is not an arXiv category"),
        ("[arxiv]\ncategories = ['cs.cl']\n", "'cs.cl' is written cs.CL on arXiv"),
        (
            "[mail]\nbackend = 'smtp'\npostal_address = '1 Main St'\n"
            "[service]\npublic_url = 'http://digest.example.org'\n",
            "[service].public_url must be https:// with the smtp backend",
        ),
        (
            "[mail]\nbackend = 'sendgrid'\npostal_address = '1 Main St'\n"
            "[service]\npublic_url = 'http://localhost.example.org:8000'\n",
            "must be https:// with the sendgrid backend",
        ),
        ("[arxiv]\ncategories = ['notacat']\n", "'notacat' is not an arXiv category"),
        ("[arxiv]\ncategories = ['cs.LG+stat.ml']\n", "'stat.ml' is written stat.ML"),
        ("[arxiv]\ncategories = ['hep-th.QC']\n", "hep-th has no subject classes"),
    ],
)
def test_out_of_range_values_name_the_key(tmp_path, text, message):
    """Values the types accept but nothing can use (NaN, negatives, NUL) fail at load time."""
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf[site]\ntitle = 'bom'\n")
    assert load_config(path).site.title == "bom"


def test_a_config_toml_directory_is_an_error_not_the_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    (tmp_path / "config.toml").mkdir()
    with pytest.raises(ConfigError, match="config.toml: is a directory"):
        load_config()
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path / "config.toml")


def test_init_writes_the_config_where_config_points(tmp_path):
    """`digest --config ops/digest.toml init` used to fail with "config file not found"."""
    first = digest_child("--config", "ops/digest.toml", "init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "config: wrote ops/digest.toml" in first.stdout
    assert (tmp_path / "ops" / "data" / "digest.db").is_file()  # paths resolve against it
    assert not (tmp_path / "config.toml").exists()
    again = digest_child("--config", "ops/digest.toml", "init", cwd=tmp_path)
    assert again.returncode == 0 and "config: kept ops/digest.toml" in again.stdout


def test_a_model_that_cannot_load_is_one_line(tmp_path):
    (tmp_path / "config.toml").write_text('[embedding]\nmodel = "no-such-org/no-such-model"\n')
    (tmp_path / "p.jsonl").write_text('{"id": "x-1", "title": "t", "abstract": "a"}\n')
    assert digest_child("import", "p.jsonl", cwd=tmp_path).returncode == 0
    result = digest_child("embed", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: could not load embedding model 'no-such-org/")
    assert "not in the Hugging Face cache" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_looking_commands_in_the_wrong_place_create_no_database(tmp_path):
    """`digest status` in a directory without a database made an empty one there and said
    "nothing fetched yet", as if the operator's data were gone."""
    for command in (["status", "--json"], ["papers", "show", "2508.13167"]):
        result = digest_child(*command, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.startswith(f"error: no database at {tmp_path / 'data' / 'digest.db'}")
    assert list(tmp_path.iterdir()) == []


def test_a_site_dir_holding_the_database_is_refused_before_a_build_deletes_it(tmp_path):
    """With [site].dir = "data", `digest site build` swapped the real data/ folder for the
    site's symlink and deleted it: the database, outbox and topics were gone."""
    (tmp_path / "config.toml").write_text('[site]\ndir = "data/site"\nsearch = false\n')
    assert digest_child("init", cwd=tmp_path).returncode == 0
    (tmp_path / "config.toml").write_text('[site]\ndir = "data"\nsearch = false\n')
    result = digest_child("site", "build", cwd=tmp_path)
    assert result.returncode == 2 and "[site].dir" in result.stderr
    assert "overlaps [database].path" in result.stderr
    assert (tmp_path / "data" / "digest.db").is_file() and (tmp_path / "data").is_dir()
    assert not (tmp_path / "data").is_symlink()


def test_init_names_a_topics_file_it_cannot_write(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "config.toml").write_text('[ranking]\ntopics_file = "a-file/topics.toml"\n')
    result = digest_child("init", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: {tmp_path / 'a-file' / 'topics.toml'}: cannot write")
    assert len(result.stderr.strip().splitlines()) == 1


def test_demo_refuses_a_database_with_real_subscribers(tmp_path):
    """Run in a production directory, the demo added its example.org subscribers to the real
    list (to be mailed by the next real run) and its sample papers to the archive."""
    added = digest_child("subscribers", "add", "reader@lab.test", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    result = digest_child("demo", cwd=tmp_path)
    assert result.returncode == 2 and "has 1 real subscriber(s)" in result.stderr
    status = json.loads(digest_child("status", "--json", cwd=tmp_path).stdout)
    assert status["papers"] == 0 and status["ingest_runs"] == []
    listed = digest_child("subscribers", "list", "--json", cwd=tmp_path)
    assert [s["email"] for s in json.loads(listed.stdout)] == ["reader@lab.test"]


def test_every_bounded_setting_is_named_when_out_of_range(tmp_path):
    from digest.config.checks import _BOUNDS

    for setting, low, _high, low_ok in _BOUNDS:
        section, key = setting.split(".")
        below = low - 1 if low_ok else low
        path = tmp_path / f"{key}.toml"
        value = int(below) if float(below).is_integer() else below
        path.write_text(f"[{section}]\n{key} = {value}\n")
        with pytest.raises(ConfigError, match=rf"\[{section}\]\.{key} must be"):
            load_config(path)


def test_toml_nested_absurdly_deep_is_not_valid_toml(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match="not valid TOML: arrays or tables nested too deeply"):
        load_config(path)


def test_config_can_come_from_a_pipe(tmp_path):
    """`digest --config /dev/stdin` (or <(...)) said "config file not found"."""
    result = subprocess.run(
        [sys.executable, "-m", "digest", "--config", "/dev/stdin", "status", "--json"],
        input='[database]\npath = "from-pipe.db"\n[site]\ntitle = "piped"\n',
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2  # the config was read: its database is looked for here
    assert f"no database at {tmp_path / 'from-pipe.db'} " in result.stderr


@pytest.mark.parametrize("cron", ["30 0 * * mon-fri", "*/15 6-22 * * sat,sun", "0 0 29 feb *"])
def test_a_cron_that_loads_is_one_the_scheduler_fires(tmp_path, cron):
    from datetime import UTC, datetime

    from jobs.scheduler import daily_trigger

    path = tmp_path / "config.toml"
    path.write_text(f"[schedule]\ncron = '{cron}'\n")
    trigger = daily_trigger(load_config(path))
    assert trigger.get_next_fire_time(None, datetime.now(UTC)) is not None


def test_a_malformed_cron_stops_every_command_before_it_starts(tmp_path):
    """`30 25 * * *` loaded; `digest run` fetched and sent, and only `digest schedule` and
    `digest doctor` said the cron was wrong."""
    (tmp_path / "config.toml").write_text("[schedule]\ncron = '30 25 * * *'\n")
    for command in (["run"], ["status", "--json"], ["init"]):
        result = digest_child(*command, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == "", (command, result.stdout)
        assert result.stderr.startswith("error: ")
        assert "config.toml: [schedule].cron '30 25 * * *': the hour field" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_the_default_cron_passes_the_check_that_loads_skip_for_it():
    """Loading skips the scheduler's parser for the default cron (80 ms of imports a
    command); the default must pass it, or a default config would start a broken scheduler."""
    from zoneinfo import ZoneInfo

    from digest.config import ScheduleConfig
    from digest.config.checks import DEFAULT_CRON, check_cron

    assert DEFAULT_CRON == ScheduleConfig().cron
    check_cron(DEFAULT_CRON, ZoneInfo(ScheduleConfig().timezone), "default")
    with pytest.raises(ConfigError, match="the hour field '25' is wrong"):
        check_cron("30 25 * * *", ZoneInfo("UTC"), "x")


@pytest.mark.parametrize(
    "url",
    [
        "https://digest.example.org",
        "http://127.0.0.1:8000",
        "http://localhost:8000/",
        "http://[::1]:80",
    ],
)
def test_a_real_backend_takes_https_or_this_machine_as_public_url(tmp_path, url):
    path = tmp_path / "config.toml"
    path.write_text(
        f"[mail]\nbackend = 'smtp'\npostal_address = '1 Main St'\n[service]\npublic_url = '{url}'\n"
    )
    assert load_config(path).service.public_url == url
