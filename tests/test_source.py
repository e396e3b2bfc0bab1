"""The source and its profiles: what SQL cannot say, least privilege, and the query plans.

Pure pieces are checked against known values (Java's hashCode, EJBCA's SAN and audit formats,
NoConflictCertificateData's effective row). Then the job runs as a database user that may only
SELECT the CA tables, in PostgreSQL and MariaDB; and EXPLAIN shows that the nightly statements
use the schemas' own indexes on tables of a few hundred thousand rows (bench/plans.py: a million).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from jobs.core.errors import ConfigError, SourceError
from jobs.source.database import CaDatabase, open_profile
from jobs.source.profiles.base import available, decode_base64_der, from_ms
from jobs.source.profiles.ejbca import effective_row, hex_serial, san_names
from jobs.source.profiles.ejbca_audit import audit_message, is_revocation, java_string_hash
from tests.support import boulder_data, ejbca_data
from tests.support.ca_big import BIG_BASE, big_boulder, big_ejbca
from tests.support.ca_schemas import (
    audit_details,
    insert,
    java_hash,
    ms,
    run_script,
    scratch_database,
)
from tests.support.plans import explain, pg_nodes

PLAN_ROWS = 200_000


def test_java_string_hash_matches_java() -> None:
    assert java_string_hash("") == 0
    assert java_string_hash("Hello World") == -862545276
    assert java_string_hash("polygenelubricants") == -(2**31)
    dn = "CN=ManagementCA,O=EJBCA Sample,C=SE"
    assert java_string_hash(dn) == java_hash(dn)


def test_ejbca_subject_alt_name_column() -> None:
    text_value = (
        "dNSName=WWW.Example.com, iPAddress=10.0.0.1, rfc822name=a@b.example, directoryName=CN=x"
    )
    assert san_names(text_value) == "www.example.com,10.0.0.1,a@b.example"
    assert san_names(None) is None and san_names("directoryName=CN=x") is None
    assert hex_serial("4660") == "1234" and hex_serial("12ab") == "not-decimal:12ab"


def test_ejbca_audit_messages() -> None:
    assert audit_message(audit_details("Revoked certificate for username 'a'")) == (
        "Revoked certificate for username 'a'"
    )
    assert audit_message(audit_details("Revoked certificate for username 'Íñigo'")) == (
        "Revoked certificate for username 'Íñigo'"
    )
    assert is_revocation(audit_message(audit_details("Unrevoked certificate for 'a'"))) is False
    assert is_revocation(None) is None
    assert audit_message("<not xml") is None


def test_noconflict_effective_row() -> None:
    def row(i: int, status: int, reason: int, updated: int) -> dict[str, Any]:
        return {"row_id": i, "status": status, "revocation_reason": reason, "update_time": updated}

    hold, release = row(1, 40, 6, 10), row(2, 20, -1, 20)
    assert effective_row([hold, release]) is release
    permanent, bogus = row(3, 40, 1, 30), row(4, 20, -1, 40)
    assert effective_row([hold, release, permanent, bogus]) is permanent
    assert effective_row([row(5, 60, 1, 1), row(6, 20, -1, 2)])["row_id"] == 5


def test_conversions() -> None:
    assert from_ms(-1) is None and from_ms(None) is None
    assert from_ms(ms(BIG_BASE)) == BIG_BASE
    assert decode_base64_der("AAEC") == b"\x00\x01\x02"
    assert decode_base64_der("%% nope") == b"%% nope"


def test_profiles_are_the_sql_directories_and_check_their_dialect() -> None:
    assert {"generic", "ejbca", "boulder"} <= set(available())
    with pytest.raises(ConfigError, match="unknown profile 'nope'"):
        open_profile("nope", "postgresql")
    with pytest.raises(ConfigError, match="not sqlite"):
        open_profile("ejbca", "sqlite")
    with pytest.raises(ConfigError, match="not postgresql"):
        open_profile("boulder", "postgresql")
    for name, dialect in (("ejbca", "postgresql"), ("ejbca", "mysql"), ("boulder", "mysql")):
        assert open_profile(name, dialect).name == name


def test_a_database_that_is_not_ejbca_is_named(pg_server_url: URL) -> None:
    ca = CaDatabase(pg_server_url, "ejbca")
    try:
        with pytest.raises(SourceError, match="no CertificateData table"):
            ca.early_revocations(BIG_BASE, BIG_BASE + timedelta(days=1), timedelta(days=7))
    finally:
        ca.close()


# --- least privilege: a user that may only SELECT the CA tables ---

EJBCA_TABLES = (
    "CertificateData",
    "Base64CertData",
    "NoConflictCertificateData",
    "CertReqHistoryData",
    "AuditRecordData",
)
BOULDER_TABLES = (
    "certificates",
    "precertificates",
    "certificateStatus",
    "revokedCertificates",
    "orders",
    "replacementOrders",
)


@contextmanager
def select_only_user(url: URL, tables: tuple[str, ...]) -> Iterator[URL]:
    """A login that may only SELECT `tables` of `url`'s database; dropped afterwards."""
    name = f"revwatch_ro_{secrets.token_hex(3)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    postgres = url.get_backend_name() == "postgresql"
    try:
        with admin.connect() as connection:
            if postgres:
                connection.execute(text(f"CREATE ROLE {name} LOGIN"))
                connection.execute(text(f"GRANT CONNECT ON DATABASE {url.database} TO {name}"))
                connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {name}"))
                connection.execute(text(f"GRANT SELECT ON {', '.join(tables)} TO {name}"))
            else:
                connection.execute(text(f"CREATE USER '{name}'@'%'"))
                for table in tables:
                    connection.execute(
                        text(f"GRANT SELECT ON {url.database}.{table} TO '{name}'@'%'")
                    )
        yield url.set(username=name, password=None)
    finally:
        with admin.connect() as connection:
            if postgres:
                connection.execute(text(f"DROP OWNED BY {name}"))
                connection.execute(text(f"DROP ROLE IF EXISTS {name}"))
            else:
                connection.execute(text(f"DROP USER IF EXISTS '{name}'@'%'"))
        admin.dispose()


