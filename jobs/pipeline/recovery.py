"""Stored messages after the nightly story: settling an accepted run, recovery, resend, pruning.

Owns what happens to a run's message once it is in the outbox: **the moment the mail server
accepts it, the acceptance is noted in the outbox and the staged run is settled as a success**; a
run the ledger still shows as `sending` (the process died, or the ledger write failed) is finished
by the next run before anything else: settled from its acceptance note without mailing it again,
or else its stored bytes (same Message-ID) are sent again and then settled; a staged run with no
stored message was never sent and is settled as failed, so its cases are examined again.
`revwatch resend` sends a stored message under the lock and records its cases (and suspicious
issuances) the same way, as a run of its own. Entries of this ledger's runs that the ledger has
settled are pruned once older than the retention. Other ledgers' entries in a shared outbox are
never touched.
It must not parse rows, render templates or speak SMTP itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from jobs.core.errors import ConfigError, OutputError, RevwatchError, StateError
from jobs.core.settings import Settings, utcnow
from jobs.deliver import outbox
from jobs.deliver import smtp as delivery
from jobs.pipeline.options import StateOptions, smtp_options, state_options
from jobs.state.ledger import SENDING, Ledger, RunRecord
from jobs.state.runlog import new_run_id, refused_text

log = logging.getLogger("revwatch.pipeline.recovery")

Sender = Callable[[EmailMessage, delivery.SmtpSettings], delivery.DeliveryResult]
RECOVERED = "recovered: interrupted after storing its message; re-sent by a later run"
NOTED = "recovered: accepted by the mail server before; recorded by a later run"


def settle_accepted(
    box: Path,
    ledger: Ledger,
    run_id: str,
    message_id: str,
    refused: dict[str, str],
    *,
    finished_at: datetime,
    note: str | None = None,
) -> None:
    """The server accepted run `run_id`'s message: note it in the outbox, then settle the run.

    The note comes first so that a ledger that fails now (read-only since the run staged, its
    connection lost) costs no second mail: the next run settles the run from the note."""
    try:
        outbox.note_accepted(box, run_id, refused)
        noted = True
    except OutputError as exc:
        log.error("%s", exc)
        noted = False
    try:
        settled = ledger.settle(
            run_id, "success", finished_at=finished_at, error=note, refused=refused_text(refused)
        )
    except StateError as exc:
        then = (
            "records it without mailing it again"
            if noted
            else "mails the same message again (same Message-ID), then records it"
        )
        raise StateError(
            f"the mail server accepted the report {message_id} but the ledger could not record "
            f"it: {exc}. The next run {then}."
        ) from None
    if not settled:
        log.error("run %s was not staged in the ledger; nothing settled", run_id)
    outbox.discard(box, run_id, (".accepted",))


def recover(
    state: StateOptions, ledger: Ledger, smtp: delivery.SmtpSettings, sender: Sender
) -> int:
    """Finish every run the ledger still shows as `sending` (see the module docstring); how many
    became a success (the watermark may have moved)."""
    pending = ledger.runs_in_progress()
    if not pending:
        return 0
    box = state.outbox
    own = outbox.stored(box, ledger.identity)
    by_run = {entry.run_id: entry for entry in own}
    by_message = {entry.message_id: entry for entry in own}
    finished = 0
    for run_id, message_id in pending:
        entry = by_run.get(run_id) or by_message.get(str(message_id))
        started = entry.started_at if entry else utcnow()
        refused, note = outbox.accepted(box, run_id), NOTED
        if refused is not None:
            log.warning(
                "run %s: the server accepted its report %s but the ledger did not record it; "
                "recording it now, without mailing it again", run_id, message_id,
            )  # fmt: skip
        elif entry is None:
            log.warning(
                "run %s was interrupted before its message was stored (never sent); its cases "
                "are examined again", run_id,
            )  # fmt: skip
            ledger.settle(run_id, "failed", finished_at=utcnow(), error="interrupted, never sent")
            continue
        else:
            log.warning(
                "run %s stored its report %s but was interrupted before recording it; "
                "sending the same message again before this run", run_id, entry.message_id,
            )  # fmt: skip
            refused, note = dict(sender(outbox.load(box, entry.run_id), smtp).refused), RECOVERED
        settle_accepted(
            box, ledger, run_id, str(message_id), refused,
            finished_at=max(started, utcnow()), note=note,
        )  # fmt: skip
        finished += 1
    return finished


def prune(state: StateOptions, ledger: Ledger, now: datetime) -> int:
    """Remove this ledger's outbox entries older than the retention whose runs the ledger has
    settled (success or failure); how many. Best effort: a failure is logged."""
    cutoff = now - state.outbox_retention
    try:
        old = [e for e in outbox.stored(state.outbox, ledger.identity) if e.started_at < cutoff]
        outcomes = ledger.run_outcomes(entry.run_id for entry in old) if old else {}
    except StateError as exc:
        log.warning("outbox not pruned: %s", exc)
        return 0
    done = [e.run_id for e in old if outcomes.get(e.run_id) in ("success", "failed")]
    for run_id in done:
        outbox.discard(state.outbox, run_id)
    return len(done)


def resend(
    settings: Settings,
    run_id: str,
    now: datetime,
    *,
    force: bool = False,
    sender: Sender = delivery.send,
) -> tuple[str, int, tuple[str, ...]]:
    """Send run `run_id`'s stored message again, under the lock, and record its cases.

    Returns (Message-ID, cases newly recorded, accepted recipients). The cases are staged as a
    run of its own (`<id>-resend`) before the mail and settled after it, like a night; a message
    whose cases a successful run already recorded is sent again only with `force` (the reviewers
    have it). A run still `sending` is finished under its own id, as the next night would."""
    smtp = smtp_options(settings, otherwise="")
    state = state_options(settings)
    envelope = outbox.envelope(state.outbox, run_id)
    ledger = Ledger.open(state.url)
    try:
        with ledger.lock():
            if envelope.ledger_id not in (None, ledger.identity):
                raise ConfigError(
                    f"run {run_id}'s message belongs to another ledger ({envelope.ledger_id}), "
                    f"not to {ledger.label}"
                )
            if ledger.run_outcomes([run_id]).get(run_id) == SENDING:
                result = sender(outbox.load(state.outbox, run_id), smtp)
                settle_accepted(
                    state.outbox, ledger, run_id, envelope.message_id, dict(result.refused),
                    finished_at=max(envelope.started_at, utcnow()), note=RECOVERED,
                )  # fmt: skip
                return envelope.message_id, len(envelope.cases), result.accepted
            recorded = ledger.recorded_message(envelope.message_id)
            if recorded and not force:
                raise ConfigError(
                    f"run {run_id}'s message {envelope.message_id} was already recorded as "
                    f"sent (by run {', '.join(recorded)}); use --force to send it again"
                )
            note = f"resend of run {run_id}" + (" (forced)" if recorded else "")
            already = ledger.reported((issuer, serial) for issuer, serial, _ in envelope.cases)
            cases = [c for c in envelope.cases if (c[0], c[1]) not in already]
            watched = ledger.reported_issuances((i, s) for i, s, _ in envelope.issuances)
            issuances = [i for i in envelope.issuances if (i[0], i[1]) not in watched]
            staged = RunRecord(
                run_id=f"{new_run_id(now)}-resend", started_at=envelope.started_at,
                finished_at=max(envelope.started_at, utcnow()), window_since=envelope.since,
                window_until=envelope.until, threshold_seconds=envelope.threshold_seconds,
                cases_found=len(envelope.cases), cases_new=len(cases), outcome=SENDING,
                error=note, message_id=envelope.message_id,
            )  # fmt: skip
            ledger.stage(staged, cases, issuances)
            try:
                result = sender(outbox.load(state.outbox, run_id), smtp)
            except RevwatchError as exc:
                ledger.record_failure(replace(staged, outcome="failed", error=f"{note}: {exc}"))
                raise
            settle_accepted(
                state.outbox, ledger, staged.run_id, envelope.message_id, dict(result.refused),
                finished_at=staged.finished_at, note=note,
            )  # fmt: skip
    finally:
        ledger.close()
    return envelope.message_id, len(cases), result.accepted
