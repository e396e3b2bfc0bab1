"""The job night after night: `now` moves forward over 30 nights while the CA issues and revokes
every day (some revocations back-dated, some arriving days late); on nights drawn at random (seeded)
a fault is injected: the mail server down, a 421 on the first try, a 550, a drop in DATA, the CA
database unreachable, a crash between "server accepted" and "ledger written", a skipped night.
The cumulative mail must hold every early revocation exactly once (messages with one Message-ID
counting as one), and nothing else."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from jobs.core.errors import DeliveryError, SourceError
from jobs.core.model import normalise_serial
from jobs.core.settings import Settings
from jobs.core.x509 import parse_certificate
from jobs.deliver import smtp as delivery
from jobs.demo import schema as generic_schema
from jobs.demo.certfactory import CertificateAuthority, new_key
from jobs.pipeline.nightly import run_once
from tests.support.smtp_server import ScriptedServer

START = datetime(2026, 3, 1, 2, 15, tzinfo=UTC)
NIGHTS = 30
FAULTS = (
    "skip", "smtp_down", "smtp_421_first_try", "smtp_550", "drop_in_data", "ca_down",
    "crash_after_accept",
)  # fmt: skip
THRESHOLD = timedelta(days=7)


class Crash(Exception):
    """The process dying between the server's 250 and the ledger commit."""


@dataclass
class FakeCa:
    """A CA that issues and revokes into a generic-schema SQLite file, day by day."""

    path: Path
    rng: random.Random
    authority: CertificateAuthority = field(init=False)
    issued: list[tuple[str, datetime]] = field(default_factory=list)
    revoked: dict[str, datetime] = field(default_factory=dict)
    early: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = create_engine(f"sqlite:///{self.path}")
        generic_schema.create_and_insert(self.engine)
        self.authority = CertificateAuthority.create("Lifecycle CA", "Revwatch Test", now=START)

    def _issue(self, at: datetime) -> dict[str, object]:
        name = f"host{len(self.issued)}.lifecycle.example"
        not_before, not_after = at - timedelta(minutes=10), at + timedelta(days=90)
        der = self.authority.issue(
            [name], not_before=not_before, not_after=not_after, key=new_key()
        )
        serial = parse_certificate(der).serial
        self.issued.append((serial, at))
        return {
            "issuer_dn": self.authority.name, "serial": serial,
            "subscriber": f"cust-{len(self.issued) % 7}", "requester": "ra-operator-test",
            "names": name, "subject_dn": f"CN={name}", "not_before": not_before,
            "not_after": not_after, "issued_at": at, "der": der,
        }  # fmt: skip

    def day(self, start: datetime) -> int:
        """One day of business in [start, start + 1 day); returns the back-dated rows added."""
        issuance = [
            self._issue(start + timedelta(minutes=self.rng.randrange(600))) for _ in range(4)
        ]
        revocation = []
        backdated = 0
        for serial, issued in self.rng.sample(self.issued, k=min(4, len(self.issued))):
            revoked = start + timedelta(hours=12, minutes=self.rng.randrange(600))
            if self.rng.random() < 0.2:
                # Back-dated by an operator, or replicated late: stated days before it arrives.
                revoked -= timedelta(days=self.rng.randrange(1, 4))
                backdated += 1
            if serial in self.revoked or not issued <= revoked < start + timedelta(days=1):
                continue
            self.revoked[serial] = revoked
            revocation.append({
                "issuer_dn": self.authority.name, "serial": serial, "revoked_at": revoked,
                "reason_code": self.rng.choice([0, 1, 4, 5]), "revoked_by": "ra-operator-test",
                "comment": None,
            })  # fmt: skip
            if revoked - issued <= THRESHOLD:
                self.early[serial] = revoked
        with self.engine.begin() as connection:
            generic_schema.insert(connection, issuance, revocation)
        return backdated


def _mailed(messages: list[EmailMessage]) -> list[tuple[str, str]]:
    """(Message-ID, serial) for every case row of every message received."""
    rows = []
    for message in messages:
        (attachment,) = [
            a for a in message.iter_attachments() if a.get_content_type() == "text/csv"
        ]
        for row in csv.DictReader(io.StringIO(attachment.get_content())):
            rows.append((str(message["Message-ID"]), row["serial"]))
    return rows


