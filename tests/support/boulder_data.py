"""Boulder test data: every situation the Boulder profile must handle, and the job run on it.

`build()` returns one Boulder database's rows: a typo revoked and replaced, a serial revoked as a
precertificate with no final certificate, an ARI replacement declared against a closer decoy,
status rows with zero dates, a late revocation, revocations outside the window and a row appended
out of time order. `EXPECTED` is which cases the job must report; `run_job` runs the nightly job
on a database holding them and returns report.json.
Used by tests/test_profile_boulder.py and tests/test_source.py (least privilege).
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
from tests.support.ca_schemas import BoulderData

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
