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
(`jobs.pipeline.watch`) runs after the cases (before them when the domain check is on: it asks
about the watch's issuances first and marks the cases as they stream), in the same story: its
suspicious issuances are staged, mailed and settled with the cases, so each is mailed once.

The cases stream: detection groups the window's records, then ENRICH_BATCH cases at a time are
judged, enriched and handed to the report's collector (`jobs.report.collector`), which keeps
their counts, keys and serialised rows and only the few hundred most severe whole; so a mass
revocation night runs in bounded memory, and its report is the one a single batch would make.
It must not parse rows, render templates or speak SMTP itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from jobs.core.activity import Activity
from jobs.core.errors import ConfigError, RevwatchError, StateError
from jobs.core.model import Finding, RunOutcome
from jobs.core.settings import Settings, utcnow
from jobs.core.watch import DomainCheck, WatchOutcome
from jobs.deliver import files, outbox
from jobs.deliver import smtp as delivery
from jobs.deliver.message import build_message, message_id_for
from jobs.pipeline import recovery
from jobs.pipeline.options import RunOptions, WindowOptions, resolve
from jobs.pipeline.steps import (
    check_case_domains,
    enriched_batches,
    lint_shown,
    open_ca,
    pending_window,
    read_activity,
    sender_domain,
)
from jobs.pipeline.watch import run_watch, watch_since
from jobs.report import document as report
from jobs.report import outputs
from jobs.report.collector import Collected, Collector
from jobs.source.database import CaDatabase
from jobs.state.ledger import SENDING, Ledger
from jobs.state.runlog import RunTrace, finish, log_summary, new_run_id, record

if TYPE_CHECKING:
    from jobs.enrich.lint import Linter

log = logging.getLogger("revwatch.pipeline.nightly")

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


@dataclass(frozen=True)
class _Examined:
    """What a run found: the new cases as collected for the report, how many were reported
    before, the run-level record problems (records that belong to no case), the CA's 30-day
    activity, the issuance watch's outcome and the domain check's."""

    cases: Collected
    already: int
    problems: tuple[Finding, ...]
    activity: Activity
    watched: WatchOutcome
    domains: DomainCheck


def _examine(
    options: RunOptions,
    run: RunTrace,
    ledger: Ledger | None,
    ca: CaDatabase | None,
    watch_from: datetime,
) -> _Examined:
    """The window's new cases, enriched batch by batch into the report's collector, and the
    issuance watch of [watch_from, until), all through one read-only CA database."""
    assert run.since is not None and run.until is not None
    own_ca = ca is None
    ca = ca if ca is not None else open_ca(options.source)
    run.source = ca.label
    reported, until = (ledger.reported_issuances if ledger else None), run.until

    def watch() -> WatchOutcome:
        return run_watch(
            ca, watch_from, until, reported=reported, linter=_shared_linter,
            lint_limit=options.watch_lint_limit,
        )  # fmt: skip

    try:
        watched = watch() if options.dns.enabled else None
        started = time.monotonic()
        pending = pending_window(ca, run.since, run.until, options.window.threshold)
        already = ledger.reported(pending.keys()) if ledger else {}
        suspicious, domains, mark = check_case_domains(
            options.dns, pending, already, watched.suspicious if watched else ()
        )
        detected = time.monotonic()
        collector = Collector(lint=lint_shown, mark=mark)
        for batch in enriched_batches(ca, pending, options.replacement_window, already):
            run.found += batch.found
            run.new += len(batch.cases)
            collector.add(batch.cases)
            del batch  # the collector keeps what it needs of it
        enriched = time.monotonic()
        collected = collector.finish()
        linted = time.monotonic()
        _give_back_memory()
        activity = read_activity(ca, run.until, options.window.threshold)
        # After the cases, as a night without the domain check always had it.
        watched = watch() if watched is None else replace(watched, suspicious=tuple(suspicious))
    finally:
        if own_ca:
            ca.close()
    log.debug(
        "cases: %d found, %d new; detection %.2f s, enrichment %.2f s, lint and rows %.2f s%s",
        run.found, run.new, detected - started, enriched - detected, linted - enriched,
        " (rows spilled to a temporary file)" if collected.rows.spilled else "",
    )  # fmt: skip
    return _Examined(collected, run.found - run.new, pending.problems, activity, watched, domains)


def _shared_linter() -> Linter:
    # Imported here: pkilint's module (and its process pool's) loads only on a night with
    # issuances to lint; `run_watch` asks for the linter then.
    from jobs.enrich.lint import shared_linter

    return shared_linter()


def _give_back_memory() -> None:
    # The detection's rows (about 4.6 KB a case with its DER: 460 MB on a 100,000-case night)
    # are freed once streamed, but glibc keeps their pages, scattered, and report.json's buffer
    # (hundreds of MB in one block) cannot reuse them: hand them back to the system first. Where
    # the C library is not glibc, nothing happens.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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
    examined = _examine(options, run, ledger, ca, start)
    composing = time.monotonic()
    message, rendered = _compose(options, run, examined)
    log.debug("report rendered in %.2f s", time.monotonic() - composing)
    already, watched = examined.already, examined.watched
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
        problems=len(examined.problems),
        suspicious=len(watched.suspicious),
    )
    if smtp is None or ledger is None:
        log_summary(run, "dry-run", outcome=outcome)
        return outcome
    reported = list(examined.cases.keys)
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
    options: RunOptions, run: RunTrace, examined: _Examined
) -> tuple[EmailMessage, report.RenderedReport]:
    """The report of the examined cases rendered, and the message carrying it: from revwatch by
    name, the CSV attached under the report's date."""
    assert run.since is not None and run.until is not None
    context = report.build_context(
        examined.cases,
        since=run.since,
        until=run.until,
        threshold_seconds=run.threshold_seconds,
        now=run.now,
        already_reported=examined.already,
        source=run.source,
        run_id=run.run_id,
        problems=examined.problems,
        activity=examined.activity,
        watch=examined.watched,
        domains=examined.domains,
    )
    rendered = report.render(context, csv_bom=options.csv_bom)
    attachment, attachment_name, complete = outputs.attachment(rendered.csv, context.last_day)
    message_id = message_id_for(
        [(issuer, serial) for issuer, serial, _ in examined.cases.keys],
        window_until=run.until,
        domain=sender_domain(options.mail_from),
        issuance_keys=[issuance.key for issuance in context.watch.suspicious],
    )

    def mail(bodies: report.RenderedReport) -> EmailMessage:
        return build_message(
            subject=bodies.subject,
            text=bodies.text,
            html=bodies.html,
            csv=attachment,
            csv_filename=attachment_name,
            mail_from=outputs.sender(options.mail_from),
            mail_to=options.mail_to,
            message_id=message_id,
            date=run.now,
        )

    if complete is None:
        return mail(rendered), rendered
    kept = None
    if not options.dry_run:
        kept = options.state.outbox / f"{run.run_id}.early-revocations.csv.gz"
        files.keep(kept, complete)
    where = f"at {kept} on the revwatch host" if kept else "in the run's output directory"
    shown = len(context.shown)
    while True:
        note = _trimmed_note(context.summary.total, where, shown, len(context.shown))
        fewer = replace(context, attachment_note=note, shown=context.shown[:shown])
        bodies = report.render_bodies(fewer)
        rendered = replace(rendered, html=bodies["html"], text=bodies["text"])
        message = mail(rendered)
        # Measured, not estimated: the bodies' transfer encoding depends on their characters.
        if shown <= outputs.FEWEST_SHOWN or len(message.as_bytes()) <= outputs.MESSAGE_BUDGET:
            return message, rendered
        # The cases in full are what is left to give up: every case stays a row of the CSV.
        shown = max(outputs.FEWEST_SHOWN, shown // 2)


def _trimmed_note(total: int, where: str, shown: int, collected: int) -> str:
    """The bodies' note on a night whose attached CSV leaves out the fingerprints, and, when the
    message had to shrink, shows fewer than the `collected` most severe cases in full."""
    fewer = ""
    if shown < collected:
        fewer = f"and this mail shows the {shown} most severe cases in full, "
    return (
        f"The attached CSV lists all {total} cases but leaves out the SHA-256 fingerprints, {fewer}"
        f"to keep {'it' if fewer else 'this mail'} under 10 MB; the complete CSV is kept {where}."
    )
