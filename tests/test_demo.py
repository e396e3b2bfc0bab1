"""Tests for jobs.demo.dataset: the generated demo CA data and its loading into SQLite."""

from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from jobs.core.errors import ConfigError, SourceError
from jobs.core.model import normalise_serial
from jobs.core.x509 import parse_certificate
from jobs.demo import dataset as demo
from jobs.demo import schema as generic_schema

NOW = datetime(2026, 11, 27, 2, 15, 30, 250000, tzinfo=UTC)
THRESHOLD = timedelta(days=7)


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    started = time.perf_counter()
    generated = demo.generate(NOW)
    assert time.perf_counter() - started < 10  # a few thousand EC certificates on 2 cores
    return generated


def _by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(row["issuer_dn"], row["serial"]): row for row in rows}


def _case(data: demo.DemoData, scenario: str) -> dict[str, Any]:
    return next(case for case in data.expected if case["scenario"] == scenario)


def test_generation_is_deterministic_for_a_seed(data: demo.DemoData) -> None:
    again = demo.generate(NOW)
    assert again.issuance == data.issuance  # DER included
    assert again.revocation == data.revocation
    assert again.expected == data.expected
    assert again.suspicious == data.suspicious
    other = demo.generate(NOW, seed=7)
    assert {r["serial"] for r in other.issuance}.isdisjoint(r["serial"] for r in data.issuance)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        demo.generate(datetime(2026, 11, 27))


def test_size_and_shape(data: demo.DemoData) -> None:
    assert 2700 <= len(data.issuance) <= 3300
    assert 250 <= len({row["subscriber"] for row in data.issuance}) <= 350
    assert Counter(row["issuer_dn"] for row in data.issuance).keys() == set(demo.ISSUERS)
    assert all(tuple(row) == generic_schema.ISSUANCE_COLUMNS for row in data.issuance)
    assert all(tuple(row) == generic_schema.REVOCATION_COLUMNS for row in data.revocation)
    assert len(_by_key(data.issuance)) == len(data.issuance)  # (issuer, serial) is unique
    assert all(re.fullmatch(r"cust-\d{5}", row["subscriber"]) for row in data.issuance)
    assert all(row["requester"].startswith("ra-operator-") for row in data.issuance)
    assert len(data.ca_certificates) == 2


def test_times(data: demo.DemoData) -> None:
    for row in data.issuance:
        assert row["issued_at"].tzinfo is not None
        assert NOW - timedelta(days=60) <= row["issued_at"] < NOW
        assert row["not_before"] == row["issued_at"] - timedelta(minutes=10)
        lifetime = row["not_after"] - row["not_before"] + timedelta(seconds=1)
        assert lifetime in (timedelta(days=90), timedelta(days=199))  # BR ceiling from 2026-03-15
    issued = _by_key(data.issuance)
    for rev in data.revocation:
        assert issued[rev["issuer_dn"], rev["serial"]]["issued_at"] < rev["revoked_at"] < NOW


def test_every_der_parses_and_matches_its_columns(data: demo.DemoData) -> None:
    for row in data.issuance:
        parsed = parse_certificate(row["der"])
        assert parsed.serial == row["serial"] == normalise_serial(row["serial"])
        assert parsed.issuer == row["issuer_dn"]
        assert parsed.subject == row["subject_dn"]
        assert ",".join(parsed.names) == row["names"]
        assert parsed.not_before == row["not_before"]
        assert parsed.not_after == row["not_after"]
        assert 1 <= len(parsed.names) <= 3
        assert parsed.key_type == "EC P-256"


def test_seed_case(data: demo.DemoData) -> None:
    case = _case(data, "typo_seed")
    issued = _by_key(data.issuance)
    revoked_cert = issued[case["issuer"], case["serial"]]
    revocation = next(r for r in data.revocation if r["serial"] == case["serial"])
    replacement = issued[case["issuer"], case["replacement_serial"]]

    assert revoked_cert["names"] == "mail.cuatis.net"
    assert revoked_cert["subject_dn"] == "CN=mail.cuatis.net,O=CUALTIS S.L.U,L=Madrid,C=ES"
    assert revocation["reason_code"] == 0
    assert revocation["revoked_by"] == "ra-operator-jlopez"
    assert revocation["revoked_at"] - revoked_cert["issued_at"] == timedelta(hours=4, minutes=38)
    assert case["seconds_to_revocation"] == 4 * 3600 + 38 * 60
    assert NOW - timedelta(days=3) < revocation["revoked_at"]
    assert replacement["issued_at"] - revocation["revoked_at"] == timedelta(minutes=23)
    assert replacement["names"] == "mail.cualtis.net"
    assert replacement["subject_dn"] == "CN=mail.cualtis.net,O=CUALTIS S.L.U,L=Madrid,C=ES"
    assert replacement["subscriber"] == revoked_cert["subscriber"]
    assert replacement["issuer_dn"] == revoked_cert["issuer_dn"]


