"""The nightly run, in order: CA database -> detection -> enrichment -> report -> delivery -> state.

Owns the order of the stages and the one invariant that spans them: **a case is marked reported
only after the mail server accepted the message carrying it; a run that fails records only its
failed-run record, so the next run sees the same cases again.** The window of a run without
`since` starts where the last successful run's window ended (first run: now minus twice the
threshold), so a skipped night is caught up; a case reported before is never mailed again,
whatever window a run is given. It must not parse rows, render templates or speak SMTP itself.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from jobs import delivery, report
from jobs.config import Settings, smtp_problems, utcnow
from jobs.detect import detect
from jobs.enrich import enrich
from jobs.errors import ConfigError, RevwatchError, StateError
from jobs.model import Case, Certificate
from jobs.records import certificate_from_row
from jobs.source import CaDatabase, records
from jobs.state import Ledger, RunRecord

log = logging.getLogger(__name__)

OUTPUT_FILES = ("report.html", "report.txt", "early-revocations.csv", "report.json", "message.eml")
Sender = Callable[[EmailMessage, delivery.SmtpSettings], delivery.DeliveryResult]


@dataclass(frozen=True)
class RunOutcome:
    """What one run did; the CLI prints it and the scheduler logs it."""

    run_id: str
    since: datetime
    until: datetime
    cases_found: int
    cases_new: int
    already_reported: int
    mailed: bool
    message_id: str
    outputs: dict[str, Path] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    problems: int = 0


def new_run_id(now: datetime) -> str:
    """Sortable and readable in the ledger: the start time plus a random suffix."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def smtp_settings(settings: Settings) -> delivery.SmtpSettings:
    """The delivery stage's settings, or ConfigError naming every missing one."""
    missing = smtp_problems(settings)
    if missing:
        raise ConfigError("mail is not configured; set " + ", ".join(missing) + " or use --no-mail")
    assert settings.smtp_host and settings.mail_from
    return delivery.SmtpSettings(
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


def _candidates(ca: CaDatabase, cases: list[Case], settings: Settings) -> list[Certificate]:
    """Replacement candidates of every case with a subscriber, fetched in batches."""
    wanted = []
    for case in cases:
        subscriber = case.certificate.subscriber
        if subscriber is None:
            continue
        start = case.certificate.issuance_time or case.revocation.revoked_at
        wanted.append((subscriber, start, case.revocation.revoked_at + settings.replacement_window))
    if not wanted:
        return []
    certificates = []
    for row in records(ca.replacement_candidates(wanted)):
        label = f"candidate certificate (issuer {row.get('issuer_dn')}, serial {row.get('serial')})"
        certificate, findings = certificate_from_row(row, label)
        for finding in findings:
            log.warning("%s", finding.message)
        certificates.append(certificate)
    return certificates


def _window(settings: Settings, ledger: Ledger | None, now: datetime) -> tuple[datetime, datetime]:
    until = settings.until or now
    if until > now:
        raise ConfigError(f"--until {until.isoformat()} is in the future")
    since = settings.since
    if since is None:
        watermark = ledger.watermark() if ledger else None
        since = watermark if watermark is not None else until - 2 * settings.threshold
    if since >= until:
        raise ConfigError(f"empty window [{since.isoformat()}, {until.isoformat()})")
    return since, until


def _write_outputs(
    out: Path, rendered: report.RenderedReport, message: EmailMessage
) -> dict[str, Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        contents: dict[str, str | bytes] = {
            "report.html": rendered.html,
            "report.txt": rendered.text,
            "early-revocations.csv": rendered.csv,
            "report.json": rendered.json,
            "message.eml": message.as_bytes(),
        }
        written = {}
        for name, content in contents.items():
            path = out / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            written[name] = path
        return written
    except OSError as exc:
        raise ConfigError(f"cannot write the outputs to {out}: {exc.strerror}") from None


def _open_ledger(settings: Settings) -> Ledger | None:
    url = settings.state_url()
    # A dry run changes no state, not even by creating an empty ledger file.
    if (
        settings.no_mail
        and url.get_backend_name() == "sqlite"
        and (not url.database or not Path(url.database).exists())
    ):
        return None
    return Ledger.open(url)


def run_once(
    settings: Settings,
    now: datetime,
    *,
    sender: Sender = delivery.send,
    ca: CaDatabase | None = None,
) -> RunOutcome:
    """One run of the job at `now` (aware UTC). Raises a RevwatchError subclass on failure."""
    run_id = new_run_id(now)
    smtp = None if settings.no_mail else smtp_settings(settings)
    ledger = _open_ledger(settings)
    try:
        if ledger is None or settings.no_mail:
            return _run(settings, now, run_id, smtp, ledger, sender, ca)
        with ledger.lock():
            return _run(settings, now, run_id, smtp, ledger, sender, ca)
    finally:
        if ledger is not None:
            ledger.close()


def _run(
    settings: Settings,
    now: datetime,
    run_id: str,
    smtp: delivery.SmtpSettings | None,
    ledger: Ledger | None,
    sender: Sender,
    ca: CaDatabase | None,
) -> RunOutcome:
    since, until = _window(settings, ledger, now)
    threshold_seconds = int(settings.threshold.total_seconds())
    own_ca = ca is None
    ca = ca if ca is not None else CaDatabase(settings.ca_url(), settings.profile)
    found = new = 0
    try:
        frame = ca.early_revocations(since, until, settings.threshold)
        detection = detect(frame, since=since, until=until, threshold=settings.threshold)
        for problem in detection.problems:
            log.warning("%s", problem.message)
        found = len(detection.cases)
        already = ledger.reported(c.key for c in detection.cases) if ledger else {}
        fresh = [case for case in detection.cases if case.key not in already]
        new = len(fresh)
        cases = enrich(
            fresh, _candidates(ca, fresh, settings), replacement_window=settings.replacement_window
        )
        context = report.build_context(
            cases,
            since=since,
            until=until,
            threshold_seconds=threshold_seconds,
            now=now,
            already_reported=len(already),
            source=ca.label,
            run_id=run_id,
        )
        rendered = report.render(context)
        mail_from = smtp.mail_from if smtp else (settings.mail_from or "revwatch@localhost")
        mail_to = smtp.mail_to if smtp else (settings.mail_to or ("compliance@localhost",))
        domain = mail_from.rpartition("@")[2] or "localhost"
        message_id = delivery.message_id_for(
            [case.key for case in cases], window_until=until, domain=domain
        )
        message = delivery.build_message(
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            csv=rendered.csv,
            mail_from=mail_from,
            mail_to=mail_to,
            message_id=message_id,
            date=now,
        )
        outputs = _write_outputs(settings.out, rendered, message) if settings.out else {}
        outcome = RunOutcome(
            run_id=run_id,
            since=since,
            until=until,
            cases_found=found,
            cases_new=new,
            already_reported=len(already),
            mailed=False,
            message_id=message_id,
            outputs=outputs,
            problems=len(detection.problems),
        )
        if smtp is None or ledger is None:
            return outcome
        result = sender(message, smtp)
        for recipient, reply in result.refused.items():
            log.warning("recipient %s refused the report: %s", recipient, reply)
    except RevwatchError as exc:
        if ledger is not None and not settings.no_mail:
            record = _record(run_id, now, since, until, threshold_seconds, found, new, ca.label)
            try:
                ledger.record_failure(replace(record, outcome="failed", error=str(exc)))
            except StateError as state_exc:
                log.error("could not record the failed run: %s", state_exc)
        raise
    finally:
        if own_ca:
            ca.close()
    record = _record(run_id, now, since, until, threshold_seconds, found, new, ca.label)
    try:
        ledger.record_success(replace(record, message_id=message_id), cases)
    except StateError as exc:
        raise StateError(
            f"the mail server accepted the report ({message_id}) but the ledger could not be "
            f"written: {exc}. The next run will mail these {len(cases)} case(s) again."
        ) from None
    return replace(outcome, mailed=True, refused=dict(result.refused))


def _record(
    run_id: str,
    now: datetime,
    since: datetime,
    until: datetime,
    threshold_seconds: int,
    found: int,
    new: int,
    source: str,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        started_at=now,
        finished_at=max(now, utcnow()),
        window_since=since,
        window_until=until,
        threshold_seconds=threshold_seconds,
        cases_found=found,
        cases_new=new,
        outcome="success",
        source=source,
    )
