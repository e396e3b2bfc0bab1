"""EXPLAIN helpers shared by the plan tests (tests/test_source.py) and bench/plans.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, text

from jobs.db import queries


def explain(
    connection: Connection, profile: str, name: str, params: dict[str, Any], analyze: bool = False
) -> Any:
    """EXPLAIN one of a profile's statements with real parameters (JSON on PostgreSQL);
    `analyze`: run it too, on PostgreSQL only (counts and the execution time, no per-node
    timing, whose clock reads would inflate a statement of many small loops)."""
    dialect = connection.dialect.name
    statement = queries.load(f"profiles/{profile}", dialect)[name]
    if dialect == "postgresql":
        prefix = f"EXPLAIN ({'ANALYZE, TIMING OFF, ' if analyze else ''}FORMAT JSON) "
    else:
        prefix = "EXPLAIN "
    clause = text(prefix + statement.sql)
    if statement.list_params:
        clause = clause.bindparams(*(bindparam(p, expanding=True) for p in statement.list_params))
    rows = connection.execute(clause, params).mappings().all()
    return rows[0]["QUERY PLAN"] if dialect == "postgresql" else [dict(r) for r in rows]


def pg_nodes(plan: Any) -> Iterator[dict[str, Any]]:
    stack = [plan[0]["Plan"]] if isinstance(plan, list) else [plan["Plan"]]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("Plans", []))