def test_early_revocations_are_exactly_the_planted_ones(data: demo.DemoData) -> None:
    issued = _by_key(data.issuance)
    early = {
        (rev["issuer_dn"], rev["serial"])
        for rev in data.revocation
        if rev["revoked_at"] - issued[rev["issuer_dn"], rev["serial"]]["issued_at"] <= THRESHOLD
    }
    assert early == {(case["issuer"], case["serial"]) for case in data.expected}
    assert len(data.expected) >= 7
    for case in data.expected:
        assert NOW - timedelta(days=10) < case["revoked_at"] < NOW


def test_planted_cases_span_operators_issuers_and_reasons(data: demo.DemoData) -> None:
    revocations = _by_key(data.revocation)
    planted = [revocations[case["issuer"], case["serial"]] for case in data.expected]
    assert len({rev["revoked_by"] for rev in planted}) >= 3
    assert {rev["issuer_dn"] for rev in planted} == set(demo.ISSUERS)
    assert {rev["reason_code"] for rev in planted} >= {0, 1, 4, 5}


def test_replacements(data: demo.DemoData) -> None:
    issued = _by_key(data.issuance)
    for case in data.expected:
        original = issued[case["issuer"], case["serial"]]
        if case["replacement_serial"] is None:
            later = [
                row
                for row in data.issuance
                if row["subscriber"] == original["subscriber"]
                and row["issued_at"] > original["issued_at"]
            ]
            assert later == [], case["scenario"]
            continue
        replacement = issued[case["issuer"], case["replacement_serial"]]
        assert replacement["subscriber"] == original["subscriber"]
        assert replacement["names"].split(",") == case["replacement_names"]

    def spki(case: dict[str, Any], serial_field: str) -> str:
        return parse_certificate(issued[case["issuer"], case[serial_field]]["der"]).spki_sha256

    rekey = _case(data, "key_compromise_rekey")
    assert rekey["reason_code"] == 1 and rekey["replacement_names"] == rekey["names"]
    assert spki(rekey, "serial") != spki(rekey, "replacement_serial")
    seed = _case(data, "typo_seed")
    assert spki(seed, "serial") == spki(seed, "replacement_serial")
    added = _case(data, "reissue_add_name")
    assert added["reason_code"] == 4
    assert added["replacement_names"][: len(added["names"])] == added["names"]
    assert len(added["replacement_names"]) == len(added["names"]) + 1
    assert _case(data, "no_replacement")["reason_code"] == 5


@pytest.mark.parametrize(
    ("scenario", "typo", "right"),
    [
        ("typo_transposition", "shop.mercavedre.com", "shop.mercaverde.com"),
        ("typo_dropped_letter", "clientes.asesorialevnte.es", "clientes.asesorialevante.es"),
        ("typo_wrong_tld", "reservas.navatlantico.com", "reservas.navatlantico.eu"),
    ],
)
def test_typos_have_a_nearer_wrong_candidate(
    data: demo.DemoData, scenario: str, typo: str, right: str
) -> None:
    case = _case(data, scenario)
    issued = _by_key(data.issuance)
    assert case["names"] == [typo] and case["replacement_names"] == [right]
    replacement = issued[case["issuer"], case["replacement_serial"]]
    wrong = issued[case["issuer"], case["wrong_candidate_serial"]]
    assert wrong["subscriber"] == replacement["subscriber"]
    assert right not in wrong["names"].split(",")
    # The wrong candidate is the same subscriber's certificate nearest the revocation.
    siblings = [
        row
        for row in data.issuance
        if row["subscriber"] == replacement["subscriber"] and row["serial"] != case["serial"]
    ]
    nearest = min(siblings, key=lambda row: abs(row["issued_at"] - case["revoked_at"]))
    assert nearest is wrong


