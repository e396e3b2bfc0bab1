"""A crowded night for the streaming tests: forty-two early revocations with real DER, in SQLite.

Owns the rows of one night in the generic schema, built with the demo's certificate factory so
that detection parses, matching pairs and pkilint lints real certificates: registrable-domain
typos reissued under the right name, subdomain typos, plain reissues (some re-keyed), reissues
that add a name, revocations with no replacement (some for domains nobody registered, for the
domain check), one certificate revoked twice, one without its DER. Times to revocation are spread
so that the report's order is neither the detection's nor the serials'. It must not run the job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from jobs.demo import schema
from jobs.demo.certfactory import CertificateAuthority, key_from_secret

CASES = 42
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=1)
NOW = UNTIL + timedelta(hours=2)
_OPERATORS = ("ra-ana", "ra-bruno", "ra-carla")
_REASONS = (0, 1, 4, 5)


def domain(n: int) -> str:
    """Subscriber n's registrable domain."""
    return f"brand{n:02d}.es"


def unregistered(n: int) -> str:
    """The domain of case n when it names one nobody registered (no replacement, scenario 3)."""
    return f"gone{n:02d}.es"


def registered() -> set[str]:
    """What a resolver should say exists: every subscriber's domain, not the typos nor `gone`."""
    return {domain(n) for n in range(CASES)}


class _Night:
    def __init__(self) -> None:
        self.cas = [
            CertificateAuthority.create(
                f"Crowded Night CA {n}", "Revwatch Tests", now=UNTIL, key=key_from_secret(900 + n)
            )
            for n in (1, 2)
        ]
        self.issuance: list[dict[str, Any]] = []
        self.revocation: list[dict[str, Any]] = []
        self.serial = 0x5000

    def issue(self, n: int, names: list[str], issued: datetime, *, key: int | None = None) -> dict:
        self.serial += 1
        ca = self.cas[n % 2]
        not_before = issued - timedelta(minutes=10)
        not_after = not_before + timedelta(days=90, seconds=-1)
        der = ca.issue(
            names,
            not_before=not_before,
            not_after=not_after,
            serial=self.serial,
            key=key_from_secret(key if key is not None else 10_000 + self.serial),
        )
        row = {
            "issuer_dn": ca.name, "serial": format(self.serial, "x"), "subscriber": f"sub-{n:02d}",
            "requester": _OPERATORS[n % 3], "names": ",".join(names),
            "subject_dn": f"CN={names[0]}", "not_before": not_before, "not_after": not_after,
            "issued_at": issued, "der": der,
        }  # fmt: skip
        self.issuance.append(row)
        return row

    def revoke(self, n: int, row: dict, revoked: datetime) -> None:
        self.revocation.append({
            "issuer_dn": row["issuer_dn"], "serial": row["serial"], "revoked_at": revoked,
            "reason_code": _REASONS[n % 4], "revoked_by": _OPERATORS[n % 3],
            "comment": f"case {n}",
        })  # fmt: skip

    def case(self, n: int) -> None:
        base = domain(n)
        # Spread over the window, and over minutes to days before revocation, out of step.
        revoked = SINCE + timedelta(minutes=30 + 33 * n)
        delay = timedelta(minutes=7 + (n * 389) % 4000)
        issued = revoked - delay
        scenario = n % 6
        names, replacement = [f"www.{base}", base], None
        if scenario == 0:  # the founding incident: a typo in the registrable domain
            names, replacement = [f"mail.{base.replace('brand', 'brnad')}"], [f"mail.{base}"]
        elif scenario == 1:  # a plain reissue, every other one keeping its key
            replacement = names
        elif scenario == 2:  # a reissue adding a name
            replacement = [*names, f"shop.{base}"]
        elif scenario == 3:  # no replacement; every other one for a domain nobody registered
            names = [f"www.{unregistered(n)}"] if n % 12 == 3 else names
        elif scenario == 4:  # a typo below the registrable domain
            names, replacement = [f"wwww.{base}"], [f"www.{base}"]
        key = 500 + n
        row = self.issue(n, names, issued, key=key)
        self.revoke(n, row, revoked)
        if scenario == 5 and n % 12 == 5:
            # Revoked twice: one case, with a finding naming both records.
            self.revoke(n, row, revoked + timedelta(minutes=3))
        if scenario == 5 and n % 12 == 11:
            row["der"] = None  # no DER: the names column speaks, and nothing is linted
        if replacement is not None:
            self.issue(
                n, replacement, revoked + timedelta(minutes=5 + n), key=key if n % 4 == 1 else None
            )


def build(path: Path) -> str:
    """The night's CA database as a new SQLite file at `path`; its URL."""
    night = _Night()
    for n in range(CASES):
        night.case(n)
    engine = create_engine(f"sqlite:///{path}")
    try:
        schema.create_and_insert(engine, night.issuance, night.revocation)
    finally:
        engine.dispose()
    return f"sqlite:///{path}"
