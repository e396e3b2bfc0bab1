"""Tests for jobs.enrich.enrichment: the golden cases under tests/golden/enrich, then the edges.

Adding a golden case is dropping a directory with `input.json` and `expected.json` into
tests/golden/enrich/; the loader below picks up every directory.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.core import codes
from jobs.core.model import Case, Certificate, Revocation, Severity
from jobs.core.x509 import ParseCache
from jobs.enrich.enrichment import enrich
from tests.support import golden_rows
from tests.support.golden_rows import GOLDEN, case_from, outcome, run_golden

CASES = sorted(p for p in GOLDEN.iterdir() if p.is_dir())
# Labels only the issuance watch and the domain check give (tests/test_watch.py, test_dns.py).
WATCH_LABELS = {
    codes.LABEL_NEAR_SIBLING.name,
    codes.LABEL_LINT_ERROR.name,
    codes.LABEL_DOMAIN_NOT_FOUND.name,
}
LABELS = set(codes.LABELS) - WATCH_LABELS
DIFF_CODES = {code for code in codes.CODES if code.startswith("diff.")}


def certificate_from(columns: dict[str, Any]) -> Certificate:
    return golden_rows.certificate_from(columns)[0]


def test_there_are_enough_golden_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("directory", CASES, ids=[p.name for p in CASES])
def test_golden(directory: Path) -> None:
    given, expected = golden_rows.load(directory)
    result = run_golden(given)
    assert outcome(result) == expected
    assert set(result.labels) <= LABELS
    assert result.replacement_reason
    # The diff's findings, enrichment's own, and the record problems a case brings along.
    known = {code for code in codes.CODES if code.startswith(("diff.", "enrich.", "data."))}
    assert {f.code for f in result.all_findings} <= known


# Edges the golden files do not show well.

T0 = datetime(2024, 3, 5, 9, 12, tzinfo=UTC)


def make_case(
    serial: str = "a1",
    names: tuple[str, ...] = ("mail.cuatis.net",),
    subscriber: str | None = "acct-1",
    issued: datetime | None = T0,
    revoked: datetime = T0 + timedelta(hours=4, minutes=38),
) -> Case:
    cert = Certificate(
        issuer="CA 1", serial=serial, subscriber=subscriber, names=names, issued_at=issued
    )
    return Case(
        certificate=cert,
        revocation=Revocation(issuer="CA 1", serial=serial, revoked_at=revoked),
        seconds_to_revocation=int((revoked - issued).total_seconds()) if issued else None,
    )


def candidate(
    serial: str,
    names: tuple[str, ...],
    issued: datetime | None,
    subscriber: str | None = "acct-1",
    issuer: str = "CA 1",
) -> Certificate:
    return Certificate(
        issuer=issuer, serial=serial, subscriber=subscriber, names=names, issued_at=issued
    )


def test_reason_sentence_of_the_founding_incident() -> None:
    case = make_case()
    revoked_at = case.revocation.revoked_at
    [result] = enrich(
        [case],
        [
            candidate("b2", ("mail.cualtis.net",), revoked_at + timedelta(minutes=23)),
            candidate("c3", ("other.cualtis.net",), revoked_at + timedelta(minutes=2)),
            candidate("d4", ("mail.cualtis.com",), revoked_at + timedelta(days=2, hours=3)),
        ],
    )
    assert result.replacement is not None and result.replacement.serial == "b2"
    assert result.candidate_count == 3
    assert result.replacement_reason == (
        "same subscriber, 1 of 1 names within distance 1, issued 23 min after revocation; "
        "3 candidates"
    )


def test_time_proximity_breaks_ties_in_names() -> None:
    case = make_case(names=("a.example",))
    revoked_at = case.revocation.revoked_at
    [result] = enrich(
        [case],
        [
            candidate("far", ("a.example",), revoked_at + timedelta(days=3)),
            candidate("near", ("a.example",), revoked_at - timedelta(hours=1)),
            candidate("mid", ("a.example",), revoked_at + timedelta(hours=2)),
        ],
    )
    assert result.replacement is not None and result.replacement.serial == "near"
    assert result.replacement_reason is not None
    assert "1 of 1 names kept, issued 1 h before revocation" in result.replacement_reason


def test_the_revoked_certificate_itself_and_duplicates_are_not_candidates() -> None:
    case = make_case(names=("a.example",))
    later = case.revocation.revoked_at + timedelta(hours=1)
    same_serial_other_issuer = candidate("a1", ("b.example",), later, issuer="CA 2")
    [result] = enrich(
        [case],
        [
            replace(case.certificate, issued_at=later),  # itself, even with another time
            same_serial_other_issuer,
            same_serial_other_issuer,
        ],
    )
    assert result.candidate_count == 1
    assert result.replacement == same_serial_other_issuer


def test_window_bounds() -> None:
    case = make_case(names=("a.example",))
    end = case.revocation.revoked_at + timedelta(days=30)
    [result] = enrich(
        [case],
        [
            candidate("at-issuance", ("a.example",), T0),
            candidate("undated", ("a.example",), None),
            candidate("naive", ("a.example",), datetime(2024, 3, 6)),
            candidate("at-end", ("other.test",), end),
            candidate("past-end", ("a.example",), end + timedelta(seconds=1)),
        ],
    )
    assert result.candidate_count == 1
    assert result.replacement is not None and result.replacement.serial == "at-end"
    assert result.labels == ("names-added", "names-removed")


def test_a_shorter_window_is_honoured() -> None:
    case = make_case(names=("a.example",))
    later = case.revocation.revoked_at + timedelta(days=2)
    [result] = enrich(
        [case], [candidate("b2", ("a.example",), later)], replacement_window=timedelta(days=1)
    )
    assert result.replacement is None
    assert result.labels == ("no-replacement",)
    assert (
        result.replacement_reason is not None
        and "1 d after revocation" in result.replacement_reason
    )


def test_revoked_certificate_without_time_gets_a_symmetric_window() -> None:
    case = make_case(names=("a.example",), issued=None)
    revoked_at = case.revocation.revoked_at
    [result] = enrich(
        [case],
        [
            candidate("before", ("a.example",), revoked_at - timedelta(days=29)),
            candidate("too-early", ("a.example",), revoked_at - timedelta(days=31)),
        ],
    )
    assert result.candidate_count == 1
    assert result.replacement is not None and result.replacement.serial == "before"
    assert result.replacement_reason is not None
    assert "no issuance time" in result.replacement_reason


def test_order_is_kept_and_subscribers_do_not_mix() -> None:
    first = make_case(serial="a1", names=("one.exmaple",), subscriber="acct-1")
    second = make_case(serial="a2", names=("two.exmaple",), subscriber="acct-2")
    third = make_case(serial="a3", names=("three.example",), subscriber=None)
    later = first.revocation.revoked_at + timedelta(minutes=5)
    results = enrich(
        [first, second, third],
        iter(
            [
                candidate("b2", ("two.example",), later, subscriber="acct-2"),
                candidate("b1", ("one.example",), later, subscriber="acct-1"),
                candidate("b3", ("three.example",), later, subscriber=None),
            ]
        ),
    )
    assert [r.key for r in results] == [first.key, second.key, third.key]
    assert [r.replacement.serial if r.replacement else None for r in results] == [
        "b1",
        "b2",
        None,
    ]
    assert results[2].replacement_reason is not None
    assert "no subscriber" in results[2].replacement_reason


def test_a_broken_record_fails_only_its_own_case() -> None:
    naive = make_case(
        serial="bad", issued=datetime(2024, 3, 5, 9, 12), revoked=datetime(2024, 3, 5, 14, 0)
    )
    good = make_case(serial="good", names=("a.example",))
    later = good.revocation.revoked_at + timedelta(minutes=5)
    results = enrich(
        [naive, good],
        [
            candidate("b1", ("mail.cualtis.net",), later),
            candidate("b2", ("a.example",), later + timedelta(minutes=1)),
        ],
    )
    failed = results[0]
    assert failed.labels == ("data-problem",)
    assert failed.replacement is None
    [finding] = failed.findings
    assert finding.code == codes.ENRICH_FAILED.code
    assert finding.severity is Severity.ERROR
    assert "CA 1 serial bad" in finding.message
    assert results[1].replacement is not None and results[1].replacement.serial == "b2"


def test_many_candidates_are_indexed_not_scanned() -> None:
    start = T0
    subscribers = 2000
    cases = [
        make_case(serial=f"r{i}", names=(f"www.site{i}.exmaple",), subscriber=f"acct-{i}")
        for i in range(0, subscribers, 2)
    ]
    candidates = [
        candidate(
            f"c{i}-{k}",
            (f"www.site{i}.example" if k == 0 else f"api{k}.site{i}.example",),
            start + timedelta(days=k * 7 + 1),
            subscriber=f"acct-{i}",
        )
        for i in range(subscribers)
        for k in range(50)
    ]
    began = time.perf_counter()
    results = enrich(cases, candidates)
    elapsed = time.perf_counter() - began
    assert len(candidates) == 100_000
    assert all(r.replacement is not None for r in results)
    assert all(r.replacement.serial.endswith("-0") for r in results if r.replacement)
    assert all(r.candidate_count == 5 for r in results)
    assert all(r.labels == ("likely-typo", "registrable-domain-typo") for r in results)
    # Scanning all 100k candidates per case would take minutes; the index takes about a second.
    assert elapsed < 20, elapsed


def test_golden_cases_cover_every_diff_code_and_label() -> None:
    found: set[str] = set()
    labels: set[str] = set()
    for directory in CASES:
        _, expected = golden_rows.load(directory)
        found |= set(expected["finding_codes"])
        labels |= set(expected["labels"])
    # Only a crashing rule is not shown by a golden case (tests/test_diff.py injects one), nor the
    # pairing cap, which takes a 10,000-name certificate (tests/test_pairing.py builds one).
    assert found == DIFF_CODES - {"diff.rule_failed", "diff.name.pairing_capped"}
    assert labels == LABELS


def test_declared_replacement_by_the_certificates_own_key() -> None:
    case = make_case(names=("a.example",))
    later = case.revocation.revoked_at + timedelta(minutes=5)
    near = candidate("b2", ("a.example",), later)
    declared = candidate("b3", ("other.example",), later + timedelta(days=3), issuer="CA 2")
    [result] = enrich([case], [near, declared], declared={("CA 1", "a1"): ("CA 2", "b3")})
    assert result.replacement == declared
    assert "declared-replacement" in result.labels
    assert result.replacement_reason is not None
    assert result.replacement_reason.startswith("declared by the CA as the replacement; ")
    [plain] = enrich([case], [near, declared])
    assert plain.replacement == near and "declared-replacement" not in plain.labels


def test_der_is_parsed_once_per_certificate() -> None:
    given = golden_rows.load(GOLDEN / "identical-reissue")[0]
    replacement = certificate_from(given["candidates"][0])
    cases = []
    for serial in ("a1", "a2", "a3"):
        row = dict(given["case"]["certificate"], serial=serial)
        cases.append(case_from({**given["case"], "certificate": row}))
    cache = ParseCache()
    results = enrich(cases, [replacement], cache=cache)
    assert [r.replacement for r in results] == [replacement] * 3
    # Three revoked certificates and one replacement shared by all three: four parses.
    assert cache.parsed == 4
    assert all("diff.key.reused" in {f.code for f in r.all_findings} for r in results)


def test_every_golden_case_has_a_note() -> None:
    """Each input says, in its `note`, what the case shows and why its expected output is right."""
    inputs = {directory.name: golden_rows.load(directory)[0] for directory in CASES}
    missing = [
        name
        for name, given in inputs.items()
        if not (isinstance(given.get("note"), str) and given["note"].strip())
    ]
    assert missing == []


NEW_LABELS = {
    codes.LABEL_INVALID_NAME.name,
    codes.LABEL_PLACEHOLDER_VALUE.name,
    codes.LABEL_TRUNCATED_VALUE.name,
    codes.LABEL_EXTRA_TEXT.name,
    codes.LABEL_LINT_FIXED.name,
}


def test_negatives_and_the_classic_typo_get_none_of_the_misissuance_labels() -> None:
    """Legitimate re-keys and renewals, a name added, and the founding typo (issue 13)."""
    quiet = [p for p in CASES if p.name.startswith("negative-")] + [
        GOLDEN / "classic-typo-realistic-der",
        GOLDEN / "insertion-cuatis",
    ]
    assert len(quiet) >= 5
    for directory in quiet:
        result = run_golden(golden_rows.load(directory)[0])
        assert not NEW_LABELS & set(result.labels), directory.name
        if result.lint is not None:
            assert (result.lint.fixed, result.lint.introduced) == ((), ()), directory.name
    classic = run_golden(golden_rows.load(GOLDEN / "classic-typo-realistic-der")[0])
    assert codes.LABEL_LIKELY_TYPO.name in classic.labels


def test_every_case_has_a_cause_and_no_message_shows_none() -> None:
    for directory in CASES:
        result = run_golden(golden_rows.load(directory)[0])
        assert result.cause is not None and result.cause.startswith("Likely cause: ")
        assert "None" not in result.cause, directory.name
        for finding in result.all_findings:
            assert "None" not in finding.message, (directory.name, finding)
            assert "2.5.4." not in finding.message, (directory.name, finding)
