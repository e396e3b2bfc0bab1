"""The demo CA: a realistic generic-schema database with planted early revocations.

Owns the demo's content (two issuing CAs, ~300 subscribers, ~3,000 certificates with real DER
over the last 60 days, late background revocations, the planted scenarios listed in
`DemoData.expected` and a misissued certificate nobody revoked, `DemoData.suspicious`) and
loading it into a database with the generic schema's DDL. It must not detect, enrich or report
anything itself, and it reads no clock: the same `now` and seed always give the same rows, DER
included (deterministic keys and ECDSA signatures).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
import sqlalchemy.exc
from cryptography.hazmat.primitives.asymmetric import ec

from jobs.core import codes
from jobs.core.errors import ConfigError
from jobs.core.x509 import subject_dn
from jobs.demo import schema as generic_schema
from jobs.demo import world
from jobs.demo.certfactory import CertificateAuthority, key_from_secret
from jobs.demo.schema import REVOCATION_COLUMNS

DEFAULT_SEED = 1672423
WINDOW = timedelta(days=60)
# CAs commonly back-date notBefore a little so that clients with a slow clock accept the cert.
BACKDATE = timedelta(minutes=10)
ISSUERS = (
    "CN=Revwatch Demo TLS Issuing CA 1,O=Revwatch Demo,C=ES",
    "CN=Revwatch Demo TLS Issuing CA 2,O=Revwatch Demo,C=ES",
)


@dataclass(frozen=True)
class DemoData:
    """Rows for the generic schema's two tables, plus what the planted scenarios should yield.

    `expected` lists the planted early revocations (one dict each: `scenario`, `issuer`,
    `serial`, `replacement_serial` or None, `wrong_candidate_serial` or None, `subscriber`,
    `names`, `replacement_names`, `reason_code`, `revoked_by`, `issued_at`, `revoked_at`,
    `seconds_to_revocation`); `late` lists planted revocations, in the same shape, that come more
    than 7 days after issuance and must not be flagged; `suspicious` lists the planted
    certificates the issuance watch must flag (never revoked: `scenario`, `issuer`, `serial`,
    `subscriber`, `names`, `labels`, `issued_at`).
    """

    now: datetime
    seed: int
    issuance: list[dict[str, Any]]
    revocation: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    late: list[dict[str, Any]] = field(default_factory=list)
    suspicious: list[dict[str, Any]] = field(default_factory=list)
    ca_certificates: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class _Subscriber:
    id: str
    org: str
    locality: str
    country: str
    domain: str
    ca: int
    validated: bool  # OV: organisation in the subject; DV: CN only

    def subject(self, names: list[str]) -> dict[str, str]:
        if not self.validated:
            return {"CN": names[0]}
        return {"CN": names[0], "O": self.org, "L": self.locality, "C": self.country}

    def names(self, hosts: tuple[str, ...]) -> list[str]:
        return [self.domain if host == "@" else f"{host}.{self.domain}" for host in hosts]


def generate(now: datetime, seed: int = DEFAULT_SEED) -> DemoData:
    """The demo CA's rows as of `now` (aware), the same for the same `now` and `seed`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return _Generator(now.astimezone(UTC), seed).run()


