"""Nothing lost, nothing twice, off the paths the lifecycle walks (issue 10), on real SQLite and
PostgreSQL ledgers and a real SMTP server: serials longer than any column, old ledgers migrated,
ledgers sharing an outbox or made anew, the outbox pruned, a read-only or full ledger found before
anything is mailed, a ledger that fails after the server accepted, first runs migrating at once,
the CA database given as the ledger, a dry run that cannot read its ledger, and the run-level
record problems carried by the report."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from jobs.core.errors import StateError
from jobs.core.model import ledger_key
from jobs.core.settings import Settings, utcnow
from jobs.deliver import smtp as delivery
from jobs.demo import dataset as demo
from jobs.demo import schema as generic_schema
from jobs.face.cli import main
from jobs.pipeline.nightly import run_once
from jobs.state import schema
from jobs.state.ledger import Ledger, RunRecord
from tests.support.faults import command, frozen, read_only_database, set_read_only
from tests.support.nights import (
    UNLINTED_ENV,
    mail_environment,
    mailed_serials,
    sqlite_demo_ca,
    unlinted_settings,
)
from tests.support.servers import PG_ADMIN, throwaway_database
from tests.support.smtp_server import ScriptedServer

NOW = utcnow().replace(microsecond=0)
# 300 hex digits (reported "as written" by a CA), and 4000: no VARCHAR or index entry holds both.
LONG_SERIALS = ("f" + "0123456789abcdef" * 18 + "0123456789a", "e" * 4000)


class Crash(Exception):
    """The process dying between the server's 250 and the ledger."""


def _send_then_crash(message: EmailMessage, smtp: delivery.SmtpSettings) -> delivery.DeliveryResult:
    delivery.send(message, smtp)
    raise Crash


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate(NOW)


@pytest.fixture(scope="module")
def sqlite_ca(tmp_path_factory: pytest.TempPathFactory, data: demo.DemoData) -> str:
    return sqlite_demo_ca(tmp_path_factory.mktemp("ca") / "ca.sqlite", data)


@pytest.fixture(scope="module")
def long_serial_ca(tmp_path_factory: pytest.TempPathFactory, data: demo.DemoData) -> str:
    """The demo CA plus two early revocations with LONG_SERIALS (no DER: no certificate holds
    such a serial, but a CA database may)."""
    path = tmp_path_factory.mktemp("long") / "ca.sqlite"
    url = sqlite_demo_ca(path, data)
    template = data.issuance[0]
    issued = NOW - timedelta(hours=30)
    engine = create_engine(url)
    with engine.begin() as connection:
        generic_schema.insert(
            connection,
            [{**template, "serial": serial, "der": None, "issued_at": issued,
              "not_before": issued - timedelta(minutes=10)} for serial in LONG_SERIALS],
            [{"issuer_dn": template["issuer_dn"], "serial": serial, "reason_code": 4,
              "revoked_at": issued + timedelta(hours=2), "revoked_by": "ra-operator-test",
              "comment": None} for serial in LONG_SERIALS],
        )  # fmt: skip
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.sqlite'}"
    else:
        url: URL = request.getfixturevalue("pg_database")
        yield url.render_as_string(hide_password=False)


def _outcomes(settings: Settings) -> list[str]:
    ledger = Ledger.open(settings.state_url())
    try:
        return [str(r["outcome"]) for r in ledger.recent_runs(50)]
    finally:
        ledger.close()


# --- keys of any length, and ledgers of the old schema ------------------------------------------


