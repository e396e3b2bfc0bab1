"""The backfill's chunks examined in this process or in a pool of worker processes.

Owns how one chunk of history becomes a `ChunkResult` (its CSV rows already serialised, its counts,
its number of cases and, from a worker, the log records it wrote) and the pool that examines
chunks on several CPUs: at most `workers + 1` chunks submitted and not yet handed over, so memory
stays bounded by a few chunks whatever the size of history, and results handed over strictly in
chunk order. Workers start from a fork server (never by forking the parent, which holds engines
and threads) that has imported this module once; each worker opens its own CA database from the
resolved `SourceOptions` (an engine is never shared across processes), ignores Ctrl-C and ends
with its parent. An interruption (Ctrl-C, SIGTERM) or a failure stops the workers at once; a
worker that dies becomes one clear error. It must not write files: the CSV, its order and the
checkpoint are `jobs.pipeline.backfill`'s.
"""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import pickle
import signal
import threading
from collections import deque
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from jobs.core.errors import RevwatchError
from jobs.core.x509 import ParseCache
from jobs.pipeline.backfill_summary import count
from jobs.pipeline.options import SourceOptions
from jobs.pipeline.steps import detect_window, enrich_cases, open_ca
from jobs.report import document as report
from jobs.source.database import CaDatabase

# The job's loggers (jobs.face.logs): their level in the parent is the workers' level.
NAMESPACE = "revwatch"
# More workers than this mostly add load on the CA's database, not speed.
MAX_DEFAULT_WORKERS = 4

Chunk = tuple[datetime, datetime]


@dataclass
class ChunkResult:
    """One examined chunk: its CSV rows as text (header excluded), its counts per group
    (`backfill_summary.count`), its number of cases, and the log records a worker wrote while
    examining it (the parent logs them; in-process they went straight to the log). `error`: the
    expected failure that ended the chunk, after its records."""

    start: datetime
    end: datetime
    csv_text: str
    counts: dict[str, dict[str, int]]
    cases: int
    records: list[logging.LogRecord] = field(default_factory=list)
    error: RevwatchError | None = None


def default_workers() -> int:
    """The CPUs this process may run on, at most MAX_DEFAULT_WORKERS."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_DEFAULT_WORKERS))


def examine_chunk(
    ca: CaDatabase, start: datetime, end: datetime, threshold: timedelta, window: timedelta
) -> ChunkResult:
    """[start, end) read, detected and enriched exactly like a night; no case is linted (none is
    shown in full, as on a mass night)."""
    cache = ParseCache()
    detection = detect_window(ca, start, end, threshold, cache)
    cases = enrich_cases(ca, list(detection.cases), window, cache, lint=False)
    text = io.StringIO()
    csv.writer(text).writerows(report.csv_row(case) for case in cases)
    counts: dict[str, dict[str, int]] = {}
    count(counts, cases)
    return ChunkResult(start, end, text.getvalue(), counts, len(cases))


def examined_here(
    ca: CaDatabase, todo: Iterable[Chunk], threshold: timedelta, window: timedelta
) -> Generator[ChunkResult, None, None]:
    """The chunks examined one after the other in this process (`--workers 1`)."""
    for start, end in todo:
        yield examine_chunk(ca, start, end, threshold, window)


# --- the worker side ----------------------------------------------------------------------------


class _Kept(logging.Handler):
    """Keeps a worker's log records for the parent, formatted now (their arguments may not
    pickle)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)


# One worker's state, set by `_start_worker`: the CA is opened by its first chunk, so that a
# failure to open it is that chunk's error, not a pool that cannot start.
_WORKER: dict[str, Any] = {}


