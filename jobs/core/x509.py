"""Reads the fields revwatch needs out of a DER certificate.

Owns the one place where `cryptography` parses certificates (tests/test_x509.py fails if any
other module under `jobs/` calls its loaders): serial, issuer and subject DNs and the subject's
attributes (named as reviewers read them: `postalCode`, never `2.5.4.17`), subject alternative
names of every type, validity, the public key's fingerprint, type and size, extended key usages,
certificate policies and the precertificate poison; the issuer name's encoding (Boulder's NameID
hashes it); and the reading of an RFC 4514 DN string from a database column (`dn_attributes`,
`named_dn`). It must not decide what the fields mean (detection and diffing do that), log, or
let any parser exception escape: DER in a CA database is data written partly by subscribers, so
every failure becomes a `ValueError` with a short message that the caller attaches to the record
it came from (a `data.der_unparseable` finding, or an unknown field).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jobs.core.model import normalise_serial

# NIST curve names are what a compliance reviewer recognises; cryptography reports SEC names.
_CURVE_NAMES = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}

# RFC 5280 / CA/B Forum names of the usages a TLS CA issues; any other is shown as its OID.
EKU_NAMES: dict[str, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string: "anyExtendedKeyUsage",
}

# CA/Browser Forum reserved policy OIDs: the validation level a reviewer reads off a profile.
POLICY_NAMES: dict[str, str] = {
    "2.23.140.1.1": "EV",
    "2.23.140.1.2.1": "DV",
    "2.23.140.1.2.2": "OV",
    "2.23.140.1.2.3": "IV",
    "2.5.29.32.0": "anyPolicy",
}

# Subject attributes RFC 4514 has no short name for, by the names OpenSSL and the CA/B Forum use:
# a reviewer reads `postalCode=21532`, never `2.5.4.17=21532`. Unknown ones keep their OID.
ATTRIBUTE_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "surname",
    NameOID.TITLE: "title",
    NameOID.INITIALS: "initials",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
}
_NAME_OIDS = {name: oid for oid, name in ATTRIBUTE_NAMES.items()}
_DOTTED_ATTRIBUTE = re.compile(r"(?:^|,)\s*\d+(?:\.\d+)+=")

# RFC 6962 precertificate poison: a precertificate is not a usable certificate.
PRECERT_POISON_OID = "1.3.6.1.4.1.11129.2.4.3"

# Parser messages can embed attacker-chosen bytes; a record's message must stay one short line.
_MAX_DETAIL = 160


@dataclass(frozen=True)
class ParsedCertificate:
    """The fields of one certificate, as revwatch uses them.

    `names` holds every usable SAN entry in certificate order: DNS names lower-cased, IP
    addresses as text, RFC 822 mailboxes and URIs verbatim; `dns_names`, `ip_addresses`,
    `emails` and `uris` hold the same entries by type. Other SAN types (otherName,
    directoryName, registeredID) are left out because no TLS name comparison can use them.
    `subject_attributes` are (name, value) pairs in encoded order (`("C", "ES")`,
    `("CN", "www.example.com")`, `("postalCode", "1260")`: RFC 4514's short names, else
    `ATTRIBUTE_NAMES`, else the dotted OID); `subject` spells them the same way. `eku` and
    `policies` are dotted OIDs in certificate order (`EKU_NAMES` and `POLICY_NAMES` name the
    common ones); `key_size` is None for keys without one (Ed25519). Times are aware UTC;
    `sha256` is the hex SHA-256 of the DER.
    """

    serial: str
    issuer: str
    subject: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    spki_sha256: str
    key_type: str
    sha256: str = ""
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    subject_attributes: tuple[tuple[str, str], ...] = ()
    key_size: int | None = None
    eku: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    precertificate: bool = False


def parse_certificate(der: bytes | bytearray | memoryview) -> ParsedCertificate:
    """Parse DER into a ParsedCertificate; raise ValueError naming what was wrong."""
    data, cert = _load(der)
    # Extensions, names and keys are parsed lazily, so each access below can still fail.
    with _failure("certificate serial is invalid"):
        serial = normalise_serial(cert.serial_number)
    with _failure("certificate issuer or subject does not parse"):
        issuer = cert.issuer.rfc4514_string()
        subject = cert.subject.rfc4514_string(ATTRIBUTE_NAMES)
        attributes = _attributes(cert.subject)
    with _failure("certificate validity does not parse"):
        not_before = cert.not_valid_before_utc.astimezone(UTC)
        not_after = cert.not_valid_after_utc.astimezone(UTC)
    with _failure("certificate extensions do not parse"):
        san = _san_entries(cert)
        eku, policies, poisoned = _profile(cert)
    with _failure("certificate public key info does not parse"):
        spki = _spki_der(cert.tbs_certificate_bytes)
    with _failure("certificate public key does not parse"):
        key_type, key_size = _key_type(cert)
    return ParsedCertificate(
        serial=serial,
        issuer=issuer,
        subject=subject,
        names=tuple(value for _, value in san),
        not_before=not_before,
        not_after=not_after,
        spki_sha256=hashlib.sha256(spki).hexdigest(),
        key_type=key_type,
        sha256=hashlib.sha256(data).hexdigest(),
        dns_names=tuple(value for kind, value in san if kind == "dns"),
        ip_addresses=tuple(value for kind, value in san if kind == "ip"),
        emails=tuple(value for kind, value in san if kind == "email"),
        uris=tuple(value for kind, value in san if kind == "uri"),
        subject_attributes=attributes,
        key_size=key_size,
        eku=eku,
        policies=policies,
        precertificate=poisoned,
    )


def issuer_der(der: bytes | bytearray | memoryview) -> bytes:
    """The certificate's issuer Name, DER-encoded; raise ValueError naming what was wrong."""
    _, cert = _load(der)
    with _failure("certificate issuer or subject does not parse"):
        return cert.issuer.public_bytes()


