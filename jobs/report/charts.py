"""The 30-day trend as numbers a template draws: bar heights in pixels, text bars in characters.

Owns the scale of the trend chart (the busiest day fills the chart; a day with revocations never
draws as nothing), the totals the chart's caption states, and the per-operator share. The HTML
chart is table cells with inline heights, so that it survives blocked images and stripped
`<style>`; the text part draws the same numbers as a column of characters. Pure: it must not
emit markup (templates do) nor read the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from jobs.core.activity import DayCount, OperatorCount

CHART_PX = 72
TEXT_BAR = 40
EARLY_MARK, OTHER_MARK = "*", "#"


@dataclass(frozen=True)
class Bar:
    """One day of the chart: its counts and the pixel heights of its two stacked segments."""

    day: date
    revocations: int
    early_revocations: int
    early_px: int
    other_px: int


@dataclass(frozen=True)
class Trend:
    """The chart of a report: its bars and the totals its caption states."""

    bars: tuple[Bar, ...]
    revocations: int
    early_revocations: int
    busiest: DayCount | None  # the day with the most early revocations (None: there were none)

    @property
    def share(self) -> str:
        return share(self.early_revocations, self.revocations)


def _px(count: int, peak: int, height: int) -> int:
    # At least one pixel for any revocation: a day with one must not look like a day with none.
    return 0 if count <= 0 else max(1, round(height * count / peak))


def trend(days: Sequence[DayCount], height: int = CHART_PX) -> Trend:
    """The chart of `days`, scaled so that the day with the most revocations is `height` px."""
    peak = max((d.revocations for d in days), default=0) or 1
    bars = []
    for d in days:
        early = min(d.early_revocations, d.revocations)
        total_px = _px(d.revocations, peak, height)
        early_px = min(_px(early, peak, height), total_px)
        bars.append(Bar(d.day, d.revocations, d.early_revocations, early_px, total_px - early_px))
    busiest = max(days, key=lambda d: (d.early_revocations, d.day), default=None)
    return Trend(
        bars=tuple(bars),
        revocations=sum(d.revocations for d in days),
        early_revocations=sum(d.early_revocations for d in days),
        busiest=busiest if busiest is not None and busiest.early_revocations else None,
    )


def text_bar(bar: Bar, peak: int, width: int = TEXT_BAR) -> str:
    """A day as characters: `*` per early share, `#` for the rest, the busiest day `width` long."""
    if bar.revocations <= 0:
        return ""
    total = max(1, round(width * bar.revocations / max(peak, 1)))
    early = min(total, math.ceil(width * bar.early_revocations / max(peak, 1)))
    return EARLY_MARK * early + OTHER_MARK * (total - early)


def share(part: int, whole: int) -> str:
    """`part` of `whole` as a percentage in words: "25%", "0.4%", "—" when there is no whole."""
    if whole <= 0:
        return "—"
    value = 100 * part / whole
    return f"{value:.1f}%" if 0 < value < 10 else f"{value:.0f}%"


def operator_share(row: OperatorCount) -> str:
    """The share of an operator's revocations that were early."""
    return share(row.early_revocations, row.revocations)
