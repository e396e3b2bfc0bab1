"""Boulder's answers to the issuance watch: the window's unrevoked certificates and the history.

Owns how Boulder's tables answer `Profile.watched_issuances` and `Profile.subscriber_history`. The
window is a range on `certificates.issued` (its `issued_idx`), less the serials `certificateStatus`
holds as revoked; the issuer is read from each DER, as everywhere in this profile. The subscriber
is the ACME account (`registrationID`). Boulder keeps a certificate's names only in its DER, so
the account's domains come from its authorizations (`authz2`: the DNS identifiers it validated),
grouped by account and identifier over Boulder's `(registrationID, identifierType,
identifierValue, …)` index, each with its first validation: one statement per batch of the
window's accounts (MariaDB groups a literal IN list in index order, a semi-join in a temporary
table on disk). A domain counts as held from a day
after that validation (`VALIDATED_MARGIN`): the authorization a new certificate was issued on is
validated minutes before it, and must not make the certificate's own new domain look held. The
table is optional: without it the history is empty and the watch says why. It must not decide
what is suspicious or write.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from jobs.core.errors import SourceError
from jobs.db.queries import QuerySet
from jobs.source.profiles.base import (
    CANDIDATE_COLUMNS,
    HISTORY_PER_SUBSCRIBER,
    bind_time,
    fetch,
    fetch_in,
    frame,
    utc,
)

if TYPE_CHECKING:
    import pandas as pd

WATCH_STATEMENTS = ("watch_certificates", "watch_subscribers", "subscriber_names")
WATCH_TABLES = ("authz2",)
VALIDATED_MARGIN = timedelta(days=1)
NO_AUTHZ = (
    "no authz2 table that the job may read: the ACME accounts' domains are unknown, so "
    "near-siblings cannot be judged"
)


class BoulderWatch:
    """The watch methods of `jobs.source.profiles.boulder.BoulderProfile`, which mixes this in."""

    statements: QuerySet
    dialect: str

    if TYPE_CHECKING:

        def tables(self, connection: Connection) -> set[str]: ...

        @staticmethod
        def _certificate(
            row: Mapping[str, Any] | None, serial: str, unknown_issuer: str
        ) -> dict[str, Any]: ...

    def watched_issuances(
        self, connection: Connection, since: datetime, until: datetime
    ) -> pd.DataFrame:
        """Final certificates issued in [since, until) and not revoked (generic columns)."""
        self.tables(connection)
        params = {"since": bind_time(self.dialect, since), "until": bind_time(self.dialect, until)}
        rows = fetch(connection, self.statements, "watch_certificates", params)
        out = [self._certificate(r, str(r["serial"]), "Boulder issuer unknown") for r in rows]
        return frame(out, CANDIDATE_COLUMNS)

    def subscriber_history(
        self,
        connection: Connection,
        since: datetime,
        until: datetime,
        per_subscriber: int = HISTORY_PER_SUBSCRIBER,
    ) -> list[dict[str, Any]]:
        """Each window account's validated DNS identifiers, held from a day after validation."""
        if not set(WATCH_TABLES) <= self.tables(connection):
            raise SourceError(NO_AUTHZ)
        window = {"since": bind_time(self.dialect, since), "until": bind_time(self.dialect, until)}
        accounts = [
            r["subscriber"] for r in fetch(connection, self.statements, "watch_subscribers", window)
        ]
        # In batches of IN_BATCH (500) accounts: see subscriber_names.sql for why.
        found = fetch_in(
            connection, self.statements, "subscriber_names", "subscribers", accounts,
            per_subscriber=per_subscriber,
        )  # fmt: skip
        out: list[dict[str, Any]] = []
        for row in found:
            validated = utc(row["first_validated"])
            out.append(
                {
                    "subscriber": str(row["subscriber"]),
                    "names": str(row["name"]).lower(),
                    "issued_at": validated + VALIDATED_MARGIN if validated else None,
                }
            )
        return out
