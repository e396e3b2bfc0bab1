"""The fast paths of issue #15 hold to the plain forms they replaced, on random inputs.

Each fast path (a subject read from its encoding, the certificate's fields read once, an
alignment that skips the common prefix, pairing without the heap for a handful of pairs, the name
split) is compared with a reference written the plain way: the reference is what the output was
before, so a difference is a changed report.
"""

from __future__ import annotations

import string
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.core import x509 as reader
from jobs.core.model import EditStep
from jobs.enrich import names
from jobs.enrich.alignment import alignment, edit_distance
from jobs.enrich.diff import (
    MAX_PAIRABLE_LENGTH,
    pair_indices,
    pair_names,
    split_names,
)

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
_KEY = ec.generate_private_key(ec.SECP256R1())

# --- the subject read from its encoding, against cryptography's Name ---

_OIDS = [
    NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.COUNTRY_NAME, NameOID.POSTAL_CODE,
    NameOID.SERIAL_NUMBER, NameOID.JURISDICTION_COUNTRY_NAME, NameOID.EMAIL_ADDRESS,
    NameOID.STREET_ADDRESS, NameOID.DOMAIN_COMPONENT, NameOID.USER_ID,
    x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"),  # one cryptography does not name
]  # fmt: skip
_TYPES = [_ASN1Type.UTF8String, _ASN1Type.PrintableString, _ASN1Type.IA5String, _ASN1Type.BMPString]
_ALPHABET = [*string.ascii_letters, *string.digits, *' #=+,;<>"\\\0.-', "é", "ü", "€", "𝔘"]
_VALUES = st.text(alphabet=st.sampled_from(_ALPHABET), max_size=8)


@st.composite
def _names(draw: st.DrawFn) -> x509.Name:
    rdns = []
    for _ in range(draw(st.integers(0, 4))):
        attributes = []
        for oid in draw(st.lists(st.sampled_from(_OIDS), min_size=1, max_size=2, unique=True)):
            kind = draw(st.sampled_from(_TYPES))
            value = draw(_VALUES)
            if kind is _ASN1Type.PrintableString:
                value = "".join(c for c in value if c in string.ascii_letters + " '()+,-./:=?")
            elif kind is _ASN1Type.IA5String:
                value = "".join(c for c in value if c.isascii())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a C of 3 letters, on purpose
                attributes.append(x509.NameAttribute(oid, value, kind, _validate=False))
        rdns.append(x509.RelativeDistinguishedName(attributes))
    return x509.Name(rdns)


@given(_names())
@settings(max_examples=400, deadline=None)
def test_a_subject_read_from_its_encoding_is_the_one_cryptography_reads(name: x509.Name) -> None:
    encoded = name.public_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = x509.Name.from_bytes(encoded)
        expected = (parsed.rfc4514_string(reader.ATTRIBUTE_NAMES), reader._attributes(parsed))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path is never taken where cryptography warns
        found = reader._plain_dn(encoded)
    assert found is None or found == expected


def test_the_usual_subject_takes_the_fast_path() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ES"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cualtis, S.L. <#1>"),
            x509.NameAttribute(NameOID.POSTAL_CODE, "21532"),
            x509.NameAttribute(NameOID.COMMON_NAME, " mail.cualtis.net "),
        ]
    )
    found = reader._plain_dn(name.public_bytes())
    assert found == (name.rfc4514_string(reader.ATTRIBUTE_NAMES), reader._attributes(name))
    assert found is not None and "postalCode=21532" in found[0]


# --- every field of a certificate, against a reading straight from cryptography ---


