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
ledger; only then does the new night start. `resend` goes the same way: under the lock, the stored
bytes, then the ledger, so the next night does not mail those cases again. It must not parse rows,
render templates or speak SMTP itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from jobs.core.errors import ConfigError, RevwatchError, StateError
from jobs.core.model import Case, RunOutcome
from jobs.core.settings import Settings, redact_url, utcnow
from jobs.core.x509 import ParseCache
from jobs.deliver import files, outbox
from jobs.deliver import smtp as delivery
from jobs.deliver.message import build_message, message_id_for
from jobs.pipeline.options import RunOptions, WindowOptions, resolve, smtp_options, state_options
from jobs.pipeline.steps import detect_window, enrich_cases, open_ca, sender_domain
from jobs.report import document as report
from jobs.report import outputs
from jobs.source.database import CaDatabase
from jobs.state.ledger import Ledger, RunRecord
from jobs.state.runlog import RunTrace, finish, log_summary, new_run_id, record, refused_text

log = logging.getLogger(__name__)

# Parsed certificates kept per run: a 100,000-case night parses about twice that, and each entry
# is a few kilobytes, so this bounds the cache near 0.5 GB at most while keeping hits high.
PARSE_CACHE_LIMIT = 150_000
Sender = Callable[[EmailMessage, delivery.SmtpSettings], delivery.DeliveryResult]


def window(
    options: WindowOptions, watermark: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The run's half-open revocation-time window (see the module docstring)."""
    until = options.until or now
    if until > now:
        raise ConfigError(f"--until {until.isoformat()} is in the future")
    since = options.since
    if since is None:
        if watermark is None:
            since = until - 2 * options.threshold
        else:
            # Back-dated and late-replicated revocations land behind the watermark; the ledger
            # makes re-reading them free.
            since = min(watermark, until) - options.overlap
    if since >= until:
        raise ConfigError(f"empty window [{since.isoformat()}, {until.isoformat()})")
    return since, until


def _open_ledger(options: RunOptions) -> Ledger | None:
    if not options.dry_run:
        return Ledger.open(options.state.url)
    # A dry run changes no state: no ledger file created, no migration applied. It reads the
    # ledger as it is, and one that does not exist yet has reported nothing.
    ledger = Ledger.open_read_only(options.state.url)
    if ledger is None:
        return None
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
    options = resolve(settings)
    run = RunTrace(
        run_id=new_run_id(now),
        now=now,
        started=time.monotonic(),
        threshold_seconds=int(options.window.threshold.total_seconds()),
    )
    ledger = _open_ledger(options)
    try:
        if ledger is None or options.dry_run:
            return _run(options, run, ledger, sender, ca)
        with ledger.lock():
            metrics_file = options.state.metrics_file
            try:
                outcome = _run(options, run, ledger, sender, ca)
            except RevwatchError as exc:
                finish(metrics_file, run, ledger, "failed", error=str(exc))
                raise
            finish(metrics_file, run, ledger, "success", outcome=outcome)
            return outcome
    finally:
        if ledger is not None:
            ledger.close()


def _examine(
    options: RunOptions, run: RunTrace, ledger: Ledger | None, ca: CaDatabase | None
) -> tuple[list[Case], int, int]:
    """The window's new cases, enriched; how many were already reported; record problems."""
    assert run.since is not None and run.until is not None
    own_ca = ca is None
    ca = ca if ca is not None else open_ca(options.source)
    run.source = ca.label
    try:
        # One parse of each DER per run, shared by detection, matching and the diff.
        cache = ParseCache(limit=PARSE_CACHE_LIMIT)
        detection = detect_window(ca, run.since, run.until, options.window.threshold, cache)
        already = ledger.reported(c.key for c in detection.cases) if ledger else {}
        fresh = [case for case in detection.cases if case.key not in already]
        run.found, run.new = len(detection.cases), len(fresh)
        cases = enrich_cases(ca, fresh, options.replacement_window, cache)
        del cache, fresh  # the parsed certificates are not needed to render
    finally:
        if own_ca:
            ca.close()
    return cases, len(already), len(detection.problems)


def _run(
    options: RunOptions,
    run: RunTrace,
    ledger: Ledger | None,
    sender: Sender,
    ca: CaDatabase | None,
) -> RunOutcome:
    run.since, run.until = window(options.window, ledger.watermark() if ledger else None, run.now)
    # The window is set before recovery, so that a failed recovery still leaves a failed record.
    smtp = options.smtp
    if smtp is not None and ledger is not None and _recover(options, ledger, smtp, sender):
        run.since, run.until = window(options.window, ledger.watermark(), run.now)
    since, until = run.since, run.until
    cases, already, problems = _examine(options, run, ledger, ca)
    message, rendered = _compose(options, run, cases, already)
    outcome = RunOutcome(
        run_id=run.run_id,
        since=since,
        until=until,
        cases_found=run.found,
        cases_new=run.new,
        already_reported=already,
        mailed=False,
        message_id=str(message["Message-ID"]),
        outputs=files.write(options.out, outputs.files(rendered, message)) if options.out else {},
        problems=problems,
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
        message_id=outcome.message_id,
        cases=tuple(reported),
    )
    outbox.store(options.state.outbox, envelope, message)
    result = sender(message, smtp)
    for recipient, reply in result.refused.items():
        log.warning("recipient %s refused the report: %s", recipient, reply)
    outcome = replace(outcome, mailed=True, refused=dict(result.refused))
    try:
        ledger.record_success(record(run, "success", outcome=outcome), reported)
    except StateError as exc:
        raise StateError(
            f"the mail server accepted the report {outcome.message_id} but the ledger could not "
            f"be written: {exc}. The next run will mail these {len(cases)} case(s) again, "
            "with the same Message-ID."
        ) from None
    return outcome


def _compose(
    options: RunOptions, run: RunTrace, cases: list[Case], already: int
) -> tuple[EmailMessage, report.RenderedReport]:
    """The report of `cases` rendered, and the message carrying it."""
    assert run.since is not None and run.until is not None
    context = report.build_context(
        cases,
        since=run.since,
        until=run.until,
        threshold_seconds=run.threshold_seconds,
        now=run.now,
        already_reported=already,
        source=run.source,
        run_id=run.run_id,
    )
    rendered = report.render(context)
    attachment, attachment_name, complete = outputs.attachment(rendered.csv)
    if complete is not None:
        kept = None
        if not options.dry_run:
            kept = options.state.outbox / f"{run.run_id}.early-revocations.csv.gz"
            files.keep(kept, complete)
        where = f"at {kept} on the revwatch host" if kept else "in the run's output directory"
        note = (
            f"The attached CSV lists all {len(cases)} cases but leaves out the SHA-256 "
            f"fingerprints, to keep this mail under 10 MB; the complete CSV is kept {where}."
        )
        context = replace(context, attachment_note=note)
        rendered = replace(rendered, **report.render_bodies(context))
    message_id = message_id_for(
        [case.key for case in cases],
        window_until=run.until,
        domain=sender_domain(options.mail_from),
    )
    message = build_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        csv=attachment,
        csv_filename=attachment_name,
        mail_from=options.mail_from,
        mail_to=options.mail_to,
        message_id=message_id,
        date=run.now,
    )
    return message, rendered


