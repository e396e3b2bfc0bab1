"""Schema profiles: how one CA software's tables become the job's generic rows.

Owns the contract every profile keeps and the plain SQL profile that most CAs need: a profile is the
directory `sql/profiles/<name>/` holding `early_revocations` and `replacement_candidates`, and
`revocation_counts`, the grouped count behind the report's 30-day view, and the issuance
watch's `watched_issuances` and `subscriber_names` (see the README, "The generic schema" and "The
issuance watch"), and this module runs those statements as they are. A CA whose schema
SQL cannot express (EJBCA's decimal serials and epoch milliseconds, Boulder's precertificates) adds
the least Python on top, in its own module (`jobs.source.profiles.ejbca`,
`jobs.source.profiles.boulder`), subclassing `Profile`. It also owns the small conversions those
modules share (epoch ms, base64 DER, batching). It must not open connections (the source does),
decide what is early (detection does; the 30-day counts apply the nightly query's own rule, in
SQL) or write anything.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from sqlalchemy import Connection, CursorResult

from jobs.core.activity import Activity, add_count, as_day, fill_days, ranked
from jobs.core.errors import ConfigError
from jobs.core.resources import sql_dir
from jobs.db.queries import QuerySet

if TYPE_CHECKING:
    import pandas as pd

Key = tuple[str, str]
# What a profile hands over: plain rows (a dict per row, the generic columns), or a pandas frame
# of them (the source reads both by the same rules; only a frame loads pandas).
Rows: TypeAlias = list[dict[str, Any]]
Table: TypeAlias = "Rows | pd.DataFrame"
T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Values of one IN list: well under every driver's and server's limits.
IN_BATCH = 500
# Rows of one page of a streamed statement (a server-side cursor's fetch): the night's rows are
# read this many at a time, never all at once (a 44,781-row window: fetchall +169 MB).
STREAM_ROWS = 2_000
# The CA's revocation activity around a run (jobs.core.activity): a grouped count, never rows.
ACTIVITY_STATEMENTS = ("revocation_counts",)
# The issuance watch: the window's unrevoked certificates, and their subscribers' grouped history.
WATCH_STATEMENTS = ("watched_issuances", "subscriber_names")
GENERIC_STATEMENTS = (
    "early_revocations", "replacement_candidates", *ACTIVITY_STATEMENTS, *WATCH_STATEMENTS,
)  # fmt: skip
# The history's columns: a subscriber, one of its names lists, when that list was first issued.
HISTORY_COLUMNS = ("subscriber", "names", "issued_at")
# Names lists of one subscriber the history returns at most (the most recent): a hosting
# provider's account may hold millions of names; the watch needs its recent ones, bounded.
HISTORY_PER_SUBSCRIBER = 2_000
# The generic columns of an early_revocations row, in the order the README documents them.
CANDIDATE_COLUMNS = (
    "issuer_dn",
    "serial",
    "subscriber",
    "requester",
    "names",
    "subject_dn",
    "not_before",
    "not_after",
    "issued_at",
    "der",
)
REVOCATION_COLUMNS = (
    "revocation_id",
    "issuer_dn",
    "serial",
    "revoked_at",
    "reason_code",
    "revoked_by",
    "comment",
    "issuance_found",
    *CANDIDATE_COLUMNS[2:],
)


@dataclass(frozen=True)
class ProfileOptions:
    """What a profile may need beyond the SQL.

    `validity_offset` is how long before issuance EJBCA dates notBefore (EJBCA's own setting is
    signed, -10 minutes by default; this is its size, as the `validity_offset` setting gives it):
    issuance = notBefore + offset when request history does not hold it. `boulder_lookback`
    bounds how far around a window Boulder's revocation walk reads, to absorb rows appended
    slightly out of revocation-time order.
    """

    validity_offset: timedelta = timedelta(minutes=10)
    boulder_lookback: timedelta = timedelta(hours=6)


def available() -> tuple[str, ...]:
    """Every profile the installation carries: the directories under `sql/profiles/`."""
    root = sql_dir() / "profiles"
    return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.sql"))))


def bind_time(dialect: str, value: datetime) -> Any:
    """A time as the dialect compares it: SQLite ISO text, MySQL naive UTC, PostgreSQL aware."""
    if dialect == "sqlite":
        # isoformat, not strftime: glibc's %Y drops the leading zeros of years before 1000.
        return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")
    if dialect == "mysql":
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware time (EJBCA's time columns)."""
    return (value - EPOCH) // timedelta(milliseconds=1)


