"""`revwatch backfill`: the historic examination of every revocation, for auditors.

Owns the order of a backfill: history cut into chunks (calendar months by default), each chunk
read, detected and enriched exactly like a night (in this process, or in a pool of worker
processes: `jobs.pipeline.backfill_pool`), its cases appended to one CSV strictly in chunk order
and counted into a summary, then a checkpoint. Memory is bounded by a few chunks (one per worker,
and those waiting to be written) whatever the size of history. A stopped backfill restarts from its
last finished chunk: the checkpoint records how many bytes of the CSV belonged to finished chunks
(a chunk is finished once written here, wherever it was examined), and the file is cut back to that
before going on. A backfill is known by its start, threshold and CA; its end (default: now) is
fixed when it first starts. Its files are 0600, the checkpoint, summary and gzipped CSV replaced
whole (`jobs.core.atomic`). Progress shows as a bar on a terminal, else as a log line at most once
a minute; the backfill ends with one summary line (`revwatch.backfill`). The summary's content, the
ledger's marking and the mail are `jobs.pipeline.backfill_summary`'s; the nightly ledger is
untouched unless asked (`--mark-reported`). It must not render or send the nightly report.
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
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import TextIO

from jobs.core.atomic import PRIVATE_FILE, ensure_dir, replacing, write_atomic
from jobs.core.errors import ConfigError, OutputError
from jobs.core.settings import Settings
from jobs.pipeline.backfill_pool import (
    ChunkResult,
    default_workers,
    examined_here,
    examined_in_pool,
)
from jobs.pipeline.backfill_summary import (
    GROUPS,
    MAIL_OTHERWISE,
    BackfillResult,
    mail_summary,
    mark_reported,
    merge,
    summary_document,
    write_summary,
)
from jobs.pipeline.options import smtp_options, source_options
from jobs.pipeline.steps import open_ca
from jobs.report import document as report
from jobs.source.database import CaDatabase

log = logging.getLogger("revwatch.pipeline.backfill")
summary_log = logging.getLogger("revwatch.backfill")

CSV_NAME = "early-revocations-all.csv"
CHECKPOINT = "backfill-progress.json"
# Above this the CSV is gzipped at the end: reviewers open small files directly.
GZIP_ABOVE_BYTES = 5 * 1024 * 1024
# Off a terminal (cron, a CI log), progress is a log line at most this often, not one per chunk.
PROGRESS_LOG_SECONDS = 60.0


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


def _progress_printer(total: int) -> Callable[[int, datetime, int], None]:
    started = time.monotonic()
    tty = sys.stderr.isatty()
    logged = started

    def show(done: int, chunk_end: datetime, cases: int) -> None:
        nonlocal logged
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
        elif time.monotonic() - logged >= PROGRESS_LOG_SECONDS and done < total:
            logged = time.monotonic()
            log.info(
                "backfill %d/%d chunks done, up to %s, %d cases so far, eta %.0f s",
                done, total, chunk_end.isoformat(), cases, eta,
            )  # fmt: skip

    return show


def _write_in_order(
    results: Generator[ChunkResult, None, None],
    stream: TextIO,
    csv_path: Path,
    progress: Progress,
    checkpoint: Path,
    done: int,
    show: Callable[[int, datetime, int], None],
) -> None:
    """Each chunk's rows appended, counted and checkpointed as it comes, in chunk order: the
    checkpoint names only chunks whose rows are all in the file. Closing `results` at the end,
    or on any failure, stops a pool's workers."""
    with closing(results):
        for examined in results:
            try:
                stream.write(examined.csv_text)
                stream.flush()
                progress.csv_bytes = stream.tell()
            except OSError as exc:  # only the CSV's own writes: a pool's OSError is not one
                raise _written(csv_path, exc) from None
            merge(progress.counts, examined.counts)
            progress.cases += examined.cases
            progress.done_until = examined.end.isoformat()
            _save(checkpoint, progress)
            done += 1
            show(done, examined.end, progress.cases)


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
    workers: int = 1,
) -> BackfillResult:
    """Examine [since, until) chunk by chunk into `out`, resuming from this job's checkpoint.

    `until` None: the end this backfill was started with, else `now`. `stop_after` ends the run
    after that many chunks (as a crash would): tests use it. `workers` above 1 examines chunks in
    that many processes (at most one per chunk left), each with its own CA connection; a caller's
    own `ca` is used here, in this process.
    """
    checkpoint = out / CHECKPOINT
    saved = _load(checkpoint)
    end = until or (datetime.fromisoformat(saved.until) if saved else now)
    if since >= end:
        raise ConfigError(f"empty backfill window [{since.isoformat()}, {end.isoformat()})")
    own_ca = ca is None
    ca_options = source_options(settings)
    # In a parallel run this engine never connects: it names the source and checks the settings.
    ca = ca if ca is not None else open_ca(ca_options)
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
        every = chunks(since, until, chunk)
        left = [c for c in every if c[0] >= resumed]
        todo = left[:stop_after]
        total = len(every)
        show = _progress_printer(total)
        workers = min(workers, len(todo)) if own_ca else 1
        window = settings.replacement_window
        results = (
            examined_in_pool(ca_options, todo, threshold, window, workers)
            if workers > 1
            else examined_here(ca, todo, threshold, window)
        )
        try:
            _write_in_order(
                results, stream, csv_path, progress, checkpoint, total - len(left), show
            )
        finally:
            if own_ca:
                ca.close()
    finished = datetime.fromisoformat(progress.done_until) >= until
    summary_json, summary_html = write_summary(
        out,
        summary_document(
            progress.counts, window=(progress.since, progress.until),
            examined_until=progress.done_until, source=progress.source,
            threshold_seconds=progress.threshold_seconds, cases=progress.cases, now=now,
            complete=finished,
        ),
    )  # fmt: skip
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
        summary_json=summary_json, summary_html=summary_html, workers=max(workers, 1),
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
    workers: int | None = None,
) -> HistoryExamined:
    """`revwatch backfill`: examine [since, until or now), then optionally record and mail; one
    summary line at the end says where the evidence is and what was recorded and mailed.
    `workers` None: this machine's CPUs, at most `backfill_pool.MAX_DEFAULT_WORKERS`."""
    if settings.since is None:
        raise ConfigError("backfill needs --since")
    if mail:  # before hours of work, not after
        smtp_options(settings, otherwise=MAIL_OTHERWISE)
    started = time.monotonic()
    result = run_backfill(
        settings, since=settings.since, until=settings.until, out=out, chunk=chunk, now=now,
        workers=default_workers() if workers is None else workers,
    )  # fmt: skip
    marked = mark_reported(settings, result, now) if record_cases else None
    message_id = mail_summary(settings, result, now) if mail else None
    document = json.loads(result.summary_json.read_text(encoding="utf-8"))
    outcome = "complete" if document["complete"] else "incomplete"
    fields = {
        "event": "backfill", "outcome": outcome, "since": document["window"]["since"],
        "until": document["window"]["until"], "examined_until": document["examined_until"],
        "resumed_from": result.resumed_from.isoformat() if result.resumed_from else None,
        "chunks": result.chunks, "months": document["months_examined"], "cases": result.cases,
        "workers": result.workers,
        "csv": str(result.csv), "summary": str(result.summary_html),
        "marked_reported": marked, "mailed": message_id is not None, "message_id": message_id,
        "duration_seconds": round(time.monotonic() - started, 3), "source": document["source"],
    }  # fmt: skip
    summary_log.info("backfill %s", outcome, extra={"summary": fields})
    return HistoryExamined(result, marked, message_id)
