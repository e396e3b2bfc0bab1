"""[2] Detection: which revocations are early, and what is wrong with their records.

Owns the rule "a case is a certificate whose revocation time is in [since, until) and came at
most `threshold` after its issuance (the CA's issuance time, else notBefore)". The database
already applied that rule as a filter; this module applies it exactly, once per certificate
(issuer AND serial), and never drops a record it cannot judge: a revocation whose issuance is
unknown, timeless or later than the revocation is reported with a finding naming the record.
Pure: a function of the joined rows, the window and the threshold. A mass revocation night is
judged in batches (`Pending`): the rows are grouped and put in case order first, each held as a
compact `Record` (column names shared by the window's rows, repeated values shared), and each
batch's DER is parsed only when that batch is taken, its rows then let go. It must not query,
enrich or format reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from jobs.core import codes
from jobs.core.model import Case, Certificate, Finding
from jobs.core.times import format_duration
from jobs.core.x509 import ParseCache
from jobs.detect.records import certificate_from_row, revocation_from_row, serial_of


@dataclass(frozen=True)
class Detection:
    """The cases of one window, and the record problems that belong to no case."""

    cases: tuple[Case, ...]
    problems: tuple[Finding, ...] = ()


def _label(row: Mapping[str, Any]) -> str:
    record = row.get("revocation_id")
    where = f"issuer {row.get('issuer_dn')!s}, serial {row.get('serial')!s}"
    return f"revocation record {record} ({where})" if record else f"revocation of {where}"


def _case(
    row: Mapping[str, Any],
    threshold: timedelta,
    extra: list[Finding],
    cache: ParseCache | None = None,
) -> Case | None:
    """The case of one revocation row, or None when it came after the threshold."""
    label = _label(row)
    revoked_at: datetime = row["revoked_at"]
    findings = list(extra)
    revocation, revocation_findings = revocation_from_row(row, revoked_at, label)
    if not row.get("issuance_found"):
        certificate = Certificate(issuer=revocation.issuer, serial=revocation.serial)
        findings.append(
            codes.DATA_ISSUANCE_MISSING.finding(
                f"{label}: no issuance record with this issuer and serial; "
                "reported with what the revocation record says",
            )
        )
        certificate_findings: list[Finding] = []
    else:
        certificate, certificate_findings = certificate_from_row(row, label, cache=cache)
    findings.extend(certificate_findings)
    findings.extend(revocation_findings)
    issued = certificate.issuance_time
    seconds: int | None = None
    if row.get("issuance_found") and issued is None:
        findings.append(
            codes.DATA_ISSUANCE_TIME_MISSING.finding(
                f"{label}: the issuance record has neither an issuance time nor a notBefore",
            )
        )
    elif issued is not None:
        delta = revoked_at - issued
        if delta > threshold:
            return None
        seconds = int(delta.total_seconds())
        if certificate.issued_at is None:
            findings.append(
                codes.DATA_ISSUED_AT_MISSING.finding(
                    f"{label}: no issuance time recorded; notBefore stands in for it",
                )
            )
        if seconds < 0:
            findings.append(
                codes.DATA_REVOKED_BEFORE_ISSUANCE.finding(
                    f"{label}: revoked {format_duration(-seconds)} before its recorded issuance",
                )
            )
    if seconds is None or seconds < 0:
        findings.insert(
            0,
            codes.DETECT_REVOKED_UNKNOWN_AGE.finding(
                "revoked at an unknown time after issuance: reported in case it was early",
            ),
        )
    else:
        findings.insert(
            0,
            codes.DETECT_REVOKED_EARLY.finding(
                f"revoked {format_duration(seconds)} after issuance "
                f"(threshold {format_duration(threshold)})",
            ),
        )
    return Case(
        certificate=certificate,
        revocation=revocation,
        seconds_to_revocation=seconds,
        findings=tuple(findings),
    )


Rows = Sequence[Mapping[str, Any]]
# Columns whose values repeat from row to row (a CA's few issuers and operators, a mass
# revocation's one comment, an account's many certificates): held once per window, not per row.
SHARED_COLUMNS = ("issuer_dn", "revoked_by", "comment", "requester", "subscriber")


class Record(Mapping[str, Any]):
    """One revocation row held until its batch is judged, read as the row it was (`[]`, `.get`):
    its values in a tuple, its column names in one index that the window's rows share. A night's
    rows wait in `Pending` until their batch: a dict of the 18 columns costs 464 bytes besides
    its values, a Record 48 and its tuple 184 (with the shared values, a 10,000-case night's
    rows held 1,567 bytes a row instead of 2,180, by tracemalloc)."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: tuple[Any, ...]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[self._index[key]]

    def get(self, key: str, default: Any = None) -> Any:
        position = self._index.get(key)
        return default if position is None else self._values[position]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Record({dict(self)!r})"


