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
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from jobs.core.model import normalise_serial

# NIST curve names are what a compliance reviewer recognises; cryptography reports SEC names.
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}

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
    "2.23.140.1.1": "EV", "2.23.140.1.2.1": "DV", "2.23.140.1.2.2": "OV", "2.23.140.1.2.3": "IV",
    "2.5.29.32.0": "anyPolicy",
}  # fmt: skip

# Subject attributes RFC 4514 has no short name for, by the names OpenSSL and the CA/B Forum use:
# a reviewer reads `postalCode=21532`, never `2.5.4.17=21532`. Unknown ones keep their OID.
ATTRIBUTE_NAMES: dict[x509.ObjectIdentifier, str] = {
    NameOID.POSTAL_CODE: "postalCode", NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "surname", NameOID.TITLE: "title", NameOID.INITIALS: "initials",
    NameOID.PSEUDONYM: "pseudonym", NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
}  # fmt: skip
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
    return _read(data, cert, hashlib.sha256(data).hexdigest())


def _read(data: bytes, cert: x509.Certificate, sha256: str) -> ParsedCertificate:
    """The fields of a loaded certificate, each read once (cryptography builds Python objects
    per access, and a mass-revocation night reads tens of thousands of certificates). Names,
    extensions and keys are parsed lazily, so each step can fail: `what` names the step, in the
    order the checks have always run, so a record's message stays the same."""
    what = "certificate serial is invalid"
    try:
        serial = normalise_serial(cert.serial_number)
        what = "certificate issuer or subject does not parse"
        try:
            parts: tuple[bytes, bytes, bytes] | Exception = _tbs_parts(data)
        except Exception as exc:  # raised below, where the SPKI has always been read
            parts = exc
        issuer, subject, attributes = _names(cert, parts)
        what = "certificate validity does not parse"
        not_before = cert.not_valid_before_utc.astimezone(UTC)
        not_after = cert.not_valid_after_utc.astimezone(UTC)
        what = "certificate extensions do not parse"
        (names, dns, ips, emails, uris), eku, policies, poisoned = _extensions(cert)
        what = "certificate public key info does not parse"
        if isinstance(parts, Exception):
            raise parts
        spki = parts[2]
        what = "certificate public key does not parse"
        key_type, key_size = _key_type(cert)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # as in `_failure`: pyo3's PanicException is a BaseException
        raise ValueError(f"{what}: {_detail(exc)}") from exc
    return ParsedCertificate(
        serial, issuer, subject, names, not_before, not_after, hashlib.sha256(spki).hexdigest(),
        key_type, sha256, dns, ips, emails, uris, attributes, key_size, eku, policies, poisoned,
    )  # fmt: skip


