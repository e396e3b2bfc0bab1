"""The machine's real PostgreSQL and MariaDB servers, as the tests reach them.

Owns the admin URLs (`TEST_PG_URL`, `TEST_MARIADB_URL`), the rule for a server that does not
answer (skip on a developer's machine, FAIL under CI=true: CI must never pass by silently skipping
the real components) and the throwaway databases the fixtures in `tests/conftest.py` hand out.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

PG_ADMIN = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_ADMIN = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {str(exc).splitlines()[0]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: real servers are required)", pytrace=False)
    pytest.skip(message)


def throwaway_database(admin_url: str, what: str) -> Iterator[URL]:
    """A new database on the server at `admin_url`, dropped when the generator is closed."""
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


def fresh_schema_engine(url: URL) -> Engine:
    """An engine on `url` after dropping the generic tables, so each test loads its own rows."""
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in ("revocation", "issuance"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    return engine
