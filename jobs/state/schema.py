"""[6] The ledger's schema: versioned migrations, each applied once, and the version check.

Owns `sql/state/migrations/`. A migration is one or more files `NNNN[step]_name[.dialect].sql`
(one statement each): the files of one version run in name order, in one transaction with the
version's record in `revwatch_schema_migrations`; a file with a dialect suffix runs on that dialect
alone. First runs started at once apply each migration once: on PostgreSQL the transaction takes an
advisory lock first, on SQLite it holds the write lock from its start (`BEGIN IMMEDIATE`, see
`jobs.db.engines`). A ledger that a newer revwatch migrated is refused, and so is one that a
read-only command (a dry run) finds behind, since it cannot migrate it.
It must not read or write runs or cases.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import Connection

from jobs.core.errors import ConfigError, StateError
from jobs.core.resources import sql_dir
from jobs.db.queries import QuerySet, Statement, parse_statement

_FILE = re.compile(r"^(\d{4})([a-z]?)_\w+?(?:\.(postgresql|sqlite))?\.sql$")
# Not the run lock's key: a run holding its lock must not keep another process from migrating.
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"revwatch.migrate").digest()[:8], "big", signed=True
)


@dataclass(frozen=True)
class Migration:
    """One schema version: its statements for one dialect, in order."""

    version: int
    statements: tuple[Statement, ...]


def _directory() -> Path:
    return sql_dir() / "state" / "migrations"


@cache
def _files() -> tuple[tuple[int, str | None, Path], ...]:
    found = []
    for path in sorted(_directory().glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise ConfigError(f"{path}: expected NNNN[step]_name.sql or …_name.DIALECT.sql")
        found.append((int(match.group(1)), match.group(3), path))
    return tuple(found)


@cache
def migrations(dialect: str) -> tuple[Migration, ...]:
    """Every migration for `dialect`, oldest first, each statement checked now."""
    by_version: dict[int, list[Statement]] = {}
    for version, only_for, path in _files():
        statements = by_version.setdefault(version, [])
        if only_for in (None, dialect):
            statements.append(parse_statement(path.stem, path, path.read_text(encoding="utf-8")))
    return tuple(Migration(v, tuple(s)) for v, s in sorted(by_version.items()))


def latest_version() -> int:
    """The schema version this revwatch writes."""
    return max(version for version, _, _ in _files())


def _applied(connection: Connection, statements: QuerySet) -> set[int]:
    rows = connection.execute(statements["applied_migrations"].clause())
    applied = {int(row.version) for row in rows}
    if applied and max(applied) > latest_version():
        raise StateError(
            f"the ledger's schema is at version {max(applied)}, newer than this revwatch knows "
            f"({latest_version()}): it was migrated by a newer revwatch; run that one"
        )
    return applied


def migrate(
    connection: Connection, statements: QuerySet, dialect: str, *, applied_at: str
) -> list[int]:
    """Apply, in the caller's transaction, every migration not applied yet; their versions."""
    if dialect == "postgresql":
        connection.execute(statements["migration_lock"].clause(), {"key": MIGRATION_LOCK_KEY})
    connection.execute(statements["create_migrations_table"].clause())
    applied = _applied(connection, statements)
    # Values a migration may bind (`-- Params:`): the ledger's identity is made once, here.
    values = {"ledger_id": secrets.token_hex(16), "now": applied_at}
    applied_now = []
    for migration in migrations(dialect):
        if migration.version in applied:
            continue
        for statement in migration.statements:
            connection.execute(statement.clause(), {p: values[p] for p in statement.params})
        connection.execute(
            statements["record_migration"].clause(),
            {"version": migration.version, "applied_at": applied_at},
        )
        applied_now.append(migration.version)
    return applied_now


def check_current(connection: Connection, statements: QuerySet) -> None:
    """StateError unless the ledger's schema is the one this revwatch writes (read-only use)."""
    applied = _applied(connection, statements)
    missing = sorted(set(range(1, latest_version() + 1)) - applied)
    if missing:
        raise StateError(
            f"the ledger's schema lacks migration(s) {', '.join(map(str, missing))}: the next "
            "`revwatch run` applies them (a dry run changes nothing); or use --ignore-ledger"
        )