def _cannot_write(url: URL, table: str) -> None:
    engine = create_engine(url)
    try:
        with pytest.raises(Exception, match=r"(?i)denied|permission"), engine.begin() as c:
            c.execute(text(f"DELETE FROM {table}"))
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_ejbca_with_a_select_only_user(
    dialect: str, pg_server_url: URL, mariadb_server_url: URL, tmp_path: Path
) -> None:
    server = pg_server_url if dialect == "postgresql" else mariadb_server_url
    with scratch_database(server, "ejbca_ro") as url:
        engine = create_engine(url)
        try:
            run_script(engine, f"ejbca.{dialect}.sql")
            insert(engine, ejbca_data.build()[0].rows)
        finally:
            engine.dispose()
        with select_only_user(url, EJBCA_TABLES) as reader:
            _cannot_write(reader, "CertificateData")
            report = ejbca_data.run_job(reader, tmp_path)
    assert {c["serial"] for c in report["cases"]} == set(ejbca_data.EXPECTED)


def test_boulder_with_a_select_only_user(mariadb_server_url: URL, tmp_path: Path) -> None:
    with scratch_database(mariadb_server_url, "boulder_ro") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "boulder.mysql.sql")
            insert(engine, boulder_data.build().rows)
        finally:
            engine.dispose()
        with select_only_user(url, BOULDER_TABLES) as reader:
            _cannot_write(reader, "certificates")
            report = boulder_data.run_job(reader, tmp_path)
    assert {c["serial"] for c in report["cases"]} == set(boulder_data.EXPECTED)


# --- query plans: one-day window, no full scan of the certificate table ---


DAY = {"since_ms": ms(BIG_BASE + timedelta(days=60)), "until_ms": ms(BIG_BASE + timedelta(days=61))}


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_ejbca_plans_use_the_issuer_revocation_date_index(
    dialect: str, pg_server_url: URL, mariadb_server_url: URL
) -> None:
    server = pg_server_url if dialect == "postgresql" else mariadb_server_url
    with scratch_database(server, "ejbca_plan") as url:
        engine = create_engine(url)
        try:
            run_script(engine, f"ejbca.{dialect}.sql")
            started = time.monotonic()
            big_ejbca(engine, PLAN_ROWS)
            built = time.monotonic() - started
            with engine.connect() as connection:
                window = explain(
                    connection, "ejbca", "revoked_window", {"issuer": "CN=Bench CA 1", **DAY}
                )
                issuers = explain(connection, "ejbca", "issuers", {})
                candidates = explain(
                    connection,
                    "ejbca",
                    "replacement_candidates",
                    {
                        "subscribers": ["user1", "user2"],
                        "earliest_ms": 0,
                        "latest_ms": DAY["until_ms"],
                    },
                )
        finally:
            engine.dispose()
    print(f"{dialect}: {PLAN_ROWS} CertificateData rows built in {built:.1f} s")
    if dialect == "postgresql":
        for plan in (window, issuers, candidates):
            nodes = list(pg_nodes(plan))
            assert not [n for n in nodes if n["Node Type"] == "Seq Scan"], nodes
        assert any(n.get("Index Name") == "certificatedata_idx16" for n in pg_nodes(window))
    else:
        for plan in (window, issuers, candidates):
            assert all(row["type"] != "ALL" for row in plan), plan
        assert window[0]["key"] == "certificatedata_idx16"
        assert "group-by" in str(issuers[0]["Extra"])  # loose index scan


