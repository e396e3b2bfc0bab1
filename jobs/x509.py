"""Reads the fields revwatch needs out of a DER certificate.

Owns the one place where `cryptography` parses certificates: serial, issuer and subject DNs,
subject alternative names, validity, and the public key's fingerprint and type. It must not
decide what the fields mean (detection and diffing do that), log, or let any parser exception
escape: DER in a CA database is data written partly by subscribers, so every failure becomes a
`ValueError` with a short message that the caller attaches to the record it came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from jobs.model import normalise_serial

# NIST curve names are what a compliance reviewer recognises; cryptography reports SEC names.
_CURVE_NAMES = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
}

# Parser messages can embed attacker-chosen bytes; a record's message must stay one short line.
_MAX_DETAIL = 160


@dataclass(frozen=True)
class ParsedCertificate:
    """The fields of one certificate, as revwatch uses them.

    `names` holds the SAN entries in certificate order: DNS names lower-cased, IP addresses as
    text, RFC 822 mailboxes and URIs verbatim; other SAN types (otherName, directoryName,
    registeredID) are left out because no TLS name comparison can use them. Times are aware UTC.
    """

    serial: str
    issuer: str
    subject: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    spki_sha256: str
    key_type: str


def parse_certificate(der: bytes | bytearray | memoryview) -> ParsedCertificate:
    """Parse DER into a ParsedCertificate; raise ValueError naming what was wrong."""
    if not isinstance(der, bytes | bytearray | memoryview):
        raise ValueError(f"certificate DER must be bytes, got {type(der).__name__}")
    data = bytes(der)
    if not data:
        raise ValueError("certificate DER is empty")
    with _failure("certificate DER does not parse"):
        cert = x509.load_der_x509_certificate(data)
    # Extensions, names and keys are parsed lazily, so each access below can still fail.
    with _failure("certificate serial is invalid"):
        serial = normalise_serial(cert.serial_number)
    with _failure("certificate issuer or subject does not parse"):
        issuer = cert.issuer.rfc4514_string()
        subject = cert.subject.rfc4514_string()
    with _failure("certificate validity does not parse"):
        not_before = cert.not_valid_before_utc.astimezone(UTC)
        not_after = cert.not_valid_after_utc.astimezone(UTC)
    with _failure("certificate extensions do not parse"):
        names = _san_names(cert)
    with _failure("certificate public key info does not parse"):
        spki = _spki_der(cert.tbs_certificate_bytes)
    with _failure("certificate public key does not parse"):
        key_type = _key_type(cert)
    return ParsedCertificate(
        serial=serial,
        issuer=issuer,
        subject=subject,
        names=names,
        not_before=not_before,
        not_after=not_after,
        spki_sha256=hashlib.sha256(spki).hexdigest(),
        key_type=key_type,
    )


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


def _san_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    names: list[str] = []
    for entry in san:
        if isinstance(entry, x509.DNSName):
            names.append(entry.value.lower())
        elif isinstance(entry, x509.IPAddress):
            names.append(str(entry.value))
        elif isinstance(entry, x509.RFC822Name | x509.UniformResourceIdentifier):
            names.append(entry.value)
    return tuple(names)


def _key_type(cert: x509.Certificate) -> str:
    """`EC P-256`, `RSA 2048`, `Ed25519`...; an algorithm cryptography lacks gets its OID."""
    try:
        key = cert.public_key()
    except Exception:
        try:
            return f"unknown ({cert.public_key_algorithm_oid.dotted_string})"
        except Exception:
            return "unknown"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


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
