"""Hostile and messy CA rows: every bad record is a case or a finding naming it, and the run
exits 0. One fixture CA per database (SQLite, PostgreSQL, MariaDB), loaded through the generic
schema with real DER, and the real command (`revwatch run --no-mail`) over it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from jobs.demo import schema as generic_schema
from jobs.demo.certfactory import CertificateAuthority
from jobs.face.cli import main
from tests.support.servers import fresh_schema_engine

UNTIL = datetime(2026, 11, 28, tzinfo=UTC)
ISSUER_CA = CertificateAuthority.create("Hostile Test CA", "Revwatch Tests", now=UNTIL)
ISSUER = ISSUER_CA.name
SINCE = UNTIL - timedelta(days=7)
ISSUED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _issuance(serial: int, name: str, **columns: Any) -> dict[str, Any]:
    der = ISSUER_CA.issue(
        [name], not_before=ISSUED, not_after=ISSUED + timedelta(days=90), serial=serial
    )
    row = {
        "issuer_dn": ISSUER, "serial": format(serial, "x"), "subscriber": f"cust-{serial}",
        "requester": "ra", "names": name, "subject_dn": f"CN={name}", "not_before": ISSUED,
        "not_after": ISSUED + timedelta(days=90), "issued_at": ISSUED, "der": der,
    }  # fmt: skip
    row.update(columns)
    return row


def _revocation(serial: int | str, **columns: Any) -> dict[str, Any]:
    row = {
        "issuer_dn": ISSUER, "serial": serial if isinstance(serial, str) else format(serial, "x"),
        "revoked_at": ISSUED + timedelta(hours=5), "reason_code": 0,
        "revoked_by": "ra-operator", "comment": None,
    }  # fmt: skip
    row.update(columns)
    return row


def _run(url: str, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    capsys.readouterr()
    argv = ["run", "--ca-db", url, "--no-mail", "--out", str(out)]
    argv += ["--since", SINCE.isoformat(), "--until", UNTIL.isoformat()]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, capsys.readouterr().err


def _case(report: dict[str, Any], serial: str) -> dict[str, Any]:
    (case,) = [c for c in report["cases"] if c["serial"] == serial]
    return case


def _messages(case: dict[str, Any], code: str) -> list[str]:
    return [f["message"] for f in case["findings"] if f["code"] == code]


# --- PostgreSQL -------------------------------------------------------------------------------


def test_postgresql_infinity_and_bc_times_are_findings_not_a_failed_night(
    pg_database: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = create_engine(pg_database)
    generic_schema.create_and_insert(
        engine,
        [
            _issuance(0xA1, "a.example.com", not_after="infinity"),
            _issuance(0xA2, "b.example.com", not_before="-infinity", issued_at=None),
            _issuance(0xA3, "c.example.com", issued_at="0044-03-15 12:00:00+00 BC"),
            # A replacement candidate of a1's subscriber with a timestamp Python cannot hold.
            _issuance(0xA4, "a.example.com", subscriber="cust-161", not_after="infinity"),
        ],
        [_revocation(0xA1), _revocation(0xA2), _revocation(0xA3)],
    )
    engine.dispose()
    url = pg_database.render_as_string(hide_password=False)
    report, _ = _run(url, tmp_path, capsys)
    assert {c["serial"] for c in report["cases"]} == {"a1", "a2", "a3"}
    assert any(
        "not_after holds 'infinity'" in m
        for m in _messages(_case(report, "a1"), "data.time_unreadable")
    )
    assert any("'-infinity'" in m for m in _messages(_case(report, "a2"), "data.time_unreadable"))
    assert any("BC" in m for m in _messages(_case(report, "a3"), "data.time_unreadable"))


# --- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_ca(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "ca.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    validity = {"not_before": ISSUED, "not_after": ISSUED + timedelta(days=9)}
    pem = ISSUER_CA.issue(["pem.example.com"], serial=0xB9, **validity)
    generic_schema.create_and_insert(
        engine,
        [
            _issuance(0xB1, "iso-basic.example.com"),
            _issuance(0xB2, "plus0000.example.com"),
            _issuance(0xB3, "epoch.example.com"),
            _issuance(0xB4, "ddmmyyyy.example.com"),
            _issuance(0xB5, "garbage.example.com"),
            _issuance(0xB6, "reason-abc.example.com"),
            _issuance(0xB7, "reason-float.example.com"),
            _issuance(0xB8, "der-garbage.example.com", der="not a certificate"),
            _issuance(0xB9, "pem.example.com", der=base64.b64encode(pem).decode()),
        ],
        [
            _revocation(0xB1, revoked_at="20261124T140000Z"),
            _revocation(0xB2, revoked_at="2026-11-24 14:00:00 +0000"),
            _revocation(0xB3, revoked_at=str(int((ISSUED + timedelta(hours=5)).timestamp()))),
            _revocation(0xB4, revoked_at="24/11/2026"),
            _revocation(0xB5, revoked_at="yesterday-ish"),
            _revocation(0xB6, reason_code="abc"),
            _revocation(0xB7, reason_code=1.7),
            _revocation(0xB8),
            _revocation(0xB9),
            # Two different records whose serials are blank in different ways.
            _revocation(""),
            _revocation("  "),
        ],
    )
    engine.dispose()
    yield f"sqlite:///{path}"


def test_sqlite_revocation_times_in_other_spellings_are_read_or_named(
    sqlite_ca: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, log = _run(sqlite_ca, tmp_path, capsys)
    serials = {c["serial"] for c in report["cases"]}
    # Read in Python what julianday() could not compare: still cases, placed exactly.
    assert {"b1", "b2", "b3"} <= serials
    assert _case(report, "b1")["seconds_to_revocation"] == 5 * 3600
    # Ambiguous or garbage: not a case, but a problem naming the record and the value.
    assert "b4" not in serials and "b5" not in serials
    assert "'24/11/2026' is unreadable" in log
    assert "'yesterday-ish' is unreadable" in log


def test_sqlite_reason_der_and_serial_oddities_are_named(
    sqlite_ca: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report, _ = _run(sqlite_ca, tmp_path, capsys)
    abc = _case(report, "b6")
    assert abc["reason"] == "unknown(abc)"
    assert any("'abc'" in m for m in _messages(abc, "data.reason_unknown"))
    floaty = _case(report, "b7")
    assert floaty["reason"] != "keyCompromise" and _messages(floaty, "data.reason_unknown")
    assert _messages(_case(report, "b8"), "data.der_unparseable")
    pem = _case(report, "b9")
    assert pem["sha256"] and not _messages(pem, "data.der_unparseable")
    # Two records whose serials are blank in different ways stay two cases ('' shows as a dash).
    blank = [c for c in report["cases"] if c["serial"].strip() in ("", "—")]
    assert len(blank) == 2


def test_sqlite_since_before_year_1000_still_finds_cases(
    sqlite_ca: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    argv = ["run", "--ca-db", sqlite_ca, "--no-mail", "--out", str(tmp_path)]
    argv += ["--since", "0999-01-01T00:00:00Z", "--until", UNTIL.isoformat()]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert "b1" in {c["serial"] for c in report["cases"]}


# --- MariaDB ------------------------------------------------------------------------------------


def test_mariadb_zero_dates_are_findings(
    mariadb_server_url: URL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = fresh_schema_engine(mariadb_server_url)
    generic_schema.create_and_insert(engine, [], [])
    with engine.begin() as connection:
        # A permissive server keeps zero dates that legacy CA software wrote.
        connection.execute(text("SET SESSION sql_mode = ''"))
        generic_schema.insert(
            connection,
            [_issuance(0xC1, "zero.example.com")],
            [_revocation(0xC1)],
        )
        connection.execute(text("UPDATE issuance SET not_after = '0000-00-00 00:00:00'"))
    engine.dispose()
    url = mariadb_server_url.render_as_string(hide_password=False)
    report, _ = _run(url, tmp_path, capsys)
    case = _case(report, "c1")
    assert any("0000-00-00" in m for m in _messages(case, "data.time_unreadable"))


# --- outputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=cmd", "\x00=1", " =1", "\u00a0=1",
     "\uff1d1+1", "\uff0bcmd", "\u200b=1"],
)  # fmt: skip
def test_csv_cells_a_spreadsheet_would_run_are_defused(cell: str) -> None:
    from jobs.report.csvfile import _cell

    assert _cell(cell) == "'" + cell
    assert _cell("mail.cuatis.net") == "mail.cuatis.net"
    assert _cell(-5) == "-5"  # a number is not a formula


def test_backfill_summaries_neutralise_operator_and_source_values() -> None:
    from jobs.report.filters import environment

    forged = "ra-ana\nRevoked by:      ra-operator-boss"
    summary = {
        "generated_at": "2026-11-30T00:00:00+00:00", "source": "sqlite:///ca\u202egnp.sqlite",
        "window": {"since": "2026-01-01T00:00:00+00:00", "until": "2026-11-30T00:00:00+00:00"},
        "examined_until": "2026-11-30T00:00:00+00:00", "complete": True,
        "threshold_seconds": 604800, "cases": 1, "months_examined": 11,
        "months_without_cases": 10, "by": {"operator": {forged: 1}},
    }  # fmt: skip
    env = environment()
    for name in ("backfill.txt", "backfill.html"):
        rendered = env.get_template(name).render(summary=summary)
        assert "\nRevoked by:" not in rendered and "\u202e" not in rendered
        assert "\\u000a" in rendered and "\\u202e" in rendered
