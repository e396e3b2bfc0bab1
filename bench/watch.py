"""Benchmark: a night of many issuances through the issuance watch, measured from outside.

Builds a throwaway generic-schema CA database on the machine's PostgreSQL: `ISSUANCES`
certificates issued in one day (real DER, each a renewal of its subscriber's domain, one in a
hundred a planted near-sibling typo), their subscribers' history (three certificates each, months
before, names only) and no revocation. Then runs the real command (`python -m jobs run --no-mail`)
on that day in a child process and prints its wall time and peak RSS (measured by `os.wait4`, as
bench/scale.py's P4), the watch's own log line (reading vs judging) and whether every planted typo
was found. Run from the repository root:

    .venv/bin/python -m bench.watch [ISSUANCES]     # default 50,000

It drops the database it creates. It must not touch any other database.
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
from jobs.demo import schema as generic_schema
from jobs.demo.certfactory import CertificateAuthority, new_key
from tests.support.ca_schemas import scratch_database

SERVER = make_url("postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DAY = datetime(2026, 3, 9, tzinfo=UTC)
PAST = DAY - timedelta(days=120)
PER_SUBSCRIBER = 5  # window issuances per subscriber
PLANT_EVERY = 100  # one window issuance in a hundred is a near-sibling typo
MB = 1_000_000


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


def main(argv: list[str]) -> int:
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
