"""The report: one context object, rendered as HTML and text mail bodies, CSV and JSON.

Owns the context the templates receive (the counts, triage, rows and cases shown in full that
`jobs.report.collector` keeps of the cases, the CA's 30-day activity the source counted), the
Jinja2 environment and its filters (`jobs.report.filters`), and the CSV and JSON files made of
the collected rows. A report of cases in hand and a night streamed in batches go through the same
collector, so the two cannot differ. It must not read the CA database, enrich cases, send mail or
touch state; its only I/O is reading templates from `jobs.core.resources.templates_dir()` (and
the collector's spool of rows).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from jobs.core.activity import Activity, last_day
from jobs.core.model import Case, Finding
from jobs.core.watch import DomainCheck, WatchOutcome
from jobs.report import charts, csvfile, triage
from jobs.report.collector import (
    FULL_CASES,
    CaseRows,
    Collected,
    Summary,
    case_json,
    case_order,
    collect,
)
from jobs.report.csvfile import CSV_COLUMNS, UTF8_BOM, without_columns
from jobs.report.filters import (
    MISSING,
    UNKNOWN,
    crtsh_url,
    edit_steps,
    edit_text,
    environment,
    format_duration,
    format_serial,
    format_utc,
    iso,
    show,
)
from jobs.report.issuances import watch_json
from jobs.report.triage import Triage

# A report built without the CA's activity (a test, a caller that did not read it) says so.
NOT_READ = Activity(trend_note="not read for this report", operator_note="not read for this report")
NO_CASES = Triage()
NO_WATCH, NO_DNS = WatchOutcome(), DomainCheck()


@dataclass(frozen=True)
class ReportContext:
    """Everything a report says; the one object every template receives, as `report`.

    generated_at: the run's `now` (UTC), when the report was made.
    source: a human label of the CA database, without credentials ("" when the caller gave none).
    run_id: the pipeline's identifier of this run, or None.
    since, until: the half-open window [since, until) of revocations examined (UTC).
    threshold_seconds: a revocation this soon after issuance (or sooner) is a case.
    already_reported: cases in the window that an earlier run reported; they are not repeated.
    rows: every case's CSV line and report.json object, as text, most suspicious first
        (`case_order`: error-level first, then likely typos, then the shortest time to revocation,
        unknown times last, then issuer and serial so the order is stable).
    summary: the counts over the cases; `summary.total` is how many there are.
    shown: the first cases in that order (at most `FULL_CASES`), shown in full in the mail bodies;
        on a mass revocation night the rest are in the CSV (and report.json), and the bodies say so.
    attachment_note: what the mailed CSV leaves out, when it had to (None: it is complete).
    activity: the CA's revocations per day over the 30 days ending with the window's last day,
        and per operator (`jobs.core.activity`); empty, with a note, when they were not read.
    triage: how many cases need review and why, and the cases per severity.
    problems: the run's record problems that belong to no case (a revocation time that cannot be
        read), each naming its record: the report lists them after the summary.
    watch, domains: the issuance watch's outcome (its suspicious issuances most severe first) and
        the optional domain-existence check's (`jobs.core.watch`); empty when they did not run.
    """

    generated_at: datetime
    source: str
    run_id: str | None
    since: datetime
    until: datetime
    threshold_seconds: int
    already_reported: int
    rows: CaseRows
    summary: Summary
    shown: tuple[Case, ...] = ()
    attachment_note: str | None = None
    activity: Activity = NOT_READ
    triage: Triage = NO_CASES
    problems: tuple[Finding, ...] = ()
    watch: WatchOutcome = NO_WATCH
    domains: DomainCheck = NO_DNS

    @property
    def last_day(self) -> date:
        """The UTC day of the window's last instant: the report's date."""
        return last_day(self.until)

    @property
    def trend(self) -> charts.Trend:
        """The 30-day chart: bars and totals."""
        return charts.trend(self.activity.days)


@dataclass(frozen=True)
class RenderedReport:
    """The four renderings of one report, plus the mail subject."""

    subject: str  # mail subject, e.g. "[revwatch] 2 need review, 8 early revocations, 2026-11-27"
    html: str  # report.html: the HTML mail body
    text: str  # report.txt: the plain-text mail body
    csv: str  # early-revocations.csv
    context: ReportContext = field(repr=False, compare=False)  # what report.json is made of

    @cached_property
    def json(self) -> bytes:
        """report.json, UTF-8, made on first use and then kept: only a run with `--out` writes
        it, and a mass night's is hundreds of MB (304 MB for 100,000 cases and 32,666 suspicious
        issuances, a third of that night's peak memory when it was made for every run)."""
        return to_json(self.context)


def build_context(
    cases: Iterable[Case] | Collected,
    *,
    since: datetime,
    until: datetime,
    threshold_seconds: int,
    now: datetime,
    already_reported: int = 0,
    source: str = "",
    run_id: str | None = None,
    activity: Activity | None = None,
    problems: Sequence[Finding] = (),
    watch: WatchOutcome | None = None,
    domains: DomainCheck | None = None,
) -> ReportContext:
    """The context of a report of `cases` (given all at once, or as a `Collector` gathered them
    batch by batch): ordered, counted, triaged; ValueError on a window or count that makes no
    sense. `activity` is the CA's 30-day trend and operators, when the caller read them; `watch`
    and `domains` the issuance watch's outcome and the DNS check's, when they ran."""
    if any(moment.tzinfo is None for moment in (since, until, now)):
        raise ValueError("report since, until and now must be timezone-aware")
    if until < since:
        raise ValueError(f"report window ends before it starts: {since} > {until}")
    if threshold_seconds < 0 or already_reported < 0:
        raise ValueError("report threshold and already_reported must not be negative")
    collected = cases if isinstance(cases, Collected) else collect(cases)
    return ReportContext(
        generated_at=now.astimezone(UTC),
        source=source,
        run_id=run_id,
        since=since.astimezone(UTC),
        until=until.astimezone(UTC),
        threshold_seconds=threshold_seconds,
        already_reported=already_reported,
        rows=collected.rows,
        summary=collected.summary,
        shown=collected.shown,
        activity=activity if activity is not None else NOT_READ,
        triage=collected.triage,
        problems=tuple(problems),
        watch=watch if watch is not None else NO_WATCH,
        domains=domains if domains is not None else NO_DNS,
    )