class _Compactor:
    """Rows made Records: one index per set of columns, one object per repeated value of the
    SHARED_COLUMNS (equal strings, so nothing read from a row changes)."""

    def __init__(self) -> None:
        self._layouts: dict[tuple[str, ...], tuple[dict[str, int], tuple[int, ...]]] = {}
        self._values: dict[str, str] = {}

    def record(self, row: Mapping[str, Any]) -> Record:
        columns = tuple(row)
        layout = self._layouts.get(columns)
        if layout is None:
            index = {column: i for i, column in enumerate(columns)}
            shared = tuple(index[c] for c in SHARED_COLUMNS if c in index)
            layout = self._layouts[columns] = (index, shared)
        index, shared = layout
        values = [row[column] for column in columns]
        for i in shared:
            if type(values[i]) is str:
                values[i] = self._values.setdefault(values[i], values[i])
        return Record(index, tuple(values))


class Pending:
    """The window's revocation records grouped per certificate (earliest record first) and in
    case order (revocation time, then issuer and serial), not judged yet; `problems` are the
    records that belong to no case."""

    def __init__(self, groups: list[Rows], threshold: timedelta, problems: tuple[Finding, ...]):
        self._groups = groups
        self.threshold = threshold
        self.problems = problems

    def __len__(self) -> int:
        return len(self._groups)

    def keys(self) -> Iterator[tuple[str, str]]:
        """The (issuer, serial) of each certificate still pending, as its case will say it."""
        return (_key(group[0]) for group in self._groups)

    def batches(
        self, size: int, *, consume: bool = True
    ) -> Iterator[tuple[list[Case], ParseCache]]:
        """The cases, `size` certificates at a time, each batch with the cache holding its parsed
        DER (for enrichment to reuse). Taken batches are let go unless `consume` is False (a
        first pass that must leave them for a second)."""
        start = 0
        while start < len(self._groups):
            groups = self._groups[start : start + size]
            if consume:
                del self._groups[:size]
            else:
                start += size
            # Per batch: a night-long cache would hold every parsed certificate of the night.
            cache = ParseCache(limit=2 * size)
            judged = (_judge(group, self.threshold, cache) for group in groups)
            cases = [case for case in judged if case is not None]
            del groups
            yield cases, cache
            del cases, cache  # before the next batch is parsed


def _key(row: Mapping[str, Any]) -> tuple[str, str]:
    # The spelling of Revocation.issuer and .serial (`revocation_from_row`): a case's key.
    return str(row.get("issuer_dn") or ""), serial_of(row.get("serial"))[0]


def _judge(rows: Rows, threshold: timedelta, cache: ParseCache | None) -> Case | None:
    """The case of one certificate's revocation records (earliest first), or None."""
    extra = []
    if len(rows) > 1:
        ids = ", ".join(str(r.get("revocation_id")) for r in rows)
        first = rows[0]["revoked_at"].isoformat()
        extra.append(
            codes.DATA_DUPLICATE_REVOCATION.finding(
                f"{_label(rows[0])}: {len(rows)} revocation records ({ids}) for one "
                f"certificate; the earliest, at {first}, is reported",
            )
        )
    return _case(rows[0], threshold, extra, cache)


def detect(
    rows: Iterable[Mapping[str, Any]],
    *,
    since: datetime,
    until: datetime,
    threshold: timedelta,
    cache: ParseCache | None = None,
) -> Detection:
    """The early revocations among the joined rows of [since, until), all judged at once.

    `cache` lets the rest of the run reuse the revoked certificates' parsed DER."""
    pending = group(rows, since=since, until=until, threshold=threshold)
    judged = (_judge(records, threshold, cache) for records in pending._groups)
    return Detection(tuple(c for c in judged if c is not None), pending.problems)


def group(
    rows: Iterable[Mapping[str, Any]],
    *,
    since: datetime,
    until: datetime,
    threshold: timedelta,
) -> Pending:
    """The records of [since, until) grouped per certificate, in case order, to be judged."""
    problems: list[Finding] = []
    by_certificate: dict[tuple[str, str], list[Record]] = {}
    compact = _Compactor().record
    for row in rows:
        revoked_at = row.get("revoked_at")
        if not isinstance(revoked_at, datetime):
            problems.append(
                codes.DATA_REVOCATION_TIME_UNREADABLE.finding(
                    f"{_label(row)}: the revocation time "
                    + (
                        f"{raw!r} is unreadable"
                        if (raw := (row.get("unreadable") or {}).get("revoked_at"))
                        else "is missing"
                    )
                    + "; the record cannot be placed in any window",
                )
            )
            # It belongs to no case, so it names its record apart (report.json's `problems`).
            problems[-1] = replace(problems[-1], record=_label(row))
            continue
        if not since <= revoked_at < until:
            continue
        serial, _ = serial_of(row.get("serial"))
        by_certificate.setdefault((str(row.get("issuer_dn")), serial), []).append(compact(row))

    groups: list[Rows] = []
    for records in by_certificate.values():
        records.sort(key=lambda r: (r["revoked_at"], str(r.get("revocation_id"))))
        groups.append(tuple(records))  # a tuple: no room kept for rows that never come
    del by_certificate
    # A case's (revocation time, key) is its earliest record's, known before any DER is parsed.
    groups.sort(key=lambda records: (records[0]["revoked_at"], _key(records[0])))
    return Pending(groups, threshold, tuple(problems))
