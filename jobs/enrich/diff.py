"""The certificate diff: which names were kept, added and removed, how they pair, and the findings.

Owns how two certificates compare: names compared by their canonical form (case-insensitive, IDNs as
A-labels, so `münchen.de` and `xn--mnchen-3ya.de` are one name), each removed name paired with its
closest added name (optimal-string-alignment distance, in the IDN form that shows the smaller edit,
see `jobs.enrich.names`) with the edit that turns one into the other, and running the rules of
`jobs.enrich.rules` and `jobs.enrich.judge` over the result (`RULES`). Durations in words come
from `jobs.core.times`. It must not do I/O, read clocks, choose the replacement (that is
`jobs.enrich.enrichment`) or escape for HTML (the report does; every name here is
subscriber-written text, kept verbatim).
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from jobs.core import codes
from jobs.core.model import CertDiff, Certificate, Finding, NameChange
from jobs.core.times import format_duration
from jobs.core.x509 import ParseCache, ParsedCertificate, named_dn
from jobs.enrich import judge, names, rules
from jobs.enrich.alignment import alignment, edit_distance, render_edit
from jobs.enrich.rules import (
    TYPO_DISTANCE,
    Comparison,
    DiffFinding,
    Rule,
    is_registrable_domain_typo,
    label,
)

__all__ = [
    "MAX_PAIRABLE_LENGTH",
    "RULES",
    "TYPO_DISTANCE",
    "Comparison",
    "DiffFinding",
    "Rule",
    "alignment",
    "diff_certificates",
    "edit_distance",
    "format_duration",
    "format_relative",
    "is_registrable_domain_typo",
    "pair_indices",
    "pair_names",
    "parsed_or_error",
    "render_edit",
    "split_names",
]

# Every rule a diff runs: the comparison's, then the judgement of the revoked certificate's values.
RULES: tuple[Rule, ...] = (*rules.RULES, *judge.RULES)

# Longer than any valid DNS name: pairing such hostile strings would cost O(n*m) each for nothing.
MAX_PAIRABLE_LENGTH = 253
# Up to this many (removed x added) pairs, every pair is a candidate. Beyond it (a subscriber's
# 5,000-name certificate), each removed name is measured only against its NEIGHBOURS nearest added
# names in two sort orders, the names as written and reversed: a typo, a cut label or an extra
# prefix keeps one end of the name, so its partner sorts next to it. Sorting is n log n and the
# measurements k per name, so a subscriber's name count cannot stall the night.
FULL_PAIRING = 20_000
NEIGHBOURS = 4
# Names a side that pairing looks at at most; past it the diff says so (diff.name.pairing_capped).
MAX_PAIRED_NAMES = 10_000
# Up to this many pairs, every one is measured (memoised, mostly) rather than heaped by bound.
_MEASURE_ALL = 16


def format_relative(seconds: int, event: str = "revocation") -> str:
    """`23 min after revocation`, `2 h before revocation`, `at revocation` (sign = after)."""
    if seconds == 0:
        return f"at {event}"
    word = "after" if seconds > 0 else "before"
    return f"{format_duration(abs(seconds))} {word} {event}"


def split_names(
    before: Sequence[str], after: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(kept, added, removed) by canonical form (`names.canonical`), each in its certificate's
    order, as each certificate spells them. Duplicates within one certificate count once (the
    first spelling wins)."""
    canonical = names.canonical  # once per name: ranking splits every candidate's names
    before_keys = [canonical(name) for name in before]
    after_keys = [canonical(name) for name in after]
    after_set = set(after_keys)
    kept: list[str] = []
    removed: list[str] = []
    seen: set[str] = set()
    for name, key in zip(before, before_keys, strict=True):
        if key not in seen:
            seen.add(key)
            (kept if key in after_set else removed).append(name)
    before_set = set(before_keys)
    added: list[str] = []
    for name, key in zip(after, after_keys, strict=True):
        if key not in before_set:
            before_set.add(key)  # a later spelling of the same added name is a duplicate
            added.append(name)
    return tuple(kept), tuple(added), tuple(removed)


