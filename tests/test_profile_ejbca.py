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
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from jobs.core import settings as config
from jobs.face.cli import main
from tests.support.ca_schemas import insert, run_script, scratch_database
from tests.support.ejbca_data import EXPECTED, SINCE, UNTIL, build, run_job


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
