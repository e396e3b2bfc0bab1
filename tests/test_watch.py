"""The issuance watch (issue 14): certificates issued in the window and not revoked, judged.

Golden data (`tests/support/watch_data.py`) in each profile's real schema: the generic schema in
SQLite, EJBCA in PostgreSQL, Boulder in MariaDB. The planted near-sibling typos (a missing letter,
a transposition, a look-alike), an invalid name and a placeholder are found; the decoys (a sibling
under a registrable domain the subscriber holds, a new unrelated domain, a near-typo of a domain
only another subscriber holds, a renewal, a typo already revoked) are not. Then the pure rules on
their own, and the ledger: a suspicious issuance is mailed once, and again only when its mail
failed.
"""

from __future__ import annotations

import email
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest
from cryptography.x509 import load_der_x509_certificate
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from jobs.core.errors import ConfigError
from jobs.core.model import Certificate
from jobs.core.settings import Settings, load_settings
from jobs.core.watch import (
    SHOWN_IN_FULL,
    WATCH_LINT_LIMIT,
    Holding,
    SuspiciousIssuance,
    WatchOutcome,
)
from jobs.enrich import lint, watch
from jobs.enrich.lint import CertificateLint, Linter, lint_all
from jobs.pipeline.nightly import run_once
from jobs.pipeline.options import resolve
from jobs.pipeline.recovery import resend
from jobs.pipeline.watch import ISSUANCE_LAG, run_watch, watch_since
from jobs.report import document
from jobs.source.database import CaDatabase
from jobs.state.ledger import Ledger
from tests.support import browser
from tests.support import watch_data as golden
from tests.support.ca_schemas import insert, run_script, scratch_database
from tests.support.nights import job_settings
from tests.support.smtp_server import ScriptedServer

T = datetime(2026, 3, 9, 12, tzinfo=UTC)
OLD = datetime(2025, 1, 1, tzinfo=UTC)


# --- golden data, one per profile and database ------------------------------------------------


@pytest.fixture(scope="module")
def generic_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    return golden.load_generic(tmp_path_factory.mktemp("watch") / "generic.sqlite")


@pytest.fixture(scope="module")
def ejbca_ca(pg_server_url: URL) -> Iterator[URL]:
    with scratch_database(pg_server_url, "watch_ejbca") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "ejbca.postgresql.sql")
            insert(engine, golden.ejbca_rows().rows)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(scope="module")
def boulder_ca(mariadb_server_url: URL) -> Iterator[URL]:
    with scratch_database(mariadb_server_url, "watch_boulder") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "boulder.mysql.sql")
            insert(engine, golden.boulder_rows().rows)
        finally:
            engine.dispose()
        yield url


def _check_golden(report: dict[str, object]) -> None:
    found = golden.flagged(report)  # type: ignore[arg-type]
    assert found == golden.EXPECTED
    for issuance in report["suspicious_issuances"]:  # type: ignore[attr-defined]
        assert set(issuance) == {
            "issuer", "serial", "names", "subject", "issued_at", "labels", "findings",
        }  # fmt: skip
        assert issuance["issuer"] == golden.CA.name
        assert issuance["serial"] == issuance["serial"].lower().lstrip("0")
        assert issuance["issued_at"].endswith("+00:00")
        assert all(f["severity"] == "error" for f in issuance["findings"] if "watch." in f["code"])
    summary = report["issuance_watch"]
    assert summary["checked"] == 9  # type: ignore[index]
    assert summary["suspicious"] == len(golden.EXPECTED)  # type: ignore[index]


def test_generic_sqlite_finds_the_planted_and_not_the_decoys(
    generic_ca: str, tmp_path: Path
) -> None:
    report = golden.run_watch_night(generic_ca, "generic", tmp_path)
    _check_golden(report)
    near = {
        tuple(s["names"]): next(f["message"] for f in s["findings"] if "near" in f["code"])
        for s in report["suspicious_issuances"]
        if "near-sibling" in s["labels"]
    }
    assert (
        "cuatis.net is new to subscriber cust-cualtis, edit distance 1 from cualtis.net"
        in (near[("mail.cuatis.net",)])
    )
    assert "edit distance 1 from mercaverde.com" in near[("shop.mercavedre.com",)]
    assert "look-alike characters from clinicamarina.es" in near[("citas.clinicarnarina.es",)]
    # The revoked typo is a case, not a suspicious issuance.
    assert [c["names"] for c in report["cases"]] == [["shop.mercavrede.com"]]


