"""The nightly run, in order: CA database -> detection -> enrichment -> report -> delivery -> state.

Owns the order of the stages and the invariant that spans them: **a case is marked reported only
after the mail server accepted the message carrying it; a run that fails records only its own
failed-run record, so the next run sees the same cases again.**

The window of a run without `since` starts an overlap (default: the threshold) before the end of
the last successful run's window (first run: now minus twice the threshold), so a skipped night is
caught up and a revocation that reached the database late, or was back-dated, is still found;
the ledger drops every case reported before, whatever window a run is given, so the overlap costs
nothing.

Each message is written to the outbox before it is sent. A run that died after storing its message
and before recording it (the one window where the server may have accepted a report the ledger
does not know) is finished by the next run first: the same bytes, the same Message-ID, then the
ledger; only then does the new night start. It must not parse rows, render templates or speak SMTP
itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from jobs.core.errors import ConfigError, RevwatchError, StateError
from jobs.core.model import Case, Certificate
from jobs.core.settings import Settings, smtp_problems, utcnow
from jobs.core.x509 import ParseCache
from jobs.db.engines import state_engine
from jobs.deliver import outbox
from jobs.deliver import smtp as delivery
from jobs.detect.detection import detect
from jobs.detect.records import certificate_from_row
from jobs.enrich.enrichment import enrich
from jobs.report import document as report
from jobs.report import outputs
from jobs.source.database import CaDatabase
from jobs.source.profiles.base import ProfileOptions
from jobs.state.ledger import Ledger, RunRecord
from jobs.state.runlog import (
    RunOutcome,
    RunTrace,
    finish,
    log_summary,
    new_run_id,
    record,
    refused_text,
)

log = logging.getLogger(__name__)

ENRICH_BATCH = 5_000
# Parsed certificates kept per run: a 100,000-case night parses about twice that, and each entry
# is a few kilobytes, so this bounds the cache near 0.5 GB at most while keeping hits high.
PARSE_CACHE_LIMIT = 150_000
Sender = Callable[[EmailMessage, delivery.SmtpSettings], delivery.DeliveryResult]


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


def open_ca(settings: Settings) -> CaDatabase:
    """The CA database through the configured profile and its options."""
    options = ProfileOptions(
        # EJBCA's offset is signed (notBefore = issuance + offset); users give how far back.
        validity_offset=-settings.validity_offset,
        lookback=settings.boulder_lookback,
    )
    return CaDatabase(settings.ca_url(), settings.profile, options=options)


def candidates_for(
    ca: CaDatabase, cases: list[Case], settings: Settings, cache: ParseCache | None = None
) -> list[Certificate]:
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
    for row in ca.replacement_candidates(wanted):
        label = f"candidate certificate (issuer {row.get('issuer_dn')}, serial {row.get('serial')})"
        certificate, findings = certificate_from_row(row, label, cache=cache, parse=False)
        for finding in findings:
            log.warning("%s", finding.message)
        certificates.append(certificate)
    return certificates


def enrich_cases(
    ca: CaDatabase, cases: list[Case], settings: Settings, cache: ParseCache | None = None
) -> list[Case]:
    """Replacement, diff and labels for `cases`: candidates and declared replacements from the
    CA database (one query per batch of subscribers), then the pure enrichment.

    Cases go ENRICH_BATCH at a time, so a mass revocation holds one batch's candidates (DER
    included) in memory, not every candidate of the night."""
    enriched: list[Case] = []
    for start in range(0, len(cases), ENRICH_BATCH):
        batch = cases[start : start + ENRICH_BATCH]
        enriched += enrich(
            batch,
            candidates_for(ca, batch, settings, cache),
            replacement_window=settings.replacement_window,
            declared=ca.declared_replacements([case.key for case in batch]),
            cache=cache,
        )
    return enriched


def window(
    settings: Settings, watermark: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The run's half-open revocation-time window (see the module docstring)."""
    until = settings.until or now
    if until > now:
        raise ConfigError(f"--until {until.isoformat()} is in the future")
    since = settings.since
    if since is None:
        if watermark is None:
            since = until - 2 * settings.threshold
        else:
            since = min(watermark, until) - settings.lookback()
    if since >= until:
        raise ConfigError(f"empty window [{since.isoformat()}, {until.isoformat()})")
    return since, until


