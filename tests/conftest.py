"""Shared fixtures: throwaway databases on the machine's real PostgreSQL and MariaDB servers.

Each test session creates its own database on each server and drops it at the end. A server that
does not answer skips its tests on a developer's machine and FAILS them under CI=true: CI must
never pass by silently skipping the real components (`tests/support/servers.py`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from tests.support.servers import MARIADB_ADMIN, PG_ADMIN, throwaway_database

pytest_plugins = ["tests.support.smtp_server"]


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real home (default ledger and outbox live there)."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    for name in [n for n in os.environ if n.startswith("REVWATCH_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[URL]:
    """A database of this test session's own on the real PostgreSQL server."""
    yield from throwaway_database(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432")


@pytest.fixture(scope="session")
def mariadb_server_url() -> Iterator[URL]:
    """A database of this test session's own on the real MariaDB server."""
    yield from throwaway_database(MARIADB_ADMIN, "MariaDB at 127.0.0.1:3306")


@pytest.fixture
def pg_database() -> Iterator[URL]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    yield from throwaway_database(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432")
