"""A run's traces: its record in the ledger, its one summary log line and its metrics.

Owns what a run leaves behind for operators and auditors once it has succeeded or failed: the
`RunRecord` the ledger keeps, the structured summary line (text or JSON, see jobs.face.cli) and the
Prometheus textfile metrics. It must not decide the outcome, nor send or detect anything.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs.core.errors import StateError
from jobs.core.model import RunOutcome
from jobs.core.settings import utcnow
from jobs.state import metrics
from jobs.state.ledger import Ledger, RunRecord

log = logging.getLogger("revwatch.state.runlog")
run_log = logging.getLogger("revwatch.run")


def new_run_id(now: datetime) -> str:
    """Sortable and readable in the ledger: the start time plus a random suffix."""
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


@dataclass
class RunTrace:
    """The mutable bookkeeping of one run, so a failure can still be recorded and logged."""

    run_id: str
    now: datetime
    started: float
    since: datetime | None = None
    until: datetime | None = None
    threshold_seconds: int = 0
    found: int = 0
    new: int = 0
    source: str = ""
    # Set the moment the mail server accepted the run's message: a failure after that (the
    # ledger) must neither drop the run's staged cases nor be logged as "not mailed".
    mailed: bool = False
    message_id: str | None = None


def refused_text(refused: dict[str, str]) -> str | None:
    return "\n".join(f"{k}: {v}" for k, v in sorted(refused.items())) or None


def record(
    run: RunTrace, outcome_name: str, *, outcome: RunOutcome | None = None, error: str | None = None
) -> RunRecord:
    assert run.since is not None and run.until is not None
    refused = outcome.refused if outcome else {}
    return RunRecord(
        run_id=run.run_id,
        started_at=run.now,
        # Tests move `now`; a record must never finish before it started.
        finished_at=max(run.now, utcnow()),
        window_since=run.since,
        window_until=run.until,
        threshold_seconds=run.threshold_seconds,
        cases_found=run.found,
        cases_new=run.new,
        outcome=outcome_name,
        error=error,
        message_id=outcome.message_id if outcome else run.message_id,
        source=run.source,
        refused=refused_text(refused),
    )


def finish(
    metrics_file: Path | None,
    run: RunTrace,
    ledger: Ledger,
    outcome_name: str,
    *,
    outcome: RunOutcome | None = None,
    error: str | None = None,
) -> None:
    """Record a failed run, log the run's summary line and write the metrics (best effort).

    A run that failed after the server accepted its message stays staged (`sending`): the next
    run settles it from the outbox's acceptance note, or sends the same message again."""
    if outcome_name == "failed" and run.since is not None and not run.mailed:
        try:
            ledger.record_failure(record(run, "failed", error=error))
        except StateError as exc:
            log.error("could not record the failed run: %s", exc)
    log_summary(run, outcome_name, outcome=outcome, error=error)
    if metrics_file is not None:
        try:
            last_success = ledger.last_success()
        except StateError:
            last_success = None
        metrics.write(
            metrics_file,
            metrics.RunMetrics(
                finished_at=max(run.now, utcnow()),
                outcome=outcome_name,
                cases_found=run.found,
                cases_mailed=run.new if outcome_name == "success" else 0,
                duration_seconds=time.monotonic() - run.started,
                last_success=last_success,
            ),
        )


def summary(run_id: str, outcome_name: str, **fields: Any) -> dict[str, Any]:
    """The fields of a run's one summary log line (never a secret: no URLs with passwords)."""
    return {"event": "run", "run_id": run_id, "outcome": outcome_name, **fields}


def log_summary(
    run: RunTrace, outcome_name: str, *, outcome: RunOutcome | None = None, error: str | None = None
) -> None:
    fields = summary(
        run.run_id,
        outcome_name,
        since=run.since.isoformat() if run.since else None,
        until=run.until.isoformat() if run.until else None,
        found=run.found,
        new=run.new,
        already_reported=outcome.already_reported if outcome else None,
        mailed=run.mailed or bool(outcome and outcome.mailed),
        message_id=outcome.message_id if outcome else run.message_id,
        refused=sorted(outcome.refused) if outcome else [],
        record_problems=outcome.problems if outcome else None,
        duration_seconds=round(time.monotonic() - run.started, 3),
        source=run.source or None,
        error=error,
    )
    level = logging.ERROR if outcome_name == "failed" else logging.INFO
    run_log.log(level, "run %s %s", run.run_id, outcome_name, extra={"summary": fields})
