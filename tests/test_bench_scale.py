"""The scale benchmark (bench/scale.py) once at its tiny size against the real PostgreSQL, so that
it cannot rot: it must finish, print the seven figures with a target and a verdict each, find what
its data says it should, end with its `--json` line, and drop every database it made. Timings are
not asserted here; the benchmark's table is the place for them."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.servers import PG_ADMIN, unavailable

REPO = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^(P[1-7]) +(.+?) +(pass|miss)$")


def _databases(prefix: str) -> list[str]:
    engine = create_engine(PG_ADMIN)
    try:
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :pattern"),
                {"pattern": prefix + "%"},
            )
            return [str(name) for name in found.scalars()]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_tiny_scale_benchmark_prints_its_figures_and_cleans_up() -> None:
    try:
        _databases("revwatch_benchtest")
    except Exception as exc:
        unavailable("PostgreSQL at 127.0.0.1:5432", exc)
    prefix = f"revwatch_benchtest_{secrets.token_hex(3)}"
    argv = ["bench/scale.py", "--size", "tiny", "--pg", PG_ADMIN, "--prefix", prefix, "--json"]
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,  # ~25 s on a quiet machine; a shared CI runner may be several times slower
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    rows = {m.group(1): m.group(2) for m in map(ROW.match, lines) if m}
    assert sorted(rows) == ["P1", "P2", "P3", "P4", "P5", "P6", "P7"], done.stdout
    assert "PROBLEM" not in done.stdout
    # The tiny mass night is 1,000 cases, mailed once and counted in the attached CSV.
    assert "1,000-case night end to end" in rows["P4"]
    assert re.search(r"\d+\.\d+ MB message", rows["P4"])
    assert re.search(r"message parts \(encoded\): text/plain .+ early-revocations", done.stdout)
    # The backfill found exactly the early revocations the bare join returns.
    assert re.search(r"^ +\d[\d,]* cases in 46 chunks", done.stdout, re.MULTILINE)
    assert any(line.startswith("date:") for line in lines)
    assert any(line.startswith("machine:") and "CPUs" in line for line in lines)
    assert any(line.startswith("software:") and "PostgreSQL" in line for line in lines)
    # The schema variants repeat P1 and P2; EJBCA's DDL is part of the repository.
    assert sum("ejbca" in line and " P2 " in line for line in lines) == 2, done.stdout
    assert _databases(prefix) == []
    # --json: one object, the last line, every figure's numbers (P4 and P5 against their floor).
    figures = json.loads(lines[-1])
    assert figures["size"] == "tiny"
    assert set(figures) >= {"P1", "P2", "P3", "P4", "P5", "P6", "P7"}
    for figure in ("P4", "P5"):
        assert {"cases", "seconds", "rss_mb", "floor_seconds", "ratio"} <= set(figures[figure])
        data = figures[figure]
        assert data["floor_seconds"] > 0 and data["seconds"] > 0 and data["rss_mb"] > 0
        assert data["ratio"] == pytest.approx(data["seconds"] / data["floor_seconds"])
    assert figures["P4"]["cases"] == 1000
    # P4's profile: the night's own phase timings (its --verbose lines), one line of each.
    phases = figures["P4"]["phases"]
    assert sorted(p.split(" ", 1)[0] for p in phases) == ["cases:", "issuance", "report"], phases
    assert any(p.startswith("cases: 1000 found") and "enrichment" in p for p in phases)
    assert re.search(r"phases \(the run's -v lines\): .*cases: 1000 found", done.stdout)
    assert figures["P5"]["cases"] > 0
    assert figures["P6"]["seconds"] > 0 and figures["P6"]["help_seconds"] > 0
    assert figures["P2"]["window_days"] == 30 and figures["P2"]["ratio"] > 0