def _bound_key(name: str) -> int:
    """What bounds a name's distance from below: its length, or -1 for an IDN, whose A-label can
    be much longer than the U-label one letter away from the other name (no bound then)."""
    return -1 if names.is_idn(name) else len(name)


def pair_names(
    removed: Sequence[str],
    added: Sequence[str],
    distance: Callable[[str, str], int] = names.name_distance,
    *,
    with_edit: bool = True,
) -> tuple[NameChange, ...]:
    """Greedy pairing of removed with added names, smallest distance overall first.

    Ties go to the earlier removed name, then the earlier added name; each name is used at most
    once. Pairs come back in the removed names' order. `distance` lets a caller pass a memoised
    `names.name_distance`; `with_edit=False` skips the alignments when only distances matter.
    A lower bound of the distance (the length difference, for non-IDN names) orders the pairs, so
    a pair is measured only when it could still be the next best: a 100-name certificate with
    one change costs one measurement. For IDNs the edit is aligned on the U-label forms.
    """
    return tuple(
        NameChange(
            before=removed[i],
            after=added[j],
            distance=value,
            edit=alignment(*names.comparison_forms(removed[i], added[j])) if with_edit else (),
        )
        for i, j, value in pair_indices(removed, added, distance)
    )


def pair_indices(
    removed: Sequence[str],
    added: Sequence[str],
    distance: Callable[[str, str], int] = names.name_distance,
) -> list[tuple[int, int, int]]:
    """`pair_names` as (removed index, added index, distance), in the removed names' order,
    without making a NameChange: ranking needs only the distances of every candidate's pairs.

    The heap of `_greedy` finds the greedy pairing by (distance, removed index, added index) over
    the candidate pairs; its lower bounds only spare measurements. A handful of pairs (ranking's
    usual call) is measured outright instead, which costs less (tests hold the two together)."""
    if not removed or not added:
        return []
    if len(removed) * len(added) > _MEASURE_ALL:
        return _greedy(removed, added, distance)
    measured = [
        (distance(old, new), i, j)
        for i, old in enumerate(removed)
        if len(old) <= MAX_PAIRABLE_LENGTH
        for j, new in enumerate(added)
        if len(new) <= MAX_PAIRABLE_LENGTH
    ]
    if len(removed) == 1 or len(added) == 1:  # one name on a side: the one best pair
        return [(i, j, value) for value, i, j in (min(measured),)] if measured else []
    measured.sort()
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs: list[tuple[int, int, int]] = []
    for value, i, j in measured:
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            pairs.append((i, j, value))
    pairs.sort()
    return pairs


def _greedy(
    removed: Sequence[str], added: Sequence[str], distance: Callable[[str, str], int]
) -> list[tuple[int, int, int]]:
    old_keys = [_bound_key(name) for name in removed]
    new_keys = [_bound_key(name) for name in added]
    heap = [
        (
            abs(old_keys[i] - new_keys[j]) if old_keys[i] >= 0 and new_keys[j] >= 0 else 0,
            i,
            j,
            False,
        )
        for i, j in candidate_pairs(removed, added)
        if len(removed[i]) <= MAX_PAIRABLE_LENGTH and len(added[j]) <= MAX_PAIRABLE_LENGTH
    ]
    heapq.heapify(heap)
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs: list[tuple[int, int, int]] = []
    while heap and len(used_old) < len(removed) and len(used_new) < len(added):
        value, i, j, exact = heapq.heappop(heap)
        if i in used_old or j in used_new:
            continue
        if not exact:
            heapq.heappush(heap, (distance(removed[i], added[j]), i, j, True))
            continue
        used_old.add(i)
        used_new.add(j)
        pairs.append((i, j, value))
    pairs.sort()
    return pairs


