"""The generic schema's tables in a database we own: created from `sql/schema/`, rows inserted.

Owns writing issuance and revocation rows into a demo or test database (SQLite, PostgreSQL,
MySQL/MariaDB), with each dialect's spelling of a timestamp. The DDL and the INSERT statements
live in `sql/schema/generic.<dialect>.sql` and `sql/demo/`; none is spelled here. It is never
pointed at a CA's own database: revwatch only reads those, through `jobs.source.database`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy
import sqlalchemy.exc

from jobs.core.errors import SourceError
from jobs.db import queries
from jobs.source.profiles.base import CANDIDATE_COLUMNS

# The generic schema's issuance columns are the candidates' columns of every profile.
ISSUANCE_COLUMNS = CANDIDATE_COLUMNS
REVOCATION_COLUMNS = ("issuer_dn", "serial", "revoked_at", "reason_code", "revoked_by", "comment")
# The statements of `sql/demo/`, each binding exactly its table's columns above.
STATEMENTS = ("insert_issuance", "insert_revocation")


def dialect_of(engine: sqlalchemy.Engine) -> str:
    return {"mariadb": "mysql"}.get(engine.dialect.name, engine.dialect.name)


def ddl_statements(dialect: str) -> list[str]:
    """The statements of `sql/schema/generic.<dialect>.sql`."""
    return queries.script("schema", "generic", dialect)


def to_db(value: Any, dialect: str) -> Any:
    """Timestamps as each dialect's generic schema stores them; everything else unchanged."""
    if not isinstance(value, datetime):
        return value
    value = value.astimezone(UTC)
    if dialect == "sqlite":
        return value.isoformat(sep=" ", timespec="microseconds")
    if dialect == "mysql":  # DATETIME(6) has no zone: naive UTC
        return value.replace(tzinfo=None)
    return value


def insert(
    connection: sqlalchemy.Connection,
    issuance: Sequence[Mapping[str, Any]] = (),
    revocation: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Insert rows (dicts keyed by the schema's column names; datetimes aware)."""
    dialect = dialect_of(connection.engine)
    statements = queries.load("demo", dialect).declare(*STATEMENTS)
    for name, columns, rows in (
        ("insert_issuance", ISSUANCE_COLUMNS, issuance),
        ("insert_revocation", REVOCATION_COLUMNS, revocation),
    ):
        if not rows:
            continue
        connection.execute(
            statements[name].clause(),
            [{c: to_db(row[c], dialect) for c in columns} for row in rows],
        )


def create_and_insert(
    engine: sqlalchemy.Engine,
    issuance: Sequence[Mapping[str, Any]] = (),
    revocation: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Create the generic tables and insert the rows, in one transaction."""
    try:
        with engine.begin() as connection:
            for statement in ddl_statements(dialect_of(engine)):
                connection.exec_driver_sql(statement)
            insert(connection, issuance, revocation)
    except sqlalchemy.exc.SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        lines = str(exc).strip().splitlines()
        raise SourceError(
            f"loading rows into {where} failed: {lines[0] if lines else exc}"
        ) from exc
