"""[1] The CA database: the job's read-only view of issuance and revocation records.

Owns the connection to the CA database, the profile that reads it (`sql/profiles/<profile>/`, plus
`jobs.source.profiles.ejbca` or `jobs.source.profiles.boulder` for what SQL cannot say) and the
hand-over of the rows as pandas frames whose column types are the same whatever the database and the
profile: times are `datetime64[us, UTC]` (NaT when missing or unreadable), `der` is `bytes` or None,
text is text or None. The joins and the window filter run in the database; pandas only ever sees
joined rows. It must not decide what is an anomaly (detection does) nor write anything anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from jobs.core.errors import ConfigError, SourceError
from jobs.core.settings import redact_url
from jobs.db import queries
from jobs.db.engines import ca_engine, describe_error
from jobs.source.profiles.base import Key, Profile, ProfileOptions, available
from jobs.source.profiles.boulder import BoulderProfile
from jobs.source.profiles.ejbca import EjbcaProfile

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
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise SourceError(f"CA database {self.label}: {describe_error(exc)}") from None

    def early_revocations(
        self, since: datetime, until: datetime, threshold: timedelta
    ) -> list[dict[str, Any]]:
        """Revocations in [since, until) at most `threshold` after issuance, with their issuance,
        as plain rows (see `records`)."""
        with self._connection() as connection:
            frame = self.profile.early_revocations(connection, since, until, threshold)
            return records(normalise(frame))

    def replacement_candidates(
        self, wanted: Sequence[tuple[str, datetime, datetime]]
    ) -> list[dict[str, Any]]:
        """Certificates of the given subscribers issued within each one's [earliest, latest].

        `wanted` holds (subscriber, earliest, latest). Subscribers are queried in batches, sorted
        by time so that each batch's combined range stays narrow; one query per batch.
        """
        ordered = sorted(wanted, key=lambda item: (item[1], item[0]))
        frames = []
        with self._connection() as connection:
            for start in range(0, len(ordered), CANDIDATE_BATCH):
                batch = ordered[start : start + CANDIDATE_BATCH]
                subscribers = sorted({subscriber for subscriber, _, _ in batch})
                earliest = min(item[1] for item in batch)
                latest = max(item[2] for item in batch)
                found = self.profile.replacement_candidates(
                    connection, subscribers, earliest, latest
                )
                frames.append(normalise(found))
        if not frames:
            return []
        frame = pd.concat(frames, ignore_index=True)
        return records(frame.drop_duplicates(subset=["issuer_dn", "serial"], ignore_index=True))

    def declared_replacements(self, keys: Sequence[Key]) -> dict[Key, Key]:
        """The replacement the CA's records declare for each (issuer, serial), where one does.

        Boulder keeps the ACME clients' ARI declarations (`replacementOrders`); other profiles
        declare none. Keys use the report's spelling: issuer DN, lower-case hex serial.
        """
        if not keys:
            return {}
        with self._connection() as connection:
            return self.profile.declared_replacements(connection, list(keys))

    def close(self) -> None:
        self.engine.dispose()


def _to_bytes(value: Any) -> bytes | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return None


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Give every dialect's rows the same column types (see the module docstring)."""
    frame = frame.copy()
    for column in TIME_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values):
            # SQLite text: keep unreadable spellings as NaT; detection names the record.
            parsed = pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")
        elif isinstance(values.dtype, pd.DatetimeTZDtype):
            parsed = values.dt.tz_convert("UTC")
        else:
            parsed = pd.to_datetime(values, errors="coerce").dt.tz_localize("UTC")
        frame[column] = parsed.astype("datetime64[us, UTC]")
    if "der" in frame.columns:
        frame["der"] = frame["der"].map(_to_bytes).astype(object)
    if "issuance_found" in frame.columns:
        frame["issuance_found"] = frame["issuance_found"].fillna(False).astype(bool)
    return frame


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with None for missing values and aware datetimes for times.

    pandas' `nan` is truthy, so it must never leave this boundary (stack notes).
    """
    if frame.empty:
        return []
    plain = frame.astype(object).where(frame.notna(), None)
    rows = plain.to_dict(orient="records")
    for row in rows:
        for column in TIME_COLUMNS:
            value = row.get(column)
            if isinstance(value, pd.Timestamp):
                row[column] = value.to_pydatetime()
    return [{str(k): v for k, v in row.items()} for row in rows]