def candidate_pairs(removed: Sequence[str], added: Sequence[str]) -> Iterable[tuple[int, int]]:
    """The (removed, added) index pairs worth measuring: all of them while there are at most
    FULL_PAIRING, else each removed name's neighbours in both sort orders (see FULL_PAIRING)."""
    removed, added = removed[:MAX_PAIRED_NAMES], added[:MAX_PAIRED_NAMES]
    if len(removed) * len(added) <= FULL_PAIRING:
        return ((i, j) for i in range(len(removed)) for j in range(len(added)))
    found: set[tuple[int, int]] = set()
    for key in (str.lower, lambda name: name.lower()[::-1]):
        keys = sorted((key(name), j) for j, name in enumerate(added))
        for i, name in enumerate(removed):
            at = bisect.bisect_left(keys, (key(name), -1))
            for _, j in keys[max(0, at - NEIGHBOURS) : at + NEIGHBOURS]:
                found.add((i, j))
    return sorted(found)


def parsed_or_error(
    cert: Certificate, cache: ParseCache
) -> tuple[ParsedCertificate | None, str | None]:
    """The certificate's parsed DER, or None and why not (None, None without DER)."""
    if cert.der is None:
        return None, None
    found = cache.get(cert.der)
    return (found, None) if isinstance(found, ParsedCertificate) else (None, found)


def diff_certificates(
    revoked: Certificate,
    replacement: Certificate,
    *,
    rules: Sequence[Rule] = RULES,
    distance: Callable[[str, str], int] = names.name_distance,
    cache: ParseCache | None = None,
) -> CertDiff:
    """What changed from `revoked` to `replacement`, with the findings of every rule.

    The DER of both certificates is parsed (through `cache`, so once per certificate per run)
    for the rules that need more than the database columns (EKU, policies, key type, subject
    attributes); a certificate without DER or whose DER does not parse is compared on its
    columns. A rule that raises becomes a `diff.rule_failed` error finding naming the rule, the
    two certificates and the exception: one bad rule or record never stops the run.
    """
    cache = cache if cache is not None else ParseCache()
    before, _ = parsed_or_error(revoked, cache)
    after, after_error = parsed_or_error(replacement, cache)
    kept, added, removed = split_names(revoked.names, replacement.names)
    # A candidate's DER is parsed only once it is chosen (records.certificate_from_row).
    spki_before = revoked.spki_sha256 or (before.spki_sha256 if before else None)
    spki_after = replacement.spki_sha256 or (after.spki_sha256 if after else None)
    key_reused = (
        spki_before.lower() == spki_after.lower()
        if spki_before is not None and spki_after is not None
        else None
    )
    partial = CertDiff(
        kept=kept,
        added=added,
        removed=removed,
        name_changes=pair_names(removed, added, distance),
        # As reviewers read them: `postalCode=`, never `2.5.4.17=` (a CA may store either).
        subject_before=named_dn(revoked.subject) if revoked.subject else revoked.subject,
        subject_after=named_dn(replacement.subject) if replacement.subject else replacement.subject,
        key_reused=key_reused,
    )
    comparison = Comparison(revoked, replacement, partial, before, after, after_error)
    findings: list[Finding] = []
    for rule in rules:
        try:
            findings.extend(rule(comparison))
        except Exception as exc:
            # A broken rule (or a record it chokes on) is reported on the case, never fatal.
            name = getattr(rule, "__name__", repr(rule))
            findings.append(
                codes.DIFF_RULE_FAILED.finding(
                    f"diff rule {name} failed on {label(revoked)} vs {label(replacement)}: "
                    f"{type(exc).__name__}: {exc}",
                )
            )
    if max(len(removed), len(added)) > MAX_PAIRED_NAMES:
        findings.append(
            codes.DIFF_NAME_PAIRING_CAPPED.finding(
                f"{len(removed)} names removed and {len(added)} added: only the first "
                f"{MAX_PAIRED_NAMES} of each were paired; the rest are listed as added and removed"
            )
        )
    return replace(partial, findings=tuple(findings))
