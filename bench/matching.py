"""Benchmark: replacement matching + certificate diff, cases per second, against PostgreSQL.

Builds a generic-schema CA database of its own on the PostgreSQL server (admin URL from
REVWATCH_BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432/test): N revoked
certificates, each with 5 later certificates of the same subscriber (the fix of a one-letter typo, a
sibling issued nearer in time, two unrelated ones and a later partial fix), all real DER signed by
two issuing CAs. Then, timed, the pipeline's own path: detection's query, one candidate query per
batch of subscribers (`CaDatabase.replacement_candidates`), rows -> certificates
(`jobs.detect.records`), and `jobs.enrich.enrichment.enrich` (ranking, DER parsed once per
certificate, name pairing, rules); then, timed apart, the lint diff of every case
(`jobs.enrich.enrichment.lint_cases`: pkilint on both certificates), so that cases/s are printed
without and with lint. Prints the figures and drops its database.

    .venv/bin/python bench/matching.py             # 10,000 cases x 5 candidates
    .venv/bin/python bench/matching.py --tiny      # 200 cases: seconds, for CI
    .venv/bin/python bench/matching.py --cases 2000
    .venv/bin/python bench/matching.py --no-lint   # matching only (pkilint is ~5 ms a case)
    .venv/bin/python bench/matching.py --no-lint --profile /tmp/matching.prof   # cProfile of
                                                   # the timed part (records + enrich) only

It must not touch any database but the one it creates.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy.engine import URL, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobs.demo import schema as generic_schema
from jobs.demo.certfactory import CertificateAuthority, key_from_secret
from jobs.detect.detection import detect
from jobs.detect.records import certificate_from_row
from jobs.enrich.enrichment import enrich, lint_cases
from jobs.enrich.lint import Linter
from jobs.source.database import CaDatabase

ADMIN = os.environ.get("REVWATCH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
THRESHOLD = timedelta(days=7)
WINDOW = timedelta(days=30)
CANDIDATES = 5
_KEYS = 32  # a small pool of keys: key generation is not what is measured


@contextmanager
def scratch_database(admin_url: str) -> Iterator[URL]:
    """A database of this run's own, dropped at the end whatever happens."""
    admin = make_url(admin_url)
    name = f"revwatch_bench_{secrets.token_hex(4)}"
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    try:
        yield admin.set(database=name)
    finally:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def build_rows(cases: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """(issuance rows, revocation rows, {revoked serial: the serial of its intended fix})."""
    cas = [
        CertificateAuthority.create(
            f"Bench Issuing CA {n}", "Revwatch Bench", now=T0, key=key_from_secret(500 + n)
        )
        for n in (1, 2)
    ]
    keys = [key_from_secret(9000 + k) for k in range(_KEYS)]
    issuance: list[dict[str, Any]] = []
    revocation: list[dict[str, Any]] = []
    fixes: dict[str, str] = {}
    serial = 0x1000

    def issue(ca: int, names: list[str], issued: datetime, subscriber: str, key: int) -> str:
        nonlocal serial
        serial += 1
        authority = cas[ca]
        der = authority.issue(
            names,
            not_before=issued - timedelta(minutes=10),
            not_after=issued + timedelta(days=90),
            serial=serial,
            subject={"CN": names[0], "O": f"Customer {subscriber}", "C": "ES"},
            key=keys[key % _KEYS],
        )
        issuance.append(
            {
                "issuer_dn": authority.name,
                "serial": format(serial, "x"),
                "subscriber": subscriber,
                "requester": "ra-operator",
                "names": None,  # taken from the DER, as for a CA that does not store them
                "subject_dn": f"CN={names[0]},O=Customer {subscriber},C=ES",
                "not_before": issued - timedelta(minutes=10),
                "not_after": issued + timedelta(days=90),
                "issued_at": issued,
                "der": der,
            }
        )
        return format(serial, "x")

    for i in range(cases):
        subscriber = f"cust-{i:06d}"
        issued = T0 + timedelta(seconds=i * 17)
        revoked_at = issued + timedelta(hours=4, minutes=38)
        domain = f"cualtis{i}.net"
        typo = f"cuatis{i}.net"
        revoked = issue(0, [f"mail.{typo}", f"www.{typo}"], issued, subscriber, i)
        revocation.append(
            {
                "issuer_dn": cas[0].name,
                "serial": revoked,
                "revoked_at": revoked_at,
                "reason_code": 4,
                "revoked_by": "ra-operator",
                "comment": None,
            }
        )
        # The sibling comes nearest in time: ranking must prefer names over time.
        issue(0, [f"vpn.{domain}"], revoked_at + timedelta(minutes=2), subscriber, i + 1)
        fixes[revoked] = issue(
            1,
            [f"mail.{domain}", f"www.{domain}"],
            revoked_at + timedelta(minutes=23),
            subscriber,
            i,
        )
        issue(0, [f"shop{i}.example"], revoked_at + timedelta(days=3), subscriber, i + 2)
        issue(1, [f"api.{domain}"], revoked_at + timedelta(days=9), subscriber, i + 3)
        issue(0, [f"mail.{domain}"], revoked_at + timedelta(days=20), subscriber, i + 4)
    return issuance, revocation, fixes


def run(
    cases: int, admin: str = ADMIN, *, lint: bool = True, profile: str | None = None
) -> dict[str, float]:
    """Build, load and time `cases` cases; the figures by name. `lint=False` skips the lint
    diff (its figures are then 0); `profile` writes a cProfile of rows -> records and enrich
    (the part that is Python per case) to that path."""
    began = time.perf_counter()
    issuance, revocation, fixes = build_rows(cases)
    built = time.perf_counter() - began
    figures: dict[str, float] = {"cases": cases, "build_s": built}
    with scratch_database(admin) as url:
        loader = sqlalchemy.create_engine(url)
        began = time.perf_counter()
        generic_schema.create_and_insert(loader, issuance, revocation)
        with loader.begin() as connection:
            connection.execute(sqlalchemy.text("ANALYZE"))
        loader.dispose()
        figures["load_s"] = time.perf_counter() - began

        ca = CaDatabase(url)
        try:
            since, until = T0, T0 + timedelta(days=60)
            began = time.perf_counter()
            detection = detect(
                ca.early_revocations(since, until, THRESHOLD),
                since=since,
                until=until,
                threshold=THRESHOLD,
            )
            figures["detect_s"] = time.perf_counter() - began
            found = detection.cases

            began = time.perf_counter()
            wanted = [
                (
                    case.certificate.subscriber,
                    case.certificate.issuance_time or case.revocation.revoked_at,
                    case.revocation.revoked_at + WINDOW,
                )
                for case in found
                if case.certificate.subscriber is not None
            ]
            frame = ca.replacement_candidates(wanted)
            figures["query_s"] = time.perf_counter() - began
            profiler = cProfile.Profile() if profile else None
            if profiler is not None:
                profiler.enable()
            mark = time.perf_counter()
            candidates = [certificate_from_row(row, "candidate")[0] for row in frame]
            figures["records_s"] = time.perf_counter() - mark
            mark = time.perf_counter()
            enriched = enrich(found, candidates, replacement_window=WINDOW)
            figures["enrich_s"] = time.perf_counter() - mark
            if profiler is not None and profile:
                profiler.disable()
                profiler.dump_stats(profile)
            total = time.perf_counter() - began
        finally:
            ca.close()
    # Lint every case (a night lints at most the 200 it shows; here the cost per case is the
    # point). The validators are built on the first certificate, timed on their own.
    figures |= {"lint_setup_s": 0.0, "lint_s": 0.0, "linted": 0}
    if lint:
        linter = Linter()
        mark = time.perf_counter()
        if enriched and enriched[0].certificate.der is not None:
            linter.lint(enriched[0].certificate.der)
        figures["lint_setup_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        linted = lint_cases(enriched, linter)
        figures["lint_s"] = time.perf_counter() - mark
        figures["linted"] = sum(case.lint is not None for case in linted)
    right = sum(
        1
        for case in enriched
        if case.replacement is not None
        and fixes.get(case.certificate.serial) == case.replacement.serial
    )
    figures |= {
        "found": len(found),
        "candidate_rows": len(candidates),
        "matching_s": total,
        "cases_per_s": len(found) / total if total else 0.0,
        "lint_ms_per_case": 1000 * figures["lint_s"] / len(found) if found else 0.0,
        "cases_per_s_with_lint": len(found) / (total + figures["lint_s"]) if found else 0.0,
        "right_replacement": right,
        "labelled_registrable": sum("registrable-domain-typo" in c.labels for c in enriched),
    }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=10_000, help="revoked certificates")
    parser.add_argument("--tiny", action="store_true", help="200 cases, for CI")
    parser.add_argument("--no-lint", action="store_true", help="time matching only, no pkilint")
    parser.add_argument("--profile", metavar="PATH", help="cProfile of records + enrich to PATH")
    args = parser.parse_args(argv)
    cases = 200 if args.tiny else args.cases
    f = run(cases, lint=not args.no_lint, profile=args.profile)
    print(
        f"matching + diff against PostgreSQL: {f['found']:.0f} cases x {CANDIDATES} candidates "
        f"({f['candidate_rows']:.0f} candidate rows)\n"
        f"  candidate queries  {f['query_s']:8.2f} s\n"
        f"  rows -> records    {f['records_s']:8.2f} s  (DER parsed by jobs.detect.records)\n"
        f"  enrich             {f['enrich_s']:8.2f} s  (ranking, diff, rules)\n"
        f"  total              {f['matching_s']:8.2f} s  = {f['cases_per_s']:,.0f} cases/s\n"
        f"  lint (pkilint)     {f['lint_s']:8.2f} s  = {f['lint_ms_per_case']:.1f} ms per case, "
        f"both certificates (validators built once: {f['lint_setup_s']:.2f} s, not counted)\n"
        f"  total with lint    {f['matching_s'] + f['lint_s']:8.2f} s  = "
        f"{f['cases_per_s_with_lint']:,.0f} cases/s\n"
        f"  right replacement  {f['right_replacement']:.0f} of {f['found']:.0f}; "
        f"registrable-domain-typo on {f['labelled_registrable']:.0f}\n"
        f"  (set-up, not timed: certificates {f['build_s']:.1f} s, load {f['load_s']:.1f} s, "
        f"detection {f['detect_s']:.2f} s)"
    )
    linted = f["linted"] == cases or args.no_lint
    ok = f["found"] == cases and f["right_replacement"] == cases and linted
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
