"""Golden data of the issuance watch, the same situations loaded into each profile's own schema.

`PLANTED` is one list of certificates in neutral terms (subscriber, names, subject, issuance,
revocation) with the labels the watch must give each (empty: it must stay silent). The loaders
write them as the generic schema (SQLite here), EJBCA (PostgreSQL) and Boulder (MariaDB) store
them, with real DER from `jobs.demo.certfactory`; `run_watch_night` runs the nightly job on the
window and returns report.json. Boulder's history is its authorizations (authz2), which
`BoulderData.issue` writes for every name, validated five minutes before issuance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from jobs.core.settings import Settings
from jobs.demo import schema as generic_schema
from jobs.demo.certfactory import CertificateAuthority
from jobs.pipeline.nightly import run_once
from tests.support.ca_schemas import BoulderData, EjbcaData, boulder_serial

NOW = datetime(2026, 3, 10, 2, 15, tzinfo=UTC)
SINCE, UNTIL = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
PAST = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)
CA = CertificateAuthority.create("Watch Issuing CA 1", "Watch Trust", now=NOW, country="ES")
NEAR, INVALID, PLACEHOLDER, LINT = "near-sibling", "invalid-name", "placeholder-value", "lint-error"


@dataclass(frozen=True)
class Planted:
    """One certificate: `labels` are what the watch must say of it (empty: nothing)."""

    serial: int
    subscriber: str
    names: tuple[str, ...]
    issued: datetime
    labels: tuple[str, ...] = ()
    subject: dict[str, str] = field(default_factory=dict)
    revoked: datetime | None = None


def _at(hour: int) -> datetime:
    return SINCE + timedelta(hours=hour)


PLANTED = (
    # The subscribers' history, months before the window.
    Planted(0x1001, "cust-cualtis", ("mail.cualtis.net", "www.cualtis.net"), PAST),
    Planted(0x1002, "cust-mercaverde", ("shop.mercaverde.com",), PAST),
    Planted(0x1003, "cust-marina", ("citas.clinicamarina.es",), PAST),
    Planted(0x1004, "cust-hosting", ("web1.example-hosting.com",), PAST),
    Planted(0x1005, "cust-eventos", ("www.agoraeventos.es",), PAST),
    Planted(0x1006, "cust-other", ("portal.otherbrand.org",), PAST),
    Planted(0x1007, "cust-kunde", ("shop.example-kunde.de",), PAST),
    Planted(0x1008, "cust-widgets", ("www.widgets-ltd.co.uk",), PAST),
    # Planted in the window: a missing letter (the seed incident), a transposition, a look-alike.
    Planted(0x2001, "cust-cualtis", ("mail.cuatis.net",), _at(3), (NEAR,)),
    Planted(0x2002, "cust-mercaverde", ("shop.mercavedre.com",), _at(4), (NEAR,)),
    Planted(0x2003, "cust-marina", ("citas.clinicarnarina.es",), _at(5), (NEAR,)),
    # An invalid name (pkilint calls it an error too) and a placeholder subject.
    Planted(0x2004, "cust-kunde", ("bad_name.example-kunde.de",), _at(6), (INVALID, LINT)),
    Planted(
        0x2005,
        "cust-widgets",
        ("www.widgets-ltd.co.uk",),
        _at(7),
        (PLACEHOLDER,),
        {"C": "GB", "ST": "Some-State", "O": "Widgets Ltd", "CN": "www.widgets-ltd.co.uk"},
    ),
    # Decoys: a sibling under a registrable domain held, a new unrelated domain, a near-typo of a
    # domain only another subscriber holds, a renewal, and a typo already revoked (a case).
    Planted(0x3001, "cust-hosting", ("web2.example-hosting.com",), _at(8)),
    Planted(0x3002, "cust-eventos", ("www.congresosbilbao.org",), _at(9)),
    Planted(0x3003, "cust-other", ("mail.cualtis.net.mx", "www.cualtiss.net"), _at(10)),
    Planted(0x3004, "cust-cualtis", ("mail.cualtis.net", "www.cualtis.net"), _at(11)),
    Planted(0x3005, "cust-mercaverde", ("shop.mercavrede.com",), _at(12), revoked=_at(13)),
)
# names -> labels of every suspicious issuance the watch must report, and nothing else.
EXPECTED = {p.names: set(p.labels) for p in PLANTED if p.labels and p.revoked is None}
ACCOUNTS = {name: 500 + i for i, name in enumerate(sorted({p.subscriber for p in PLANTED}))}


def _der(p: Planted, not_before: datetime) -> bytes:
    return CA.issue(
        p.names,
        not_before=not_before,
        not_after=not_before + timedelta(days=90),
        serial=p.serial,
        subject=p.subject or None,
    )


def _dn(p: Planted) -> str:
    return ",".join(f"{k}={v}" for k, v in (p.subject or {"CN": p.names[0]}).items())


def load_generic(path: Path | URL) -> str:
    """The planted certificates as the generic schema in a new SQLite file at `path` (or in the
    empty database at a URL); the database's URL."""
    issuance, revocation = [], []
    for p in PLANTED:
        issuance.append(
            {
                "issuer_dn": CA.name, "serial": format(p.serial, "x"), "subscriber": p.subscriber,
                "requester": None, "names": ",".join(p.names),
                "subject_dn": _dn(p),
                "not_before": p.issued, "not_after": p.issued + timedelta(days=90),
                "issued_at": p.issued, "der": _der(p, p.issued),
            }
        )  # fmt: skip
        if p.revoked is not None:
            revocation.append(
                {"issuer_dn": CA.name, "serial": format(p.serial, "x"), "revoked_at": p.revoked,
                 "reason_code": 4, "revoked_by": "ra-operator", "comment": None}
            )  # fmt: skip
    url = (
        path.render_as_string(hide_password=False) if isinstance(path, URL) else f"sqlite:///{path}"
    )
    engine = create_engine(url)
    generic_schema.create_and_insert(engine, issuance, revocation)
    engine.dispose()
    return url