def test_late_revocations_are_not_early(data: demo.DemoData) -> None:
    issued = _by_key(data.issuance)
    revocations = _by_key(data.revocation)
    assert {case["scenario"] for case in data.late} == {
        "late_8_days",
        "late_15_days",
        "late_40_days",
    }
    for case in data.late:
        rev = revocations[case["issuer"], case["serial"]]
        assert rev["revoked_at"] - issued[case["issuer"], case["serial"]]["issued_at"] > THRESHOLD
    assert any(case["revoked_at"] > NOW - timedelta(days=10) for case in data.late)
    background_late = len(data.revocation) - len(data.expected) - len(data.late)
    assert background_late >= 30  # superseded / cessationOfOperation weeks after issuance


def test_the_planted_suspicious_issuance_is_valid_and_near_a_held_domain(
    data: demo.DemoData,
) -> None:
    # The issue's worse case: misissued, never revoked; only the issuance watch can see it.
    assert [s["scenario"] for s in data.suspicious] == ["unrevoked_lookalike"]
    (planted,) = data.suspicious
    issued = _by_key(data.issuance)
    row = issued[planted["issuer"], planted["serial"]]
    assert (planted["issuer"], planted["serial"]) not in _by_key(data.revocation)
    assert row["names"].split(",") == planted["names"] == ["tienda.rnarmolesmacael.com"]
    assert row["subscriber"] == planted["subscriber"] and row["issued_at"] == planted["issued_at"]
    assert NOW - timedelta(days=10) < planted["issued_at"] < NOW
    held = {
        name
        for other in data.issuance
        if other["subscriber"] == planted["subscriber"] and other["issued_at"] < row["issued_at"]
        for name in other["names"].split(",")
    }
    assert "marmolesmacael.com" in held and not any("rnarmoles" in name for name in held)


def test_create_sqlite_row_counts_and_formats(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "demo.sqlite"
    data = demo.create_sqlite(path, NOW)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM issuance").fetchone() == (len(data.issuance),)
        assert conn.execute("SELECT count(*) FROM revocation").fetchone() == (len(data.revocation),)
        issued_at, der, names = conn.execute(
            "SELECT issued_at, der, names FROM issuance WHERE serial = ?",
            (_case(data, "typo_seed")["serial"],),
        ).fetchone()
        revoked_at, reason = conn.execute(
            "SELECT revoked_at, reason_code FROM revocation WHERE serial = ?",
            (_case(data, "typo_seed")["serial"],),
        ).fetchone()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00"
    assert re.fullmatch(stamp, issued_at) and re.fullmatch(stamp, revoked_at)
    gap = datetime.fromisoformat(revoked_at) - datetime.fromisoformat(issued_at)
    assert gap == timedelta(hours=4, minutes=38)
    assert parse_certificate(der).names == (names,) == ("mail.cuatis.net",)
    assert reason == 0


def test_create_sqlite_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    path.write_bytes(b"precious")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        demo.create_sqlite(path, NOW)
    assert path.read_bytes() == b"precious"
    with pytest.raises(ConfigError, match="not a file"):
        demo.create_sqlite(tmp_path, NOW, overwrite=True)


def test_create_sqlite_overwrites_when_told(tmp_path: Path) -> None:
    path = tmp_path / "demo.sqlite"
    path.write_bytes(b"old")
    data = demo.create_sqlite(path, NOW, overwrite=True)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM issuance").fetchone() == (len(data.issuance),)


def test_loading_twice_is_a_source_error(data: demo.DemoData, tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'twice.sqlite'}")
    try:
        small = demo.DemoData(NOW, 0, data.issuance[:5], data.revocation[:2], [])
        demo.load(engine, small)
        with engine.connect() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM issuance").scalar()
        assert count == 5
        with pytest.raises(SourceError, match="already exists"):
            demo.load(engine, small)
    finally:
        engine.dispose()


def test_the_demo_issues_certificates_a_linter_finds_no_error_in(data: demo.DemoData) -> None:
    """The demo's certificates follow the Baseline Requirements' subscriber profile (AIA, CRL,
    policy, at most 199 days), so the report's lint shows only what a case itself gets wrong."""
    from jobs.enrich.lint import ERROR_SEVERITIES, shared_linter

    linter = shared_linter()
    sample = [
        row for row in data.issuance if row["serial"] in {r["serial"] for r in data.revocation}
    ]
    errors = {
        (row["serial"], finding.code)
        for row in sample[:40]
        for finding in linter.lint(row["der"]).findings
        if finding.severity in ERROR_SEVERITIES
    }
    assert sample and errors == set()
