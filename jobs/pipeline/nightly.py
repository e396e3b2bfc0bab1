"""The nightly run, in order: CA database -> detection -> enrichment -> report -> delivery -> state.

Owns the order of the stages and the invariant that spans them: **a case is marked reported only
after the mail server accepted the message carrying it; a run that fails records only its own
failed-run record, so the next run sees the same cases again.**

The window of a run without `since` starts an overlap (default: the threshold) before the end of
the last successful run's window (first run: now minus twice the threshold), so a skipped night is
caught up and a revocation that reached the database late, or was back-dated, is still found;
the ledger drops every case reported before, whatever window a run is given, so the overlap costs
nothing.

Before its message goes out, a run proves the ledger can record it: it stages its record and its
cases (outcome `sending`) in the ledger, then stores the message in the outbox; a ledger that is
read-only, full, behind or unreachable fails the run there (exit 6) with nothing mailed. After the
server accepted, the run is settled as a success (`jobs.pipeline.recovery.settle_accepted`). A run
left `sending` (the process died, or the ledger failed after the server accepted) is finished by
the next run first, from the outbox; only then does the new night start. A dry run reads the
ledger read-only and fails when it cannot (unless told to ignore it). The issuance watch
(`jobs.pipeline.watch`) runs after the cases, in the same story: its suspicious issuances are
staged, mailed and settled with the cases, so each is mailed once. It must not parse rows,
render templates or speak SMTP itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage

from jobs.core.activity import Activity
from jobs.core.errors import ConfigError, RevwatchError, StateError
from jobs.core.model import Case, Finding, RunOutcome
from jobs.core.settings import Settings, utcnow
from jobs.core.watch import DomainCheck, WatchOutcome
from jobs.core.x509 import ParseCache
from jobs.deliver import files, outbox
from jobs.deliver import smtp as delivery
from jobs.deliver.message import build_message, message_id_for
from jobs.enrich.lint import shared_linter
from jobs.pipeline import recovery
from jobs.pipeline.options import RunOptions, WindowOptions, resolve
from jobs.pipeline.steps import (
    detect_window,
    enrich_cases,
    open_ca,
    read_activity,
    sender_domain,
)
from jobs.pipeline.watch import check_domains, run_watch, watch_since
from jobs.report import document as report
from jobs.report import outputs
from jobs.source.database import CaDatabase
from jobs.state.ledger import SENDING, Ledger
from jobs.state.runlog import RunTrace, finish, log_summary, new_run_id, record

log = logging.getLogger("revwatch.pipeline.nightly")

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
    # ledger as it is, and one that does not exist yet has reported nothing; one it cannot read
    # fails the dry run (exit 6), since "new" would be a guess, unless told to do without it.
    if options.state.ignore_ledger:
        log.warning("dry run without the ledger (--ignore-ledger): every case counts as new")
        return None
    return Ledger.open_read_only(options.state.url)


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
    options: RunOptions,
    run: RunTrace,
    ledger: Ledger | None,
    ca: CaDatabase | None,
    watch_from: datetime,
) -> tuple[list[Case], int, tuple[Finding, ...], Activity, WatchOutcome]:
    """The window's new cases, enriched; how many were already reported; the run-level record
    problems (records that belong to no case), for the report; the CA's 30-day activity, read in
    the same read-only session as the cases; the issuance watch of [watch_from, until)."""
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
        activity = read_activity(ca, run.until, options.window.threshold)
        reported = ledger.reported_issuances if ledger else None
        watched = run_watch(ca, watch_from, run.until, reported=reported, linter=shared_linter())
    finally:
        if own_ca:
            ca.close()
    return cases, len(already), detection.problems, activity, watched


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
    if (
        smtp is not None
        and ledger is not None
        and recovery.recover(options.state, ledger, smtp, sender)
    ):
        run.since, run.until = window(options.window, ledger.watermark(), run.now)
    since, until = run.since, run.until
    start = watch_since(since, until, options.window.since, ledger.watermark() if ledger else None)
    cases, already, problems, activity, watched = _examine(options, run, ledger, ca, start)
    cases, suspicious, domains = check_domains(options.dns, cases, watched.suspicious)
    watched = replace(watched, suspicious=tuple(suspicious))
    message, rendered = _compose(
        options, run, cases, already, problems, activity, watched=watched, domains=domains
    )
    run.message_id = str(message["Message-ID"])
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
        problems=len(problems),
        suspicious=len(watched.suspicious),
    )
    if smtp is None or ledger is None:
        log_summary(run, "dry-run", outcome=outcome)
        return outcome
    reported = [(c.key[0], c.key[1], c.revocation.revoked_at) for c in cases]
    flagged = [(*i.key, i.certificate.issuance_time) for i in watched.suspicious]
    # Everything the ledger's write needs (writable, schema current, keys fit, room on disk) is
    # proven here, before the mail: the run and its cases are written, as `sending`.
    try:
        ledger.stage(record(run, SENDING, outcome=outcome), reported, flagged)
    except StateError as exc:
        raise StateError(f"nothing was mailed: the ledger cannot record this run: {exc}") from None
    envelope = outbox.Envelope(
        run_id=run.run_id,
        started_at=run.now,
        since=since,
        until=until,
        threshold_seconds=run.threshold_seconds,
        message_id=outcome.message_id,
        cases=tuple(reported),
        ledger_id=ledger.identity,
        issuances=tuple(flagged),
    )
    outbox.store(options.state.outbox, envelope, message)
    result = sender(message, smtp)
    run.mailed = True
    for recipient, reply in result.refused.items():
        log.warning("recipient %s refused the report: %s", recipient, reply)
    outcome = replace(outcome, mailed=True, refused=dict(result.refused))
    recovery.settle_accepted(
        options.state.outbox, ledger, run.run_id, outcome.message_id, outcome.refused,
        finished_at=max(run.now, utcnow()),
    )  # fmt: skip
    recovery.prune(options.state, ledger, run.now)
    return outcome


def _compose(
    options: RunOptions,
    run: RunTrace,
    cases: list[Case],
    already: int,
    problems: tuple[Finding, ...] = (),
    activity: Activity | None = None,
    *,
    watched: WatchOutcome | None = None,
    domains: DomainCheck | None = None,
) -> tuple[EmailMessage, report.RenderedReport]:
    """The report of `cases` rendered, and the message carrying it: from revwatch by name, the
    CSV attached under the report's date."""
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
        problems=problems,
        activity=activity,
        watch=watched,
        domains=domains,
    )
    rendered = report.render(context, csv_bom=options.csv_bom)
    attachment, attachment_name, complete = outputs.attachment(rendered.csv, context.last_day)
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
        issuance_keys=[issuance.key for issuance in context.watch.suspicious],
    )
    message = build_message(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        csv=attachment,
        csv_filename=attachment_name,
        mail_from=outputs.sender(options.mail_from),
        mail_to=options.mail_to,
        message_id=message_id,
        date=run.now,
    )
    return message, rendered
