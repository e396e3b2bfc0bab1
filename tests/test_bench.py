"""The matching benchmark (bench/matching.py) at a tiny size, against the real PostgreSQL."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import create_engine, text

from tests.support.servers import PG_ADMIN, unavailable

BENCH = Path(__file__).parent.parent / "bench" / "matching.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_matching", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.postgres
def test_tiny_benchmark_finds_every_intended_replacement() -> None:
    engine = create_engine(PG_ADMIN)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        unavailable("PostgreSQL at 127.0.0.1:5432", exc)
    finally:
        engine.dispose()
    figures = _bench().run(40, admin=PG_ADMIN)
    assert figures["found"] == 40
    # Names beat time: the sibling issued 2 min after revocation never wins over the fix.
    assert figures["right_replacement"] == 40
    assert figures["labelled_registrable"] == 40
    assert figures["candidate_rows"] == 40 * 6  # five candidates plus the revoked certificate
    assert figures["cases_per_s"] > 0
    # Every case linted, and lint timed apart: cases/s with lint below those without.
    assert figures["linted"] == 40
    assert 0 < figures["cases_per_s_with_lint"] < figures["cases_per_s"]


def test_the_pairing_benchmark_runs_and_finds_the_typo() -> None:
    spec = importlib.util.spec_from_file_location("bench_pairing", BENCH.parent / "pairing.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.run(300)
    assert figures["replacement"] == "4" and figures["typo_found"]


@pytest.mark.postgres
def test_the_watch_benchmark_finds_every_planted_typo(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import watch as bench_watch

    assert bench_watch.main(["300"]) == 0
    out = capsys.readouterr().out
    assert "near-siblings found: 3 of 3 planted" in out and "peak RSS" in out
