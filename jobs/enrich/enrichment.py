"""Enrichment: the replacement of each revoked certificate, its diff and the case's labels.

Owns which candidate counts as the replacement (the one the CA database declares, e.g. ACME ARI
in Boulder, when it is among the candidates; otherwise same subscriber, inside the replacement
window, most similar names first, nearest issuance second), the sentence saying why, and which
labels a case gets (the labels themselves are declared in `jobs.core.codes`), its "likely cause"
sentence (`jobs.enrich.cause`), and which cases get a lint diff (`lint_cases`: all, or on a mass
night the ones the report shows in full, chosen by the order the caller passes). DER is parsed
lazily, only for the two certificates a diff compares, and once per certificate per run
(`jobs.core.x509.ParseCache`, keyed by SHA-256). It must not do I/O, read clocks or query the CA
database (the pipeline passes the candidates in), and it must not decide what a case is (that is
detection).

The candidate window of a case is (issuance of the revoked certificate, revocation + window]:
strictly after the revoked certificate was issued, so an older certificate never "replaces" it,
and inclusive at the far end, as the assignment defines it. Candidates issued between issuance and
revocation count (reissue-then-revoke is common). A revoked certificate without an issuance time
gets the symmetric window [revocation - window, revocation + window], said so in the reason.
Candidates without a usable (timezone-aware) issuance time cannot be placed and are skipped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from jobs.core import codes
from jobs.core.model import Case, CertDiff, Certificate, Finding, Severity
from jobs.core.times import format_duration
from jobs.core.x509 import ParseCache
from jobs.enrich.cause import likely_cause
from jobs.enrich.diff import (
    TYPO_DISTANCE,
    diff_certificates,
    format_relative,
    pair_indices,
    parsed_or_error,
    split_names,
)
from jobs.enrich.judge import revoked_findings
from jobs.enrich.lint import Linter, lint_diff
from jobs.enrich.names import name_distance, registrable_domain
from jobs.enrich.rules import partnered

Key = tuple[str, str]

# Distances are memoised across cases (a subscriber's certificates repeat the same names); the
# cap keeps a pathological night from holding every pair ever measured.
_MEMO_LIMIT = 200_000


@dataclass(frozen=True)
class _Shelf:
    """One subscriber's candidates, sorted by issuance time, with the times for bisecting."""

    times: list[datetime]
    certificates: list[Certificate]


def _index(candidates: Iterable[Certificate]) -> dict[str, _Shelf]:
    by_subscriber: dict[str, dict[tuple[str, str], Certificate]] = {}
    for cert in candidates:
        when = cert.issuance_time
        if cert.subscriber is None or when is None or when.utcoffset() is None:
            continue
        # The same certificate can reach us twice (two issuers' queries); the first copy wins.
        by_subscriber.setdefault(cert.subscriber, {}).setdefault(cert.key, cert)
    shelves: dict[str, _Shelf] = {}
    for subscriber, certs in by_subscriber.items():
        ordered = sorted(certs.values(), key=lambda c: (_time(c), c.issuer, c.serial))
        shelves[subscriber] = _Shelf([_time(c) for c in ordered], ordered)
    return shelves


def _time(cert: Certificate) -> datetime:
    when = cert.issuance_time
    if when is None:  # _index only shelves certificates with a time
        raise ValueError(f"{cert.issuer} serial {cert.serial} has no issuance time")
    return when


def _memoised(memo: dict[tuple[str, str], int]) -> Callable[[str, str], int]:
    def distance(a: str, b: str) -> int:
        found = memo.get((a, b))
        if found is None:
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            found = memo[(a, b)] = name_distance(a, b)
        return found

    return distance


