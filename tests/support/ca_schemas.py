"""Test data for the EJBCA and Boulder profiles: their real schemas, loaded with real certificates.

Builds scratch databases on the machine's PostgreSQL and MariaDB, creates the CA software's tables
from `sql/schema/{ejbca,boulder}.*.sql`, and loads rows the way EJBCA and Boulder write them
(decimal serials and epoch milliseconds; 36-character hex serials and UTC DATETIMEs), with DER made
by `jobs.demo.certfactory`. Helpers compute EJBCA's CA id and Boulder's issuer NameID independently
of the code under test. It must not import the profiles it feeds.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL

from jobs.core.resources import sql_dir
from jobs.demo.certfactory import CertificateAuthority, key_from_secret

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OFFSET = timedelta(minutes=-10)  # EJBCA's default validity offset
_MINUTE = timedelta(minutes=1)


def ms(value: datetime) -> int:
    return (value - EPOCH) // timedelta(milliseconds=1)


def java_hash(text_value: str) -> int:
    """Java's String.hashCode(), written out here so the tests do not trust the code they test."""
    h = 0
    for char in text_value:  # test DNs are BMP-only: one UTF-16 unit per character
        h = (31 * h + ord(char)) % 2**32
    return h - 2**32 if h >= 2**31 else h


def boulder_issuer_id(ca: CertificateAuthority) -> int:
    subject = ca.ca_cert.subject.public_bytes()
    return int.from_bytes(hashlib.sha1(subject).digest()[:7], "big")


@contextmanager
def scratch_database(server: URL, tag: str) -> Iterator[URL]:
    """A new database on `server`'s server for one test module, dropped afterwards."""
    name = f"revwatch_{tag}_{secrets.token_hex(3)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            force = " WITH (FORCE)" if server.get_backend_name() == "postgresql" else ""
            connection.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def run_script(engine: Engine, name: str) -> None:
    """Run a DDL script of `sql/schema/` statement by statement."""
    body = "\n".join(
        line
        for line in (sql_dir() / "schema" / name).read_text().splitlines()
        if not line.startswith("--")
    )
    with engine.begin() as connection:
        for statement in body.split(";"):
            if statement.strip():
                connection.exec_driver_sql(statement)


def insert(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "mysql":
            connection.exec_driver_sql("SET SESSION sql_mode = ''")  # Boulder's zero dates
        for table, table_rows in rows.items():
            for row in table_rows:
                columns = ", ".join(row)
                values = ", ".join(f":{c}" for c in row)
                connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)


def audit_details(message: str) -> str:
    """additionalDetails as EJBCA writes its map: java.beans XML, non-ASCII as B64:."""
    if not message.isascii():
        message = "B64:" + base64.b64encode(message.encode()).decode()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<java version="1.8.0_292" class="java.beans.XMLDecoder">\n'
        ' <object class="java.util.LinkedHashMap">\n'
        '  <void method="put">\n   <string>msg</string>\n'
        f"   <string>{message}</string>\n  </void>\n </object>\n</java>\n"
    )


