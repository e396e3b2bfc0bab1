"""The files the job writes on its host (issue 10): outputs, outbox, metrics, the backfill's
evidence, the SQLite ledger and its lock. Each is written whole or not at all and readable by the
job's user alone; a file that cannot be written is an output error (exit 7) that leaves nothing
partial and mails nothing, except the metrics file, whose failure changes no exit code; and a
stopped backfill resumes with the README's own command. Real SQLite and PostgreSQL ledgers, a
real SMTP server, real write failures (a path through a regular file, a file-size limit)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from jobs.core.settings import Settings, utcnow
from jobs.demo import dataset as demo
from jobs.face.cli import main
from jobs.pipeline.backfill import CHECKPOINT, run_backfill
from jobs.state.ledger import Ledger
from tests.support.faults import command
from tests.support.nights import UNLINTED_ENV, mail_environment, mailed_serials, sqlite_demo_ca
from tests.support.smtp_server import ScriptedServer

NOW = utcnow().replace(microsecond=0)


@pytest.fixture(scope="module")
def sqlite_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    return sqlite_demo_ca(tmp_path_factory.mktemp("ca") / "ca.sqlite", demo.generate(NOW))


@pytest.fixture
def mail(smtp_server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> ScriptedServer:
    for name, value in (mail_environment(smtp_server) | UNLINTED_ENV).items():
        monkeypatch.setenv(name, value)
    return smtp_server


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _outcomes(state: Path) -> list[str]:
    ledger = Ledger.open_read_only(Settings(state_db=f"sqlite:///{state}").state_url())
    assert ledger is not None
    try:
        return [str(r["outcome"]) for r in ledger.recent_runs()]
    finally:
        ledger.close()


def test_an_unwritable_metrics_file_changes_no_exit_code(
    sqlite_ca: str, mail: ScriptedServer, dead_smtp_port: int, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    state = tmp_path / "state.sqlite"
    args = ["run", "--ca-db", sqlite_ca, "--state-db", f"sqlite:///{state}",
            "--metrics-file", str(blocker / "revwatch.prom")]  # fmt: skip
    assert main(args) == 0  # mailed and recorded: a success, whatever the metrics
    assert "cannot write the metrics file" in capsys.readouterr().err
    assert len(mail.messages) == 1 and _outcomes(state) == ["success"]
    monkeypatch.setenv("REVWATCH_SMTP_PORT", str(dead_smtp_port))
    assert main(args) == 4  # the delivery failure, not masked by the metrics
    assert _outcomes(state) == ["failed", "success"]


def test_an_out_directory_that_cannot_be_written_is_exit_7_and_mails_nothing(
    sqlite_ca: str, mail: ScriptedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    state = tmp_path / "state.sqlite"
    args = ["run", "--ca-db", sqlite_ca, "--state-db", f"sqlite:///{state}"]
    assert main([*args, "--out", str(blocker / "out")]) == 7
    err = capsys.readouterr().err
    assert "revwatch: error: cannot write the outputs" in err and "Traceback" not in err
    assert mail.messages == [] and _outcomes(state) == ["failed"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    (message,) = mail.messages
    assert mailed_serials(message)


def test_an_outbox_that_cannot_be_written_is_exit_7_and_its_cases_stay_unreported(
    sqlite_ca: str, mail: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    state = tmp_path / "state.sqlite"
    args = ["run", "--ca-db", sqlite_ca, "--state-db", f"sqlite:///{state}"]
    monkeypatch.setenv("REVWATCH_OUTBOX", str(blocker / "outbox"))
    assert main(args) == 7
    assert mail.messages == [] and _outcomes(state) == ["failed"]
    monkeypatch.setenv("REVWATCH_OUTBOX", str(tmp_path / "outbox"))
    assert main(args) == 0  # the staged cases were dropped with the failure: all mailed now
    (message,) = mail.messages
    assert len(mailed_serials(message)) > 0
    ledger = Ledger.open_read_only(Settings(state_db=f"sqlite:///{state}").state_url())
    assert ledger is not None
    (success, failed) = ledger.recent_runs()
    assert (success["cases_new"], failed["outcome"]) == (len(mailed_serials(message)), "failed")
    ledger.close()


def test_a_disk_that_fills_mid_report_leaves_no_partial_file_and_mails_nothing(
    sqlite_ca: str, pg_database: URL, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    """RLIMIT_FSIZE makes a write past 4 KiB fail (EFBIG) in the middle of report.html, as a
    full disk fails one with ENOSPC; a PostgreSQL ledger keeps the ledger off the limit."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("the previous night's report")
    env = {**mail_environment(smtp_server), **UNLINTED_ENV, "REVWATCH_CA_DB": sqlite_ca,
           "REVWATCH_STATE_DB": pg_database.render_as_string(hide_password=False)}  # fmt: skip
    result = command(["run", "--out", str(out)], env, file_size_limit=4096)
    assert result.returncode == 7, result.stderr
    assert "revwatch: error: cannot write the outputs" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # no temporary file left
    assert (out / "report.html").read_text() == "the previous night's report"
    assert smtp_server.messages == []
    assert command(["run", "--out", str(out)], env).returncode == 0
    assert len(smtp_server.messages) == 1
    assert "early revocation" in (out / "report.html").read_text()


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most hosts run with (022): it would leave new files readable by all."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("usual_umask")
def test_files_that_hold_cases_are_the_jobs_users_alone(
    sqlite_ca: str, mail: ScriptedServer, tmp_path: Path
) -> None:
    state = tmp_path / "ledger" / "state.sqlite"
    out, metrics = tmp_path / "out", tmp_path / "textfile" / "revwatch.prom"
    assert main(["run", "--ca-db", sqlite_ca, "--state-db", f"sqlite:///{state}",
                 "--out", str(out), "--metrics-file", str(metrics)]) == 0  # fmt: skip
    private = [state, Path(f"{state}.lock"), *out.iterdir(), *(state.parent / "outbox").iterdir()]
    assert len(private) >= 2 + 5 + 2
    assert {p.name: _mode(p) for p in private} == {p.name: 0o600 for p in private}
    assert _mode(out) == _mode(state.parent) == _mode(state.parent / "outbox") == 0o700
    assert _mode(metrics) == 0o644  # node_exporter reads it as another user: counts, no cases
    backfill = tmp_path / "evidence"
    since = (NOW - timedelta(days=20)).isoformat()
    assert main(["backfill", "--ca-db", sqlite_ca, "--since", since, "--out", str(backfill)]) == 0
    assert {p.name: _mode(p) for p in backfill.iterdir()} == {
        p.name: 0o600 for p in backfill.iterdir()
    }