def enrich(
    cases: Sequence[Case],
    candidates: Iterable[Certificate],
    *,
    replacement_window: timedelta = timedelta(days=30),
    declared: Mapping[Key, Key] | None = None,
    cache: ParseCache | None = None,
) -> list[Case]:
    """The cases in the same order, each with replacement, reason, count, diff and labels.

    Candidates are indexed by subscriber once and bisected by time per case, so the cost follows
    the candidates near each case, not cases x all candidates. `declared` maps a revoked
    certificate's (issuer, serial) to the (issuer, serial) the CA database records as its
    replacement; that one wins when it is among the case's candidates. `cache` shares parsed DER
    with the caller (a fresh one by default). A case whose enrichment fails gets an
    `enrich.failed` error finding naming its record, and the run goes on.
    """
    shelves = _index(candidates)
    cache = cache if cache is not None else ParseCache()
    matcher = _Matcher(_memoised({}), cache, declared or {}, replacement_window)
    out: list[Case] = []
    for case in cases:
        case = replace(case, domains=registrable_domains(case.certificate.names))
        try:
            done = _enrich_case(case, shelves, matcher)
            out.append(replace(done, cause=likely_cause(done)))
        except Exception as exc:
            # One malformed record (a naive datetime, say) must not sink the night's report.
            failure = codes.ENRICH_FAILED.finding(
                f"enrichment failed for {case.key[0]} serial {case.key[1]}: "
                f"{type(exc).__name__}: {exc}",
            )
            failed = replace(
                case, findings=(*case.findings, failure), labels=(codes.LABEL_DATA_PROBLEM.name,)
            )
            out.append(replace(failed, cause=likely_cause(failed)))
    return out


def lint_cases(
    cases: Sequence[Case],
    linter: Linter,
    *,
    limit: int | None = None,
    order: Callable[[Case], Any] | None = None,
) -> list[Case]:
    """The cases in the same order, each with its lint diff (`jobs.enrich.lint`), the findings
    and labels that follow from it, and its cause sentence again.

    All of them, or on a night of more than `limit` cases only the first `limit` by `order` (the
    report's most-severe-first order, so exactly the cases it shows in full): about 5 ms per
    certificate is too much for a hundred thousand. Linting adds findings and labels (and drops
    only the info-level identical reissue a lint difference disproves), so a linted case can only
    move up that order and the chosen ones stay the ones shown."""
    chosen: set[int] | None = None
    if limit is not None and len(cases) > limit:
        ranked = sorted(range(len(cases)), key=lambda i: order(cases[i]) if order else i)
        chosen = set(ranked[:limit])
    return [
        _with_lint(case, linter) if chosen is None or index in chosen else case
        for index, case in enumerate(cases)
    ]


def _with_lint(case: Case, linter: Linter) -> Case:
    try:
        lint, diff_findings, case_findings = lint_diff(case.certificate, case.replacement, linter)
    except Exception as exc:
        # lint_diff turns pkilint's failures into findings; this is for a fault of its own.
        failure = codes.ENRICH_LINT_FAILED.finding(
            f"linting {case.key[0]} serial {case.key[1]} failed: {type(exc).__name__}: {exc}"
        )
        return replace(case, findings=(*case.findings, failure))
    if lint is None:
        return case
    diff, labels = case.diff, set(case.labels)
    if diff is not None and (lint.fixed or lint.introduced):
        # The linter sees a difference, so more than the serial and validity moved.
        reissue = codes.DIFF_IDENTICAL_REISSUE
        kept = tuple(f for f in diff.findings if f.code != reissue.code)
        diff = replace(diff, findings=(*kept, *diff_findings))
        labels.discard(codes.LABEL_IDENTICAL_REISSUE.name)
    labels |= {label.name for label in map(_implied_label, diff_findings) if label is not None}
    linted = replace(
        case,
        lint=lint,
        diff=diff,
        findings=(*case.findings, *case_findings),
        labels=tuple(sorted(labels)),
    )
    return replace(linted, cause=likely_cause(linted))


def registrable_domains(names: Iterable[str]) -> tuple[str | None, ...]:
    """Each name's registrable domain, distinct, sorted, None (no registrable domain) last."""
    found = {registrable_domain(name) for name in names}
    return (*sorted(d for d in found if d is not None), *((None,) if None in found else ()))