def _end_with_parent() -> None:
    """End this worker as soon as the backfill that started it ends, however it ended.

    A worker killed with its parent would otherwise wait forever for its next chunk (it holds
    both ends of the pool's queue, so it never reads an end of file), and, holding the fork
    server's pipe, keep the fork server alive too. Its parent's sentinel becomes ready when the
    parent is gone; a daemon thread waits on it without holding the interpreter."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)  # nothing of the worker's is worth keeping: its results have nowhere to go

    threading.Thread(target=watch, name="revwatch-parent-watch", daemon=True).start()


def _start_worker(
    source: SourceOptions, threshold: timedelta, window: timedelta, level: int
) -> None:
    # Ctrl-C on a terminal reaches the whole process group: the parent alone decides to stop
    # the workers, so that each of them does not print its own KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _end_with_parent()
    kept = _Kept()
    logging.basicConfig(level=logging.WARNING, handlers=[kept], force=True)
    logging.getLogger(NAMESPACE).setLevel(level)
    _WORKER.update(source=source, threshold=threshold, window=window, kept=kept, ca=None)


def _worker_ca() -> CaDatabase:
    ca: CaDatabase | None = _WORKER["ca"]
    if ca is None:
        ca = _WORKER["ca"] = open_ca(_WORKER["source"])
        # Run when the worker leaves normally (the pool's shutdown): its sessions end cleanly.
        multiprocessing.util.Finalize(None, ca.close, exitpriority=10)
    return ca


def _portable(exc: RevwatchError) -> RevwatchError:
    """`exc` if it survives the trip to the parent; else its message and exit code in a plain
    RevwatchError (an exception whose class takes other arguments cannot be unpickled, and one
    that cannot be unpickled breaks the whole pool)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        relayed = RevwatchError(str(exc))
        relayed.exit_code = exc.exit_code
        return relayed


def _examine_in_worker(start: datetime, end: datetime) -> ChunkResult:
    kept: _Kept = _WORKER["kept"]
    kept.records = []
    try:
        result = examine_chunk(_worker_ca(), start, end, _WORKER["threshold"], _WORKER["window"])
    except RevwatchError as exc:
        # Expected failures travel as data, after the records written before them; anything
        # else is a bug and travels as itself, with the worker's traceback.
        result = ChunkResult(start, end, "", {}, 0, error=_portable(exc))
    result.records = kept.records
    return result


# --- the parent side ----------------------------------------------------------------------------


class Stopped(KeyboardInterrupt):
    """SIGTERM during a parallel backfill, raised where the parent waits so that the workers are
    stopped before it ends; reported as an interruption."""


def _raise_stopped(_signum: int, _frame: object) -> None:
    raise Stopped


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now rather than after their chunks.
    Python 3.11 has no public way to end a pool's workers (3.14's terminate_workers)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


def examined_in_pool(
    source: SourceOptions,
    todo: list[Chunk],
    threshold: timedelta,
    window: timedelta,
    workers: int,
) -> Generator[ChunkResult, None, None]:
    """The chunks of `todo` examined by `workers` processes, handed over in chunk order.

    Close the iterator (or let an exception end its loop inside `contextlib.closing`) to stop
    the workers."""
    context = multiprocessing.get_context("forkserver")
    # The fork server imports this module (hence sqlalchemy, pandas, cryptography) once, and the
    # enrichment that `steps` imports only when there are cases; each worker is then a fork of
    # it: milliseconds instead of an interpreter's start (and those imports) per worker.
    context.set_forkserver_preload([__name__, "jobs.enrich.enrichment"])
    level = logging.getLogger(NAMESPACE).getEffectiveLevel()
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker,
        initargs=(source, threshold, window, level),
    )  # fmt: skip
    waiting = iter(todo)
    pending: deque[tuple[Chunk, Future[ChunkResult]]] = deque()

    def submit(chunks: Iterable[Chunk]) -> None:
        for chunk in chunks:
            try:
                future = pool.submit(_examine_in_worker, *chunk)
            except BrokenProcessPool as exc:
                # A worker died since the last result: the chunks before this one are kept and
                # this one fails below as a chunk a dying worker held does, not as a traceback.
                future = Future()
                future.set_exception(exc)
            pending.append((chunk, future))

    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if on_main else None
    finished = False
    try:
        submit(islice(waiting, workers + 1))
        while pending:
            (start, end), future = pending.popleft()
            try:
                result = future.result()
            except BrokenProcessPool:
                raise RevwatchError(
                    f"a backfill worker process died while examining {start.isoformat()} to "
                    f"{end.isoformat()} (killed, or out of memory?); the chunks before it are "
                    "kept: run the same command again to resume (--workers 1 uses less memory)"
                ) from None
            submit(islice(waiting, 1))  # keep the workers busy while the parent writes
            for record in result.records:  # as if logged here, in chunk order
                logging.getLogger(record.name).handle(record)
            if result.error is not None:
                raise result.error
            yield result
        finished = True
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop(pool)
