"""The Boulder profile on Boulder's real schema in real MariaDB, through the whole job.

One Boulder database holds: a typo revoked and replaced, a serial revoked as a precertificate with
no final certificate, an ARI replacement declared against a closer decoy, status rows with zero
dates, a late revocation, revocations outside the window and a row appended out of time order.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from jobs.core import settings as config
from jobs.face.cli import main
from jobs.pipeline import nightly as pipeline
from jobs.source.database import CaDatabase
from jobs.source.profiles.base import ProfileOptions
from tests.support.boulder_data import E1, EXPECTED, R3, SINCE, UNTIL, build, run_job
from tests.support.ca_schemas import boulder_issuer_id, insert, run_script, scratch_database


@pytest.fixture(scope="module")
def boulder_db(mariadb_server_url: URL) -> Iterator[URL]:
    with scratch_database(mariadb_server_url, "boulder") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "boulder.mysql.sql")
            insert(engine, build().rows)
        finally:
            engine.dispose()
        yield url


def test_the_right_cases_reasons_and_no_guessed_operator(boulder_db: URL, tmp_path: Path) -> None:
    cases = {c["serial"]: c for c in run_job(boulder_db, tmp_path)["cases"]}
    assert {s: (c["issuer"], c["reason_code"]) for s, c in cases.items()} == EXPECTED
    for case in cases.values():
        assert case["revoked_by"] is None
        assert "not stored in Boulder's database" in case["comment"]
        assert case["subscriber"] in {"101", "102", "103", "104"}
    typo = cases["51"]
    assert typo["seconds_to_revocation"] == 4 * 3600 + 38 * 60
    assert typo["replacement"]["serial"] == "52" and "likely-typo" in typo["labels"]
    assert typo["sha256"] is not None


def test_a_precertificate_only_revocation_is_a_case(boulder_db: URL, tmp_path: Path) -> None:
    case = {c["serial"]: c for c in run_job(boulder_db, tmp_path)["cases"]}["61"]
    assert case["names"] == ["pre.example"]
    assert case["sha256"] is None  # the linting certificate is not the real one
    assert "precertificate" in case["comment"]
    assert case["issued_at"] == "2026-03-09T05:00:00+00:00"


def test_the_declared_ari_replacement_beats_a_closer_decoy(boulder_db: URL, tmp_path: Path) -> None:
    ca = CaDatabase(boulder_db, "boulder")
    try:
        declared = ca.declared_replacements([(R3.name, "71"), (R3.name, "51")])
    finally:
        ca.close()
    assert declared == {(R3.name, "71"): (R3.name, "73")}
    if "declared_replacements" in inspect.getsource(pipeline):  # wired by the lead
        case = {c["serial"]: c for c in run_job(boulder_db, tmp_path)["cases"]}["71"]
        assert case["replacement"]["serial"] == "73"


def test_a_narrow_lookback_still_pages_to_the_window(boulder_db: URL) -> None:
    # One-row pages: the binary search and the keyset walk must not skip or repeat a row.
    import jobs.source.profiles.boulder as boulder

    ca = CaDatabase(
        boulder_db, "boulder", options=ProfileOptions(boulder_lookback=timedelta(hours=2))
    )
    page, boulder.PAGE_SIZE = boulder.PAGE_SIZE, 1
    try:
        frame = ca.early_revocations(SINCE, UNTIL, timedelta(days=7))
    finally:
        boulder.PAGE_SIZE = page
        ca.close()
    assert sorted(row["serial"].lstrip("0") for row in frame) == ["51", "61", "71", "91"]
    assert boulder_issuer_id(R3) != boulder_issuer_id(E1)


@pytest.mark.skipif("boulder" not in config.PROFILES, reason="config.PROFILES lacks boulder (lead)")
def test_the_cli_runs_the_boulder_profile(boulder_db: URL, tmp_path: Path) -> None:
    code = main(
        [
            "run",
            "--profile",
            "boulder",
            "--ca-db",
            boulder_db.render_as_string(hide_password=False),
            "--since",
            SINCE.isoformat(),
            "--until",
            UNTIL.isoformat(),
            "--no-mail",
            "--out",
            str(tmp_path),
            "--state-db",
            f"sqlite:///{tmp_path / 'none' / 's.sqlite'}",
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert {c["serial"] for c in report["cases"]} == set(EXPECTED)