def _window(case: Case, window: timedelta) -> tuple[datetime, bool, datetime]:
    """(start, start_inclusive, end inclusive) of the candidate window."""
    revoked_at = case.revocation.revoked_at
    issued = case.certificate.issuance_time
    if issued is None:
        return revoked_at - window, True, revoked_at + window
    return issued, False, revoked_at + window


def _candidates(case: Case, shelves: dict[str, _Shelf], window: timedelta) -> list[Certificate]:
    subscriber = case.certificate.subscriber
    shelf = shelves.get(subscriber) if subscriber is not None else None
    if shelf is None:
        return []
    start, inclusive, end = _window(case, window)
    low = (bisect.bisect_left if inclusive else bisect.bisect_right)(shelf.times, start)
    high = bisect.bisect_right(shelf.times, end)
    own = {case.certificate.key, case.key}
    return [c for c in shelf.certificates[low:high] if c.key not in own]


class _Score(NamedTuple):  # one per candidate per case: a tuple is the cheapest record
    kept: int
    close: int
    total_distance: int
    max_close: int
    offset: int

    def rank(self, cert: Certificate) -> tuple[int, int, int, datetime, str, str]:
        """Smaller is better: more matched names, less distance, nearer in time, then stable."""
        return (
            -(self.kept + self.close),
            self.total_distance,
            abs(self.offset),
            _time(cert),
            cert.issuer,
            cert.serial,
        )


def _score(case: Case, candidate: Certificate, distance: Callable[[str, str], int]) -> _Score:
    kept, added, removed = split_names(case.certificate.names, candidate.names)
    distances = [value for _, _, value in pair_indices(removed, added, distance)]
    close = [value for value in distances if value <= TYPO_DISTANCE]
    offset = int((_time(candidate) - case.revocation.revoked_at).total_seconds())
    return _Score(
        kept=len(kept),
        close=len(close),
        total_distance=sum(distances),
        max_close=max(close, default=0),
        offset=offset,
    )


@dataclass(frozen=True)
class _Matcher:
    """What every case of one run is matched with: memoised distances, the parse cache, the
    declared replacements and the window."""

    distance: Callable[[str, str], int]
    cache: ParseCache
    declared: Mapping[Key, Key]
    window: timedelta


def _enrich_case(case: Case, shelves: dict[str, _Shelf], matcher: _Matcher) -> Case:
    found = _candidates(case, shelves, matcher.window)
    problem = (codes.LABEL_DATA_PROBLEM.name,) if _has_error(case) else ()
    if not found:
        # Nothing to compare with, but the revoked certificate's own names and values still tell.
        own = revoked_findings(
            case.certificate, parsed_or_error(case.certificate, matcher.cache)[0]
        )
        implied = {label.name for label in map(_implied_label, own) if label is not None}
        return replace(
            case,
            findings=(*case.findings, *own),
            replacement=None,
            replacement_reason=_no_replacement_reason(case, matcher),
            candidate_count=0,
            diff=None,
            labels=tuple(sorted({codes.LABEL_NO_REPLACEMENT.name, *problem, *implied})),
        )
    scored = [(_score(case, cert, matcher.distance), cert) for cert in found]
    declared_key = matcher.declared.get(case.key) or matcher.declared.get(case.certificate.key)
    declared = [pair for pair in scored if declared_key is not None and pair[1].key == declared_key]
    score, best = declared[0] if declared else min(scored, key=lambda p: p[0].rank(p[1]))
    diff = diff_certificates(case.certificate, best, distance=matcher.distance, cache=matcher.cache)
    reason = _reason(case, diff, score, len(found), matcher.window)
    if declared:
        reason = "declared by the CA as the replacement; " + reason
    elif declared_key is not None:
        reason += (
            f"; the CA declares {declared_key[0]} serial {declared_key[1]} as the replacement, "
            "but it is not among the candidates"
        )
    extra = (codes.LABEL_DECLARED_REPLACEMENT.name,) if declared else ()
    if best.der is not None and best.der_error is None:
        # Candidates are parsed only once chosen: the diff is where a broken DER shows.
        found_error = matcher.cache.get(best.der)
        if isinstance(found_error, str):
            best = replace(best, der_error=found_error)
    return replace(
        case,
        replacement=best,
        replacement_reason=reason,
        candidate_count=len(found),
        diff=diff,
        labels=tuple(sorted({*diff_labels(diff), *problem, *extra})),
    )


