"""The Boulder profile on Boulder's real schema in real MariaDB, through the whole job.

One Boulder database holds: a typo revoked and replaced, a serial revoked as a precertificate with
no final certificate, an ARI replacement declared against a closer decoy, status rows with zero
dates, a late revocation, revocations outside the window and a row appended out of time order.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from jobs.core import settings as config
from jobs.core.settings import Settings
from jobs.demo.certfactory import CertificateAuthority
from jobs.face.cli import main
from jobs.pipeline import nightly as pipeline
from jobs.pipeline.nightly import run_once
from jobs.source.database import CaDatabase
from jobs.source.profiles.base import ProfileOptions
from tests.ca_schemas import BoulderData, boulder_issuer_id, insert, run_script, scratch_database

NOW = datetime(2026, 3, 10, 2, 15, tzinfo=UTC)
SINCE, UNTIL = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
T = SINCE
R3 = CertificateAuthority.create("R3", "Let's Encrypt", now=NOW, country="US")
E1 = CertificateAuthority.create("E1", "Let's Encrypt", now=NOW, country="US")
H = timedelta(hours=1)


S = timedelta(seconds=1)


def build() -> BoulderData:
    d = BoulderData()
    for account in (101, 102, 103, 104):
        d.registration(account, T - timedelta(days=100))
    issued_p = T - timedelta(hours=1, minutes=31)
    # P: a typo, replaced 23 min after its revocation (status rows with zero dates).
    d.issue(
        R3, ["mail.cuatis.net"], serial=0x51, account=101, issued=issued_p, zero_date_status=True
    )
    d.issue(
        R3,
        ["mail.cualtis.net"],
        serial=0x52,
        account=101,
        issued=issued_p + timedelta(hours=5, minutes=1),
        zero_date_status=True,
    )
    # R: a precertificate; no final certificate ever issued.
    d.issue(E1, ["pre.example"], serial=0x61, account=102, issued=T + 5 * H, final=False)
    # S: ARI. 0x72 is closer in time with the same name; 0x73 is what the client declared.
    d.issue(R3, ["shop.example"], serial=0x71, account=103, issued=T + 7 * H)
    d.issue(R3, ["shop.example"], serial=0x72, account=103, issued=T + 8 * H + 300 * S)
    d.issue(
        R3,
        ["shop.example", "www.shop.example"],
        serial=0x73,
        account=103,
        issued=T + 9 * H + 1800 * S,
    )
    d.declare_replacement(0x71, 0x73, account=103, when=T + 9 * H)
    # W: late (36 days). X: early but revoked before the window. Y: see below. Z: next day.
    d.issue(R3, ["late.example"], serial=0x81, account=104, issued=T - timedelta(days=36))
    d.issue(R3, ["before.example"], serial=0x82, account=104, issued=T - 3 * H)
    d.issue(E1, ["skew.example"], serial=0x91, account=104, issued=T + 11 * H)
    d.issue(R3, ["tomorrow.example"], serial=0xA1, account=104, issued=UNTIL + H)
    # Revocations are appended in time order, as Boulder's SA writes them...
    d.revoke(R3, 0x82, when=T - 2 * H, reason=0)
    d.revoke(R3, 0x51, when=issued_p + timedelta(hours=4, minutes=38), reason=0)
    d.revoke(E1, 0x61, when=T + 6 * H, reason=1)
    d.revoke(R3, 0x71, when=T + 8 * H, reason=4)
    d.revoke(R3, 0x81, when=T + 10 * H, reason=5)
    # ...except Y, written by another SA instance just after a later one (inside the look-back).
    d.revoke(R3, 0x81, when=T + 13 * H, reason=5)
    d.revoke(E1, 0x91, when=T + 12 * H, reason=0)
    d.revoke(R3, 0xA1, when=UNTIL + 2 * H, reason=0)
    return d


EXPECTED = {  # serial (report spelling) -> (issuer, reason code)
    "51": (R3.name, 0),
    "61": (E1.name, 1),
    "71": (R3.name, 4),
    "91": (E1.name, 0),
}


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


def run_job(url: URL, out: Path) -> dict[str, Any]:
    settings = Settings(
        ca_db=url.render_as_string(hide_password=False),
        profile="boulder",
        since=SINCE,
        until=UNTIL,
        threshold=timedelta(days=7),
        no_mail=True,
        out=out,
        state_db=f"sqlite:///{out / 'absent' / 'state.sqlite'}",
    )
    run_once(settings, NOW)
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


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

    ca = CaDatabase(boulder_db, "boulder", options=ProfileOptions(lookback=timedelta(hours=2)))
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
