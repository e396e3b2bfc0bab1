"""Settings: from a TOML file, `REVWATCH_*` environment variables and command-line flags.

Owns the one `Settings` object every command runs on, and the precedence flags > environment >
file > default. It reads secrets from the environment or from files and keeps them out of repr()
and of any URL it shows. It must not open databases or sockets: it only parses and checks.

The TOML file takes the same names as the environment, lower-case and without the prefix, e.g.
`ca_db = "postgresql+psycopg://revwatch@db/ejbca"`, `smtp_host = "mail.example"`,
`mail_to = ["compliance@example.com"]`. Unknown keys are an error: a typo must not silently fall
back to a default.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from jobs.core.endpoints import host_port
from jobs.core.errors import ConfigError
from jobs.core.resources import sql_dir
from jobs.core.secret_files import SECRET_FILES, read_secret

log = logging.getLogger("revwatch.core.settings")

ENV_PREFIX = "REVWATCH_"
# A profile is a directory of SQL under sql/profiles/: adding one needs no Python change here.
PROFILES = tuple(sorted(p.name for p in (sql_dir() / "profiles").iterdir() if p.is_dir()))
SECURITY_MODES = ("none", "starttls", "tls")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(d|h|m|s)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# The longest duration any setting takes: ten years is beyond any threshold, window or timeout
# that makes sense, and keeps every window arithmetic (now - 2 x threshold) inside datetime's range.
MAX_DURATION = timedelta(days=3660)
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def parse_duration(value: str | int | float) -> timedelta:
    """`7d`, `36h`, `90m`, `30s` (or a number of seconds) as a positive, finite timedelta of at
    most MAX_DURATION."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ConfigError(f"bad duration {value!r}: use a number and a unit, like 7d, 36h, 90m")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    else:
        raise ConfigError(f"bad duration {value!r}: use a number and a unit, like 7d, 36h, 90m")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"bad duration {value!r}: it must be positive and finite")
    if seconds > MAX_DURATION.total_seconds():
        raise ConfigError(f"bad duration {value!r}: at most {MAX_DURATION.days}d")
    return timedelta(seconds=seconds)


def parse_time(value: str | datetime) -> datetime:
    """An ISO 8601 time as aware UTC; a time without offset is taken as UTC."""
    bad = f"bad time {value!r}: use ISO 8601, like 2026-11-27 or 2026-11-27T02:15:00Z"
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str | date):
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(bad) from None
    else:
        raise ConfigError(bad)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ConfigError(f"bad time {value!r}: out of range in UTC") from None


def _address(value: Any) -> str:
    """One mail address (`a@b.example` or `Name <a@b.example>`) whose domain is a plain host."""
    if not isinstance(value, str):
        raise ConfigError(f"bad mail address {value!r}: it must be text")
    text = value.strip()
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text):
        raise ConfigError(f"bad mail address {value!r}: it holds a control character")
    address = parseaddr(text)[1]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or not set(domain) <= _HOST_CHARS:
        raise ConfigError(f"bad mail address {value!r}: use name@host.example")
    return text


def _addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise ConfigError(f"bad address list {value!r}: a comma-separated text or a list")
    return tuple(_address(a) for a in items if not isinstance(a, str) or a.strip())


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"bad boolean {value!r}: use true or false")


