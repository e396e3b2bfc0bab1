"""What the night-level tests share: a demo CA in SQLite, the job's settings against a loopback
SMTP server, and the serials a mailed report carries.

`UNLINTED` (settings) and `UNLINTED_ENV` (a command's environment) are for tests whose subject is
the ledger, the outbox, the lock or the host's files: the issuance watch still reads and judges
every certificate of the window by its name rules, but pkilint lints none of them. On the demo CA
that pass is ~770 certificates and most of a night's time (about 4 of 4.5 s on two CPUs, and a
command's pkilint import and validators besides); what it finds is the subject of
tests/test_watch.py, tests/test_lint.py and the end-to-end tests (tests/test_pipeline.py's
acceptance test, the demo and README tests), which keep the default limit."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import create_engine

from jobs.core.settings import Settings
from jobs.demo import dataset as demo
from tests.support.smtp_server import ScriptedServer

UNLINTED: dict[str, object] = {"watch_lint_limit": 0}
UNLINTED_ENV = {"REVWATCH_WATCH_LINT_LIMIT": "0"}


def sqlite_demo_ca(path: Path, data: demo.DemoData) -> str:
    """The demo data loaded into a new SQLite file at `path`; its URL."""
    engine = create_engine(f"sqlite:///{path}")
    demo.load(engine, data)
    engine.dispose()
    return f"sqlite:///{path}"


def job_settings(ca: str, server: ScriptedServer, tmp_path: Path, **changes: object) -> Settings:
    """Settings of a run against `ca` that mails `server` (plain SMTP, fast retries)."""
    base = Settings(
        ca_db=ca,
        state_db=f"sqlite:///{tmp_path / 'state.sqlite'}",
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security="none",
        smtp_attempts=2,
        smtp_backoff_cap=0.05,
        mail_from="revwatch@ca.example",
        mail_to=("compliance@ca.example",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def unlinted_settings(
    ca: str, server: ScriptedServer, tmp_path: Path, **changes: object
) -> Settings:
    """`job_settings` whose issuance watch lints nothing (`UNLINTED`, the module docstring)."""
    return job_settings(ca, server, tmp_path, **{**UNLINTED, **changes})


def mailed_serials(message: EmailMessage) -> list[str]:
    """The serials of the cases in a report message's CSV attachment."""
    (attachment,) = [a for a in message.iter_attachments() if a.get_content_type() == "text/csv"]
    return [row["serial"] for row in csv.DictReader(io.StringIO(attachment.get_content()))]


def mail_environment(server: ScriptedServer) -> dict[str, str]:
    """The `REVWATCH_*` variables of a command that mails `server` (plain SMTP)."""
    return {
        "REVWATCH_SMTP_HOST": server.host, "REVWATCH_SMTP_PORT": str(server.port),
        "REVWATCH_SMTP_SECURITY": "none", "REVWATCH_SMTP_ATTEMPTS": "2",
        "REVWATCH_SMTP_BACKOFF_CAP": "0.05s", "REVWATCH_MAIL_FROM": "revwatch@ca.example",
        "REVWATCH_MAIL_TO": "compliance@ca.example",
    }  # fmt: skip
