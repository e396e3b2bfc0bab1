"""Benchmark: a night of many issuances through the issuance watch, measured from outside.

Builds a throwaway generic-schema CA database on the machine's PostgreSQL: `ISSUANCES`
certificates issued in one day (real DER, each a renewal of its subscriber's domain, one in a
hundred a planted near-sibling typo), their subscribers' history (three certificates each, months
before, names only) and no revocation. Then runs the real command (`python -m jobs run --no-mail`)
on that day in a child process and prints its wall time and peak RSS (measured by `os.wait4`, as
bench/scale.py's P4), the watch's own log line (reading vs judging) and whether every planted typo
was found. Run from the repository root:

    .venv/bin/python -m bench.watch [ISSUANCES]     # default 50,000
    .venv/bin/python -m bench.watch --reads URL SINCE UNTIL

It drops the database it creates. `--reads` builds nothing: on an existing generic database
(bench/scale.py's 10M one, kept with `--keep`) it times, in one run, warm medians of three, the
nightly run's query phase (`CaDatabase.early_revocations`, the replacement candidates of its rows
and `activity`) against the watch's reads (window and grouped history), its judging without lint
(DER parsed, names rules), and pkilint on a sample, serial and over the CPUs. It only reads.
It must not touch any other database.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench.children import run_child
from jobs.core.watch import WATCH_LINT_LIMIT
from jobs.core.x509 import ParseCache
from jobs.demo import schema as generic_schema
from jobs.demo.certfactory import CertificateAuthority, new_key
from jobs.detect.records import certificate_from_row
from jobs.enrich.lint import Linter, lint_all
from jobs.enrich.watch import holdings, holdings_from_names, judge_all
from jobs.source.database import CaDatabase
from jobs.source.profiles.base import HISTORY_PER_SUBSCRIBER
from tests.support.ca_schemas import scratch_database
from tests.support.plans import explain, pg_nodes

SERVER = make_url("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DAY = datetime(2026, 3, 9, tzinfo=UTC)
PAST = DAY - timedelta(days=120)
PER_SUBSCRIBER = 5  # window issuances per subscriber
PLANT_EVERY = 100  # one window issuance in a hundred is a near-sibling typo
MB = 1_000_000
THRESHOLD, REPLACEMENT = timedelta(days=7), timedelta(days=30)  # the settings' defaults
LINT_SAMPLE = 600


def _rows(issuances: int) -> tuple[list[dict[str, Any]], int]:
    """The issuance rows (history and window) and how many typos are planted."""
    ca = CertificateAuthority.create("Bench Watch CA", "Bench", now=DAY, country="ES")
    key = new_key()
    rows: list[dict[str, Any]] = []
    planted = 0

    def row(serial: int, subscriber: str, names: list[str], when: datetime, der: bool) -> None:
        rows.append(
            {
                "issuer_dn": ca.name, "serial": format(serial, "x"), "subscriber": subscriber,
                "requester": None, "names": ",".join(names), "subject_dn": f"CN={names[0]}",
                "not_before": when, "not_after": when + timedelta(days=90), "issued_at": when,
                "der": ca.issue(
                    names, not_before=when, not_after=when + timedelta(days=90), serial=serial,
                    key=key,
                ) if der else None,
            }
        )  # fmt: skip

    subscribers = max(1, issuances // PER_SUBSCRIBER)
    for s in range(subscribers):
        domain = f"kunde{s:06d}-shop.es"
        for h in range(3):
            row(10_000_000 + s * 3 + h, f"cust-{s}", [f"h{h}.{domain}"], PAST, der=False)
    step = timedelta(days=1) / issuances
    for i in range(issuances):
        s = i % subscribers
        if i % PLANT_EVERY == 0:  # each typo another subscriber's: each a first, each flagged
            s = (i // PLANT_EVERY) % subscribers
        domain = f"kunde{s:06d}-shop.es"
        if i % PLANT_EVERY == 0:
            domain, planted = domain.replace("-shop", "-shp"), planted + 1
        row(1 + i, f"cust-{s}", [f"www{i}.{domain}", domain], DAY + i * step, der=True)
    return rows, planted


def nightly_reads(ca: CaDatabase, since: datetime, until: datetime) -> int:
    """The nightly run's query phase on [since, until): its rows, as the run reads them."""
    rows = ca.early_revocations(since, until, THRESHOLD)
    wanted = [
        (
            str(r["subscriber"]),
            r["issued_at"] or r["revoked_at"],
            r["revoked_at"] + REPLACEMENT,
        )
        for r in rows
        if r.get("subscriber") is not None and r.get("revoked_at") is not None
    ]
    candidates = ca.replacement_candidates(wanted) if wanted else []
    activity = ca.activity(until, THRESHOLD)
    return len(rows) + len(candidates) + len(activity.days)


def _judging(issued: list[dict[str, Any]], history: list[dict[str, Any]]) -> int:
    """The watch's judging without lint, as run_watch makes it: DER parsed, names rules."""
    held = holdings(holdings_from_names(history)[0])
    flagged = 0
    for start in range(0, len(issued), 2_000):
        cache = ParseCache(limit=2_000)
        batch = [certificate_from_row(r, "", cache=cache)[0] for r in issued[start : start + 2_000]]
        flagged += sum(1 for x in judge_all(batch, held, cache=cache) if x is not None)
    return flagged


