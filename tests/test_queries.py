"""The SQL files: every statement parses, declares exactly the parameters it uses, and each
profile has what the job needs for every dialect.

Every statement code runs is declared by its owner (a profile's `STATEMENTS`, the engines'
`SESSION`, the demo's inserts), loaded and checked when the owner opens; asking for one that was
not declared raises `UndeclaredStatement`, so any test reaching such code fails, and a static scan
of each profile's module catches the paths no test reaches.
"""

from __future__ import annotations

import ast
import inspect
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, make_url, text

from jobs.core.errors import ConfigError
from jobs.core.resources import sql_dir
from jobs.db import engines, queries
from jobs.db.queries import QuerySet, UndeclaredStatement, parse_statement
from jobs.demo import schema as generic_schema
from jobs.source.database import open_profile, profile_class
from jobs.source.profiles.base import GENERIC_STATEMENTS, Profile, ProfileOptions, available
from jobs.source.profiles.ejbca import EjbcaProfile, Schema


@pytest.mark.parametrize("dialect", queries.DIALECTS)
def test_generic_profile_has_every_statement(dialect: str) -> None:
    statements = QuerySet(sql_dir() / "profiles" / "generic", dialect)
    statements.require(*GENERIC_STATEMENTS)
    assert statements["early_revocations"].params == ("since", "threshold_seconds", "until")
    assert statements["replacement_candidates"].list_params == ("subscribers",)


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_state_statements_load(dialect: str) -> None:
    statements = QuerySet(sql_dir() / "state", dialect)
    assert "insert_run" in statements.names()
    assert statements["reported_cases_by_key"].list_params == ("case_keys",)


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


# --- declared statements: loaded at start, and nothing else may run ---

PROFILE_DIALECTS = [
    (name, dialect) for name in available() for dialect in profile_class(name).DIALECTS
]
T0 = datetime(2026, 11, 27, tzinfo=UTC)


@pytest.mark.parametrize(("name", "dialect"), PROFILE_DIALECTS)
def test_every_declared_statement_of_every_profile_loads(name: str, dialect: str) -> None:
    declared = profile_class(name).STATEMENTS
    assert len(set(declared)) == len(declared)
    profile = open_profile(name, dialect)
    assert profile.statements.names() == sorted(declared)
    for statement in declared:
        assert profile.statements[statement].returns


@pytest.mark.parametrize("name", available())
def test_every_statement_file_of_a_profile_is_declared(name: str) -> None:
    files = {path.name.split(".")[0] for path in (sql_dir() / "profiles" / name).glob("*.sql")}
    assert files == set(profile_class(name).STATEMENTS)


def spelled_statements(name: str) -> set[str]:
    """The names of profile `name`'s statement files that its class's module spells as strings."""
    kind = profile_class(name)
    files = {path.name.split(".")[0] for path in (sql_dir() / "profiles" / name).glob("*.sql")}
    tree = ast.parse(inspect.getsource(inspect.getmodule(kind)))  # type: ignore[arg-type]
    spelled = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    return spelled & files


@pytest.mark.parametrize("name", available())
def test_a_profile_module_names_only_declared_statements(name: str) -> None:
    """Static: every statement name spelled in the profile's module is in its list, so a branch
    no test reaches (an older schema, a missing optional table) cannot run an undeclared one."""
    assert spelled_statements(name) <= set(profile_class(name).STATEMENTS)


def test_a_profile_running_an_undeclared_statement_fails() -> None:
    class Forgetful(Profile):
        STATEMENTS = ("early_revocations",)

    profile = Forgetful("generic", queries.load("profiles/generic", "sqlite"), ProfileOptions())
    with (
        create_engine("sqlite://").connect() as connection,
        pytest.raises(UndeclaredStatement, match="'replacement_candidates' is not declared"),
    ):
        profile.replacement_candidates(connection, ["cust-1"], T0, T0)


