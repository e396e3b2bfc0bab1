"""The data every stage passes on: certificates, revocations, findings, cases.

Owns the plain, immutable records that flow CA database -> detection -> enrichment -> report,
and the outcome of a run that the pipeline hands to the face.
It must not do I/O or know about SQL, templates or SMTP; the only logic here is what follows from
the records themselves (keys, fingerprints, reason names, serial normalisation).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

# RFC 5280 CRLReason codes and their ASN.1 names, which reports and report.json use.
REASON_NAMES: dict[int, str] = {
    0: "unspecified",
    1: "keyCompromise",
    2: "cACompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
    6: "certificateHold",
    8: "removeFromCRL",
    9: "privilegeWithdrawn",
    10: "aACompromise",
}


def reason_name(code: int | None) -> str:
    """The RFC 5280 name of a reason code; a CRL entry without a reason is `unspecified`."""
    if code is None:
        return "unspecified"
    return REASON_NAMES.get(code, f"unknown({code})")


def normalise_serial(value: str | int) -> str:
    """A serial as lower-case hex without leading zeros or separators (`0` for zero).

    CA databases write serials as hex with or without colons, padded or not, or as integers; the
    report and the ledger need one spelling so that the same certificate is the same key.
    """
    if isinstance(value, int):
        number = value
    else:
        text = value.strip().lower().replace(":", "").replace(" ", "")
        if text.startswith("0x"):
            text = text[2:]
        if not text:
            raise ValueError("empty serial")
        number = int(text, 16)
    if number < 0:
        raise ValueError(f"negative serial {number}")
    return format(number, "x")


def ledger_key(issuer: str, serial: str) -> str:
    """The ledger's fixed-length key of a certificate: SHA-256 (hex) of issuer, NUL, serial.

    Any serial a CA database holds fits, however long or malformed; the NUL keeps the two parts
    apart (PostgreSQL text cannot hold one). Migration 0005 computes the same in SQL."""
    return hashlib.sha256(issuer.encode("utf-8") + b"\0" + serial.encode("utf-8")).hexdigest()


class Severity(StrEnum):
    """How much a finding matters to a reviewer."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One observation about a case or a record: data, never an exception.

    `code` is stable and dotted (`detect.revoked_early`, `data.der_unparseable`); every code is
    declared once, with its severity, in `jobs.core.codes`, and findings are made from there
    (`Code.finding`), so the severity is the declared one. The README's table is checked against
    that registry.
    """

    code: str
    severity: Severity
    message: str
    # The record a run-level problem is about (a revocation record that belongs to no case), so
    # report.json can name it apart from the message; None for a case's own findings.
    record: str | None = None


@dataclass(frozen=True)
class Certificate:
    """One issuance record as the CA database holds it, normalised at the source boundary.

    Times are timezone-aware UTC. `names` are the subject alternative names (DNS names lower-case),
    in the order the CA stored them. `issued_at` is the CA's own issuance time where the schema
    records one; `not_before` stands in for it otherwise. `der_error` says why the stored DER does
    not parse (None when it parses or was not parsed).
    """

    issuer: str
    serial: str
    subscriber: str | None = None
    requester: str | None = None
    names: tuple[str, ...] = ()
    subject: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    issued_at: datetime | None = None
    der: bytes | None = field(default=None, repr=False)
    spki_sha256: str | None = None
    der_error: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """Issuer and serial: serials collide across issuing CAs, so never the serial alone."""
        return (self.issuer, self.serial)

    @property
    def sha256(self) -> str | None:
        """Lower-case hex SHA-256 of the DER (the crt.sh key); None without DER, or when the stored
        bytes are not a certificate (their hash would link to nothing)."""
        if not self.der or self.der_error is not None:
            return None
        return hashlib.sha256(self.der).hexdigest()

    @property
    def issuance_time(self) -> datetime | None:
        """The CA's issuance time, else notBefore."""
        return self.issued_at if self.issued_at is not None else self.not_before