def test_boulder_plans_walk_the_primary_key_and_look_up_serials(mariadb_server_url: URL) -> None:
    with scratch_database(mariadb_server_url, "boulder_plan") as url:
        engine = create_engine(url)
        try:
            run_script(engine, "boulder.mysql.sql")
            big_boulder(engine, PLAN_ROWS)
            serials = [format(n, "036X") for n in range(50, 5000, 50)]
            with engine.connect() as connection:
                plans = {
                    "revoked_probe": explain(
                        connection, "boulder", "revoked_probe", {"from_id": 1000}
                    ),
                    "revoked_page": explain(
                        connection, "boulder", "revoked_page", {"after_id": 1000, "page_size": 1000}
                    ),
                    "revoked_status": explain(
                        connection, "boulder", "revoked_status", {"serials": serials}
                    ),
                    "final_certificates": explain(
                        connection, "boulder", "final_certificates", {"serials": serials}
                    ),
                    "replacement_candidates": explain(
                        connection,
                        "boulder",
                        "replacement_candidates",
                        {
                            "subscribers": [1, 2],
                            "earliest": BIG_BASE.replace(tzinfo=None),
                            "latest": datetime(2026, 1, 1),
                        },
                    ),
                }
        finally:
            engine.dispose()
    for name, plan in plans.items():
        assert all(row["type"] != "ALL" for row in plan), (name, plan)
    assert plans["revoked_page"][0]["key"] == "PRIMARY"
    assert plans["final_certificates"][0]["key"] == "serial"
    assert plans["replacement_candidates"][0]["key"] == "regId_certificates_idx"


# --- the night's rows streamed: a page at a time, the same rows as the list ---

STREAM_ISSUED = BIG_BASE + timedelta(hours=1)
# since, until, threshold
STREAM_WINDOW = (BIG_BASE, BIG_BASE + timedelta(days=1), timedelta(days=7))


