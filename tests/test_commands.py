"""The face's commands over the pipeline: `resend` through the ledger and its lock, `status`
read-only, `demo` re-runs and bad `--out`; on a real SQLite CA and ledger and a real SMTP server."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from jobs.core.errors import DeliveryError
from jobs.core.settings import Settings, utcnow
from jobs.demo import dataset as demo
from jobs.demo.run import run_demo
from jobs.face.cli import main
from jobs.pipeline.nightly import run_once
from jobs.state.ledger import Ledger
from tests.support.nights import mailed_serials, sqlite_demo_ca, unlinted_settings
from tests.support.smtp_server import ScriptedServer

NOW = utcnow().replace(microsecond=0)


@pytest.fixture(scope="module")
def sqlite_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_demo_ca(tmp_path_factory.mktemp("ca") / "ca.sqlite", demo.generate(NOW))


def _mail_env(monkeypatch: pytest.MonkeyPatch, server: ScriptedServer) -> None:
    for name, value in {
        "REVWATCH_SMTP_HOST": server.host, "REVWATCH_SMTP_PORT": str(server.port),
        "REVWATCH_SMTP_SECURITY": "none", "REVWATCH_MAIL_FROM": "revwatch@ca.example",
        "REVWATCH_MAIL_TO": "compliance@ca.example",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)


def _failed_night(settings: Settings, dead_port: int) -> str:
    with pytest.raises(DeliveryError):
        run_once(replace(settings, smtp_port=dead_port), NOW)
    ledger = Ledger.open(settings.state_url())
    try:
        (run,) = ledger.recent_runs()
    finally:
        ledger.close()
    assert run["outcome"] == "failed"
    return str(run["run_id"])


def test_resend_records_its_cases_so_the_next_night_does_not_mail_them_again(
    sqlite_ca: str, smtp_server: ScriptedServer, dead_smtp_port: int, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path, smtp_attempts=1)
    run_id = _failed_night(settings, dead_smtp_port)
    _mail_env(monkeypatch, smtp_server)
    assert main(["resend", run_id, "--state-db", str(settings.state_db)]) == 0
    (resent,) = smtp_server.messages
    mailed = mailed_serials(resent)
    assert mailed, "the demo CA has early revocations in the window"

    outcome = run_once(settings, NOW)
    # The resend moved the watermark: the next window is its overlap, whose cases it mailed.
    assert outcome.cases_new == 0 and outcome.already_reported == outcome.cases_found > 0
    assert mailed_serials(smtp_server.messages[-1]) == []  # a quiet report, no case twice


def test_resend_of_a_recorded_run_needs_force(
    sqlite_ca: str, smtp_server: ScriptedServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path)
    outcome = run_once(settings, NOW)
    _mail_env(monkeypatch, smtp_server)
    capsys.readouterr()
    assert main(["resend", outcome.run_id, "--state-db", str(settings.state_db)]) == 2
    assert "already recorded" in capsys.readouterr().err
    assert len(smtp_server.messages) == 1
    assert main(["resend", outcome.run_id, "--force", "--state-db", str(settings.state_db)]) == 0
    first, again = smtp_server.messages
    assert first["Message-ID"] == again["Message-ID"]
    captured = capsys.readouterr()
    assert captured.out == "" and "recorded=0" in captured.err  # a summary line, not output


def test_status_creates_nothing_where_no_ledger_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "not" / "here" / "state.sqlite"
    assert main(["status", "--state-db", f"sqlite:///{target}"]) == 0
    assert "no ledger there yet" in capsys.readouterr().out
    assert not (tmp_path / "not").exists()


def test_status_reads_the_ledger_without_changing_it(
    sqlite_ca: str, smtp_server: ScriptedServer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path)
    outcome = run_once(settings, NOW)
    path = tmp_path / "state.sqlite"
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["status", "--state-db", str(settings.state_db)]) == 0
    printed = capsys.readouterr().out
    assert outcome.run_id in printed and "success" in printed  # resend needs the run ids
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_the_demo_run_twice_reports_the_same_cases_in_one_message_each(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = run_demo(out, NOW)
    second = run_demo(out, NOW)
    assert first.received == 1 and second.received == 1
    assert first.outcome.cases_found == second.outcome.cases_found > 0
    assert first.outcome.message_id == second.outcome.message_id


def test_demo_out_that_is_a_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "report.txt"
    existing.write_text("not a directory")
    assert main(["demo", "--out", str(existing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("revwatch: error:") and "Traceback" not in err
    assert existing.read_text() == "not a directory"
