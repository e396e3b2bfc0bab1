"""`revwatch backfill`: the historic examination of every revocation, for auditors.

Owns the order of a backfill: history cut into chunks (calendar months by default), each chunk
read, detected and enriched exactly like a night, its cases appended to one CSV and counted into a
summary, then a checkpoint. Memory is bounded by one chunk whatever the size of history. A stopped
backfill restarts from its last finished chunk: the checkpoint records how many bytes of the CSV
belonged to finished chunks, and the file is cut back to that before going on. A backfill is known
by its start, threshold and CA; its end (default: now) is fixed when it first starts. Its files
are 0600, the checkpoint, summary and gzipped CSV replaced whole (`jobs.core.atomic`). The nightly
ledger is untouched unless asked (`--mark-reported`). It must not render or send the nightly
report.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from jobs.core.atomic import PRIVATE_FILE, ensure_dir, replacing, write_atomic, write_together
from jobs.core.errors import ConfigError, OutputError
from jobs.core.model import Case
from jobs.core.settings import Settings
from jobs.core.x509 import ParseCache
from jobs.deliver import smtp as delivery
from jobs.deliver.message import build_message, message_id_for
from jobs.pipeline.options import smtp_options, source_options, state_options
from jobs.pipeline.steps import detect_window, enrich_cases, open_ca, sender_domain
from jobs.report import document as report
from jobs.source.database import CaDatabase
from jobs.state.ledger import Ledger, RunRecord

log = logging.getLogger(__name__)

CSV_NAME = "early-revocations-all.csv"
CHECKPOINT = "backfill-progress.json"
# Above this the CSV is gzipped at the end: reviewers open small files directly.
GZIP_ABOVE_BYTES = 5 * 1024 * 1024
GROUPS = ("month", "reason", "operator", "issuer", "label", "domain")


def chunks(
    since: datetime, until: datetime, size: timedelta | None
) -> list[tuple[datetime, datetime]]:
    """Half-open chunks covering [since, until): calendar months (size None) or fixed spans."""
    bounds = [since]
    while bounds[-1] < until:
        start = bounds[-1]
        if size is not None:
            bounds.append(min(start + size, until))
            continue
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        bounds.append(min(datetime(year, month, 1, tzinfo=UTC), until))
    return list(pairwise(bounds))


@dataclass
class Progress:
    """The checkpoint: what a restart must know, written after every finished chunk."""

    since: str
    until: str
    threshold_seconds: int
    source: str
    done_until: str
    csv_bytes: int = 0
    cases: int = 0
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: {g: {} for g in GROUPS})

    def same_job(self, other: Progress, until_given: bool) -> bool:
        # The end is part of the job only when given: the default (now) moves between runs.
        keys = ("since", "threshold_seconds", "source") + (("until",) if until_given else ())
        return all(getattr(self, k) == getattr(other, k) for k in keys)


def _written(what: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write the backfill's {what}: {exc.strerror or exc}")


def _save(path: Path, progress: Progress) -> None:
    try:
        write_atomic(path, json.dumps(asdict(progress), indent=1))
    except OSError as exc:
        raise _written(path, exc) from None


def _load(path: Path) -> Progress | None:
    if not path.is_file():
        return None
    try:
        return Progress(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"the backfill checkpoint {path} is unreadable: {exc}") from None


def _count(progress: Progress, cases: list[Case]) -> None:
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
            counter = progress.counts.setdefault(group, {})
            for value in values:
                counter[value] = counter.get(value, 0) + 1
    progress.cases += len(cases)


@dataclass(frozen=True)
class BackfillResult:
    """Where the evidence is and how much of it there is."""

    cases: int
    chunks: int
    resumed_from: datetime | None
    csv: Path
    summary_json: Path
    summary_html: Path


def _progress_printer(total: int) -> Callable[[int, datetime, int], None]:
    started = time.monotonic()
    tty = sys.stderr.isatty()

    def show(done: int, chunk_end: datetime, cases: int) -> None:
        elapsed = time.monotonic() - started
        eta = elapsed / done * (total - done) if done else 0.0
        if tty:
            bar = "#" * (30 * done // total) + "." * (30 - 30 * done // total)
            sys.stderr.write(
                f"\r[{bar}] {done}/{total} chunks, up to {chunk_end:%Y-%m-%d}, {cases} cases, "
                f"ETA {eta:.0f} s "
            )
            sys.stderr.flush()
            if done == total:
                sys.stderr.write("\n")
        else:
            log.info(
                "backfill %d/%d chunks done, up to %s, %d cases so far, eta %.0f s",
                done, total, chunk_end.isoformat(), cases, eta,
            )  # fmt: skip

    return show


def run_backfill(
    settings: Settings,
    *,
    since: datetime,
    until: datetime | None,
    out: Path,
    chunk: timedelta | None = None,
    now: datetime,
    ca: CaDatabase | None = None,
    stop_after: int | None = None,
) -> BackfillResult:
    """Examine [since, until) chunk by chunk into `out`, resuming from this job's checkpoint.

    `until` None: the end this backfill was started with, else `now`. `stop_after` ends the run
    after that many chunks (as a crash would): tests use it.
    """
    checkpoint = out / CHECKPOINT
    saved = _load(checkpoint)
    end = until or (datetime.fromisoformat(saved.until) if saved else now)
    if since >= end:
        raise ConfigError(f"empty backfill window [{since.isoformat()}, {end.isoformat()})")
    own_ca = ca is None
    ca = ca if ca is not None else open_ca(source_options(settings))
    threshold = settings.threshold
    fresh = Progress(
        since=since.isoformat(), until=end.isoformat(),
        threshold_seconds=int(threshold.total_seconds()), source=ca.label,
        done_until=since.isoformat(),
    )  # fmt: skip
    progress = saved or fresh
    if not progress.same_job(fresh, until_given=until is not None):
        raise ConfigError(
            f"{out} holds the checkpoint of another backfill ({progress.since} to "
            f"{progress.until}, {progress.source}); use another --out directory"
        )
    until = end
    resumed = datetime.fromisoformat(progress.done_until)
    csv_path = out / CSV_NAME
    try:
        ensure_dir(out)
        handle = os.open(csv_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    except OSError as exc:
        raise _written(csv_path, exc) from None
    with os.fdopen(handle, "a+", newline="", encoding="utf-8") as stream:
        # Rows of a chunk that did not finish are cut off; a fresh file gets its header.
        stream.truncate(progress.csv_bytes)
        stream.seek(progress.csv_bytes)
        writer = csv.writer(stream)
        if progress.csv_bytes == 0:
            writer.writerow(report.CSV_COLUMNS)
        todo = [c for c in chunks(since, until, chunk) if c[0] >= resumed]
        total = len(chunks(since, until, chunk))
        show = _progress_printer(total)
        try:
            for index, (start, end) in enumerate(todo):
                if stop_after is not None and index >= stop_after:
                    break
                cache = ParseCache()
                detection = detect_window(ca, start, end, threshold, cache)
                # No case is shown in full, so none is linted (as on a mass night).
                cases = enrich_cases(
                    ca, list(detection.cases), settings.replacement_window, cache, lint=False
                )
                writer.writerows(report.csv_row(case) for case in cases)
                stream.flush()
                _count(progress, cases)
                progress.csv_bytes = stream.tell()
                progress.done_until = end.isoformat()
                _save(checkpoint, progress)
                show(total - len(todo) + index + 1, end, progress.cases)
        except OSError as exc:
            raise _written(csv_path, exc) from None
        finally:
            if own_ca:
                ca.close()
    finished = datetime.fromisoformat(progress.done_until) >= until
    summary_json, summary_html = _write_summary(out, progress, now, finished)
    final_csv = csv_path
    if finished and csv_path.stat().st_size > GZIP_ABOVE_BYTES:
        final_csv = csv_path.with_suffix(".csv.gz")
        try:
            with (
                csv_path.open("rb") as source,
                replacing(final_csv) as raw,
                gzip.GzipFile(fileobj=raw, mode="wb") as target,
            ):
                shutil.copyfileobj(source, target)
        except OSError as exc:
            raise _written(final_csv, exc) from None
        csv_path.unlink()
    return BackfillResult(
        cases=progress.cases, chunks=total,
        resumed_from=resumed if resumed > since else None, csv=final_csv,
        summary_json=summary_json, summary_html=summary_html,
    )  # fmt: skip


@dataclass(frozen=True)
class HistoryExamined:
    """A backfill command's result: the evidence, and what was recorded and mailed."""

    result: BackfillResult
    marked: int | None
    message_id: str | None