def _history_on_server(ca: CaDatabase, since: datetime, until: datetime) -> tuple[float, int]:
    """The history statement's execution time on the server (median of three) and how many
    times its plan probed the revocation table: the part no client-side change can cut."""
    params = {
        "since": since, "until": until, "per_subscriber": HISTORY_PER_SUBSCRIBER,
    }  # fmt: skip
    seconds, probes = [], 0
    with ca.engine.connect() as connection:  # the job's own session settings (jit off)
        for _ in range(3):
            plan = explain(connection, "generic", "subscriber_names", params, analyze=True)
            seconds.append(plan[0]["Execution Time"] / 1000)
            probes = sum(
                int(node.get("Actual Loops", 0))
                for node in pg_nodes(plan)
                if node.get("Relation Name") == "revocation"
            )
    return sorted(seconds)[1], probes


def reads(url: str, since: datetime, until: datetime) -> int:
    """Time the nightly query phase against the watch's reads, judging and lint (docstring)."""
    ca = CaDatabase(make_url(url), "generic")
    times: dict[str, list[float]] = {"nightly": [], "window": [], "history": [], "judging": []}
    try:
        for _ in range(4):
            started = time.monotonic()
            nightly_rows = nightly_reads(ca, since, until)
            read = time.monotonic()
            issued = ca.watched_issuances(since, until)
            windowed = time.monotonic()
            history = ca.subscriber_history(since, until)
            judged = time.monotonic()
            flagged = _judging(issued, history)
            done = time.monotonic()
            for key, seconds in zip(
                times,
                (read - started, windowed - read, judged - windowed, done - judged),
                strict=True,
            ):
                times[key].append(seconds)
        server, probes = _history_on_server(ca, since, until)
    finally:
        ca.close()
    warm = {key: sorted(values[1:])[1] for key, values in times.items()}
    watch_reads = warm["window"] + warm["history"]
    ders = [r["der"] for r in issued if r.get("der")][:LINT_SAMPLE]
    started = time.monotonic()
    lint_all(ders, Linter(), 1)
    serial = (time.monotonic() - started) / max(1, len(ders))
    started = time.monotonic()
    lint_all(ders, Linter(), 2)
    pooled = (time.monotonic() - started) / max(1, len(ders))
    linted = min(len(issued), WATCH_LINT_LIMIT)
    night = warm["nightly"]
    print(f"window [{since.isoformat()}, {until.isoformat()}) of {url.rsplit('/', 1)[-1]}")
    print(f"nightly query phase: {night * 1000:,.0f} ms ({nightly_rows:,} rows)")
    print(
        f"watch reads: window {warm['window'] * 1000:,.0f} ms ({len(issued):,} issuances) + "
        f"history {warm['history'] * 1000:,.0f} ms ({len(history):,} rows) = "
        f"{watch_reads * 1000:,.0f} ms: {watch_reads / night:.2f}x the nightly query phase"
    )
    print(
        f"  the history statement on the server alone (EXPLAIN ANALYZE, timing off): "
        f"{server * 1000:,.0f} ms = {server / night:.2f}x the nightly query phase, with "
        f"{probes:,} probes of the revocation index (a certificate revoked is not held)"
    )
    print(
        f"watch judging without lint: {warm['judging'] * 1000:,.0f} ms ({flagged} flagged); "
        f"reads + judging {(watch_reads + warm['judging']) / night:.2f}x"
    )
    print(f"pkilint on {len(ders)}: {serial * 1000:.2f} ms/cert serial, {pooled * 1000:.2f} "
          f"ms/cert over 2 workers (start-up included); {linted:,} to lint: about "
          f"{linted * pooled:,.1f} s; the whole watch about "
          f"{(watch_reads + warm['judging'] + linted * pooled) / night:,.1f}x")  # fmt: skip
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--reads"]:
        since, until = (datetime.fromisoformat(x) for x in argv[2:4])
        return reads(argv[1], since, until)
    issuances = int(argv[0]) if argv else 50_000
    started = time.monotonic()
    rows, planted = _rows(issuances)
    print(f"{issuances:,} issuances ({planted} typos planted), {len(rows):,} rows made in "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    with scratch_database(SERVER, "bench_watch") as url, tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(url)
        try:
            generic_schema.create_and_insert(engine, rows, [])
            del rows
        finally:
            engine.dispose()
        out = Path(scratch) / "out"
        child = run_child(
            [sys.executable, "-m", "jobs", "run", "--verbose", "--ca-db",
             url.render_as_string(hide_password=False), "--no-mail", "--out", str(out),
             "--since", DAY.isoformat(), "--until", (DAY + timedelta(days=1)).isoformat(),
             "--state-db", f"sqlite:///{Path(scratch) / 'absent' / 'state.sqlite'}"],
            Path(scratch),
        )  # fmt: skip
        if child.returncode != 0:
            print(child.stderr_tail)
            return 1
        report = json.loads((out / "report.json").read_text())
        line = next(
            (x for x in child.stderr_tail.splitlines() if "issuance watch [" in x), "(no line)"
        )
        found = sum(1 for s in report["suspicious_issuances"] if "near-sibling" in s["labels"])
        print(f"run: {child.seconds:.1f} s wall, peak RSS {child.rss / MB:,.0f} MB")
        print("watch:", re.sub(r"^.*?issuance watch ", "", line))
        print(f"near-siblings found: {found} of {planted} planted")
        return 0 if found == planted else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
