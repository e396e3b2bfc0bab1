"""`revwatch demo`: a demo CA database, the real nightly run against it, a loopback mail sink.

Owns the demo's story: build `DIR/demo-ca.sqlite` from the made-up world, start an SMTP sink on
loopback, run `jobs.pipeline.nightly.run_once` exactly as cron would (real ledger, outbox and
report files in DIR), and say where everything went. A re-run starts from a clean slate: the
previous demo's ledger, lock, outbox and mailbox are removed first, so it reports the same cases in
one message. It must not be imported by production code (the face imports it lazily).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobs.core.errors import ConfigError
from jobs.core.model import RunOutcome
from jobs.core.settings import Settings
from jobs.demo.dataset import create_sqlite
from jobs.demo.mailsink import MailSink
from jobs.pipeline.nightly import run_once


@dataclass(frozen=True)
class DemoRun:
    """What the demo built, ran and delivered, for the face to print."""

    ca_path: Path
    certificates: int
    revocations: int
    outcome: RunOutcome
    received: int
    sink: str
    mailbox: Path
    report: Path
    ledger: Path


def run_demo(out: Path, now: datetime) -> DemoRun:
    """Build the demo CA in `out`, run the job against it at `now` and mail a loopback sink."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the demo directory {out}: {exc.strerror}") from None
    ca_path = out / "demo-ca.sqlite"
    state_path = out / "demo-state.sqlite"
    # A clean slate: the previous demo's ledger and mail. Its outbox entries belong to that
    # ledger (a new one never sends them) and would only be left lying about.
    for stale in (state_path, Path(f"{state_path}.lock")):
        stale.unlink(missing_ok=True)
    for folder in ("mailbox", "outbox"):
        shutil.rmtree(out / folder, ignore_errors=True)
    data = create_sqlite(ca_path, now, overwrite=True)
    with MailSink(directory=out / "mailbox") as sink:
        settings = Settings(
            ca_db=f"sqlite:///{ca_path.resolve()}",
            state_db=f"sqlite:///{state_path.resolve()}",
            out=out,
            smtp_host=sink.host,
            smtp_port=sink.port,
            smtp_security="none",
            mail_from="revwatch@ca.example",
            mail_to=("compliance@ca.example",),
        )
        outcome = run_once(settings, now)
        received = len(sink.messages)
    return DemoRun(
        ca_path=ca_path,
        certificates=len(data.issuance),
        revocations=len(data.revocation),
        outcome=outcome,
        received=received,
        sink=f"{sink.host}:{sink.port}",
        mailbox=out / "mailbox",
        report=(out / "report.html").resolve(),
        ledger=state_path,
    )