def _night(fault: str, up: Settings, server: ScriptedServer, dead_port: int, now: datetime) -> None:
    def crash(message: EmailMessage, smtp: delivery.SmtpSettings) -> delivery.DeliveryResult:
        delivery.send(message, smtp)
        raise Crash

    if fault == "smtp_down":
        with pytest.raises(DeliveryError):
            run_once(replace(up, smtp_port=dead_port), now)
    elif fault == "smtp_421_first_try":
        server.script.rcpt_reply("421 4.3.2 Service shutting down", times=1)
        assert run_once(up, now).mailed  # retried within the run
    elif fault == "smtp_550":
        server.script.data_reply("550 5.7.1 Message rejected", times=1)
        with pytest.raises(DeliveryError):
            run_once(up, now)
    elif fault == "drop_in_data":
        server.script.drop_in_data(times=up.smtp_attempts)
        with pytest.raises(DeliveryError):
            run_once(up, now)
    elif fault == "ca_down":
        with pytest.raises(SourceError):
            run_once(replace(up, ca_db="postgresql://revwatch@127.0.0.1:1/ca"), now)
    elif fault == "crash_after_accept":
        with pytest.raises(Crash):
            run_once(up, now, sender=crash)
    else:
        assert run_once(up, now).mailed


@pytest.mark.parametrize("seed", [7, 1672423, 2026])
def test_thirty_nights_with_faults_every_case_exactly_once(
    seed: int, smtp_server: ScriptedServer, dead_smtp_port: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    ca = FakeCa(tmp_path / "ca.sqlite", rng)
    up = Settings(
        ca_db=f"sqlite:///{tmp_path / 'ca.sqlite'}",
        state_db=f"sqlite:///{tmp_path / 'state.sqlite'}",
        threshold=THRESHOLD,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        smtp_attempts=2,
        smtp_backoff_cap=0.02,
        mail_from="revwatch@ca.example",
        mail_to=("compliance@ca.example",),
    )
    injected: Counter[str] = Counter()
    backdated = 0
    for night in range(NIGHTS):
        backdated += ca.day(START + timedelta(days=night))
        now = START + timedelta(days=night + 1)
        # The last two nights run clean, so that every fault has had a night to be caught up.
        fault = rng.choice(FAULTS) if night < NIGHTS - 2 and rng.random() < 0.4 else "none"
        if fault != "none":
            injected[fault] += 1
        if fault != "skip":
            _night(fault, up, smtp_server, dead_smtp_port, now)
    last_now = START + timedelta(days=NIGHTS)
    expected = {serial for serial, revoked in ca.early.items() if revoked < last_now}
    rows = _mailed(smtp_server.messages)
    by_message = {serial for _, serial in set(rows)}
    per_case = Counter(serial for _, serial in set(rows))  # one Message-ID = one report
    lost = expected - by_message
    duplicated = sorted(serial for serial, count in per_case.items() if count > 1)
    ids = [str(message["Message-ID"]) for message in smtp_server.messages]
    resent = len(ids) - len(set(ids))  # the crash window: the same message again
    print(
        f"\n30 nights, seed {seed}: {len(expected)} early revocations "
        f"({backdated} revocation rows back-dated), {sum(injected.values())} faults injected "
        f"{dict(sorted(injected.items()))}, {len(smtp_server.messages)} messages received, "
        f"lost {len(lost)}, duplicated {len(duplicated)}, "
        f"messages re-sent under their own Message-ID after a crash {resent}"
    )
    assert sum(injected.values()) >= 5 and len(expected) >= 30
    assert not lost, f"lost: {sorted(lost)}"
    assert not duplicated, f"mailed in two different reports: {duplicated}"
    assert by_message <= set(ca.early), "only early revocations are mailed"
    assert all(normalise_serial(s) == s for s in by_message)
    assert resent == injected["crash_after_accept"]