def _open_ledger(settings: Settings) -> Ledger | None:
    url = settings.state_url()
    if not settings.no_mail:
        return Ledger.open(url)
    # A dry run changes no state: no ledger file created, no migration applied. It reads the
    # ledger as it is, and one that does not exist yet has reported nothing.
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
        return None
    ledger = Ledger(state_engine(url), url)
    try:
        ledger.watermark()
    except StateError:
        ledger.close()
        return None
    return ledger


def run_once(
    settings: Settings,
    now: datetime,
    *,
    sender: Sender = delivery.send,
    ca: CaDatabase | None = None,
) -> RunOutcome:
    """One run of the job at `now` (aware UTC). Raises a RevwatchError subclass on failure."""
    run = RunTrace(
        run_id=new_run_id(now),
        now=now,
        started=time.monotonic(),
        threshold_seconds=int(settings.threshold.total_seconds()),
    )
    smtp = None if settings.no_mail else smtp_settings(settings)
    ledger = _open_ledger(settings)
    try:
        if ledger is None or settings.no_mail:
            return _run(settings, run, smtp, ledger, sender, ca)
        with ledger.lock():
            try:
                outcome = _run(settings, run, smtp, ledger, sender, ca)
            except RevwatchError as exc:
                finish(settings, run, ledger, "failed", error=str(exc))
                raise
            finish(settings, run, ledger, "success", outcome=outcome)
            return outcome
    finally:
        if ledger is not None:
            ledger.close()


