"""SQLAlchemy engines for the two databases the job talks to.

Owns how a URL becomes an engine: the driver chosen for each dialect, the CA database opened
read-only (PostgreSQL `default_transaction_read_only`, MySQL `SET SESSION TRANSACTION READ ONLY`,
SQLite `mode=ro` plus `query_only`), every session in UTC, PostgreSQL's server-side cursors
named after the statement they stream, and connection failures turned into one-line errors. The
CA sessions' set-up statements are read from `sql/session/`, not spelled here. A SQLite ledger
is created 0600 and each of its transactions holds the write lock from the start (`BEGIN
IMMEDIATE`), DDL included. It must not run the job's queries.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from jobs.core.atomic import create_private
from jobs.core.errors import ConfigError, StateError
from jobs.core.model import ledger_key
from jobs.core.settings import redact_url
from jobs.db import queries

_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}
SUPPORTED = ("postgresql", "mysql", "sqlite")


def _with_driver(url: URL) -> URL:
    backend = url.get_backend_name()
    if backend not in SUPPORTED and backend != "mariadb":
        raise ConfigError(
            f"unsupported database {redact_url(url)!r}: use postgresql://, mysql:// or sqlite:///"
        )
    if "+" not in url.drivername:
        return url.set(drivername=_DRIVERS.get(backend, url.drivername))
    return url


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise ConfigError("a SQLite database must be a file: sqlite:///path/to/file.sqlite")
    return Path(url.database)


# The session set-up statements of each dialect (`sql/session/<name>.<dialect>.sql`). PostgreSQL
# has none: it takes the same settings as startup options, in force before the first statement.
SESSION: dict[str, tuple[str, ...]] = {
    "sqlite": ("read_only", "begin_write"),
    "mysql": ("read_only", "utc"),
}


def session_sql(dialect: str, name: str) -> str:
    """The text of one session set-up statement; every one of the dialect's is checked now."""
    return queries.load("session", dialect).declare(*SESSION[dialect])[name].sql


def _lenient_time_loaders(dbapi_connection: Any, _record: Any) -> None:
    """PostgreSQL times Python cannot hold (`infinity`, `-infinity`, BC dates, year 10000+) come
    back as their text instead of failing the whole query: the source names them per record."""
    for name, loader in zip(("timestamptz", "timestamp"), _lenient_loaders(), strict=True):
        dbapi_connection.adapters.register_loader(name, loader)


@cache
def _lenient_loaders() -> tuple[type[Any], type[Any]]:
    """The loaders, made on the first PostgreSQL connection: psycopg loads only when a
    PostgreSQL database is used (a SQLite night or `status` never imports it).

    Being Python, they replace psycopg's C loaders; psycopg's Python parsing (a regular
    expression) cost ~25 us a value, most of a 30-day window's fetch. The server's ISO output in
    our UTC sessions (`2024-11-02 13:45:12.5+00`) is read by `datetime.fromisoformat` (C, aware
    UTC); anything else (another DateStyle, BC, infinity, year 10000) by psycopg's own loader,
    and what that cannot hold is handed on as its text."""
    import psycopg
    from psycopg.abc import Buffer
    from psycopg.types.datetime import TimestampLoader, TimestamptzLoader

    class LenientTimestamptz(TimestamptzLoader):
        def load(self, data: Buffer) -> datetime | str:  # type: ignore[override]
            try:
                return datetime.fromisoformat(bytes(data).decode("ascii"))
            except ValueError:
                pass
            try:
                return super().load(data)
            except psycopg.DataError:
                return bytes(data).decode("utf-8", "replace")

    class LenientTimestamp(TimestampLoader):
        def load(self, data: Buffer) -> datetime | str:  # type: ignore[override]
            try:
                parsed = datetime.fromisoformat(bytes(data).decode("ascii"))
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:  # a timestamp without time zone has no offset
                    return parsed
            try:
                return super().load(data)
            except psycopg.DataError:
                return bytes(data).decode("utf-8", "replace")

    return LenientTimestamptz, LenientTimestamp


@cache
def _named_cursor_context() -> type[Any]:
    """PostgreSQL's execution context with server-side cursors named after the statement they
    stream (the `cursor_name` execution option): a streamed statement runs at each `FETCH`, and
    the CA's DBAs (and the tests that stop our queries) see `FETCH FORWARD 2000 FROM
    "revwatch_early_revocations_1"` in pg_stat_activity, not an anonymous `c_7f3a..._1`."""
    from sqlalchemy.dialects.postgresql.psycopg import PGExecutionContext_psycopg

    numbers = itertools.count(1)

    class NamedCursors(PGExecutionContext_psycopg):
        def create_server_side_cursor(self) -> Any:
            name = self.execution_options.get("cursor_name")
            if not name:
                return super().create_server_side_cursor()  # type: ignore[no-untyped-call]
            return self._dbapi_connection.cursor(f"revwatch_{name}_{next(numbers)}")

    return NamedCursors