@pytest.mark.postgres
def test_generic_postgresql_reads_the_history_laterally(pg_database: URL, tmp_path: Path) -> None:
    # PostgreSQL has its own statement (a lateral join per subscriber): the same answer.
    _check_golden(golden.run_watch_night(golden.load_generic(pg_database), "generic", tmp_path))


@pytest.mark.postgres
def test_ejbca_postgresql_finds_the_planted_and_not_the_decoys(
    ejbca_ca: URL, tmp_path: Path
) -> None:
    _check_golden(golden.run_watch_night(ejbca_ca, "ejbca", tmp_path))


@pytest.mark.mariadb
def test_boulder_mariadb_finds_the_planted_and_not_the_decoys(
    boulder_ca: URL, tmp_path: Path
) -> None:
    _check_golden(golden.run_watch_night(boulder_ca, "boulder", tmp_path))


def test_the_report_shows_them_in_their_own_section(generic_ca: str, tmp_path: Path) -> None:
    golden.run_watch_night(generic_ca, "generic", tmp_path)
    text = (tmp_path / "report.txt").read_text()
    html = (tmp_path / "report.html").read_text()
    assert "5 suspicious issuances (issued in the window, not revoked) need review" in text
    assert "Suspicious issuances (issued in the window, not revoked)" in text
    assert "9 certificates issued from 2026-03-09 00:00 UTC" in text
    assert text.index("mail.cuatis.net") < text.index("Last 30 days")
    assert 'id="issuance-1"' in html and "mail.cuatis.net" in html and "<style" not in html
    message = email.message_from_bytes((tmp_path / "message.eml").read_bytes(), policy=default)
    subject = str(message["Subject"])
    assert (
        subject
        == "[revwatch] 5 suspicious issuances, 0 need review, 1 early revocation, 2026-03-09"
    )


# --- the rules on their own --------------------------------------------------------------------


def _cert(names: tuple[str, ...], subscriber: str = "s1", when: datetime = T) -> Certificate:
    return Certificate("CN=CA", "1a", subscriber=subscriber, names=names, issued_at=when)


def _held(*pairs: tuple[str, datetime | None], subscriber: str = "s1") -> watch.Holdings:
    return watch.holdings(Holding(subscriber, d, when) for d, when in pairs)


@pytest.mark.parametrize(
    ("name", "held", "how"),
    [
        ("mail.cuatis.net", "cualtis.net", "edit distance 1"),  # missing letter
        ("shop.mercavedre.com", "mercaverde.com", "edit distance 1"),  # transposition (OSA)
        ("www.paypa1.com", "paypal.com", "look-alike characters"),  # 1 for l
        ("rnarnrnoth.com", "mammoth.com", "look-alike characters"),  # rn for m, thrice: distance 6
        ("xn--pypal-4ve.com", "paypal.com", "look-alike characters"),  # Cyrillic a
    ],
)
def test_a_new_domain_near_a_held_one_is_a_near_sibling(name: str, held: str, how: str) -> None:
    found = watch.near_siblings(_cert((name,)), _held((held, OLD))["s1"])
    assert len(found) == 1 and how in found[0].message and held in found[0].message


@pytest.mark.parametrize(
    ("names", "held"),
    [
        (("web2.example.com",), "example.com"),  # a sibling under a held registrable domain
        (("www.completely-new.org",), "example.com"),  # new, but distance > 2
        (("ab.io",), "ab.io"),  # a renewal
    ],
)
def test_siblings_renewals_and_unrelated_domains_are_not(names: tuple[str, ...], held: str) -> None:
    assert watch.near_siblings(_cert(names), _held((held, OLD))["s1"]) == []


def test_only_the_subscribers_own_domains_count() -> None:
    held = _held(("cualtis.net", OLD), subscriber="someone-else")
    assert watch.watch([_cert(("mail.cuatis.net",))], held) == []