def _integer(value: Any, what: str) -> int:
    """An integer from text or a TOML integer; 25.9, true or a list are refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"bad {what} {value!r}: a whole number")
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"bad {what} {value!r}: a whole number") from None


def _port(value: str | int) -> int:
    port = _integer(value, "port")
    if not 0 < port < 65536:
        raise ConfigError(f"bad port {value!r}: 1 to 65535")
    return port


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not isinstance(value, str) or value not in options:
            raise ConfigError(f"bad value {value!r}: one of {', '.join(options)}")
        return value

    return parse


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"bad value {value!r}: it must be text")
    if "\x00" in value:
        raise ConfigError("bad value: it holds a NUL character")
    return value


def _path(value: Any) -> Path:
    return (value if isinstance(value, Path) else Path(_text(value))).expanduser()


def _count(value: str | int) -> int:
    count = _integer(value, "count")
    if count > 1000:
        raise ConfigError(f"bad count {value!r}: at most 1000")
    if count < 1:
        raise ConfigError(f"bad count {value!r}: at least 1")
    return count


def _limit(value: str | int) -> int:
    if not 0 <= (limit := _integer(value, "limit")) <= 10_000_000:
        raise ConfigError(f"bad limit {value!r}: 0 to 10000000")
    return limit


def _seconds(value: str | int | float) -> float:
    return parse_duration(value).total_seconds()


@dataclass(frozen=True)
class Settings:
    """Everything a run needs. Secrets are `repr=False` and never logged."""

    ca_db: str | None = None
    ca_db_password: str | None = field(default=None, repr=False)
    profile: str = "generic"
    state_db: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    threshold: timedelta = timedelta(days=7)
    replacement_window: timedelta = timedelta(days=30)
    overlap: timedelta | None = None
    validity_offset: timedelta = timedelta(minutes=10)
    boulder_lookback: timedelta = timedelta(hours=6)
    out: Path | None = None
    no_mail: bool = False
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_security: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_timeout: float = 30.0
    smtp_ca_bundle: Path | None = None
    smtp_verify: bool = True
    smtp_attempts: int = 4
    smtp_backoff_cap: float = 60.0
    mail_from: str | None = None
    mail_to: tuple[str, ...] = ()
    schedule_cron: str = "15 2 * * *"
    schedule_timezone: str = "UTC"
    outbox: Path | None = None
    outbox_retention: timedelta = timedelta(days=30)
    ignore_ledger: bool = False
    metrics_file: Path | None = None
    log_format: str = "text"
    csv_bom: bool = False
    dns_check: bool = False
    dns_resolver: str | None = None
    watch_lint_limit: int = 10_000  # jobs.core.watch.WATCH_LINT_LIMIT
    config_file: Path | None = None

    def ca_url(self) -> URL:
        """The CA database URL with its password (from a file or the environment) applied."""
        if not self.ca_db:
            raise ConfigError("no CA database: give --ca-db URL or set REVWATCH_CA_DB")
        url = _url(self.ca_db, "CA database")
        return url.set(password=self.ca_db_password) if self.ca_db_password else url

    def state_url(self) -> URL:
        """The ledger's URL: given, or a SQLite file beside the config file (else the home)."""
        if self.state_db:
            return _url(self.state_db, "state database")
        base = self.config_file.resolve().parent if self.config_file else _default_state_dir()
        return make_url(f"sqlite:///{base / 'revwatch-state.sqlite'}")

    def outbox_dir(self) -> Path:
        """Where each message is kept before it is sent (`revwatch resend RUN` reads it)."""
        if self.outbox:
            return self.outbox
        url = self.state_url()
        if url.get_backend_name() == "sqlite" and url.database:
            return Path(url.database).resolve().parent / "outbox"
        base = self.config_file.resolve().parent if self.config_file else _default_state_dir()
        return base / "outbox"

    def smtp_port_or_default(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return {"tls": 465, "starttls": 587}.get(self.smtp_security, 25)


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "revwatch"


def _url(text: str, what: str) -> URL:
    if "://" not in text:
        # A plain path names a SQLite file: `--state-db /var/lib/revwatch/revwatch-state.sqlite`.
        return URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        url = make_url(text)
        url.port  # noqa: B018 - a port that is not a number fails here, not at connect time
    except (ArgumentError, ValueError):
        raise ConfigError(f"bad {what} URL {redact_url(text)!r}") from None
    return url


def _checked_url(value: Any, what: str) -> str:
    """A database URL (or a plain SQLite file path), checked now; kept as text."""
    text = _text(value)
    if "://" in text:
        _url(text, what)
    return text


def redact_url(text: str | URL) -> str:
    """A database URL safe to print: the password, if any, is masked.

    Text is masked by hand before any parsing: a password with an unencoded `@` or `/` would
    otherwise leave its tail in the host part of whatever a parser makes of it."""
    if isinstance(text, URL):
        return text.render_as_string(hide_password=True)
    scheme, sep, rest = str(text).partition("://")
    if not sep:
        return str(text)
    query = rest.find("?")
    at = rest.rfind("@", 0, query if query >= 0 else len(rest))
    # The user info ends at the last `@` before the path; a `/` inside a password is covered.
    if at < 0:
        return str(text)
    user = rest[:at].split(":", 1)
    masked = f"{user[0]}:***" if len(user) > 1 else user[0]
    return f"{scheme}://{masked}@{rest[at + 1 :]}"


# name -> parser; the TOML key and the environment variable derive from the name.
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "ca_db": lambda value: _checked_url(value, "CA database"),
    "ca_db_password": _text,
    "profile": _choice(PROFILES),
    "state_db": lambda value: _checked_url(value, "state database"),
    "since": parse_time,
    "until": parse_time,
    "threshold": parse_duration,
    "replacement_window": parse_duration,
    "out": _path,
    "no_mail": _bool,
    "smtp_host": _text,
    "smtp_port": _port,
    "smtp_security": _choice(SECURITY_MODES),
    "smtp_user": _text,
    "smtp_password": _text,
    "smtp_timeout": _seconds,
    "smtp_ca_bundle": _path,
    "smtp_verify": _bool,
    "smtp_attempts": _count,
    "smtp_backoff_cap": _seconds,
    "mail_from": _text,
    "mail_to": _addresses,
    "schedule_cron": _text,
    "schedule_timezone": _text,
    "overlap": parse_duration,
    "validity_offset": parse_duration,
    "boulder_lookback": parse_duration,
    "outbox": _path,
    "outbox_retention": parse_duration,
    "ignore_ledger": _bool,
    "metrics_file": _path,
    "log_format": _choice(("text", "json")),
    "csv_bom": _bool,
    "dns_check": _bool,
    "dns_resolver": lambda value: host_port(_text(value), "resolver"),
    "watch_lint_limit": _limit,
}
_SETTINGS_FIELDS = {f.name for f in fields(Settings)}


