"""Odd and hostile addresses, names and CSV files: each refusal says what is wrong, line
numbers point at the row's first line, and a failed import leaves the store as it was."""

from __future__ import annotations

import time

import pytest

from digest.errors import UsageError
from digest.store import open_db
from digest.subscribers.fields import clean_name, normalise_email
from digest.subscribers.import_export import import_subscribers_csv
from digest.subscribers.manage import add_subscriber, list_subscribers


@pytest.fixture
def db(tmp_path):
    database = open_db(tmp_path / "digest.db")
    yield database
    database.conn.close()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("Ada Lovelace <ada@example.com>", "give the address alone, ada@example.com"),
        ("<ada@example.com>", "give the address alone, ada@example.com"),
        ('"ada"@example.com', "quoted local parts are not accepted"),
        ('"ada lovelace"@example.com', "spaces or invisible characters"),
        ("ädä@example.com", "the part before the @ must be ASCII"),
        ("ada@exa\u200bmple.com", "spaces or invisible characters"),
        ("ada\u202e@example.com", "spaces or invisible characters"),
        ("ada@example.com\r\nBcc: eve@example.com", "spaces or invisible characters"),
        ("a@b@example.com", "exactly one @"),
        ("ada..b@example.com", "dot in the wrong place"),
        ("ada@localhost", "not a full domain name like example.org"),
        ("ada@ex_ample.com", "bad domain 'ex_ample.com'"),
        ("", "it is empty"),
    ],
)
def test_each_refused_address_says_what_is_wrong(raw, reason):
    with pytest.raises(UsageError) as caught:
        normalise_email(raw)
    message = str(caught.value)
    assert message.startswith(f"not a valid email address: {raw!r} (")
    assert reason in message


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Ada@Example.COM. ", "Ada@example.com"),
        ("ada+digest@example.com", "ada+digest@example.com"),
        ("ada@xn--bcher-kva.de", "ada@bücher.de"),
        ("mailto:ada@BÜCHER.de", "ada@bücher.de"),
        ("\ufeffada@example.com\u200b\n", "ada@example.com"),  # pasted from a web page
    ],
)
def test_usual_odd_spellings_are_one_address(raw, stored):
    assert normalise_email(raw) == stored


def test_a_name_with_a_bidi_override_or_zero_width_space_is_stored_without_it(db):
    """'\\u202eevE' shows as 'Eve' in a mail client's To line."""
    assert clean_name("\u202eevE\u200b Smith\u2066") == "evE Smith"
    ann = add_subscriber(db, "ann@example.org", name="Ann\u202e \u200bLee")
    assert ann.name == "Ann Lee"


def _big_csv(bad: dict[int, str]) -> str:
    """A BOM, CRLF line ends, 10,000 rows; row n (1-based data row) sits on line n + 1,
    except that row 3's name spans two lines (so every later row is one line further)."""
    lines = ["\ufeffemail,name"]
    for n in range(1, 10_001):
        lines.append(bad.get(n, f"user{n}@example.net,User {n}"))
        if n == 3:
            lines[-1] = 'user3@example.net,"User\r\nThree"'
    return "\r\n".join(lines) + "\r\n"


def test_a_10000_row_file_with_bad_rows_names_their_lines_and_changes_nothing(db):
    add_subscriber(db, "keep@example.org", name="Kept")
    bad = {
        500: "not-an-address,Bad",
        7000: "Case@Example.net,First",
        7001: "case@example.NET,Same address in other case",
        8000: '"Ann <ann@example.org>",Ann',
        9999: 'broken@,"two\r\nlines"',
    }
    started = time.perf_counter()
    report = import_subscribers_csv(db, _big_csv(bad))
    seconds = time.perf_counter() - started
    assert not report.imported and report.added == []
    assert dict(report.errors) == {
        502: "not a valid email address: 'not-an-address' (it needs exactly one @)",
        8002: "not a valid email address: 'Ann <ann@example.org>' (give the address "
        "alone, ann@example.org, and the name separately)",
        10001: "not a valid email address: 'broken@' (a part is missing before or after the @)",
    }
    assert report.duplicates == [] and report.repeats == [(7003, "case@example.net", 7002)]
    assert report.good_rows == 9_996
    assert [(s.email, s.name) for s in list_subscribers(db)] == [("keep@example.org", "Kept")]

    fixed = _big_csv({**bad, 500: "fixed@example.net,", 8000: "ann@example.org,Ann", 9999: ""})
    report = import_subscribers_csv(db, fixed)
    assert report.imported and len(report.added) == 9_998
    assert len(list_subscribers(db)) == 9_999
    assert seconds < 60, f"{seconds:.1f} s to check 10,000 rows"


def test_an_excel_sep_line_is_counted_in_line_numbers(db):
    report = import_subscribers_csv(db, "sep=;\r\nemail;name\r\nok@example.org;A\r\nbad;B\r\n")
    assert [line for line, _ in report.errors] == [4]


def test_a_file_without_an_email_header_shows_what_its_first_row_has(db):
    with pytest.raises(UsageError, match=r"first row has 'ann@example\.org', 'Ann'"):
        import_subscribers_csv(db, "ann@example.org,Ann\n")
    with pytest.raises(UsageError, match=r"first row has 'Email Address', 'First Name'"):
        import_subscribers_csv(db, "Email Address,First Name\nann@example.org,Ann\n")


def test_utf16_from_excel_is_read_and_a_legacy_code_page_is_refused_naming_the_line(db, tmp_path):
    from digest.subscribers.import_export import import_subscribers_file

    unicode_text = tmp_path / "unicode.txt"  # Excel's "Unicode text": UTF-16, tabs
    unicode_text.write_bytes("email\tname\r\nzoe@example.org\tZoë\r\n".encode("utf-16"))
    report = import_subscribers_file(db, unicode_text)
    assert report.added == ["zoe@example.org"]
    assert [s.name for s in list_subscribers(db)] == ["Zoë"]

    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name\nann@example.org,Ann\nbob@example.org,José\n".encode("cp1252"))
    with pytest.raises(UsageError, match=r"not UTF-8 text \(byte 0xe9 on line 3\)"):
        import_subscribers_file(db, latin)
    assert len(list_subscribers(db)) == 1