def test_a_domain_first_held_by_this_very_certificate_is_new() -> None:
    held = _held(("cualtis.net", OLD), ("cuatis.net", T))  # history includes the window's own
    assert len(watch.near_siblings(_cert(("mail.cuatis.net",)), held["s1"])) == 1
    earlier = _held(("cualtis.net", OLD), ("cuatis.net", T - timedelta(days=30)))
    assert watch.near_siblings(_cert(("mail.cuatis.net",)), earlier["s1"]) == []


def test_two_new_domains_of_one_request_are_not_each_others_siblings() -> None:
    held = _held(("example.com", T), ("exarnple.com", T))
    assert watch.near_siblings(_cert(("example.com", "exarnple.com")), held["s1"]) == []


def test_an_unknown_time_never_makes_a_domain_new() -> None:
    held = _held(("cualtis.net", None), ("cuatis.net", None))
    assert watch.near_siblings(_cert(("mail.cuatis.net",)), held["s1"]) == []


def test_history_rows_become_registrable_domains() -> None:
    rows = [
        {"subscriber": "s1", "names": "a.example.co.uk,b.example.co.uk", "issued_at": OLD},
        {"subscriber": "s1", "names": "example.co.uk", "issued_at": T},
        {"subscriber": "s1", "names": None, "issued_at": T},
        {"subscriber": "s1", "names": "10.0.0.1,user@example.org", "issued_at": T},
    ]
    found, unnamed = watch.holdings_from_names(rows)
    assert unnamed == 1
    assert watch.holdings(found) == {"s1": {"example.co.uk": OLD}}


def test_invalid_names_and_placeholders_need_no_history() -> None:
    flagged = watch.judge(_cert(("bad_name.example.com",)), {})
    assert flagged is not None and flagged.labels == ("invalid-name",)
    subject = Certificate("CN=CA", "1b", names=("a.example",), subject="CN=a.example,ST=Some-State")
    flagged = watch.judge(subject, {})
    assert flagged is not None and flagged.labels == ("placeholder-value",)
    assert watch.judge(_cert(("fine.example.com",)), {}) is None


def test_a_night_after_a_success_watches_from_its_end_less_the_lag() -> None:
    since, until = T - timedelta(days=8), T
    assert watch_since(since, until, None, None) == since  # first run
    assert watch_since(since, until, since, T - timedelta(days=1)) == since  # --since given
    assert watch_since(since, until, None, T - timedelta(days=1)) == T - timedelta(days=1) - (
        ISSUANCE_LAG
    )


# --- mailed once --------------------------------------------------------------------------------


def _night(ca: str, server: ScriptedServer, tmp_path: Path, now: datetime) -> Settings:
    return replace(
        job_settings(ca, server, tmp_path),
        since=golden.SINCE,
        until=golden.UNTIL,
        threshold=timedelta(days=7),
    )


