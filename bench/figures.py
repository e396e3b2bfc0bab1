"""The scale benchmark's in-process figures: P1 (nightly run, big vs small table), P2 (query phase
vs the bare SQL, on a 30-day and a one-day window), P3 (the job vs the naive pandas approach) and P7
(the report's 30-day trend and operators, read from the big table); and the floor of P4 (`floor`:
the night's rows with DER fetched through the driver and each certificate parsed once, the work no
implementation of the job can avoid).

Owns how each is measured: a warm-up call first (imports, templates, query plans and the OS page
cache are then as they are on the second night of a real deployment), then the median of a few
calls. Every comparison is a ratio of two figures measured in the same run. Each figure also
checks that both sides found the same rows; a disagreement is a `problem`, not a timing. Each row
carries its figures as numbers too (`Row.data`, for `--json`).
It must not build databases (`bench.databases` does) or start child processes (`bench.children`).
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import text

from bench.databases import Built, short, statements
from jobs.core.activity import span
from jobs.core.settings import Settings, utcnow
from jobs.db import queries
from jobs.db.engines import ca_engine
from jobs.pipeline.nightly import run_once
from jobs.source.database import CaDatabase

T = TypeVar("T")
THRESHOLD = timedelta(days=7)
THRESHOLD_SECONDS = int(THRESHOLD.total_seconds())
# The "nightly" window: a day in the middle of the timeline, ~1/1000 of the revocations.
NIGHT = (datetime(2024, 12, 1, tzinfo=UTC), datetime(2024, 12, 2, tzinfo=UTC))
# P2's window (issue #15): the 30 days that end with the night, ~1/35 of the revocations.
MONTH = (NIGHT[1] - timedelta(days=30), NIGHT[1])


@dataclass
class Row:
    """One line of the table: a figure, what it measured, against which target."""

    figure: str
    what: str
    measured: str
    target: str
    ok: bool
    note: str = ""
    problem: str | None = None  # a wrong answer (not a slow one): the script exits 1
    data: dict[str, Any] = field(default_factory=dict)  # the figures as numbers, for --json


def quiet() -> None:
    """In-process runs log a line per record problem; the table is what this process prints."""
    logging.getLogger("revwatch").setLevel(logging.ERROR)  # every logger of the job is below it


def median(action: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Seconds of `action` (median of `repeats` after one warm-up call) and its last result."""
    result = action()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def nightly(built: Built, since: datetime, until: datetime, scratch: Path) -> tuple[float, int]:
    """The whole nightly run in this process (`run_once`, no mail): seconds and cases."""
    settings = Settings(
        ca_db=built.url.render_as_string(hide_password=False),
        profile=built.spec.schema,
        # Never created: a run without mail opens no ledger that does not exist.
        state_db=f"sqlite:///{scratch / 'absent-ledger.sqlite'}",
        since=since,
        until=until,
        no_mail=True,
    )
    seconds, outcome = median(lambda: run_once(settings, utcnow()), 3)
    return seconds, outcome.cases_found


def query_phase(
    built: Built, since: datetime, until: datetime
) -> tuple[float, list[dict[str, Any]]]:
    """`CaDatabase.early_revocations` on an open CaDatabase, as a run calls it: seconds, rows."""
    ca = CaDatabase(built.url, built.spec.schema)
    try:
        return median(lambda: ca.early_revocations(since, until, THRESHOLD), 5)
    finally:
        ca.close()


def _explain(connection: Any, sql: str, params: dict[str, Any]) -> tuple[float, float, int]:
    plan = connection.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql), params).scalar()
    top = plan[0]
    rows = int(top["Plan"]["Actual Rows"]) * int(top["Plan"].get("Actual Loops", 1))
    return top["Execution Time"] / 1000, top["Planning Time"] / 1000, rows


def bare(
    built: Built, since: datetime, until: datetime, repeats: int = 5, warm: bool = True
) -> tuple[float, int]:
    """PostgreSQL's own time for the profile's SQL (EXPLAIN ANALYZE, bound parameters): seconds
    (execution, median after a warm-up) and rows. Generic: the one early_revocations join. EJBCA:
    the profile's revoked_window statement once per issuing CA, summed (the profile's floor)."""
    engine = ca_engine(built.url)
    try:
        with engine.connect() as connection:
            if built.spec.schema == "generic":
                statement = queries.load("profiles/generic", "postgresql")["early_revocations"]
                params = {"since": since, "until": until, "threshold_seconds": THRESHOLD_SECONDS}
                calls = [(statement.sql, params)]
            else:
                ejbca = queries.load("profiles/ejbca", "postgresql")
                issuers = connection.execute(ejbca["issuers"].clause()).scalars().all()
                window = {"since_ms": _ms(since), "until_ms": _ms(until)}
                calls = [(ejbca["revoked_window"].sql, {"issuer": i, **window}) for i in issuers]

            def once() -> tuple[float, int]:
                results = [_explain(connection, sql, params) for sql, params in calls]
                return sum(r[0] for r in results), sum(r[2] for r in results)

            if warm:
                once()
            runs = [once() for _ in range(repeats)]
    finally:
        engine.dispose()
    return statistics.median(r[0] for r in runs), runs[-1][1]