def test_a_backfill_resumes_with_the_readmes_own_command(
    sqlite_ca: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evidence"
    args = ["backfill", "--ca-db", sqlite_ca, "--since", (NOW - timedelta(days=40)).isoformat(),
            "--chunk", "7d", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0  # the same command later: "now" moved, the backfill is the same
    assert capsys.readouterr().out == first


def test_a_stopped_backfill_resumes_to_the_end_it_started_with(
    sqlite_ca: str, tmp_path: Path
) -> None:
    settings, since = Settings(ca_db=sqlite_ca), NOW - timedelta(days=40)
    started = NOW - timedelta(hours=1)
    first = run_backfill(
        settings, since=since, until=None, out=tmp_path, chunk=timedelta(days=7), now=started,
        stop_after=2,
    )  # fmt: skip
    assert first.resumed_from is None
    second = run_backfill(
        settings, since=since, until=None, out=tmp_path, chunk=timedelta(days=7), now=NOW
    )
    assert second.resumed_from is not None
    summary = json.loads(second.summary_json.read_text())
    assert summary["complete"] and summary["window"]["until"] == started.isoformat()
    assert not (tmp_path / CHECKPOINT).with_suffix(".tmp").exists()
    with pytest.raises(Exception, match="another backfill"):  # a different end, given: refused
        run_backfill(settings, since=since, until=NOW, out=tmp_path, now=NOW)
