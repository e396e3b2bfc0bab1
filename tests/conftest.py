"""Shared fixtures: throwaway databases on the machine's real PostgreSQL and MariaDB servers.

Each test session creates its own database on each server and drops it at the end. A server that
does not answer skips its tests on a developer's machine and FAILS them under CI=true: CI must
never pass by silently skipping the real components.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

pytest_plugins = ["tests.smtp_server"]

PG_ADMIN = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_ADMIN = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real home (default ledger and outbox live there)."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name in [n for n in os.environ if n.startswith("REVWATCH_")]:
        monkeypatch.delenv(name)


def unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {str(exc).splitlines()[0]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: real servers are required)", pytrace=False)
    pytest.skip(message)


def _scratch_database(admin_url: str, what: str) -> Iterator[URL]:
    admin = make_url(admin_url)
    name = f"revwatch_test_{secrets.token_hex(4)}"
    options: dict[str, object] = {"isolation_level": "AUTOCOMMIT"}
    engine = create_engine(admin, **options)  # type: ignore[arg-type]
    try:
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        engine.dispose()
        unavailable(what, exc)
    try:
        yield admin.set(database=name)
    finally:
        with engine.connect() as connection:
            if admin.get_backend_name() == "postgresql":
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[URL]:
    """A database of this test session's own on the real PostgreSQL server."""
    yield from _scratch_database(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432")


@pytest.fixture(scope="session")
def mariadb_server_url() -> Iterator[URL]:
    """A database of this test session's own on the real MariaDB server."""
    yield from _scratch_database(MARIADB_ADMIN, "MariaDB at 127.0.0.1:3306")


def fresh_schema_engine(url: URL) -> Engine:
    """An engine on `url` after dropping the generic tables, so each test loads its own rows."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in ("revocation", "issuance"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    return engine


@pytest.fixture
def pg_database() -> Iterator[URL]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    yield from _scratch_database(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432")
