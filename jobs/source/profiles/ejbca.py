"""The EJBCA profile: EJBCA CE's own tables read as the job's generic rows.

Owns what SQL alone cannot say about EJBCA's schema: serials stored as decimal strings (turned to
hex), times in epoch milliseconds (turned to UTC), the certificate in `base64Cert` or else in
`Base64CertData`, a NULL `subjectAltName` (names then come from the certificate), older
installations without some columns or tables (read from information_schema, never assumed),
revocations kept in the append-only `NoConflictCertificateData` (the effective row per issuer and
serial), the issuance time (request history, else notBefore minus the validity offset) and the
operator from the audit log (`jobs.source.profiles.ejbca_audit`). The window is asked once per
issuing CA, so that EJBCA's `(issuerDN, revocationDate)` index answers it. Every join is on issuer
and serial. It must not write, and it must not decide what a case is beyond the threshold pre-filter
that detection re-applies exactly.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from jobs.core.errors import WrongSchemaError
from jobs.core.x509 import parse_certificate
from jobs.source.profiles import ejbca_audit
from jobs.source.profiles.base import (
    CANDIDATE_COLUMNS,
    REVOCATION_COLUMNS,
    Profile,
    decode_base64_der,
    fetch,
    fetch_in,
    frame,
    from_ms,
    to_ms,
)
from jobs.source.profiles.ejbca_activity import ACTIVITY_STATEMENTS, EjbcaActivity
from jobs.source.profiles.ejbca_watch import WATCH_STATEMENTS, EjbcaWatch

if TYPE_CHECKING:
    import pandas as pd

TABLES = (
    "certificatedata",
    "base64certdata",
    "noconflictcertificatedata",
    "certreqhistorydata",
    "auditrecorddata",
)
REVOKED, ARCHIVED, HOLD = 40, 60, 6
# Candidate notBefore values are fetched this much wider than asked; the exact issuance window is
# applied once request history and the validity offset have given each candidate its time.
_CANDIDATE_SLACK = timedelta(days=1)
_SAN_SPLIT = re.compile(r"(?<!\\),\s*")
_SAN_KEYS = {"dnsname": True, "ipaddress": False, "rfc822name": False, "uniformresourceid": False}


@dataclass(frozen=True)
class Schema:
    """What this EJBCA database has: EJBCA grew columns and tables release by release."""

    modern: bool  # CertificateData has notBefore and subjectAltName
    base64_table: bool
    noconflict: bool
    history: bool
    audit: bool


def is_revoked(status: Any, reason: Any) -> bool:
    """EJBCA's own rule: status 40, or archived (60) keeping a reason other than -1 and 8."""
    return status == REVOKED or (status == ARCHIVED and reason not in (-1, 8))


