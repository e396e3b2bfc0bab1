"""Who revoked an EJBCA certificate, read from EJBCA's audit log (`AuditRecordData`).

Owns the matching of `CERT_REVOKED` audit events to revoked certificates: EJBCA writes the CA id
as Java's `String.hashCode()` of the issuer DN (`customId`), the serial in upper-case hex without
leading zeros (`searchDetail1`), the end entity (`searchDetail2`) and a message in
`additionalDetails` that alone tells a revocation from a hold release or a reason change, which
share the event type. Pure: rows in, operators out. It must not query the database or guess an
operator that no event names.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# The message EJBCA logs for a revocation (intresources "store.revokedcert"); a release from hold
# ("store.unrevokedcert") and a changed revocation date log the same event type with other text.
REVOCATION_PREFIX = "revoked certificate"
_B64 = "B64:"


def java_string_hash(text: str) -> int:
    """Java's `String.hashCode()`: EJBCA's CA id is this hash of the CA's subject DN.

    s[0]*31^(n-1) + ... + s[n-1] over UTF-16 code units, in 32-bit two's complement.
    """
    value = 0
    data = text.encode("utf-16-be")
    for index in range(0, len(data), 2):
        value = (31 * value + int.from_bytes(data[index : index + 2], "big")) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _unwrap(value: str) -> str:
    # EJBCA stores non-ASCII strings of the map as "B64:" + base64(UTF-8).
    if value.startswith(_B64):
        try:
            return base64.b64decode(value[len(_B64) :], validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return value
    return value


def audit_message(details: Any) -> str | None:
    """The `msg` entry of an event's additionalDetails, or None when there is none.

    EJBCA serialises the details map as java.beans XML (`<void method="put"><string>msg</string>
    <string>...</string></void>`); a plain-text column is taken as the message itself.
    """
    if details is None:
        return None
    text = str(details).strip()
    if not text:
        return None
    if not text.startswith("<"):
        return _unwrap(text)
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return None
    for put in root.iter("void"):
        strings = [element.text or "" for element in put.findall("string")]
        if len(strings) >= 2 and _unwrap(strings[0]) == "msg":
            return _unwrap(strings[1])
    return None


def is_revocation(message: str | None) -> bool | None:
    """True for a revocation's message, False for any other CERT_REVOKED text, None if absent."""
    if message is None:
        return None
    return message.strip().lower().startswith(REVOCATION_PREFIX)


def serial_hex(decimal_serial: str) -> str | None:
    """The serial as EJBCA's audit log spells it (upper-case hex), None if not decimal."""
    try:
        return format(int(str(decimal_serial).strip(), 10), "X")
    except ValueError:
        return None


@dataclass(frozen=True)
class Operator:
    """Who revoked one certificate, and what the reviewer should know about the evidence."""

    revoked_by: str | None
    comment: str | None


@dataclass(frozen=True)
class _Event:
    actor: str
    time_ms: int
    revocation: bool | None


def index_events(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[_Event]]:
    """Audit rows by (CA id, upper-case hex serial), hold releases and reason changes dropped."""
    events: dict[tuple[str, str], list[_Event]] = {}
    for row in rows:
        kind = is_revocation(audit_message(row.get("details")))
        if kind is False:
            continue
        ca_id = str(row.get("custom_id") or "").strip()
        serial = str(row.get("serial_hex") or "").strip().upper().lstrip("0") or "0"
        try:
            time_ms = int(row.get("time_ms") or 0)
        except (TypeError, ValueError):
            time_ms = 0
        events.setdefault((ca_id, serial), []).append(
            _Event(actor=str(row.get("auth_token") or ""), time_ms=time_ms, revocation=kind)
        )
    return events


def operator_for(
    events: Mapping[tuple[str, str], list[_Event]],
    issuer_dn: str,
    decimal_serial: str,
    revoked_ms: int,
) -> Operator:
    """The operator of one revocation: the revocation event of this CA and serial nearest in time.

    Events whose message is missing count only when no event says "Revoked certificate".
    """
    wanted = serial_hex(decimal_serial)
    if wanted is None:
        return Operator(None, "serial is not decimal: the audit log cannot be searched for it")
    found = events.get((str(java_string_hash(issuer_dn)), wanted), [])
    named = [e for e in found if e.revocation] or found
    if not named:
        return Operator(None, "no CERT_REVOKED event for this certificate in the audit log")
    best = min(named, key=lambda e: (abs(e.time_ms - revoked_ms), e.time_ms))
    comment = None
    if len(named) > 1:
        comment = (
            f"{len(named)} revocation events in the audit log (e.g. hold, then permanent); "
            "the one nearest the revocation time is reported"
        )
    if best.revocation is None:
        comment = "the audit event has no message; it is the only CERT_REVOKED event found"
    return Operator(best.actor or None, comment)
