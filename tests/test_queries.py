"""The SQL files: every statement parses, declares exactly the parameters it uses, and each
profile has what the job needs for every dialect."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.core.errors import ConfigError
from jobs.core.resources import sql_dir
from jobs.db import queries
from jobs.db.queries import QuerySet, parse_statement
from jobs.source.database import STATEMENTS


@pytest.mark.parametrize("dialect", queries.DIALECTS)
def test_generic_profile_has_every_statement(dialect: str) -> None:
    statements = QuerySet(sql_dir() / "profiles" / "generic", dialect)
    statements.require(*STATEMENTS)
    assert statements["early_revocations"].params == ("since", "threshold_seconds", "until")
    assert statements["replacement_candidates"].list_params == ("subscribers",)


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_state_statements_load(dialect: str) -> None:
    statements = QuerySet(sql_dir() / "state", dialect)
    assert "insert_run" in statements.names()
    assert statements["reported_cases_by_serial"].list_params == ("serials",)


def test_every_sql_file_has_a_header_and_one_statement() -> None:
    files = list(sql_dir().rglob("*.sql"))
    assert len(files) >= 15
    for path in files:
        if "schema" in path.parts:
            continue  # DDL scripts for the demo and the tests, run as scripts
        parse_statement(path.stem, path, path.read_text())


def test_dialect_variant_wins(tmp_path: Path) -> None:
    (tmp_path / "x.sql").write_text("-- Returns: one\n-- Params:\nSELECT 1\n")
    (tmp_path / "x.sqlite.sql").write_text("-- Returns: two\n-- Params:\nSELECT 2\n")
    assert QuerySet(tmp_path, "sqlite")["x"].sql == "SELECT 2"
    assert QuerySet(tmp_path, "postgresql")["x"].sql == "SELECT 1"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("-- Params: a\nSELECT :a\n", "Returns"),
        ("-- Returns: x\n-- Params: a\nSELECT :a, :b\n", r"declared parameters \['a'\]"),
        ("-- Returns: x\n-- Params: a, b\nSELECT :a\n", r"uses \['a'\]$"),
        ("-- Returns: x\n-- Params:\nSELECT 1; SELECT 2\n", "one statement per file"),
    ],
)
def test_bad_files_fail_at_load(tmp_path: Path, source: str, message: str) -> None:
    path = tmp_path / "bad.sql"
    path.write_text(source)
    with pytest.raises(ConfigError, match=message) as info:
        parse_statement("bad", path, source)
    assert str(path) in str(info.value)


def test_casts_and_strings_are_not_parameters(tmp_path: Path) -> None:
    source = "-- Returns: x\n-- Params: a\nSELECT :a::int, '10:30' AS t, x::text FROM y\n"
    assert parse_statement("ok", tmp_path / "ok.sql", source).params == ("a",)


def test_missing_statement_names_directory_and_dialect(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no statement 'nope' for dialect sqlite"):
        QuerySet(tmp_path, "sqlite")["nope"]
