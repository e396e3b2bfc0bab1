"""[1] The CA database: the job's read-only view of issuance and revocation records.

Owns the connection to the CA database, the profile that reads it (`sql/profiles/<profile>/`, plus
`jobs.source.profiles.ejbca` or `jobs.source.profiles.boulder` for what SQL cannot say) and the
hand-over of the rows as plain dicts whose column types are the same whatever the database and the
profile: times are aware UTC datetimes (None when missing or unreadable, the value as written then
in the row's `unreadable`), `der` is `bytes` or None, text is text or None. The joins and the window
filter run in the database; Python only ever sees joined rows, and reads each of them once, in
place, without pandas (a profile that hands over a pandas frame is read through the same rules;
pandas then loads, and only then). The night's revocations can also be streamed
(`early_revocation_rows`: a server-side cursor, a page at a time, made plain as they arrive). It
must not decide what is an anomaly (detection does) nor write anything anywhere.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import date as Date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from jobs.core.activity import Activity
from jobs.core.activity import span as activity_span
from jobs.core.errors import ConfigError, SourceError, WrongSchemaError
from jobs.core.settings import redact_url
from jobs.db import queries
from jobs.db.engines import ca_engine, describe_error, missing_table_or_column
from jobs.source.profiles.base import Key, Profile, ProfileOptions, Rows, Table, available
from jobs.source.profiles.boulder import BoulderProfile
from jobs.source.profiles.ejbca import EjbcaProfile

if TYPE_CHECKING:
    import pandas as pd

TIME_COLUMNS = ("revoked_at", "not_before", "not_after", "issued_at")
# The subscribers of one replacement query; keeps each IN list well under every driver's limits.
CANDIDATE_BATCH = 500
# Profiles that need Python beyond their SQL; every other directory is a plain SQL profile.
_HOOKS: dict[str, type[Profile]] = {"ejbca": EjbcaProfile, "boulder": BoulderProfile}


def profile_class(name: str) -> type[Profile]:
    """The class that reads profile `name`: its hook, else the plain SQL profile."""
    return _HOOKS.get(name, Profile)


def open_profile(name: str, dialect: str, options: ProfileOptions | None = None) -> Profile:
    """The profile `name` for `dialect`, every statement it declares loaded and checked now.

    A missing or malformed file of any of them, optional tables' included, fails here at start;
    the profile can then run only the statements it declared.
    """
    if name not in available():
        raise ConfigError(f"unknown profile {name!r}: one of {', '.join(available())}")
    statements = queries.load(f"profiles/{name}", dialect)
    return profile_class(name)(name, statements, options or ProfileOptions())


class CaDatabase:
    """One CA database read through one profile."""

    def __init__(
        self,
        url: URL,
        profile: str = "generic",
        engine: Engine | None = None,
        *,
        options: ProfileOptions | None = None,
    ) -> None:
        self.label = redact_url(url)
        self.engine = engine if engine is not None else ca_engine(url)
        self.dialect = self.engine.dialect.name
        self.profile = open_profile(profile, self.dialect, options)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            connection = self.engine.connect()
        except SQLAlchemyError as exc:
            raise SourceError(f"CA database {self.label}: {describe_error(exc)}") from None
        except Exception as exc:
            # A driver that fails on its own options (`?charset=nonsense`) raises what it likes,
            # before SQLAlchemy can wrap it: still one line naming the database, not a traceback.
            raise SourceError(
                f"CA database {self.label}: cannot connect: {type(exc).__name__}: {exc}"
            ) from None
        try:
            with connection:
                yield connection
        except SQLAlchemyError as exc:
            hint = self._profile_hint() if missing_table_or_column(exc) else ""
            raise SourceError(f"CA database {self.label}: {describe_error(exc)}{hint}") from None
        except WrongSchemaError as exc:
            hint = self._profile_hint()
            raise WrongSchemaError(f"CA database {self.label}: {exc}{hint}") from None

    def _profile_hint(self) -> str:
        """What to try when the tables the profile reads are not there: the most common cause
        is a profile that is not the CA software's (the default, generic, on EJBCA's tables)."""
        used = self.profile.name
        others = [
            name for name in available()
            if name != used and self.dialect in profile_class(name).DIALECTS
        ]  # fmt: skip
        if not others:
            return (
                f" (read with profile {used!r}, the only one for {self.dialect} databases: are "
                "its tables there, and may the job's user SELECT them?)"
            )
        tries = " or ".join(f"--profile {name}" for name in others)
        return (
            f" (read with profile {used!r}; if this is another CA software's database, "
            f"set the profile: {tries})"
        )

    def early_revocations(
        self, since: datetime, until: datetime, threshold: timedelta
    ) -> list[dict[str, Any]]:
        """Revocations in [since, until) at most `threshold` after issuance, with their issuance,
        as plain rows (see `rows`)."""
        with self._connection() as connection:
            return rows(self.profile.early_revocations(connection, since, until, threshold))

    def early_revocation_rows(
        self, since: datetime, until: datetime, threshold: timedelta
    ) -> Generator[dict[str, Any], None, None]:
        """`early_revocations`, streamed: the plain rows one at a time, read from a server-side
        cursor a page at a time (`Profile.early_revocation_pages`) and made plain page by page,
        so a mass revocation night is never held whole, neither as the driver's rows nor as
        dicts. The read-only session stays open while the caller consumes the rows, and a
        database error anywhere in the stream is this source's error, as for the list; close the
        iterator (`contextlib.closing`) if it may be left before its end."""
        with self._connection() as connection:
            for page in self.profile.early_revocation_pages(connection, since, until, threshold):
                yield from rows(page)
                del page  # before the next page is fetched

    def replacement_candidates(
        self, wanted: Sequence[tuple[str, datetime, datetime]]
    ) -> list[dict[str, Any]]:
        """Certificates of the given subscribers issued within each one's [earliest, latest].

        `wanted` holds (subscriber, earliest, latest). Subscribers are queried in batches, sorted
        by time so that each batch's combined range stays narrow; one query per batch.
        """
        ordered = sorted(wanted, key=lambda item: (item[1], item[0]))
        found: Rows = []
        with self._connection() as connection:
            for start in range(0, len(ordered), CANDIDATE_BATCH):
                batch = ordered[start : start + CANDIDATE_BATCH]
                subscribers = sorted({subscriber for subscriber, _, _ in batch})
                earliest = min(item[1] for item in batch)
                latest = max(item[2] for item in batch)
                batch_rows = self.profile.replacement_candidates(
                    connection, subscribers, earliest, latest
                )
                found.extend(rows(batch_rows))
        # A certificate found by two batches is one candidate: its first row is kept.
        seen: set[tuple[Any, Any]] = set()
        unique = []
        for row in found:
            key = (row.get("issuer_dn"), row.get("serial"))
            if key not in seen:
                seen.add(key)
                unique.append(row)
        return unique

    def declared_replacements(self, keys: Sequence[Key]) -> dict[Key, Key]:
        """The replacement the CA's records declare for each (issuer, serial), where one does.

        Boulder keeps the ACME clients' ARI declarations (`replacementOrders`); other profiles
        declare none. Keys use the report's spelling: issuer DN, lower-case hex serial.
        """
        if not keys:
            return {}
        with self._connection() as connection:
            return self.profile.declared_replacements(connection, list(keys))

    def activity(self, until: datetime, threshold: timedelta) -> Activity:
        """Revocations and early revocations per UTC day for the 30 days that end with the day
        of `until`, and per revoking operator over them: grouped counts made in the database,
        in one read-only session (see `jobs.core.activity`)."""
        since, until = activity_span(until)
        with self._connection() as connection:
            return self.profile.activity(connection, since, until, threshold)

    def watched_issuances(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The issuance watch's certificates: issued in [since, until) and not revoked, as plain
        issuance rows (the profile's SQL may read a little wider; the caller cuts exactly)."""
        with self._connection() as connection:
            return rows(self.profile.watched_issuances(connection, since, until))

    def subscriber_history(self, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """The history of the subscribers issued to in [since, until): rows of `subscriber`,
        `names` and `issued_at` (when those names were first issued), grouped in the database
        (one statement; Boulder's, one per batch of accounts) and bounded per
        subscriber (`HISTORY_PER_SUBSCRIBER`)."""
        with self._connection() as connection:
            found = self.profile.subscriber_history(connection, since, until)
        # Plain rows (the profile's own, made here), only `issued_at` made an aware UTC time in
        # place (None when unreadable: unknown).
        for row in found:
            when = row.get("issued_at")
            if type(when) is not datetime or when.tzinfo is not UTC:
                row["issued_at"] = history_time(when)
        return found

    def close(self) -> None:
        self.engine.dispose()


def history_time(value: Any) -> datetime | None:
    """A time of the history's rows as aware UTC, in any dialect's spelling; None if unreadable."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            return _lenient_time(value)
        except (ValueError, OverflowError, OSError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _to_bytes(value: Any) -> bytes | str | None:
    """DER as bytes; text is kept as text, for the record reader to decode or name."""
    if value is None or (isinstance(value, float) and value != value):  # NULL, or a frame's NaN
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value)


# Spellings of a time that ISO 8601 parsing does not read but that CA databases hold (SQLite
# keeps times as text): ISO basic, a `+0000` offset after a space. Naive times are UTC.
_LENIENT_FORMATS = (
    "%Y%m%dT%H%M%SZ", "%Y%m%dT%H%M%S%z", "%Y%m%dT%H%M%S.%fZ", "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%dT%H:%M:%S %z",
)  # fmt: skip


def _lenient_time(value: Any) -> datetime | None:
    """A time ISO 8601 parsing could not read, in another unambiguous spelling; else None.

    Epoch seconds (10 digits) and milliseconds (13) are read; `dd/mm/yyyy` is ambiguous and
    is not."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.isdigit() and len(text) in (10, 13):
        return datetime.fromtimestamp(int(text) / (1000 if len(text) == 13 else 1), UTC)
    for spelling in _LENIENT_FORMATS:
        try:
            parsed = datetime.strptime(text, spelling)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _time(value: Any) -> tuple[datetime | None, str | None]:
    """A time column's value as aware UTC, and the value as written when no spelling reads it.

    Drivers hand over aware datetimes (PostgreSQL), naive UTC ones (MySQL), text (SQLite; and
    PostgreSQL's `infinity` or BC dates, through the engine's lenient loaders) or numbers (epoch
    seconds in a SQLite column of numeric affinity); naive times are UTC."""
    if isinstance(value, datetime):
        if type(value) is not datetime:  # pandas' Timestamp, from a profile's frame: whole us
            value = datetime.combine(value.date(), value.timetz())
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC), None
        return (value if value.tzinfo is UTC else value.astimezone(UTC)), None
    if value is None or (isinstance(value, float) and value != value):
        return None, None
    if isinstance(value, Date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), None
    try:
        parsed: datetime | None = datetime.fromisoformat(value.strip())
    except (AttributeError, TypeError, ValueError):  # not text, or not ISO 8601
        try:
            parsed = _lenient_time(value)
        except (ValueError, OverflowError, OSError):
            parsed = None
        if parsed is None:
            return None, str(value)[:200]
    assert parsed is not None
    return (parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)), None


