"""End to end: the CLI against the demo CA in real PostgreSQL, MariaDB and SQLite, mailing a real
aiosmtpd server over STARTTLS + AUTH; the received mail is parsed with `email` and asserted on."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from jobs.core.activity import last_day
from jobs.core.settings import Settings, utcnow
from jobs.db.engines import ca_engine
from jobs.demo import dataset as demo
from jobs.face.cli import main
from jobs.pipeline.nightly import run_once
from jobs.state.ledger import Ledger
from tests.support.servers import fresh_schema_engine
from tests.support.smtp_server import ScriptedServer

SEED = "mail.cuatis.net"
NOW = utcnow().replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def demo_data() -> demo.DemoData:
    return demo.generate(NOW)


def _load(url: URL, data: demo.DemoData) -> URL:
    engine = fresh_schema_engine(url)
    try:
        demo.load(engine, data)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="module")
def pg_ca(pg_server_url: URL, demo_data: demo.DemoData) -> URL:
    return _load(pg_server_url, demo_data)


@pytest.fixture(scope="module")
def sqlite_ca(tmp_path_factory: pytest.TempPathFactory, demo_data: demo.DemoData) -> URL:
    path = tmp_path_factory.mktemp("ca") / "demo-ca.sqlite"
    return _load(make_url(f"sqlite:///{path}"), demo_data)


@pytest.fixture
def mail_env(
    smtp_starttls_auth: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ScriptedServer]:
    server = smtp_starttls_auth
    secret = tmp_path / "smtp-password"
    secret.write_text(str(server.password))
    for name, value in {
        "REVWATCH_SMTP_HOST": server.host,
        "REVWATCH_SMTP_PORT": str(server.port),
        "REVWATCH_SMTP_SECURITY": "starttls",
        "REVWATCH_SMTP_USER": str(server.user),
        "REVWATCH_SMTP_PASSWORD_FILE": str(secret),
        "REVWATCH_SMTP_CA_BUNDLE": str(server.ca_bundle),
        "REVWATCH_MAIL_FROM": "revwatch@ca.example",
        "REVWATCH_MAIL_TO": "compliance@ca.example, expertise@ca.example",
        "REVWATCH_STATE_DB": f"sqlite:///{tmp_path / 'state.sqlite'}",
    }.items():
        monkeypatch.setenv(name, value)
    yield server


def _parts(message: EmailMessage) -> dict[str, Any]:
    body_text = message.get_body(("plain",))
    body_html = message.get_body(("html",))
    attachments = list(message.iter_attachments())
    assert body_text is not None and body_html is not None
    return {
        "text": body_text.get_content(),
        "html": body_html.get_content(),
        "csv": [a for a in attachments if a.get_content_type() == "text/csv"],
    }


def _csv_rows(message: EmailMessage) -> list[dict[str, str]]:
    (attachment,) = _parts(message)["csv"]
    # Dated by the window's last day, so that several nights' files saved side by side stay apart.
    assert re.fullmatch(r"early-revocations-\d{4}-\d\d-\d\d\.csv", attachment.get_filename() or "")
    return list(csv.DictReader(io.StringIO(attachment.get_content())))


def _expected_serials(data: demo.DemoData) -> set[str]:
    return {e["serial"] for e in data.expected}


def test_acceptance_down_then_up_then_never_twice(
    pg_ca: URL,
    demo_data: demo.DemoData,
    mail_env: ScriptedServer,
    dead_smtp_port: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ca = pg_ca.render_as_string(hide_password=False)
    state = make_url(os.environ["REVWATCH_STATE_DB"])

    # 1. The mail server is down: non-zero exit, one line, nothing marked reported.
    monkeypatch.setenv("REVWATCH_SMTP_PORT", str(dead_smtp_port))
    monkeypatch.setenv("REVWATCH_SMTP_BACKOFF_CAP", "0.2s")
    assert main(["run", "--ca-db", ca]) == 4
    err = capsys.readouterr().err
    assert "revwatch: error:" in err and "Traceback" not in err
    ledger = Ledger.open(state)
    assert ledger.watermark() is None
    assert ledger.reported((e["issuer"], e["serial"]) for e in demo_data.expected) == {}
    assert [r["outcome"] for r in ledger.recent_runs()] == ["failed"]
    ledger.close()
    assert mail_env.messages == []

    # 2. The server is up: one message carrying every case once.
    monkeypatch.setenv("REVWATCH_SMTP_PORT", str(mail_env.port))
    out = tmp_path / "out"
    assert main(["run", "--ca-db", ca, "--out", str(out)]) == 0
    (message,) = mail_env.messages
    rows = _csv_rows(message)
    assert {r["serial"] for r in rows} == _expected_serials(demo_data)
    assert len(rows) == len({(r["issuer"], r["serial"]) for r in rows})
    parts = _parts(message)
    assert re.search(r'mail\.cua<ins style="[^"]+">l</ins>tis\.net', parts["html"])
    assert "mail.cua[+l]tis.net" in parts["text"]
    assert sorted(mail_env.envelopes[0][1]) == ["compliance@ca.example", "expertise@ca.example"]
    report = json.loads((out / "report.json").read_text())
    window = report["window"]
    assert message["Message-ID"] in (out / "message.eml").read_text()

    # 3. The same window again: found, but already reported, so mailed to nobody again.
    assert main(["run", "--ca-db", ca, "--since", window["since"], "--until", window["until"]]) == 0
    assert len(mail_env.messages) == 2
    again = _parts(mail_env.messages[1])
    assert "No early revocations" in again["text"]
    assert _csv_rows(mail_env.messages[1]) == []
    ledger = Ledger.open(state)
    runs = ledger.recent_runs()
    ledger.close()
    assert [r["outcome"] for r in runs] == ["success", "success", "failed"]
    assert runs[0]["cases_found"] == len(rows) and runs[0]["cases_new"] == 0


def _cases(settings: Settings) -> list[tuple[Any, ...]]:
    out = settings.out
    assert out is not None
    outcome = run_once(settings, NOW)
    assert not outcome.mailed
    report = json.loads((out / "report.json").read_text())
    return sorted(
        (
            c["issuer"],
            c["serial"],
            c["sha256"],
            tuple(c["names"]),
            c["issued_at"],
            c["revoked_at"],
            c["seconds_to_revocation"],
            c["reason"],
            c["revoked_by"],
            (c["replacement"] or {}).get("serial"),
            json.dumps(c["name_changes"]),
            tuple(c["labels"]),
        )
        for c in report["cases"]
    )


def _dry(url: URL, out: Path, state: Path) -> Settings:
    return Settings(
        ca_db=url.render_as_string(hide_password=False),
        state_db=f"sqlite:///{state}",
        out=out,
        no_mail=True,
        since=NOW - timedelta(days=14),
        until=NOW,
        # The cases are compared, not the issuance watch: it still judges every certificate by
        # the name rules, but pkilint's pass over them (most of the run) is left out. The
        # acceptance test above and the demo test run the night with the default limit.
        watch_lint_limit=0,
    )


def test_postgresql_mariadb_and_sqlite_give_the_same_cases(
    pg_ca: URL,
    sqlite_ca: URL,
    mariadb_server_url: URL,
    demo_data: demo.DemoData,
    tmp_path: Path,
) -> None:
    maria_ca = _load(mariadb_server_url, demo_data)
    state = tmp_path / "never-created.sqlite"
    from_pg = _cases(_dry(pg_ca, tmp_path / "pg", state))
    from_sqlite = _cases(_dry(sqlite_ca, tmp_path / "sqlite", state))
    from_maria = _cases(_dry(maria_ca, tmp_path / "maria", state))
    assert from_pg == from_sqlite == from_maria
    assert {c[1] for c in from_pg} == _expected_serials(demo_data)
    seed = next(c for c in from_pg if SEED in c[3])
    assert seed[6] == 4 * 3600 + 38 * 60 and seed[7] == "unspecified"
    assert json.loads(seed[10])[0]["before"] == SEED
    assert json.loads(seed[10])[0]["after"] == "mail.cualtis.net"
    assert json.loads(seed[10])[0]["distance"] == 1
    assert "likely-typo" in seed[11]
    # A dry run changes no state, not even by creating the ledger.
    assert not state.exists()
    for directory in ("pg", "sqlite", "maria"):
        assert {p.name for p in (tmp_path / directory).iterdir()} == {
            "report.html",
            "report.txt",
            "early-revocations.csv",
            "report.json",
            "message.eml",
        }


def test_late_revocations_are_not_flagged(
    pg_ca: URL, demo_data: demo.DemoData, tmp_path: Path
) -> None:
    cases = _cases(_dry(pg_ca, tmp_path / "out", tmp_path / "s.sqlite"))
    flagged = {c[1] for c in cases}
    assert demo_data.late and not flagged & {late["serial"] for late in demo_data.late}


@pytest.mark.parametrize("url_fixture", ["pg_ca", "sqlite_ca"])
def test_the_ca_database_is_opened_read_only(
    url_fixture: str, request: pytest.FixtureRequest
) -> None:
    url: URL = request.getfixturevalue(url_fixture)
    engine = ca_engine(url)
    try:
        with (
            pytest.raises(SQLAlchemyError, match=r"(?i)read-only|readonly|read only"),
            engine.begin() as connection,
        ):
            connection.execute(text("DELETE FROM revocation"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT COUNT(*) FROM revocation")).scalar()
    finally:
        engine.dispose()


def test_the_mariadb_session_is_read_only(
    mariadb_server_url: URL, demo_data: demo.DemoData
) -> None:
    url = _load(mariadb_server_url, demo_data)
    engine = ca_engine(url)
    try:
        with (
            pytest.raises(SQLAlchemyError, match=r"(?i)read.only"),
            engine.begin() as connection,
        ):
            connection.execute(text("DELETE FROM revocation"))
    finally:
        engine.dispose()


def test_a_skipped_night_is_caught_up(
    sqlite_ca: URL, demo_data: demo.DemoData, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    settings = Settings(
        ca_db=sqlite_ca.render_as_string(hide_password=False),
        state_db=f"sqlite:///{tmp_path / 'state.sqlite'}",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
        mail_from="revwatch@ca.example",
        mail_to=("compliance@ca.example",),
        watch_lint_limit=0,  # the window and the attachment are the subject, not the watch's lint
    )
    first = run_once(settings, NOW - timedelta(days=3))
    # Two nights skipped: the next run starts where the last success ended, less the overlap
    # (the threshold) that catches back-dated and late-arriving revocations.
    second = run_once(settings, NOW)
    assert second.since == first.until - timedelta(days=7)
    assert first.cases_new + second.cases_new == len(demo_data.expected)
    mailed = [r["serial"] for m in smtp_server.messages for r in _csv_rows(m)]
    assert len(mailed) == len(set(mailed)) == first.cases_new + second.cases_new


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["run", "--ca-db", "nonsense://x", "--no-mail"], 2, "unsupported database"),
        (
            ["run", "--ca-db", "postgresql://revwatch:pw@127.0.0.1:1/ca", "--no-mail"],
            3,
            "CA database",
        ),
        (
            ["run", "--ca-db", "sqlite:////nonexistent/ca.sqlite", "--no-mail"],
            2,
            "no CA database file",
        ),
        (["run", "--ca-db", "sqlite:///x", "--profile", "nope", "--no-mail"], 2, "profile"),
        (["run", "--ca-db", "sqlite:///x", "--threshold", "7 days", "--no-mail"], 2, "duration"),
        (["run", "--ca-db", "sqlite:///x", "--since", "yesterday", "--no-mail"], 2, "ISO 8601"),
        (["run", "--ca-db", "sqlite:///x"], 2, "mail is not configured"),
    ],
)
def test_cli_mistakes_are_one_line(args: list[str], code: int, needle: str, tmp_path: Path) -> None:
    result = _cli(*args, env={"REVWATCH_STATE_DB": f"sqlite:///{tmp_path / 's.sqlite'}"})
    assert result.returncode == code, result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert "pw@" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error" in line]) == 1


def test_demo_command(tmp_path: Path) -> None:
    result = _cli("demo", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    out = tmp_path / "demo"
    for name in (
        "report.html",
        "report.txt",
        "early-revocations.csv",
        "report.json",
        "message.eml",
        "demo-ca.sqlite",
    ):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    seed = next(c for c in report["cases"] if c["names"] == [SEED])
    assert seed["replacement"]["names"] == ["mail.cualtis.net"]
    assert {"before": SEED, "after": "mail.cualtis.net", "distance": 1}.items() <= (
        seed["name_changes"][0].items()
    )
    assert "likely-typo" in seed["labels"]
    assert str((out / "report.html").resolve()) in result.stdout
    assert len(list((out / "mailbox").glob("*.eml"))) == 1


def _mailed_with_out(ca: URL, server: ScriptedServer, tmp_path: Path) -> Settings:
    """A night of the demo CA mailed to `server` with --out: the attachment tests' settings.
    The watch's lint is off: the attachment and the message are their subject."""
    return Settings(
        ca_db=ca.render_as_string(hide_password=False),
        state_db=f"sqlite:///{tmp_path / 'state.sqlite'}",
        out=tmp_path / "out",
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security="none",
        mail_from="revwatch@ca.example",
        mail_to=("compliance@ca.example",),
        watch_lint_limit=0,
    )


