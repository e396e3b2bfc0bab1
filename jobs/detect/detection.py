"""[2] Detection: which revocations are early, and what is wrong with their records.

Owns the rule "a case is a certificate whose revocation time is in [since, until) and came at
most `threshold` after its issuance (the CA's issuance time, else notBefore)". The database
already applied that rule as a filter; this module applies it exactly, once per certificate
(issuer AND serial), and never drops a record it cannot judge: a revocation whose issuance is
unknown, timeless or later than the revocation is reported with a finding naming the record.
Pure: a function of the joined rows, the window and the threshold. It must not query, enrich or
format reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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


def detect(
    rows: Iterable[Mapping[str, Any]],
    *,
    since: datetime,
    until: datetime,
    threshold: timedelta,
    cache: ParseCache | None = None,
) -> Detection:
    """The early revocations among the joined rows of [since, until).

    `cache` lets the rest of the run reuse the revoked certificates' parsed DER."""
    problems: list[Finding] = []
    by_certificate: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
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
        by_certificate.setdefault((str(row.get("issuer_dn")), serial), []).append(row)

    cases: list[Case] = []
    for rows in by_certificate.values():
        rows.sort(key=lambda r: (r["revoked_at"], str(r.get("revocation_id"))))
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
        case = _case(rows[0], threshold, extra, cache)
        if case is not None:
            cases.append(case)
    cases.sort(key=lambda c: (c.revocation.revoked_at, c.key))
    return Detection(cases=tuple(cases), problems=tuple(problems))