def effective_row(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The row that states a NoConflictCertificateData certificate's status.

    A permanent revocation cannot be undone, so the first one wins; otherwise the newest row does
    (a hold, or its release).
    """
    permanent = [
        r
        for r in rows
        if is_revoked(r["status"], r["revocation_reason"]) and r["revocation_reason"] != HOLD
    ]
    if permanent:
        return min(permanent, key=lambda r: (r["update_time"], str(r["row_id"])))
    return max(rows, key=lambda r: (r["update_time"], str(r["row_id"])))


def hex_serial(decimal_serial: Any) -> str:
    """The report's spelling of an EJBCA serial; a non-decimal one stays visibly invalid."""
    text = str(decimal_serial).strip()
    try:
        return format(int(text, 10), "x")
    except ValueError:
        return f"not-decimal:{text}"


def san_names(value: Any) -> str | None:
    """EJBCA's `dNSName=a, iPAddress=…` as the generic comma-separated names (None: use the DER)."""
    if value is None or not str(value).strip():
        return None
    names = []
    for part in _SAN_SPLIT.split(str(value).strip()):
        key, sep, name = part.partition("=")
        kind = key.strip().lower()
        if not sep or not name.strip():
            continue
        if kind.startswith("uniformresourceid"):
            kind = "uniformresourceid"
        if kind in _SAN_KEYS:
            text = name.strip().replace("\\,", ",")
            names.append(text.lower() if _SAN_KEYS[kind] else text)
    return ",".join(names) or None


class EjbcaProfile(EjbcaActivity, EjbcaWatch, Profile):
    """EJBCA CE on PostgreSQL or MySQL/MariaDB."""

    streams_window = False  # its window is read by several statements and Python

    # Every statement this profile runs, those of optional tables and older schemas included, so
    # that all are checked at start even on a database that never reaches them.
    STATEMENTS = (
        "schema_columns",
        "issuers",
        "revoked_window",
        "revoked_window_legacy",  # CertificateData without notBefore / subjectAltName
        "noconflict_issuers",  # NoConflictCertificateData
        "noconflict_serials",
        "noconflict_rows",
        "stored_certificates",
        "request_history",  # CertReqHistoryData
        "certificate_der",
        "base64_cert_data",  # Base64CertData
        "revocation_audit",  # AuditRecordData
        "replacement_candidates",
        "replacement_candidates_legacy",
        *ACTIVITY_STATEMENTS, *WATCH_STATEMENTS,  # from ejbca_activity and ejbca_watch
    )  # fmt: skip
    DIALECTS = ("postgresql", "mysql")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schema: Schema | None = None

    def schema(self, connection: Connection) -> Schema:
        """The tables and columns this database has, read once per run."""
        if self._schema is None:
            columns: dict[str, set[str]] = {}
            for row in fetch(connection, self.statements, "schema_columns", {"tables": TABLES}):
                columns.setdefault(str(row["table_name"]), set()).add(str(row["column_name"]))
            certificate = columns.get("certificatedata")
            if not certificate:
                raise WrongSchemaError(
                    "no CertificateData table that the job may read: is this EJBCA's database, "
                    "and may the job's user SELECT it?"
                )
            self._schema = Schema(
                modern={"notbefore", "subjectaltname"} <= certificate,
                base64_table="base64certdata" in columns,
                noconflict="noconflictcertificatedata" in columns,
                history="certreqhistorydata" in columns,
                audit="auditrecorddata" in columns,
            )
        return self._schema

    def _issued_ms(self, row: Mapping[str, Any], history: Mapping[str, int]) -> int | None:
        # Request history holds the issuance time; else issuance = notBefore + validity offset.
        recorded = history.get(str(row.get("fingerprint")))
        if recorded is not None:
            return int(recorded)
        not_before = row.get("not_before_ms")
        if not_before is None or int(not_before) < 0:
            return None
        return int(not_before) + self.options.validity_offset // timedelta(milliseconds=1)

    def _history(
        self, connection: Connection, schema: Schema, rows: Iterable[Mapping[str, Any]]
    ) -> dict[str, int]:
        fingerprints = [str(r["fingerprint"]) for r in rows if r.get("fingerprint")]
        if not schema.history or not fingerprints:
            return {}
        found = fetch_in(
            connection, self.statements, "request_history", "fingerprints", fingerprints
        )
        return {str(r["fingerprint"]): int(r["issued_ms"]) for r in found}

    def _attach_der(
        self, connection: Connection, schema: Schema, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Fill `base64_cert` from CertificateData, then Base64CertData; decode into `der`."""
        missing = [r for r in rows if r.get("base64_cert") is None and r.get("fingerprint")]
        stored = [r for r in missing if r.get("stored")]
        if stored:
            found = fetch_in(
                connection,
                self.statements,
                "certificate_der",
                "fingerprints",
                [r["fingerprint"] for r in stored],
            )
            by_fingerprint = {str(f["fingerprint"]): f["base64_cert"] for f in found}
            for row in stored:
                row["base64_cert"] = by_fingerprint.get(str(row["fingerprint"]))
        missing = [r for r in rows if r.get("base64_cert") is None and r.get("fingerprint")]
        if missing and schema.base64_table:
            found = fetch_in(
                connection,
                self.statements,
                "base64_cert_data",
                "fingerprints",
                [r["fingerprint"] for r in missing],
            )
            by_fingerprint = {str(f["fingerprint"]): f["base64_cert"] for f in found}
            for row in missing:
                row["base64_cert"] = by_fingerprint.get(str(row["fingerprint"]))
        for row in rows:
            row["der"] = decode_base64_der(row.get("base64_cert"))
            if row.get("not_before_ms") is None and row["der"]:
                # Rows from before notBefore was a column: the certificate says it.
                with contextlib.suppress(ValueError):
                    row["not_before_ms"] = to_ms(parse_certificate(row["der"]).not_before)

    def _noconflict(
        self, connection: Connection, schema: Schema, since_ms: int, until_ms: int
    ) -> list[dict[str, Any]]:
        """Revocations in the window that only NoConflictCertificateData holds."""
        out: list[dict[str, Any]] = []
        for issuer in (
            r["issuer_dn"] for r in fetch(connection, self.statements, "noconflict_issuers", {})
        ):
            window = {"issuer": issuer, "since_ms": since_ms, "until_ms": until_ms}
            serials = [
                r["serial_number"]
                for r in fetch(connection, self.statements, "noconflict_serials", window)
            ]
            if not serials:
                continue
            by_serial: dict[str, list[dict[str, Any]]] = {}
            for row in fetch_in(
                connection, self.statements, "noconflict_rows", "serials", serials, issuer=issuer
            ):
                by_serial.setdefault(str(row["serial_number"]), []).append(row)
            revoked = []
            for rows in by_serial.values():
                row = dict(effective_row(rows))
                if (
                    is_revoked(row["status"], row["revocation_reason"])
                    and since_ms <= int(row["revocation_date"]) < until_ms
                ):
                    row["revocation_id"] = f"NoConflictCertificateData id {row['row_id']}"
                    revoked.append(row)
            stored = {}
            if revoked and schema.modern:
                for row in fetch_in(
                    connection,
                    self.statements,
                    "stored_certificates",
                    "serials",
                    [r["serial_number"] for r in revoked],
                    issuer=issuer,
                ):
                    stored[str(row["serial_number"])] = row
            for row in revoked:
                issuance = stored.get(str(row["serial_number"]))
                if issuance is not None:
                    row.update({k: v for k, v in issuance.items() if v is not None})
                    row["stored"] = True
                row["issuance_found"] = (
                    issuance is not None
                    or row.get("base64_cert") is not None
                    or row.get("not_before_ms") is not None
                )
                out.append(row)
        return out

    def early_revocations(
        self, connection: Connection, since: datetime, until: datetime, threshold: timedelta
    ) -> pd.DataFrame:
        """Revocations in [since, until) at most `threshold` after issuance (generic columns)."""
        schema = self.schema(connection)
        since_ms, until_ms = to_ms(since), to_ms(until)
        window = "revoked_window" if schema.modern else "revoked_window_legacy"
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for issuer in (r["issuer_dn"] for r in fetch(connection, self.statements, "issuers", {})):
            params = {"issuer": issuer, "since_ms": since_ms, "until_ms": until_ms}
            for row in fetch(connection, self.statements, window, params):
                row["revocation_id"] = f"CertificateData fingerprint {row['fingerprint']}"
                row["stored"] = row["issuance_found"] = True
                found[(str(row["issuer_dn"]), str(row["serial_number"]))] = row
        if schema.noconflict:
            for row in self._noconflict(connection, schema, since_ms, until_ms):
                # A certificate CertificateData already reports revoked is one case, not two.
                found.setdefault((str(row["issuer_dn"]), str(row["serial_number"])), row)
        threshold_ms = threshold // timedelta(milliseconds=1)
        rows = list(found.values())
        history = self._history(connection, schema, rows)

        def early(row: Mapping[str, Any]) -> bool:
            issued = self._issued_ms(row, history)
            return issued is None or int(row["revocation_date"]) <= issued + threshold_ms

        # Only the early ones (and those whose issuance time the certificate must tell) get
        # their DER fetched; then the certificate's notBefore settles the rest.
        rows = [row for row in rows if early(row)]
        self._attach_der(connection, schema, rows)
        rows = [row for row in rows if early(row)]
        operators = self._operators(connection, schema, rows)
        out = []
        for row in rows:
            operator = operators[(str(row["issuer_dn"]), str(row["serial_number"]))]
            out.append(
                {
                    **self._certificate(row, history),
                    "revocation_id": row["revocation_id"],
                    "revoked_at": from_ms(row["revocation_date"]),
                    "reason_code": row["revocation_reason"],
                    "revoked_by": operator.revoked_by,
                    "comment": operator.comment,
                    "issuance_found": bool(row.get("issuance_found")),
                }
            )
        return frame(out, REVOCATION_COLUMNS)

    def _certificate(self, row: Mapping[str, Any], history: Mapping[str, int]) -> dict[str, Any]:
        """The generic issuance columns of one EJBCA row (its DER already attached)."""
        return {
            "issuer_dn": row["issuer_dn"],
            "serial": hex_serial(row["serial_number"]),
            "subscriber": row.get("username"),
            "requester": None,
            "names": san_names(row.get("subject_alt_name")),
            "subject_dn": row.get("subject_dn"),
            "not_before": from_ms(row.get("not_before_ms")),
            "not_after": from_ms(row.get("expire_date")),
            "issued_at": from_ms(self._issued_ms(row, history)),
            "der": row.get("der"),
        }

    def _operators(
        self, connection: Connection, schema: Schema, rows: Sequence[Mapping[str, Any]]
    ) -> dict[tuple[str, str], ejbca_audit.Operator]:
        keys = [(str(r["issuer_dn"]), str(r["serial_number"])) for r in rows]
        if not schema.audit:
            unknown = ejbca_audit.Operator(
                None, "no AuditRecordData table that the job may read: operator unknown"
            )
            return dict.fromkeys(keys, unknown)
        usernames = [str(r["username"]) for r in rows if r.get("username")]
        events = ejbca_audit.index_events(
            fetch_in(connection, self.statements, "revocation_audit", "usernames", usernames)
        )
        return {
            (str(r["issuer_dn"]), str(r["serial_number"])): ejbca_audit.operator_for(
                events, str(r["issuer_dn"]), str(r["serial_number"]), int(r["revocation_date"])
            )
            for r in rows
        }

    def replacement_candidates(
        self,
        connection: Connection,
        subscribers: Sequence[str],
        earliest: datetime,
        latest: datetime,
    ) -> pd.DataFrame:
        """Certificates of the given end entities issued in [earliest, latest] (generic columns)."""
        schema = self.schema(connection)
        slack = abs(self.options.validity_offset) + _CANDIDATE_SLACK
        if schema.modern:
            params = {"earliest_ms": to_ms(earliest - slack), "latest_ms": to_ms(latest + slack)}
            rows = fetch_in(
                connection,
                self.statements,
                "replacement_candidates",
                "subscribers",
                subscribers,
                **params,
            )
        else:
            rows = fetch_in(
                connection,
                self.statements,
                "replacement_candidates_legacy",
                "subscribers",
                subscribers,
            )
        for row in rows:
            row["stored"] = True
        self._attach_der(connection, schema, rows)
        history = self._history(connection, schema, rows)
        low, high = to_ms(earliest), to_ms(latest)
        out = []
        for row in rows:
            issued = self._issued_ms(row, history)
            if issued is not None and not low <= issued <= high:
                continue
            out.append(self._certificate(row, history))
        return frame(out, CANDIDATE_COLUMNS)