def subject_dn(der: bytes | bytearray | memoryview) -> str:
    """The certificate's subject as an RFC 4514 string, without parsing the rest (the demo's
    thousands of certificates); raise ValueError naming what was wrong."""
    _, cert = _load(der)
    with _failure("certificate issuer or subject does not parse"):
        return cert.subject.rfc4514_string(ATTRIBUTE_NAMES)


def _load(der: bytes | bytearray | memoryview) -> tuple[bytes, x509.Certificate]:
    """The DER as bytes and cryptography's lazily parsed certificate; ValueError if it fails."""
    if not isinstance(der, bytes | bytearray | memoryview):
        raise ValueError(f"certificate DER must be bytes, got {type(der).__name__}")
    data = bytes(der)
    if not data:
        raise ValueError("certificate DER is empty")
    with _failure("certificate DER does not parse"):
        return data, x509.load_der_x509_certificate(data)


class ParseCache:
    """Parses each distinct DER once, keyed by its SHA-256; failures are remembered too.

    A mass-revocation night compares the same certificates many times (a subscriber's
    replacement is every sibling's candidate); parsing is the costly part. `limit` bounds the
    entries kept (least recently used go first) so a night of millions cannot hold them all.
    """

    def __init__(self, limit: int = 65_536) -> None:
        self._limit = limit
        self._entries: OrderedDict[str, ParsedCertificate | str] = OrderedDict()
        self.parsed = 0  # how many DER blobs were actually parsed (for tests and benchmarks)

    def get(self, der: bytes, sha256: str | None = None) -> ParsedCertificate | str:
        """The parsed certificate, or the ValueError message why it does not parse."""
        key = sha256 or hashlib.sha256(der).hexdigest()
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        self.parsed += 1
        try:
            found = parse_certificate(der)
        except ValueError as exc:
            found = str(exc)
        self._entries[key] = found
        if len(self._entries) > self._limit:
            self._entries.popitem(last=False)
        return found


