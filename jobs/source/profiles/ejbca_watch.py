"""EJBCA's answers to the issuance watch: the window's active certificates and the history.

Owns how EJBCA's tables answer `Profile.watched_issuances` and `Profile.subscriber_history`. The
window is asked once per issuing CA on EJBCA's `(issuerDN, notBefore)` index, widened by the
validity offset (issuance = request history, else notBefore + offset) and cut to the exact window
here; only active certificates (status 20 or 21) count, and one that `NoConflictCertificateData`
reports revoked is left out. The subscriber is the end entity (`username`); its history is one
grouped statement over EJBCA's `(username)` index: each distinct `subjectAltName` with its earliest
notBefore, the most recent first and bounded per end entity. It must not decide what is
suspicious, read the audit log or write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from jobs.core.errors import SourceError
from jobs.db.queries import QuerySet
from jobs.source.profiles.base import (
    CANDIDATE_COLUMNS,
    HISTORY_PER_SUBSCRIBER,
    ProfileOptions,
    fetch,
    fetch_in,
    frame,
    from_ms,
    to_ms,
)

if TYPE_CHECKING:
    import pandas as pd

    from jobs.source.profiles.ejbca import Schema

WATCH_STATEMENTS = ("watch_window", "subscriber_names")
# The window is read this much wider than asked, around the validity offset; the exact issuance
# window is applied once request history and the offset have given each certificate its time.
_SLACK = timedelta(days=1)
# The end entities whose history is read: those of the window read an hour wider than the offset
# gives. An end entity outside it is judged without history: a near-sibling missed, never invented.
_HISTORY_SLACK = timedelta(hours=1)
LEGACY = (
    "this EJBCA database has no notBefore or subjectAltName column (a schema before EJBCA 6.6): "
    "the issuance watch cannot read its window"
)


class EjbcaWatch:
    """The watch methods of `jobs.source.profiles.ejbca.EjbcaProfile`, which mixes this in."""

    statements: QuerySet
    options: ProfileOptions

    if TYPE_CHECKING:

        def schema(self, connection: Connection) -> Schema: ...

        def _attach_der(
            self, connection: Connection, schema: Schema, rows: Sequence[dict[str, Any]]
        ) -> None: ...

        def _history(
            self, connection: Connection, schema: Schema, rows: Sequence[Mapping[str, Any]]
        ) -> dict[str, int]: ...

        def _issued_ms(self, row: Mapping[str, Any], history: Mapping[str, int]) -> int | None: ...

        def _certificate(
            self, row: Mapping[str, Any], history: Mapping[str, int]
        ) -> dict[str, Any]: ...

    def _window_ms(
        self, since: datetime, until: datetime, slack: timedelta = _SLACK
    ) -> tuple[int, int]:
        # notBefore lies the validity offset before issuance: read that much earlier, and wider.
        offset = self.options.validity_offset
        return to_ms(since - offset - slack), to_ms(until - offset + slack)

    def _issuers(self, connection: Connection) -> list[str]:
        return [str(r["issuer_dn"]) for r in fetch(connection, self.statements, "issuers", {})]

    def watched_issuances(
        self, connection: Connection, since: datetime, until: datetime
    ) -> pd.DataFrame:
        """Active end-entity certificates issued in [since, until) (generic issuance columns)."""
        schema = self.schema(connection)
        if not schema.modern:
            raise SourceError(LEGACY)
        since_ms, until_ms = self._window_ms(since, until)
        out: list[dict[str, Any]] = []
        for issuer in self._issuers(connection):
            window = {"issuer": issuer, "since_ms": since_ms, "until_ms": until_ms}
            rows = fetch(connection, self.statements, "watch_window", window)
            history = self._history(connection, schema, rows)
            low, high = to_ms(since), to_ms(until)
            rows = [r for r in rows if low <= (self._issued_ms(r, history) or -1) < high]
            if schema.noconflict and rows:
                rows = self._not_revoked_elsewhere(connection, issuer, rows)
            for row in rows:
                row["stored"] = True
            self._attach_der(connection, schema, rows)
            out += [self._certificate(row, history) for row in rows]
        return frame(out, CANDIDATE_COLUMNS)

    def _not_revoked_elsewhere(
        self, connection: Connection, issuer: str, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The rows whose NoConflictCertificateData record, if any, does not say revoked."""
        from jobs.source.profiles.ejbca import effective_row, is_revoked

        serials = [str(r["serial_number"]) for r in rows]
        by_serial: dict[str, list[dict[str, Any]]] = {}
        for row in fetch_in(
            connection, self.statements, "noconflict_rows", "serials", serials, issuer=issuer
        ):
            by_serial.setdefault(str(row["serial_number"]), []).append(row)
        revoked = {
            serial
            for serial, found in by_serial.items()
            if is_revoked(effective_row(found)["status"], effective_row(found)["revocation_reason"])
        }
        return [r for r in rows if str(r["serial_number"]) not in revoked]

    def subscriber_history(
        self,
        connection: Connection,
        since: datetime,
        until: datetime,
        per_subscriber: int = HISTORY_PER_SUBSCRIBER,
    ) -> list[dict[str, Any]]:
        """Each window end entity's distinct subjectAltName values, with their first issuance."""
        from jobs.source.profiles.ejbca import san_names

        schema = self.schema(connection)
        if not schema.modern:
            raise SourceError(LEGACY)
        issuers = self._issuers(connection)
        if not issuers:
            return []
        since_ms, until_ms = self._window_ms(since, until, _HISTORY_SLACK)
        params = {
            "issuers": issuers,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "per_subscriber": per_subscriber,
        }
        offset = self.options.validity_offset
        out = []
        for row in fetch(connection, self.statements, "subscriber_names", params):
            first = from_ms(row["first_ms"])
            out.append(
                {
                    "subscriber": row["subscriber"],
                    "names": san_names(row["subject_alt_name"]),
                    "issued_at": first + offset if first is not None else None,
                }
            )
        return out