class EjbcaData:
    """Rows for EJBCA's tables, collected and then loaded in one go."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.ders: dict[int, bytes] = {}
        self._sequence = 0

    def certificate(
        self,
        ca: CertificateAuthority,
        names: Sequence[str],
        *,
        serial: int,
        issued: datetime,
        username: str | None,
        status: int = 20,
        revoked: datetime | None = None,
        reason: int = -1,
        storage: str = "inline",
        san_column: bool = True,
        not_before: datetime | None = None,
        history: datetime | None = None,
        subject: Mapping[str, str] | None = None,
    ) -> bytes:
        """One CertificateData row; `storage` is inline, table (Base64CertData) or garbage."""
        start = not_before or issued + OFFSET
        der = ca.issue(
            names,
            not_before=start,
            not_after=start + timedelta(days=90),
            serial=serial,
            subject=subject,
        )
        fingerprint = hashlib.sha1(der).hexdigest()
        encoded = base64.b64encode(der).decode()
        inline = {"inline": encoded, "garbage": "%%% not base64 %%%", "table": None}[storage]
        self.rows["CertificateData"].append(
            {
                "fingerprint": fingerprint,
                "base64Cert": inline,
                "cAFingerprint": hashlib.sha1(ca.der).hexdigest(),
                "certificateProfileId": 1,
                "crlPartitionIndex": 0,
                "endEntityProfileId": 1,
                "expireDate": ms(start + timedelta(days=90)),
                "invalidityDate": -1,
                "issuerDN": ca.name,
                "notBefore": ms(start),
                "revocationDate": ms(revoked) if revoked else -1,
                "revocationReason": reason,
                "rowVersion": 0,
                "serialNumber": str(serial),
                "status": status,
                "subjectAltName": ", ".join(f"dNSName={n}" for n in names) if san_column else None,
                "subjectDN": ",".join(f"{k}={v}" for k, v in (subject or {"CN": names[0]}).items()),
                "type": 1,
                "updateTime": ms(revoked or issued),
                "username": username,
            }
        )
        if storage == "table":
            self.rows["Base64CertData"].append(
                {"fingerprint": fingerprint, "base64Cert": encoded, "rowVersion": 0}
            )
        if history is not None:
            self.rows["CertReqHistoryData"].append(
                {
                    "fingerprint": fingerprint,
                    "issuerDN": ca.name,
                    "rowVersion": 0,
                    "serialNumber": str(serial),
                    "timestamp": ms(history),
                    "userDataVO": "<userdata/>",
                    "username": username or "",
                }
            )
        return der

    def noconflict(
        self,
        ca: CertificateAuthority,
        der: bytes,
        *,
        serial: int,
        status: int,
        reason: int,
        revoked: datetime | None,
        updated: datetime,
    ) -> None:
        """One row of the append-only NoConflictCertificateData."""
        self._sequence += 1
        self.rows["NoConflictCertificateData"].append(
            {
                "id": f"nc-{self._sequence}",
                "fingerprint": hashlib.sha1(der).hexdigest(),
                "base64Cert": base64.b64encode(der).decode(),
                "certificateProfileId": 1,
                "expireDate": ms(updated + timedelta(days=90)),
                "issuerDN": ca.name,
                "notBefore": ms(updated - timedelta(hours=2)),
                "revocationDate": ms(revoked) if revoked else -1,
                "revocationReason": reason,
                "rowVersion": 0,
                "serialNumber": str(serial),
                "status": status,
                "subjectDN": "CN=throwaway",
                "type": 1,
                "updateTime": ms(updated),
                "username": None,
            }
        )

    def audit(
        self, *, actor: str, ca_dn: str, serial: int, username: str, when: datetime, message: str
    ) -> None:
        """One CERT_REVOKED event of AuditRecordData."""
        self._sequence += 1
        self.rows["AuditRecordData"].append(
            {
                "pk": f"audit-{self._sequence}",
                "additionalDetails": audit_details(message),
                "authToken": actor,
                "customId": str(java_hash(ca_dn)),
                "eventStatus": "SUCCESS",
                "eventType": "CERT_REVOKED",
                "module": "CERTIFICATE",
                "nodeId": "ejbca-node-1",
                "rowVersion": 0,
                "searchDetail1": format(serial, "X"),
                "searchDetail2": username,
                "sequenceNumber": self._sequence,
                "service": "CORE",
                "timeStamp": ms(when),
            }
        )


def boulder_serial(serial: int) -> str:
    return format(serial, "036x")


class BoulderData:
    """Rows for Boulder's tables."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._ids: dict[str, int] = defaultdict(int)

    def _next(self, table: str) -> int:
        self._ids[table] += 1
        return self._ids[table]

    def registration(self, account: int, created: datetime) -> None:
        self.rows["registrations"].append(
            {
                "id": account,
                "jwk": b"{}",
                "jwk_sha256": secrets.token_hex(16),
                "contact": "[]",
                "agreement": "https://letsencrypt.org/repository/",
                "LockCol": 0,
                "createdAt": created.replace(tzinfo=None),
            }
        )

    def issue(
        self,
        ca: CertificateAuthority,
        names: Sequence[str],
        *,
        serial: int,
        account: int,
        issued: datetime,
        final: bool = True,
        zero_date_status: bool = False,
        subject: Mapping[str, str] | None = None,
    ) -> bytes:
        """A precertificate row, a final certificate row unless `final` is False, a good status,
        and a valid authorization (authz2) of each DNS name, validated five minutes before."""
        naive = issued.astimezone(UTC).replace(tzinfo=None)
        expires = naive + timedelta(days=90)
        key = secrets.randbelow(2**200) + 1
        der = ca.issue(
            names,
            not_before=issued,
            not_after=issued + timedelta(days=90),
            serial=serial,
            key=key_from_secret(key),
            subject=subject,
        )
        lint = ca.issue(
            names,
            not_before=issued,
            not_after=issued + timedelta(days=90),
            serial=serial,
            key=key_from_secret(key),
            subject={"CN": names[0], "O": "lint"},
        )
        hexserial = boulder_serial(serial)
        common = {
            "registrationID": account,
            "serial": hexserial,
            "issued": naive,
            "expires": expires,
        }
        self.rows["precertificates"].append({"id": self._next("pre"), "der": lint, **common})
        if final:
            digest = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
            self.rows["certificates"].append(
                {"id": self._next("cert"), "digest": digest, "der": der, **common}
            )
        for name in names:
            self.authorization(account, name.removeprefix("*."), validated=issued - 5 * _MINUTE)
        placeholder = "0000-00-00 00:00:00" if zero_date_status else datetime(2000, 1, 1)
        self.rows["certificateStatus"].append(
            {
                "id": self._next("status"),
                "serial": hexserial,
                "status": "good",
                "ocspLastUpdated": naive,
                "revokedDate": placeholder,
                "revokedReason": 0,
                "lastExpirationNagSent": placeholder,
                "notAfter": expires,
                "isExpired": 0,
                "issuerID": boulder_issuer_id(ca),
            }
        )
        return der

    def authorization(self, account: int, name: str, *, validated: datetime) -> None:
        """A valid DNS authorization of `account` for `name` (authz2), valid for 30 days."""
        naive = validated.astimezone(UTC).replace(tzinfo=None)
        self.rows["authz2"].append(
            {
                "id": self._next("authz"),
                "identifierType": 0,
                "identifierValue": name,
                "registrationID": account,
                "status": 1,
                "expires": naive + timedelta(days=30),
                "challenges": 1,
                "attempted": 0,
                "attemptedAt": naive,
                "token": secrets.token_bytes(32),
            }
        )

    def revoke(self, ca: CertificateAuthority, serial: int, *, when: datetime, reason: int) -> None:
        """Revoke as Boulder's SA does: the status row and a revokedCertificates row."""
        hexserial = boulder_serial(serial)
        naive = when.astimezone(UTC).replace(tzinfo=None)
        for row in self.rows["certificateStatus"]:
            if row["serial"] == hexserial:
                row.update(status="revoked", revokedDate=naive, revokedReason=reason)
        self.rows["revokedCertificates"].append(
            {
                "id": self._next("revoked"),
                "issuerID": boulder_issuer_id(ca),
                "serial": hexserial,
                "notAfterHour": naive.replace(minute=0, second=0) + timedelta(days=90),
                "shardIdx": serial % 128,
                "revokedDate": naive,
                "revokedReason": reason,
            }
        )

    def declare_replacement(
        self, replaced: int, replacement: int, *, account: int, when: datetime
    ) -> None:
        """An ARI order: the client said `replacement` replaces `replaced`."""
        order = self._next("order")
        naive = when.astimezone(UTC).replace(tzinfo=None)
        self.rows["orders"].append(
            {
                "id": order,
                "registrationID": account,
                "expires": naive + timedelta(days=7),
                "certificateSerial": boulder_serial(replacement),
                "beganProcessing": 1,
                "created": naive,
            }
        )
        self.rows["replacementOrders"].append(
            {
                "id": order,
                "serial": boulder_serial(replaced),
                "orderID": order,
                "orderExpires": naive + timedelta(days=7),
                "replaced": 1,
            }
        )
