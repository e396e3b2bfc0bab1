"""Hostile settings and names: every bad value is one line and exit 2, never a traceback.

The README promises a one-line error and exit code 2 for every configuration mistake; these are
the values a red-team pass found slipping through as tracebacks or silently accepted, plus a
hypothesis fuzz over the settings parser and the name functions that must find no traceback."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.core.errors import ConfigError
from jobs.core.settings import load_settings, redact_url
from jobs.enrich import names
from jobs.face.cli import main

TOML_MISTAKES = [
    "threshold = inf",
    "threshold = nan",
    "threshold = 1e300",
    "smtp_timeout = inf",
    "mail_to = [1, 2]",
    "mail_to = {a = 1}",
    "smtp_port = 25.9",
    "smtp_port = true",
    'out = ["a"]',
    'mail_from = "revwatch@ca.example>\\r\\nBcc: x"',
    'mail_from = "revwatch@ca example"',
    'ca_db = "postgresql://u@host:notaport/db"',
    "smtp_attempts = 1e9",
]


@pytest.mark.parametrize("line", TOML_MISTAKES)
def test_toml_mistakes_are_one_line_and_exit_2(
    line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "revwatch.toml"
    config.write_text(line + "\n", encoding="utf-8")
    code = main(["run", "--config", str(config), "--no-mail", "--ca-db", "sqlite:///x.sqlite"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("revwatch: error:")


@pytest.mark.parametrize(
    "argv",
    [
        ["--threshold", "1000000d"],
        ["--replacement-window", "3000000d"],
        ["--overlap", "1000000d"],
        ["--since", "0001-01-01T00:00+14:00"],
        ["--threshold", "nan"],
    ],
)
def test_flag_mistakes_are_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--no-mail", "--ca-db", "sqlite:///x.sqlite", *argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err


def test_secret_files_that_are_not_text_or_not_files_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "password"
    binary.write_bytes(b"\xff\xfe\x00secret")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings({}, environ={"REVWATCH_CA_DB_PASSWORD_FILE": str(binary)})
    with pytest.raises(ConfigError, match="not a regular file"):
        # /dev/zero would never end: it is refused at once, not read.
        load_settings({}, environ={"REVWATCH_SMTP_PASSWORD_FILE": "/dev/zero"})


def test_a_password_with_an_unencoded_at_sign_is_masked_whole() -> None:
    shown = redact_url("postgresql://revwatch:p@ss/w0rd@db.internal/ca")
    assert "ss" not in shown and "w0rd" not in shown and shown.endswith("@db.internal/ca")


def test_a_password_in_a_url_flag_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        load_settings({"ca_db": "postgresql://revwatch:hunter2@db/ca"}, environ={})
    assert "process list" in caplog.text and "hunter2" not in caplog.text


# --- fuzz --------------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.text(max_size=40),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.lists(st.one_of(st.text(max_size=10), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.none(),
)
_KEYS = st.sampled_from(
    [
        "threshold", "replacement_window", "overlap", "since", "until", "smtp_port",
        "smtp_timeout", "smtp_attempts", "smtp_backoff_cap", "mail_to", "mail_from", "out",
        "ca_db", "state_db", "profile", "smtp_security", "smtp_verify", "no_mail",
        "validity_offset", "boulder_lookback", "log_format", "outbox", "metrics_file",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_the_settings_parser_raises_only_config_errors(raw: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        load_settings(raw, environ={})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["THRESHOLD", "SMTP_PORT", "MAIL_TO", "SINCE"]),
                       st.text(max_size=30), max_size=3))  # fmt: skip
def test_the_environment_parser_raises_only_config_errors(raw: dict[str, str]) -> None:
    with contextlib.suppress(ConfigError):
        load_settings({}, environ={f"REVWATCH_{k}": v for k, v in raw.items()})


_NAMES = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"[a-z0-9*._\-:/@ ]{0,60}", fullmatch=True),
    st.text(alphabet=st.characters(categories=["L", "N", "P", "Zs", "Cf", "Cc"]), max_size=40),
)


@settings(max_examples=400, deadline=None)
@given(_NAMES, _NAMES)
def test_the_name_functions_never_raise(before: str, after: str) -> None:
    names.canonical(before)
    names.to_unicode(before)
    names.is_idn(before)
    names.registrable_domain(before)
    names.dns_name_problem(before)
    names.skeleton(before)
    names.lookalike(before, after)
    names.comparison_forms(before, after)
    assert names.name_distance(before, after) >= 0


def test_a_newline_in_a_logged_value_cannot_forge_a_text_log_line() -> None:
    from jobs.face.logs import LogFormatter

    record = logging.LogRecord(
        "revwatch.run", logging.WARNING, __file__, 1,
        "issuer %s", ("CN=x\n2026-11-30 02:15:03 INFO revwatch.run: run forged success",), None,
    )  # fmt: skip
    line = LogFormatter("text").format(record)
    assert "\n" not in line and "\\u000a" in line


def test_neutralise_covers_every_invisible_or_line_breaking_category() -> None:
    from jobs.core.text import neutralise

    hostile = "\u2028\u2029\u061c\u00ad\u2060\u2061\u2062\u2063\u2064\U000e0041\u202e\x00\n"
    shown = neutralise(f"a{hostile}b")
    assert shown.startswith("a") and shown.endswith("b") and shown.isprintable()
    assert neutralise("mail.cualtis.net") == "mail.cualtis.net"
    assert neutralise("münchen.de") == "münchen.de"  # letters stay letters


def test_a_driver_option_the_driver_rejects_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        ["run", "--ca-db", "mysql://root@127.0.0.1:3306/test?charset=nonsense", "--no-mail"]
    )
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" not in err and "cannot connect" in err


def test_an_echoed_auth_blob_is_redacted_like_the_password() -> None:
    import base64

    from jobs.deliver.smtp import SmtpSettings, _redact

    settings = SmtpSettings(
        host="127.0.0.1", port=25, security="none", user="revwatch", password="s3cret-Pa55",
        timeout=5, ca_bundle=None, verify=True, mail_from="r@ca.example", mail_to=("c@ca.example",),
    )  # fmt: skip
    plain = base64.b64encode(b"\0revwatch\0s3cret-Pa55").decode()
    login = base64.b64encode(b"s3cret-Pa55").decode()
    # A server that echoes what it was sent: the fault no real server produces on demand.
    reply = f"535 5.7.8 bad credentials {plain} / {login} / s3cret-Pa55"
    shown = _redact(reply, settings)
    assert plain not in shown and login not in shown and "s3cret" not in shown
    assert shown.startswith("535 5.7.8 bad credentials ***")