def test_the_old_ejbca_list_of_seven_fails_both_checks() -> None:
    class Partial(EjbcaProfile):  # the list as it was: 7 of the 14 statements the profile runs
        STATEMENTS = (
            "schema_columns",
            "issuers",
            "revoked_window",
            "revoked_window_legacy",
            "certificate_der",
            "replacement_candidates",
            "replacement_candidates_legacy",
        )

    assert len(spelled_statements("ejbca") - set(Partial.STATEMENTS)) == 7
    profile = Partial("ejbca", queries.load("profiles/ejbca", "postgresql"), ProfileOptions())
    schema = Schema(modern=True, base64_table=True, noconflict=True, history=True, audit=True)
    with (
        create_engine("sqlite://").connect() as connection,
        pytest.raises(UndeclaredStatement, match="'request_history'"),
    ):
        profile._history(connection, schema, [{"fingerprint": "ab"}])


def test_declare_checks_every_name_now_and_leaves_the_shared_set_whole(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- Returns: one\n-- Params:\nSELECT 1\n")
    (tmp_path / "b.sql").write_text("-- Returns: two\n-- Params:\nSELECT 2\n")
    whole = QuerySet(tmp_path, "sqlite")
    with pytest.raises(ConfigError, match="no statement 'c' for dialect sqlite"):
        whole.declare("a", "c")
    view = whole.declare("a")
    assert view["a"].sql == "SELECT 1" and view.names() == ["a"]
    with pytest.raises(UndeclaredStatement, match="'b' is not declared"):
        view["b"]
    with pytest.raises(UndeclaredStatement):
        view.declare("b")
    assert whole["b"].sql == "SELECT 2"


@pytest.mark.parametrize("dialect", sorted(engines.SESSION))
def test_session_statements_load(dialect: str) -> None:
    for name in engines.SESSION[dialect]:
        assert engines.session_sql(dialect, name)
    assert engines.session_sql("sqlite", "read_only") == "PRAGMA query_only = ON"


def test_the_sqlite_ca_session_runs_its_set_up(tmp_path: Path) -> None:
    path = tmp_path / "ca.sqlite"
    sqlite3.connect(path).close()
    engine = engines.ca_engine(make_url(f"sqlite:///{path}"))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA query_only")).scalar() == 1
    finally:
        engine.dispose()


def test_the_mariadb_ca_session_runs_its_set_up(mariadb_server_url: URL) -> None:
    engine = engines.ca_engine(mariadb_server_url)
    try:
        with engine.connect() as connection:
            zone, read_only = connection.execute(
                text("SELECT @@session.time_zone, @@session.tx_read_only")
            ).one()
        assert (zone, int(read_only)) == ("+00:00", 1)
    finally:
        engine.dispose()


def test_the_postgresql_ca_session_runs_its_set_up(pg_server_url: URL) -> None:
    # Read-only and UTC are the job's promises; jit=off its measured plan choice (bench/README).
    engine = engines.ca_engine(pg_server_url)
    try:
        with engine.connect() as connection:
            settings = connection.execute(
                text(
                    "SELECT current_setting('default_transaction_read_only'), "
                    "current_setting('TimeZone'), current_setting('jit')"
                )
            ).one()
        assert tuple(settings) == ("on", "UTC", "off")
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", queries.DIALECTS)
def test_demo_inserts_bind_exactly_the_generic_columns(dialect: str) -> None:
    statements = queries.load("demo", dialect).declare(*generic_schema.STATEMENTS)
    assert set(statements["insert_issuance"].params) == set(generic_schema.ISSUANCE_COLUMNS)
    assert set(statements["insert_revocation"].params) == set(generic_schema.REVOCATION_COLUMNS)
    assert generic_schema.ddl_statements(dialect)


def test_a_missing_generic_schema_names_its_file() -> None:
    with pytest.raises(ConfigError, match="no generic schema for database dialect 'oracle'"):
        generic_schema.ddl_statements("oracle")
