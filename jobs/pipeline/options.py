"""Settings resolved once per command into the small typed options each stage takes.

Owns the translation from the user's `Settings` (file, environment, flags) into what each stage
receives: the CA database's URL, profile and profile options; the delivery's `SmtpSettings`; the
ledger's URL, outbox and metrics file; the window's parts. Stages never see `Settings`, and each
concept has one name from the setting down (`overlap` is the window's look-back before the
watermark; `boulder_lookback` is only Boulder's id-walk margin). It must not open anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import URL

from jobs.core.errors import ConfigError
from jobs.core.settings import Settings, redact_url, smtp_problems
from jobs.deliver.smtp import SmtpSettings
from jobs.source.dns import DnsOptions
from jobs.source.profiles.base import ProfileOptions

# The domain-existence check when the settings leave it off.
NO_DNS = DnsOptions()
# Header values of a dry run's message, which is rendered and written but never sent.
DRY_RUN_FROM = "revwatch@localhost"
DRY_RUN_TO = ("compliance@localhost",)


@dataclass(frozen=True)
class SourceOptions:
    """How to open the CA database: URL (None when not configured), profile and its options."""

    url: URL | None
    profile: str
    profile_options: ProfileOptions


@dataclass(frozen=True)
class StateOptions:
    """Where the job keeps its state: the ledger, the outbox beside it (and how long its recorded
    entries stay), the metrics file; `ignore_ledger`: a dry run may go on without its ledger."""

    url: URL
    outbox: Path
    metrics_file: Path | None
    outbox_retention: timedelta = timedelta(days=30)
    ignore_ledger: bool = False


@dataclass(frozen=True)
class WindowOptions:
    """The parts of a run's window: given bounds, the threshold and the overlap."""

    since: datetime | None
    until: datetime | None
    threshold: timedelta
    overlap: timedelta


@dataclass(frozen=True)
class RunOptions:
    """Everything one nightly run needs, per stage. `smtp` is None for a dry run. `csv_bom`: the
    report's CSV starts with a UTF-8 byte order mark. `dns`: the optional domain-existence
    check of flagged certificates."""

    source: SourceOptions
    state: StateOptions
    window: WindowOptions
    replacement_window: timedelta
    smtp: SmtpSettings | None
    mail_from: str
    mail_to: tuple[str, ...]
    out: Path | None
    csv_bom: bool = False
    dns: DnsOptions = NO_DNS
    watch_lint_limit: int = 10_000  # certificates the issuance watch lints at most a night

    @property
    def dry_run(self) -> bool:
        return self.smtp is None


def smtp_options(settings: Settings, otherwise: str = " or use --no-mail") -> SmtpSettings:
    """The delivery stage's settings, or ConfigError naming every missing one and, after them,
    `otherwise`: what else the command offers (a dry run for `run`; nothing for `resend`)."""
    missing = smtp_problems(settings)
    if missing:
        raise ConfigError("mail is not configured; set " + ", ".join(missing) + otherwise)
    assert settings.smtp_host and settings.mail_from
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port_or_default(),
        security=settings.smtp_security,  # type: ignore[arg-type]
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout,
        ca_bundle=settings.smtp_ca_bundle,
        verify=settings.smtp_verify,
        mail_from=settings.mail_from,
        mail_to=settings.mail_to,
        attempts=settings.smtp_attempts,
        backoff_cap=settings.smtp_backoff_cap,
        backoff_base=min(2.0, settings.smtp_backoff_cap),
    )


def source_options(settings: Settings) -> SourceOptions:
    return SourceOptions(
        url=settings.ca_url() if settings.ca_db else None,
        profile=settings.profile,
        profile_options=ProfileOptions(
            validity_offset=settings.validity_offset, boulder_lookback=settings.boulder_lookback
        ),
    )


def state_options(settings: Settings) -> StateOptions:
    url = settings.state_url()
    if settings.ca_db and same_database(settings.ca_url(), url):
        # The CA database is read-only to the job, and its DBAs must not find revwatch tables.
        raise ConfigError(
            f"the ledger {redact_url(url)} is the CA database itself; give --state-db a "
            "database of the job's own"
        )
    return StateOptions(
        url=url,
        outbox=settings.outbox_dir(),
        metrics_file=settings.metrics_file,
        outbox_retention=settings.outbox_retention,
        ignore_ledger=settings.ignore_ledger,
    )


def same_database(a: URL, b: URL) -> bool:
    """Whether two URLs name one database: one SQLite file (however spelled), or one server's
    database (host, port and name)."""
    if a.get_backend_name() != b.get_backend_name():
        return False
    if a.get_backend_name() == "sqlite":
        if not a.database or not b.database:
            return False
        first, second = Path(a.database).expanduser(), Path(b.database).expanduser()
        if first.exists() and second.exists():
            return first.samefile(second)
        return first.resolve() == second.resolve()
    return (str(a.host or "").lower(), a.port, a.database) == (
        str(b.host or "").lower(), b.port, b.database,
    )  # fmt: skip


def resolve(settings: Settings) -> RunOptions:
    """The options of a nightly run; mail settings are checked first (unless `no_mail`)."""
    smtp = None if settings.no_mail else smtp_options(settings)
    if settings.ignore_ledger and smtp is not None:
        raise ConfigError("--ignore-ledger is for a dry run (--no-mail) alone")
    return RunOptions(
        source=source_options(settings),
        state=state_options(settings),
        window=WindowOptions(
            since=settings.since,
            until=settings.until,
            threshold=settings.threshold,
            overlap=settings.overlap if settings.overlap is not None else settings.threshold,
        ),
        replacement_window=settings.replacement_window,
        smtp=smtp,
        mail_from=smtp.mail_from if smtp else (settings.mail_from or DRY_RUN_FROM),
        mail_to=smtp.mail_to if smtp else (settings.mail_to or DRY_RUN_TO),
        out=settings.out,
        csv_bom=settings.csv_bom,
        dns=DnsOptions(enabled=settings.dns_check, resolver=settings.dns_resolver),
        watch_lint_limit=settings.watch_lint_limit,
    )
