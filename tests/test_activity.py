"""The 30-day trend and the operators on real data, through the whole job: the generic schema in
SQLite, PostgreSQL and MariaDB (the demo's CA), EJBCA's schema in PostgreSQL and MariaDB, and
Boulder's in MariaDB. Each night's report.json is held to counts made independently in Python
from the rows the test loaded, and the mail's subject and the severity colours to the cases."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.engine import URL

from jobs.core.activity import Activity, span
from jobs.core.errors import SourceError
from jobs.core.settings import Settings
from jobs.demo import dataset
from jobs.demo import schema as generic_schema
from jobs.pipeline.nightly import run_once
from jobs.pipeline.steps import read_activity
from jobs.source.profiles.boulder import WHO_NOT_STORED
from tests.support import boulder_data, ejbca_data
from tests.support.ca_schemas import insert, run_script, scratch_database

NOW = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
THRESHOLD = timedelta(days=7)
RED = "background-color:#b3261e"


@pytest.fixture(scope="module")
def demo() -> dataset.DemoData:
    return dataset.generate(NOW)


def expected_activity(data: dataset.DemoData) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The demo CA's trend and operators, counted here from the rows themselves."""
    start, until = span(NOW)
    issued = {(r["issuer_dn"], r["serial"]): r["issued_at"] for r in data.issuance}
    days: Counter[tuple[date, bool]] = Counter()
    operators: Counter[tuple[str, bool]] = Counter()
    for row in data.revocation:
        if not start <= row["revoked_at"] < until:
            continue
        early = row["revoked_at"] <= issued[row["issuer_dn"], row["serial"]] + THRESHOLD
        days[(row["revoked_at"].date(), early)] += 1
        operators[(row["revoked_by"], early)] += 1
    trend = []
    for back in range(29, -1, -1):
        day = NOW.date() - timedelta(days=back)
        early = days[(day, True)]
        trend.append(
            {
                "day": day.isoformat(),
                "early_revocations": early,
                "revocations": early + days[(day, False)],
            }
        )
    names = {name for name, _ in operators}
    rows = [
        {
            "operator": name,
            "revocations": operators[(name, True)] + operators[(name, False)],
            "early_revocations": operators[(name, True)],
        }
        for name in names
    ]
    rows.sort(key=lambda r: (-r["early_revocations"], -r["revocations"], r["operator"]))
    return trend, rows


def run_night(url: URL, out: Path, **settings: Any) -> tuple[dict[str, Any], Message, str]:
    run_once(
        Settings(
            ca_db=url.render_as_string(hide_password=False),
            no_mail=True,
            out=out,
            state_db=f"sqlite:///{out / 'absent' / 'state.sqlite'}",
            **settings,
        ),
        settings.get("until", NOW),
    )
    report = json.loads((out / "report.json").read_text())
    message = message_from_bytes((out / "message.eml").read_bytes())
    return report, message, (out / "report.html").read_text()


def check_verdict(report: dict[str, Any], message: Message, html: str, day: str) -> int:
    """The subject, the need-review count and the red of error labels agree with the cases."""
    need = sum(case["worst_severity"] == "error" for case in report["cases"])
    assert report["need_review"] == need
    total = len(report["cases"])
    # The issuance watch's suspicious issuances (certificates issued in the window, not revoked),
    # when there are any, come first (tests/test_watch.py).
    watched = len(report["suspicious_issuances"])
    flagged = f"{watched} suspicious issuance{'s' * (watched != 1)}, " if watched else ""
    # A subject this long is folded onto two header lines: read it unfolded.
    assert " ".join(str(message["Subject"]).split()) == (
        f"[revwatch] {flagged}{need} need review, {total} early revocation{'s' * (total != 1)}, "
        f"{day}"
    )
    for label in ("registrable-domain-typo", "data-problem"):
        for style in re.findall(rf'<span style="([^"]*)">{label}</span>', html):
            assert RED in style, label
    assert message["From"] == "revwatch <revwatch@localhost>"
    return need


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def generic_db(
    request: pytest.FixtureRequest, demo: dataset.DemoData, tmp_path: Path
) -> Iterator[URL]:
    if request.param == "sqlite":
        path = tmp_path / "ca.sqlite"
        engine = create_engine(make_url(f"sqlite:///{path}"))
        generic_schema.create_and_insert(engine, demo.issuance, demo.revocation)
        engine.dispose()
        yield make_url(f"sqlite:///{path}")
        return
    server = request.getfixturevalue(
        "pg_server_url" if request.param == "postgresql" else "mariadb_server_url"
    )
    with scratch_database(server, "activity") as url:
        engine = create_engine(url)
        try:
            generic_schema.create_and_insert(engine, demo.issuance, demo.revocation)
        finally:
            engine.dispose()
        yield url


def test_generic_trend_operators_and_subject(
    generic_db: URL, demo: dataset.DemoData, tmp_path: Path
) -> None:
    # The trend and the operators are the subject: the watch still judges the demo's issuances
    # by the name rules, without pkilint's pass over them (most of the night; tests/test_watch.py).
    report, message, html = run_night(generic_db, tmp_path / "out", until=NOW, watch_lint_limit=0)
    trend, operators = expected_activity(demo)
    assert report["trend"] == trend
    assert report["operators"] == operators
    assert (report["trend_note"], report["operators_note"]) == (None, None)
    assert sum(day["early_revocations"] for day in trend) == len(demo.expected) == 8
    assert check_verdict(report, message, html, "2026-11-27") == 3
    assert "ra-operator-jlopez" in html and "Who revoked in the last 30 days" in html