def _names(
    cert: x509.Certificate, parts: tuple[bytes, bytes, bytes] | Exception
) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(issuer, subject, subject attributes) as cryptography's Name spells them. A night's
    certificates come from a handful of issuers: the issuer's string is kept by its encoding.
    The usual kind of subject is read from its encoding (`_plain_dn`), any other by cryptography."""
    plain = None
    if isinstance(parts, Exception):
        issuer = cert.issuer.rfc4514_string()
    else:
        try:
            issuer = _issuer(parts[0])
        except Exception:  # cryptography's own reading says what is wrong
            issuer = cert.issuer.rfc4514_string()
        plain = _plain_dn(parts[1])
    if plain is None:
        name = cert.subject
        plain = name.rfc4514_string(ATTRIBUTE_NAMES), _attributes(name)
    return issuer, *plain


@lru_cache(maxsize=1_024)
def _issuer(encoded: bytes) -> str:
    return x509.Name.from_bytes(encoded).rfc4514_string()


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
            # The key is the DER's hash when the caller gave none: not computed twice.
            found = _read(*_load(der), key) if sha256 is None else parse_certificate(der)
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


# Value types `_plain_dn` reads (UTF8String, PrintableString, IA5String): cryptography turns
# their bytes into text as UTF-8 too. BMP, Universal and bit strings go through cryptography.
_PLAIN_STRINGS = frozenset({0x0C, 0x13, 0x16})
# Attributes cryptography warns about when their length is outside these bounds (UTF-8 octets).
_LENGTH_LIMITS = {"C": (2, 2), "jurisdictionC": (2, 2), "CN": (1, 64)}
# RFC 4514 escapes as cryptography applies them (one after the other, the backslash first; no
# escape adds a character a later one escapes, so one translation is the same).
_SPECIAL = re.compile('[\\\\"+,;<>\0]')
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "+": "\\+", ",": "\\,", ";": "\\;",
                          "<": "\\<", ">": "\\>", "\0": "\\00"})  # fmt: skip


@lru_cache(maxsize=1)
def _attribute_oids() -> dict[bytes, str]:
    """The name of each attribute type cryptography knows, by its OID's content octets as
    cryptography encodes them: `ATTRIBUTE_NAMES` first, else its own RFC 4514 short name."""
    out: dict[bytes, str] = {}
    for oid in {v for v in vars(NameOID).values() if isinstance(v, x509.ObjectIdentifier)}:
        attribute = x509.NameAttribute(oid, "xx")  # a value every length limit accepts
        encoded = x509.Name([attribute]).public_bytes()  # SEQUENCE{SET{SEQUENCE{OID, value}}}
        _, start, end = _tlv(encoded, _tlv(encoded, _tlv(encoded, 2)[1])[1])
        out[encoded[start:end]] = ATTRIBUTE_NAMES.get(oid) or attribute.rfc4514_attribute_name
    return out


def _plain_dn(encoded: bytes) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """(RFC 4514 string by `ATTRIBUTE_NAMES`, attributes) of an encoded Name as cryptography's
    Name gives them, for the usual kind: one attribute per RDN, of a type cryptography names,
    a UTF-8 string type, of a length it does not warn about; None for anything else, which the
    caller reads through cryptography (a test holds the two together). Building that Name costs
    more than the rest of a certificate: a validated Python object per attribute."""
    oids, pairs = _attribute_oids(), []
    try:
        _, pos, end = _tlv(encoded, 0)
        while pos < end:
            tag, start, after = _tlv(encoded, pos)  # an RDN: a SET of one AttributeTypeAndValue
            kind, inner, inner_end = _tlv(encoded, start)
            if tag != 0x31 or kind != 0x30 or inner_end != after:
                return None
            kind, oid_start, oid_end = _tlv(encoded, inner)
            name = oids.get(encoded[oid_start:oid_end]) if kind == 0x06 else None
            kind, value_start, value_end = _tlv(encoded, oid_end)
            if name is None or kind not in _PLAIN_STRINGS or value_end != after:
                return None
            limits = _LENGTH_LIMITS.get(name)
            if limits is not None and not limits[0] <= value_end - value_start <= limits[1]:
                return None
            pairs.append((name, encoded[value_start:value_end].decode("utf-8")))
            pos = after
    except ValueError:  # not UTF-8, or a form `_tlv` does not read: cryptography's turn
        return None
    text = ",".join(f"{name}={_escape(value)}" for name, value in reversed(pairs))
    return text, tuple(pairs)


def _escape(value: str) -> str:
    """An attribute value as RFC 4514 writes it, character for character as cryptography does."""
    if not value:
        return ""
    if _SPECIAL.search(value):
        value = value.translate(_ESCAPES)
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


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


# SAN entry types by the `ParsedCertificate` field they go to; other types are left out.
_SAN_KINDS: dict[type, int] = {x509.DNSName: 0, x509.IPAddress: 1, x509.RFC822Name: 2,
                               x509.UniformResourceIdentifier: 3}  # fmt: skip
_POISON_OID = x509.ObjectIdentifier(PRECERT_POISON_OID)
_Texts = tuple[str, ...]


def _extensions(cert: x509.Certificate) -> tuple[tuple[_Texts, ...], _Texts, _Texts, bool]:
    """((SAN names, DNS names, IP addresses, mailboxes, URIs), EKU OIDs, policy OIDs, poison
    present) in one pass. cryptography refuses a duplicate extension, so matching by OID finds
    what `get_extension_for_class` did."""
    names: list[str] = []
    by_kind: tuple[list[str], ...] = ([], [], [], [])
    eku, policies, poisoned = (), (), False
    for extension in cert.extensions:
        oid = extension.oid
        if oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
            for entry in extension.value:
                kind = _SAN_KINDS.get(type(entry))
                if kind is not None:
                    value = entry.value
                    text = value.lower() if kind == 0 else str(value) if kind == 1 else value
                    names.append(text)
                    by_kind[kind].append(text)
        elif oid == ExtensionOID.EXTENDED_KEY_USAGE:
            eku = tuple(usage.dotted_string for usage in extension.value)
        elif oid == ExtensionOID.CERTIFICATE_POLICIES:
            policies = tuple(info.policy_identifier.dotted_string for info in extension.value)
        elif oid == _POISON_OID:
            poisoned = True
    return (tuple(names), *map(tuple, by_kind)), eku, policies, poisoned


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


def _tbs_parts(data: bytes) -> tuple[bytes, bytes, bytes]:
    """The issuer Name, subject Name and SubjectPublicKeyInfo as encoded in the certificate
    (which cryptography has loaded, so checked as DER): not re-serialised from the key, so that
    the fingerprint is the one other tools print and a key cryptography cannot load has one."""
    _, start, _ = _tlv(data, 0)  # Certificate
    _, pos, end = _tlv(data, start)  # TBSCertificate
    tag, _, after = _tlv(data, pos)
    if tag == 0xA0:  # [0] EXPLICIT version is optional (absent means v1)
        pos = after
    _, _, pos = _tlv(data, pos)  # serialNumber
    _, _, issuer = _tlv(data, pos)  # signature
    _, _, validity = _tlv(data, issuer)
    _, _, subject = _tlv(data, validity)
    _, _, spki = _tlv(data, subject)
    tag, _, spki_end = _tlv(data, spki)
    if tag != 0x30 or spki_end > end:
        raise ValueError("subjectPublicKeyInfo is not a SEQUENCE")
    return data[issuer:validity], data[subject:spki], data[spki:spki_end]


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """Tag, start of content and end of the DER element at `pos` (single-byte tags only)."""
    size = len(data)
    if pos + 2 > size:
        raise ValueError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > size:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > size:
        raise ValueError("truncated DER")
    return tag, pos, pos + length
