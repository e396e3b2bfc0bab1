"""Million-row CA tables for the plan checks, built in the server by set-based SQL.

Owns the synthetic EJBCA and Boulder tables that tests/test_source.py (a few hundred thousand rows)
and bench/plans.py (a million) EXPLAIN the profiles' statements against. It must not load the
situation-by-situation data (tests/support/ca_schemas.py does) nor run the job.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, text

from tests.support.ca_schemas import java_hash, ms

# Rows are inserted in primary-key (fingerprint) order: random order makes InnoDB split pages
# all the way and a million rows take minutes instead of seconds.
# Rows one minute apart from BIG_BASE over four issuers; every 50th is revoked an hour after
# issuance, so a one-day window holds ~29 revocations, as a mid-size CA's night does.
BIG_BASE = datetime(2025, 1, 1, tzinfo=UTC)
BIG_ISSUERS = 4


def big_ejbca(engine: Engine, rows: int) -> None:
    """`rows` CertificateData rows built in the server by set-based SQL (no Python loop)."""
    base = ms(BIG_BASE)
    if engine.dialect.name == "postgresql":
        source, n, cat = "generate_series(1, :rows) AS s(n)", "s.n::bigint", "||"
        fingerprint = "md5(s.n::text)"
        issuer = f"'CN=Bench CA ' || (s.n % {BIG_ISSUERS})"
        sql_rows = {"rows": rows}
    else:
        source, n, cat = f"seq_1_to_{rows} AS s", "s.seq", None
        fingerprint = "MD5(s.seq)"
        issuer = f"CONCAT('CN=Bench CA ', s.seq % {BIG_ISSUERS})"
        sql_rows = {}

    def concat(*parts: str) -> str:
        return f" {cat} ".join(parts) if cat else f"CONCAT({', '.join(parts)})"

    revoked = f"{n} % 50 = 0"
    statement = f"""
        INSERT INTO CertificateData (fingerprint, certificateProfileId, expireDate, issuerDN,
            notBefore, revocationDate, revocationReason, rowVersion, serialNumber, status,
            subjectAltName, subjectDN, type, updateTime, username)
        SELECT {fingerprint}, 1, {base} + {n} * 60000 + 7776000000, {issuer},
            {base} + {n} * 60000,
            CASE WHEN {revoked} THEN {base} + {n} * 60000 + 3600000 ELSE -1 END,
            CASE WHEN {revoked} THEN 1 ELSE -1 END, 0, {concat(n, "''")},
            CASE WHEN {revoked} THEN 40 ELSE 20 END,
            {concat("'dNSName=h'", n, "'.example'")}, {concat("'CN=h'", n, "'.example'")}, 1,
            {base}, {concat("'user'", f"{n} % 10000")}
        FROM {source}
        ORDER BY 1"""
    with engine.begin() as connection:
        connection.execute(text(statement), sql_rows)
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE CertificateData")
        else:
            connection.exec_driver_sql("ANALYZE TABLE CertificateData")


def big_ejbca_audit(engine: Engine, rows: int) -> None:
    """A successful CERT_REVOKED audit event for each revoked row of `big_ejbca(rows)`, by one of
    seven operators, at its revocation time, naming its CA and serial as EJBCA does."""
    base = ms(BIG_BASE)
    ca_ids = " ".join(
        f"WHEN {k} THEN '{java_hash(f'CN=Bench CA {k}')}'" for k in range(BIG_ISSUERS)
    )
    details = "'<java><object><void method=\"put\"><string>msg</string><string>Revoked certificate'"
    if engine.dialect.name == "postgresql":
        source, n = "generate_series(50, :rows, 50) AS s(n)", "s.n::bigint"
        parts = {
            "pk": "'audit-' || s.n", "actor": "'CN=Operator ' || (s.n % 7)",
            "serial": "upper(to_hex(s.n))", "user": "'user' || (s.n % 10000)",
            "details": details + " || '</string></void></object></java>'",
        }  # fmt: skip
        params = {"rows": rows}
    else:
        source, n = f"seq_50_to_{rows}_step_50 AS s", "s.seq"
        parts = {
            "pk": "CONCAT('audit-', s.seq)", "actor": "CONCAT('CN=Operator ', s.seq % 7)",
            "serial": "HEX(s.seq)", "user": "CONCAT('user', s.seq % 10000)",
            "details": f"CONCAT({details}, '</string></void></object></java>')",
        }  # fmt: skip
        params = {}
    statement = f"""
        INSERT INTO AuditRecordData (pk, additionalDetails, authToken, customId, eventStatus,
            eventType, module, nodeId, rowVersion, searchDetail1, searchDetail2, sequenceNumber,
            service, timeStamp)
        SELECT {parts["pk"]}, {parts["details"]}, {parts["actor"]},
            CASE {n} % {BIG_ISSUERS} {ca_ids} END, 'SUCCESS',
            'CERT_REVOKED', 'CERTIFICATE', 'node', 0, {parts["serial"]}, {parts["user"]}, {n},
            'CORE', {base} + {n} * 60000 + 3600000
        FROM {source}"""
    with engine.begin() as connection:
        connection.execute(text(statement), params)
        analyze = "ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE TABLE"
        connection.exec_driver_sql(f"{analyze} AuditRecordData")


def big_boulder_precertificates(engine: Engine, rows: int) -> None:
    """The precertificate of each certificate of `big_boulder(rows)`, as Boulder keeps one for
    every issued serial."""
    base = BIG_BASE.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    issued = f"TIMESTAMP('{base}') + INTERVAL s.seq MINUTE"
    with engine.begin() as connection:
        connection.execute(
            text(f"""INSERT INTO precertificates (registrationID, serial, der, issued, expires)
                SELECT s.seq % 10000, LPAD(HEX(s.seq), 36, '0'), UNHEX(MD5(s.seq)), {issued},
                       {issued} + INTERVAL 90 DAY
                FROM seq_1_to_{rows} AS s""")
        )
        connection.exec_driver_sql("ANALYZE TABLE precertificates")


def big_boulder(engine: Engine, rows: int) -> None:
    """`rows` certificates, their status rows and a revokedCertificates row for every 50th."""
    base = BIG_BASE.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    serial = "LPAD(HEX(s.seq), 36, '0')"
    issued = f"TIMESTAMP('{base}') + INTERVAL s.seq MINUTE"
    statements = [
        f"""INSERT INTO certificates (registrationID, serial, digest, der, issued, expires)
            SELECT s.seq % 10000, {serial}, MD5(s.seq), UNHEX(MD5(s.seq)), {issued},
                   {issued} + INTERVAL 90 DAY
            FROM seq_1_to_{rows} AS s""",
        f"""INSERT INTO certificateStatus (serial, status, ocspLastUpdated, revokedDate,
                revokedReason, lastExpirationNagSent, notAfter, issuerID)
            SELECT {serial}, IF(s.seq % 50 = 0, 'revoked', 'good'), {issued},
                   IF(s.seq % 50 = 0, {issued} + INTERVAL 1 HOUR, '0000-00-00 00:00:00'),
                   IF(s.seq % 50 = 0, 1, 0), '0000-00-00 00:00:00', {issued} + INTERVAL 90 DAY,
                   s.seq % {BIG_ISSUERS}
            FROM seq_1_to_{rows} AS s""",
        f"""INSERT INTO revokedCertificates (issuerID, serial, notAfterHour, shardIdx,
                revokedDate, revokedReason)
            SELECT s.seq % {BIG_ISSUERS}, {serial}, {issued} + INTERVAL 90 DAY, s.seq % 128,
                   {issued} + INTERVAL 1 HOUR, 1
            FROM seq_1_to_{rows} AS s WHERE s.seq % 50 = 0 ORDER BY s.seq""",
    ]
    with engine.begin() as connection:
        connection.exec_driver_sql("SET SESSION sql_mode = ''")
        for statement in statements:
            connection.execute(text(statement))
        for table in ("certificates", "certificateStatus", "revokedCertificates"):
            connection.exec_driver_sql(f"ANALYZE TABLE {table}")


def big_boulder_authz(engine: Engine, rows: int) -> None:
    """A valid DNS authorization for each certificate of `big_boulder(rows)`: its account and its
    name (`h<n>.example`), validated five minutes before issuance, as the issuance watch's
    history reads them (authz2)."""
    base = BIG_BASE.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S")
    issued = f"TIMESTAMP('{base}') + INTERVAL s.seq MINUTE"
    with engine.begin() as connection:
        connection.execute(
            text(f"""INSERT INTO authz2 (identifierType, identifierValue, registrationID, status,
                    expires, challenges, attempted, attemptedAt, token)
                SELECT 0, CONCAT('h', s.seq, '.example'), s.seq % 10000, 1,
                       {issued} + INTERVAL 30 DAY, 1, 0, {issued} - INTERVAL 5 MINUTE,
                       UNHEX(SHA2(s.seq, 256))
                FROM seq_1_to_{rows} AS s""")
        )
        connection.exec_driver_sql("ANALYZE TABLE authz2")