def _stream_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Ten revocation records: eight of issued certificates (one revoked twice, one late), one
    without an issuance record; every column a type the source must make plain."""
    issuance = [
        {
            "issuer_dn": "CN=Stream CA", "serial": format(n, "x"), "subscriber": f"cust-{n % 3}",
            "requester": "ra", "names": f"s{n}.example.com", "subject_dn": f"CN=s{n}.example.com",
            "not_before": STREAM_ISSUED, "not_after": STREAM_ISSUED + timedelta(days=90),
            "issued_at": STREAM_ISSUED if n % 4 else None, "der": bytes([0x30, n]) * 8,
        }
        for n in range(1, 9)
    ]  # fmt: skip
    revoked = [(n, BIG_BASE + timedelta(hours=2, minutes=n)) for n in range(1, 10)]
    revoked.append((3, BIG_BASE + timedelta(hours=5)))  # a second record of one certificate
    revocation = [
        {
            "issuer_dn": "CN=Stream CA", "serial": format(n, "x"), "reason_code": 1,
            "revoked_at": at,
            "revoked_by": "ra-operator", "comment": "key compromise",
        }
        for n, at in revoked
    ]  # fmt: skip
    revocation[7]["revoked_at"] = BIG_BASE + timedelta(hours=3)
    issuance[7]["issued_at"] = issuance[7]["not_before"] = BIG_BASE - timedelta(days=60)
    return issuance, revocation


@contextmanager
def _generic_ca(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """A generic CA database holding `_stream_rows` in `dialect`."""
    from jobs.demo import schema as generic_schema

    if dialect == "sqlite":
        url = URL.create("sqlite", database=str(tmp_path / "ca.sqlite"))
        engine = create_engine(url)
        generic_schema.create_and_insert(engine, *_stream_rows())
        engine.dispose()
        yield url
        return
    server = request.getfixturevalue(
        "pg_server_url" if dialect == "postgresql" else "mariadb_server_url"
    )
    with scratch_database(server, "stream") as url:
        engine = create_engine(url)
        generic_schema.create_and_insert(engine, *_stream_rows())
        engine.dispose()
        yield url


SERVER_CURSORS = {"postgresql": "ServerCursor", "mysql": "SSCursor", "sqlite": "Cursor"}


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_the_nights_rows_are_streamed_a_page_at_a_time(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 3 rows from a server-side cursor, each consumed before the next is fetched; the
    rows, and what detection makes of them, are those of the list (`early_revocations`)."""
    from sqlalchemy import event

    from jobs.detect.detection import detect
    from jobs.pipeline import steps
    from jobs.source.profiles import base

    monkeypatch.setattr(base, "STREAM_ROWS", 3)
    with _generic_ca(dialect, request, tmp_path) as url:
        ca = CaDatabase(url)
        try:
            listed = ca.early_revocations(*STREAM_WINDOW)
            cursors: list[str] = []
            event.listen(
                ca.engine,
                "before_cursor_execute",
                lambda _c, cursor, statement, *_: (
                    cursors.append(f"{type(cursor).__name__} {getattr(cursor, 'name', '')}")
                    if "FROM revocation" in statement
                    else None
                ),
            )
            events: list[object] = []
            pages = ca.profile.early_revocation_pages

            def spy(*args: Any) -> Iterator[Any]:
                for page in pages(*args):
                    events.append(("page", len(page)))
                    yield page

            monkeypatch.setattr(ca.profile, "early_revocation_pages", spy)
            streamed = []
            for row in ca.early_revocation_rows(*STREAM_WINDOW):
                events.append("row")
                streamed.append(row)
            streamed_events = list(events)
            pending = steps.pending_window(ca, *STREAM_WINDOW)
        finally:
            ca.close()
    assert len(listed) == 9  # the late one is left out by the SQL
    assert streamed == listed and [list(r) for r in streamed] == [list(r) for r in listed]
    # Each page's rows reach the consumer before the next page is fetched.
    assert streamed_events == [("page", 3), "row", "row", "row"] * 3
    assert events[len(streamed_events) :] == [("page", 3)] * 3  # the nightly path's
    # PostgreSQL's is named after its statement, for pg_stat_activity (`jobs.db.engines`).
    assert [c.split(" ")[0] for c in cursors] == [SERVER_CURSORS[dialect]] * 2
    assert dialect != "postgresql" or " revwatch_early_revocations_" in cursors[0]
    since, until, threshold = STREAM_WINDOW
    whole = detect(listed, since=since, until=until, threshold=threshold)
    assert tuple(c for cases, _ in pending.batches(2) for c in cases) == whole.cases
    assert len(whole.cases) == 8 and whole.problems == pending.problems == ()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql", "sqlite"])
def test_a_database_error_mid_stream_is_the_sources_error(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver error after the first page is a SourceError naming the database, as for the
    list; on PostgreSQL the session is really ended mid-stream."""
    from sqlalchemy.exc import OperationalError

    from jobs.pipeline import steps
    from jobs.source.profiles import base

    monkeypatch.setattr(base, "STREAM_ROWS", 3)
    with _generic_ca(dialect, request, tmp_path) as url:
        ca = CaDatabase(url)
        pages = ca.profile.early_revocation_pages

        def failing(*args: Any) -> Iterator[Any]:
            yield next(pages(*args))
            raise OperationalError("FETCH FORWARD 3", {}, RuntimeError("server closed"))

        try:
            with monkeypatch.context() as patch:
                patch.setattr(ca.profile, "early_revocation_pages", failing)
                with pytest.raises(SourceError, match=r"^CA database .*: server closed$"):
                    steps.pending_window(ca, *STREAM_WINDOW)
            if dialect == "postgresql":
                found = ca.early_revocation_rows(*STREAM_WINDOW)
                next(found)
                admin = create_engine(url, isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    connection.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'revwatch' AND datname = :name"
                        ),
                        {"name": url.database},
                    )
                admin.dispose()
                with pytest.raises(SourceError, match=r"^CA database "):
                    list(found)
        finally:
            ca.close()
