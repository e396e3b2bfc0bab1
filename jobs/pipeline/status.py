"""`revwatch status`: what the ledger says about the job, read-only, for operators and monitoring.

Owns the question "is the job alive, and what did it do": the latest runs (run ID, window, outcome,
counts, Message-ID, error, refused recipients) and when the last successful run finished, from
which a monitoring check learns whether it is older than an age. It opens the ledger read-only:
no file, directory, table or migration is created, and a ledger of any schema version will do
(the runs table is the first migration's). It needs neither the CA database nor the mail server,
nor their secrets. It must not write anything, nor decide exit codes (the face does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jobs.core.settings import Settings, redact_url
from jobs.pipeline.options import state_options
from jobs.state.ledger import Ledger


@dataclass(frozen=True)
class LedgerStatus:
    """The ledger's label; whether it exists; its latest runs, newest first, as the ledger keeps
    them (times are ISO 8601 UTC text); when its last successful run finished."""

    ledger: str
    exists: bool
    runs: list[dict[str, Any]]
    last_success: datetime | None

    def age(self, now: datetime) -> timedelta | None:
        """How long ago the last successful run finished; None when there was none."""
        return None if self.last_success is None else now - self.last_success

    def older_than(self, max_age: timedelta, now: datetime) -> bool:
        """True when the last success is older than `max_age`, or there never was one: for a
        monitoring check, a job that never succeeded is as dead as one that stopped."""
        age = self.age(now)
        return age is None or age > max_age


def ledger_status(settings: Settings, limit: int) -> LedgerStatus:
    """The ledger's latest `limit` runs and its last success, read-only (module docstring)."""
    state = state_options(settings)
    ledger = Ledger.open_read_only(state.url, require_current=False)
    if ledger is None:
        return LedgerStatus(redact_url(state.url), exists=False, runs=[], last_success=None)
    try:
        return LedgerStatus(
            ledger.label,
            exists=True,
            runs=ledger.recent_runs(limit),
            last_success=ledger.last_success(),
        )
    finally:
        ledger.close()