@lru_cache(maxsize=65_536)  # the same subject DNs recur across a night's cases and replacements
def dn_attributes(dn: str) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs of an RFC 4514 DN string, most general first, as encoded.

    This reads a DN as a CA database column spells it (`CN=a,O=B\\, S.L.,C=ES`, `postalCode=1260`
    or `2.5.4.17=1260`); a string that is not RFC 4514 raises ValueError.
    """
    with _failure("distinguished name does not parse"):
        return _attributes(x509.Name.from_rfc4514_string(dn, _NAME_OIDS))


@lru_cache(maxsize=65_536)
def named_dn(dn: str) -> str:
    """An RFC 4514 DN string with its attributes by name (`2.5.4.17=1260` -> `postalCode=1260`);
    the string unchanged when it names them already or does not parse (it is shown as written)."""
    if not _DOTTED_ATTRIBUTE.search(dn):
        return dn
    try:
        return x509.Name.from_rfc4514_string(dn, _NAME_OIDS).rfc4514_string(ATTRIBUTE_NAMES)
    except Exception:
        return dn


def _attributes(name: x509.Name) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for attribute in name:
        value = attribute.value
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        key = ATTRIBUTE_NAMES.get(attribute.oid) or attribute.rfc4514_attribute_name
        out.append((key, text))
    return tuple(out)


@contextmanager
def _failure(what: str) -> Iterator[None]:
    """Turn anything the parser raises into ValueError(`what: detail`).

    BaseException, not Exception: a panic in cryptography's Rust parser surfaces as pyo3's
    PanicException, which derives from BaseException, and one bad record must not end the run.
    """
    try:
        yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        raise ValueError(f"{what}: {_detail(exc)}") from exc


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _san_entries(cert: x509.Certificate) -> list[tuple[str, str]]:
    """(type, value) of each usable SAN entry, in certificate order."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    entries: list[tuple[str, str]] = []
    for entry in san:
        if isinstance(entry, x509.DNSName):
            entries.append(("dns", entry.value.lower()))
        elif isinstance(entry, x509.IPAddress):
            entries.append(("ip", str(entry.value)))
        elif isinstance(entry, x509.RFC822Name):
            entries.append(("email", entry.value))
        elif isinstance(entry, x509.UniformResourceIdentifier):
            entries.append(("uri", entry.value))
    return entries


def _profile(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(EKU OIDs, policy OIDs, precertificate poison present)."""
    extensions = cert.extensions
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku = tuple(oid.dotted_string for oid in usages)
    except x509.ExtensionNotFound:
        eku = ()
    try:
        found = extensions.get_extension_for_class(x509.CertificatePolicies).value
        policies = tuple(info.policy_identifier.dotted_string for info in found)
    except x509.ExtensionNotFound:
        policies = ()
    poisoned = any(ext.oid.dotted_string == PRECERT_POISON_OID for ext in extensions)
    return eku, policies, poisoned


def _key_type(cert: x509.Certificate) -> tuple[str, int | None]:
    """(`EC P-256`, 256), (`RSA 2048`, 2048), (`Ed25519`, None)...; an unknown one gets its OID."""
    try:
        key = cert.public_key()
    except Exception:
        try:
            return f"unknown ({cert.public_key_algorithm_oid.dotted_string})", None
        except Exception:
            return "unknown", None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_NAMES.get(key.curve.name, key.curve.name)}", key.curve.key_size
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", None
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", None
    return type(key).__name__, None


def _spki_der(tbs: bytes) -> bytes:
    """The SubjectPublicKeyInfo exactly as encoded in the TBSCertificate.

    Taken from the bytes rather than re-serialised from the key so that the fingerprint is the
    one other tools print, and so that a key type cryptography cannot load still has one.
    """
    _, start, end = _tlv(tbs, 0)
    pos = start
    tag, _, after = _tlv(tbs, pos)
    if tag == 0xA0:  # [0] EXPLICIT version is optional (absent means v1)
        pos = after
    # serialNumber, signature, issuer, validity, subject precede subjectPublicKeyInfo.
    for _ in range(5):
        _, _, pos = _tlv(tbs, pos)
    tag, _, spki_end = _tlv(tbs, pos)
    if tag != 0x30 or spki_end > end:
        raise ValueError("subjectPublicKeyInfo is not a SEQUENCE")
    return tbs[pos:spki_end]


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Tag, start of content and end of the DER element at `pos` (single-byte tags only)."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length
