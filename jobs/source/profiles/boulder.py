"""The Boulder profile: Let's Encrypt's CA database (MariaDB/MySQL) read as the job's generic rows.

Owns what SQL alone cannot say about Boulder's schema. There is no index on any revocation time,
so the window is found by walking `revokedCertificates` in primary-key order (a binary search of
id for the window's start minus a bounded look-back, then keyset pages until the window's end
plus the look-back): rows are appended at revocation time, so id order follows time up to the
look-back. `certificateStatus.status = 'revoked'` is the authority (unrevoked rows carry reason 0
and placeholder dates, even `0000-00-00`, and are never read). Certificates have no issuer column:
the issuer is Boulder's NameID (a truncated SHA-1 of the issuer name) checked against the DER, so
every join is on issuer and serial. A serial revoked as a precertificate with no final
certificate is still a case, named from the precertificate (a linting certificate: its DER is
not the real one, so no SHA-256 is reported). The subscriber is the ACME account
(`registrationID`); the issuance time is `issued`; a replacement the client declared with ARI
(`replacementOrders` -> `orders.certificateSerial`) is returned by `declared_replacements`. Who
revoked is not in Boulder's database: the rows say so and name no one. It must not write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from jobs.core.activity import Activity, add_count, as_day, fill_days
from jobs.core.errors import WrongSchemaError
from jobs.core.model import normalise_serial
from jobs.core.x509 import ParsedCertificate, issuer_der, parse_certificate
from jobs.source.profiles.base import (
    CANDIDATE_COLUMNS,
    REVOCATION_COLUMNS,
    Key,
    Profile,
    bind_time,
    fetch,
    fetch_in,
    frame,
    utc,
)
from jobs.source.profiles.boulder_watch import WATCH_STATEMENTS, WATCH_TABLES, BoulderWatch

if TYPE_CHECKING:
    import pandas as pd

REQUIRED_TABLES = ("certificates", "precertificates", "certificateStatus", "revokedCertificates")
ARI_TABLES = ("orders", "replacementOrders")
PAGE_SIZE = 1000
WHO_NOT_STORED = "who revoked is not stored in Boulder's database (see the CA's audit log)"
PRECERTIFICATE_ONLY = (
    "revoked as a precertificate: no final certificate was issued; names are the "
    "precertificate's and no SHA-256 is reported"
)
# Boulder's serials: 18 bytes of hex today, 16 on legacy rows.
SERIAL_WIDTHS = (36, 32)


def name_id(der: bytes) -> int | None:
    """Boulder's issuer NameID of a certificate: SHA-1 of its raw issuer name, first 7 bytes.

    None when the DER does not parse: the caller then treats the issuer as unknown."""
    try:
        issuer = issuer_der(der)
    except ValueError:  # core.x509 turns every parser failure, panics included, into this
        return None
    return int.from_bytes(hashlib.sha1(issuer).digest()[:7], "big")


def _parsed(der: Any) -> ParsedCertificate | None:
    if not isinstance(der, bytes | bytearray) or not der:
        return None
    try:
        return parse_certificate(bytes(der))
    except ValueError:
        return None


def _issued_by(row: Mapping[str, Any] | None, issuer_id: Any) -> bool:
    """Whether a certificate row belongs to the issuer a revocation names (unknown: yes)."""
    if row is None:
        return False
    if issuer_id is None:
        return True
    found = name_id(bytes(row["der"])) if row.get("der") else None
    return found is None or found == int(issuer_id)


class BoulderProfile(BoulderWatch, Profile):
    """Boulder on MariaDB/MySQL."""

    streams_window = False  # its window is read by several statements and Python

    STATEMENTS = (
        "schema_tables",
        "revoked_bounds",
        "revoked_probe",
        "revoked_page",
        "revoked_status",
        "final_certificates",
        "precertificates",
        "replacement_candidates",
        "declared_replacements",
        "revocation_trend",
        *WATCH_STATEMENTS,  # the issuance watch: jobs.source.profiles.boulder_watch
    )
    DIALECTS = ("mysql",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tables: set[str] | None = None

    def tables(self, connection: Connection) -> set[str]:
        """The Boulder tables this database has and the job may read, read once per run."""
        if self._tables is None:
            wanted = list(REQUIRED_TABLES + ARI_TABLES + WATCH_TABLES)
            rows = fetch(connection, self.statements, "schema_tables", {"tables": wanted})
            self._tables = {str(r["table_name"]) for r in rows}
            missing = [t for t in REQUIRED_TABLES if t not in self._tables]
            if missing:
                raise WrongSchemaError(
                    f"no Boulder table(s) {', '.join(missing)} that the job may read: is this "
                    "Boulder's database (2023 schema or later), and may the job's user SELECT them?"
                )
        return self._tables

    def _start_id(self, connection: Connection, target: datetime) -> int | None:
        """The first revokedCertificates id revoked at or after `target`, by binary search."""
        (bounds,) = fetch(connection, self.statements, "revoked_bounds", {})
        if bounds["first_id"] is None:
            return None
        low, high = int(bounds["first_id"]), int(bounds["last_id"]) + 1
        while low < high:
            middle = (low + high) // 2
            probe = fetch(connection, self.statements, "revoked_probe", {"from_id": middle})
            if not probe:
                high = middle
                continue
            when = utc(probe[0]["revoked_date"])
            if when is not None and when < target:
                low = int(probe[0]["id"]) + 1
            else:
                high = middle
        return low

    def _revoked_in(
        self, connection: Connection, since: datetime, until: datetime
    ) -> list[dict[str, Any]]:
        """The revokedCertificates rows revoked in [since, until), pages of PAGE_SIZE by id."""
        lookback = self.options.boulder_lookback
        start = self._start_id(connection, since - lookback)
        if start is None:
            return []
        hits: list[dict[str, Any]] = []
        after = start - 1
        while True:
            params = {"after_id": after, "page_size": PAGE_SIZE}
            page = fetch(connection, self.statements, "revoked_page", params)
            for row in page:
                when = utc(row["revoked_date"])
                if when is not None and since <= when < until:
                    hits.append(row)
            if len(page) < PAGE_SIZE:
                return hits
            after = int(page[-1]["id"])
            last = utc(page[-1]["revoked_date"])
            if last is not None and last >= until + lookback:
                return hits

    def activity(
        self, connection: Connection, since: datetime, until: datetime, threshold: timedelta
    ) -> Activity:
        """Revocations and early revocations per UTC day of [since, until): one grouped count over
        the revokedCertificates ids that two binary searches find around the range (with the
        look-back). Who revoked is not in Boulder's database: no operators."""
        self.tables(connection)
        lookback = self.options.boulder_lookback
        days: dict[date, tuple[int, int]] = {}
        first = self._start_id(connection, since - lookback)
        end = self._start_id(connection, until + lookback)
        if first is not None and end is not None:
            params = {
                "first_id": first,
                "end_id": end,
                "since": bind_time(self.dialect, since),
                "until": bind_time(self.dialect, until),
                "threshold_seconds": int(threshold.total_seconds()),
            }
            for row in fetch(connection, self.statements, "revocation_trend", params):
                day = as_day(row["day"])
                if day is not None:
                    add_count(days, day, row["revocations"], row["early_revocations"])
        return Activity(days=fill_days(days, until), operator_note=WHO_NOT_STORED)

    def _by_serial(
        self, connection: Connection, name: str, serials: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        rows = fetch_in(connection, self.statements, name, "serials", serials) if serials else []
        return {str(r["serial"]): r for r in rows}

    def early_revocations(
        self, connection: Connection, since: datetime, until: datetime, threshold: timedelta
    ) -> pd.DataFrame:
        """Revocations in [since, until) at most `threshold` after issuance (generic columns)."""
        self.tables(connection)
        hits = self._revoked_in(connection, since, until)
        serials = sorted({str(h["serial"]) for h in hits})
        status = self._by_serial(connection, "revoked_status", serials)
        finals = self._by_serial(connection, "final_certificates", serials)
        without_final = [s for s in serials if s not in finals]
        precerts = self._by_serial(connection, "precertificates", without_final)
        out = []
        for hit in hits:
            serial = str(hit["serial"])
            state = status.get(serial)
            # certificateStatus decides; a status row of another issuer is another certificate.
            if state is None or (
                state["issuer_id"] is not None and int(state["issuer_id"]) != int(hit["issuer_id"])
            ):
                continue
            revoked_at = utc(state["revoked_date"]) or utc(hit["revoked_date"])
            final = finals.get(serial) if _issued_by(finals.get(serial), hit["issuer_id"]) else None
            precert = precerts.get(serial) if final is None else None
            if precert is not None and not _issued_by(precert, hit["issuer_id"]):
                precert = None
            issuance = final or precert
            issued = utc(issuance["issued"]) if issuance else None
            if issued is not None and revoked_at is not None and revoked_at > issued + threshold:
                continue
            row = self._certificate(issuance, serial, f"Boulder issuerID {hit['issuer_id']}")
            if final is None:
                row["der"] = None
            comment = (
                WHO_NOT_STORED
                if final or not precert
                else f"{WHO_NOT_STORED}; {PRECERTIFICATE_ONLY}"
            )
            row.update(
                revocation_id=f"revokedCertificates id {hit['id']}",
                revoked_at=revoked_at,
                reason_code=state["revoked_reason"],
                revoked_by=None,
                comment=comment,
                issuance_found=issuance is not None,
            )
            out.append(row)
        return frame(out, REVOCATION_COLUMNS)

    @staticmethod
    def _certificate(
        row: Mapping[str, Any] | None, serial: str, unknown_issuer: str
    ) -> dict[str, Any]:
        """The generic issuance columns of a certificates/precertificates row (None: unknown)."""
        if row is None:
            return {"issuer_dn": unknown_issuer, "serial": serial}
        parsed = _parsed(row.get("der"))
        return {
            "issuer_dn": parsed.issuer if parsed else unknown_issuer,
            "serial": serial,
            "subscriber": str(row["registration_id"]),
            "requester": None,
            "names": ",".join(parsed.names) if parsed else None,
            "subject_dn": parsed.subject if parsed else None,
            "not_before": parsed.not_before if parsed else None,
            "not_after": parsed.not_after if parsed else utc(row.get("expires")),
            "issued_at": utc(row.get("issued")),
            "der": bytes(row["der"]) if row.get("der") else None,
        }

    def replacement_candidates(
        self,
        connection: Connection,
        subscribers: Sequence[str],
        earliest: datetime,
        latest: datetime,
    ) -> pd.DataFrame:
        """Final certificates of the given ACME accounts issued in [earliest, latest]."""
        accounts = [int(s) for s in subscribers if str(s).strip().isdigit()]
        if not accounts:
            return frame([], CANDIDATE_COLUMNS)
        rows = fetch_in(
            connection,
            self.statements,
            "replacement_candidates",
            "subscribers",
            accounts,
            earliest=bind_time(self.dialect, earliest),
            latest=bind_time(self.dialect, latest),
        )
        out = [self._certificate(r, str(r["serial"]), "Boulder issuer unknown") for r in rows]
        return frame(out, CANDIDATE_COLUMNS)

    def declared_replacements(self, connection: Connection, keys: Sequence[Key]) -> dict[Key, Key]:
        """The replacement each ACME client declared (ARI) for the given revoked certificates."""
        if not set(ARI_TABLES) <= self.tables(connection):
            return {}
        spellings: dict[str, Key] = {}
        for key in keys:
            for width in SERIAL_WIDTHS:
                if len(key[1]) <= width:
                    spellings[key[1].zfill(width)] = key
        rows = fetch_in(connection, self.statements, "declared_replacements", "serials", spellings)
        # Several orders may name one certificate; the latest one that issued is the answer.
        latest: dict[Key, dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: int(r["order_id"])):
            latest[spellings[str(row["replaced_serial"])]] = row
        wanted = [str(r["replacement_serial"]) for r in latest.values()]
        finals = self._by_serial(connection, "final_certificates", wanted)
        declared: dict[Key, Key] = {}
        for key, row in latest.items():
            final = finals.get(str(row["replacement_serial"]))
            parsed = _parsed(final.get("der")) if final else None
            if parsed is not None:
                declared[key] = (parsed.issuer, normalise_serial(str(row["replacement_serial"])))
        return declared