@dataclass(frozen=True)
class Revocation:
    """One revocation record: when, why and by whom a certificate was revoked."""

    issuer: str
    serial: str
    revoked_at: datetime
    reason_code: int | None = None
    revoked_by: str | None = None
    comment: str | None = None
    record_id: str | None = None
    # The reason as the record wrote it, when it is not an integer code at all (`'abc'`, `1.7`).
    reason_text: str | None = None

    @property
    def reason(self) -> str:
        if self.reason_code is None and self.reason_text is not None:
            return f"unknown({self.reason_text})"
        return reason_name(self.reason_code)


@dataclass(frozen=True)
class EditStep:
    """One step of the alignment between two strings.

    `op` is `equal`, `insert`, `delete`, `substitute` or `transpose`; `before` is the text on the
    revoked side, `after` the text on the replacement side (one of them empty for insert/delete).
    """

    op: str
    before: str
    after: str


@dataclass(frozen=True)
class NameChange:
    """A removed name paired with its closest added name."""

    before: str
    after: str
    distance: int
    edit: tuple[EditStep, ...] = ()


@dataclass(frozen=True)
class CertDiff:
    """What changed from the revoked certificate to its replacement."""

    kept: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    name_changes: tuple[NameChange, ...] = ()
    subject_before: str | None = None
    subject_after: str | None = None
    key_reused: bool | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def subject_changed(self) -> bool:
        return self.subject_before != self.subject_after


@dataclass(frozen=True)
class LintFinding:
    """One finding a linter reported on a certificate: its code and the linter's own severity
    (pkilint's, lower case: `fatal`, `error`, `warning`, `notice`, `info`)."""

    code: str
    severity: str


@dataclass(frozen=True)
class LintDiff:
    """The lint of a case's two certificates, and what changed between them.

    `linter` names the linter, its version and the certificate types it linted as. `fixed`: codes
    on the revoked certificate and not on the replacement (empty without a replacement);
    `introduced`: codes only on the replacement. A certificate the linter failed on has no
    findings here (the case carries a finding saying so), and then nothing counts as fixed or
    introduced.
    """

    linter: str
    revoked: tuple[LintFinding, ...]
    replacement: tuple[LintFinding, ...] = ()
    fixed: tuple[str, ...] = ()
    introduced: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """A certificate revoked within the threshold of its issuance, and what we learnt about it.

    Detection fills `certificate`, `revocation`, `seconds_to_revocation` and `findings` (data
    problems with the records, each naming the record); enrichment fills the replacement, the diff,
    the labels and `domains`: the registrable domain of each of the revoked certificate's names
    (None for a name that has none: an IP address, a mailbox, a bare public suffix), distinct,
    so that the report can count by domain without knowing the Public Suffix List. `lint` is the
    lint diff of the two certificates (None when not linted: no DER, or a case a mass night does
    not show in full); `cause` the "likely cause" sentence composed from labels and lint diff.
    """

    certificate: Certificate
    revocation: Revocation
    seconds_to_revocation: int | None
    findings: tuple[Finding, ...] = ()
    replacement: Certificate | None = None
    replacement_reason: str | None = None
    candidate_count: int = 0
    diff: CertDiff | None = None
    labels: tuple[str, ...] = ()
    domains: tuple[str | None, ...] = ()
    lint: LintDiff | None = None
    cause: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.revocation.issuer, self.revocation.serial

    @property
    def all_findings(self) -> tuple[Finding, ...]:
        """Detection findings followed by the diff's."""
        return self.findings + (self.diff.findings if self.diff else ())


@dataclass(frozen=True)
class RunOutcome:
    """What one run did; the CLI prints it and the scheduler logs it."""

    run_id: str
    since: datetime
    until: datetime
    cases_found: int
    cases_new: int
    already_reported: int
    mailed: bool
    message_id: str
    outputs: dict[str, Path] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    problems: int = 0
    suspicious: int = 0  # suspicious issuances the issuance watch reported in this run
