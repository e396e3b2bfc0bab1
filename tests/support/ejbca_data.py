"""EJBCA test data: every situation the EJBCA profile must handle, and the job run on it.

`build()` returns the rows of one EJBCA database (archived-but-revoked, a released hold, DER only
in Base64CertData, a NULL subjectAltName column, garbage base64, a serial shared by two CAs,
request history, NoConflictCertificateData, late revocations and revocations outside the window)
and the DER of the cases; `EXPECTED` is which cases the job must report, with reason and operator;
`run_job` runs the nightly job on a database holding them and returns report.json.
Used by tests/test_profile_ejbca.py and tests/test_source.py (least privilege).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from jobs.core.settings import Settings
from jobs.demo.certfactory import CertificateAuthority
from jobs.pipeline.nightly import run_once
from tests.support.ca_schemas import EjbcaData

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
