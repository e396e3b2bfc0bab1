"""Triage: how much each case matters, how many need review and why, and what to do next.

Owns the report's reading of severity: a case is as severe as its most severe finding or label
(both declared, with their severity, in `jobs.core.codes`; a label the registry does not know
reads as info), a case *needs review* when that is `error`, the words that say why, the one
sentence of advice per severity, and the mail subject that carries the verdict. Pure; it must not
format markup (templates do) nor decide which findings or labels a case has.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from jobs.core import codes
from jobs.core.model import Case, Finding, Severity
from jobs.core.watch import SuspiciousIssuance

# Most severe first: the order of the overview, the advice and every count by severity.
SEVERITIES = (Severity.ERROR, Severity.WARNING, Severity.INFO)
RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
# One sentence per severity: what a reviewer does with the cases of that colour.
NEXT_STEP = {
    Severity.ERROR: (
        "Review these today: each is a likely misissuance (a name moved to another registrable "
        "domain) or rests on a record the control cannot judge; decide whether an incident "
        "report is due."
    ),
    Severity.WARNING: (
        "Check that the replacement is what the subscriber asked for and that the revocation "
        "reason says what happened."
    ),
    Severity.INFO: "Routine reissues and re-keys: no action unless the pattern looks unusual.",
}


def label_severity(label: str) -> Severity:
    """A label's severity from the registry; one it does not declare reads as info."""
    declared = codes.LABELS.get(label)
    return declared.severity if declared is not None else Severity.INFO


def worst(findings: Iterable[Finding], labels: Iterable[str]) -> Severity:
    """The most severe of these findings and labels (info when there are none)."""
    found = [f.severity for f in findings] + [label_severity(x) for x in labels]
    return min(found, key=RANK.__getitem__, default=Severity.INFO)


def case_severity(case: Case) -> Severity:
    """The most severe of a case's findings and labels (info when it has neither)."""
    return worst(case.all_findings, case.labels)


def issuance_severity(issuance: SuspiciousIssuance) -> Severity:
    """The most severe of a suspicious issuance's findings and labels."""
    return worst(issuance.findings, issuance.labels)


def needs_review(case: Case) -> bool:
    """A case needs review when anything about it is error-level."""
    return case_severity(case) is Severity.ERROR


@dataclass(frozen=True)
class Reason:
    """Why cases need review: a label (or, without one, a finding code), its meaning, how many."""

    name: str
    meaning: str
    count: int


@dataclass(frozen=True)
class Triage:
    """The verdict over a report's cases.

    need_review: cases with an error-level finding or label.
    by_severity: (severity, cases) for each severity that has cases, most severe first.
    reasons: why the cases needing review do, most frequent first: each error-level label they
        carry, or for a case without one, each error-level finding code.
    """

    need_review: int = 0
    by_severity: tuple[tuple[Severity, int], ...] = ()
    reasons: tuple[Reason, ...] = ()


def triage(cases: Sequence[Case]) -> Triage:
    """Count the cases by severity and name the reasons behind those that need review."""
    severities = Counter(case_severity(case) for case in cases)
    reasons: Counter[tuple[str, str]] = Counter()
    for case in cases:
        if not needs_review(case):
            continue
        labels = [x for x in case.labels if label_severity(x) is Severity.ERROR]
        if labels:
            reasons.update((x, codes.LABELS[x].meaning) for x in set(labels))
            continue
        for code in {f.code for f in case.all_findings if f.severity is Severity.ERROR}:
            declared = codes.CODES.get(code)
            reasons[(code, declared.meaning if declared else code)] += 1
    return Triage(
        need_review=severities[Severity.ERROR],
        by_severity=tuple((s, severities[s]) for s in SEVERITIES if severities[s]),
        reasons=tuple(
            Reason(name, meaning, count)
            for (name, meaning), count in sorted(reasons.items(), key=lambda i: (-i[1], i[0]))
        ),
    )


def subject_line(total: int, verdict: Triage, day: date, suspicious: int = 0) -> str:
    """`[revwatch] 2 need review, 8 early revocations, 2026-11-27`: the verdict first, so that a
    night with likely misissuances reads differently from a routine one in the inbox. The issuance
    watch's suspicious issuances, when there are any, come first: each is a valid certificate
    that needs review (`[revwatch] 2 suspicious issuances, 0 need review, 8 early …`)."""
    watched = ""
    if suspicious:
        watched = f"{suspicious} suspicious issuance{'' if suspicious == 1 else 's'}, "
    if not total:
        if watched:
            return f"[revwatch] {watched}no early revocations, {day:%Y-%m-%d}"
        return f"[revwatch] quiet night: no early revocations, {day:%Y-%m-%d}"
    noun = "early revocation" if total == 1 else "early revocations"
    return f"[revwatch] {watched}{verdict.need_review} need review, {total} {noun}, {day:%Y-%m-%d}"
