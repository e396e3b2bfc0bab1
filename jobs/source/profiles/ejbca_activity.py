"""EJBCA's revocation activity around a run: the 30-day trend and who revoked, per operator.

Owns how EJBCA's tables answer `Profile.activity`. The trend is a grouped count per issuing CA
(EJBCA's `(issuerDN, revocationDate)` index answers each), with the nightly rule for "early":
issuance from request history when EJBCA keeps it, else notBefore plus the validity offset. Who
revoked lives only in `AuditRecordData`: the revocations per operator are a grouped count of its
revocation events; which of an operator's revocations were early needs each early certificate's
own event, which the audit log keys by Java's hash of the issuer DN and the upper-case hex serial,
so only the early revocations' light columns are read and matched here, by
`jobs.source.profiles.ejbca_audit` exactly as the nightly cases are. Certificates that only
`NoConflictCertificateData` holds are not in the trend. It must not read certificates (no DER),
decide what a case is, or write.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from jobs.core.activity import Activity, OperatorCount, add_count, fill_days, ranked
from jobs.db.queries import QuerySet
from jobs.source.profiles import ejbca_audit
from jobs.source.profiles.base import ProfileOptions, fetch, fetch_in, to_ms

if TYPE_CHECKING:
    from jobs.source.profiles.ejbca import Schema

ACTIVITY_STATEMENTS = (
    "revocation_trend",
    "revocation_trend_history",  # CertReqHistoryData
    "early_revoked",
    "early_revoked_history",  # CertReqHistoryData
    "operator_revocations",  # AuditRecordData
    "operator_events",  # AuditRecordData
)
EPOCH_DAY = date(1970, 1, 1)
LEGACY = (
    "this EJBCA database has no notBefore column (a schema before EJBCA 6.6): early revocations "
    "cannot be counted in the database"
)
NO_AUDIT = "no AuditRecordData table that the job may read: who revoked is unknown"
# How far around the 30 days an early revocation's own audit event is looked for: the event is
# written when the operator acts, and a revocation date may be set a little apart from it.
EVENT_SLACK = timedelta(days=2)


class EjbcaActivity:
    """The `activity` of `jobs.source.profiles.ejbca.EjbcaProfile`, which mixes this in."""

    statements: QuerySet
    options: ProfileOptions

    if TYPE_CHECKING:

        def schema(self, connection: Connection) -> Schema: ...

    def activity(
        self, connection: Connection, since: datetime, until: datetime, threshold: timedelta
    ) -> Activity:
        """Revocations and early revocations per UTC day of [since, until), and per operator."""
        schema = self.schema(connection)
        if not schema.modern:
            return Activity(trend_note=LEGACY, operator_note=LEGACY)
        params = {
            "since_ms": to_ms(since),
            "until_ms": to_ms(until),
            "threshold_ms": threshold // timedelta(milliseconds=1),
            "offset_ms": self.options.validity_offset // timedelta(milliseconds=1),
        }
        suffix = "_history" if schema.history else ""
        days: dict[date, tuple[int, int]] = {}
        early: list[dict[str, Any]] = []
        for issuer in (r["issuer_dn"] for r in fetch(connection, self.statements, "issuers", {})):
            window = {"issuer": issuer, **params}
            for row in fetch(connection, self.statements, "revocation_trend" + suffix, window):
                day = EPOCH_DAY + timedelta(days=int(row["day_number"]))
                add_count(days, day, row["revocations"], row["early_revocations"])
            if schema.audit:
                early += fetch(connection, self.statements, "early_revoked" + suffix, window)
        trend = fill_days(days, until)
        if not schema.audit:
            return Activity(days=trend, operator_note=NO_AUDIT)
        total = sum(day.revocations for day in trend)
        return Activity(
            days=trend, operators=self._operator_counts(connection, params, early, total)
        )

    def _operator_counts(
        self,
        connection: Connection,
        params: dict[str, int],
        early: list[dict[str, Any]],
        total: int,
    ) -> tuple[OperatorCount, ...]:
        """Audited revocations per actor, each early revocation credited to its own event's actor.

        An operator is credited at least its early revocations (an event just outside the range
        still names who revoked an early certificate inside it); early revocations without an
        event are the unrecorded operator's, who also holds the revocations the audit log does
        not account for (the CA's count less the audited ones)."""
        window = {"since_ms": params["since_ms"], "until_ms": params["until_ms"]}
        audited: dict[str | None, tuple[int, int]] = {}
        for row in fetch(connection, self.statements, "operator_revocations", window):
            name = str(row["operator"] or "").strip() or None
            add_count(audited, name, row["revocations"], 0)
        usernames = [str(r["username"]) for r in early if r.get("username")]
        slack = EVENT_SLACK // timedelta(milliseconds=1)
        bounds = {"since_ms": params["since_ms"] - slack, "until_ms": params["until_ms"] + slack}
        events = ejbca_audit.index_events(
            fetch_in(
                connection, self.statements, "operator_events", "usernames", usernames, **bounds
            )
        )
        for row in early:
            operator = ejbca_audit.operator_for(
                events,
                str(row["issuer_dn"]),
                str(row["serial_number"]),
                int(row["revocation_date"]),
            )
            add_count(audited, operator.revoked_by, 0, 1)
        unaccounted = total - sum(count for name, (count, _) in audited.items() if name)
        if unaccounted > 0:
            audited.setdefault(None, (0, 0))
        out = {
            name: (max(count, early_count, unaccounted if name is None else 0), early_count)
            for name, (count, early_count) in audited.items()
        }
        return ranked(out)
