"""The "likely cause" sentence of a case, composed from its labels, findings and lint diff.

Owns the wording a reviewer reads first on a case's card: the most specific explanations the
labels give (a cut or padded value before the invalid name it produced, a registrable-domain typo
before the typo it is), at most two, with their evidence taken from the findings, then what the
lint diff says the replacement fixed or brought. Pure: it must not judge certificates or add
labels (`jobs.enrich.judge`, `jobs.enrich.rules` and `jobs.enrich.lint` do), and every clause
reads without a field that may be absent (no "None" ever).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jobs.core import codes
from jobs.core.model import Case, Finding, LintFinding
from jobs.enrich.lint import ERROR_SEVERITIES

_MAX_CLAUSES = 2
_MAX_CODES = 3


def _change(finding: Finding) -> str | None:
    change = getattr(finding, "change", None)
    if change is None:
        return None
    field = getattr(finding, "field", "")
    if field in ("", "name"):
        return f"{change.before} -> {change.after}"
    return f"{field} {change.before!r} -> {change.after!r}"


def _placeholder(finding: Finding) -> str | None:
    change = getattr(finding, "change", None)
    if change is None:
        return None
    field = getattr(finding, "field", "")
    instead = f" -> {change.after!r}" if change.after else ""
    return f"{field} {change.before!r}{instead}"


def _invalid(finding: Finding) -> str:
    # `x is not a valid DNS name: why` -> `x: why`
    name, _, rest = _head(finding).partition(" is not a valid ")
    return f"{name}: {rest.partition(': ')[2]}" if rest else name


def _head(finding: Finding) -> str:
    # A finding's first clause is its claim; what follows is about the replacement.
    return finding.message.split("; ")[0].removeprefix("subject ")


def _listed(finding: Finding) -> str:
    # `names added: a, b` -> `a, b`
    return finding.message.partition(": ")[2] or finding.message


def _fields(finding: Finding) -> str:
    return str(getattr(finding, "field", "")).replace(",", ", ")


# (label, phrase, the finding code whose evidence it quotes, how to quote it). First match wins
# the sentence's lead; a label `_IMPLIED` by one already said is not said again.
_Evidence = Callable[[Finding], str | None]
_PHRASES: tuple[tuple[codes.Label, str, codes.Code | None, _Evidence | None], ...] = (
    (codes.LABEL_REGISTRABLE_DOMAIN_TYPO, "a typo in the registrable domain",
     codes.DIFF_NAME_REGISTRABLE_DOMAIN_TYPO, _change),
    (codes.LABEL_LOOK_ALIKE, "look-alike characters in a name", codes.DIFF_NAME_LOOKALIKE, _change),
    (codes.LABEL_TRUNCATED_VALUE, "a value cut short", codes.DIFF_VALUE_TRUNCATED, _change),
    (codes.LABEL_EXTRA_TEXT, "extra text in a value", codes.DIFF_VALUE_EXTRA_TEXT, _change),
    (codes.LABEL_INVALID_NAME, "an invalid name", codes.DIFF_NAME_INVALID, _invalid),
    (codes.LABEL_PLACEHOLDER_VALUE, "a placeholder left in the subject",
     codes.DIFF_SUBJECT_PLACEHOLDER, _placeholder),
    (codes.LABEL_LIKELY_TYPO, "a typo in a name", codes.DIFF_NAME_LIKELY_TYPO, _change),
    (codes.LABEL_SUBJECT_TYPO, "a typo in the subject", codes.DIFF_SUBJECT_LIKELY_TYPO, _change),
    (codes.LABEL_LINT_FIXED, "a lint error in the revoked certificate", None, None),
    (codes.LABEL_PROFILE_CHANGED, "a profile change", codes.DIFF_PROFILE_POLICIES_CHANGED, _head),
    (codes.LABEL_SUBJECT_CHANGED, "a subject change", codes.DIFF_SUBJECT_CHANGED, _fields),
    (codes.LABEL_ISSUER_CHANGED, "a move to another issuing CA", None, None),
    (codes.LABEL_NAMES_REMOVED, "names dropped", codes.DIFF_NAME_REMOVED, _listed),
    (codes.LABEL_NAMES_ADDED, "names added", codes.DIFF_NAME_ADDED, _listed),
    (codes.LABEL_IDENTICAL_REISSUE, "a reissue with nothing changed but serial and validity",
     None, None),
    (codes.LABEL_RE_KEY, "a re-key: same names, new key", None, None),
    (codes.LABEL_SAME_NAMES, "a reissue with the same names", None, None),
)  # fmt: skip
# A label not worth saying once the one it maps to is said: the typo is the registrable one, the
# subject typo is the cut postal code, the subject change is the typo or placeholder in it.
_IMPLIED: dict[str, frozenset[str]] = {
    codes.LABEL_LIKELY_TYPO.name: frozenset(
        {codes.LABEL_REGISTRABLE_DOMAIN_TYPO.name, codes.LABEL_LOOK_ALIKE.name}
    ),
    codes.LABEL_SUBJECT_TYPO.name: frozenset(
        {codes.LABEL_TRUNCATED_VALUE.name, codes.LABEL_EXTRA_TEXT.name}
    ),
    codes.LABEL_SUBJECT_CHANGED.name: frozenset(
        {
            codes.LABEL_SUBJECT_TYPO.name,
            codes.LABEL_PLACEHOLDER_VALUE.name,
            codes.LABEL_TRUNCATED_VALUE.name,
            codes.LABEL_EXTRA_TEXT.name,
        }
    ),
}
# Said only when nothing else is: "the same names" is no cause beside a profile change.
_FALLBACK = frozenset({codes.LABEL_SAME_NAMES.name})


def _evidence(code: codes.Code | None, quote: _Evidence | None, found: Sequence[Finding]) -> str:
    if code is None or quote is None:
        return ""
    evidence = next((quote(f) for f in found if f.code == code.code), None)
    if code is codes.DIFF_PROFILE_POLICIES_CHANGED and evidence is None:
        evidence = next(
            (_head(f) for f in found if f.code == codes.DIFF_PROFILE_EKU_CHANGED.code), None
        )
    return evidence or ""


def _codes(findings: Sequence[LintFinding]) -> str:
    shown = [f.code for f in findings[:_MAX_CODES]]
    more = len(findings) - _MAX_CODES
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _errors(count: int) -> str:
    return f"{count} pkilint error" + ("" if count == 1 else "s")


def _lint_clause(case: Case) -> str | None:
    lint = case.lint
    if lint is None:
        return None
    if case.replacement is None:
        errors = [f for f in lint.revoked if f.severity in ERROR_SEVERITIES]
        if errors:
            count = len(errors)
            return (
                f"pkilint reports {count} error{'' if count == 1 else 's'} on it ({_codes(errors)})"
            )
        return None
    fixed = [f for f in lint.revoked if f.code in lint.fixed and f.severity in ERROR_SEVERITIES]
    brought = [
        f for f in lint.replacement if f.code in lint.introduced and f.severity in ERROR_SEVERITIES
    ]
    parts = []
    if fixed:
        parts.append(f"the replacement fixes {_errors(len(fixed))} ({_codes(fixed)})")
    if brought:
        parts.append(f"the replacement brings {_errors(len(brought))} ({_codes(brought)})")
    return "; ".join(parts) or None


def likely_cause(case: Case) -> str:
    """`Likely cause: a value cut short (-api.example.de -> shop-api.example.de); an invalid
    name (...); the replacement fixes 1 pkilint error (cabf.serverauth.invalid_dnsname_syntax).`"""
    labels = set(case.labels)
    found = case.all_findings
    said: set[str] = set()
    clauses: list[str] = []
    quoted: set[str] = set()
    for label, phrase, code, quote in _PHRASES:
        if len(clauses) == _MAX_CLAUSES:
            break
        if label.name not in labels or (label.name in _FALLBACK and clauses):
            continue
        if _IMPLIED.get(label.name, frozenset()) & said:
            continue
        evidence = _evidence(code, quote, found)
        # Two labels of one pair (a look-alike that is a registrable-domain typo) quote it once.
        clauses.append(f"{phrase} ({evidence})" if evidence and evidence not in quoted else phrase)
        quoted.add(evidence)
        said.add(label.name)
    lint = _lint_clause(case)
    if not clauses:
        if codes.LABEL_DATA_PROBLEM.name in labels and case.diff is None:
            clauses.append("not judged: a record behind the case has an error")
        elif case.replacement is None:
            clauses.append("unknown: no replacement followed")
        else:
            clauses.append("not evident from the two certificates")
    return "Likely cause: " + "; ".join([*clauses, *([lint] if lint else [])]) + "."
