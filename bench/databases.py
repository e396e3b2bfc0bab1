"""The scale benchmark's CA databases: built in PostgreSQL itself, set-based, then kept or dropped.

Owns the synthetic CA of `bench/scale.py`: its timeline (certificates spread over three years from
2023-01-01, every tenth revoked, 35% of those within 7 days of issuance and the rest 8 to 300 days
after, about 30 certificates per subscriber, half of the early revocations re-issued within a
day), the optional mass revocation on 2026-11-10, and the build of one database per `Spec`: the
schema's own DDL (`sql/schema/<schema>.postgresql.sql`) with its primary keys and indexes held back,
one `INSERT ... SELECT ... FROM generate_series` per table (`bench/sql/`), then the keys and
indexes, then VACUUM ANALYZE. Tables are UNLOGGED (no WAL while loading; reads are unaffected).

DER: two real certificates made once by `jobs.demo.certfactory` serve as templates; each row gets
its own copy with its serial, issuer digit, names and validity patched in (`bench_der`), so every
certificate is distinct and agrees with its columns; only its signature would not verify.

A finished build writes `revwatch_bench_meta` last; a database whose record matches its `Spec`
is reused instead of rebuilt. It must not touch any database whose name it did not make.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL

from jobs.core.resources import sql_dir
from jobs.db.queries import QuerySet
from jobs.demo.certfactory import CertificateAuthority, key_from_secret

BENCH_SQL = Path(__file__).resolve().parent / "sql"
# Creation order matters: a function's body is checked against the ones it calls.
FUNCTIONS = ("u", "serial", "delay", "issued", "issuer_dn", "host", "reason", "ms", "der")
BASE = datetime(2023, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=1095)
MASS_DAY = datetime(2026, 11, 10, tzinfo=UTC)
# The template's placeholders, found in its DER and patched per row (see bench/sql/functions).
_SERIAL = 0x7EEEEEEEEEEEEEEE
_K = "9999999999"
_NOT_BEFORE = datetime(2030, 1, 1, tzinfo=UTC)
_NOT_AFTER = datetime(2031, 2, 2, tzinfo=UTC)
Log = Callable[[str], None]


def statements() -> QuerySet:
    """The benchmark's own SQL, headers checked like the job's."""
    return QuerySet(BENCH_SQL, "postgresql")


def short(count: int) -> str:
    """10000000 -> '10m', 20000 -> '20k': database names and table labels."""
    for size, suffix in ((1_000_000, "m"), (1_000, "k")):
        if count >= size and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


@dataclass(frozen=True)
class Spec:
    """One CA database: schema, with or without DER, how many certificates, a mass event."""

    schema: str  # "generic" or "ejbca"
    der: bool
    certificates: int
    mass: int = 0

    @property
    def revocations(self) -> int:
        return self.certificates // 10

    @property
    def variant(self) -> str:
        return f"{self.schema}{'+DER' if self.der else ', no DER'}"

    @property
    def name(self) -> str:
        name = f"{self.schema}_{'der' if self.der else 'noder'}_{short(self.certificates)}"
        return f"{name}_mass{short(self.mass)}" if self.mass else name

    def meta(self) -> dict[str, str]:
        return {
            "schema": self.schema,
            "der": str(self.der),
            "certificates": str(self.certificates),
            "revocations": str(self.revocations),
            "mass": str(self.mass),
        }


@dataclass(frozen=True)
class Templates:
    """The DER templates (plain and typo) and the 1-based offsets `bench_der` patches."""

    plain: bytes
    typo: bytes
    offsets: tuple[int, ...]


def _offsets(der: bytes) -> tuple[int, ...]:
    def once(needle: bytes) -> int:
        assert der.count(needle) == 1, f"template placeholder {needle!r} not unique"
        return der.index(needle) + 1

    names = [i + 1 for i in range(len(der)) if der.startswith(_K.encode(), i)]
    assert len(names) == 3, "the template names k in its CN and two SANs"
    return (
        once(_SERIAL.to_bytes(8, "big")),
        once(b"Bench Issuing CA 0") + len("Bench Issuing CA "),
        *names,
        once(_NOT_BEFORE.strftime("%y%m%d%H%M%SZ").encode()),
        once(_NOT_AFTER.strftime("%y%m%d%H%M%SZ").encode()),
    )


def make_templates() -> Templates:
    """Two real certificates with placeholders, made once (a millisecond each)."""
    ca = CertificateAuthority.create(
        "Bench Issuing CA 0", "Revwatch Bench", now=BASE, key=key_from_secret(4242)
    )
    assert ca.name == "CN=Bench Issuing CA 0,O=Revwatch Bench", "bench_issuer_dn spells it so"
    ders = [
        ca.issue(
            [f"{first}.shop{_K}.example", f"shop{_K}.example"],
            not_before=_NOT_BEFORE,
            not_after=_NOT_AFTER,
            serial=_SERIAL,
            key=key_from_secret(777),
        )
        for first in ("mail", "mial")
    ]
    offsets = _offsets(ders[0])
    assert _offsets(ders[1]) == offsets, "both templates must share their layout"
    return Templates(ders[0], ders[1], offsets)


def _execute(connection: Connection, sql: QuerySet, name: str, /, **params: Any) -> Any:
    return connection.execute(sql[name].clause(), params)


def _ddl(schema: str) -> tuple[list[str], list[str]]:
    """The schema file's statements: (CREATE TABLE ..., CREATE INDEX ...)."""
    path = sql_dir() / "schema" / f"{schema}.postgresql.sql"
    body = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    parts = [part.strip() for part in body.split(";") if part.strip()]
    indexes = [p for p in parts if p.upper().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX"))]
    return [p for p in parts if p not in indexes], indexes


def schema_available(schema: str) -> bool:
    return (sql_dir() / "schema" / f"{schema}.postgresql.sql").is_file()


@contextmanager
def _autocommit(url: URL) -> Iterator[Connection]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def exists(admin: URL, name: str) -> bool:
    with _autocommit(admin) as connection:
        return _execute(connection, statements(), "database_exists", name=name).first() is not None


def drop(admin: URL, name: str) -> None:
    with _autocommit(admin) as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def size(admin: URL, name: str) -> int:
    """Bytes on disk of the database `name`."""
    with _autocommit(admin) as connection:
        return int(_execute(connection, statements(), "database_size", name=name).scalar() or 0)


def _finished(url: URL, spec: Spec) -> bool:
    """Whether a kept database holds what `spec` asks for (its build record and row estimates)."""
    sql = statements()
    with _autocommit(url) as connection:
        if not _execute(connection, sql, "meta_present").scalar():
            return False
        recorded = {r.key: r.value for r in _execute(connection, sql, "meta_read")}
        table = "issuance" if spec.schema == "generic" else "certificatedata"
        estimate = _execute(connection, sql, "estimated_rows", table_name=table).scalar() or 0
    expected = spec.certificates + spec.mass * 3 // 2
    return all(recorded.get(k) == v for k, v in spec.meta().items()) and (
        abs(estimate - expected) <= max(10, expected // 50)
    )


def ensure(admin: URL, prefix: str, spec: Spec, templates: Templates, log: Log) -> Built:
    """The database for `spec`: reused when a finished build matches, else (re)built."""
    name = f"{prefix}_{spec.name}"
    url = admin.set(database=name)
    if exists(admin, name):
        if _finished(url, spec):
            log(f"reusing {name}")
            return Built(spec, url, name, None)
        drop(admin, name)
    with _autocommit(admin) as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    started = time.monotonic()
    _build(url, spec, templates, log)
    seconds = time.monotonic() - started
    log(f"built {name} in {seconds:.1f} s")
    return Built(spec, url, name, seconds)


@dataclass(frozen=True)
class Built:
    """A database ready for measuring; `seconds` is its build time (None: reused)."""

    spec: Spec
    url: URL
    name: str
    seconds: float | None

    def engine(self) -> Engine:
        return create_engine(self.url, connect_args={"options": "-c TimeZone=UTC"})


def _build(url: URL, spec: Spec, templates: Templates, log: Log) -> None:
    sql = statements()
    functions = QuerySet(BENCH_SQL / "functions", "postgresql")
    tables, indexes = _ddl(spec.schema)
    der: dict[str, Any] = (
        {"template": templates.plain, "typo_template": templates.typo}
        if spec.der
        else {"template": None, "typo_template": None}
    )
    timeline = {
        "certificates": spec.certificates,
        "base": BASE,
        "step_us": SPAN // timedelta(microseconds=1) // spec.certificates,
    }
    with _autocommit(url) as connection:
        # Loading and index builds only: the measured sessions use the server's defaults.
        for setting in (
            "maintenance_work_mem = '1GB'",
            "max_parallel_maintenance_workers = 2",
            "synchronous_commit = off",
            "TimeZone = 'UTC'",
        ):
            connection.exec_driver_sql(f"SET {setting}")
        for statement in tables:
            connection.exec_driver_sql(statement)
        keys = list(_execute(connection, sql, "primary_keys"))
        for key in keys:  # an index built once after the load is far cheaper than maintained
            connection.exec_driver_sql(
                f"ALTER TABLE {key.table_name} DROP CONSTRAINT {key.constraint_name}"
            )
        names = [row.name for row in _execute(connection, sql, "tables")]
        for table in names:
            connection.exec_driver_sql(f"ALTER TABLE {table} SET UNLOGGED")
        for function in FUNCTIONS:
            _execute(connection, functions, function)
        started = time.monotonic()
        subscribers = {"subscribers": max(1, spec.certificates // 30)}
        at = {"at": list(templates.offsets)}
        if spec.schema == "generic":
            _execute(connection, sql, "generic_issuance", **timeline, **subscribers, **der, **at)
            _execute(connection, sql, "generic_revocation", **timeline)
        else:
            _execute(connection, sql, "ejbca_certificates", **timeline, **subscribers, **der, **at)
        if spec.mass:
            mass = {"cases": spec.mass, "day": MASS_DAY}
            _execute(connection, sql, "mass_issuance", **mass, **der, **at)
            _execute(connection, sql, "mass_revocation", **mass)
        log(f"  rows loaded in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        for key in keys:
            connection.exec_driver_sql(
                f"ALTER TABLE {key.table_name} ADD CONSTRAINT {key.constraint_name} "
                f"{key.definition}"
            )
        for statement in indexes:
            connection.exec_driver_sql(statement)
        log(f"  keys and indexes built in {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        for table in names:
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
        log(f"  VACUUM ANALYZE in {time.monotonic() - started:.1f} s")
        _execute(connection, sql, "meta_create")
        for key_name, value in spec.meta().items():
            _execute(connection, sql, "meta_write", key=key_name, value=value)