def from_ms(value: Any) -> datetime | None:
    """An aware UTC time from epoch milliseconds; None for NULL and EJBCA's -1 "unset"."""
    if value is None or isinstance(value, bool):
        return None
    try:
        millis = int(value)
    except (TypeError, ValueError):
        return None
    if millis < 0:
        return None
    try:
        return EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        return None


def utc(value: Any) -> datetime | None:
    """A MySQL DATETIME (naive, UTC by our session) as aware UTC; None for NULL or a zero date.

    PyMySQL hands `0000-00-00 00:00:00` back as a string: it is a placeholder, not a time.
    """
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def decode_base64_der(text: Any) -> bytes | None:
    """The DER behind a base64 column, or None when the column is empty.

    Text that is not base64 is handed on as its own bytes, so that the record is reported with a
    `data.der_unparseable` finding naming it instead of silently losing the certificate.
    """
    if text is None:
        return None
    raw = str(text).strip()
    if not raw:
        return None
    try:
        return base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        return raw.encode("utf-8", "replace")


def batches(items: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`, for IN lists."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def frame(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a pandas frame with exactly `columns` (missing keys become None): the hand-over of
    the profiles with Python of their own (EJBCA, Boulder). The generic profile's SQL rows go as
    plain dicts: a frame costs pandas' import and a copy of every row."""
    import pandas as pd

    return pd.DataFrame([[row.get(c) for c in columns] for row in rows], columns=list(columns))


def fetch(
    connection: Connection, statements: QuerySet, name: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Run one statement of the profile and return its rows as dicts."""
    result = connection.execute(statements[name].clause(), dict(params))
    keys = list(result.keys())
    with result:
        return [dict(zip(keys, row, strict=True)) for row in _driver_rows(result)]


def _driver_rows(result: CursorResult[Any], size: int | None = None) -> Sequence[Any]:
    """The next `size` rows (None: all) as the driver returns them, through the result's own
    fetch strategy (which buffers a streamed cursor and turns driver errors into SQLAlchemy's),
    without a SQLAlchemy Row per row: the statements are untyped text(), so Rows would convert
    nothing, and making them cost ~2 us a row (~100 of the 426 ms the watch's 47,000-row history
    took at 10M, bench.watch --reads). `cursor_strategy` is the result's own (SQLAlchemy 1.4 to
    2.1); every database test reads through here."""
    if size is None:
        return result.cursor_strategy.fetchall(result, result.cursor)  # type: ignore[no-any-return]
    return result.cursor_strategy.fetchmany(result, result.cursor, size)  # type: ignore[no-any-return]


def stream(
    connection: Connection,
    statements: QuerySet,
    name: str,
    params: Mapping[str, Any],
) -> Iterator[list[dict[str, Any]]]:
    """Run one statement through a server-side cursor (PostgreSQL a named cursor, MySQL
    PyMySQL's SSCursor, SQLite its own stepping cursor) and yield its rows as dicts, at most
    STREAM_ROWS at a time: a page is made dicts as it arrives, then let go."""
    size = STREAM_ROWS
    # cursor_name: PostgreSQL's cursor is named after the statement (`jobs.db.engines`).
    options = {"stream_results": True, "max_row_buffer": size, "cursor_name": name}
    result = connection.execute(statements[name].clause(), dict(params), execution_options=options)
    keys = list(result.keys())
    with result:
        while page := _driver_rows(result, size):
            yield [dict(zip(keys, row, strict=True)) for row in page]


def fetch_in(
    connection: Connection,
    statements: QuerySet,
    name: str,
    list_param: str,
    values: Iterable[Any],
    **params: Any,
) -> list[dict[str, Any]]:
    """Run one statement per batch of `values` bound to its list parameter; all rows."""
    unique = sorted(set(values), key=str)
    rows: list[dict[str, Any]] = []
    for batch in batches(unique):
        rows.extend(fetch(connection, statements, name, {**params, list_param: list(batch)}))
    return rows


class Profile:
    """A profile made of SQL only: the statements return the generic columns as they are.

    Subclasses override the reading methods. `STATEMENTS` lists every statement the profile
    runs, those of optional tables included: all are loaded and checked when the profile opens
    (at start, not mid-run), and asking for any other raises `UndeclaredStatement`.
    """

    STATEMENTS: tuple[str, ...] = GENERIC_STATEMENTS
    DIALECTS: tuple[str, ...] = ("postgresql", "mysql", "sqlite")
    # Whether the window's rows come from one statement that can be streamed page by page
    # (`early_revocation_pages`); a profile with Python of its own hands its table over whole.
    streams_window: bool = True

    def __init__(self, name: str, statements: QuerySet, options: ProfileOptions) -> None:
        if statements.dialect not in self.DIALECTS:
            raise ConfigError(
                f"profile {name!r} reads {' or '.join(self.DIALECTS)} databases, "
                f"not {statements.dialect}"
            )
        self.name = name
        self.statements = statements.declare(*self.STATEMENTS)
        self.dialect = statements.dialect
        self.options = options

    def early_revocations(
        self, connection: Connection, since: datetime, until: datetime, threshold: timedelta
    ) -> Table:
        """Revocations in [since, until) at most `threshold` after issuance (generic columns)."""
        params = self._window(since, until, threshold)
        return fetch(connection, self.statements, "early_revocations", params)

    def early_revocation_pages(
        self, connection: Connection, since: datetime, until: datetime, threshold: timedelta
    ) -> Iterator[Table]:
        """`early_revocations` page by page (`stream`: a server-side cursor, STREAM_ROWS rows a
        page), for a caller that consumes them while `connection` is open. A profile whose
        `early_revocations` is its own (Python over several statements, EJBCA's and Boulder's)
        hands over that whole table as one page."""
        if not self.streams_window:
            yield self.early_revocations(connection, since, until, threshold)
            return
        yield from stream(
            connection, self.statements, "early_revocations", self._window(since, until, threshold)
        )

    def _window(self, since: datetime, until: datetime, threshold: timedelta) -> dict[str, Any]:
        return {
            "since": bind_time(self.dialect, since),
            "until": bind_time(self.dialect, until),
            "threshold_seconds": int(threshold.total_seconds()),
        }

    def replacement_candidates(
        self,
        connection: Connection,
        subscribers: Sequence[str],
        earliest: datetime,
        latest: datetime,
    ) -> Table:
        """Certificates of `subscribers` issued in [earliest, latest] (generic columns)."""
        params = {
            "subscribers": list(subscribers),
            "earliest": bind_time(self.dialect, earliest),
            "latest": bind_time(self.dialect, latest),
        }
        return fetch(connection, self.statements, "replacement_candidates", params)

    def declared_replacements(self, connection: Connection, keys: Sequence[Key]) -> dict[Key, Key]:
        """Replacements the CA's own records declare, by (issuer, serial); none by default."""
        return {}

    def watched_issuances(self, connection: Connection, since: datetime, until: datetime) -> Table:
        """Certificates issued in [since, until) and not revoked (generic issuance columns)."""
        params = {"since": bind_time(self.dialect, since), "until": bind_time(self.dialect, until)}
        return fetch(connection, self.statements, "watched_issuances", params)

    def subscriber_history(
        self,
        connection: Connection,
        since: datetime,
        until: datetime,
        per_subscriber: int = HISTORY_PER_SUBSCRIBER,
    ) -> list[dict[str, Any]]:
        """The names lists of the subscribers issued to in [since, until), each with when it was
        first issued, issued before `until`: one grouped statement, plain rows of HISTORY_COLUMNS
        (tens of thousands of small rows: no frame, which would cost more than the query)."""
        params = {
            "since": bind_time(self.dialect, since),
            "until": bind_time(self.dialect, until),
            "per_subscriber": per_subscriber,
        }
        return fetch(connection, self.statements, "subscriber_names", params)

    def activity(
        self, connection: Connection, since: datetime, until: datetime, threshold: timedelta
    ) -> Activity:
        """Revocations and early revocations per UTC day of [since, until), and per operator
        (`revoked_by`): one grouped count by day and operator in the database, summed here both
        ways (a few hundred rows: 30 days times the operators)."""
        params = {
            "since": bind_time(self.dialect, since),
            "until": bind_time(self.dialect, until),
            "threshold_seconds": int(threshold.total_seconds()),
        }
        days: dict[date, tuple[int, int]] = {}
        operators: dict[str | None, tuple[int, int]] = {}
        for row in fetch(connection, self.statements, "revocation_counts", params):
            counts = (row["revocations"], row["early_revocations"])
            day = as_day(row["day"])  # None: a time the database could not read as one
            if day is not None:
                add_count(days, day, *counts)
            name = str(row["operator"]).strip() if row["operator"] is not None else ""
            add_count(operators, name or None, *counts)
        return Activity(days=fill_days(days, until), operators=ranked(operators))
