"""The ledger on SQLite and on PostgreSQL: migrations, the watermark, reported cases, the lock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from jobs.core.errors import LockHeldError
from jobs.state import schema
from jobs.state.ledger import LOOKUP_BATCH, Ledger, ReportedCase, RunRecord

T0 = datetime(2026, 11, 1, 2, 15, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    if request.param == "sqlite":
        yield make_url(f"sqlite:///{tmp_path / 'state.sqlite'}")
    else:
        yield request.getfixturevalue("pg_database")


def _run(run_id: str, since: datetime, until: datetime, outcome: str = "success") -> RunRecord:
    return RunRecord(
        run_id=run_id, started_at=until, finished_at=until + timedelta(seconds=5),
        window_since=since, window_until=until, threshold_seconds=604800, cases_found=1,
        cases_new=1, outcome=outcome, error=None if outcome == "success" else "smtp down",
    )  # fmt: skip


def _case(serial: str, issuer: str = "CN=CA 1") -> ReportedCase:
    return (issuer, serial, T0)


def test_migrations_are_versioned_and_applied_once(state_url: URL) -> None:
    ledger = Ledger.open(state_url)
    try:
        assert ledger.migrate() == []
        with ledger.engine.connect() as connection:
            versions = (
                connection.execute(
                    text("SELECT version FROM revwatch_schema_migrations ORDER BY version")
                )
                .scalars()
                .all()
            )
        assert versions == list(range(1, schema.latest_version() + 1))
    finally:
        ledger.close()


def test_only_a_success_moves_the_watermark(state_url: URL) -> None:
    ledger = Ledger.open(state_url)
    try:
        assert ledger.watermark() is None
        ledger.record_failure(_run("r1", T0 - timedelta(days=2), T0 - timedelta(days=1), "failed"))
        assert ledger.watermark() is None and ledger.reported([("CN=CA 1", "a")]) == {}
        ledger.record_success(_run("r2", T0 - timedelta(days=1), T0), [_case("a")])
        ledger.record_failure(_run("r3", T0, T0 + timedelta(days=1), outcome="failed"))
        assert ledger.watermark() == T0
        assert ledger.last_success() == T0 + timedelta(seconds=5)
        assert [r["run_id"] for r in ledger.recent_runs()] == ["r3", "r2", "r1"]
    finally:
        ledger.close()


def test_reported_compares_issuer_and_serial(state_url: URL) -> None:
    ledger = Ledger.open(state_url)
    try:
        many = [_case(format(n, "x")) for n in range(LOOKUP_BATCH + 50)]
        ledger.record_success(_run("r1", T0 - timedelta(days=1), T0), [*many, _case("ff", "CN=B")])
        keys = [c[:2] for c in many] + [("CN=CA 2", "1"), ("CN=B", "ff"), ("CN=CA 1", "zz")]
        found = ledger.reported(keys)
        assert set(found) == {c[:2] for c in many} | {("CN=B", "ff")}
        assert ("CN=CA 2", "1") not in found  # same serial, another issuer: not reported
        assert set(found.values()) == {"r1"}
    finally:
        ledger.close()


def test_a_case_is_reported_once_even_if_a_run_tries_again(state_url: URL) -> None:
    ledger = Ledger.open(state_url)
    try:
        ledger.record_success(_run("r1", T0 - timedelta(days=1), T0), [_case("a")])
        with pytest.raises(Exception, match=r"(?i)unique|primary|duplicate|constraint"):
            ledger.record_success(_run("r2", T0, T0 + timedelta(days=1)), [_case("a")])
        # The failed transaction left nothing behind: r2 is not in the ledger.
        assert [r["run_id"] for r in ledger.recent_runs()] == ["r1"]
    finally:
        ledger.close()


def test_run_outcomes(state_url: URL) -> None:
    ledger = Ledger.open(state_url)
    try:
        ledger.record_failure(_run("r1", T0 - timedelta(days=1), T0, "failed"))
        ledger.record_success(_run("r2", T0 - timedelta(days=1), T0), [])
        assert ledger.run_outcomes(["r1", "r2", "r3"]) == {"r1": "failed", "r2": "success"}
    finally:
        ledger.close()


def test_the_lock_admits_one_run(state_url: URL) -> None:
    first, second = Ledger.open(state_url), Ledger.open(state_url)
    try:
        with (
            first.lock(),
            pytest.raises(LockHeldError, match="another revwatch run"),
            second.lock(),
        ):
            pass
        with second.lock():  # released when the first run ended
            pass
    finally:
        first.close()
        second.close()