def rows(found: Table) -> list[dict[str, Any]]:
    """The profile's rows with every dialect's column types made the same (module docstring):
    times aware UTC or None, `der` bytes or None, `issuance_found` a bool. Each row gains
    `unreadable`: None, or {column: value as written} for the times no spelling reads
    (PostgreSQL `infinity`, a BC date, garbage text), so that the record's finding can name them:
    nothing is dropped or hidden here. Plain rows are converted in place, in one pass; a frame's
    rows are first made plain (`_frame_rows`: pandas' missing values become None)."""
    plain = found if isinstance(found, list) else _frame_rows(found)
    exact, utc, read = datetime, UTC, _time  # locals: this loop runs once per row of a night
    for row in plain:
        unreadable: dict[str, str] | None = None
        for column in TIME_COLUMNS:
            value = row.get(column, row)  # `row` itself: the column is not there
            if value is row or (type(value) is exact and value.tzinfo is utc):
                continue  # absent, or already aware UTC (PostgreSQL's own spelling)
            row[column], raw = read(value)
            if raw is not None:
                unreadable = unreadable or {}
                unreadable[column] = raw
        row["unreadable"] = unreadable
        der = row.get("der")
        if der is not None and type(der) is not bytes:
            row["der"] = _to_bytes(der)
        if "issuance_found" in row:
            flag = row["issuance_found"]
            row["issuance_found"] = flag is not None and flag == flag and bool(flag)
    return plain


def _frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts of plain Python values, None for what pandas holds as missing
    (its `nan` is truthy: it must never leave this boundary, stack notes)."""
    if frame.empty:
        return []
    plain = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in plain.to_dict(orient="records")]
