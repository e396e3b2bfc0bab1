"""The report: one context object, rendered as HTML and text mail bodies, CSV and JSON.

Owns the ordering of cases in a report, the summary counts, the context the templates receive
(with the triage of `jobs.report.triage` and the CA's 30-day activity the source counted), the
Jinja2 environment and its filters (`jobs.report.filters`), and the CSV and JSON serialisations.
It must not read the CA database, enrich cases, send mail or touch state; its only I/O is reading
templates from `jobs.core.resources.templates_dir()`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from jobs.core import codes
from jobs.core.activity import Activity, last_day
from jobs.core.model import Case, Finding, LintDiff, NameChange
from jobs.core.watch import DomainCheck, WatchOutcome
from jobs.report import charts, csvfile, triage
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
    replacement_delay,
    show,
    text_or_none,
)
from jobs.report.issuances import watch_json
from jobs.report.triage import Triage

# The label enrichment gives a case whose replacement differs from it by a likely typo: the
# founding incident's pattern, so those cards come first.
SUSPICIOUS_LABEL = codes.LABEL_LIKELY_TYPO.name
# Cases shown in full in the mail bodies; a mass revocation night lists the rest in the CSV only,
# which keeps the mail readable and well under common 10 MB size limits.
FULL_CASES = 200
# A report built without the CA's activity (a test, a caller that did not read it) says so.
NOT_READ = Activity(trend_note="not read for this report", operator_note="not read for this report")
NO_CASES = Triage()
NO_WATCH, NO_DNS = WatchOutcome(), DomainCheck()


@dataclass(frozen=True)
class Summary:
    """Counts over the cases of one report; each breakdown is (name, count), largest first.

    `by_reason` uses the RFC 5280 reason name, `by_operator` the revocation's `revoked_by`
    ("unknown" when the CA did not record one), `by_issuer` the issuing CA's DN, `by_label` each
    label of each case (a case with two labels counts twice). `with_replacement` is how many cases
    have a replacement certificate. `by_domain` counts each case once per registrable domain of
    its names (Public Suffix List): a mass revocation's customers at a glance.
    """

    total: int
    by_reason: tuple[tuple[str, int], ...]
    by_operator: tuple[tuple[str, int], ...]
    by_issuer: tuple[tuple[str, int], ...]
    by_label: tuple[tuple[str, int], ...]
    with_replacement: int
    by_domain: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ReportContext:
    """Everything a report says; the one object every template receives, as `report`.

    generated_at: the run's `now` (UTC), when the report was made.
    source: a human label of the CA database, without credentials ("" when the caller gave none).
    run_id: the pipeline's identifier of this run, or None.
    since, until: the half-open window [since, until) of revocations examined (UTC).
    threshold_seconds: a revocation this soon after issuance (or sooner) is a case.
    already_reported: cases in the window that an earlier run reported; they are not repeated.
    cases: the cases, most suspicious first (labelled `likely-typo` first, then shortest time to
        revocation, unknown times last, then issuer and serial so the order is stable).
    summary: the counts over `cases`.
    shown: the first `FULL_CASES` of `cases`, shown in full in the mail bodies; on a mass
        revocation night the rest are in the CSV (and report.json), and the bodies say so.
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
    cases: tuple[Case, ...]
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
    json: str  # report.json


def case_order(case: Case) -> tuple[int, bool, bool, int, str, str]:
    """The sort key putting the most suspicious case first (see `ReportContext.cases`):
    error-level findings or labels (a typo in a registrable domain, a broken record) before
    warnings, then likely typos, then the shortest time to revocation."""
    seconds, (issuer, serial) = case.seconds_to_revocation, case.key
    return (
        triage.RANK[triage.case_severity(case)],
        SUSPICIOUS_LABEL not in case.labels,
        seconds is None,
        seconds or 0,
        issuer,
        serial,
    )


def _counts(values: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(values).items(), key=lambda item: (-item[1], item[0])))


