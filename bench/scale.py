"""Scale benchmark (issues #6, #12): builds CA databases in PostgreSQL and prints the figures.

    .venv/bin/python bench/scale.py --size full|small|tiny [--pg ADMIN_URL] [--only P1,P4]
                                    [--keep] [--no-variants] [--cprofile] [--json]

Sizes (big / small table, certificates / revocations; mass night of P4):
full 10M/1M and 1M/100k, 100,000 cases; small 1M/100k and 100k/10k, 10,000; tiny 20k/2k and
2k/200, 1,000. The figures (P7: the report's 30-day trend and operators) run on the generic
schema with DER; P1 and P2 are then repeated for
the generic schema without DER and the EJBCA schema with and without DER (`--no-variants` skips
them). Databases are named `<prefix>_<schema>_<der|noder>_<size>[_mass<n>]`, reused when a
finished build of the same content exists, and dropped at the end unless `--keep`.

Prints the machine, the date and one table row per figure (target, pass or miss) on stdout and its
progress on stderr; with `--json`, the last line of stdout is one JSON object of the figures as
numbers: {"size", "P1".."P7": {...} or null for a figure not run or failed} (P4 and P5 with
"cases", "seconds", "rss_mb", "floor_seconds", "ratio"; P6 with "seconds", "help_seconds").
Exits 1 when a figure got a wrong answer or failed (a slow one is a `miss`, not a failure). It
creates and drops only databases whose names start with its prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from bench import children, databases, figures
from bench.databases import Built, Spec, Templates
from bench.figures import Row
from jobs.core.settings import utcnow

SIZES = {
    "full": (10_000_000, 1_000_000, 100_000),
    "small": (1_000_000, 100_000, 10_000),
    "tiny": (20_000, 2_000, 1_000),
}
FIGURES = ("P1", "P2", "P3", "P4", "P5", "P6", "P7")
# Issue #15's targets (P4 and P5 also as ratios to a floor measured in the same run).
TARGETS = {"P1": "<= 1.1x", "P2": "<= 1.5x", "P3": ">= 100x", "P4": children.P4_TARGET,
           "P5": children.P5_TARGET, "P6": children.P6_TARGET, "P7": "<= 1 s"}  # fmt: skip
# The primary variant (every figure) first; the others repeat P1 and P2.
VARIANTS = (("generic", True), ("generic", False), ("ejbca", True), ("ejbca", False))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine(admin: URL) -> list[str]:
    """The machine and the date, as the table's header."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    engine = create_engine(admin)
    try:
        with engine.connect() as connection:
            version = connection.execute(databases.statements()["server_version"].clause())
            server = str(version.scalar()).split(" on ")[0]
    finally:
        engine.dispose()
    return [
        f"date:     {utcnow():%Y-%m-%d %H:%M} UTC",
        f"machine:  {len(os.sched_getaffinity(0))} CPUs ({cpu}), {memory} memory",
        f"software: {server}; Python {platform.python_version()}",
    ]


def guarded(figure: str, what: str, action: Callable[[], Row]) -> Row:
    """A figure that raised becomes a failed row naming the error; the others still run."""
    log(f"measuring {figure}: {what}")
    try:
        row = action()
    except Exception as exc:  # a benchmark reports every failure and goes on
        row = Row(figure, what, "error", TARGETS[figure], False, "", f"{type(exc).__name__}: {exc}")
    log(f"  {row.measured} ({'pass' if row.ok else 'miss'}) {row.note}")
    return row


def table(rows: list[Row]) -> list[str]:
    """Plain text: one line per figure, its note and any problem indented under it."""
    what = max(len(r.what) for r in rows)
    measured = max(len(r.measured) for r in rows)
    target = max(len(r.target) for r in rows)
    lines = [f"{'':3} {'figure':<{what}} {'measured':<{measured}} {'target':<{target}} result"]
    for r in rows:
        result = "pass" if r.ok else "miss"
        lines.append(
            f"{r.figure:3} {r.what:<{what}} {r.measured:<{measured}} {r.target:<{target}} {result}"
        )
        if r.note:
            lines.append(f"      {r.note}")
        if r.problem:
            lines.append(f"      PROBLEM: {r.problem}")
    return lines


class Bench:
    """One run: the databases it made or reused, and where scratch files go."""

    def __init__(self, admin: URL, prefix: str, templates: Templates, scratch: Path) -> None:
        self.admin, self.prefix, self.templates = admin, prefix, templates
        self.scratch = scratch
        self.built: dict[str, Built] = {}
        self.made: list[str] = []  # one line per database: size and build time

    def database(self, spec: Spec) -> Built:
        if spec.name not in self.built:
            built = databases.ensure(self.admin, self.prefix, spec, self.templates, log)
            self.built[spec.name] = built
            how = "reused" if built.seconds is None else f"built in {built.seconds:.0f} s"
            size = databases.size(self.admin, built.name)
            self.made.append(f"  {built.name}: {size / 1e9:.2f} GB, {how}")
        return self.built[spec.name]

    def folder(self, name: str) -> Path:
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def drop(self, spec: Spec) -> None:
        built = self.built.pop(spec.name, None)
        if built is not None:
            databases.drop(self.admin, built.name)


