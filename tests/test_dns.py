"""The optional domain-existence check (issue 14), against real DNS servers on loopback (dnslib).

A server that answers: NXDOMAIN labels the case or suspicious issuance `domain-not-found`, an
existing domain does not. A server that is silent (or a port where nothing listens): the run
exits 0 within the timeout budget, nothing is labelled, and the report says the check could not
be made. The settings come from the environment as an operator gives them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jobs.core.errors import ConfigError
from jobs.core.settings import load_settings
from jobs.face.cli import main
from jobs.source.dns import DnsOptions, check, parse_resolver
from tests.support import watch_data as golden
from tests.support.dns_server import answering, silent

# Registered in the test zone: every registrable domain of the golden data but the typos.
REGISTERED = {
    "cualtis.net", "mercaverde.com", "clinicamarina.es", "example-kunde.de", "widgets-ltd.co.uk",
    "example-hosting.com", "agoraeventos.es", "congresosbilbao.org", "otherbrand.org",
}  # fmt: skip


@pytest.fixture(scope="module")
def generic_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    return golden.load_generic(tmp_path_factory.mktemp("dns") / "generic.sqlite")


def test_nxdomain_is_not_found_and_an_existing_domain_is_not() -> None:
    with answering({"cualtis.net"}) as (resolver, zone):
        found = check(["cualtis.net", "cuatis.net"], DnsOptions(True, resolver))
    assert found.not_found == ("cuatis.net",) and found.asked == 2
    assert found.unanswered == 0 and found.note is None
    assert zone.asked == ["cualtis.net", "cuatis.net"]


def test_a_silent_resolver_is_given_up_within_the_budget() -> None:
    options = DnsOptions(True, "", query_timeout=0.3, budget=5.0)
    with silent() as resolver:
        started = time.monotonic()
        found = check([f"d{i}.example" for i in range(50)], DnsOptions(**{
            **options.__dict__, "resolver": resolver}))  # fmt: skip
        took = time.monotonic() - started
    # Two queries without an answer, then no more: 50 domains cost two timeouts, not fifty.
    assert took < 2.0, took
    assert found.asked == 2 and found.not_found == () and found.unanswered == 50
    assert found.note is not None and "could not be made" in found.note


def test_the_budget_bounds_the_whole_check() -> None:
    ticks = iter(range(0, 1000, 3))  # every look at the clock is three seconds later
    with answering({"cualtis.net"}) as (resolver, _):
        found = check(
            ["a.example", "b.example", "c.example", "d.example"],
            DnsOptions(True, resolver, budget=7.0),
            clock=lambda: float(next(ticks)),
        )
    assert found.asked == 2 and found.unanswered == 2
    assert found.note is not None and "time budget of 7 s" in found.note


def test_off_by_default_asks_nothing() -> None:
    assert check(["cuatis.net"], DnsOptions()).enabled is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1", ("127.0.0.1", 53)), ("10.0.0.2:5353", ("10.0.0.2", 5353)),
     ("[::1]:5300", ("::1", 5300)), ("[::1]", ("::1", 53))],
)  # fmt: skip
def test_resolver_spellings(text: str, expected: tuple[str, int]) -> None:
    assert parse_resolver(text) == expected


@pytest.mark.parametrize("text", ["a b", "host:", "host:99999", "[::1", "[::1]x", ":53"])
def test_bad_resolver_settings_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="dns_resolver"):
        load_settings({}, {"REVWATCH_DNS_RESOLVER": text})


def _run(ca: str, out: Path, resolver: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("REVWATCH_DNS_CHECK", "true")
    monkeypatch.setenv("REVWATCH_DNS_RESOLVER", resolver)
    argv = [
        "run", "--ca-db", ca, "--no-mail", "--out", str(out),
        "--since", golden.SINCE.isoformat(), "--until", golden.UNTIL.isoformat(),
        "--state-db", f"sqlite:///{out / 'absent' / 'state.sqlite'}",
    ]  # fmt: skip
    return main(argv)


def test_a_night_labels_what_does_not_exist(
    generic_ca: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with answering(REGISTERED) as (resolver, zone):
        assert _run(generic_ca, tmp_path, resolver, monkeypatch) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    labelled = {
        tuple(s["names"])
        for s in report["suspicious_issuances"]
        if "domain-not-found" in s["labels"]
    }
    # The typos' domains are not registered; the look-alike's and the others are.
    assert labelled == {
        ("mail.cuatis.net",),
        ("shop.mercavedre.com",),
        ("citas.clinicarnarina.es",),
    }
    (case,) = report["cases"]
    assert "domain-not-found" in case["labels"]  # shop.mercavrede.com, revoked within the hour
    assert any(f["code"] == "dns.domain_not_found" for f in case["findings"])
    check_summary = report["domain_check"]
    assert check_summary["enabled"] and check_summary["note"] is None
    assert set(check_summary["not_found"]) == {
        "cuatis.net", "mercavedre.com", "clinicarnarina.es", "mercavrede.com"
    }  # fmt: skip
    # Only the flagged certificates' registrable domains were asked, each once.
    assert sorted(zone.asked) == sorted(set(zone.asked))
    assert "otherbrand.org" not in zone.asked and "congresosbilbao.org" not in zone.asked
    assert "Domain check (resolver 127.0.0.1:" in (tmp_path / "report.txt").read_text()


def test_a_silent_resolver_never_fails_the_night_nor_labels(
    generic_ca: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with silent() as resolver:
        started = time.monotonic()
        assert _run(generic_ca, tmp_path, resolver, monkeypatch) == 0
        took = time.monotonic() - started
    assert took < DnsOptions().budget, took
    report = json.loads((tmp_path / "report.json").read_text())
    assert golden.flagged(report) == golden.EXPECTED  # no domain-not-found anywhere
    assert all("domain-not-found" not in c["labels"] for c in report["cases"])
    assert "could not be made" in report["domain_check"]["note"]
    text = " ".join((tmp_path / "report.txt").read_text().split())
    assert "The domain-existence check could not be made for" in text
