"""The delivery and state guarantees under faults, on real servers: the CA database killed mid-run
or unreachable, a crash between "server accepted" and "ledger written", refused recipients, two
runs at once, the outbox and `resend`, metrics and the JSON summary line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from jobs.core.errors import DeliveryError, SourceError
from jobs.core.settings import Settings, utcnow
from jobs.deliver import smtp as delivery
from jobs.demo import dataset as demo
from jobs.demo.mailsink import MailSink
from jobs.face.cli import main
from jobs.pipeline.nightly import run_once
from jobs.state.ledger import Ledger
from tests.support.nights import (
    UNLINTED,
    UNLINTED_ENV,
    mailed_serials,
    sqlite_demo_ca,
    unlinted_settings,
)
from tests.support.smtp_server import HeldHandler, ScriptedServer

NOW = utcnow().replace(microsecond=0)


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate(NOW)


@pytest.fixture(scope="module")
def sqlite_ca(tmp_path_factory: pytest.TempPathFactory, data: demo.DemoData) -> str:
    return sqlite_demo_ca(tmp_path_factory.mktemp("ca") / "ca.sqlite", data)


def _ledger(settings: Settings) -> Ledger:
    return Ledger.open(settings.state_url())


def _keys(data: demo.DemoData) -> list[tuple[str, str]]:
    return [(e["issuer"], e["serial"]) for e in data.expected]


def test_ca_database_killed_mid_run_changes_nothing_and_the_next_run_catches_up(
    pg_database: URL, data: demo.DemoData, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    engine = create_engine(pg_database)
    demo.load(engine, data)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE revocation RENAME TO revocation_data"))
        connection.execute(text(
            "CREATE FUNCTION slow_pass() RETURNS boolean LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(30); RETURN true; END $$"
        ))  # fmt: skip
        connection.execute(text(
            "CREATE VIEW revocation AS SELECT * FROM revocation_data WHERE (SELECT slow_pass())"
        ))  # fmt: skip
    killed: list[int] = []

    def kill_the_job_query() -> None:
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            with engine.connect() as connection:
                # Only this test's database: a benchmark or another test run on the same server
                # must never lose its session to this one.
                killed.extend(connection.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'revwatch' "
                    "AND datname = current_database() "
                    "AND state = 'active' AND query LIKE '%revocation%'"
                )).scalars())  # fmt: skip
                for pid in killed:
                    connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            time.sleep(0.1)

    settings = unlinted_settings(
        pg_database.render_as_string(hide_password=False), smtp_server, tmp_path
    )
    killer = threading.Thread(target=kill_the_job_query)
    killer.start()
    with pytest.raises(SourceError, match="CA database"):
        run_once(settings, NOW)
    killer.join()
    assert killed, "the job's query was never seen running"
    ledger = _ledger(settings)
    assert ledger.watermark() is None
    assert [r["outcome"] for r in ledger.recent_runs()] == ["failed"]
    assert "terminat" in (ledger.recent_runs()[0]["error"] or "")
    ledger.close()
    assert smtp_server.messages == []

    with engine.begin() as connection:
        connection.execute(text("DROP VIEW revocation"))
        connection.execute(text("CREATE VIEW revocation AS SELECT * FROM revocation_data"))
    engine.dispose()
    outcome = run_once(settings, NOW)
    assert outcome.mailed and outcome.cases_new == len(data.expected)
    assert sorted(mailed_serials(smtp_server.messages[0])) == sorted(
        e["serial"] for e in data.expected
    )


def test_unreachable_ca_database_fails_cleanly(smtp_server: ScriptedServer, tmp_path: Path) -> None:
    settings = unlinted_settings("postgresql://revwatch@127.0.0.1:1/ca", smtp_server, tmp_path)
    with pytest.raises(SourceError, match=r"127\.0\.0\.1"):
        run_once(settings, NOW)
    ledger = _ledger(settings)
    assert ledger.watermark() is None
    assert [r["outcome"] for r in ledger.recent_runs()] == ["failed"]
    ledger.close()


def test_crash_after_the_server_accepted_resends_the_same_message(
    sqlite_ca: str, data: demo.DemoData, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path)

    def send_then_crash(
        message: EmailMessage, smtp: delivery.SmtpSettings
    ) -> delivery.DeliveryResult:
        delivery.send(message, smtp)
        raise RuntimeError("power cut between the server's 250 and the ledger commit")

    with pytest.raises(RuntimeError, match="power cut"):
        run_once(settings, NOW, sender=send_then_crash)
    ledger = _ledger(settings)
    # Staged before the mail, never settled: the process "died" between the 250 and the ledger.
    assert [r["outcome"] for r in ledger.recent_runs()] == ["sending"]
    assert ledger.watermark() is None and ledger.reported([next(iter(_keys(data)))]) == {}
    ledger.close()
    # The next run first finishes the interrupted one: the very same message, then the ledger;
    # its own report then carries nothing new.
    outcome = run_once(settings, NOW + timedelta(minutes=1))
    first, again, own = smtp_server.messages
    assert again.as_bytes() == first.as_bytes()
    assert sorted(mailed_serials(first)) == sorted(e["serial"] for e in data.expected)
    assert mailed_serials(own) == [] and outcome.cases_new == 0 and outcome.already_reported > 0
    ledger = _ledger(settings)
    runs = ledger.recent_runs()
    ledger.close()
    assert [r["outcome"] for r in runs] == ["success", "success"]
    assert "recovered" in (runs[1]["error"] or "")
    run_once(settings, NOW + timedelta(minutes=2))  # and never a third time
    assert mailed_serials(smtp_server.messages[3]) == []


def test_a_refused_recipient_is_recorded_and_the_others_count(
    sqlite_ca: str, data: demo.DemoData, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    smtp_server.script.refuse("gone@ca.example")
    settings = unlinted_settings(
        sqlite_ca, smtp_server, tmp_path, mail_to=("compliance@ca.example", "gone@ca.example")
    )
    outcome = run_once(settings, NOW)
    assert outcome.mailed and list(outcome.refused) == ["gone@ca.example"]
    ledger = _ledger(settings)
    (run,) = ledger.recent_runs()
    assert run["outcome"] == "success" and run["refused"].startswith("gone@ca.example: 550")
    assert len(ledger.reported((e["issuer"], e["serial"]) for e in data.expected)) == len(
        data.expected
    )
    ledger.close()


def test_every_recipient_refused_is_a_failed_run(
    sqlite_ca: str, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    smtp_server.script.refuse("compliance@ca.example")
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path)
    with pytest.raises(DeliveryError):
        run_once(settings, NOW)
    ledger = _ledger(settings)
    assert ledger.watermark() is None
    ledger.close()


def test_the_outbox_keeps_a_failed_message_and_resend_sends_it_again(
    sqlite_ca: str, smtp_server: ScriptedServer, dead_smtp_port: int, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path, smtp_port=dead_smtp_port)
    with pytest.raises(DeliveryError):
        run_once(settings, NOW)
    ledger = _ledger(settings)
    run_id = ledger.recent_runs()[0]["run_id"]
    ledger.close()
    stored = tmp_path / "outbox" / f"{run_id}.eml"
    assert stored.is_file()
    for name, value in {
        "REVWATCH_SMTP_HOST": smtp_server.host, "REVWATCH_SMTP_PORT": str(smtp_server.port),
        "REVWATCH_SMTP_SECURITY": "none", "REVWATCH_MAIL_FROM": "revwatch@ca.example",
        "REVWATCH_MAIL_TO": "compliance@ca.example",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert main(["resend", run_id, "--state-db", str(settings.state_db)]) == 0
    (message,) = smtp_server.messages
    assert f"Message-ID: {message['Message-ID']}".encode() in stored.read_bytes()
    assert main(["resend", "no-such-run", "--state-db", str(settings.state_db)]) == 2
    assert main(["resend", "../../etc/passwd", "--state-db", str(settings.state_db)]) == 2


def test_metrics_follow_success_and_failure(
    sqlite_ca: str, smtp_server: ScriptedServer, dead_smtp_port: int, tmp_path: Path
) -> None:
    metrics_file = tmp_path / "textfile" / "revwatch.prom"
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path, metrics_file=metrics_file)

    def values() -> dict[str, float]:
        lines = metrics_file.read_text().splitlines()
        return {k: float(v) for k, v in (line.split() for line in lines if line[0] != "#")}

    run_once(settings, NOW)
    first = values()
    assert first["revwatch_last_run_success"] == 1
    assert first["revwatch_last_run_cases_mailed"] == first["revwatch_last_run_cases_found"] > 0
    assert first["revwatch_last_success_timestamp_seconds"] >= NOW.timestamp()
    with pytest.raises(DeliveryError):
        run_once(replace(settings, smtp_port=dead_smtp_port), NOW + timedelta(days=1))
    second = values()
    assert second["revwatch_last_run_success"] == 0
    assert second["revwatch_last_run_cases_mailed"] == 0
    assert (
        second["revwatch_last_success_timestamp_seconds"]
        == (first["revwatch_last_success_timestamp_seconds"])
    )
    assert [p.name for p in metrics_file.parent.iterdir()] == ["revwatch.prom"]


def test_the_summary_line_is_json_when_asked(sqlite_ca: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "jobs", "run", "--ca-db", sqlite_ca, "--no-mail",
         "--log-format", "json", "--state-db", f"sqlite:///{tmp_path / 's.sqlite'}"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **UNLINTED_ENV},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stderr.splitlines() if '"event": "run"' in x]
    assert line["outcome"] == "dry-run" and line["found"] >= 8 and line["mailed"] is False
    assert line["source"].startswith("sqlite:")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_runs_at_once_one_works_the_other_exits_5(
    backend: str, sqlite_ca: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        state = f"sqlite:///{tmp_path / 'state.sqlite'}"
    else:
        url: URL = request.getfixturevalue("pg_database")
        state = url.render_as_string(hide_password=False)
    handler = HeldHandler()  # the first run waits inside DATA, holding the lock, until released
    with MailSink(handler=handler) as sink:
        env = {
            **os.environ, "REVWATCH_CA_DB": sqlite_ca, "REVWATCH_STATE_DB": state,
            "REVWATCH_SMTP_HOST": sink.host, "REVWATCH_SMTP_PORT": str(sink.port),
            "REVWATCH_SMTP_SECURITY": "none", "REVWATCH_MAIL_FROM": "revwatch@ca.example",
            "REVWATCH_MAIL_TO": "compliance@ca.example", **UNLINTED_ENV,
        }  # fmt: skip
        command = [sys.executable, "-m", "jobs", "run"]
        first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while handler.data_started == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        finally:
            handler.release.set()
        _, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 5, second.stderr
    assert "another revwatch run holds the lock" in second.stderr
    assert "Traceback" not in second.stderr
    assert len(sink.messages) == 1
    ledger = Ledger.open(make_url(state))
    assert [r["outcome"] for r in ledger.recent_runs()] == ["success"]
    ledger.close()


def test_a_failed_recovery_is_a_failed_run_with_its_record(
    sqlite_ca: str, smtp_server: ScriptedServer, dead_smtp_port: int, tmp_path: Path
) -> None:
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path)

    def send_then_crash(
        message: EmailMessage, smtp: delivery.SmtpSettings
    ) -> delivery.DeliveryResult:
        delivery.send(message, smtp)
        raise RuntimeError("crash after the server's 250")

    with pytest.raises(RuntimeError):
        run_once(settings, NOW, sender=send_then_crash)
    # The server is down when the next run tries to finish the interrupted one.
    with pytest.raises(DeliveryError):
        run_once(replace(settings, smtp_port=dead_smtp_port), NOW + timedelta(minutes=1))
    ledger = _ledger(settings)
    runs = ledger.recent_runs()
    ledger.close()
    # This run failed; the interrupted one is still pending (staged, `sending`).
    assert [r["outcome"] for r in runs] == ["failed", "sending"]
    run_once(settings, NOW + timedelta(minutes=2))  # and is recovered once the server is back
    first, again, _own = smtp_server.messages
    assert again.as_bytes() == first.as_bytes()


def test_a_dry_run_creates_no_tables_in_a_postgresql_ledger(
    sqlite_ca: str, pg_database: URL, tmp_path: Path
) -> None:
    settings = Settings(
        ca_db=sqlite_ca, no_mail=True, out=tmp_path / "out",
        state_db=pg_database.render_as_string(hide_password=False), **UNLINTED,
    )  # fmt: skip
    outcome = run_once(settings, NOW)
    assert outcome.cases_found > 0 and not outcome.mailed
    engine = create_engine(pg_database)
    with engine.connect() as connection:
        tables = connection.execute(
            text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        ).scalar()
    engine.dispose()
    assert tables == 0
