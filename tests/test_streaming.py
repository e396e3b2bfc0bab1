"""A night streamed in batches makes the report a single batch makes, byte for byte (issue 15).

The crowded night (tests/support/crowded_night.py: 42 cases with real DER in SQLite) is run with
batches of 7 and rows spooled to a temporary file, then in one batch with rows in memory; the
report.json, CSV and both mail bodies must be identical. Since both runs share the collector, the
cases are also checked against the old one-shot way, every case held at once: detection,
enrichment, pkilint on the FULL_CASES first by the report's order, then sorted. FULL_CASES is
lowered to 8, so cases are pushed out of the lint selection while they arrive. With the domain
check on, a case marked `domain-not-found` after it was pushed out must still be shown in full.
Last, the collector's own memory: serialised rows do not stay in memory.
"""

from __future__ import annotations

import json
import logging
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.core.model import Case, Certificate, Revocation
from jobs.core.settings import Settings
from jobs.pipeline import nightly, steps
from jobs.pipeline.options import resolve
from jobs.pipeline.watch import check_domains
from jobs.report import collector as collecting
from jobs.report.document import case_json, case_order
from tests.support import crowded_night as night
from tests.support.dns_server import answering

LIMIT = 8
FILES = ("report.json", "early-revocations.csv", "report.txt", "report.html")


@pytest.fixture(scope="module")
def ca_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return night.build(tmp_path_factory.mktemp("crowded") / "ca.sqlite")


@pytest.fixture(autouse=True)
def _few_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both the collector's bound and the old one-shot lint's (the reference below).
    monkeypatch.setattr(collecting, "FULL_CASES", LIMIT)
    monkeypatch.setattr(steps, "FULL_CASES", LIMIT)
    monkeypatch.setattr(nightly, "new_run_id", lambda now: f"{now:%Y%m%dT%H%M%SZ}-5ea3ed")


def _settings(ca_url: str, out: Path, **changes: Any) -> Settings:
    return Settings(
        ca_db=ca_url, since=night.SINCE, until=night.UNTIL, out=out, no_mail=True, **changes
    )


def _run(
    ca_url: str, out: Path, batch: int, spool: int, monkeypatch: pytest.MonkeyPatch, **changes: Any
) -> dict[str, bytes]:
    with monkeypatch.context() as patch:
        patch.setattr(steps, "ENRICH_BATCH", batch)
        patch.setattr(collecting, "SPOOL_IN_MEMORY", spool)
        nightly.run_once(_settings(ca_url, out, **changes), night.NOW)
    return {name: (out / name).read_bytes() for name in FILES}


def _one_shot_cases(ca_url: str, mark_domains: Settings | None = None) -> list[dict[str, Any]]:
    """The cases as the run made them before issue 15: every case held, linted, sorted."""
    ca = steps.open_ca(resolve(_settings(ca_url, Path("unused"))).source)
    try:
        threshold = timedelta(days=7)
        detection = steps.detect_window(ca, night.SINCE, night.UNTIL, threshold)
        cases = steps.enrich_cases(ca, list(detection.cases), timedelta(days=30))
    finally:
        ca.close()
    if mark_domains is not None:
        cases, _, _ = check_domains(resolve(mark_domains).dns, cases, ())
    return [case_json(case) for case in sorted(cases, key=case_order)]


def test_streamed_and_one_shot_reports_are_identical(
    ca_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="revwatch.pipeline.nightly"):
        streamed = _run(ca_url, tmp_path / "streamed", 7, 0, monkeypatch)
    assert "42 found, 42 new" in caplog.text and "rows spilled" in caplog.text
    one_shot = _run(ca_url, tmp_path / "one-shot", 1000, 1 << 30, monkeypatch)
    for name in FILES:
        assert streamed[name] == one_shot[name], f"{name} differs"

    document = json.loads(streamed["report.json"])
    cases = document["cases"]
    # The night is what the test needs: more cases than twice the bound, typos, replacements.
    assert len(cases) == night.CASES > 2 * LIMIT
    labels = [label for case in cases for label in case["labels"]]
    assert labels.count("registrable-domain-typo") == 7 and "likely-typo" in labels
    assert 20 < sum(case["replacement"] is not None for case in cases) < night.CASES
    assert [case["lint"] is not None for case in cases].count(True) == LIMIT
    # The old one-shot way gives the same cases, in the same order, linted alike.
    assert cases == _one_shot_cases(ca_url)
    text = streamed["report.txt"].decode()
    assert f"This window holds {night.CASES} early revocations: the {LIMIT} most" in text


def test_a_case_marked_after_it_was_pushed_out_is_still_shown(
    ca_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with answering(night.registered()) as (resolver, _):
        dns = {"dns_check": True, "dns_resolver": resolver}
        streamed = _run(ca_url, tmp_path / "streamed", 7, 0, monkeypatch, **dns)
        one_shot = _run(ca_url, tmp_path / "one-shot", 1000, 1 << 30, monkeypatch, **dns)
        reference = _one_shot_cases(ca_url, _settings(ca_url, tmp_path, **dns))
    for name in FILES:
        assert streamed[name] == one_shot[name], f"{name} differs"
    cases = json.loads(streamed["report.json"])["cases"]
    assert cases == reference
    # Unlinted (no-replacement cases come last before the domain check), yet among those shown.
    gone = [i for i, case in enumerate(cases) if "gone" in case["names"][0]]
    assert all("domain-not-found" in cases[i]["labels"] for i in gone)
    assert gone and gone[0] < LIMIT and cases[gone[0]]["lint"] is None
    assert f"www.{night.unregistered(3)}" in streamed["report.txt"].decode()


def _bare(n: int) -> Case:
    serial = format(0x10000 + n, "x")
    names = (f"www.shop{n}.example.com", f"shop{n}.example.com")
    revoked = night.SINCE + timedelta(seconds=n)
    return Case(
        Certificate(issuer="CN=Mass CA", serial=serial, names=names, subscriber=f"s{n}"),
        Revocation("CN=Mass CA", serial, revoked, reason_code=4, comment="mass " * 40),
        seconds_to_revocation=3600 + n % 977,
    )


def _collector_growth(in_memory: int) -> float:
    """Traced peak memory per case added, collecting 500 then 2,500 cases in batches of 500."""
    peaks = []
    for cases in (500, 2_500):
        tracemalloc.start()
        try:
            gather = collecting.Collector(limit=LIMIT, in_memory=in_memory)
            for start in range(0, cases, 500):
                gather.add([_bare(n) for n in range(start, min(start + 500, cases))])
            collected = gather.finish()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert collected.rows.spilled is (in_memory == 0) and collected.summary.total == cases
    return (peaks[1] - peaks[0]) / 2_000


def test_rows_do_not_stay_in_memory() -> None:
    # Per case the collector keeps its order key, arrival, offsets and ledger key; its serialised
    # row (more than that) goes to the spool's file.
    assert _collector_growth(0) < 0.5 * _collector_growth(1 << 30)
