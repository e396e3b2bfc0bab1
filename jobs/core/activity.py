"""The CA's revocation activity around a run: the 30-day trend and who revoked.

Owns the records the source hands the report about the CA as a whole rather than about one case:
revocations and early revocations per UTC day for the 30 days that end with the window's last day,
and per revoking operator over the same days, plus the span those days cover. The counts are made
in the CA database (grouped counts); this module only names the days and fills the ones without a
revocation with zeros. It must not query, decide what a case is, or format anything for a reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

TREND_DAYS = 30
K = TypeVar("K")


@dataclass(frozen=True)
class DayCount:
    """One UTC day: every revocation, and those the nightly rule calls early."""

    day: date
    revocations: int
    early_revocations: int


@dataclass(frozen=True)
class OperatorCount:
    """One revoking operator over the trend's days; `operator` None: not recorded."""

    operator: str | None
    revocations: int
    early_revocations: int


@dataclass(frozen=True)
class Activity:
    """What the CA database says about revocations around the run.

    `days` are exactly TREND_DAYS consecutive days ending with the window's last day, or empty
    when the trend could not be read (`trend_note` then says why). `operators` are largest first;
    `operator_note` says why they are missing or partial (a schema that does not record who
    revoked, an audit log that is off), None when they are complete.
    """

    days: tuple[DayCount, ...] = ()
    operators: tuple[OperatorCount, ...] = ()
    trend_note: str | None = None
    operator_note: str | None = None


def last_day(until: datetime) -> date:
    """The UTC day of the window's last instant: a window ending at midnight ends the day before."""
    if until.tzinfo is None:
        raise ValueError("until must be timezone-aware")
    return (until.astimezone(UTC) - timedelta(microseconds=1)).date()


def span(until: datetime, days: int = TREND_DAYS) -> tuple[datetime, datetime]:
    """The half-open time range [first day 00:00 UTC, until) that the trend counts."""
    first = last_day(until) - timedelta(days=days - 1)
    return datetime.combine(first, time(0), tzinfo=UTC), until.astimezone(UTC)


def fill_days(
    counts: Mapping[date, tuple[int, int]], until: datetime, days: int = TREND_DAYS
) -> tuple[DayCount, ...]:
    """Every day of the span in order; `counts` maps a day to (revocations, early revocations)."""
    end = last_day(until)
    out = []
    for back in range(days - 1, -1, -1):
        day = end - timedelta(days=back)
        revocations, early = counts.get(day, (0, 0))
        out.append(DayCount(day, int(revocations), int(early)))
    return tuple(out)


def add_count(counts: dict[K, tuple[int, int]], key: K, total: Any, early: Any) -> None:
    """Add (revocations, early revocations) to `counts[key]`; SQL's NULL sum counts as 0."""
    before = counts.get(key, (0, 0))
    counts[key] = (before[0] + int(total or 0), before[1] + int(early or 0))


def ranked(operators: Mapping[str | None, tuple[int, int]]) -> tuple[OperatorCount, ...]:
    """Operators from {operator: (revocations, early)}: most early revocations first, then the
    most revocations, then by name, the unrecorded operator last among equals."""
    rows = [OperatorCount(name, total, early) for name, (total, early) in operators.items()]
    return tuple(
        sorted(
            rows,
            key=lambda r: (
                -r.early_revocations,
                -r.revocations,
                r.operator is None,
                r.operator or "",
            ),
        )
    )


def as_day(value: object) -> date | None:
    """A grouped day as a driver returns it: a date, a datetime or ISO text; None if unreadable."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