def ejbca_rows() -> EjbcaData:
    """The planted certificates as EJBCA's CertificateData rows (end entity = subscriber)."""
    data = EjbcaData()
    for p in PLANTED:
        data.certificate(
            CA, list(p.names), serial=p.serial, issued=p.issued, username=p.subscriber,
            status=40 if p.revoked else 20, revoked=p.revoked, reason=4 if p.revoked else -1,
            subject=p.subject or None,
        )  # fmt: skip
    return data


def boulder_rows() -> BoulderData:
    """The planted certificates as Boulder's rows (subscriber = an ACME account)."""
    data = BoulderData()
    for account in ACCOUNTS.values():
        data.registration(account, PAST - timedelta(days=30))
    for p in PLANTED:
        data.issue(
            CA, list(p.names), serial=p.serial, account=ACCOUNTS[p.subscriber], issued=p.issued,
            subject=p.subject or None,
        )  # fmt: skip
    for p in PLANTED:
        if p.revoked is not None:
            data.revoke(CA, p.serial, when=p.revoked, reason=4)
    assert all(len(boulder_serial(p.serial)) == 36 for p in PLANTED)
    return data


def run_watch_night(url: URL | str, profile: str, out: Path, **extra: Any) -> dict[str, Any]:
    """The nightly job on the window (a dry run); its report.json."""
    ca = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    settings = Settings(
        ca_db=ca, profile=profile, since=SINCE, until=UNTIL, threshold=timedelta(days=7),
        no_mail=True, out=out, state_db=f"sqlite:///{out / 'absent' / 'state.sqlite'}", **extra,
    )  # fmt: skip
    run_once(settings, NOW)
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def flagged(report: dict[str, Any]) -> dict[tuple[str, ...], set[str]]:
    """names -> labels of each suspicious issuance report.json lists."""
    return {tuple(s["names"]): set(s["labels"]) for s in report["suspicious_issuances"]}