def test_serials_longer_than_any_column_are_recorded_and_never_mailed_again(
    long_serial_ca: str, ledger_url: str, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    settings = unlinted_settings(long_serial_ca, smtp_server, tmp_path, state_db=ledger_url)
    first = run_once(settings, NOW)
    assert first.mailed and set(LONG_SERIALS) <= set(mailed_serials(smtp_server.messages[0]))
    # The same window again (a hand-given one): every case, the long ones too, already reported.
    second = run_once(replace(settings, since=first.since), NOW + timedelta(minutes=1))
    assert second.cases_new == 0 and second.already_reported == first.cases_new
    assert mailed_serials(smtp_server.messages[1]) == []
    assert _outcomes(settings) == ["success", "success"]


def _ledger_of_schema_4(url: URL) -> None:
    """A ledger as revwatch left it before migration 5, holding one reported case."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE revwatch_schema_migrations (version INTEGER PRIMARY KEY, "
            "applied_at VARCHAR(40) NOT NULL)"
        ))  # fmt: skip
        for migration in schema.migrations(url.get_backend_name())[:4]:
            for statement in migration.statements:
                connection.execute(statement.clause())
            connection.execute(
                text("INSERT INTO revwatch_schema_migrations VALUES (:v, '2026-01-01')"),
                {"v": migration.version},
            )
        connection.execute(text(
            "INSERT INTO revwatch_runs (run_id, started_at, finished_at, window_since, "
            "window_until, threshold_seconds, cases_found, cases_new, outcome) VALUES ('r4', "
            "'2026-01-01', '2026-01-01', '2025-12-31', '2026-01-01', 604800, 1, 1, 'success')"
        ))  # fmt: skip
        connection.execute(text(
            "INSERT INTO revwatch_reported_cases (issuer, serial, run_id, revoked_at, "
            "reported_at) VALUES ('CN=Old CA, O=Ü', '0a1b', 'r4', '2026-01-01', '2026-01-01')"
        ))  # fmt: skip
    engine.dispose()


def test_a_ledger_of_schema_4_keeps_its_cases_and_takes_long_serials(ledger_url: str) -> None:
    url = make_url(ledger_url)
    _ledger_of_schema_4(url)
    with pytest.raises(StateError, match="lacks migration"):  # a dry run cannot migrate it
        Ledger.open_read_only(url)
    ledger = Ledger.open(url)
    try:
        assert ledger.migrate() == []
        # The SQL digest of migration 5 (PostgreSQL) and the registered function (SQLite) are
        # `ledger_key`: the old case is still found by it.
        assert ledger.reported([("CN=Old CA, O=Ü", "0a1b")]) == {("CN=Old CA, O=Ü", "0a1b"): "r4"}
        when = NOW - timedelta(days=1)
        run = RunRecord("r5", when, when, when, NOW, 604800, 2, 2, "success")
        ledger.record_success(run, [("CN=Old CA, O=Ü", s, when) for s in LONG_SERIALS])
        assert len(ledger.reported(("CN=Old CA, O=Ü", s) for s in LONG_SERIALS)) == 2
        with ledger.engine.connect() as connection:
            keys = connection.execute(text("SELECT case_key FROM revwatch_reported_cases"))
            assert ledger_key("CN=Old CA, O=Ü", "0a1b") in {k.strip() for k in keys.scalars()}
    finally:
        ledger.close()


# --- the outbox belongs to one ledger -----------------------------------------------------------


def test_ledgers_sharing_an_outbox_never_send_each_others_messages(
    sqlite_ca: str, pg_database: URL, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    shared = tmp_path / "outbox"
    a = unlinted_settings(
        sqlite_ca, smtp_server, tmp_path, outbox=shared, mail_to=("a@ca.example",)
    )
    b = replace(
        a, state_db=pg_database.render_as_string(hide_password=False), mail_to=("b@ca.example",)
    )
    with pytest.raises(Crash):
        run_once(a, NOW, sender=_send_then_crash)  # A's message accepted, A's run still pending
    run_once(b, NOW + timedelta(minutes=1))  # B's own night, nothing of A's
    run_once(a, NOW + timedelta(minutes=2))  # A finishes its own, then its night
    recipients = [list(rcpt) for _, rcpt in smtp_server.envelopes]
    assert recipients == [["a@ca.example"], ["b@ca.example"], ["a@ca.example"], ["a@ca.example"]]
    first, from_b, again, own = smtp_server.messages
    assert again.as_bytes() == first.as_bytes()  # A's recovery: the same message
    assert sorted(mailed_serials(from_b)) == sorted(mailed_serials(first))  # B's own report
    assert mailed_serials(own) == []
    assert _outcomes(b) == ["success"] and _outcomes(a) == ["success", "success"]


def test_a_ledger_made_anew_does_not_resend_the_old_ledgers_messages(
    sqlite_ca: str, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    """The demo re-run, whatever clears or keeps the outbox: a new ledger at the same path."""
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path)
    with pytest.raises(Crash):
        run_once(settings, NOW, sender=_send_then_crash)
    for stale in (tmp_path / "state.sqlite", tmp_path / "state.sqlite.lock"):
        stale.unlink()
    run_once(settings, NOW + timedelta(minutes=1))
    first, fresh = smtp_server.messages
    assert sorted(mailed_serials(fresh)) == sorted(mailed_serials(first))  # same cases, once


def test_settled_outbox_entries_are_pruned_after_the_retention(
    sqlite_ca: str, smtp_server: ScriptedServer, dead_smtp_port: int, tmp_path: Path
) -> None:
    box = tmp_path / "outbox"
    settings = unlinted_settings(
        sqlite_ca, smtp_server, tmp_path, outbox_retention=timedelta(days=2)
    )
    other = replace(settings, state_db=f"sqlite:///{tmp_path / 'other.sqlite'}")
    old = run_once(settings, NOW - timedelta(days=5))
    with pytest.raises(delivery.DeliveryError):
        run_once(replace(settings, smtp_port=dead_smtp_port), NOW - timedelta(days=4))
    failed = next(p.stem for p in box.glob("*.eml") if p.stem != old.run_id)
    foreign = run_once(other, NOW - timedelta(days=5))
    recent = run_once(settings, NOW - timedelta(days=1))
    latest = run_once(settings, NOW)
    kept = sorted(p.name for p in box.iterdir())
    for run_id in (old.run_id, failed):
        assert not any(name.startswith(run_id) for name in kept), kept
    for run_id in (foreign.run_id, recent.run_id, latest.run_id):  # another ledger's; recent
        assert f"{run_id}.eml" in kept and f"{run_id}.json" in kept
    assert not any(name.endswith((".accepted", ".tmp")) for name in kept)


# --- the ledger's write is proven before the mail ----------------------------------------------


@pytest.mark.parametrize("how", ["file", "directory"])
def test_a_read_only_sqlite_ledger_fails_before_anything_is_mailed(
    how: str, sqlite_ca: str, smtp_server: ScriptedServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A 0444 ledger and lock file ("file"), or a read-only mount without a lock file yet."""
    for name, value in (mail_environment(smtp_server) | UNLINTED_ENV).items():
        monkeypatch.setenv(name, value)
    state = tmp_path / "ledger" / "state.sqlite"
    args = ["run", "--ca-db", sqlite_ca, "--state-db", f"sqlite:///{state}"]
    Ledger.open(make_url(f"sqlite:///{state}")).close()  # an existing, current ledger
    lock = Path(f"{state}.lock")
    if how == "file":
        lock.touch()
    targets = (state, lock) if how == "file" else (state, state.parent)
    capsys.readouterr()
    with frozen(*targets):
        assert main(args) == 6
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("revwatch: error:") and "Traceback" not in err
    assert ("nothing was mailed" if how == "file" else "cannot open the lock file") in err
    assert smtp_server.messages == []
    assert main(args) == 0  # writable again: the night is mailed once
    (message,) = smtp_server.messages
    assert mailed_serials(message)


def test_a_read_only_postgresql_ledger_fails_before_anything_is_mailed(
    sqlite_ca: str, pg_database: URL, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    state_db = pg_database.render_as_string(hide_password=False)
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path, state_db=state_db)
    Ledger.open(pg_database).close()
    with read_only_database(pg_database), pytest.raises(StateError, match="read-only"):
        run_once(settings, NOW)
    assert smtp_server.messages == []
    assert run_once(settings, NOW).mailed and len(smtp_server.messages) == 1


def test_a_full_ledger_fails_before_anything_is_mailed(
    sqlite_ca: str, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    """The ledger's disk is full: the file cannot grow (RLIMIT_FSIZE at its size: EFBIG, which
    SQLite reports as a full disk). Its index pages are packed, so the night's cases need more."""
    state = tmp_path / "state.sqlite"
    ledger = Ledger.open(make_url(f"sqlite:///{state}"))
    history = sorted(
        (("CN=History CA", format(n, "x")) for n in range(1, 4000)), key=lambda k: ledger_key(*k)
    )
    when = NOW - timedelta(days=400)
    run = RunRecord("old", when, when, when - timedelta(days=1), when, 604800, 1, 1, "success")
    ledger.record_success(run, [(issuer, serial, when) for issuer, serial in history])
    ledger.close()
    env = {**mail_environment(smtp_server), **UNLINTED_ENV, "REVWATCH_CA_DB": sqlite_ca,
           "REVWATCH_STATE_DB": f"sqlite:///{state}"}  # fmt: skip
    result = command(["run"], env, file_size_limit=state.stat().st_size)
    assert result.returncode == 6, result.stderr
    assert "nothing was mailed" in result.stderr and "full" in result.stderr
    assert smtp_server.messages == []
    assert command(["run"], env).returncode == 0
    assert len(smtp_server.messages) == 1


def test_a_ledger_failing_after_the_server_accepted_costs_no_second_mail(
    sqlite_ca: str, pg_database: URL, smtp_server: ScriptedServer, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The ledger turns read-only between the server's 250 and the settling of the run: exit 6,
    the summary says the report was mailed, and the next run records it without mailing it."""
    state_db = pg_database.render_as_string(hide_password=False)
    settings = unlinted_settings(sqlite_ca, smtp_server, tmp_path, state_db=state_db)
    Ledger.open(pg_database).close()

    def send_then_lose_the_ledger(
        message: EmailMessage, smtp: delivery.SmtpSettings
    ) -> delivery.DeliveryResult:
        result = delivery.send(message, smtp)
        set_read_only(pg_database, True)
        return result

    caplog.set_level(logging.INFO, logger="revwatch.run")
    try:
        with pytest.raises(StateError, match=r"accepted the report .* without mailing it again"):
            run_once(settings, NOW, sender=send_then_lose_the_ledger)
    finally:
        set_read_only(pg_database, False)
    (summary,) = [r.summary for r in caplog.records if hasattr(r, "summary")]
    assert summary["outcome"] == "failed" and summary["mailed"] is True
    assert summary["message_id"] == str(smtp_server.messages[0]["Message-ID"])
    outcome = run_once(settings, NOW + timedelta(minutes=1))
    _first, own = smtp_server.messages  # not the first message again
    assert mailed_serials(own) == [] and outcome.cases_new == 0 and outcome.already_reported > 0
    assert _outcomes(settings) == ["success", "success"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_first_runs_started_at_once_migrate_once(backend: str, tmp_path: Path) -> None:
    for attempt in range(3):
        database = throwaway_database(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432")
        if backend == "sqlite":
            url = make_url(f"sqlite:///{tmp_path / f'state-{attempt}.sqlite'}")
        else:
            url = next(database)
        start, errors = threading.Barrier(4), []

        def first_run(
            url: URL = url, start: threading.Barrier = start, errors: list[Exception] = errors
        ) -> None:
            start.wait()
            try:
                Ledger.open(url).close()
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=first_run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert errors == []
            ledger = Ledger.open(url)
            with ledger.engine.connect() as connection:
                versions = connection.execute(
                    text("SELECT version FROM revwatch_schema_migrations")
                )
                assert sorted(versions.scalars()) == list(range(1, schema.latest_version() + 1))
            assert len(ledger.identity) == 32
            ledger.close()
        finally:
            database.close()


# --- commands that must not write where they should not ----------------------------------------


def test_the_ca_database_is_refused_as_the_ledger(
    data: demo.DemoData, smtp_server: ScriptedServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in (mail_environment(smtp_server) | UNLINTED_ENV).items():
        monkeypatch.setenv(name, value)
    ca_path = tmp_path / "ca" / "ca.sqlite"
    ca_path.parent.mkdir()
    ca = sqlite_demo_ca(ca_path, data)
    monkeypatch.chdir(tmp_path)
    for spelling in (ca, "sqlite:///ca/./ca.sqlite", "sqlite:///ca/../ca/ca.sqlite"):
        capsys.readouterr()
        assert main(["run", "--ca-db", ca, "--state-db", spelling]) == 2
        assert "is the CA database itself" in capsys.readouterr().err
    engine = create_engine(ca)
    with engine.connect() as connection:
        tables = connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
        assert not [t for t in tables.scalars() if t.startswith("revwatch")]
    engine.dispose()
    assert smtp_server.messages == []


def test_a_dry_run_that_cannot_read_its_ledger_fails_unless_told_to_ignore_it(
    sqlite_ca: str, smtp_server: ScriptedServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in UNLINTED_ENV.items():  # the ledger is the subject, not the watch's lint
        monkeypatch.setenv(name, value)
    dry = ["run", "--ca-db", sqlite_ca, "--no-mail", "--out", str(tmp_path / "out")]
    assert main([*dry, "--state-db", "postgresql://revwatch@127.0.0.1:1/ledger"]) == 6
    assert "state database" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    ignoring = [*dry, "--state-db", "postgresql://revwatch@127.0.0.1:1/ledger", "--ignore-ledger"]
    assert main(ignoring) == 0
    assert main([*dry, "--state-db", "mysql://revwatch@127.0.0.1/ledger"]) == 2  # unsupported
    for name, value in (mail_environment(smtp_server) | UNLINTED_ENV).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    assert main(["run", "--ca-db", sqlite_ca, "--ignore-ledger"]) == 2
    assert "--ignore-ledger is for a dry run" in capsys.readouterr().err
    assert smtp_server.messages == []


def test_status_on_a_postgresql_database_creates_nothing(
    pg_database: URL, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--state-db", pg_database.render_as_string(hide_password=False)]) == 0
    assert "no ledger there yet" in capsys.readouterr().out
    engine = create_engine(pg_database)
    with engine.connect() as connection:
        count = connection.execute(text(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )).scalar()  # fmt: skip
    engine.dispose()
    assert count == 0


# --- run-level problems reach the report and the mail ------------------------------------------


def test_record_problems_that_belong_to_no_case_are_in_report_json_and_the_mail(
    data: demo.DemoData, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    ca = sqlite_demo_ca(tmp_path / "ca.sqlite", data)
    engine = create_engine(ca)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO revocation (id, issuer_dn, serial, revoked_at, reason_code) "
            "VALUES (987654, 'CN=Problem CA', 'abcd', 'not a time', 1)"
        ))  # fmt: skip
    engine.dispose()
    outcome = run_once(unlinted_settings(ca, smtp_server, tmp_path, out=tmp_path / "out"), NOW)
    assert outcome.problems == 1
    document = json.loads((tmp_path / "out" / "report.json").read_text())
    (problem,) = document["problems"]
    assert problem["code"] == "data.revocation_time_unreadable" and problem["severity"] == "error"
    assert "987654" in problem["record"] and "not a time" in problem["message"]
    (message,) = smtp_server.messages
    body = message.get_body(("plain",))
    assert body is not None and "data.revocation_time_unreadable" in body.get_content()
    html = message.get_body(("html",))
    assert html is not None and "Records that could not be examined" in html.get_content()
