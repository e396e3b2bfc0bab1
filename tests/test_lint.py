"""Tests for jobs.enrich.lint and `lint_cases`: pkilint on real DER, its failures, mass nights.

The golden cases (tests/golden/enrich) show what the lint diff finds per kind of misissuance; here:
which linter a certificate gets, that a linter failure is a finding and never an exception, that
validators are built once, that a mass night lints exactly the cases the report shows in full,
and that report.json carries the lint as issue 13 specifies.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from jobs.core import codes
from jobs.core.model import Case, LintFinding
from jobs.enrich.enrichment import enrich, lint_cases
from jobs.enrich.lint import CertificateLint, Linter, LintError, lint_diff, shared_linter
from jobs.report.document import case_json
from tests.support import golden_rows
from tests.support.golden_rows import GOLDEN, build_der, case_from, run_golden

ROW = {"serial": "a1", "issued_at": "2024-03-05T09:12:00+00:00", "names": ["www.example-kunde.de"]}
SMIME = {
    "key": 61,
    "names": ["ops@example-kunde.de"],
    "subject": {"CN": "ops@example-kunde.de"},
    "eku": ["1.3.6.1.5.5.7.3.4"],
    "policies": ["2.23.140.1.5.1.2"],  # S/MIME mailbox-validated, multipurpose
}


def test_a_tls_certificate_gets_the_serverauth_linter_with_its_detected_type() -> None:
    linter = Linter()
    dv = linter.lint(build_der({"key": 62}, ROW)[0])
    ov = linter.lint(build_der({"key": 62, "policies": ["2.23.140.1.2.2"]}, ROW)[0])
    assert dv.kind == "cabf-serverauth dv-final-certificate"
    assert ov.kind == "cabf-serverauth ov-final-certificate"
    # An OV profile without O and C is what pkilint reports; a DV one is clean of errors.
    assert not [f for f in dv.findings if f.severity == "error"]
    assert LintFinding("cabf.serverauth.ov.organization_name_attribute_absent", "error") in (
        ov.findings
    )


def test_an_smime_profile_gets_the_smime_linter() -> None:
    found = Linter().lint(build_der(SMIME, ROW)[0])
    assert found.kind == "cabf-smime mailbox-multipurpose"


def test_validators_are_built_once_per_certificate_type() -> None:
    linter = Linter()
    for key in range(63, 68):
        linter.lint(build_der({"key": key}, ROW)[0])
    linter.lint(build_der(SMIME, ROW)[0])
    assert linter.linted == 6
    assert len(linter._validators) == 2
    assert shared_linter() is shared_linter()


def test_der_pkilint_cannot_read_is_a_lint_error() -> None:
    linter = Linter()
    for der in (b"", b"\x04\x01x", b"\x30\x03\x02\x01\x01"):
        try:
            linter.lint(der)
        except LintError as exc:
            assert str(exc)
        else:
            raise AssertionError(f"{der!r} linted")


class _Crashing(Linter):
    def __init__(self, fatal: bool = False) -> None:
        super().__init__()
        self.fatal = fatal

    def _lint(self, der: bytes) -> CertificateLint:
        if self.fatal:
            return CertificateLint(
                "cabf-serverauth", (LintFinding("base.unhandled_exception", "fatal"),)
            )
        raise RecursionError("pyasn1 went too deep")


def _golden(name: str) -> dict[str, Any]:
    return golden_rows.load(GOLDEN / name)[0]


def test_a_linter_crash_is_a_finding_never_a_failed_run() -> None:
    given = _golden("leading-hyphen-cut-label")
    [case] = enrich(
        [case_from(given["case"])],
        [golden_rows.certificate_from(c)[0] for c in given["candidates"]],
        replacement_window=timedelta(days=30),
    )
    for linter in (_Crashing(), _Crashing(fatal=True)):
        [linted] = lint_cases([case], linter)
        failed = [f for f in linted.findings if f.code == codes.ENRICH_LINT_FAILED.code]
        assert len(failed) == 2  # the revoked certificate and its replacement
        assert "serial a1" in failed[0].message and "serial b2" in failed[1].message
        assert linted.lint is not None and linted.lint.fixed == () and linted.lint.introduced == ()
        assert codes.LABEL_LINT_FIXED.name not in linted.labels
        # What does not depend on the linter stays.
        assert codes.LABEL_INVALID_NAME.name in linted.labels


def test_no_der_no_lint() -> None:
    given = _golden("insertion-cuatis")  # database columns only
    assert run_golden(given).lint is None
    case = case_from(given["case"])
    assert lint_diff(case.certificate, None, Linter()) == (None, [], [])


def test_a_mass_night_lints_exactly_the_cases_shown_in_full() -> None:
    given = _golden("leading-hyphen-cut-label")
    base = case_from(given["case"])
    cases = [replace(base, seconds_to_revocation=base.seconds_to_revocation + i) for i in range(6)]

    def order(case: Case) -> int:  # the report's order stands in: shortest time first
        return case.seconds_to_revocation or 0

    linter = Linter()
    linted = lint_cases(list(reversed(cases)), linter, limit=2, order=order)
    assert [c.lint is not None for c in linted] == [False, False, False, False, True, True]
    assert linter.linted == 2  # no replacement here: one certificate per case
    assert len(lint_cases(cases, linter, limit=6, order=order)) == 6
    assert all(c.lint is not None for c in lint_cases(cases, linter, limit=6, order=order))


def test_report_json_carries_the_lint_as_the_issue_specifies() -> None:
    row = case_json(run_golden(_golden("leading-hyphen-cut-label")))
    lint = row["lint"]
    assert set(lint) == {"linter", "revoked", "replacement", "fixed", "introduced"}
    assert lint["linter"].startswith("pkilint ") and "dv-final-certificate" in lint["linter"]
    assert {"code": "cabf.serverauth.invalid_dnsname_syntax", "severity": "error"} in (
        lint["revoked"]
    )
    assert all(set(f) == {"code", "severity"} for f in lint["revoked"] + lint["replacement"])
    assert lint["fixed"] == ["cabf.serverauth.invalid_dnsname_syntax"]
    assert lint["introduced"] == []
    assert row["cause"].startswith("Likely cause: a value cut short")
    assert case_json(run_golden(_golden("insertion-cuatis")))["lint"] is None
    no_replacement = case_json(run_golden(_golden("placeholders-no-replacement")))["lint"]
    assert no_replacement["replacement"] == [] and no_replacement["fixed"] == []


def test_a_fault_outside_pkilint_is_a_finding_too() -> None:
    class Broken(Linter):
        def lint(self, der: bytes) -> CertificateLint:
            raise ValueError("not a LintError")

    case = case_from(_golden("placeholders-no-replacement")["case"])
    [linted] = lint_cases([case], Broken())
    [failed] = [f for f in linted.findings if f.code == codes.ENRICH_LINT_FAILED.code]
    assert "ValueError: not a LintError" in failed.message and linted.lint is None
