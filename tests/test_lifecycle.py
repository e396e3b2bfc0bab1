"""The job night after night: `now` moves forward over two weeks while the CA issues and revokes
certificates every day; one night is skipped and on some nights the mail server is down. The
cumulative mail must hold every early revocation exactly once, and nothing else."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from jobs import generic_schema
from jobs.certfactory import CertificateAuthority, new_key
from jobs.config import Settings
from jobs.errors import DeliveryError
from jobs.model import normalise_serial
from jobs.pipeline import run_once
from jobs.x509 import parse_certificate
from tests.smtp_server import ScriptedServer

START = datetime(2026, 3, 1, 2, 15, tzinfo=UTC)
NIGHTS = 14
SKIPPED = {5}
MAIL_DOWN = {3, 9, 10}


class FakeCa:
    """A CA that issues and revokes into a generic-schema SQLite file, day by day."""

    def __init__(self, path: Path, rng: random.Random) -> None:
        self.engine = create_engine(f"sqlite:///{path}")
        generic_schema.create_and_insert(self.engine)
        self.authority = CertificateAuthority.create("Lifecycle CA", "Revwatch Test", now=START)
        self.rng = rng
        self.issued: list[tuple[str, datetime]] = []
        self.early: dict[str, datetime] = {}

    def _issue(self, at: datetime) -> dict[str, object]:
        name = f"host{len(self.issued)}.lifecycle.example"
        der = self.authority.issue(
            [name],
            not_before=at - timedelta(minutes=10),
            not_after=at + timedelta(days=90),
            key=new_key(),
        )
        serial = parse_certificate(der).serial
        self.issued.append((serial, at))
        return {
            "issuer_dn": self.authority.name,
            "serial": serial,
            "subscriber": f"cust-{len(self.issued) % 7}",
            "requester": "ra-operator-test",
            "names": name,
            "subject_dn": f"CN={name}",
            "not_before": at - timedelta(minutes=10),
            "not_after": at + timedelta(days=90),
            "issued_at": at,
            "der": der,
        }

    def day(self, start: datetime) -> None:
        """One day of business in [start, start + 1 day)."""
        issuance, revocation = [], []
        for _ in range(4):
            issuance.append(self._issue(start + timedelta(minutes=self.rng.randrange(0, 600))))
        for serial, issued in self.rng.sample(self.issued, k=min(3, len(self.issued))):
            revoked = start + timedelta(hours=12, minutes=self.rng.randrange(0, 600))
            if serial in self.early or any(r["serial"] == serial for r in revocation):
                continue
            if revoked < issued:
                continue
            revocation.append(
                {
                    "issuer_dn": self.authority.name,
                    "serial": serial,
                    "revoked_at": revoked,
                    "reason_code": self.rng.choice([0, 1, 4, 5]),
                    "revoked_by": "ra-operator-test",
                    "comment": None,
                }
            )
            if revoked - issued <= timedelta(days=7):
                self.early[serial] = revoked
        with self.engine.begin() as connection:
            generic_schema.insert(connection, issuance, revocation)


def _mailed(server: ScriptedServer) -> list[str]:
    serials = []
    for message in server.messages:
        (attachment,) = [
            a for a in message.iter_attachments() if a.get_content_type() == "text/csv"
        ]
        serials += [row["serial"] for row in csv.DictReader(io.StringIO(attachment.get_content()))]
    return serials


@pytest.mark.parametrize("seed", [7, 1672423])
def test_every_early_revocation_mailed_exactly_once(
    seed: int, smtp_server: ScriptedServer, dead_smtp_port: int, tmp_path: Path
) -> None:
    ca = FakeCa(tmp_path / "ca.sqlite", random.Random(seed))
    up = Settings(
        ca_db=f"sqlite:///{tmp_path / 'ca.sqlite'}",
        state_db=f"sqlite:///{tmp_path / 'state.sqlite'}",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        smtp_attempts=2,
        smtp_backoff_cap=0.05,
        mail_from="revwatch@ca.example",
        mail_to=("compliance@ca.example",),
    )
    down = replace(up, smtp_port=dead_smtp_port)
    failures = 0
    for night in range(NIGHTS):
        ca.day(START + timedelta(days=night))
        now = START + timedelta(days=night + 1)
        if night in SKIPPED:
            continue
        if night in MAIL_DOWN:
            with pytest.raises(DeliveryError):
                run_once(down, now)
            failures += 1
            continue
        run_once(up, now)
    last_now = START + timedelta(days=NIGHTS)
    expected = {serial for serial, revoked in ca.early.items() if revoked < last_now}
    mailed = _mailed(smtp_server)
    assert failures == len(MAIL_DOWN)
    assert len(expected) > 10
    assert sorted(mailed) == sorted(expected), "every early revocation once, nothing else"
    assert all(normalise_serial(s) == s for s in mailed)
    # A quiet night still mails a report; every run that could reach the server did.
    assert len(smtp_server.messages) == NIGHTS - len(SKIPPED) - len(MAIL_DOWN)
