"""A long CA history for the parallel backfill's tests, in a real PostgreSQL database.

Owns the rows (generic schema, no DER, so that building them takes a second): every day of
`days` from HISTORY_START holds `per_day` early revocations, each with a replacement issued after
it with one name corrected (so enrichment pairs and diffs them), plus a late revocation that is no
case; every fifth day one subscriber also has a replacement candidate whose serial is not
hexadecimal, whose warning is logged by whichever process examines that day. `break_day` turns
the revocation table into a view that fails for one day's records, as a corrupt page would.
It must not run the job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from jobs.demo import schema as generic_schema

HISTORY_START = datetime(2025, 1, 1, tzinfo=UTC)
ISSUERS = ("CN=History CA 1,O=Revwatch Test,C=ES", "CN=History CA 2,O=Revwatch Test,C=ES")
# The warning a bad candidate's serial gives (records.serial_of), as a log line's message ends.
BAD_SERIAL = "zz-not-hex"


def _issuance(n: int, subscriber: str, names: list[str], issued: datetime) -> dict[str, Any]:
    return {
        "issuer_dn": ISSUERS[n % 2], "serial": f"{n:032x}", "subscriber": subscriber,
        "requester": f"ra-operator-{n % 3}", "names": ",".join(names),
        "subject_dn": f"CN={names[0]}", "not_before": issued - timedelta(minutes=10),
        "not_after": issued + timedelta(days=90), "issued_at": issued, "der": None,
    }  # fmt: skip


def history_rows(days: int, per_day: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(issuance, revocation) rows of the history; see the module's docstring."""
    issuance: list[dict[str, Any]] = []
    revocation: list[dict[str, Any]] = []
    n = 0
    for day in range(days):
        start = HISTORY_START + timedelta(days=day)
        for k in range(per_day):
            n += 1
            subscriber = f"subscriber-{n % 97}"
            issued = start + timedelta(minutes=5 + 60 * k)
            revoked = issued + timedelta(hours=1 + k % 5, minutes=n % 60)
            issuance.append(_issuance(n, subscriber, [f"www.shop{n}.exmaple.com"], issued))
            revocation.append({
                "issuer_dn": ISSUERS[n % 2], "serial": f"{n:032x}", "revoked_at": revoked,
                "reason_code": (0, 4, 5)[n % 3], "revoked_by": f"ra-operator-{n % 3}",
                "comment": "Wrong name; reissued",
            })  # fmt: skip
            replaced = revoked + timedelta(minutes=20)
            n += 1
            issuance.append(_issuance(n, subscriber, [f"www.shop{n - 1}.example.com"], replaced))
        n += 1
        late = _issuance(n, f"subscriber-{n % 97}", [f"late{n}.example.org"], start)
        issuance.append(late)
        revocation.append({
            "issuer_dn": late["issuer_dn"], "serial": late["serial"],
            "revoked_at": start + timedelta(days=9, hours=3), "reason_code": 4,
            "revoked_by": "ra-operator-0", "comment": "Superseded",
        })  # fmt: skip
        if day % 5 == 0:  # a candidate of the day's first case whose serial is not hex
            first = issuance[-2 * per_day - 1]
            bad = {**first, "serial": BAD_SERIAL + f"-{day}"}
            bad["issued_at"] = first["issued_at"] + timedelta(minutes=30)
            issuance.append(bad)
    return issuance, revocation


def load_history(url: URL, days: int, per_day: int) -> int:
    """Create the generic tables at `url` with the history's rows; the number of early
    revocations (cases) planted."""
    issuance, revocation = history_rows(days, per_day)
    engine = create_engine(url)
    try:
        generic_schema.create_and_insert(engine, issuance, revocation)
    finally:
        engine.dispose()
    return days * per_day


def break_day(url: URL, day: datetime) -> None:
    """From now on, reading any revocation record of `day` (UTC) fails inside PostgreSQL, with an
    error naming the record: the table becomes a view over its rows whose comment column calls a
    function that raises. (`%%` is how psycopg spells a plain `%`.)"""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE revocation RENAME TO revocation_rows")
            connection.exec_driver_sql(f"""
                CREATE FUNCTION unreadable(id BIGINT, at TIMESTAMPTZ, value TEXT) RETURNS TEXT
                LANGUAGE plpgsql AS $$
                BEGIN
                    IF at >= '{day.isoformat()}' AND at < '{(day + timedelta(days=1)).isoformat()}'
                    THEN
                        RAISE EXCEPTION 'could not read block of revocation record %%', id;
                    END IF;
                    RETURN value;
                END $$""")
            connection.exec_driver_sql("""
                CREATE VIEW revocation AS
                SELECT id, issuer_dn, serial, revoked_at, reason_code, revoked_by,
                       unreadable(id, revoked_at, comment) AS comment
                FROM revocation_rows""")
    finally:
        engine.dispose()