def build_context(
    cases: Sequence[Case],
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
    """Order the cases, count and triage them; ValueError on a window or count that makes no
    sense. `activity` is the CA's 30-day trend and operators, when the caller read them; `watch`
    and `domains` the issuance watch's outcome and the DNS check's, when they ran."""
    if any(moment.tzinfo is None for moment in (since, until, now)):
        raise ValueError("report since, until and now must be timezone-aware")
    if until < since:
        raise ValueError(f"report window ends before it starts: {since} > {until}")
    if threshold_seconds < 0 or already_reported < 0:
        raise ValueError("report threshold and already_reported must not be negative")
    ordered = tuple(sorted(cases, key=case_order))
    summary = Summary(
        total=len(ordered),
        by_reason=_counts(c.revocation.reason for c in ordered),
        by_operator=_counts(text_or_none(c.revocation.revoked_by) or UNKNOWN for c in ordered),
        by_issuer=_counts(text_or_none(c.certificate.issuer) or UNKNOWN for c in ordered),
        by_label=_counts(label for c in ordered for label in c.labels),
        with_replacement=sum(1 for c in ordered if c.replacement is not None),
        by_domain=_counts(
            domain for c in ordered for domain in sorted({d or UNKNOWN for d in c.domains})
        ),
    )
    return ReportContext(
        generated_at=now.astimezone(UTC),
        source=source,
        run_id=run_id,
        since=since.astimezone(UTC),
        until=until.astimezone(UTC),
        threshold_seconds=threshold_seconds,
        already_reported=already_reported,
        cases=ordered,
        summary=summary,
        shown=ordered[:FULL_CASES],
        activity=activity if activity is not None else NOT_READ,
        triage=triage.triage(ordered),
        problems=tuple(problems),
        watch=watch if watch is not None else NO_WATCH,
        domains=domains if domains is not None else NO_DNS,
    )


# --- serialisations --------------------------------------------------------------------------


def case_json(case: Case) -> dict[str, Any]:
    """One case in report.json; beyond the contract, `replacement_delay_seconds` (revocation to
    the replacement's issuance) and `replacement.issuer`."""
    cert, rev, diff = case.certificate, case.revocation, case.diff
    replacement, repl = None, case.replacement
    if repl is not None:
        replacement = {
            "serial": format_serial(repl.serial),
            "sha256": repl.sha256,
            "names": list(repl.names),
            "issued_at": iso(repl.issuance_time),
            "subject": text_or_none(repl.subject),
            "issuer": repl.issuer,
        }
    return {
        "issuer": cert.issuer,
        "serial": format_serial(cert.serial),
        "sha256": cert.sha256,
        "names": list(cert.names),
        "subject": text_or_none(cert.subject),
        "subscriber": text_or_none(cert.subscriber),
        "issued_at": iso(cert.issuance_time),
        "revoked_at": iso(rev.revoked_at),
        "seconds_to_revocation": case.seconds_to_revocation,
        "reason": rev.reason,
        "reason_code": rev.reason_code,
        "revoked_by": text_or_none(rev.revoked_by),
        "comment": text_or_none(rev.comment),
        "replacement": replacement,
        "replacement_reason": text_or_none(case.replacement_reason),
        "replacement_delay_seconds": replacement_delay(case),
        "candidate_count": case.candidate_count,
        # {before, after, distance, edit: [{op, before, after}]}; json writes the tuples as lists.
        "name_changes": [_change_json(change) for change in (diff.name_changes if diff else ())],
        "names_added": list(diff.added) if diff else [],
        "names_removed": list(diff.removed) if diff else [],
        "key_reused": diff.key_reused if diff else None,
        "labels": list(case.labels),
        "cause": case.cause,
        "lint": _lint_json(case.lint),
        "worst_severity": triage.case_severity(case).value,
        "findings": [
            {"code": f.code, "severity": f.severity.value, "message": f.message}
            for f in case.all_findings
        ],
    }


def _lint_json(lint: LintDiff | None) -> dict[str, Any] | None:
    # The issue-13 contract: null when not linted (no DER, or not shown in full on a mass night).
    if lint is None:
        return None
    return {
        "linter": lint.linter,
        "revoked": [{"code": f.code, "severity": f.severity} for f in lint.revoked],
        "replacement": [{"code": f.code, "severity": f.severity} for f in lint.replacement],
        "fixed": list(lint.fixed),
        "introduced": list(lint.introduced),
    }


def _change_json(change: NameChange) -> dict[str, Any]:
    # By hand: dataclasses.asdict deep-copies recursively and cost seconds on a mass night.
    return {
        "before": change.before,
        "after": change.after,
        "distance": change.distance,
        "edit": [{"op": s.op, "before": s.before, "after": s.after} for s in change.edit],
    }


def to_json(context: ReportContext, rows: Sequence[dict[str, Any]] | None = None) -> str:
    """report.json: the contract in the README; `summary` holds `total`, `with_replacement`
    and the breakdowns `by_reason`, `by_operator`, `by_issuer`, `by_label`, `by_domain` as
    {name: count}. After `cases`: `need_review`, the `trend` (30 days, oldest first, ending
    with the window's last day), `operators` over the same days, and a note for each when they
    are missing or partial. `rows` are the cases' `case_json`, when the caller has them already.

    A large report writes one case per line: json's indenting encoder is pure Python, ten times
    slower than the compact one, and a mass revocation has a hundred thousand cases."""
    rows = [case_json(case) for case in context.cases] if rows is None else rows
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
        "cases": rows,
        **activity_json(context),
        **watch_json(context.watch, context.domains),
    }
    if len(rows) <= FULL_CASES:
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    head = json.dumps({**document, "cases": []}, indent=2, ensure_ascii=False)
    lines = ",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in rows)
    return head.replace('"cases": []', '"cases": [\n' + lines + "\n  ]") + "\n"


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


def to_csv(
    context: ReportContext, rows: Sequence[dict[str, Any]] | None = None, *, bom: bool = False
) -> str:
    """early-revocations.csv: one row per case, in report order (`jobs.report.csvfile`).

    Each row is read off the case's report.json object, so the two files cannot disagree."""
    rows = [case_json(case) for case in context.cases] if rows is None else rows
    return csvfile.write(rows, bom=bom)


def csv_row(case: Case) -> list[str]:
    """One case as a row of CSV_COLUMNS (the backfill streams these too)."""
    return csvfile.cells(case_json(case))


def subject_line(context: ReportContext) -> str:
    """The mail subject: how many need review, how many early revocations, the report's date."""
    return triage.subject_line(
        context.summary.total, context.triage, context.last_day, len(context.watch.suspicious)
    )


def render(context: ReportContext, *, csv_bom: bool = False) -> RenderedReport:
    """Render all four outputs; template errors (a typo, a missing field) raise. `csv_bom`: see
    `to_csv`."""
    rows = [case_json(case) for case in context.cases]
    return RenderedReport(
        subject=subject_line(context),
        csv=to_csv(context, rows, bom=csv_bom),
        json=to_json(context, rows),
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