# --- serialisations --------------------------------------------------------------------------


def to_json(context: ReportContext) -> bytes:
    """report.json: the contract in the README; `summary` holds `total`, `with_replacement`
    and the breakdowns `by_reason`, `by_operator`, `by_issuer`, `by_label`, `by_domain` as
    {name: count}. After `cases`: `need_review`, the `trend` (30 days, oldest first, ending
    with the window's last day), `operators` over the same days, and a note for each when they
    are missing or partial. As UTF-8 bytes, the file's content.

    A report that shows every case in full is indented throughout; a larger one writes one case
    per line (its row as collected): json's indenting encoder is pure Python, ten times slower
    than the compact one, and a mass revocation has a hundred thousand cases."""
    rows = context.rows
    small = len(rows) <= len(context.shown)
    document = {
        "generated_at": iso(context.generated_at),
        "source": context.source,
        "run_id": context.run_id,
        "window": {"since": iso(context.since), "until": iso(context.until)},
        "threshold_seconds": context.threshold_seconds,
        "already_reported": context.already_reported,
        # Record problems that belong to no case: {code, severity, message, record}.
        "problems": [
            {"code": p.code, "severity": p.severity.value, "message": p.message, "record": p.record}
            for p in context.problems
        ],
        "summary": {
            k: dict(v) if isinstance(v, tuple) else v for k, v in asdict(context.summary).items()
        },
        "cases": [json.loads(line) for line in rows.json_lines()] if small else [],
        **activity_json(context),
        **watch_json(context.watch, context.domains),
    }
    if small:
        return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    # Written piece by piece from the rows' UTF-8: a join, or a str then encoded, would hold
    # every line twice over.
    out = io.BytesIO()
    head = json.dumps(document, indent=2, ensure_ascii=False).split('"cases": []')
    for index, part in enumerate(head):
        if index:
            out.write(b'"cases": [\n')
            for number, line in enumerate(rows.json_lines()):
                out.write(b",\n    " if number else b"    ")
                out.write(line)
            out.write(b"\n  ]")
        out.write(part.encode("utf-8"))
    out.write(b"\n")
    return out.getvalue()


def activity_json(context: ReportContext) -> dict[str, Any]:
    """The verdict and the CA's 30-day activity, as report.json states them."""
    activity = context.activity
    return {
        "need_review": context.triage.need_review,
        "trend": [
            {
                "day": day.day.isoformat(),
                "early_revocations": day.early_revocations,
                "revocations": day.revocations,
            }
            for day in activity.days
        ],
        "trend_note": activity.trend_note,
        "operators": [
            {
                "operator": row.operator,
                "revocations": row.revocations,
                "early_revocations": row.early_revocations,
            }
            for row in activity.operators
        ],
        "operators_note": activity.operator_note,
    }


def to_csv(context: ReportContext, *, bom: bool = False) -> str:
    """early-revocations.csv: one row per case, in report order (`jobs.report.csvfile`).

    Each row was read off the case's report.json object, so the two files cannot disagree."""
    out = io.StringIO()
    out.write(csvfile.header(bom=bom))
    for line in context.rows.csv_lines():
        out.write(line)
    return out.getvalue()


def csv_row(case: Case) -> list[str]:
    """One case as a row of CSV_COLUMNS (the backfill streams these too)."""
    return csvfile.cells(case_json(case))


def subject_line(context: ReportContext) -> str:
    """The mail subject: how many need review, how many early revocations, the report's date."""
    return triage.subject_line(
        context.summary.total, context.triage, context.last_day, len(context.watch.suspicious)
    )


def render(context: ReportContext, *, csv_bom: bool = False) -> RenderedReport:
    """Render all four outputs (report.json when first read: `RenderedReport.json`); template
    errors (a typo, a missing field) raise. `csv_bom`: see `to_csv`."""
    return RenderedReport(
        subject=subject_line(context),
        csv=to_csv(context, bom=csv_bom),
        context=context,
        **render_bodies(context),
    )


def render_bodies(context: ReportContext) -> dict[str, str]:
    """The two mail bodies alone: `html` and `text`."""
    env = environment()
    return {
        "html": env.get_template("report.html").render(report=context),
        "text": env.get_template("report.txt").render(report=context),
    }


__all__ = [
    "CSV_COLUMNS", "FULL_CASES", "MISSING", "UNKNOWN", "UTF8_BOM", "RenderedReport",
    "ReportContext", "Summary", "activity_json", "build_context", "case_json", "case_order",
    "crtsh_url", "csv_row", "edit_steps", "edit_text", "environment", "format_duration",
    "format_serial", "format_utc", "iso", "render", "render_bodies", "show", "subject_line",
    "to_csv", "to_json", "without_columns",
]  # fmt: skip
