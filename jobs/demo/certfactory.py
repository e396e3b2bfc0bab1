"""Builds real X.509 certificates: a self-signed issuing CA and the TLS certificates it signs.

Owns key generation and certificate construction for the demo CA data and for the tests, so that
both exercise the parser with the same DER a real CA would emit. It must not parse certificates
(that is `jobs.core.x509`), touch a database or read a clock: every time is an argument.

Keys are EC P-256 and signatures are deterministic ECDSA (RFC 6979): a few thousand certificates
take about a second, and the same keys, names, times and serial always give the same bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import (
    AuthorityInformationAccessOID,
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)

# Subject attribute keys a caller may use, in the order a CA writes them (most general first);
# rfc4514_string() prints them reversed, so subjects read `CN=...,O=...,L=...,C=...`.
_SUBJECT_ORDER: tuple[tuple[str, x509.ObjectIdentifier], ...] = (
    ("C", NameOID.COUNTRY_NAME),
    ("ST", NameOID.STATE_OR_PROVINCE_NAME),
    ("L", NameOID.LOCALITY_NAME),
    ("O", NameOID.ORGANIZATION_NAME),
    ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("CN", NameOID.COMMON_NAME),
)
_SUBJECT_KEYS = frozenset(key for key, _ in _SUBJECT_ORDER)

# CA certificates outlive everything the tests and the demo issue from them.
_CA_BACKDATE = timedelta(days=5 * 365)
_CA_LIFETIME = timedelta(days=15 * 365)


# CA/B Forum reserved policy identifiers: organization-validated and domain-validated.
_OV_POLICY = ObjectIdentifier("2.23.140.1.2.2")
_DV_POLICY = ObjectIdentifier("2.23.140.1.2.1")


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh EC P-256 private key (random)."""
    return ec.generate_private_key(ec.SECP256R1())


def key_from_secret(secret: int) -> ec.EllipticCurvePrivateKey:
    """The EC P-256 key with private scalar `secret`: lets a seeded generator make stable keys.

    `secret` must be in [1, 2**255); P-256's group order is above that.
    """
    if not 1 <= secret < 2**255:
        raise ValueError("key secret must be in [1, 2**255)")
    return ec.derive_private_key(secret, ec.SECP256R1())


def _aware_utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _subject_name(subject: Mapping[str, str]) -> x509.Name:
    unknown = sorted(set(subject) - _SUBJECT_KEYS)
    if unknown:
        raise ValueError(f"unknown subject attribute(s) {unknown}; use {sorted(_SUBJECT_KEYS)}")
    return x509.Name(
        [x509.NameAttribute(oid, subject[key]) for key, oid in _SUBJECT_ORDER if key in subject]
    )


def _general_name(name: str) -> x509.GeneralName:
    """A SAN entry for `name`: IP addresses and `x@y` mailboxes get their own SAN types."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    if "@" in name:
        return x509.RFC822Name(name)
    return x509.DNSName(name)


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed issuing CA: its certificate, key and subject DN (the issuer DN it writes)."""

    ca_cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def name(self) -> str:
        """The RFC 4514 subject of the CA, i.e. the issuer DN of every certificate it issues."""
        return self.ca_cert.subject.rfc4514_string()

    def _slug(self) -> str:
        common = self.ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        text = str(common[0].value) if common else "demo-ca"
        return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "demo-ca"

    @property
    def der(self) -> bytes:
        """The CA certificate as DER."""
        return self.ca_cert.public_bytes(serialization.Encoding.DER)

    @classmethod
    def create(
        cls,
        common_name: str,
        organization: str,
        *,
        now: datetime,
        key: ec.EllipticCurvePrivateKey | None = None,
        country: str | None = None,
        serial: int | None = None,
    ) -> CertificateAuthority:
        """A self-signed EC P-256 CA valid from five years before `now` to ten years after."""
        now = _aware_utc(now, "now")
        key = key if key is not None else new_key()
        attributes: dict[str, str] = {"O": organization, "CN": common_name}
        if country is not None:
            attributes["C"] = country
        name = _subject_name(attributes)
        public = key.public_key()
        ski = x509.SubjectKeyIdentifier.from_public_key(public)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(now - _CA_BACKDATE)
            .not_valid_after(now - _CA_BACKDATE + _CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
        )
        cert = builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)
        return cls(ca_cert=cert, key=key)

    def issue(
        self,
        names: Sequence[str],
        *,
        not_before: datetime,
        not_after: datetime,
        serial: int | None = None,
        subject: Mapping[str, str] | None = None,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> bytes:
        """A TLS server certificate for `names` signed by this CA, as DER.

        Every name becomes a SAN (DNS, IP address or RFC 822 mailbox); the subject defaults to
        `CN=<first name>`. A fresh key is made unless `key` is given (pass the same key to model a
        renewal that reuses it).
        """
        if not names:
            raise ValueError("a certificate needs at least one name")
        not_before = _aware_utc(not_before, "not_before")
        not_after = _aware_utc(not_after, "not_after")
        if not_after <= not_before:
            raise ValueError("not_after must be after not_before")
        if serial is not None and serial <= 0:
            raise ValueError(f"serial must be positive, got {serial}")
        subject_name = _subject_name(subject if subject is not None else {"CN": names[0]})
        public = (key if key is not None else new_key()).public_key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject_name)
            .issuer_name(self.ca_cert.subject)
            .public_key(public)
            .serial_number(serial if serial is not None else x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([_general_name(name) for name in names]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        # The rest of a Baseline Requirements subscriber profile (AIA, CRL, policies), so that a
        # linter finds in the demo's certificates only what a case itself gets wrong.
        base = f"http://pki.revwatch-demo.com/{self._slug()}"
        builder = builder.add_extension(
            x509.AuthorityInformationAccess([
                x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                       x509.UniformResourceIdentifier(f"{base}/ocsp")),
                x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                       x509.UniformResourceIdentifier(f"{base}/ca.crt")),
            ]),
            critical=False,
        ).add_extension(
            x509.CRLDistributionPoints([
                x509.DistributionPoint([x509.UniformResourceIdentifier(f"{base}/ca.crl")],
                                       None, None, None),
            ]),
            critical=False,
        )  # fmt: skip
        validated = (
            _OV_POLICY
            if subject_name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            else _DV_POLICY
        )
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(validated, None)]), critical=False
        )
        cert = builder.sign(self.key, hashes.SHA256(), ecdsa_deterministic=True)
        return cert.public_bytes(serialization.Encoding.DER)