def _run(
    settings: Settings,
    run: RunTrace,
    smtp: delivery.SmtpSettings | None,
    ledger: Ledger | None,
    sender: Sender,
    ca: CaDatabase | None,
) -> RunOutcome:
    since, until = window(settings, ledger.watermark() if ledger else None, run.now)
    # Set before recovery, so that a failed recovery still leaves this run's failed record.
    run.since, run.until = since, until
    if smtp is not None and ledger is not None and _recover(settings, ledger, smtp, sender):
        since, until = window(settings, ledger.watermark(), run.now)
        run.since, run.until = since, until
    own_ca = ca is None
    ca = ca if ca is not None else open_ca(settings)
    run.source = ca.label
    try:
        rows = ca.early_revocations(since, until, settings.threshold)
        # One parse of each DER per run, shared by detection, matching and the diff.
        cache = ParseCache(limit=PARSE_CACHE_LIMIT)
        detection = detect(
            rows, since=since, until=until, threshold=settings.threshold, cache=cache
        )
        del rows  # a mass night's rows, DER included: let them go before enrichment
        for problem in detection.problems:
            log.warning("%s", problem.message)
        already = ledger.reported(c.key for c in detection.cases) if ledger else {}
        fresh = [case for case in detection.cases if case.key not in already]
        run.found, run.new = len(detection.cases), len(fresh)
        cases = enrich_cases(ca, fresh, settings, cache)
        del cache, fresh  # the parsed certificates are not needed to render
    finally:
        if own_ca:
            ca.close()
    context = report.build_context(
        cases,
        since=since,
        until=until,
        threshold_seconds=run.threshold_seconds,
        now=run.now,
        already_reported=len(already),
        source=run.source,
        run_id=run.run_id,
    )
    rendered = report.render(context)
    attachment, attachment_name, complete = outputs.attachment(rendered.csv)
    kept = None
    if complete is not None and smtp is not None:
        kept = settings.outbox_dir() / f"{run.run_id}.early-revocations.csv.gz"
        outputs.keep(kept, complete)
    if complete is not None:
        where = f"at {kept} on the revwatch host" if kept else "in the run's output directory"
        note = (
            f"The attached CSV lists all {len(cases)} cases but leaves out the SHA-256 "
            f"fingerprints, to keep this mail under 10 MB; the complete CSV is kept {where}."
        )
        context = replace(context, attachment_note=note)
        rendered = replace(rendered, **report.render_bodies(context))
    mail_from = smtp.mail_from if smtp else (settings.mail_from or "revwatch@localhost")
    mail_to = smtp.mail_to if smtp else (settings.mail_to or ("compliance@localhost",))
    # `Revwatch <revwatch@ca.example>` is a valid From: take the domain of the address inside.
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    message_id = delivery.message_id_for(
        [case.key for case in cases], window_until=until, domain=domain
    )
    message = delivery.build_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        csv=attachment,
        csv_filename=attachment_name,
        mail_from=mail_from,
        mail_to=mail_to,
        message_id=message_id,
        date=run.now,
    )
    outcome = RunOutcome(
        run_id=run.run_id,
        since=since,
        until=until,
        cases_found=run.found,
        cases_new=run.new,
        already_reported=len(already),
        mailed=False,
        message_id=message_id,
        outputs=outputs.write(settings.out, rendered, message) if settings.out else {},
        problems=len(detection.problems),
    )
    if smtp is None or ledger is None:
        log_summary(run, "dry-run", outcome=outcome)
        return outcome
    reported = [(c.key[0], c.key[1], c.revocation.revoked_at) for c in cases]
    envelope = outbox.Envelope(
        run_id=run.run_id,
        started_at=run.now,
        since=since,
        until=until,
        threshold_seconds=run.threshold_seconds,
        message_id=message_id,
        cases=tuple(reported),
    )
    outbox.store(settings.outbox_dir(), envelope, message)
    result = sender(message, smtp)
    for recipient, reply in result.refused.items():
        log.warning("recipient %s refused the report: %s", recipient, reply)
    outcome = replace(outcome, mailed=True, refused=dict(result.refused))
    try:
        ledger.record_success(record(run, "success", outcome=outcome), reported)
    except StateError as exc:
        raise StateError(
            f"the mail server accepted the report {message_id} but the ledger could not be "
            f"written: {exc}. The next run will mail these {len(cases)} case(s) again, "
            "with the same Message-ID."
        ) from None
    return outcome


def _recover(
    settings: Settings, ledger: Ledger, smtp: delivery.SmtpSettings, sender: Sender
) -> int:
    """Send and record every stored message whose run never reached the ledger; how many."""
    box = settings.outbox_dir()
    stored = outbox.stored_runs(box)
    known = ledger.known_runs(stored) if stored else set()
    pending = [r for r in stored if r not in known]
    for run_id in pending:
        envelope = outbox.envelope(box, run_id)
        message = outbox.load(box, run_id)
        log.warning(
            "run %s stored its report %s but was interrupted before recording it; "
            "sending the same message again before this run",
            run_id,
            envelope.message_id,
        )
        result = sender(message, smtp)
        already = ledger.reported((issuer, serial) for issuer, serial, _ in envelope.cases)
        cases = [c for c in envelope.cases if (c[0], c[1]) not in already]
        ledger.record_success(
            RunRecord(
                run_id=run_id,
                started_at=envelope.started_at,
                finished_at=max(envelope.started_at, utcnow()),
                window_since=envelope.since,
                window_until=envelope.until,
                threshold_seconds=envelope.threshold_seconds,
                cases_found=len(envelope.cases),
                cases_new=len(cases),
                outcome="success",
                error="recovered: interrupted after storing its message; re-sent by a later run",
                message_id=envelope.message_id,
                refused=refused_text(result.refused),
            ),
            cases,
        )
    return len(pending)