def examine_history(
    settings: Settings,
    *,
    out: Path,
    chunk: timedelta | None,
    now: datetime,
    record_cases: bool = False,
    mail: bool = False,
) -> HistoryExamined:
    """`revwatch backfill`: examine [since, until or now), then optionally record and mail."""
    if settings.since is None:
        raise ConfigError("backfill needs --since")
    result = run_backfill(
        settings, since=settings.since, until=settings.until, out=out, chunk=chunk, now=now
    )
    marked = mark_reported(settings, result, now) if record_cases else None
    message_id = mail_summary(settings, result, now) if mail else None
    return HistoryExamined(result, marked, message_id)


def summary_document(progress: Progress, now: datetime, finished: bool) -> dict[str, Any]:
    """The backfill's summary as report-ready data (also written as backfill-summary.json)."""
    ordered = {
        group: dict(
            sorted(counts.items())
            if group == "month"
            else sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        )
        for group, counts in progress.counts.items()
    }
    return {
        "generated_at": now.isoformat(),
        "source": progress.source,
        "window": {"since": progress.since, "until": progress.until},
        "examined_until": progress.done_until,
        "complete": finished,
        "threshold_seconds": progress.threshold_seconds,
        "cases": progress.cases,
        "by": ordered,
    }


def _write_summary(
    out: Path, progress: Progress, now: datetime, finished: bool
) -> tuple[Path, Path]:
    document = summary_document(progress, now, finished)
    environment = report.environment()
    try:
        written = write_together(out, {
            "backfill-summary.json": json.dumps(document, indent=2, ensure_ascii=False),
            "backfill-summary.html": environment.get_template("backfill.html").render(
                summary=document
            ),
            "backfill-summary.txt": environment.get_template("backfill.txt").render(
                summary=document
            ),
        })  # fmt: skip
    except OSError as exc:
        raise _written(out, exc) from None
    return written["backfill-summary.json"], written["backfill-summary.html"]


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
    smtp = smtp_options(settings)
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
        text=(result.summary_html.parent / "backfill-summary.txt").read_text(encoding="utf-8"),
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