def test_a_large_csv_is_attached_gzipped(
    sqlite_ca: URL, smtp_server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    from jobs.report import outputs

    monkeypatch.setattr(outputs, "GZIP_CSV_ABOVE", 100)
    settings = _mailed_with_out(sqlite_ca, smtp_server, tmp_path)
    run_once(settings, NOW)
    (message,) = smtp_server.messages
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/gzip"
    assert attachment.get_filename() == f"early-revocations-{last_day(NOW):%Y-%m-%d}.csv.gz"
    plain = (tmp_path / "out" / "early-revocations.csv").read_bytes()
    assert gzip.decompress(attachment.get_content()) == plain


def test_over_budget_the_attachment_drops_fingerprints_and_the_complete_csv_is_kept(
    sqlite_ca: URL, smtp_server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    from jobs.report import outputs

    monkeypatch.setattr(outputs, "GZIP_CSV_ABOVE", 100)
    monkeypatch.setattr(outputs, "ATTACHMENT_BUDGET", 100)
    settings = _mailed_with_out(sqlite_ca, smtp_server, tmp_path)
    outcome = run_once(settings, NOW)
    (message,) = smtp_server.messages
    (attachment,) = list(message.iter_attachments())
    mailed = list(csv.DictReader(io.StringIO(gzip.decompress(attachment.get_content()).decode())))
    complete = (tmp_path / "out" / "early-revocations.csv").read_bytes().decode()
    full = list(csv.DictReader(io.StringIO(complete)))
    assert len(mailed) == len(full) == outcome.cases_new > 0
    assert "sha256" not in mailed[0] and "replacement_sha256" not in mailed[0]
    assert [r["serial"] for r in mailed] == [r["serial"] for r in full]
    kept = tmp_path / "outbox" / f"{outcome.run_id}.early-revocations.csv.gz"
    assert gzip.decompress(kept.read_bytes()).decode() == complete
    text = _parts(message)["text"]
    assert "leaves out the SHA-256" in " ".join(text.split())
    assert str(kept) in text.replace("\r\n", "")  # a long path wraps mid-word


def test_a_message_over_its_size_budget_shows_fewer_cases_in_full_and_keeps_every_row(
    sqlite_ca: URL, smtp_server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mass night whose CSV, even trimmed, and 200 cases in full exceed what mail servers take
    # (Postfix refuses above 10,240,000 bytes by default): the bodies give up cases shown in full,
    # halving down to FEWEST_SHOWN, and say so; the CSV still has every case.
    import gzip

    from jobs.report import outputs

    monkeypatch.setattr(outputs, "GZIP_CSV_ABOVE", 100)
    monkeypatch.setattr(outputs, "ATTACHMENT_BUDGET", 100)
    monkeypatch.setattr(outputs, "FEWEST_SHOWN", 2)
    settings = _mailed_with_out(sqlite_ca, smtp_server, tmp_path)
    roomy = run_once(settings, NOW)
    (first,) = smtp_server.messages
    everything = _parts(first)["text"]
    in_full = len(re.findall(r"^\d+\. .* revoked, ", everything, re.MULTILINE))
    assert in_full == roomy.cases_new > 4  # within the budget: every case in full
    # The same night against a budget only a smaller message meets.
    monkeypatch.setattr(outputs, "MESSAGE_BUDGET", len(first.as_bytes()) - 1)
    smtp_server.messages.clear()
    settings = replace(settings, state_db=f"sqlite:///{tmp_path / 'again.sqlite'}")
    outcome = run_once(settings, NOW)
    (message,) = smtp_server.messages
    text = _parts(message)["text"]
    shown = len(re.findall(r"^\d+\. .* revoked, ", text, re.MULTILINE))
    assert shown == in_full // 2 and len(message.as_bytes()) <= outputs.MESSAGE_BUDGET
    assert f"shows the {shown} most severe cases in full" in " ".join(text.split())
    assert f"the {shown} most severe are shown in full" in " ".join(text.split())
    html = _parts(message)["html"]
    assert f"shows the {shown} most severe cases in full" in " ".join(html.split())
    (attachment,) = list(message.iter_attachments())
    mailed = list(csv.DictReader(io.StringIO(gzip.decompress(attachment.get_content()).decode())))
    assert len(mailed) == outcome.cases_new == in_full
    # Nothing meets a budget of one byte: it stops at FEWEST_SHOWN rather than drop every case.
    monkeypatch.setattr(outputs, "MESSAGE_BUDGET", 1)
    smtp_server.messages.clear()
    run_once(replace(settings, state_db=f"sqlite:///{tmp_path / 'third.sqlite'}"), NOW)
    (last,) = smtp_server.messages
    assert len(re.findall(r"^\d+\. .* revoked, ", _parts(last)["text"], re.MULTILINE)) == 2
