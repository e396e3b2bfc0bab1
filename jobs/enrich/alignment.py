"""Edit distance and alignment: how one string becomes another, character by character.

Owns the optimal-string-alignment form of Damerau-Levenshtein distance (insert, delete,
substitute and adjacent transpose each cost 1; a transposed pair is not edited again), the
alignment behind it as `EditStep`s, and its plain-text rendering (`mail.cua[+l]tis.net`). Pure
functions of two strings: it must not know what a name, a certificate or a finding is.
"""

from __future__ import annotations

from collections.abc import Sequence

from rapidfuzz.distance import OSA

from jobs.core.model import EditStep


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insert, delete, substitute, adjacent transpose cost 1.

    Computed by RapidFuzz (bit-parallel, in C++): ranking measures every candidate's names, a
    mass-revocation night hundreds of thousands of pairs. `alignment` computes the same distance
    in Python, and a test holds the two (and an independent recursive definition) together.
    """
    return int(OSA.distance(a, b))


def _table(a: str, b: str, band: int | None = None) -> list[list[int]]:
    """The OSA dynamic-programming table (rows[i][j]: distance of a[:i] and b[:j]).

    With `band` = the distance of `a` and `b`, only cells with |i - j| <= band are computed; the
    others hold a value larger than any distance. Every cell on an optimal path lies in that band
    (its value is at least |i - j| and at most the distance) and so does every prefix of such a
    path, so those cells are exact; a cell off every optimal path can only come out larger than
    its true value, which never satisfies the backtrace's equalities. The backtrace is therefore
    the same as on the full table, in O(len * band) instead of O(len * len).
    """
    width = len(b) + 1
    far = len(a) + len(b) + 1
    rows = [[j if band is None or j <= band else far for j in range(width)]]
    for i in range(1, len(a) + 1):
        char, before = a[i - 1], a[i - 2] if i > 1 else None
        up = rows[i - 1]
        two_up = rows[i - 2] if i > 1 else None
        row = [far] * width
        if band is None or i <= band:
            row[0] = i
        low, high = (1, width) if band is None else (max(1, i - band), min(width, i + band + 1))
        for j in range(low, high):
            other = b[j - 1]
            best = up[j - 1] + (char != other)
            if up[j] + 1 < best:
                best = up[j] + 1
            if row[j - 1] + 1 < best:
                best = row[j - 1] + 1
            if two_up is not None and j > 1 and char == b[j - 2] and before == other:
                best = min(best, two_up[j - 2] + 1)
            row[j] = best
        rows.append(row)
    return rows


def alignment(a: str, b: str) -> tuple[EditStep, ...]:
    """The edit turning `a` into `b`, one step per edited character, equal runs merged.

    Among equal-cost alignments the backtrace (from the end) prefers insert/delete over a match,
    which pushes an insertion or deletion to the right end of a run of equal characters
    (`example` -> `examplee` reads `example[+e]`), and prefers a deletion before a substitution,
    so `rn` -> `m` reads `[r->m][-n]`. The order is fixed, hence deterministic.

    A common prefix is matched as it stands and only the rest is tabled: the distance of what
    follows it is the whole distance, and a backtrace that prefers edits to the right never
    reaches into it (tests hold this against the full table). A typo in a 30-character name
    then costs a table of the few characters after it, not of the whole name.
    """
    prefix = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        prefix += 1
    head, a, b = a[:prefix], a[prefix:], b[prefix:]
    rows = _table(a, b, edit_distance(a, b))
    steps: list[EditStep] = []  # from the end; a run of matches is one step, made when it ends
    i, j = len(a), len(b)
    run_end = -1  # where in `a` the run of matches being walked ends (-1: none)
    while i > 0 or j > 0:
        here = rows[i][j]
        if i > 0 and rows[i - 1][j] + 1 == here:
            step = EditStep("delete", a[i - 1], "")
        elif j > 0 and rows[i][j - 1] + 1 == here:
            step = EditStep("insert", "", b[j - 1])
        elif i > 0 and j > 0 and a[i - 1] == b[j - 1] and rows[i - 1][j - 1] == here:
            if run_end < 0:
                run_end = i
            i, j = i - 1, j - 1
            continue
        elif (
            i > 1
            and j > 1
            and a[i - 1] != b[j - 1]
            and a[i - 1] == b[j - 2]
            and a[i - 2] == b[j - 1]
            and rows[i - 2][j - 2] + 1 == here
        ):
            step = EditStep("transpose", a[i - 2 : i], b[j - 2 : j])
        else:
            step = EditStep("substitute", a[i - 1], b[j - 1])
        if run_end >= 0:
            steps.append(EditStep("equal", a[i:run_end], a[i:run_end]))
            run_end = -1
        steps.append(step)
        i -= len(step.before)
        j -= len(step.after)
    # What is left is the run that reaches the start, which the common prefix extends.
    if run_end >= 0 or head:
        text = head + a[:run_end] if run_end >= 0 else head
        steps.append(EditStep("equal", text, text))
    steps.reverse()
    return tuple(steps)


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
