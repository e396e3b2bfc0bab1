"""Benchmark: the EJBCA and Boulder profiles' nightly queries on a million-row certificate table.

Builds throwaway databases on the machine's PostgreSQL and MariaDB (set-based SQL:
generate_series / MariaDB's sequence engine), then for a one-day window prints each statement's
plan and times the profile's whole `early_revocations`; then the same for the report's 30-day
view (the trend and operator statements, and the profile's whole `activity`), and for the issuance
watch (its window and its grouped history; its query phase is timed against the nightly query's).
Fails (exit 1) if any plan scans the certificate table in full. Run from the repository root:

    .venv/bin/python -m bench.plans [ROWS]

It drops every database it creates. It must not touch any other database.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from bench.watch import nightly_reads
from jobs.core.activity import span
from jobs.source.database import CaDatabase
from tests.support.ca_big import (
    BIG_BASE,
    big_boulder,
    big_boulder_authz,
    big_boulder_precertificates,
    big_ejbca,
    big_ejbca_audit,
)
from tests.support.ca_schemas import ms, run_script, scratch_database
from tests.support.plans import explain, pg_nodes

SERVERS = {
    "postgresql": make_url("postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
    "mysql": make_url("mysql+pymysql://root@127.0.0.1:3306/mysql"),
}
SINCE = BIG_BASE + timedelta(days=300)
UNTIL = SINCE + timedelta(days=1)
THRESHOLD = timedelta(days=7)
# The report's 30-day view ends with the night's window.
TREND_SINCE, TREND_UNTIL = span(UNTIL)
USERS = [f"user{n}" for n in range(0, 500, 50)]  # end entities whose audit events are looked up
ACCOUNTS = list(range(2000, 2500))  # a batch of the window's Boulder accounts (SINCE's minutes)


def _full_scans(dialect: str, plan: Any, table: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"Seq Scan on {n.get('Relation Name')}"
            for n in pg_nodes(plan)
            if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == table.lower()
        ]
    # A derived table or a materialised subquery (`<derived2>`, `<subquery2>`) is the statement's
    # own intermediate result, not a table of the CA's.
    return [
        f"ALL on {r['table']}"
        for r in plan
        if r["type"] == "ALL" and not str(r["table"]).startswith("<")
    ]


def _show(name: str, dialect: str, plan: Any) -> None:
    if dialect == "postgresql":
        steps = [
            f"{n['Node Type']}({n.get('Index Name') or n.get('Relation Name') or ''})"
            for n in pg_nodes(plan)
        ]
    else:
        steps = [f"{r['table']}:{r['type']}:{r['key']}:{r.get('Extra') or ''}" for r in plan]
    print(f"  {name:24} {' > '.join(steps)}")


def _timed(url: URL, profile: str) -> tuple[float, int]:
    ca = CaDatabase(url, profile)
    try:
        started = time.monotonic()
        found = ca.early_revocations(SINCE, UNTIL, THRESHOLD)
        return time.monotonic() - started, len(found)
    finally:
        ca.close()


def _activity(url: URL, profile: str) -> None:
    """Time the profile's whole 30-day view, as a run reads it (first call, then the median of
    three: the first pays for the cold cache and the schema look-up)."""
    ca = CaDatabase(url, profile)
    try:
        times = []
        for _ in range(4):
            started = time.monotonic()
            activity = ca.activity(UNTIL, THRESHOLD)
            times.append(time.monotonic() - started)
    finally:
        ca.close()
    revocations = sum(d.revocations for d in activity.days)
    early = sum(d.early_revocations for d in activity.days)
    warm = sorted(times[1:])[1]
    print(
        f"  activity (30 days): {revocations} revocations ({early} early), "
        f"{len(activity.operators)} operators in {warm * 1000:.0f} ms "
        f"(first call {times[0] * 1000:.0f} ms)"
    )


def _watch(url: URL, profile: str) -> None:
    """Time the issuance watch's reads (its window and its subscribers' grouped history, as a run
    reads them) against the nightly run's query phase (early revocations, their replacement
    candidates and the 30-day activity: `bench.watch.nightly_reads`), medians of three warm."""
    ca = CaDatabase(url, profile)
    try:
        nightly, window, history = [], [], []
        for _ in range(4):
            started = time.monotonic()
            nightly_reads(ca, SINCE, UNTIL)
            read = time.monotonic()
            issued = ca.watched_issuances(SINCE, UNTIL)
            windowed = time.monotonic()
            held = ca.subscriber_history(SINCE, UNTIL)
            done = time.monotonic()
            nightly.append(read - started)
            window.append(windowed - read)
            history.append(done - windowed)
    finally:
        ca.close()
    night, win, hist = (sorted(x[1:])[1] for x in (nightly, window, history))
    print(
        f"  issuance watch: {len(issued)} issuances in {win * 1000:.0f} ms, {len(held)} history "
        f"rows in {hist * 1000:.0f} ms vs the nightly query phase's {night * 1000:.0f} ms "
        f"({(win + hist) / night:.1f}x)"
    )


def ejbca(dialect: str, rows: int) -> list[str]:
    problems: list[str] = []
    with scratch_database(SERVERS[dialect], "bench_ejbca") as url:
        engine = create_engine(url)
        try:
            run_script(engine, f"ejbca.{dialect}.sql")
            started = time.monotonic()
            big_ejbca(engine, rows)
            big_ejbca_audit(engine, rows)
            print(f"EJBCA/{dialect}: {rows} rows built in {time.monotonic() - started:.1f} s")
            window = {"issuer": "CN=Bench CA 1", "since_ms": ms(SINCE), "until_ms": ms(UNTIL)}
            window_of_issuance = window
            issuers = [f"CN=Bench CA {k}" for k in range(4)]
            history = {
                "issuers": issuers, "since_ms": ms(SINCE), "until_ms": ms(UNTIL),
                "per_subscriber": 2000,
            }  # fmt: skip
            days = {"since_ms": ms(TREND_SINCE), "until_ms": ms(TREND_UNTIL)}
            trend = {
                "issuer": "CN=Bench CA 1", **days,
                "threshold_ms": ms(BIG_BASE + THRESHOLD) - ms(BIG_BASE), "offset_ms": 600000,
            }  # fmt: skip
            with engine.connect() as connection:
                for name, params in (
                    ("issuers", {}),
                    ("revoked_window", window),
                    ("revocation_trend_history", trend),
                    ("early_revoked_history", trend),
                    ("operator_revocations", days),
                    ("operator_events", {"usernames": USERS, **days}),
                    ("watch_window", window_of_issuance),
                    ("subscriber_names", history),
                ):
                    plan = explain(connection, "ejbca", name, params)
                    _show(name, dialect, plan)
                    problems += _full_scans(dialect, plan, "CertificateData")
                    if dialect == "postgresql":  # MariaDB's check names every table already
                        problems += _full_scans(dialect, plan, "AuditRecordData")
        finally:
            engine.dispose()
        seconds, found = _timed(url, "ejbca")
        print(f"  early_revocations: {found} rows in {seconds * 1000:.0f} ms")
        _activity(url, "ejbca")
        _watch(url, "ejbca")
    return problems


def boulder(rows: int) -> list[str]:
    problems: list[str] = []
    with scratch_database(SERVERS["mysql"], "bench_boulder") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "boulder.mysql.sql")
            started = time.monotonic()
            big_boulder(engine, rows)
            big_boulder_precertificates(engine, rows)
            big_boulder_authz(engine, rows)
            print(f"Boulder/mysql: {rows} certificates built in {time.monotonic() - started:.1f} s")
            # The 30-day view's ids: rows are a minute apart from BIG_BASE, every 50th revoked.
            first = int((TREND_SINCE - BIG_BASE) / timedelta(minutes=1)) // 50
            trend = {
                "first_id": first, "end_id": first + 30 * 1440 // 50 + 20,
                "since": TREND_SINCE.replace(tzinfo=None),
                "until": TREND_UNTIL.replace(tzinfo=None),
                "threshold_seconds": int(THRESHOLD.total_seconds()),
            }  # fmt: skip
            serials = [format(n, "036X") for n in range(50, 30000, 50)]
            issued = {"since": SINCE.replace(tzinfo=None), "until": UNTIL.replace(tzinfo=None)}
            with engine.connect() as connection:
                for name, params in (
                    ("revoked_probe", {"from_id": rows // 100}),
                    ("revoked_page", {"after_id": rows // 100, "page_size": 1000}),
                    ("revoked_status", {"serials": serials}),
                    ("final_certificates", {"serials": serials}),
                    ("revocation_trend", trend),
                    ("watch_certificates", issued),
                    ("watch_subscribers", issued),
                    # One batch of the window's accounts (see ACCOUNTS).
                    ("subscriber_names", {"subscribers": ACCOUNTS, "per_subscriber": 2000}),
                ):
                    plan = explain(connection, "boulder", name, params)
                    _show(name, "mysql", plan)
                    problems += _full_scans("mysql", plan, "certificates")
        finally:
            engine.dispose()
        seconds, found = _timed(url, "boulder")
        print(f"  early_revocations: {found} rows in {seconds * 1000:.0f} ms")
        _activity(url, "boulder")
        _watch(url, "boulder")
    return problems


def main(argv: list[str]) -> int:
    rows = int(argv[0]) if argv else 1_000_000
    problems = ejbca("postgresql", rows) + ejbca("mysql", rows) + boulder(rows)
    for problem in problems:
        print(f"FULL SCAN: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
