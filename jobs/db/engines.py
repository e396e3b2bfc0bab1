"""SQLAlchemy engines for the two databases the job talks to.

Owns how a URL becomes an engine: the driver chosen for each dialect, the CA database opened
read-only (PostgreSQL `default_transaction_read_only`, MySQL `SET SESSION TRANSACTION READ ONLY`,
SQLite `mode=ro` plus `query_only`), every session in UTC, and connection failures turned into
one-line errors. It must not run the job's queries.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from jobs.core.errors import ConfigError
from jobs.core.settings import redact_url

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


def ca_engine(url: URL) -> Engine:
    """A read-only engine on the CA database; the job can only SELECT through it."""
    url = _with_driver(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(url)
        if not path.is_file():
            raise ConfigError(f"no CA database file {path}")
        uri = f"file:{path.resolve()}?mode=ro"

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
            connection.execute("PRAGMA query_only = ON")
            return connection

        return _create("sqlite://", creator=connect, poolclass=NullPool)
    if backend == "postgresql":
        options = "-c default_transaction_read_only=on -c TimeZone=UTC"
        # application_name lets the CA's DBAs see (and, if need be, stop) our sessions.
        connect_args = {"options": options, "application_name": "revwatch"}
        return _create(url, connect_args=connect_args, pool_pre_ping=True)
    engine = _create(url, connect_args={"init_command": "SET time_zone = '+00:00'"})

    @event.listens_for(engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")

    return engine


def state_engine(url: URL) -> Engine:
    """A read-write engine on the job's own ledger (SQLite file or PostgreSQL)."""
    url = _with_driver(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(url)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the state directory {path.parent}: {exc}") from None
        return _create(url, poolclass=NullPool)
    if backend == "postgresql":
        connect_args = {"options": "-c TimeZone=UTC", "application_name": "revwatch-ledger"}
        return _create(url, connect_args=connect_args, poolclass=NullPool)
    return _create(url, poolclass=NullPool, connect_args={"init_command": "SET time_zone='+00:00'"})


def _create(url: URL | str, **kwargs: Any) -> Engine:
    try:
        return create_engine(url, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"bad database URL {redact_url(url)!r}: {exc}") from None


def describe_error(exc: SQLAlchemyError) -> str:
    """The first line of a driver error, without SQLAlchemy's statement dump or background link."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__
