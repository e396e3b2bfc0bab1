"""The backfill's evidence beside its CSV: the summary, the ledger's marking and the mail.

Owns the counts a backfill keeps (per month of revocation, reason, operator, issuing CA, label and
registrable domain), the summary made of them (`backfill-summary.{json,html,txt}`, written
together, 0600) and what may follow a finished backfill: recording its cases in the nightly
ledger (`--mark-reported`) and mailing the summary with the CSV (`--mail`). The summary lists
**every calendar month of the examined range, zeros included**: "no case in March" is evidence an
auditor asks for, and a month missing from the list would not say it. It must not read the CA
database; the examination and its checkpoint are `jobs.pipeline.backfill`'s.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobs.core.atomic import write_together
from jobs.core.errors import ConfigError, OutputError
from jobs.core.model import Case
from jobs.core.settings import Settings
from jobs.deliver import smtp as delivery
from jobs.deliver.message import build_message, message_id_for
from jobs.pipeline.options import smtp_options, state_options
from jobs.pipeline.steps import sender_domain
from jobs.report import document as report
from jobs.state.ledger import Ledger, RunRecord

GROUPS = ("month", "reason", "operator", "issuer", "label", "domain")
# What a backfill without mail settings may do instead of mailing.
MAIL_OTHERWISE = " or leave out --mail"
SUMMARY_JSON, SUMMARY_HTML, SUMMARY_TEXT = (
    f"backfill-summary.{suffix}" for suffix in ("json", "html", "txt")
)


@dataclass(frozen=True)
class BackfillResult:
    """Where the evidence is and how much of it there is."""

    cases: int
    chunks: int
    resumed_from: datetime | None
    csv: Path
    summary_json: Path
    summary_html: Path
    workers: int = 1


def count(counts: dict[str, dict[str, int]], cases: list[Case]) -> None:
    """Add `cases` to the per-group counts (a case counts once per label and domain it has)."""
    for case in cases:
        revoked = case.revocation.revoked_at
        keys = {
            "month": [f"{revoked:%Y-%m}"],
            "reason": [case.revocation.reason],
            "operator": [case.revocation.revoked_by or "unknown"],
            "issuer": [case.revocation.issuer],
            "label": list(case.labels) or ["(none)"],
            "domain": sorted(d for d in case.domains if d) or ["(none)"],
        }
        for group, values in keys.items():
            counter = counts.setdefault(group, {})
            for value in values:
                counter[value] = counter.get(value, 0) + 1


def merge(counts: dict[str, dict[str, int]], chunk: dict[str, dict[str, int]]) -> None:
    """Add one chunk's counts (made by `count`, perhaps in a worker process) to `counts`; values
    keep the order in which they were first seen, as counting every case here would give."""
    for group, values in chunk.items():
        counter = counts.setdefault(group, {})
        for value, number in values.items():
            counter[value] = counter.get(value, 0) + number


def months(since: datetime, until: datetime) -> list[str]:
    """Every calendar month (`YYYY-MM`, UTC) that [since, until) touches, oldest first."""
    found = []
    start = since.astimezone(UTC)
    year, month = start.year, start.month
    while datetime(year, month, 1, tzinfo=UTC) < until:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def summary_document(
    counts: dict[str, dict[str, int]],
    *,
    window: tuple[str, str],
    examined_until: str,
    source: str,
    threshold_seconds: int,
    cases: int,
    now: datetime,
    complete: bool,
) -> dict[str, Any]:
    """The backfill's summary as report-ready data (also written as backfill-summary.json):
    months oldest first, every examined month listed; other groups by count, then name."""
    examined = months(datetime.fromisoformat(window[0]), datetime.fromisoformat(examined_until))
    by_month = {month: 0 for month in examined} | counts.get("month", {})
    ordered = {
        group: dict(sorted(values.items(), key=lambda item: (-item[1], item[0])))
        for group, values in counts.items()
        if group != "month"
    }
    return {
        "generated_at": now.isoformat(),
        "source": source,
        "window": {"since": window[0], "until": window[1]},
        "examined_until": examined_until,
        "complete": complete,
        "threshold_seconds": threshold_seconds,
        "cases": cases,
        "months_examined": len(examined),
        "months_without_cases": sum(1 for value in by_month.values() if value == 0),
        "by": {"month": dict(sorted(by_month.items())), **ordered},
    }


def write_summary(out: Path, document: dict[str, Any]) -> tuple[Path, Path]:
    """The summary's three files, written together; (JSON, HTML) paths."""
    environment = report.environment()
    try:
        written = write_together(out, {
            SUMMARY_JSON: json.dumps(document, indent=2, ensure_ascii=False),
            SUMMARY_HTML: environment.get_template("backfill.html").render(summary=document),
            SUMMARY_TEXT: environment.get_template("backfill.txt").render(summary=document),
        })  # fmt: skip
    except OSError as exc:
        raise OutputError(
            f"cannot write the backfill's summary in {out}: {exc.strerror or exc}"
        ) from None
    return written[SUMMARY_JSON], written[SUMMARY_HTML]