def _send_stored(
    ledger: Ledger,
    box: Path,
    run_id: str,
    smtp: delivery.SmtpSettings,
    sender: Sender,
    *,
    record_as: str,
    note: str,
) -> tuple[str, int, delivery.DeliveryResult]:
    """Send a stored message again (same bytes, same Message-ID) and record its cases.

    Recorded under `record_as` as a successful run: its window moves the watermark as the
    original run's would have, and its cases are never mailed again by a later night."""
    envelope = outbox.envelope(box, run_id)
    message = outbox.load(box, run_id)
    result = sender(message, smtp)
    for recipient, reply in result.refused.items():
        log.warning("recipient %s refused the report: %s", recipient, reply)
    already = ledger.reported((issuer, serial) for issuer, serial, _ in envelope.cases)
    cases = [c for c in envelope.cases if (c[0], c[1]) not in already]
    ledger.record_success(
        RunRecord(
            run_id=record_as,
            started_at=envelope.started_at,
            finished_at=max(envelope.started_at, utcnow()),
            window_since=envelope.since,
            window_until=envelope.until,
            threshold_seconds=envelope.threshold_seconds,
            cases_found=len(envelope.cases),
            cases_new=len(cases),
            outcome="success",
            error=note,
            message_id=envelope.message_id,
            refused=refused_text(result.refused),
        ),
        cases,
    )
    return envelope.message_id, len(cases), result


def _recover(
    options: RunOptions, ledger: Ledger, smtp: delivery.SmtpSettings, sender: Sender
) -> int:
    """Send and record every stored message whose run never reached the ledger; how many."""
    box = options.state.outbox
    stored = outbox.stored_runs(box)
    known = ledger.known_runs(stored) if stored else set()
    pending = [r for r in stored if r not in known]
    for run_id in pending:
        log.warning(
            "run %s stored its report %s but was interrupted before recording it; "
            "sending the same message again before this run",
            run_id,
            outbox.envelope(box, run_id).message_id,
        )
        _send_stored(
            ledger, box, run_id, smtp, sender, record_as=run_id,
            note="recovered: interrupted after storing its message; re-sent by a later run",
        )  # fmt: skip
    return len(pending)


def resend(
    settings: Settings,
    run_id: str,
    now: datetime,
    *,
    force: bool = False,
    sender: Sender = delivery.send,
) -> tuple[str, int, tuple[str, ...]]:
    """Send run `run_id`'s stored message again, under the lock, and record its cases.

    Returns (Message-ID, cases newly recorded, accepted recipients). A message whose cases a
    successful run already recorded is sent again only with `force` (the reviewers have it)."""
    smtp = smtp_options(settings)
    state = state_options(settings)
    envelope = outbox.envelope(state.outbox, run_id)
    ledger = Ledger.open(state.url)
    try:
        with ledger.lock():
            recorded = ledger.recorded_message(envelope.message_id)
            if recorded and not force:
                raise ConfigError(
                    f"run {run_id}'s message {envelope.message_id} was already recorded as "
                    f"sent (by run {', '.join(recorded)}); use --force to send it again"
                )
            message_id, new, result = _send_stored(
                ledger, state.outbox, run_id, smtp, sender,
                record_as=f"{new_run_id(now)}-resend",
                note=f"resend of run {run_id}" + (" (forced)" if recorded else ""),
            )  # fmt: skip
    finally:
        ledger.close()
    return message_id, new, result.accepted


def status(settings: Settings, limit: int) -> tuple[str, list[dict[str, object]] | None]:
    """The ledger's label and its latest runs, read-only; None when no ledger exists there."""
    state = state_options(settings)
    ledger = Ledger.open_read_only(state.url)
    if ledger is None:
        return redact_url(state.url), None
    try:
        return ledger.label, ledger.recent_runs(limit)
    finally:
        ledger.close()