def _ms(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def p1(big: Built, small: Built, scratch: Path) -> Row:
    """The nightly run on the big table vs the small one, same window (and same work)."""
    big_s, big_cases = nightly(big, *NIGHT, scratch)
    small_s, small_cases = nightly(small, *NIGHT, scratch)
    # The same work: a window on the big table that holds as many revocations as the small day.
    scaled = NIGHT[0] + (NIGHT[1] - NIGHT[0]) * small.spec.revocations / big.spec.revocations
    same_s, same_cases = nightly(big, NIGHT[0], scaled, scratch)
    ratio = big_s / small_s
    hours = (scaled - NIGHT[0]) / timedelta(hours=1)
    return Row(
        "P1",
        f"nightly run, {big.spec.variant}, {_size(big)} vs {_size(small)}, same day",
        f"{big_s:.2f} s / {small_s:.2f} s = {ratio:.2f}x",
        "<= 1.1x",
        ratio <= 1.1,
        f"cases {big_cases:,} vs {small_cases:,}; same work ({same_cases:,} cases in "
        f"{hours:.1f} h of the big table): {same_s:.2f} s = {same_s / small_s:.2f}x",
        data={
            "seconds": big_s, "small_seconds": small_s, "ratio": ratio, "cases": big_cases,
            "small_cases": small_cases, "same_work_ratio": same_s / small_s,
        },
    )  # fmt: skip


def fetch_only(built: Built, since: datetime, until: datetime) -> float:
    """The generic statement executed and fetched through the job's engine, without pandas:
    where the query phase's time goes between the driver and the frames."""
    statement = queries.load("profiles/generic", "postgresql")["early_revocations"]
    params = {"since": since, "until": until, "threshold_seconds": THRESHOLD_SECONDS}
    engine = ca_engine(built.url)
    try:
        with engine.connect() as connection:
            seconds, _ = median(
                lambda: connection.execute(statement.clause(), params).fetchall(), 5
            )
    finally:
        engine.dispose()
    return seconds


def p2(big: Built) -> Row:
    """The job's query phase vs PostgreSQL's execution time of the same SQL: on 30 days (the
    target, issue #15: a fixed cost per call must not dominate) and on the one-day night."""
    job_s, found = query_phase(big, *MONTH)
    bare_s, bare_rows = bare(big, *MONTH)
    day_s, day_found = query_phase(big, *NIGHT)
    day_bare_s, day_bare_rows = bare(big, *NIGHT)
    ratio, day_ratio = job_s / bare_s, day_s / day_bare_s
    note = (
        f"30 days: {len(found):,} rows from the job, {bare_rows:,} from the SQL; one day: "
        f"{day_s * 1000:.1f} ms / {day_bare_s * 1000:.1f} ms = {day_ratio:.2f}x "
        f"({len(day_found):,} rows)"
    )
    problem = None
    if big.spec.schema == "generic":
        note += f"; 30 days' execute + fetchall alone {fetch_only(big, *MONTH) * 1000:.1f} ms"
        if (len(found), len(day_found)) != (bare_rows, day_bare_rows):
            problem = (
                f"the job returned {len(found)} and {len(day_found)} rows, the bare join "
                f"{bare_rows} and {day_bare_rows}"
            )
    return Row(
        "P2",
        f"query phase vs bare SQL (EXPLAIN ANALYZE), 30 days, {big.spec.variant}, {_size(big)}",
        f"{job_s * 1000:.1f} ms / {bare_s * 1000:.1f} ms = {ratio:.2f}x",
        "<= 1.5x",
        ratio <= 1.5,
        note,
        problem,
        {
            "window_days": 30, "seconds": job_s, "bare_seconds": bare_s, "ratio": ratio,
            "rows": len(found), "day_seconds": day_s, "day_bare_seconds": day_bare_s,
            "day_ratio": day_ratio, "day_rows": len(day_found),
        },
    )  # fmt: skip


def read_certificate(der: bytes) -> tuple[Any, ...]:
    """What revwatch reads of a certificate, read once with `cryptography`: serial, subject,
    names (SAN), validity and the public key's fingerprint."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    key = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return (
        cert.serial_number,
        cert.subject.rfc4514_string(),
        names,
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
        hashlib.sha256(key).digest(),
    )


def floor(built: Built, since: datetime, until: datetime) -> tuple[float, int]:
    """The floor of a night: its early revocations' rows with DER fetched through the driver
    (the generic profile's statement, psycopg under SQLAlchemy) and every certificate parsed once.
    Seconds (one run, warm: after the night it is the floor of) and rows."""
    statement = queries.load("profiles/generic", "postgresql")["early_revocations"]
    params = {"since": since, "until": until, "threshold_seconds": THRESHOLD_SECONDS}
    engine = ca_engine(built.url)
    try:
        with engine.connect() as connection:
            started = time.perf_counter()
            rows = connection.execute(statement.clause(), params).fetchall()
            for row in rows:
                if row.der is not None:
                    read_certificate(row.der)
            seconds = time.perf_counter() - started
    finally:
        engine.dispose()
    return seconds, len(rows)


def naive(built: Built, since: datetime, until: datetime) -> tuple[float, set[tuple[str, str]]]:
    """Both tables into pandas, merged, then filtered: seconds (one run) and the keys found."""
    sql = statements()
    engine = ca_engine(built.url)
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            issuance = pd.read_sql(sql["naive_issuance"].clause(), connection)
            revocation = pd.read_sql(sql["naive_revocation"].clause(), connection)
    finally:
        engine.dispose()
    merged = revocation.merge(issuance, on=["issuer_dn", "serial"], how="left")
    merged = merged[(merged["revoked_at"] >= since) & (merged["revoked_at"] < until)]
    issued = merged["issued_at"].fillna(merged["not_before"])
    merged = merged[issued.isna() | (merged["revoked_at"] <= issued + THRESHOLD)]
    seconds = time.perf_counter() - started
    return seconds, set(zip(merged["issuer_dn"], merged["serial"], strict=True))


def p3(small: Built) -> Row:
    """The job's query phase vs loading both tables into pandas."""
    job_s, rows = query_phase(small, *NIGHT)
    naive_s, keys = naive(small, *NIGHT)
    found = {(row["issuer_dn"], row["serial"]) for row in rows}
    ratio = naive_s / job_s
    return Row(
        "P3",
        f"job vs naive pandas (read_sql both, merge), {small.spec.variant}, {_size(small)}",
        f"{naive_s:.2f} s / {job_s * 1000:.1f} ms = {ratio:,.0f}x",
        ">= 100x",
        ratio >= 100,
        f"both found the same {len(keys):,} rows" if keys == found else "",
        None if keys == found else f"pandas found {len(keys)} rows, the job {len(found)}",
        {"seconds": naive_s, "job_seconds": job_s, "ratio": ratio},
    )


def activity_phase(built: Built, until: datetime) -> tuple[float, Any]:
    """`CaDatabase.activity` on an open CaDatabase, as a run calls it: seconds and the result."""
    ca = CaDatabase(built.url, built.spec.schema)
    try:
        return median(lambda: ca.activity(until, THRESHOLD), 5)
    finally:
        ca.close()


def p7(big: Built) -> Row:
    """The report's 30-day view: the trend and operators' grouped count, job vs bare SQL."""
    job_s, activity = activity_phase(big, NIGHT[1])
    since, until = span(NIGHT[1])
    sql = queries.load("profiles/generic", "postgresql")["revocation_counts"].sql
    params = {"since": since, "until": until, "threshold_seconds": THRESHOLD_SECONDS}
    engine = ca_engine(big.url)
    try:
        with engine.connect() as connection:
            _explain(connection, sql, params)  # warm-up
            bare_s, _, groups = _explain(connection, sql, params)
    finally:
        engine.dispose()
    revocations = sum(day.revocations for day in activity.days)
    early = sum(day.early_revocations for day in activity.days)
    problem = None
    if revocations != sum(op.revocations for op in activity.operators):
        problem = "the trend and the operators count different revocations"
    return Row(
        "P7",
        f"30-day trend + operators (CaDatabase.activity), {big.spec.variant}, {_size(big)}",
        f"{job_s * 1000:.0f} ms",
        "<= 1 s",
        job_s <= 1.0,
        f"{revocations:,} revocations ({early:,} early) in 30 days, {len(activity.operators)} "
        f"operators; the bare grouped count (EXPLAIN ANALYZE): {bare_s * 1000:.1f} ms, "
        f"{groups} groups",
        problem,
        {"seconds": job_s, "bare_seconds": bare_s, "revocations": revocations},
    )


def _size(built: Built) -> str:
    return f"{short(built.spec.certificates)}/{short(built.spec.revocations)}"
