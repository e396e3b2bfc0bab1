"""Rows of the CA database turned into `Certificate` and `Revocation` records.

Owns the reading of one row: the serial's spelling, the names (from the DER when it parses, from
the `names` column otherwise), the key fingerprint, and a finding for every problem with the row,
each naming the record. Pure: no database, no clock. It must not decide what is early.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from jobs.core import codes
from jobs.core.model import REASON_NAMES, Certificate, Finding, Revocation, normalise_serial
from jobs.core.x509 import ParseCache, ParsedCertificate, parse_certificate


def serial_of(value: Any) -> tuple[str, Finding | None]:
    """The normalised serial, or the raw text and a finding when it is not hex."""
    raw = "" if value is None else str(value)
    try:
        return normalise_serial(raw), None
    except ValueError:
        # Lower-cased but not stripped: `''` and `'  '` are two records, never one case.
        return raw.lower(), codes.DATA_SERIAL_INVALID.finding(
            f"serial {raw!r} is not hexadecimal; it is reported as written",
        )


def _split_names(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    names = (part.strip() for part in str(value).replace("\n", ",").split(","))
    return tuple(n.lower() if "@" not in n and "/" not in n else n for n in names if n)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _der(value: Any) -> tuple[bytes | None, str | None]:
    """The certificate's DER from its column, and why it could not be read (None when it could).

    A CA that stores the certificate as text gets it read as PEM, base64 or hex, never ignored."""
    if value is None:
        return None, None
    if isinstance(value, bytes | bytearray | memoryview):
        return (bytes(value) or None), None
    if not isinstance(value, str):
        return None, f"the certificate column holds a {type(value).__name__}, not bytes"
    text = "".join(
        line for line in value.strip().splitlines() if not line.startswith("-----")
    ).replace(" ", "")
    if not text:
        return None, None
    try:
        if all(c in "0123456789abcdefABCDEF" for c in text) and len(text) % 2 == 0:
            return bytes.fromhex(text), None
        return base64.b64decode(text, validate=True), None
    except (ValueError, binascii.Error):
        return None, "the certificate column holds text that is neither PEM, base64 nor hex"


def _reason(value: Any) -> tuple[int | None, str | None]:
    """(RFC 5280 code, the value as written when it is not an integer at all)."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, str(value)
    if isinstance(value, int):
        return value, None
    if isinstance(value, float):
        return (int(value), None) if value.is_integer() else (None, repr(value))
    text = str(value).strip()
    if text.lstrip("+-").isdigit() and text.isascii():
        return int(text), None
    return None, str(value)


def unreadable_times(row: Mapping[str, Any], label: str, columns: tuple[str, ...]) -> list[Finding]:
    """A finding for each of `columns` whose value the source could not read as a time."""
    raw = row.get("unreadable") or {}
    return [
        codes.DATA_TIME_UNREADABLE.finding(
            f"{label}: {column} holds {raw[column]!r}, which is not a readable time; "
            "it is treated as unknown"
        )
        for column in columns
        if column in raw
    ]


def certificate_from_row(
    row: Mapping[str, Any],
    label: str,
    *,
    cache: ParseCache | None = None,
    parse: bool = True,
) -> tuple[Certificate, list[Finding]]:
    """A Certificate from an issuance row; `label` names the record in every finding.

    `parse=False` reads the DER only when the names column is empty: replacement candidates
    are ranked on their names, and only the one chosen is parsed (by the diff, through the same
    `cache`), which spares a mass-revocation night most of its parsing.
    """
    findings: list[Finding] = []
    serial, problem = serial_of(row.get("serial"))
    if problem:
        findings.append(replace(problem, message=f"{label}: {problem.message}"))
    findings += unreadable_times(row, label, ("issued_at", "not_before", "not_after"))
    column_names = _split_names(row.get("names"))
    names, spki, der_error = column_names, None, None
    der, der_problem = _der(row.get("der"))
    if der_problem:
        der_error = der_problem
        findings.append(
            codes.DATA_DER_UNPARSEABLE.finding(
                f"{label}: {der_problem}; the database columns are reported instead"
            )
        )
    if der is not None and (parse or not column_names):
        parsed = cache.get(der) if cache is not None else _parse(der)
        if isinstance(parsed, str):
            der_error = parsed
            findings.append(
                codes.DATA_DER_UNPARSEABLE.finding(
                    f"{label}: the stored certificate (DER) does not parse ({parsed}); "
                    "the database columns are reported instead",
                )
            )
        else:
            spki = parsed.spki_sha256
            if parsed.names:
                names = parsed.names
            if column_names and {n.lower() for n in column_names} != {n.lower() for n in names}:
                findings.append(
                    codes.DATA_NAMES_MISMATCH.finding(
                        f"{label}: the names column ({', '.join(column_names)}) differs from the "
                        f"certificate's names ({', '.join(names)}); the certificate's are reported",
                    )
                )
            if not problem and parsed.serial != serial:
                findings.append(
                    codes.DATA_DER_SERIAL_MISMATCH.finding(
                        f"{label}: the certificate's serial is {parsed.serial}, the row's {serial}",
                    )
                )
    certificate = Certificate(
        issuer=str(row.get("issuer_dn") or ""),
        serial=serial,
        subscriber=_text(row.get("subscriber")),
        requester=_text(row.get("requester")),
        names=names,
        subject=_text(row.get("subject_dn")),
        not_before=_time(row.get("not_before")),
        not_after=_time(row.get("not_after")),
        issued_at=_time(row.get("issued_at")),
        der=der,
        der_error=der_error,
        spki_sha256=spki,
    )
    return certificate, findings


def _parse(der: bytes) -> ParsedCertificate | str:
    try:
        return parse_certificate(der)
    except ValueError as exc:
        return str(exc)


def revocation_from_row(
    row: Mapping[str, Any], revoked_at: datetime, label: str
) -> tuple[Revocation, list[Finding]]:
    """A Revocation from a revocation row whose time the caller has already checked."""
    findings: list[Finding] = []
    serial, _ = serial_of(row.get("serial"))
    reason_code, reason_text = _reason(row.get("reason_code"))
    if reason_text is not None or (reason_code is not None and reason_code not in REASON_NAMES):
        written = reason_text if reason_text is not None else reason_code
        findings.append(
            codes.DATA_REASON_UNKNOWN.finding(
                f"{label}: revocation reason code {written!r} is not an RFC 5280 CRLReason",
            )
        )
    revocation = Revocation(
        issuer=str(row.get("issuer_dn") or ""),
        serial=serial,
        revoked_at=revoked_at,
        reason_code=reason_code,
        revoked_by=_text(row.get("revoked_by")),
        comment=_text(row.get("comment")),
        record_id=_text(row.get("revocation_id")),
        reason_text=reason_text,
    )
    return revocation, findings
