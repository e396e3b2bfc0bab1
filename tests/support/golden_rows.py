"""Golden enrichment cases: input rows (with real DER when a case asks for it) -> enrich -> outcome.

Each directory under tests/golden/enrich/ holds `input.json` and `expected.json`. A certificate in
`input.json` is an issuance row in the generic schema's terms (`issuer`, `serial`, `subscriber`,
`names`, `subject`, `issued_at`, `spki_sha256`, `not_before`, `not_after`) and may ask for DER:

- `"der": {...}` builds and signs a real certificate with `cryptography`, in a realistic TLS
  subscriber profile (basic constraints, key usage, EKU, SAN, authority key identifier, AIA
  with OCSP and CA issuers, CRL distribution point, certificate policies): `ca` (which of the
  golden issuing CAs, default 1), `key` (a secret: the same number is the same key), `names`
  (default: the row's; `"dns:..."` forces a dNSName, so `dns:https://www.example.jp` is one),
  `subject` ({"CN": ..., "O": ..., "postalCode": ...}; default CN = first name), `days` of
  validity (default 90), `eku` and `policies` (dotted OIDs), `aia` and `crl` (false: left out),
  `precertificate` (poison);
- `"der_hex": "..."` stores those bytes as the DER (to model a blob that does not parse).

A row with `"ca": N` (and no DER) gets golden CA N's DN as its issuer. A row with DER goes
through `jobs.detect.records.certificate_from_row`, the pipeline's own path: names,
key and SHA-256 then come from the DER, and the revoked certificate's record findings (such as
`data.der_unparseable`) become the case's findings. The issuer of a DER row is its CA's DN.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from jobs.core.model import Case, Certificate, Finding, Revocation, Severity
from jobs.demo.certfactory import CertificateAuthority, key_from_secret
from jobs.detect.records import certificate_from_row
from jobs.enrich.alignment import render_edit
from jobs.enrich.enrichment import enrich, lint_cases
from jobs.enrich.lint import shared_linter

GOLDEN = Path(__file__).parent.parent / "golden" / "enrich"
_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
CA_TIME = datetime(2024, 1, 1, tzinfo=UTC)
_ATTRIBUTES = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "postalCode": NameOID.POSTAL_CODE,
    "street": NameOID.STREET_ADDRESS,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}


@cache
def golden_ca(number: int) -> CertificateAuthority:
    """Issuing CA number `number`: the same key, name and certificate on every run."""
    return CertificateAuthority.create(
        f"Golden Issuing CA {number}",
        "Revwatch Golden",
        now=CA_TIME,
        key=key_from_secret(1000 + number),
        serial=number,
    )


def _general_name(name: str) -> x509.GeneralName:
    if name.startswith("dns:"):
        return x509.DNSName(name[len("dns:") :])
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    if "@" in name:
        return x509.RFC822Name(name)
    if "://" in name:
        return x509.UniformResourceIdentifier(name)
    return x509.DNSName(name)


def build_der(spec: dict[str, Any], row: dict[str, Any]) -> tuple[bytes, str]:
    """(DER, issuer DN) of the certificate `spec` describes for `row`."""
    ca = golden_ca(int(spec.get("ca", 1)))
    names = list(spec.get("names", row.get("names", ())))
    subject = spec.get("subject", {"CN": names[0].removeprefix("dns:")})
    issued = datetime.fromisoformat(row["issued_at"])
    not_before = issued - timedelta(minutes=10)
    attributes = [
        x509.NameAttribute(oid, subject[k]) for k, oid in _ATTRIBUTES.items() if k in subject
    ]
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca.ca_cert.subject)
        .public_key(key_from_secret(int(spec.get("key", 1))).public_key())
        .serial_number(int(row["serial"], 16))
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=int(spec.get("days", 90))))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_KEY_USAGE, critical=True)
        .add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    number = spec.get("ca", 1)
    if spec.get("aia", True):
        access = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"http://ocsp.golden-ca.net/ca{number}"),
            ),
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(f"http://pki.golden-ca.net/ca{number}.der"),
            ),
        ]
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    if spec.get("crl", True):
        point = x509.DistributionPoint(
            [x509.UniformResourceIdentifier(f"http://crl.golden-ca.net/ca{number}.crl")],
            None,
            None,
            None,
        )
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    eku = spec.get("eku", ["1.3.6.1.5.5.7.3.1"])
    if eku:
        usages = [x509.ObjectIdentifier(oid) for oid in eku]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    policies = spec.get("policies", ["2.23.140.1.2.1"])
    if policies:
        infos = [x509.PolicyInformation(x509.ObjectIdentifier(oid), None) for oid in policies]
        builder = builder.add_extension(x509.CertificatePolicies(infos), critical=False)
    if spec.get("precertificate"):
        builder = builder.add_extension(x509.PrecertPoison(), critical=True)
    cert = builder.sign(ca.key, hashes.SHA256(), ecdsa_deterministic=True)
    return cert.public_bytes(serialization.Encoding.DER), ca.name


def certificate_from(columns: dict[str, Any]) -> tuple[Certificate, list[Finding]]:
    """The Certificate of one golden row, and the record findings when it has DER."""
    issued = columns.get("issued_at")
    der: bytes | None = None
    issuer = golden_ca(columns["ca"]).name if "ca" in columns else columns["issuer"]
    if "der" in columns:
        der, issuer = build_der(columns["der"], columns)
    elif "der_hex" in columns:
        der = bytes.fromhex(columns["der_hex"])
    times = {
        key: datetime.fromisoformat(columns[key]) if columns.get(key) else None
        for key in ("issued_at", "not_before", "not_after")
    }
    if der is None:
        cert = Certificate(
            issuer=issuer,
            serial=columns["serial"],
            subscriber=columns.get("subscriber"),
            names=tuple(columns.get("names", ())),
            subject=columns.get("subject"),
            issued_at=datetime.fromisoformat(issued) if issued else None,
            not_before=times["not_before"],
            not_after=times["not_after"],
            spki_sha256=columns.get("spki_sha256"),
        )
        return cert, []
    row = {
        "issuer_dn": issuer,
        "serial": columns["serial"],
        "subscriber": columns.get("subscriber"),
        "requester": None,
        "names": ",".join(columns.get("names", ())) or None,
        "subject_dn": columns.get("subject"),
        "der": der,
        **times,
    }
    return certificate_from_row(row, f"certificate {issuer} serial {columns['serial']}")


def case_from(data: dict[str, Any]) -> Case:
    cert, record_findings = certificate_from(data["certificate"])
    rev = data["revocation"]
    revoked_at = datetime.fromisoformat(rev["revoked_at"])
    issued = cert.issuance_time
    given = tuple(
        Finding(f["code"], Severity(f["severity"]), f["message"]) for f in data.get("findings", ())
    )
    return Case(
        certificate=cert,
        revocation=Revocation(
            issuer=cert.issuer,
            serial=cert.serial,
            revoked_at=revoked_at,
            reason_code=rev.get("reason_code"),
        ),
        seconds_to_revocation=int((revoked_at - issued).total_seconds()) if issued else None,
        findings=given + tuple(record_findings),
    )


def declared_of(data: dict[str, Any], case: Case) -> dict[tuple[str, str], tuple[str, str]]:
    """The `declared` mapping of a golden case: {"issuer": ..., "serial": ...} of the candidate
    the CA records as the replacement (`"ca": N` names a golden CA's DN as the issuer)."""
    found = data.get("declared")
    if not found:
        return {}
    issuer = golden_ca(found["ca"]).name if "ca" in found else found["issuer"]
    return {case.key: (issuer, found["serial"])}


def run_golden(given: dict[str, Any]) -> Case:
    """A golden input's case enriched among its candidates and linted, as the pipeline does."""
    case = case_from(given["case"])
    [result] = enrich(
        [case],
        [certificate_from(c)[0] for c in given["candidates"]],
        replacement_window=timedelta(days=given.get("replacement_window_days", 30)),
        declared=declared_of(given["case"], case),
    )
    [linted] = lint_cases([result], shared_linter())
    return linted


def outcome(case: Case) -> dict[str, Any]:
    """What a golden case's expected.json pins down."""
    diff = case.diff
    findings = diff.findings if diff else ()
    return {
        "replacement": case.replacement.serial if case.replacement else None,
        "labels": list(case.labels),
        "name_changes": [
            {
                "before": c.before,
                "after": c.after,
                "distance": c.distance,
                "edit": render_edit(c.edit),
            }
            for c in (diff.name_changes if diff else ())
        ],
        "added": list(diff.added) if diff else [],
        "removed": list(diff.removed) if diff else [],
        "finding_codes": sorted(f.code for f in findings),
        "case_finding_codes": sorted(f.code for f in case.findings),
        "candidate_count": case.candidate_count,
        "reason": case.replacement_reason,
        # What the lint diff says changed (the full lists follow pkilint's version, so they are
        # not pinned here), and the sentence heading the case's card.
        "lint": None
        if case.lint is None
        else {"fixed": list(case.lint.fixed), "introduced": list(case.lint.introduced)},
        "cause": case.cause,
    }


def load(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    given = json.loads((directory / "input.json").read_text())
    expected = json.loads((directory / "expected.json").read_text())
    return given, expected