def _reference(der: bytes) -> dict[str, object]:
    """The fields as parse_certificate read them before issue #15, attribute by attribute."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    dns = tuple(entry.value.lower() for entry in san if isinstance(entry, x509.DNSName))
    return {
        "issuer": cert.issuer.rfc4514_string(),
        "subject": cert.subject.rfc4514_string(reader.ATTRIBUTE_NAMES),
        "subject_attributes": reader._attributes(cert.subject),
        "dns_names": dns,
        "spki": cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    }


@given(_names(), st.lists(st.from_regex(r"[a-z]{1,6}\.example", fullmatch=True), max_size=3))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_certificate_reads_as_cryptography_reads_it(subject: x509.Name, dns: list[str]) -> None:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fast Path CA")]))
        .public_key(_KEY.public_key())
        .serial_number(4242)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=90))
    )
    if dns:
        san = x509.SubjectAlternativeName([x509.DNSName(n) for n in dns])
        builder = builder.add_extension(san, critical=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        der = builder.sign(_KEY, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        expected = _reference(der)
        parsed = reader.parse_certificate(der)
        cached = reader.ParseCache().get(der)
    assert parsed.issuer == expected["issuer"]
    assert parsed.subject == expected["subject"]
    assert parsed.subject_attributes == expected["subject_attributes"]
    assert parsed.dns_names == parsed.names == expected["dns_names"]
    # The SPKI as encoded is the one cryptography re-encodes for a well-formed key.
    assert parsed.spki_sha256 == reader.hashlib.sha256(expected["spki"]).hexdigest()  # type: ignore[arg-type]
    assert cached == parsed


# --- the alignment that skips the common prefix, against the full table ---


def _reference_alignment(a: str, b: str) -> tuple[EditStep, ...]:
    """The alignment before issue #15: the full OSA table, backtraced step by step, merged."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            best = min(
                rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, rows[i - 2][j - 2] + 1)
            row[j] = best
        rows.append(row)
    steps: list[EditStep] = []
    i, j = len(a), len(b)
    while i > 0 or j > 0:
        here = rows[i][j]
        if i > 0 and rows[i - 1][j] + 1 == here:
            steps.append(EditStep("delete", a[i - 1], ""))
            i -= 1
        elif j > 0 and rows[i][j - 1] + 1 == here:
            steps.append(EditStep("insert", "", b[j - 1]))
            j -= 1
        elif i > 0 and j > 0 and a[i - 1] == b[j - 1] and rows[i - 1][j - 1] == here:
            steps.append(EditStep("equal", a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif (
            i > 1 and j > 1 and a[i - 1] != b[j - 1] and a[i - 1] == b[j - 2]
            and a[i - 2] == b[j - 1] and rows[i - 2][j - 2] + 1 == here
        ):  # fmt: skip
            steps.append(EditStep("transpose", a[i - 2 : i], b[j - 2 : j]))
            i, j = i - 2, j - 2
        else:
            steps.append(EditStep("substitute", a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
    merged: list[EditStep] = []
    for step in reversed(steps):
        if step.op == "equal" and merged and merged[-1].op == "equal":
            last = merged[-1]
            merged[-1] = EditStep("equal", last.before + step.before, last.after + step.after)
        else:
            merged.append(step)
    return tuple(merged)


_SHORT = st.text(alphabet="abm.rn", max_size=10)


@st.composite
def _near_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two strings, mostly one near-miss of the other (a typo's shape), sometimes unrelated."""
    a = draw(_SHORT)
    if not a or draw(st.booleans()):
        return a, draw(_SHORT)
    k = draw(st.integers(0, len(a) - 1))
    middle = draw(st.sampled_from(["", "m", "rn", a[k : k + 2][::-1], a[k], "aa"]))
    return a, a[:k] + middle + a[k + 1 :]


@given(_near_pairs())
@settings(max_examples=3000, deadline=None)
def test_the_alignment_is_the_full_tables(pair: tuple[str, str]) -> None:
    a, b = pair
    assert alignment(a, b) == _reference_alignment(a, b)
    assert sum(step.op != "equal" for step in alignment(a, b)) == edit_distance(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("mail.cuatis.net", "mail.cualtis.net"), ("example", "examplee"), ("aab", "ab"), ("", "")],
)
def test_the_alignment_of_known_pairs_is_the_full_tables(a: str, b: str) -> None:
    assert alignment(a, b) == _reference_alignment(a, b)


# --- pairing without the heap for a handful of pairs, and the name split ---


def _greedy_pairs(removed: list[str], added: list[str]) -> list[tuple[int, int, int]]:
    """The plain greedy pairing, independent of the code's heap: every pairable (removed, added)
    pair measured, sorted by (distance, removed, added), each name taken once."""
    measured = sorted(
        (names.name_distance(r, a), i, j)
        for i, r in enumerate(removed)
        for j, a in enumerate(added)
        if len(r) <= MAX_PAIRABLE_LENGTH and len(a) <= MAX_PAIRABLE_LENGTH
    )
    used_old: set[int] = set()
    used_new: set[int] = set()
    pairs = []
    for value, i, j in measured:
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
            pairs.append((i, j, value))
    return sorted(pairs)


_NAMES = st.lists(
    st.sampled_from(
        ["a.example", "b.example", "ab.example", "xn--mnchen-3ya.de", "münchen.de",
         "mail.cuatis.net", "mail.cualtis.net", "www.example.com", "wwww.example.com", "x" * 254,
         "a.exampel"]
    ),
    max_size=6,
)  # fmt: skip


@given(_NAMES, _NAMES)
@settings(max_examples=1500, deadline=None)
def test_pairing_is_the_plain_greedy_one(removed: list[str], added: list[str]) -> None:
    # Up to 6 x 6 names: both the measured-outright path (<= 16 pairs) and the heap's.
    expected = _greedy_pairs(removed, added)
    assert pair_indices(removed, added) == expected
    changes = pair_names(removed, added, with_edit=False)
    assert [(c.before, c.after, c.distance) for c in changes] == [
        (removed[i], added[j], d) for i, j, d in expected
    ]


def _reference_split(
    before: list[str], after: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    def unique(items: list[str]) -> tuple[str, ...]:
        seen: set[str] = set()
        out = []
        for name in items:
            if names.canonical(name) not in seen:
                seen.add(names.canonical(name))
                out.append(name)
        return tuple(out)

    before_keys = {names.canonical(n) for n in before}
    after_keys = {names.canonical(n) for n in after}
    return (
        unique([n for n in before if names.canonical(n) in after_keys]),
        unique([n for n in after if names.canonical(n) not in before_keys]),
        unique([n for n in before if names.canonical(n) not in after_keys]),
    )


_SPELLINGS = st.lists(
    st.sampled_from(["A.example", "a.example", "a.example.", "b.example", "MÜNCHEN.de",
                     "xn--mnchen-3ya.de", "x@Example.com", "x@example.com", "192.0.2.1"]),
    max_size=6,
)  # fmt: skip


@given(_SPELLINGS, _SPELLINGS)
@settings(max_examples=800, deadline=None)
def test_the_name_split_is_the_plain_one(before: list[str], after: list[str]) -> None:
    assert split_names(before, after) == _reference_split(before, after)
