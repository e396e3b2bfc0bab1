"""The certificate diff: edit distance, alignment, name pairing and the diff's findings.

Owns how two certificates compare: which names were kept, added and removed, which removed name
became which added name (Damerau-Levenshtein, optimal-string-alignment form) and the findings a
reviewer reads about that. Durations in words come from `jobs.durations`. It must not do
I/O, read clocks, choose the replacement (that is `jobs.enrich`) or escape for HTML (the report
does; every name here is subscriber-written text, kept verbatim).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from jobs.durations import format_duration
from jobs.model import CertDiff, Certificate, EditStep, Finding, NameChange, Severity

# A removed name paired with an added one within this distance is probably a typo being fixed.
TYPO_DISTANCE = 2

# Longer than any valid DNS name: pairing such hostile strings would cost O(n*m) each for nothing.
MAX_PAIRABLE_LENGTH = 253

# Messages list at most this many names; the diff itself carries all of them.
_MAX_LISTED = 10


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insert, delete, substitute, adjacent transpose cost 1."""
    return _table(a, b)[len(a)][len(b)]


def _table(a: str, b: str) -> list[list[int]]:
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        row, up = rows[i], rows[i - 1]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(up[j] + 1, row[j - 1] + 1, up[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, rows[i - 2][j - 2] + 1)
            row[j] = best
    return rows


def alignment(a: str, b: str) -> tuple[EditStep, ...]:
    """The edit turning `a` into `b`, one step per edited character, equal runs merged.

    Among equal-cost alignments the backtrace (from the end) prefers insert/delete over a match,
    which pushes an insertion or deletion to the right end of a run of equal characters
    (`example` -> `examplee` reads `example[+e]`), and prefers a deletion before a substitution,
    so `rn` -> `m` reads `[r->m][-n]`. The order is fixed, hence deterministic.
    """
    rows = _table(a, b)
    steps: list[EditStep] = []
    i, j = len(a), len(b)
    while i > 0 or j > 0:
        here = rows[i][j]
        if i > 0 and rows[i - 1][j] + 1 == here:
            steps.append(EditStep("delete", a[i - 1], ""))
            i -= 1
        elif j > 0 and rows[i][j - 1] + 1 == here:
            steps.append(EditStep("insert", "", b[j - 1]))
            j -= 1
        elif i > 0 and j > 0 and a[i - 1] == b[j - 1] and rows[i - 1][j - 1] == here:
            steps.append(EditStep("equal", a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif (
            i > 1
            and j > 1
            and a[i - 1] != b[j - 1]
            and a[i - 1] == b[j - 2]
            and a[i - 2] == b[j - 1]
            and rows[i - 2][j - 2] + 1 == here
        ):
            steps.append(EditStep("transpose", a[i - 2 : i], b[j - 2 : j]))
            i, j = i - 2, j - 2
        else:
            steps.append(EditStep("substitute", a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
    steps.reverse()
    return _merge_equal(steps)


def _merge_equal(steps: list[EditStep]) -> tuple[EditStep, ...]:
    merged: list[EditStep] = []
    for step in steps:
        if step.op == "equal" and merged and merged[-1].op == "equal":
            last = merged[-1]
            merged[-1] = EditStep("equal", last.before + step.before, last.after + step.after)
        else:
            merged.append(step)
    return tuple(merged)


def render_edit(steps: Sequence[EditStep]) -> str:
    """A plain-text rendering of an alignment: `mail.cua[+l]tis.net`, `[-x]`, `[a->b]`."""
    parts: list[str] = []
    for step in steps:
        if step.op == "equal":
            parts.append(step.before)
        elif step.op == "insert":
            parts.append(f"[+{step.after}]")
        elif step.op == "delete":
            parts.append(f"[-{step.before}]")
        else:
            parts.append(f"[{step.before}->{step.after}]")
    return "".join(parts)


def format_relative(seconds: int, event: str = "revocation") -> str:
    """`23 min after revocation`, `2 h before revocation`, `at revocation` (sign = after)."""
    if seconds == 0:
        return f"at {event}"
    word = "after" if seconds > 0 else "before"
    return f"{format_duration(abs(seconds))} {word} {event}"


def split_names(
    before: Sequence[str], after: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(kept, added, removed), compared case-insensitively, each in its certificate's order.

    Duplicates within one certificate count once (the first spelling wins).
    """
    before_keys = {name.casefold() for name in before}
    after_keys = {name.casefold() for name in after}
    kept = _unique(name for name in before if name.casefold() in after_keys)
    removed = _unique(name for name in before if name.casefold() not in after_keys)
    added = _unique(name for name in after if name.casefold() not in before_keys)
    return kept, added, removed


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        key = name.casefold()
        if key not in seen:
            seen.add(key)
            out.append(name)
    return tuple(out)


def pair_names(
    removed: Sequence[str],
    added: Sequence[str],
    distance: Callable[[str, str], int] = edit_distance,
    *,
    with_edit: bool = True,
) -> tuple[NameChange, ...]:
    """Greedy pairing of removed with added names, smallest distance overall first.

    Ties go to the earlier removed name, then the earlier added name; each name is used at most
    once. Pairs come back in the removed names' order. `distance` lets a caller pass a memoised
    `edit_distance`; `with_edit=False` skips the alignments when only the distances matter.
    The length difference is a lower bound of the distance, so pairs are only measured when they
    could still be the next best: a 100-name certificate with one change costs one measurement.
    """
    heap: list[tuple[int, int, int, bool]] = []
    for i, old in enumerate(removed):
        if len(old) > MAX_PAIRABLE_LENGTH:
            continue
        for j, new in enumerate(added):
            if len(new) <= MAX_PAIRABLE_LENGTH:
                heap.append((abs(len(old) - len(new)), i, j, False))
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
    return tuple(
        NameChange(
            before=removed[i],
            after=added[j],
            distance=value,
            edit=alignment(removed[i], added[j]) if with_edit else (),
        )
        for i, j, value in pairs
    )


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _close(partial: CertDiff) -> tuple[NameChange, ...]:
    return tuple(c for c in partial.name_changes if c.distance <= TYPO_DISTANCE)


def _rule_likely_typo(
    revoked: Certificate, replacement: Certificate, partial: CertDiff
) -> list[Finding]:
    return [
        Finding(
            "diff.name.likely_typo",
            Severity.WARNING,
            f"{change.before} was replaced by {change.after} "
            f"(edit distance {change.distance}: {render_edit(change.edit)})",
        )
        for change in _close(partial)
    ]


def _rule_added(revoked: Certificate, replacement: Certificate, partial: CertDiff) -> list[Finding]:
    partners = {change.after for change in _close(partial)}
    names = [name for name in partial.added if name not in partners]
    if not names:
        return []
    return [Finding("diff.name.added", Severity.INFO, f"names added: {_listing(names)}")]


def _rule_removed(
    revoked: Certificate, replacement: Certificate, partial: CertDiff
) -> list[Finding]:
    partners = {change.before for change in _close(partial)}
    names = [name for name in partial.removed if name not in partners]
    if not names:
        return []
    return [
        Finding(
            "diff.name.removed",
            Severity.INFO,
            f"names removed without a close replacement: {_listing(names)}",
        )
    ]


def _rule_subject(
    revoked: Certificate, replacement: Certificate, partial: CertDiff
) -> list[Finding]:
    if not partial.subject_changed:
        return []
    return [
        Finding(
            "diff.subject.changed",
            Severity.INFO,
            f"subject changed from {partial.subject_before!r} to {partial.subject_after!r}",
        )
    ]


def _rule_key(revoked: Certificate, replacement: Certificate, partial: CertDiff) -> list[Finding]:
    if partial.key_reused is None:
        return []
    if partial.key_reused:
        text = f"the replacement reuses the revoked certificate's key (SPKI {revoked.spki_sha256})"
        return [Finding("diff.key.reused", Severity.INFO, text)]
    return [Finding("diff.key.changed", Severity.INFO, "the replacement has a new key")]


def _rule_identical(
    revoked: Certificate, replacement: Certificate, partial: CertDiff
) -> list[Finding]:
    if partial.added or partial.removed:
        return []
    return [
        Finding(
            "diff.identical_names",
            Severity.INFO,
            f"the replacement has the same {len(partial.kept)} names: {_listing(partial.kept)}",
        )
    ]


Rule = Callable[[Certificate, Certificate, CertDiff], list[Finding]]

RULES: tuple[Rule, ...] = (
    _rule_likely_typo,
    _rule_added,
    _rule_removed,
    _rule_subject,
    _rule_key,
    _rule_identical,
)

FINDING_CODES: frozenset[str] = frozenset(
    {
        "diff.name.likely_typo",
        "diff.name.added",
        "diff.name.removed",
        "diff.subject.changed",
        "diff.key.reused",
        "diff.key.changed",
        "diff.identical_names",
        "diff.rule_failed",
    }
)


def _label(cert: Certificate) -> str:
    return f"{cert.issuer} serial {cert.serial}"


def diff_certificates(
    revoked: Certificate,
    replacement: Certificate,
    *,
    rules: Sequence[Rule] = RULES,
    distance: Callable[[str, str], int] = edit_distance,
) -> CertDiff:
    """What changed from `revoked` to `replacement`, with the findings of every rule.

    A rule that raises becomes a `diff.rule_failed` error finding naming the rule, the two
    certificates and the exception: one bad rule or record never stops the run.
    """
    kept, added, removed = split_names(revoked.names, replacement.names)
    key_reused = (
        revoked.spki_sha256.lower() == replacement.spki_sha256.lower()
        if revoked.spki_sha256 is not None and replacement.spki_sha256 is not None
        else None
    )
    partial = CertDiff(
        kept=kept,
        added=added,
        removed=removed,
        name_changes=pair_names(removed, added, distance),
        subject_before=revoked.subject,
        subject_after=replacement.subject,
        key_reused=key_reused,
    )
    findings: list[Finding] = []
    for rule in rules:
        try:
            findings.extend(rule(revoked, replacement, partial))
        except Exception as exc:
            # A broken rule (or a record it chokes on) is reported on the case, never fatal.
            name = getattr(rule, "__name__", repr(rule))
            findings.append(
                Finding(
                    "diff.rule_failed",
                    Severity.ERROR,
                    f"diff rule {name} failed on {_label(revoked)} vs {_label(replacement)}: "
                    f"{type(exc).__name__}: {exc}",
                )
            )
    return replace(partial, findings=tuple(findings))