def _rows(result: BackfillResult) -> list[dict[str, str]]:
    opener = gzip.open if result.csv.suffix == ".gz" else open
    with opener(result.csv, "rt", encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def mark_reported(settings: Settings, result: BackfillResult, now: datetime) -> int:
    """Record every case of a finished backfill in the nightly ledger (outcome `backfill`)."""
    document = json.loads(result.summary_json.read_text())
    if not document["complete"]:
        raise ConfigError("the backfill has not finished; run it again before --mark-reported")
    rows = _rows(result)
    ledger = Ledger.open(state_options(settings).url)
    try:
        with ledger.lock():
            already = ledger.reported((r["issuer"], r["serial"]) for r in rows)
            cases = [
                (r["issuer"], r["serial"], datetime.fromisoformat(r["revoked_at"]))
                for r in rows
                if (r["issuer"], r["serial"]) not in already
            ]
            ledger.record_success(
                RunRecord(
                    run_id=f"backfill-{now:%Y%m%dT%H%M%SZ}",
                    started_at=now,
                    finished_at=now,
                    window_since=datetime.fromisoformat(document["window"]["since"]),
                    window_until=datetime.fromisoformat(document["window"]["until"]),
                    threshold_seconds=document["threshold_seconds"],
                    cases_found=len(rows),
                    cases_new=len(cases),
                    outcome="backfill",
                    source=document["source"],
                ),
                cases,
            )
    finally:
        ledger.close()
    return len(cases)


def mail_summary(settings: Settings, result: BackfillResult, now: datetime) -> str:
    """Mail the summary (text and HTML) with the complete CSV attached; return the Message-ID."""
    smtp = smtp_options(settings, otherwise=MAIL_OTHERWISE)
    document = json.loads(result.summary_json.read_text())
    keys = [(r["issuer"], r["serial"]) for r in _rows(result)]
    message_id = message_id_for(
        keys,
        window_until=datetime.fromisoformat(document["window"]["until"]),
        domain=sender_domain(smtp.mail_from),
    )
    gzipped = result.csv.suffix == ".gz"
    message = build_message(
        subject=(
            f"[revwatch] backfill: {document['cases']} early revocations, "
            f"{document['window']['since'][:10]} to {document['window']['until'][:10]}"
        ),
        text=(result.summary_html.parent / SUMMARY_TEXT).read_text(encoding="utf-8"),
        html=result.summary_html.read_text(encoding="utf-8"),
        csv=result.csv.read_bytes() if gzipped else result.csv.read_text(encoding="utf-8"),
        csv_filename=result.csv.name,
        mail_from=smtp.mail_from,
        mail_to=smtp.mail_to,
        message_id=message_id,
        date=now,
    )
    delivery.send(message, smtp)
    return message_id