def _has_error(case: Case) -> bool:
    return any(f.severity is Severity.ERROR for f in case.findings)


def diff_labels(diff: CertDiff) -> tuple[str, ...]:
    """The labels that follow from a diff alone, sorted (no `no-replacement`/`data-problem`)."""
    close = [c for c in diff.name_changes if c.distance <= TYPO_DISTANCE]
    # A removed name cut or padded into an added one is explained, like a typo's pair.
    explained = partnered(diff)
    close_before = {c.before for c in explained}
    close_after = {c.after for c in explained}
    labels = {label.name for label in map(_implied_label, diff.findings) if label is not None}
    if any(_subject_changed_beyond_cn(f) for f in diff.findings):
        labels.add(codes.LABEL_SUBJECT_CHANGED.name)
    if close:
        labels.add(codes.LABEL_LIKELY_TYPO.name)
    if any(name not in close_after for name in diff.added):
        labels.add(codes.LABEL_NAMES_ADDED.name)
    if any(name not in close_before for name in diff.removed):
        labels.add(codes.LABEL_NAMES_REMOVED.name)
    if not diff.added and not diff.removed:
        labels.add(codes.LABEL_SAME_NAMES.name)
        if diff.key_reused is False:
            labels.add(codes.LABEL_RE_KEY.name)
    return tuple(sorted(labels))


def _implied_label(finding: Finding) -> codes.Label | None:
    """The label the registry says every finding of this code gives its case, if any."""
    code = codes.CODES.get(finding.code)
    return code.label if code is not None else None


def _subject_changed_beyond_cn(finding: Finding) -> bool:
    # The CN follows the first name, so a CN change alone is the name change already labelled.
    if finding.code != codes.DIFF_SUBJECT_CHANGED.code:
        return False
    fields = getattr(finding, "field", "")
    return not fields or any(field != "CN" for field in fields.split(","))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _reason(case: Case, diff: CertDiff, score: _Score, count: int, window: timedelta) -> str:
    total = len(diff.kept) + len(diff.removed)
    if total == 0:
        names = "the revoked certificate has no names"
    elif score.close == 0:
        names = f"{score.kept} of {total} names kept"
    elif score.kept == 0:
        names = f"{score.close} of {total} names within distance {score.max_close}"
    else:
        names = (
            f"{score.kept} of {total} names kept, {score.close} within distance {score.max_close}"
        )
    text = (
        f"same subscriber, {names}, issued {format_relative(score.offset)}; "
        f"{_plural(count, 'candidate')}"
    )
    if case.certificate.issuance_time is None:
        span = format_duration(int(window.total_seconds()))
        text += (
            "; the revoked certificate has no issuance time, so candidates were taken from "
            f"{span} before to {span} after revocation"
        )
    return text


def _no_replacement_reason(case: Case, matcher: _Matcher) -> str:
    window = matcher.window
    if case.certificate.subscriber is None:
        return "no replacement searched: the revoked certificate has no subscriber"
    span = format_duration(int(window.total_seconds()))
    if case.certificate.issuance_time is None:
        return (
            f"no certificate of the same subscriber issued within {span} of revocation "
            "(the revoked certificate has no issuance time)"
        )
    return (
        "no certificate of the same subscriber issued after this one "
        f"and by {span} after revocation"
    )