def ca_engine(url: URL) -> Engine:
    """A read-only engine on the CA database; the job can only SELECT through it."""
    url = _with_driver(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(url)
        if not path.is_file():
            raise ConfigError(f"no CA database file {path}")
        uri = f"file:{path.resolve()}?mode=ro"
        query_only = session_sql("sqlite", "read_only")

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            connection.execute(query_only)
            return connection

        return _create("sqlite://", creator=connect, poolclass=NullPool)
    if backend == "postgresql":
        # jit=off: the job's statements are index look-ups over thousands of rows, where
        # PostgreSQL's JIT compilation (on by default, triggered by cost estimates that a big
        # table inflates) cost 4.3 s of the watch history's 6.7 s at 10M certificates.
        options = "-c default_transaction_read_only=on -c TimeZone=UTC -c jit=off"
        # application_name lets the CA's DBAs see (and, if need be, stop) our sessions.
        connect_args = {"options": options, "application_name": "revwatch"}
        engine = _create(url, connect_args=connect_args, pool_pre_ping=True)
        event.listen(engine, "connect", _lenient_time_loaders)
        engine.dialect.execution_ctx_cls = _named_cursor_context()
        return engine
    # Read before the engine exists, so that a missing or malformed file fails at start.
    read_only = session_sql("mysql", "read_only")
    engine = _create(url, connect_args={"init_command": session_sql("mysql", "utc")})

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(read_only)

    return engine


def _ledger_connection(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling commits DDL on the spot, outside the migration's
    # transaction; with it off, SQLAlchemy's "begin" event opens each transaction instead.
    dbapi_connection.isolation_level = None
    dbapi_connection.create_function("revwatch_case_key", 2, ledger_key, deterministic=True)


def state_engine(url: URL, *, read_only: bool = False) -> Engine:
    """An engine on the job's own ledger (SQLite file or PostgreSQL).

    `read_only` is for commands that only look (`status`, a dry run): nothing is created, not
    even the SQLite file's directory, and the session cannot write (SQLite `mode=ro`,
    PostgreSQL `default_transaction_read_only`)."""
    url = _with_driver(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(url)
        if read_only:
            if not path.is_file():
                raise ConfigError(f"no ledger at {path}")
            uri = f"file:{path.resolve()}?mode=ro"
            return _create(
                "sqlite://",
                creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
                poolclass=NullPool,
            )
        try:
            # Which certificates were reported is for the job's user alone; SQLite gives its
            # journal the database file's mode.
            create_private(path)
        except OSError as exc:
            raise StateError(f"cannot create the ledger {path}: {exc.strerror}") from None
        begin = session_sql("sqlite", "begin_write")
        engine = _create(url, poolclass=NullPool)
        event.listen(engine, "connect", _ledger_connection)
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql(begin))
        return engine
    if backend == "postgresql":
        options = "-c TimeZone=UTC" + (" -c default_transaction_read_only=on" if read_only else "")
        connect_args = {"options": options, "application_name": "revwatch-ledger"}
        return _create(url, connect_args=connect_args, poolclass=NullPool)
    raise ConfigError(
        f"unsupported ledger {redact_url(url)!r}: the state database is SQLite or PostgreSQL"
    )


def _create(url: URL | str, **kwargs: Any) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"bad database URL {redact_url(url)!r}: {exc}") from None


# A table or column the statement names is not there: PostgreSQL's SQLSTATEs, MySQL/MariaDB's
# error numbers, SQLite's messages (it has no codes for these).
_MISSING_SQLSTATES = ("42P01", "42703")  # undefined_table, undefined_column
_MISSING_MYSQL_ERRORS = (1146, 1054)  # ER_NO_SUCH_TABLE, ER_BAD_FIELD_ERROR
_MISSING_SQLITE_MESSAGES = ("no such table", "no such column")


def missing_table_or_column(exc: SQLAlchemyError) -> bool:
    """Whether a driver error says a table or column the statement reads does not exist."""
    original = getattr(exc, "orig", None)
    if getattr(original, "sqlstate", None) in _MISSING_SQLSTATES:
        return True
    if isinstance(original, sqlite3.Error):
        return str(original).startswith(_MISSING_SQLITE_MESSAGES)
    args: tuple[Any, ...] = getattr(original, "args", ())
    from_pymysql = type(original).__module__.startswith("pymysql")
    return from_pymysql and bool(args) and args[0] in _MISSING_MYSQL_ERRORS


def describe_error(exc: SQLAlchemyError) -> str:
    """The first line of a driver error, without SQLAlchemy's statement dump or background link."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