@pytest.fixture(scope="module", params=["postgresql", "mysql"])
def ejbca_db(request: pytest.FixtureRequest) -> Iterator[URL]:
    server = request.getfixturevalue(
        "pg_server_url" if request.param == "postgresql" else "mariadb_server_url"
    )
    with scratch_database(server, "ejbca_activity") as url:
        engine = create_engine(url)
        try:
            run_script(engine, f"ejbca.{request.param}.sql")
            insert(engine, ejbca_data.build()[0].rows)
        finally:
            engine.dispose()
        yield url


def test_ejbca_trend_counts_revoked_certificates_and_audit_log_operators(
    ejbca_db: URL, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    ejbca_data.run_job(ejbca_db, out)
    report = json.loads((out / "report.json").read_text())
    days = {d["day"]: (d["revocations"], d["early_revocations"]) for d in report["trend"]}
    assert len(report["trend"]) == 30 and report["trend"][-1]["day"] == "2026-03-09"
    # 03-09: eight revoked (archived-but-revoked included; not the released hold, not the
    # archived -1 / removeFromCRL rows), seven early (the 17-day one is late; request history
    # makes the backdated one early). 03-08: the one revoked just before the window.
    assert days.pop("2026-03-09") == (8, 7)
    assert days.pop("2026-03-08") == (1, 1)
    assert set(days.values()) == {(0, 0)}
    assert report["operators"] == [
        # Early revocations without an audit event; the CA's revocations the log does not name.
        {"operator": None, "revocations": 5, "early_revocations": 5},
        # The hold's "Revoked certificate" counts; its release ("Unrevoked ...") does not.
        {"operator": ejbca_data.OPERATOR, "revocations": 2, "early_revocations": 1},
        {"operator": "CN=RA Operator grace-admin", "revocations": 1, "early_revocations": 1},
        {"operator": "CN=SuperAdmin", "revocations": 1, "early_revocations": 1},
        # Its event names another CA's certificate: a revocation, never this early one.
        {"operator": "CN=Wrong CA Operator", "revocations": 1, "early_revocations": 0},
    ]
    message = message_from_bytes((out / "message.eml").read_bytes())
    need = check_verdict(report, message, (out / "report.html").read_text(), "2026-03-09")
    by_serial = {case["serial"]: case for case in report["cases"]}
    assert by_serial["1001"]["worst_severity"] == "error"  # the typo across registrable domains
    assert by_serial["1009"]["worst_severity"] == "error"  # base64 that does not decode
    assert need >= 2


@pytest.fixture(scope="module")
def boulder_db(mariadb_server_url: URL) -> Iterator[URL]:
    with scratch_database(mariadb_server_url, "boulder_activity") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "boulder.mysql.sql")
            insert(engine, boulder_data.build().rows)
        finally:
            engine.dispose()
        yield url


def test_boulder_trend_walks_the_ids_and_says_who_revoked_is_not_stored(
    boulder_db: URL, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = boulder_data.run_job(boulder_db, out)
    days = {d["day"]: (d["revocations"], d["early_revocations"]) for d in report["trend"]}
    assert len(report["trend"]) == 30 and report["trend"][-1]["day"] == "2026-03-09"
    # 03-09: six revocation records (the late one twice, as two SA instances wrote it), four
    # early; the one after the window is not counted. 03-08: the early one before the window.
    assert days.pop("2026-03-09") == (6, 4)
    assert days.pop("2026-03-08") == (1, 1)
    assert set(days.values()) == {(0, 0)}
    assert report["operators"] == [] and report["operators_note"] == WHO_NOT_STORED
    html = (out / "report.html").read_text()
    assert WHO_NOT_STORED.replace("'", "&#39;") in html
    message = message_from_bytes((out / "message.eml").read_bytes())
    check_verdict(report, message, html, "2026-03-09")


class _Unanswering:
    def activity(self, until: datetime, threshold: timedelta) -> Activity:
        raise SourceError("CA database db: canceling statement due to statement timeout")


def test_a_trend_the_database_cannot_answer_leaves_a_note_not_a_failed_night() -> None:
    activity = read_activity(_Unanswering(), NOW, THRESHOLD)  # type: ignore[arg-type]
    assert activity.days == () and activity.operators == ()
    assert activity.trend_note is not None and "statement timeout" in activity.trend_note


def test_the_csv_bom_setting_reaches_the_written_and_the_mailed_csv(
    demo: dataset.DemoData, tmp_path: Path
) -> None:
    path = tmp_path / "ca.sqlite"
    engine = create_engine(make_url(f"sqlite:///{path}"))
    generic_schema.create_and_insert(engine, demo.issuance, demo.revocation)
    engine.dispose()
    out = tmp_path / "out"
    url = make_url(f"sqlite:///{path}")
    _, message, _ = run_night(url, out, until=NOW, csv_bom=True, watch_lint_limit=0)
    assert (out / "early-revocations.csv").read_bytes().startswith(b"\xef\xbb\xbfissuer,")
    (attachment,) = [part for part in message.walk() if part.get_filename()]
    assert attachment.get_filename() == "early-revocations-2026-11-27.csv"
    assert attachment.get_payload(decode=True).startswith(b"\xef\xbb\xbfissuer,")
