"""The EJBCA profile on EJBCA's real schema, in real PostgreSQL and MariaDB, through the whole job.

One EJBCA database per server holds every situation the issue names (archived-but-revoked, a
released hold, DER only in Base64CertData, a NULL subjectAltName column, garbage base64, a serial
shared by two CAs, request history, NoConflictCertificateData, late revocations and revocations
outside the window); the job runs against it with explicit --since/--until and report.json is
checked case by case: which cases, replacements, reasons and operators.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from jobs.core import settings as config
from jobs.core.settings import Settings
from jobs.demo.certfactory import CertificateAuthority
from jobs.face.cli import main
from jobs.pipeline.nightly import run_once
from tests.ca_schemas import EjbcaData, insert, run_script, scratch_database

NOW = datetime(2026, 3, 10, 2, 15, tzinfo=UTC)
SINCE, UNTIL = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
T = datetime(2026, 3, 9, tzinfo=UTC)  # the window's first instant
CA1 = CertificateAuthority.create("Issuing CA 1", "Revwatch Test", now=NOW, country="SE")
CA2 = CertificateAuthority.create("Issuing CA 2", "Revwatch Test", now=NOW, country="SE")
CA3 = CertificateAuthority.create("Throwaway CA", "Revwatch Test", now=NOW, country="SE")
OPERATOR = "CN=RA Operator jlopez,O=Revwatch Test"


def build() -> tuple[EjbcaData, dict[str, bytes]]:
    """The EJBCA rows of every situation; returns the data and the DER of the cases."""
    d = EjbcaData()
    ders: dict[str, bytes] = {}
    h = timedelta(hours=1)
    # A: a typo revoked 4 h 38 min after issuance, replaced 23 min later; the operator is audited.
    issued_a = T - timedelta(hours=1, minutes=31)
    ders["a"] = d.certificate(
        CA1,
        ["mail.cuatis.net"],
        serial=0x1001,
        issued=issued_a,
        username="alice",
        status=40,
        reason=0,
        revoked=issued_a + timedelta(hours=4, minutes=38),
    )
    d.certificate(
        CA1,
        ["mail.cualtis.net"],
        serial=0x1002,
        username="alice",
        issued=issued_a + timedelta(hours=5, minutes=1),
    )
    d.audit(
        actor=OPERATOR,
        ca_dn=CA1.name,
        serial=0x1001,
        username="alice",
        when=issued_a + timedelta(hours=4, minutes=38),
        message="Revoked certificate for username 'alice', revocationReason=0.",
    )
    # C: archived but revoked (status 60, reason keyCompromise).
    ders["c"] = d.certificate(
        CA1,
        ["vpn.bob.example"],
        serial=0x1003,
        issued=T,
        username="bob",
        status=60,
        reason=1,
        revoked=T + 2 * h,
    )
    d.audit(
        actor="CN=SuperAdmin",
        ca_dn=CA1.name,
        serial=0x1003,
        username="bob",
        when=T + 2 * h,
        message="Revoked certificate for username 'bob', revocationReason=1.",
    )
    # D, E: archived and expired (-1), archived after removeFromCRL (8): not revoked.
    d.certificate(CA1, ["old.example"], serial=0x1004, issued=T, username="bob", status=60)
    d.certificate(
        CA1,
        ["hold.example"],
        serial=0x1005,
        issued=T,
        username="bob",
        status=60,
        reason=8,
        revoked=T + h,
    )
    # F: released from hold: back at status 20, the revocationDate kept.
    d.certificate(
        CA1,
        ["released.example"],
        serial=0x1006,
        issued=T,
        username="carol",
        status=20,
        reason=-1,
        revoked=T + h,
    )
    d.audit(
        actor=OPERATOR,
        ca_dn=CA1.name,
        serial=0x1006,
        username="carol",
        when=T + h,
        message="Revoked certificate for username 'carol', revocationReason=6.",
    )
    d.audit(
        actor=OPERATOR,
        ca_dn=CA1.name,
        serial=0x1006,
        username="carol",
        when=T + 2 * h,
        message="Unrevoked certificate for username 'carol'.",
    )
    # G, H, I: DER only in Base64CertData; NULL subjectAltName; garbage base64.
    ders["g"] = d.certificate(
        CA1,
        ["b64.example"],
        serial=0x1007,
        issued=T,
        username="dave",
        status=40,
        reason=4,
        revoked=T + 3 * h,
        storage="table",
    )
    ders["h"] = d.certificate(
        CA1,
        ["www.erin.example", "erin.example"],
        serial=0x1008,
        issued=T,
        username="erin",
        status=40,
        reason=5,
        revoked=T + 3 * h,
        san_column=False,
    )
    d.certificate(
        CA1,
        ["garbage.example"],
        serial=0x1009,
        issued=T,
        username="frank",
        status=40,
        reason=0,
        revoked=T + 3 * h,
        storage="garbage",
    )
    # J: the same serial at two CAs; only CA1's is revoked. A decoy event names CA2's.
    ders["j"] = d.certificate(
        CA1,
        ["grace-ca1.example"],
        serial=0x2000,
        issued=T,
        username="grace",
        status=40,
        reason=3,
        revoked=T + 4 * h,
    )
    d.certificate(CA2, ["heidi-ca2.example"], serial=0x2000, issued=T, username="heidi")
    d.audit(
        actor="CN=Wrong CA Operator",
        ca_dn=CA2.name,
        serial=0x2000,
        username="grace",
        when=T + 4 * h,
        message="Revoked certificate for username 'grace'.",
    )
    d.audit(
        actor="CN=RA Operator grace-admin",
        ca_dn=CA1.name,
        serial=0x2000,
        username="grace",
        when=T + 4 * h + timedelta(seconds=1),
        message="Revoked certificate for username 'grace'.",
    )
    # K: late (17 days); L: early but before the window.
    d.certificate(
        CA1,
        ["late.example"],
        serial=0x100A,
        issued=T - timedelta(days=17),
        username="kim",
        status=40,
        reason=0,
        revoked=T + h,
    )
    d.certificate(
        CA1,
        ["before.example"],
        serial=0x100B,
        issued=T - 2 * h,
        username="kim",
        status=40,
        reason=0,
        revoked=T - h,
    )
    # M: notBefore backdated 8 days, request history says issued 1 h before revocation.
    ders["m"] = d.certificate(
        CA1,
        ["history.example"],
        serial=0x100C,
        issued=T + 5 * h,
        username="ivan",
        status=40,
        reason=9,
        revoked=T + 6 * h,
        not_before=T - timedelta(days=8),
        history=T + 5 * h,
    )
    # N: a throwaway CA keeps revocations only in NoConflictCertificateData.
    der_n = CA3.issue(
        ["nc.example"], not_before=T + 6 * h, not_after=T + timedelta(days=30), serial=0x3001
    )
    d.noconflict(CA3, der_n, serial=0x3001, status=20, reason=-1, revoked=None, updated=T + 7 * h)
    d.noconflict(
        CA3, der_n, serial=0x3001, status=40, reason=1, revoked=T + 8 * h, updated=T + 8 * h
    )
    ders["n"] = der_n
    der_o = CA3.issue(
        ["nc-hold.example"], not_before=T + 6 * h, not_after=T + timedelta(days=30), serial=0x3002
    )
    d.noconflict(
        CA3, der_o, serial=0x3002, status=40, reason=6, revoked=T + 9 * h, updated=T + 9 * h
    )
    d.noconflict(CA3, der_o, serial=0x3002, status=20, reason=-1, revoked=None, updated=T + 10 * h)
    return d, ders


EXPECTED = {  # serial -> (issuer, reason code, operator)
    "1001": (CA1.name, 0, OPERATOR),
    "1003": (CA1.name, 1, "CN=SuperAdmin"),
    "1007": (CA1.name, 4, None),
    "1008": (CA1.name, 5, None),
    "1009": (CA1.name, 0, None),
    "2000": (CA1.name, 3, "CN=RA Operator grace-admin"),
    "100c": (CA1.name, 9, None),
    "3001": (CA3.name, 1, None),
}


@pytest.fixture(scope="module", params=["postgresql", "mysql"])
def ejbca_db(
    request: pytest.FixtureRequest, pg_server_url: URL, mariadb_server_url: URL
) -> Iterator[tuple[URL, dict[str, bytes]]]:
    server = pg_server_url if request.param == "postgresql" else mariadb_server_url
    with scratch_database(server, "ejbca") as url:
        engine = create_engine(url)
        try:
            run_script(engine, f"ejbca.{request.param}.sql")
            data, ders = build()
            insert(engine, data.rows)
        finally:
            engine.dispose()
        yield url, ders


def run_job(url: URL, out: Path, **extra: Any) -> dict[str, Any]:
    settings = Settings(
        ca_db=url.render_as_string(hide_password=False),
        profile="ejbca",
        since=SINCE,
        until=UNTIL,
        threshold=timedelta(days=2),
        no_mail=True,
        out=out,
        state_db=f"sqlite:///{out / 'absent' / 'state.sqlite'}",
        **extra,
    )
    run_once(settings, NOW)
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def by_serial(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["serial"]: case for case in report["cases"]}


def test_the_right_cases_reasons_and_operators(
    ejbca_db: tuple[URL, dict[str, bytes]], tmp_path: Path
) -> None:
    url, _ = ejbca_db
    cases = by_serial(run_job(url, tmp_path))
    assert set(cases) == set(EXPECTED)
    for serial, (issuer, reason, operator) in EXPECTED.items():
        assert (cases[serial]["issuer"], cases[serial]["reason_code"]) == (issuer, reason), serial
        assert cases[serial]["revoked_by"] == operator, serial


def test_typo_replacement_and_issuance_time_from_the_validity_offset(
    ejbca_db: tuple[URL, dict[str, bytes]], tmp_path: Path
) -> None:
    url, ders = ejbca_db
    case = by_serial(run_job(url, tmp_path))["1001"]
    assert case["names"] == ["mail.cuatis.net"]
    assert case["replacement"]["serial"] == "1002"
    assert case["replacement"]["names"] == ["mail.cualtis.net"]
    assert "likely-typo" in case["labels"]
    # notBefore is issuance - 10 min: the issuance time is recovered exactly.
    assert case["seconds_to_revocation"] == 4 * 3600 + 38 * 60
    assert case["issued_at"] == "2026-03-08T22:29:00+00:00"
    assert case["sha256"] == hashlib.sha256(ders["a"]).hexdigest()


def test_storage_variants_and_collision(
    ejbca_db: tuple[URL, dict[str, bytes]], tmp_path: Path
) -> None:
    url, ders = ejbca_db
    cases = by_serial(run_job(url, tmp_path))
    assert cases["1007"]["sha256"] == hashlib.sha256(ders["g"]).hexdigest()  # Base64CertData
    assert cases["1008"]["names"] == ["www.erin.example", "erin.example"]  # from the DER
    garbage = cases["1009"]
    assert "data.der_unparseable" in {f["code"] for f in garbage["findings"]}
    assert garbage["names"] == ["garbage.example"]  # from the subjectAltName column
    assert "data-problem" in garbage["labels"]
    collided = cases["2000"]
    assert collided["names"] == ["grace-ca1.example"]
    assert collided["sha256"] == hashlib.sha256(ders["j"]).hexdigest()
    assert cases["100c"]["seconds_to_revocation"] == 3600  # request history, not notBefore
    assert cases["3001"]["names"] == ["nc.example"]  # NoConflictCertificateData


def test_a_legacy_schema_without_notbefore_and_san_columns(
    pg_server_url: URL, tmp_path: Path
) -> None:
    with scratch_database(pg_server_url, "ejbca_old") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "ejbca.postgresql.sql")
            data, _ = build()
            with engine.begin() as connection:
                for table in ("NoConflictCertificateData", "CertReqHistoryData", "Base64CertData"):
                    connection.execute(text(f"DROP TABLE {table}"))
                for column in ("notBefore", "subjectAltName"):
                    connection.execute(text(f"ALTER TABLE CertificateData DROP COLUMN {column}"))
            for table in ("NoConflictCertificateData", "CertReqHistoryData", "Base64CertData"):
                data.rows.pop(table, None)
            for row in data.rows["CertificateData"]:
                del row["notBefore"], row["subjectAltName"]
            insert(engine, data.rows)
        finally:
            engine.dispose()
        cases = by_serial(run_job(url, tmp_path))
    # Names and notBefore come from the DER; history and Base64CertData are gone.
    assert {"1001", "1003", "1008", "2000"} <= set(cases)
    assert "1007" in cases and cases["1007"]["sha256"] is None  # its DER was in Base64CertData
    assert "100c" not in cases  # without history, notBefore says 8 days: late
    assert cases["1001"]["names"] == ["mail.cuatis.net"]
    assert cases["1001"]["replacement"]["serial"] == "1002"


@pytest.mark.skipif("ejbca" not in config.PROFILES, reason="config.PROFILES lacks ejbca (lead)")
def test_the_cli_runs_the_ejbca_profile(
    ejbca_db: tuple[URL, dict[str, bytes]], tmp_path: Path
) -> None:
    url, _ = ejbca_db
    code = main(
        [
            "run",
            "--profile",
            "ejbca",
            "--ca-db",
            url.render_as_string(hide_password=False),
            "--since",
            SINCE.isoformat(),
            "--until",
            UNTIL.isoformat(),
            "--threshold",
            "2d",
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