class _Generator:
    def __init__(self, now: datetime, seed: int) -> None:
        self.now = now
        self.rng = random.Random(seed)
        self.seed = seed
        self.serials: set[int] = set()
        self.domains: set[str] = set()
        self.ids = iter(self.rng.sample(range(1, 100_000), 400))
        self.issuance: list[dict[str, Any]] = []
        self.revocation: list[dict[str, Any]] = []
        self.expected: list[dict[str, Any]] = []
        self.late: list[dict[str, Any]] = []
        self.suspicious: list[dict[str, Any]] = []
        self.cas = [
            CertificateAuthority.create(
                f"Revwatch Demo TLS Issuing CA {n}",
                "Revwatch Demo",
                now=now,
                key=self.key(),
                country="ES",
                serial=self.serial(),
            )
            for n in (1, 2)
        ]

    def run(self) -> DemoData:
        for _ in range(290):
            self.background(self.subscriber())
        self.planted()
        return DemoData(
            now=self.now,
            seed=self.seed,
            issuance=sorted(self.issuance, key=lambda r: (r["issued_at"], r["serial"])),
            revocation=sorted(self.revocation, key=lambda r: (r["revoked_at"], r["serial"])),
            expected=self.expected,
            late=self.late,
            suspicious=self.suspicious,
            ca_certificates=tuple(ca.der for ca in self.cas),
        )

    def key(self) -> ec.EllipticCurvePrivateKey:
        return key_from_secret(self.rng.getrandbits(254) + 1)

    def serial(self) -> int:
        while True:  # at least 64 bits of entropy, like the Baseline Requirements ask
            value = self.rng.getrandbits(128)
            if value >= 2**64 and value not in self.serials:
                self.serials.add(value)
                return value

    def subscriber(
        self, org: str | None = None, locality: str = "", country: str = "", domain: str = ""
    ) -> _Subscriber:
        rng = self.rng
        while org is None:
            country = rng.choices(list(world.COUNTRIES), [c[0] for c in world.COUNTRIES.values()])[
                0
            ]
            _, localities, legal_forms, tld_weights = world.COUNTRIES[country]
            locality = rng.choice(world.words(localities, "|"))
            name = rng.choice(world.NAMES)
            first, second = (
                (rng.choice(world.TRADES), name)
                if country == "ES"
                else (name, rng.choice(world.WORDS))
            )
            comma = "," if rng.random() < 0.1 else ""
            tld = rng.choices(world.TLDS, tld_weights)[0]
            domain = f"{_slug(first + second)}.{tld}"
            if domain not in self.domains:
                org = f"{first} {second}{comma} {rng.choice(world.words(legal_forms))}"
        self.domains.add(domain)
        return _Subscriber(
            id=f"cust-{next(self.ids):05d}",
            org=org,
            locality=locality,
            country=country,
            domain=domain,
            ca=0 if rng.random() < 0.7 else 1,
            validated=rng.random() < 0.85,
        )

    def issue(
        self,
        sub: _Subscriber,
        names: list[str],
        issued_at: datetime,
        *,
        ca: int | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
        requester: str | None = None,
        validity_days: int | None = None,
    ) -> dict[str, Any]:
        authority = self.cas[sub.ca if ca is None else ca]
        # 199 days: the CA/B Forum's ceiling for certificates issued from 2026-03-15 on.
        days = validity_days or self.rng.choice((90, 90, 199))
        not_before = issued_at - BACKDATE
        # Validity counts both ends (RFC 5280), hence the second off a whole number of days.
        not_after = not_before + timedelta(days=days, seconds=-1)
        serial = self.serial()
        subject = sub.subject(names)
        der = authority.issue(
            names,
            not_before=not_before,
            not_after=not_after,
            serial=serial,
            subject=subject,
            key=key if key is not None else self.key(),
        )
        row = {
            "issuer_dn": authority.name,
            "serial": format(serial, "x"),
            "subscriber": sub.id,
            "requester": requester or self.rng.choice(world.OPERATORS),
            "names": ",".join(names),
            "subject_dn": subject_dn(der),
            "not_before": not_before,
            "not_after": not_after,
            "issued_at": issued_at,
            "der": der,
        }
        self.issuance.append(row)
        return row

    def revoke(
        self, row: dict[str, Any], revoked_at: datetime, reason: int, by: str, comment: str
    ) -> None:
        values = (row["issuer_dn"], row["serial"], revoked_at, reason, by, comment)
        self.revocation.append(dict(zip(REVOCATION_COLUMNS, values, strict=True)))

    def issue_time(self, earliest: datetime, latest: datetime) -> datetime:
        """A whole second in [earliest, latest), mostly in RA office hours (07-19 UTC, Mon-Fri)."""
        span = int((latest - earliest).total_seconds())
        while True:
            t = earliest + timedelta(seconds=self.rng.randrange(span))
            if (7 <= t.hour < 19 and t.weekday() < 5) or self.rng.random() < 0.1:
                return t

    def background(self, sub: _Subscriber) -> None:
        rng = self.rng
        # Whole seconds, like a CA's own issuance log.
        end = self.now.replace(microsecond=0) - timedelta(minutes=10)
        start = end - WINDOW + timedelta(minutes=10)
        count = min(len(world.SERVICES), 2 + int(rng.expovariate(1 / 8.5)))
        for hosts in rng.sample(world.SERVICES, count):
            names = sub.names(hosts)
            ca = sub.ca if rng.random() < 0.95 else 1 - sub.ca
            key = self.key()
            issued = self.issue_time(start, end)
            row = self.issue(sub, names, issued, ca=ca, key=key)
            renewed = issued + timedelta(seconds=rng.randrange(20 * 86400, 55 * 86400))
            if rng.random() < 0.15 and renewed < end:
                self.issue(sub, names, renewed, ca=ca, key=key if rng.random() < 0.5 else None)
                if rng.random() < 0.3:  # the old one revoked once the new one is installed
                    when = renewed + timedelta(minutes=rng.randrange(5, 600))
                    self.revoke(row, min(when, end), 4, rng.choice(world.OPERATORS), "Superseded")
            elif rng.random() < 0.02 and issued + timedelta(days=10) < end:
                # Late revocations only: 9+ days, never within a 7-day threshold.
                delay = timedelta(
                    seconds=rng.randrange(9 * 86400, int((end - issued).total_seconds()))
                )
                reason, _, comments = rng.choices(
                    world.LATE_REASONS, [r[1] for r in world.LATE_REASONS]
                )[0]
                self.revoke(
                    row, issued + delay, reason, rng.choice(world.OPERATORS), rng.choice(comments)
                )

    def case(
        self,
        scenario: str,
        sub: _Subscriber,
        names: list[str],
        revoked_at: datetime,
        delay: timedelta,
        reason: int,
        by: str,
        comment: str,
        *,
        replacement: list[str] | None = None,
        after: timedelta = timedelta(0),
        reuse_key: bool = False,
        decoy: list[str] | None = None,
        decoy_after: timedelta = timedelta(0),
    ) -> None:
        """Plant one revocation `delay` after issuance, with its replacement and a decoy."""
        key = self.key()
        issued = revoked_at - delay
        row = self.issue(sub, names, issued, key=key, requester=by, validity_days=199)
        self.revoke(row, revoked_at, reason, by, comment)
        # The decoy: the same subscriber's nearest-in-time certificate, for unrelated names.
        wrong = self.issue(sub, decoy, revoked_at + decoy_after) if decoy else None
        repl = None
        if replacement is not None:
            repl = self.issue(
                sub,
                replacement,
                revoked_at + after,
                key=key if reuse_key else None,
                requester=by,
                validity_days=199,
            )
        record = {
            "scenario": scenario,
            "issuer": row["issuer_dn"],
            "serial": row["serial"],
            "replacement_serial": repl["serial"] if repl else None,
            "wrong_candidate_serial": wrong["serial"] if wrong else None,
            "subscriber": sub.id,
            "names": names,
            "replacement_names": replacement,
            "reason_code": reason,
            "revoked_by": by,
            "issued_at": issued,
            "revoked_at": revoked_at,
            "seconds_to_revocation": int(delay.total_seconds()),
        }
        (self.expected if delay <= timedelta(days=7) else self.late).append(record)

    def planted(self) -> None:
        """The scenarios of `DemoData.expected`, `DemoData.late` and `DemoData.suspicious`, in the
        last 10 days."""
        base = self.now.replace(microsecond=0)
        day, hour, minute = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
        maria, jlopez, akowalski, pgarcia, lmartin = world.OPERATORS[:5]

        def sub(org: str, city: str, domain: str, ca: int, *older: str) -> _Subscriber:
            s = self.subscriber(org, city, "ES", domain)
            s = _Subscriber(s.id, org, city, "ES", domain, ca, True)
            for hosts in older:  # earlier certificates, well before any planted issuance
                issued = self.issue_time(base - 58 * day, base - 18 * day)
                self.issue(s, s.names(world.words(hosts, ",")), issued, validity_days=199)
            return s

        # fmt: off
        s = sub("CUALTIS S.L.U", "Madrid", "cualtis.net", 0, "@,www", "vpn")
        # The founding incident: revoked 4 h 38 min after issuance, reissued 23 min later.
        self.case("typo_seed", s, ["mail.cuatis.net"], base - 2 * day, 4 * hour + 38 * minute,
                  0, jlopez, "Wrong domain name in certificate; reissued",
                  replacement=["mail.cualtis.net"], after=23 * minute, reuse_key=True)

        s = sub("Clínica Dental Sonrisa S.L.", "Valencia", "clinicasonrisa.es", 0, "@,www")
        names = s.names(("portal", "pacientes"))
        self.case("key_compromise_rekey", s, names, base - 3 * day - 5 * hour,
                  2 * day + 3 * hour + 12 * minute, 1, maria,
                  "Private key published in a public code repository",
                  replacement=names, after=65 * minute)

        s = sub("Textil Brezo, S.A.", "Zaragoza", "modabrezo.com", 1, "@,www", "b2b")
        # Superseded: the new certificate is issued first, then the old one revoked.
        self.case("reissue_add_name", s, s.names(("tienda", "www.tienda")),
                  base - day - 2 * hour, day + 47 * minute, 4, pgarcia, "Superseded: pagos added",
                  replacement=s.names(("tienda", "www.tienda", "pagos")), after=-9 * minute)

        s = sub("Ágora Eventos S.L.", "Sevilla", "agoraeventos.es", 1, "@,www")
        self.case("no_replacement", s, s.names(("congreso2026",)), base - 4 * day - hour,
                  3 * hour + 5 * minute, 5, jlopez, "Event cancelled")

        # Typos whose nearest-in-time sibling certificate is the wrong candidate.
        s = sub("Mercaverde Distribuciones S.L.", "Murcia", "mercaverde.com", 0, "@,www",
                "intranet")
        self.case("typo_transposition", s, ["shop.mercavedre.com"], base - 5 * day - 3 * hour,
                  5 * hour + 12 * minute, 0, maria, "Typo in SAN",
                  replacement=["shop.mercaverde.com"], after=130 * minute,
                  decoy=["intranet.mercaverde.com"], decoy_after=6 * minute)

        s = sub("Asesoría Fiscal Levante S.L.", "Alicante", "asesorialevante.es", 1, "@,www")
        self.case("typo_dropped_letter", s, ["clientes.asesorialevnte.es"],
                  base - 6 * day - 2 * hour, 9 * hour + 41 * minute, 0, pgarcia,
                  "Customer reported misspelled name",
                  replacement=["clientes.asesorialevante.es"], after=47 * minute,
                  decoy=s.names(("@", "www")), decoy_after=-15 * minute)

        s = sub("Navieras del Atlántico S.A.", "A Coruña", "navatlantico.eu", 0, "@,www", "api")
        self.case("typo_wrong_tld", s, ["reservas.navatlantico.com"], base - 7 * day - 6 * hour,
                  day + 2 * hour, 0, akowalski, "Requested for the wrong domain",
                  replacement=["reservas.navatlantico.eu"], after=31 * minute,
                  decoy=["api.navatlantico.eu"], decoy_after=4 * minute)

        s = sub("Laboratorios Ferrer Soler S.A.", "Barcelona", "labferrersoler.es", 1, "@,www")
        self.case("near_threshold", s, s.names(("lims",)), base - 8 * day - 4 * hour,
                  6 * day + 21 * hour, 4, lmartin, "Superseded",
                  replacement=s.names(("lims",)), after=-hour)
        # fmt: on

        # Late: must not be flagged by a 7-day threshold, though revoked in the last 10 days.
        for days, ago, reason, ca in ((8, 3, 4, 0), (15, 5, 5, 1), (40, 9, 3, 0)):
            s = self.subscriber()
            s = _Subscriber(s.id, s.org, s.locality, s.country, s.domain, ca, True)
            revoked = base - ago * day - 7 * hour
            delay = days * day + 2 * hour
            self.case(f"late_{days}_days", s, s.names(("portal",)), revoked, delay, reason,
                      lmartin, "Customer request")  # fmt: skip

        # The worse case: misissued and never revoked, for the issuance watch to catch. Planted
        # last, so that the random draws of everything above stay as they were.
        s = sub("Mármoles Macael S.A.", "Almería", "marmolesmacael.com", 0, "@,www", "pedidos")
        issued = base - day - 5 * hour
        names = ["tienda.rnarmolesmacael.com"]  # "rn" for "m": a look-alike of the held domain
        row = self.issue(s, names, issued, requester=maria, validity_days=199)
        self.suspicious.append({
            "scenario": "unrevoked_lookalike", "issuer": row["issuer_dn"], "serial": row["serial"],
            "subscriber": s.id, "names": names, "labels": [codes.LABEL_NEAR_SIBLING.name],
            "issued_at": issued,
        })  # fmt: skip


def load(engine: sqlalchemy.Engine, data: DemoData) -> None:
    """Create the generic schema in `engine`'s database and insert `data`, in one transaction."""
    generic_schema.create_and_insert(engine, data.issuance, data.revocation)


def create_sqlite(
    path: Path, now: datetime, *, seed: int = DEFAULT_SEED, overwrite: bool = False
) -> DemoData:
    """Generate the demo data and load it into a new SQLite file at `path`."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise ConfigError(f"{path} already exists; refusing to overwrite it")
        if not path.is_file():
            raise ConfigError(f"{path} exists and is not a file; refusing to replace it")
        path.unlink()
    data = generate(now, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the directory for {path}: {exc.strerror}") from exc
    engine = sqlalchemy.create_engine(sqlalchemy.URL.create("sqlite", database=str(path)))
    try:
        load(engine, data)
    except BaseException:
        engine.dispose()
        path.unlink(missing_ok=True)  # a half-loaded demo database would only mislead
        raise
    engine.dispose()
    return data


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in ascii_text.lower() if c.isalnum())