def _layer(raw: Mapping[str, Any], origin: str, secrets: bool = True) -> dict[str, Any]:
    """Parse one source's raw values; errors name the source and the key. Without `secrets`,
    secret files are not read (a command that needs no secret must not fail on them)."""
    parsed: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        if key in SECRET_FILES:  # a file holding a secret: read only when secrets are wanted
            if secrets:
                parsed[SECRET_FILES[key]] = read_secret(str(value), SECRET_FILES[key])
            continue
        parser = _PARSERS.get(key)
        if parser is None:
            raise ConfigError(f"{origin}: unknown setting {key!r}")
        try:
            parsed[key] = parser(value)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {key}: {exc}") from None
    return parsed


def read_file(path: Path) -> dict[str, Any]:
    """The raw settings of a TOML file (one flat table; `[revwatch]` is accepted too)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if set(data) == {"revwatch"} and isinstance(data["revwatch"], dict):
        data = data["revwatch"]
    return data


def read_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The `REVWATCH_*` variables as raw settings; REVWATCH_CONFIG names the file instead."""
    known = set(_PARSERS) | set(SECRET_FILES)
    raw: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in known:
            raise ConfigError(f"environment: unknown variable {name}")
        raw[key] = value
    return raw


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    *,
    secrets: bool = True,
) -> Settings:
    """Merge file, environment and flags (in rising precedence) into checked Settings.

    `secrets` False: the password files are not read, for commands that open neither the CA
    database nor the mail server (`status` runs as a monitoring user who cannot read them)."""
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(ENV_PREFIX + "CONFIG"):
        config_file = Path(environ[ENV_PREFIX + "CONFIG"])
    merged: dict[str, Any] = {}
    if config_file is not None:
        merged.update(_layer(read_file(config_file), f"config file {config_file}", secrets))
    merged.update(_layer(read_environment(environ), "environment", secrets))
    for name in ("ca_db", "state_db"):
        given = flags.get(name)
        if isinstance(given, str) and redact_url(given) != given:
            # Flags are visible to every user in `ps`: say so, do not echo the URL.
            log.warning(
                "--%s holds a password, visible to every user of this host in the process list; %s",
                name.replace("_", "-"),
                "give it through REVWATCH_CA_DB_PASSWORD_FILE instead"
                if name == "ca_db"
                else "set the URL in REVWATCH_STATE_DB or the config file instead",
            )
    merged.update(_layer({k: v for k, v in flags.items() if v is not None}, "command line"))
    settings = replace(Settings(config_file=config_file), **merged)
    return check(settings)


def check(settings: Settings) -> Settings:
    """Contradictions no single parser can see."""
    if settings.since and settings.until and settings.since >= settings.until:
        raise ConfigError(
            f"empty window: since {settings.since.isoformat()} is not before "
            f"until {settings.until.isoformat()}"
        )
    assert set(_PARSERS) <= _SETTINGS_FIELDS, "a parser without a Settings field"
    return settings


def smtp_problems(settings: Settings) -> list[str]:
    """What is missing before a run may send mail (empty when it may)."""
    problems = []
    if not settings.smtp_host:
        problems.append("REVWATCH_SMTP_HOST (smtp_host)")
    if not settings.mail_from:
        problems.append("REVWATCH_MAIL_FROM (mail_from)")
    if not settings.mail_to:
        problems.append("REVWATCH_MAIL_TO (mail_to)")
    if settings.smtp_user and not settings.smtp_password:
        problems.append("REVWATCH_SMTP_PASSWORD or REVWATCH_SMTP_PASSWORD_FILE")
    return problems


def utcnow() -> datetime:
    """The one clock of the program: aware UTC. Tests pass `now` explicitly instead."""
    return datetime.now(UTC)
