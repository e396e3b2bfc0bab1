"""Tests for jobs.core.x509 (parsing) and jobs.demo.certfactory (building), on real DER.

Also holds the rule of x509's docstring: no other module under `jobs/` calls cryptography's
certificate loaders, so every parser failure (panics included) goes through its wrapper.
"""

from __future__ import annotations

import ast
import hashlib
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from jobs.core.x509 import (
    EKU_NAMES,
    POLICY_NAMES,
    ParseCache,
    ParsedCertificate,
    dn_attributes,
    issuer_der,
    parse_certificate,
    subject_dn,
)
from jobs.demo.certfactory import CertificateAuthority, key_from_secret, new_key
from jobs.source.profiles.boulder import name_id

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
NOT_BEFORE = NOW - timedelta(minutes=10)
NOT_AFTER = NOT_BEFORE + timedelta(days=90, seconds=-1)


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create("Test Issuing CA", "Revwatch Tests", now=NOW, country="ES")


def _issue(ca: CertificateAuthority, names: list[str], **kwargs: Any) -> bytes:
    return ca.issue(names, not_before=NOT_BEFORE, not_after=NOT_AFTER, **kwargs)


def _raw_certificate(
    ca: CertificateAuthority,
    public_key: CertificatePublicKeyTypes,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> bytes:
    """A certificate built outside the factory, for shapes the factory never makes."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "raw.example.com")]))
        .issuer_name(ca.ca_cert.subject)
        .public_key(public_key)
        .serial_number(4242)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_fields_of_a_factory_certificate(ca: CertificateAuthority) -> None:
    subject = {"CN": "www.example.com", "O": "Ejemplo, S.L.", "L": "Madrid", "C": "ES"}
    der = _issue(ca, ["www.example.com", "example.com"], serial=0x00AB_CDEF, subject=subject)

    parsed = parse_certificate(der)

    assert parsed.serial == "abcdef"
    assert parsed.issuer == "CN=Test Issuing CA,O=Revwatch Tests,C=ES" == ca.name
    assert parsed.subject == "CN=www.example.com,O=Ejemplo\\, S.L.,L=Madrid,C=ES"
    assert parsed.names == ("www.example.com", "example.com")
    assert parsed.not_before == NOT_BEFORE and parsed.not_before.tzinfo is not None
    assert parsed.not_after == NOT_AFTER
    assert parsed.key_type == "EC P-256"


def test_san_types_in_certificate_order(ca: CertificateAuthority) -> None:
    der = _issue(ca, ["Mail.Example.COM", "192.0.2.7", "2001:db8::1", "ops@example.com"])
    san = x509.load_der_x509_certificate(der).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("2001:db8::1"),
    ]
    assert san.value.get_values_for_type(x509.RFC822Name) == ["ops@example.com"]

    parsed = parse_certificate(der)

    assert parsed.names == ("mail.example.com", "192.0.2.7", "2001:db8::1", "ops@example.com")
    assert parsed.subject == "CN=Mail.Example.COM"  # default subject: CN = first name


def test_uri_and_unusable_san_types(ca: CertificateAuthority) -> None:
    san = x509.SubjectAlternativeName(
        [
            x509.UniformResourceIdentifier("https://portal.example.com/login"),
            x509.RegisteredID(x509.ObjectIdentifier("1.2.3.4")),
            x509.DNSName("WWW.example.com"),
        ]
    )
    der = _raw_certificate(ca, new_key().public_key(), [(san, False)])
    assert parse_certificate(der).names == ("https://portal.example.com/login", "www.example.com")


def test_certificate_without_san_has_no_names(ca: CertificateAuthority) -> None:
    der = _raw_certificate(ca, new_key().public_key(), [])
    parsed = parse_certificate(der)
    assert parsed.names == ()
    assert parsed.serial == format(4242, "x")
    assert parsed.subject == "CN=raw.example.com"


def test_spki_same_for_reused_key_and_different_for_new_key(ca: CertificateAuthority) -> None:
    key = new_key()
    first = parse_certificate(_issue(ca, ["a.example.com"], key=key))
    renewal = parse_certificate(_issue(ca, ["a.example.com", "b.example.com"], key=key))
    rekeyed = parse_certificate(_issue(ca, ["a.example.com"]))

    assert first.spki_sha256 == renewal.spki_sha256
    assert first.spki_sha256 != rekeyed.spki_sha256
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert first.spki_sha256 == hashlib.sha256(spki).hexdigest()
    assert len(first.spki_sha256) == 64 and first.spki_sha256 == first.spki_sha256.lower()


def test_key_types(ca: CertificateAuthority) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert parse_certificate(_raw_certificate(ca, rsa_key.public_key(), [])).key_type == "RSA 2048"
    assert parse_certificate(_raw_certificate(ca, p384.public_key(), [])).key_type == "EC P-384"


def test_memoryview_der_is_accepted(ca: CertificateAuthority) -> None:
    der = _issue(ca, ["mv.example.com"])
    assert parse_certificate(memoryview(der)).names == ("mv.example.com",)


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", "empty"),
        (b"not a certificate at all", "does not parse"),
        (b"\x30\x82\xff\xff\x00", "does not parse"),
    ],
)
def test_garbage_der_raises_value_error(der: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_certificate(der)


def test_truncated_der_raises_value_error(ca: CertificateAuthority) -> None:
    der = _issue(ca, ["cut.example.com"])
    with pytest.raises(ValueError, match="does not parse"):
        parse_certificate(der[:-20])


def test_non_bytes_raise_value_error() -> None:
    with pytest.raises(ValueError, match="must be bytes"):
        parse_certificate("MIIB...")  # type: ignore[arg-type]


def test_malformed_san_is_caught_although_parsed_lazily(ca: CertificateAuthority) -> None:
    # A SAN whose content is not a SEQUENCE of GeneralNames: cryptography only notices when the
    # extensions are read, after load_der_x509_certificate has succeeded.
    bad_san = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x04\x03abc")
    der = _raw_certificate(ca, new_key().public_key(), [(bad_san, False)])
    x509.load_der_x509_certificate(der)  # the outer structure is fine

    with pytest.raises(ValueError, match="extensions do not parse"):
        parse_certificate(der)


def test_duplicate_extension_is_a_value_error(ca: CertificateAuthority) -> None:
    # The builder refuses duplicates, so build SAN + IssuerAltName and rename the second's OID
    # (2.5.29.18 -> 2.5.29.17); the broken signature does not matter to parsing.
    names = [x509.DNSName("dup.example.com")]
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.SubjectAlternativeName(names), False),
        (x509.IssuerAlternativeName(names), False),
    ]
    der = _raw_certificate(ca, new_key().public_key(), extensions)
    ian_oid, san_oid = b"\x06\x03\x55\x1d\x12", b"\x06\x03\x55\x1d\x11"
    assert der.count(ian_oid) == 1
    der = der.replace(ian_oid, san_oid)
    with pytest.raises(ValueError, match="extensions do not parse"):
        parse_certificate(der)


def test_ca_certificate_is_a_self_signed_ca(ca: CertificateAuthority) -> None:
    cert = ca.ca_cert
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    cert.verify_directly_issued_by(cert)
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc
    assert x509.load_der_x509_certificate(ca.der) == cert


def test_issued_certificate_verifies_against_its_ca(ca: CertificateAuthority) -> None:
    cert = x509.load_der_x509_certificate(_issue(ca, ["v.example.com"]))
    cert.verify_directly_issued_by(ca.ca_cert)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.serial_number > 0


def test_issue_is_deterministic_for_the_same_inputs(ca: CertificateAuthority) -> None:
    key = key_from_secret(123456789)
    one = _issue(ca, ["d.example.com"], key=key, serial=77)
    two = _issue(ca, ["d.example.com"], key=key_from_secret(123456789), serial=77)
    assert one == two


def test_random_serials_differ(ca: CertificateAuthority) -> None:
    key = new_key()
    serials = {parse_certificate(_issue(ca, ["r.example.com"], key=key)).serial for _ in range(5)}
    assert len(serials) == 5


@pytest.mark.parametrize(
    ("names", "kwargs", "message"),
    [
        ([], {}, "at least one name"),
        (["x.example.com"], {"subject": {"CN": "x", "EMAIL": "a@b"}}, "unknown subject"),
        (["x.example.com"], {"serial": 0}, "positive"),
    ],
)
def test_issue_rejects_bad_arguments(
    ca: CertificateAuthority, names: list[str], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _issue(ca, names, **kwargs)


def test_issue_rejects_naive_and_inverted_times(ca: CertificateAuthority) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ca.issue(["x.example.com"], not_before=datetime(2026, 1, 1), not_after=NOT_AFTER)
    with pytest.raises(ValueError, match="after not_before"):
        ca.issue(["x.example.com"], not_before=NOT_AFTER, not_after=NOT_BEFORE)


def test_key_from_secret_bounds() -> None:
    assert isinstance(key_from_secret(1), ec.EllipticCurvePrivateKey)
    with pytest.raises(ValueError, match="secret"):
        key_from_secret(0)


def test_every_san_type_subject_attributes_and_profile(ca: CertificateAuthority) -> None:
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("WWW.example.com"),
            x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
            x509.RFC822Name("ops@example.com"),
            x509.UniformResourceIdentifier("https://portal.example.com/"),
        ]
    )
    eku = x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH, x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")]
    )
    policies = x509.CertificatePolicies(
        [x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.2"), None)]
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = _raw_certificate(
        ca, rsa_key.public_key(), [(san, False), (eku, False), (policies, False)]
    )

    parsed = parse_certificate(der)

    assert parsed.dns_names == ("www.example.com",)
    assert parsed.ip_addresses == ("192.0.2.7",)
    assert parsed.emails == ("ops@example.com",)
    assert parsed.uris == ("https://portal.example.com/",)
    assert parsed.names == (
        "www.example.com",
        "192.0.2.7",
        "ops@example.com",
        "https://portal.example.com/",
    )
    assert parsed.subject_attributes == (("CN", "raw.example.com"),)
    assert parsed.eku == ("1.3.6.1.5.5.7.3.1", "1.3.6.1.4.1.99999.1")
    assert EKU_NAMES[parsed.eku[0]] == "serverAuth"
    assert parsed.policies == ("2.23.140.1.2.2",) and POLICY_NAMES[parsed.policies[0]] == "OV"
    assert (parsed.key_type, parsed.key_size) == ("RSA 2048", 2048)
    assert parsed.precertificate is False
    assert parsed.sha256 == hashlib.sha256(der).hexdigest()


def test_precertificate_poison_and_factory_subject(ca: CertificateAuthority) -> None:
    poisoned = _raw_certificate(ca, new_key().public_key(), [(x509.PrecertPoison(), True)])
    assert parse_certificate(poisoned).precertificate is True
    subject = {"C": "ES", "L": "Madrid", "O": "CUALTIS S.L.U", "CN": "mail.cualtis.net"}
    parsed = parse_certificate(_issue(ca, ["mail.cualtis.net"], subject=subject))
    assert parsed.subject_attributes == (
        ("C", "ES"),
        ("L", "Madrid"),
        ("O", "CUALTIS S.L.U"),
        ("CN", "mail.cualtis.net"),
    )
    # An organisation in the subject: the factory marks it organization-validated (CA/B OID).
    assert parsed.eku == ("1.3.6.1.5.5.7.3.1",) and parsed.policies == ("2.23.140.1.2.2",)
    assert (parsed.key_type, parsed.key_size) == ("EC P-256", 256)


def test_dn_attributes_reads_a_database_column() -> None:
    assert dn_attributes("CN=mail.cuatis.net,O=CUALTIS S.L.U,L=Madrid,C=ES") == (
        ("C", "ES"),
        ("L", "Madrid"),
        ("O", "CUALTIS S.L.U"),
        ("CN", "mail.cuatis.net"),
    )
    assert dn_attributes("CN=a,O=Ejemplo\\, S.L.") == (("O", "Ejemplo, S.L."), ("CN", "a"))
    with pytest.raises(ValueError, match="distinguished name does not parse"):
        dn_attributes("not a dn")


def test_parse_cache_parses_each_der_once_and_remembers_failures(
    ca: CertificateAuthority,
) -> None:
    good = _issue(ca, ["cache.example.com"])
    cache = ParseCache(limit=2)
    first = cache.get(good)
    assert isinstance(first, ParsedCertificate) and first.names == ("cache.example.com",)
    assert cache.get(good) is first and cache.parsed == 1
    failure = cache.get(b"garbage")
    assert isinstance(failure, str) and "does not parse" in failure
    assert cache.get(b"garbage") == failure and cache.parsed == 2
    # Past its limit the least recently used entry goes, and is parsed again when asked for.
    cache.get(_issue(ca, ["other.example.com"]))
    cache.get(good)
    assert cache.parsed == 4


def test_issuer_name_and_subject_without_a_full_parse(ca: CertificateAuthority) -> None:
    der = _issue(ca, ["nameid.example.com"], subject={"CN": "nameid.example.com", "C": "ES"})
    assert issuer_der(der) == ca.ca_cert.subject.public_bytes()
    assert subject_dn(der) == parse_certificate(der).subject == "CN=nameid.example.com,C=ES"
    # Boulder's NameID: the first 7 bytes of the SHA-1 of the issuer name's DER.
    expected = hashlib.sha1(ca.ca_cert.subject.public_bytes()).digest()[:7]
    assert name_id(der) == int.from_bytes(expected, "big")
    for bad in (b"", b"not a certificate", der[:-20]):
        with pytest.raises(ValueError):
            issuer_der(bad)
        with pytest.raises(ValueError):
            subject_dn(bad)
        assert name_id(bad) is None


class _Panic(BaseException):
    """Stands for pyo3's PanicException, which derives from BaseException, not Exception."""


def test_a_parser_panic_becomes_a_value_error(
    ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    der = _issue(ca, ["panic.example.com"])

    def panic(data: bytes) -> x509.Certificate:
        raise _Panic("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(x509, "load_der_x509_certificate", panic)
    for read in (parse_certificate, issuer_der, subject_dn):
        with pytest.raises(ValueError, match="does not parse: called"):
            read(der)
    assert name_id(der) is None  # Boulder's reader sees an unknown issuer, not a crash


# --- the one place that parses: no other module under jobs/ calls cryptography's loaders ---

JOBS = Path(__file__).resolve().parent.parent / "jobs"
PARSER = JOBS / "core" / "x509.py"
# cryptography's loaders of certificates, CSRs, CRLs and PKCS#7 bundles, DER or PEM.
_LOADER = re.compile(r"^load_(der|pem)_(x509|pkcs7)")


def loader_uses(source: str) -> list[str]:
    """`line: name` of every mention of a certificate loader: a call, an import or a getattr."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names = [alias.name.rsplit(".", 1)[-1] for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        found += [f"{node.lineno}: {name}" for name in names if _LOADER.match(name)]
    return found


def test_only_core_x509_calls_the_certificate_loaders() -> None:
    offenders = [
        f"{path.relative_to(JOBS.parent)}:{use}"
        for path in sorted(JOBS.rglob("*.py"))
        if path != PARSER and "_sql" not in path.parts
        for use in loader_uses(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "parse DER through jobs.core.x509 instead"
    assert loader_uses(PARSER.read_text(encoding="utf-8"))  # the scan does see the real one


@pytest.mark.parametrize(
    "source",
    [
        "from cryptography import x509\nx509.load_der_x509_certificate(b'')\n",
        "from cryptography.x509 import load_pem_x509_certificates\n",
        "import cryptography.x509\ncryptography.x509.load_der_x509_crl(b'')\n",
        "from cryptography import x509\ngetattr(x509, 'load_pem_x509_certificate')\n",
    ],
)
def test_the_loader_scan_catches_a_direct_parse(source: str) -> None:
    assert loader_uses(source)


def test_subject_attributes_are_named_never_dotted(ca: CertificateAuthority) -> None:
    # RFC 4514 has no short name for postalCode or serialNumber; a reviewer must not read OIDs.
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
            x509.NameAttribute(NameOID.POSTAL_CODE, "1260"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "CHE-123.456.789"),
            x509.NameAttribute(x509.ObjectIdentifier("1.2.3.4"), "private"),
            x509.NameAttribute(NameOID.COMMON_NAME, "www.example.ch"),
        ]
    )
    der = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.ca_cert.subject)
        .public_key(new_key().public_key())
        .serial_number(4243)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .sign(ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    parsed = parse_certificate(der)
    assert [key for key, _ in parsed.subject_attributes] == [
        "C", "postalCode", "serialNumber", "1.2.3.4", "CN",
    ]  # fmt: skip
    assert parsed.subject == (
        "CN=www.example.ch,1.2.3.4=private,serialNumber=CHE-123.456.789,postalCode=1260,C=CH"
    )
    assert subject_dn(der) == parsed.subject
    # A database column may spell it either way.
    assert dn_attributes("CN=a,postalCode=1260,2.5.4.17=1261") == (
        ("postalCode", "1261"), ("postalCode", "1260"), ("CN", "a"),
    )  # fmt: skip
