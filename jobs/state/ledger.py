"""[6] The job's own ledger: runs, reported cases, the watermark and the run lock.

Owns the state database (a SQLite file by default, or PostgreSQL); its schema and migrations are
`jobs.state.schema`'s.

The invariant kept here: **a case is reported once a successful run (or a backfill) recorded it,
and a run is a success only after the mail server accepted its message; a failed run leaves only
its own failed-run record.** A nightly run writes itself in two steps around the mail: before
sending it *stages* its record (outcome `sending`) and its cases in one transaction, which proves
everything the ledger write needs (the ledger is writable, its schema current, every key fits, the
disk has room); after the server accepted, it *settles* the run as `success`, one row, so the
watermark (the end of the last successful run's window) and the reported cases never disagree. A
run settled `failed` drops the cases it staged. Cases are keyed by `ledger_key` (a digest of
issuer and serial), so a serial of any length fits. The issuance watch's suspicious issuances are
staged, settled and dropped with the cases of the same run, in a table of their own (a certificate
reported as a suspicious issuance and revoked early later is still a case).
It must not read the CA database, render or send anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from jobs.core.atomic import open_lock_file
from jobs.core.errors import LockHeldError, StateError
from jobs.core.model import ledger_key
from jobs.core.settings import redact_url
from jobs.db import queries
from jobs.db.engines import describe_error, state_engine
from jobs.db.queries import QuerySet
from jobs.state import schema

# A reported case: issuer, serial and the revocation time the report gave.
ReportedCase = tuple[str, str, datetime]
# A reported suspicious issuance: issuer, serial and its issuance time (None: unknown).
ReportedIssuance = tuple[str, str, datetime | None]
# Keys per lookup: far below SQLite's and PostgreSQL's bound-parameter limits.
LOOKUP_BATCH = 900
SENDING = "sending"

# Every statement the ledger runs, loaded and checked when it opens (the migrations' own are
# `jobs.state.schema`'s, read from sql/state/migrations/).
STATEMENTS = (
    "create_migrations_table", "applied_migrations", "record_migration",
    "migrations_table_exists", "ledger_identity", "insert_run", "insert_reported_case",
    "settle_run", "delete_run_cases", "run_outcomes", "runs_in_progress", "last_successful_run",
    "recent_runs", "reported_cases_by_key", "successful_runs_by_message_id",
    "insert_reported_issuance", "reported_issuances_by_key", "delete_run_issuances",
)  # fmt: skip
POSTGRESQL_STATEMENTS = ("try_advisory_lock", "migration_lock")


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
    """The state database; create with `Ledger.open(url)` (or `open_read_only`)."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self.label = redact_url(url)
        dialect = engine.dialect.name
        extra = POSTGRESQL_STATEMENTS if dialect == "postgresql" else ()
        self.statements: QuerySet = queries.load("state", dialect).declare(*STATEMENTS, *extra)
        self._identity: str | None = None

    @classmethod
    def open(cls, url: URL, engine: Engine | None = None) -> Ledger:
        """The ledger at `url`, created or migrated to the current schema as needed."""
        ledger = cls(engine if engine is not None else state_engine(url), url)
        try:
            ledger.migrate()
        except BaseException:
            ledger.close()
            raise
        return ledger

    @classmethod
    def open_read_only(cls, url: URL, *, require_current: bool = True) -> Ledger | None:
        """The ledger as it is, for commands that only look: nothing is created and no migration
        applied. None where there is no ledger yet (no SQLite file, or no ledger tables): nothing
        was reported. A ledger that cannot be reached is a StateError, and so is one whose schema
        is behind when `require_current` (its cases could not be read)."""
        if url.get_backend_name() == "sqlite" and (
            not url.database or not Path(url.database).is_file()
        ):
            return None
        ledger = cls(state_engine(url, read_only=True), url)
        try:
            with ledger._transaction() as connection:
                present = bool(ledger._run(connection, "migrations_table_exists").scalar())
                if present and require_current:
                    schema.check_current(connection, ledger.statements)
        except BaseException:
            ledger.close()
            raise
        if not present:
            ledger.close()
            return None
        return ledger

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
        """Apply the migrations not applied yet, under the migration lock; their versions."""
        with self._transaction() as connection:
            return schema.migrate(
                connection, self.statements, self.engine.dialect.name,
                applied_at=iso(datetime.now(UTC)),
            )  # fmt: skip

    @property
    def identity(self) -> str:
        """This ledger's identity, made by its first migration: outbox entries carry it."""
        if self._identity is None:
            with self._transaction() as connection:
                self._identity = str(self._run(connection, "ledger_identity").scalar_one())
        return self._identity

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
        return self._lookup(keys, "reported_cases_by_key", "case_keys", "case_key")

    def reported_issuances(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Which of these (issuer, serial) keys were reported as suspicious issuances already."""
        return self._lookup(keys, "reported_issuances_by_key", "issuance_keys", "issuance_key")

    def _lookup(
        self, keys: Iterable[tuple[str, str]], statement: str, param: str, column: str
    ) -> dict[tuple[str, str], str]:
        by_key = {ledger_key(issuer, serial): (issuer, serial) for issuer, serial in set(keys)}
        wanted = sorted(by_key)
        found: dict[tuple[str, str], str] = {}
        with self._transaction() as connection:
            for start in range(0, len(wanted), LOOKUP_BATCH):
                batch = wanted[start : start + LOOKUP_BATCH]
                for row in self._run(connection, statement, **{param: batch}):
                    found[by_key[getattr(row, column).strip()]] = row.run_id
        return found

    def stage(
        self,
        run: RunRecord,
        cases: Sequence[ReportedCase],
        issuances: Sequence[ReportedIssuance] = (),
    ) -> None:
        """Before the mail: the run (outcome `sending`) and every case and suspicious issuance it
        carries, in one transaction; a StateError here means nothing may be sent."""
        if run.outcome != SENDING:
            raise ValueError(f"a staged run is {SENDING!r}, not {run.outcome!r}")
        self._write(run, cases, issuances)

    def settle(
        self,
        run_id: str,
        outcome: str,
        *,
        finished_at: datetime,
        error: str | None = None,
        refused: str | None = None,
    ) -> bool:
        """A staged run becomes `success` (its cases reported) or `failed` (its cases dropped), in
        one transaction; False if no run `run_id` was `sending`."""
        with self._transaction() as connection:
            if outcome != "success":
                self._run(connection, "delete_run_cases", run_id=run_id)
                self._run(connection, "delete_run_issuances", run_id=run_id)
            settled = self._run(
                connection, "settle_run", run_id=run_id, outcome=outcome,
                finished_at=iso(finished_at), error=error, refused=refused,
            ).rowcount  # fmt: skip
        return bool(settled)

    def record_success(self, run: RunRecord, cases: Sequence[ReportedCase]) -> None:
        """A run and its cases at once, for what needs no mail first (a backfill's marking)."""
        self._write(run, cases)

    def _write(
        self,
        run: RunRecord,
        cases: Sequence[ReportedCase],
        issuances: Sequence[ReportedIssuance] = (),
    ) -> None:
        reported_at = iso(run.finished_at)
        rows = [
            {
                "case_key": ledger_key(issuer, serial),
                "issuer": issuer,
                "serial": serial,
                "run_id": run.run_id,
                "revoked_at": iso(revoked_at),
                "reported_at": reported_at,
            }
            for issuer, serial, revoked_at in cases
        ]
        watched = [
            {
                "issuance_key": ledger_key(issuer, serial),
                "issuer": issuer,
                "serial": serial,
                "run_id": run.run_id,
                "issued_at": iso(issued_at) if issued_at is not None else None,
                "reported_at": reported_at,
            }
            for issuer, serial, issued_at in issuances
        ]
        with self._transaction() as connection:
            self._insert_run(connection, run)
            if rows:
                connection.execute(self.statements["insert_reported_case"].clause(), rows)
            if watched:
                statement = self.statements["insert_reported_issuance"].clause()
                connection.execute(statement, watched)

    def record_failure(self, run: RunRecord) -> None:
        """The failed run's own record (settling it if it was staged, dropping its cases); the
        watermark and reported cases stay as they were."""
        with self._transaction() as connection:
            self._run(connection, "delete_run_cases", run_id=run.run_id)
            self._run(connection, "delete_run_issuances", run_id=run.run_id)
            settled = self._run(
                connection, "settle_run", run_id=run.run_id, outcome=run.outcome,
                finished_at=iso(run.finished_at), error=run.error, refused=run.refused,
            ).rowcount  # fmt: skip
            if not settled:
                self._insert_run(connection, run)

    def run_outcomes(self, run_ids: Iterable[str]) -> dict[str, str]:
        """The outcome of each of these runs that the ledger has recorded."""
        wanted = sorted(set(run_ids))
        outcomes: dict[str, str] = {}
        with self._transaction() as connection:
            for start in range(0, len(wanted), LOOKUP_BATCH):
                batch = wanted[start : start + LOOKUP_BATCH]
                for row in self._run(connection, "run_outcomes", run_ids=batch):
                    outcomes[row.run_id] = row.outcome
        return outcomes

    def runs_in_progress(self) -> list[tuple[str, str | None]]:
        """(run id, Message-ID) of every run staged and never settled (it was interrupted)."""
        with self._transaction() as connection:
            return [(r.run_id, r.message_id) for r in self._run(connection, "runs_in_progress")]

    def recorded_message(self, message_id: str) -> list[str]:
        """The successful runs that recorded the message `message_id` (its cases reported)."""
        with self._transaction() as connection:
            found = self._run(connection, "successful_runs_by_message_id", message_id=message_id)
            return sorted(found.scalars())

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
        exclusive `flock` on a file beside the database, created 0600 (both freed if the process
        dies). A lock file that cannot be written is locked read-only: the ledger's own write then
        reports the real problem, before anything is mailed.
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
        try:
            handle = open_lock_file(path)
        except OSError as exc:
            raise StateError(f"cannot open the lock file {path}: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeldError(f"another revwatch run holds the lock {path}") from None
            yield
        finally:
            os.close(handle)

    def close(self) -> None:
        self.engine.dispose()
