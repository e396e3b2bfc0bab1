"""Settings: precedence flags > environment > file, strict keys, durations, secrets kept out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs.core.errors import ConfigError
from jobs.core.settings import load_settings, parse_duration, parse_time, redact_url


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("36h", timedelta(hours=36)),
        ("90m", timedelta(minutes=90)),
        ("30s", timedelta(seconds=30)),
        ("1.5d", timedelta(hours=36)),
        (3600, timedelta(hours=1)),
    ],
)
def test_durations(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7", "7 days", "-1d", "0h", "d", ""])
def test_bad_durations_say_how(text: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(text)


def test_times_are_utc() -> None:
    assert parse_time("2026-11-27") == datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_time("2026-11-27T03:15:00+01:00") == datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
    assert parse_time("2026-11-27T02:15:00Z").tzinfo == UTC
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_time("27/11/2026")


def test_precedence_flags_over_environment_over_file(tmp_path: Path) -> None:
    config = tmp_path / "revwatch.toml"
    config.write_text(
        'ca_db = "sqlite:///file.sqlite"\nthreshold = "3d"\nsmtp_host = "file.example"\n'
        'mail_to = ["a@example.com", "b@example.com"]\n'
    )
    environ = {"REVWATCH_THRESHOLD": "36h", "REVWATCH_SMTP_HOST": "env.example"}
    settings = load_settings({"threshold": "90m"}, environ, config)
    assert settings.threshold == timedelta(minutes=90)
    assert settings.smtp_host == "env.example"
    assert settings.ca_db == "sqlite:///file.sqlite"
    assert settings.mail_to == ("a@example.com", "b@example.com")
    assert settings.state_url().database == str(tmp_path.resolve() / "revwatch-state.sqlite")


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('treshold = "3d"\n')
    with pytest.raises(ConfigError, match="unknown setting 'treshold'"):
        load_settings({}, {}, config)
    with pytest.raises(ConfigError, match="REVWATCH_SMTP_HOTS"):
        load_settings({}, {"REVWATCH_SMTP_HOTS": "x"})


def test_mail_to_from_environment_is_comma_separated() -> None:
    settings = load_settings({}, {"REVWATCH_MAIL_TO": "a@x.example, b@x.example,"})
    assert settings.mail_to == ("a@x.example", "b@x.example")


def test_secrets_from_files_stay_out_of_repr(tmp_path: Path) -> None:
    (tmp_path / "smtp").write_text("smtp-secret\n")
    (tmp_path / "db").write_text("db-secret\n")
    settings = load_settings(
        {"ca_db": "postgresql://revwatch@db.example/ca"},
        {
            "REVWATCH_SMTP_PASSWORD_FILE": str(tmp_path / "smtp"),
            "REVWATCH_CA_DB_PASSWORD_FILE": str(tmp_path / "db"),
        },
    )
    assert settings.smtp_password == "smtp-secret"
    assert settings.ca_url().password == "db-secret"
    assert "secret" not in repr(settings)
    assert "db-secret" not in redact_url(settings.ca_url())


def test_missing_secret_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read smtp_password"):
        load_settings({}, {"REVWATCH_SMTP_PASSWORD_FILE": str(tmp_path / "absent")})


def test_bad_values_name_source_and_key() -> None:
    with pytest.raises(ConfigError, match="environment: smtp_security: bad value 'ssl'"):
        load_settings({}, {"REVWATCH_SMTP_SECURITY": "ssl"})
    with pytest.raises(ConfigError, match="command line: profile"):
        load_settings({"profile": "nope"}, {})


def test_empty_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty window"):
        load_settings({"since": "2026-11-27", "until": "2026-11-26"}, {})


def test_redact_url_masks_passwords() -> None:
    assert "hunter2" not in redact_url("postgresql://u:hunter2@h/db")
    assert "***" in redact_url("postgresql://u:hunter2@h/db")