def _p1_p2(bench: Bench, big: Spec, small: Spec) -> list[Row]:
    return [
        guarded("P1", f"P1 {big.variant}", lambda: figures.p1(
            bench.database(big), bench.database(small), bench.folder("p1"))),
        guarded("P2", f"P2 {big.variant}", lambda: figures.p2(bench.database(big))),
    ]  # fmt: skip


def variants(bench: Bench, big_n: int, small_n: int, keep: bool) -> list[str]:
    """P1 and P2 for each schema variant other than the primary one."""
    lines = []
    for schema, der in VARIANTS[1:]:
        if not databases.schema_available(schema):
            lines.append(f"  {schema}: skipped, no sql/schema/{schema}.postgresql.sql")
            continue
        big, small = Spec(schema, der, big_n), Spec(schema, der, small_n)
        for row in _p1_p2(bench, big, small):
            result = "pass" if row.ok else "miss"
            lines.append(f"  {big.variant:<16} {row.figure} {row.measured} ({result}); {row.note}")
            if row.problem:
                lines.append(f"      PROBLEM: {row.problem}")
        if not keep:  # free the disk before the next variant
            bench.drop(big)
            bench.drop(small)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="revwatch scale benchmark (issue #6)")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument(
        "--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test", help="admin URL"
    )
    parser.add_argument("--only", help="comma-separated figures, e.g. P1,P4")
    parser.add_argument("--keep", action="store_true", help="keep the databases for a re-run")
    parser.add_argument("--prefix", default="revwatch_bench", help="database name prefix")
    parser.add_argument("--no-variants", action="store_true", help="skip the other schemas")
    parser.add_argument("--cprofile", action="store_true", help="profile P4 once more")
    parser.add_argument(
        "--json", action="store_true", help="end stdout with one JSON line of the figures"
    )
    args = parser.parse_args(argv)
    only = [f.strip().upper() for f in args.only.split(",")] if args.only else list(FIGURES)
    unknown = sorted(set(only) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}: use {', '.join(FIGURES)}")
    big_n, small_n, mass = SIZES[args.size]
    admin = make_url(args.pg)
    print("\n".join(machine(admin)), flush=True)
    figures.quiet()
    with tempfile.TemporaryDirectory(prefix="revwatch-bench-") as scratch:
        bench = Bench(admin, args.prefix, databases.make_templates(), Path(scratch))
        try:
            return _measure(bench, args, only, (big_n, small_n, mass))
        finally:
            if not args.keep:
                for name in list(bench.built):
                    databases.drop(admin, bench.built.pop(name).name)


def _measure(bench: Bench, args: argparse.Namespace, only: list[str], size: tuple[int, ...]) -> int:
    big_n, small_n, mass = size
    big = Spec("generic", True, big_n, mass=mass)
    small = Spec("generic", True, small_n)
    actions: dict[str, tuple[str, Callable[[], Row]]] = {
        "P1": ("nightly run", lambda: figures.p1(
            bench.database(big), bench.database(small), bench.folder("p1"))),
        "P2": ("query phase", lambda: figures.p2(bench.database(big))),
        "P3": ("naive pandas", lambda: figures.p3(bench.database(small))),
        "P4": ("mass night", lambda: children.p4(bench.database(big), bench.folder("p4"))),
        "P5": ("backfill", lambda: children.p5(bench.database(big), bench.folder("p5"))),
        "P6": ("empty night", lambda: children.p6(bench.database(big), bench.folder("p6"))),
        "P7": ("30-day trend", lambda: figures.p7(bench.database(big))),
    }  # fmt: skip
    rows = [guarded(f, actions[f][0], actions[f][1]) for f in FIGURES if f in only]
    print(f"\nrevwatch scale benchmark, --size {args.size} (warm cache; medians; 1 MB = 10^6 B)")
    print("\n".join(table(rows)), flush=True)
    extra: list[str] = []
    if {"P1", "P2"} & set(only) and not args.no_variants:
        extra = variants(bench, big_n, small_n, args.keep)
        print("\nP1 and P2 for the other schema variants:")
        print("\n".join(extra), flush=True)
    if args.cprofile and "P4" in only:
        print("\n" + children.p4_profile(bench.database(big), bench.folder("p4-profile")))
    print("\ndatabases (this run):")
    print("\n".join(bench.made), flush=True)
    if args.json:
        print(json.dumps(figures_json(args.size, rows)), flush=True)
    failed = any(r.problem for r in rows) or any("PROBLEM" in line for line in extra)
    return 1 if failed else 0


def figures_json(size: str, rows: list[Row]) -> dict[str, object]:
    """The figures as one object: each figure's numbers and verdict, null when not run or when
    it raised (its table row says why)."""
    found: dict[str, object] = {"size": size, **dict.fromkeys(FIGURES)}
    for row in rows:
        if row.data:
            found[row.figure] = {**row.data, "pass": row.ok, "problem": row.problem}
    return found


if __name__ == "__main__":
    raise SystemExit(main())
