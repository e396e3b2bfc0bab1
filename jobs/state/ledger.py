"""[6] The job's own ledger: runs, reported cases, the watermark and the run lock.

Owns the state database (SQLite file by default, or PostgreSQL) and its versioned migrations
(`sql/state/migrations/NNNN_*.sql`, applied in order, each recorded).

The invariant kept here: **a case is marked reported only after the mail server accepted the
message carrying it; a run that fails changes nothing but its own failed-run record.** A
successful run's cases and its run record are written in one transaction, so the watermark
(the end of the last successful run's window) and the reported cases never disagree.
It must not read the CA database, render or send anything.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from jobs.core.errors import LockHeldError, StateError
from jobs.core.resources import sql_dir
from jobs.core.settings import redact_url
from jobs.db import queries
from jobs.db.engines import describe_error, state_engine
from jobs.db.queries import QuerySet, parse_statement

# A reported case: issuer, serial and the revocation time the report gave.
ReportedCase = tuple[str, str, datetime]
# Serials per reported-case lookup: far below SQLite's and PostgreSQL's bound-parameter limits.
LOOKUP_BATCH = 900

# Every statement the ledger runs, loaded and checked when it opens (migrations aside: they are
# applied from sql/state/migrations/ in order).
STATEMENTS = (
    "create_migrations_table", "applied_migrations", "record_migration", "insert_run",
    "insert_reported_case", "known_runs", "last_successful_run", "recent_runs",
    "reported_cases_by_serial", "successful_runs_by_message_id",
)  # fmt: skip


def iso(value: datetime) -> str:
    """The ledger's spelling of a time: ISO 8601 UTC with microseconds (text order = time order)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class RunRecord:
    """One run as the ledger keeps it."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    window_since: datetime
    window_until: datetime
    threshold_seconds: int
    cases_found: int
    cases_new: int
    outcome: str
    error: str | None = None
    message_id: str | None = None
    source: str | None = None
    refused: str | None = None


class Ledger:
    """The state database; create with `Ledger.open(url)`."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.label = redact_url(url)
        self.statements: QuerySet = queries.load("state", engine.dialect.name).declare(
            *STATEMENTS, *(("try_advisory_lock",) if engine.dialect.name == "postgresql" else ())
        )

    @classmethod
    def open(cls, url: URL, engine: Engine | None = None) -> Ledger:
        ledger = cls(engine if engine is not None else state_engine(url), url)
        ledger.migrate()
        return ledger

    @classmethod
    def open_read_only(cls, url: URL) -> Ledger | None:
        """The ledger as it is, for commands that only look: no file or directory is created and
        no migration applied. None where no SQLite ledger file exists yet (nothing reported)."""
        if url.get_backend_name() == "sqlite" and (
            not url.database or not Path(url.database).is_file()
        ):
            return None
        return cls(state_engine(url, read_only=True), url)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as exc:
            raise StateError(f"state database {self.label}: {describe_error(exc)}") from None

    def _run(self, connection: Connection, name: str, **params: Any) -> Any:
        return connection.execute(self.statements[name].clause(), params)

    def migrate(self) -> list[int]:
        """Apply the migrations not applied yet; return their versions."""
        directory = sql_dir() / "state" / "migrations"
        applied_now = []
        with self._transaction() as connection:
            self._run(connection, "create_migrations_table")
            applied = {row.version for row in self._run(connection, "applied_migrations")}
        for path in sorted(directory.glob("*.sql")):
            version = int(path.name.split("_", 1)[0])
            if version in applied:
                continue
            statement = parse_statement(path.stem, path, path.read_text(encoding="utf-8"))
            with self._transaction() as connection:
                connection.execute(statement.clause())
                self._run(
                    connection,
                    "record_migration",
                    version=version,
                    applied_at=iso(datetime.now(UTC)),
                )
            applied_now.append(version)
        return applied_now

    def watermark(self) -> datetime | None:
        """Where the last successful run's window ended (None before the first success)."""
        with self._transaction() as connection:
            row = self._run(connection, "last_successful_run").first()
        return datetime.fromisoformat(row.window_until) if row else None

    def last_success(self) -> datetime | None:
        """When the last successful run finished (for monitoring)."""
        with self._transaction() as connection:
            row = self._run(connection, "last_successful_run").first()
        return datetime.fromisoformat(row.finished_at) if row else None

    def reported(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Which of these (issuer, serial) keys were reported already, with the run that did."""
        wanted = set(keys)
        serials = sorted({serial for _, serial in wanted})
        found: dict[tuple[str, str], str] = {}
        with self._transaction() as connection:
            for start in range(0, len(serials), LOOKUP_BATCH):
                batch = serials[start : start + LOOKUP_BATCH]
                for row in self._run(connection, "reported_cases_by_serial", serials=batch):
                    key = (row.issuer, row.serial)
                    if key in wanted:
                        found[key] = row.run_id
        return found

    def record_success(self, run: RunRecord, cases: Sequence[ReportedCase]) -> None:
        """The run and every case it mailed, in one transaction (after the server accepted)."""
        reported_at = iso(run.finished_at)
        rows = [
            {
                "issuer": issuer,
                "serial": serial,
                "run_id": run.run_id,
                "revoked_at": iso(revoked_at),
                "reported_at": reported_at,
            }
            for issuer, serial, revoked_at in cases
        ]
        with self._transaction() as connection:
            self._insert_run(connection, run)
            if rows:
                connection.execute(self.statements["insert_reported_case"].clause(), rows)

    def known_runs(self, run_ids: Iterable[str]) -> set[str]:
        """Which of these runs the ledger has recorded, whatever their outcome."""
        wanted = sorted(set(run_ids))
        known: set[str] = set()
        with self._transaction() as connection:
            for start in range(0, len(wanted), LOOKUP_BATCH):
                batch = wanted[start : start + LOOKUP_BATCH]
                known.update(self._run(connection, "known_runs", run_ids=batch).scalars())
        return known

    def recorded_message(self, message_id: str) -> list[str]:
        """The successful runs that recorded the message `message_id` (its cases reported)."""
        with self._transaction() as connection:
            found = self._run(connection, "successful_runs_by_message_id", message_id=message_id)
            return sorted(found.scalars())

    def record_failure(self, run: RunRecord) -> None:
        """Only the failed run's own record: the watermark and reported cases stay as they were."""
        with self._transaction() as connection:
            self._insert_run(connection, run)

    def _insert_run(self, connection: Connection, run: RunRecord) -> None:
        self._run(
            connection,
            "insert_run",
            run_id=run.run_id,
            started_at=iso(run.started_at),
            finished_at=iso(run.finished_at),
            window_since=iso(run.window_since),
            window_until=iso(run.window_until),
            threshold_seconds=run.threshold_seconds,
            cases_found=run.cases_found,
            cases_new=run.cases_new,
            outcome=run.outcome,
            error=run.error,
            message_id=run.message_id,
            source=run.source,
            refused=run.refused,
        )

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._transaction() as connection:
            return [dict(row._mapping) for row in self._run(connection, "recent_runs", limit=limit)]

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the job's lock for one run; raise LockHeldError at once if another run has it.

        PostgreSQL: a session advisory lock on a connection held for the run. SQLite: an
        exclusive `flock` on a file beside the database (both freed if the process dies).
        """
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(b"revwatch.run").digest()[:8], "big", signed=True)
            try:
                connection = self.engine.connect()
            except SQLAlchemyError as exc:
                raise StateError(f"state database {self.label}: {describe_error(exc)}") from None
            try:
                locked = self._run(connection, "try_advisory_lock", key=key).scalar()
                connection.commit()
                if not locked:
                    raise LockHeldError(f"another revwatch run holds the lock on {self.label}")
                yield
            finally:
                connection.close()
            return
        path = Path(str(self.url.database) + ".lock")
        handle: IO[str] = path.open("a")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeldError(f"another revwatch run holds the lock {path}") from None
            yield
        finally:
            handle.close()

    def close(self) -> None:
        self.engine.dispose()