def test_a_suspicious_issuance_is_mailed_once(
    generic_ca: str, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    settings = _night(generic_ca, smtp_server, tmp_path, golden.NOW)
    smtp_server.script.data_reply("451 4.3.0 try again later", times=1)
    with pytest.raises(Exception, match="451"):
        run_once(replace(settings, smtp_attempts=1), golden.NOW)
    ledger = Ledger.open(settings.state_url())
    try:
        keys = [(golden.CA.name, format(p.serial, "x")) for p in golden.PLANTED]
        assert ledger.reported_issuances(keys) == {}  # the failed run staged and dropped them
    finally:
        ledger.close()
    first = run_once(settings, golden.NOW)
    assert first.mailed and first.suspicious == 5
    second = run_once(settings, golden.NOW + timedelta(minutes=5))
    assert second.mailed and second.suspicious == 0
    bodies = [m.get_body(("plain",)).get_content() for m in smtp_server.messages]  # type: ignore[union-attr]
    assert sum("mail.cuatis.net" in body for body in bodies) == 1
    assert "5 reported by an earlier run are not repeated" in " ".join(bodies[-1].split())


@pytest.mark.parametrize("styles", [True, False], ids=["as-sent", "style-stripped"])
def test_the_section_fits_a_phone(generic_ca: str, tmp_path: Path, styles: bool) -> None:
    golden.run_watch_night(generic_ca, "generic", tmp_path)
    html = (tmp_path / "report.html").read_text()
    html = html if styles else browser.without_styles(html)
    found = browser.measure(html, 400, ["mail.cuatis.net", "Some-State"], tmp_path)
    assert found["scroll_width"] <= 400 and found["widest_right"] <= 400.5, found
    assert all(found["found"][needle] is not None for needle in ("mail.cuatis.net", "Some-State"))


def test_a_resend_records_the_suspicious_issuances_too(
    generic_ca: str, smtp_server: ScriptedServer, tmp_path: Path
) -> None:
    settings = _night(generic_ca, smtp_server, tmp_path, golden.NOW)
    smtp_server.script.data_reply("550 5.7.1 rejected", times=1)
    with pytest.raises(Exception, match="550"):
        run_once(replace(settings, smtp_attempts=1), golden.NOW)
    (stored,) = sorted((tmp_path / "outbox").glob("*.json"))
    _, recorded, _ = resend(settings, stored.stem, golden.NOW)
    assert recorded == 1  # the case; and the five suspicious issuances with it:
    ledger = Ledger.open(settings.state_url())
    try:
        keys = [(golden.CA.name, format(p.serial, "x")) for p in golden.PLANTED if p.labels]
        assert len(ledger.reported_issuances(keys)) == 5
    finally:
        ledger.close()
    assert run_once(settings, golden.NOW + timedelta(minutes=5)).suspicious == 0


# --- a mass night: the mail bounded, pkilint capped and spread over the CPUs ---------------------


def _mass(count: int) -> WatchOutcome:
    """`count` suspicious issuances of one CA, each a lint error; every tenth a near-sibling."""
    found = []
    for n in range(count):
        cert = Certificate("CN=Mass CA", format(n + 1, "x"), names=(f"shop{n}.example",))
        labels = ("near-sibling", "lint-error") if n % 10 == 0 else ("lint-error",)
        found.append(SuspiciousIssuance(cert, labels, (), lint_codes=("cabf.internal_domain",)))
    ordered = sorted(found, key=watch.issuance_order)
    return WatchOutcome(T - timedelta(days=1), T, count, tuple(ordered), linted=count)


def test_a_mass_night_shows_the_most_severe_in_full_and_sums_up_all(tmp_path: Path) -> None:
    context = document.build_context(
        [], since=T - timedelta(days=1), until=T, threshold_seconds=86400, now=T, watch=_mass(120)
    )
    rendered = document.render(context)
    html, text = rendered.html, " ".join(rendered.text.split())
    assert f'id="issuance-{SHOWN_IN_FULL}"' in html
    assert f'id="issuance-{SHOWN_IN_FULL + 1}"' not in html
    assert "the 50 most severe are shown in full below" in text
    assert "120 lint-error" in text and "12 near-sibling" in text
    assert "120 CN=Mass CA: cabf.internal_domain" in text
    assert "120 certificates of CN=Mass CA:" in html
    assert text.count("shop") == SHOWN_IN_FULL * 2  # first name and names list, 50 times
    shown = html[: html.index("shop1.example")]  # near-siblings come first
    assert "shop0.example" in shown and "shop10.example" in html
    report = json.loads(rendered.json)
    assert len(report["suspicious_issuances"]) == 120  # every one stays in report.json
    summary = report["issuance_watch"]
    assert summary["by_label"] == {"lint-error": 120, "near-sibling": 12}
    assert summary["lint_errors_by_issuer"] == [
        {"issuer": "CN=Mass CA", "code": "cabf.internal_domain", "certificates": 120}
    ]
    assert (summary["shown_in_mail"], summary["linted"], summary["not_linted"]) == (50, 120, 0)
    found = browser.measure(html, 400, ["CN=Mass CA:"], tmp_path)
    assert found["scroll_width"] <= 400 and found["widest_right"] <= 400.5, found


class _Recording(Linter):
    """A linter that remembers the serial of each certificate it lints, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.serials: list[str] = []

    def lint(self, der: bytes) -> CertificateLint:
        self.serials.append(format(load_der_x509_certificate(der).serial_number, "x"))
        return super().lint(der)


def test_the_lint_cap_lints_the_flagged_first_then_in_issuance_order(generic_ca: str) -> None:
    ca = CaDatabase(make_url(generic_ca), "generic")
    whole_linter, capped_linter = _Recording(), _Recording()
    try:
        whole = run_watch(ca, golden.SINCE, golden.UNTIL, reported=None, linter=whole_linter)
        capped = run_watch(
            ca, golden.SINCE, golden.UNTIL, reported=None, linter=capped_linter, lint_limit=6
        )
        none = run_watch(
            ca, golden.SINCE, golden.UNTIL, reported=None, linter=Linter(), lint_limit=0
        )
    finally:
        ca.close()
    assert (whole.checked, whole.linted, capped.linted, none.linted) == (9, 9, 6, 0)
    assert not whole.notes and len(capped.notes) == 1
    assert "pkilint linted 6 of the 9" in capped.notes[0] and "the other 3" in capped.notes[0]
    flagged = {i.certificate.serial for i in whole.suspicious}
    assert set(capped_linter.serials[:5]) == flagged  # those a name rule flagged, first
    others = sorted(
        (p.issued, format(p.serial, "x"))
        for p in golden.PLANTED
        if format(p.serial, "x") in set(whole_linter.serials) - flagged
    )
    assert capped_linter.serials[5] == others[0][1]  # then the earliest issued
    assert capped.suspicious == whole.suspicious  # the golden certificates lint clean


@pytest.mark.parametrize("threaded", [False, True], ids=["one-thread", "threaded"])
def test_the_pool_lints_as_the_process_does(
    generic_ca: str, monkeypatch: pytest.MonkeyPatch, threaded: bool
) -> None:
    ca = CaDatabase(make_url(generic_ca), "generic")
    try:
        ders = [r["der"] for r in ca.watched_issuances(golden.SINCE, golden.UNTIL) if r["der"]]
    finally:
        ca.close()
    ders.append(b"not a certificate")
    serial = lint_all(ders, Linter(), workers=1)
    monkeypatch.setattr(lint, "POOL_FROM", 2)
    pooled_linter = Linter()
    done = threading.Event()  # a second thread, as in the daemon
    other = threading.Thread(target=done.wait) if threaded else None
    if other is not None:
        other.start()
    try:
        pooled = lint_all(ders * 3, pooled_linter, workers=2)
    finally:
        done.set()
    assert [repr(x) for x in pooled] == [repr(x) for x in serial * 3]
    assert isinstance(pooled[-1], lint.LintError) and pooled_linter.linted == len(ders) * 3
    # With one thread or more, the workers come from the fork server, never from a fork of this
    # process (which would copy the job's pages into each of them).
    pool = lint._POOLS[("forkserver", 2)]
    workers = list(pool._processes.values())
    assert workers and all(w.pid is not None for w in workers)
    for worker in workers:
        stat = Path(f"/proc/{worker.pid}/stat").read_text()
        assert int(stat.rsplit(")", 1)[1].split()[1]) != os.getpid()


def test_the_lint_limit_is_a_setting() -> None:
    assert Settings().watch_lint_limit == WATCH_LINT_LIMIT
    found = load_settings({}, {"REVWATCH_WATCH_LINT_LIMIT": "250"})
    assert found.watch_lint_limit == 250
    assert resolve(replace(found, no_mail=True)).watch_lint_limit == 250
    for bad in ("-1", "many", "10000001"):
        with pytest.raises(ConfigError, match="limit"):
            load_settings({}, {"REVWATCH_WATCH_LINT_LIMIT": bad})


def test_the_nights_lint_limit_reaches_the_watch(generic_ca: str, tmp_path: Path) -> None:
    # The setting, not the default, decides: a night told to lint none lints none and says so.
    report = golden.run_watch_night(generic_ca, "generic", tmp_path, watch_lint_limit=0)
    summary = report["issuance_watch"]
    assert (summary["linted"], summary["not_linted"]) == (0, summary["checked"])
    assert summary["checked"] == 9
    assert not any("lint-error" in s["labels"] for s in report["suspicious_issuances"])
