"""Every finding code and every label, declared once: its severity and what it means.

Owns the registry: `CODES` (stable dotted finding codes, `detect.revoked_early`) and `LABELS` (the
words a reviewer filters cases on, `likely-typo`), each with its severity and the meaning the README
shows; a test holds the README's tables to this module. Rules emit findings only through a `Code`
(`DETECT_REVOKED_EARLY.finding(message)`), so a finding's code and severity cannot drift from what
is declared here. A code may name the label its findings give a case (`Code.label`). It must not
decide when a finding applies or which labels a case gets: that is the stages' business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from jobs.core.model import Finding, Severity


@dataclass(frozen=True)
class Label:
    """A word a case carries, and how much a case that carries it matters."""

    name: str
    severity: Severity
    meaning: str


@dataclass(frozen=True)
class Code:
    """A kind of finding. `label`: the label every finding of this code gives its case, if any."""

    code: str
    severity: Severity
    meaning: str
    label: Label | None = None

    def finding(self, message: str) -> Finding:
        """A finding of this code; its severity is the declared one."""
        return Finding(self.code, self.severity, message)


_LABELS: dict[str, Label] = {}
_CODES: dict[str, Code] = {}


def _label(name: str, severity: Severity, meaning: str) -> Label:
    # Registered as declared, so there is no second list to keep in step with the constants.
    if name in _LABELS:
        raise ValueError(f"label {name} declared twice")
    declared = _LABELS[name] = Label(name, severity, meaning)
    return declared


def _code(code: str, severity: Severity, meaning: str, label: Label | None = None) -> Code:
    if code in _CODES:
        raise ValueError(f"finding code {code} declared twice")
    declared = _CODES[code] = Code(code, severity, meaning, label)
    return declared


# Labels, in the README's order. A label's severity is that of the most severe finding it signals.
LABEL_LIKELY_TYPO = _label(
    "likely-typo",
    Severity.WARNING,
    "a removed name pairs with an added name within edit distance 2",
)
LABEL_NO_REPLACEMENT = _label(
    "no-replacement", Severity.INFO, "no certificate of the same subscriber followed"
)
LABEL_NAMES_ADDED = _label("names-added", Severity.INFO, "the replacement adds names")
LABEL_NAMES_REMOVED = _label("names-removed", Severity.INFO, "a removed name has no close partner")
LABEL_SAME_NAMES = _label("same-names", Severity.INFO, "the replacement has the same names")
LABEL_RE_KEY = _label("re-key", Severity.INFO, "same names, new key")
LABEL_DATA_PROBLEM = _label(
    "data-problem", Severity.ERROR, "a record behind the case has an error-level finding"
)
LABEL_REGISTRABLE_DOMAIN_TYPO = _label(
    "registrable-domain-typo",
    Severity.ERROR,
    "a typo pair differs in its registrable domain (Public Suffix List)",
)
LABEL_LOOK_ALIKE = _label(
    "look-alike",
    Severity.WARNING,
    "a removed and an added name differ only by look-alike characters",
)
LABEL_SUBJECT_CHANGED = _label(
    "subject-changed", Severity.INFO, "a subject attribute other than CN changed"
)
LABEL_SUBJECT_TYPO = _label(
    "subject-typo", Severity.WARNING, "a subject attribute changed within edit distance 2"
)
LABEL_PROFILE_CHANGED = _label(
    "profile-changed", Severity.INFO, "extended key usage or certificate policies changed"
)
LABEL_ISSUER_CHANGED = _label(
    "issuer-changed", Severity.INFO, "the replacement comes from another issuing CA"
)
LABEL_IDENTICAL_REISSUE = _label(
    "identical-reissue", Severity.INFO, "only the serial and validity moved"
)
LABEL_DECLARED_REPLACEMENT = _label(
    "declared-replacement",
    Severity.INFO,
    "the CA database declares this replacement (ACME ARI)",
)
# What the revoked certificate got wrong, judged on its values (jobs.enrich.judge) and by pkilint.
# The first two and the last are misissuance by the revoked certificate alone (error); a cut or
# padded value is a data-entry slip like a typo (warning).
# Both also label suspicious issuances (the issuance watch): one word, one meaning, whichever
# certificate it is found on.
LABEL_INVALID_NAME = _label(
    "invalid-name",
    Severity.ERROR,
    "a name in the revoked certificate (or a watched issuance) is not a valid DNS name (hyphen "
    "at a label's edge, empty label or leading period, scheme or path, whitespace, underscore, "
    "overlong label or name, bad punycode), IP address or mailbox",
)
LABEL_PLACEHOLDER_VALUE = _label(
    "placeholder-value",
    Severity.ERROR,
    "a subject attribute of the revoked certificate (or a watched issuance) holds a known "
    'placeholder or default (Some-State, Default City, XX, N/A, ".")',
)
LABEL_TRUNCATED_VALUE = _label(
    "truncated-value",
    Severity.WARNING,
    "a name or subject value of the revoked certificate is a strict part of the replacement's "
    "(2153 -> 21532)",
)
LABEL_EXTRA_TEXT = _label(
    "extra-text",
    Severity.WARNING,
    "the replacement's name or subject value is a strict part of the revoked one's "
    "(Tokyo, C=JP -> Tokyo)",
)
LABEL_LINT_FIXED = _label(
    "lint-fixed",
    Severity.ERROR,
    "the replacement fixes at least one lint error of the revoked certificate (pkilint)",
)
# The issuance watch (jobs.enrich.watch): certificates issued in the window and not revoked.
LABEL_NEAR_SIBLING = _label(
    "near-sibling",
    Severity.ERROR,
    "a watched issuance names a registrable domain its subscriber never had before, within edit "
    "distance 2 (or look-alike characters) of one the subscriber holds",
)
LABEL_LINT_ERROR = _label(
    "lint-error",
    Severity.ERROR,
    "pkilint reports an error-level finding on a watched issuance",
)
# The optional domain-existence check (jobs.source.dns), on cases and suspicious issuances alike.
LABEL_DOMAIN_NOT_FOUND = _label(
    "domain-not-found",
    Severity.ERROR,
    "this domain is not registered: the certificate named a domain nobody holds (the resolver "
    "answered NXDOMAIN)",
)

# Detection: the case itself, and problems with the records behind it.
DETECT_REVOKED_EARLY = _code(
    "detect.revoked_early",
    Severity.WARNING,
    "revoked within the threshold of issuance (the case itself)",
)
DETECT_REVOKED_UNKNOWN_AGE = _code(
    "detect.revoked_unknown_age",
    Severity.WARNING,
    "issuance time unknown or after the revocation: reported in case it was early",
)
DATA_ISSUANCE_MISSING = _code(
    "data.issuance_missing", Severity.ERROR, "no issuance record with this issuer and serial"
)
DATA_ISSUANCE_TIME_MISSING = _code(
    "data.issuance_time_missing",
    Severity.ERROR,
    "the issuance record has neither an issuance time nor notBefore (or they are unreadable)",
)
DATA_ISSUED_AT_MISSING = _code(
    "data.issued_at_missing", Severity.INFO, "no issuance time; notBefore stands in"
)
DATA_REVOKED_BEFORE_ISSUANCE = _code(
    "data.revoked_before_issuance",
    Severity.ERROR,
    "the revocation time precedes the issuance time",
)
DATA_DUPLICATE_REVOCATION = _code(
    "data.duplicate_revocation",
    Severity.WARNING,
    "several revocation records for one certificate; the earliest is reported",
)
DATA_REVOCATION_TIME_UNREADABLE = _code(
    "data.revocation_time_unreadable",
    Severity.ERROR,
    "a revocation time that cannot be read (a run-level problem: in the report's `problems`, no "
    "case holds it)",
)
DATA_SERIAL_INVALID = _code(
    "data.serial_invalid", Severity.ERROR, "a serial that is not hexadecimal"
)
DATA_DER_UNPARSEABLE = _code(
    "data.der_unparseable",
    Severity.ERROR,
    "the stored DER does not parse; the database columns are reported",
)
DATA_DER_SERIAL_MISMATCH = _code(
    "data.der_serial_mismatch", Severity.ERROR, "the DER's serial differs from the row's"
)
DATA_NAMES_MISMATCH = _code(
    "data.names_mismatch",
    Severity.WARNING,
    "the names column differs from the certificate's names",
)
DATA_REASON_UNKNOWN = _code(
    "data.reason_unknown",
    Severity.WARNING,
    "a reason code that is not an RFC 5280 CRLReason",
)
DATA_TIME_UNREADABLE = _code(
    "data.time_unreadable",
    Severity.WARNING,
    "a validity or issuance time that cannot be read (infinity, out of range, garbage): "
    "treated as unknown, the value named",
)

# The certificate diff (jobs.enrich.rules), and enrichment itself.
DIFF_NAME_LIKELY_TYPO = _code(
    "diff.name.likely_typo",
    Severity.WARNING,
    "a removed name within distance 2 of an added name, same registrable domain "
    "(or an IP, mailbox or URI)",
)
DIFF_NAME_REGISTRABLE_DOMAIN_TYPO = _code(
    "diff.name.registrable_domain_typo",
    Severity.ERROR,
    "a removed name within distance 2 of an added name in another registrable domain",
    LABEL_REGISTRABLE_DOMAIN_TYPO,
)
DIFF_NAME_LOOKALIKE = _code(
    "diff.name.lookalike",
    Severity.WARNING,
    "two paired names differ only by look-alike characters (rn/m, 1/l, 0/o, Cyrillic/Latin)",
    LABEL_LOOK_ALIKE,
)
DIFF_NAME_IDN = _code(
    "diff.name.idn", Severity.INFO, "internationalised names, shown in A-label and U-label form"
)
DIFF_NAME_ADDED = _code("diff.name.added", Severity.INFO, "names the replacement adds")
DIFF_NAME_REMOVED = _code(
    "diff.name.removed", Severity.INFO, "names dropped without a close partner"
)
DIFF_NAME_PAIRING_CAPPED = _code(
    "diff.name.pairing_capped",
    Severity.WARNING,
    "more names than the diff pairs (10,000 a side): the rest are listed as added and removed",
)
DIFF_IDENTICAL_NAMES = _code(
    "diff.identical_names", Severity.INFO, "the replacement has the same names"
)
DIFF_SUBJECT_CHANGED = _code(
    "diff.subject.changed",
    Severity.INFO,
    "the subject DN changed; the message lists the attributes",
)
DIFF_SUBJECT_LIKELY_TYPO = _code(
    "diff.subject.likely_typo",
    Severity.WARNING,
    "a subject attribute changed within distance 2 (the edit shown)",
    LABEL_SUBJECT_TYPO,
)
DIFF_VALIDITY_CHANGED = _code(
    "diff.validity.changed", Severity.INFO, "the validity period's length changed"
)
DIFF_PROFILE_EKU_CHANGED = _code(
    "diff.profile.eku_changed",
    Severity.INFO,
    "the extended key usages changed",
    LABEL_PROFILE_CHANGED,
)
DIFF_PROFILE_POLICIES_CHANGED = _code(
    "diff.profile.policies_changed",
    Severity.INFO,
    "the certificate policies changed",
    LABEL_PROFILE_CHANGED,
)
DIFF_ISSUER_CHANGED = _code(
    "diff.issuer.changed",
    Severity.INFO,
    "the replacement was issued by another CA",
    LABEL_ISSUER_CHANGED,
)
DIFF_IDENTICAL_REISSUE = _code(
    "diff.identical_reissue",
    Severity.INFO,
    "same names, subject, key, issuer and profile: only serial and validity moved",
    LABEL_IDENTICAL_REISSUE,
)
DIFF_NAME_INVALID = _code(
    "diff.name.invalid",
    Severity.ERROR,
    "a name of the revoked certificate is not valid for its type (the reason named)",
    LABEL_INVALID_NAME,
)
DIFF_SUBJECT_PLACEHOLDER = _code(
    "diff.subject.placeholder",
    Severity.ERROR,
    "a subject attribute of the revoked certificate holds a known placeholder (its source named)",
    LABEL_PLACEHOLDER_VALUE,
)
DIFF_VALUE_TRUNCATED = _code(
    "diff.value.truncated",
    Severity.WARNING,
    "a name or subject value of the revoked certificate is a strict part of the replacement's",
    LABEL_TRUNCATED_VALUE,
)
DIFF_VALUE_EXTRA_TEXT = _code(
    "diff.value.extra_text",
    Severity.WARNING,
    "the replacement's name or subject value is a strict part of the revoked one's",
    LABEL_EXTRA_TEXT,
)
DIFF_LINT_FIXED = _code(
    "diff.lint.fixed",
    Severity.ERROR,
    "the replacement no longer has lint errors the revoked certificate has (pkilint codes named)",
    LABEL_LINT_FIXED,
)
DIFF_LINT_INTRODUCED = _code(
    "diff.lint.introduced",
    Severity.WARNING,
    "the replacement has lint errors the revoked certificate has not (pkilint codes named)",
)
DIFF_DER_UNPARSEABLE = _code(
    "diff.der_unparseable",
    Severity.WARNING,
    "the replacement's DER does not parse; it is compared on the database columns",
)
DIFF_KEY_REUSED = _code("diff.key.reused", Severity.INFO, "the replacement has the same key")
DIFF_KEY_CHANGED = _code("diff.key.changed", Severity.INFO, "the replacement has a new key")
DIFF_RULE_FAILED = _code(
    "diff.rule_failed", Severity.ERROR, "a diff rule raised; the others still ran"
)
ENRICH_FAILED = _code(
    "enrich.failed",
    Severity.ERROR,
    "enrichment of this case failed; it is reported as detected",
)
ENRICH_LINT_FAILED = _code(
    "enrich.lint_failed",
    Severity.WARNING,
    "the linter failed on a certificate of the case; its lint is left out and nothing counts as "
    "fixed",
)

# The issuance watch: what makes a certificate issued in the window, and not revoked, suspicious.
WATCH_NEAR_SIBLING = _code(
    "watch.name.near_sibling",
    Severity.ERROR,
    "a name in a registrable domain new to the subscriber, within distance 2 (or look-alike) of "
    "one it holds (both named)",
    LABEL_NEAR_SIBLING,
)
WATCH_NAME_INVALID = _code(
    "watch.name.invalid",
    Severity.ERROR,
    "a name of a watched issuance is not valid for its type (the reason named)",
    LABEL_INVALID_NAME,
)
WATCH_SUBJECT_PLACEHOLDER = _code(
    "watch.subject.placeholder",
    Severity.ERROR,
    "a subject attribute of a watched issuance holds a known placeholder (its source named)",
    LABEL_PLACEHOLDER_VALUE,
)
WATCH_LINT_ERROR = _code(
    "watch.lint.error",
    Severity.ERROR,
    "pkilint reports error-level findings on a watched issuance (codes named)",
    LABEL_LINT_ERROR,
)
WATCH_LINT_FAILED = _code(
    "watch.lint_failed",
    Severity.WARNING,
    "pkilint could not lint a watched issuance, or one of its validators crashed",
)
DNS_DOMAIN_NOT_FOUND = _code(
    "dns.domain_not_found",
    Severity.ERROR,
    "the resolver answered NXDOMAIN for a registrable domain the certificate names",
    LABEL_DOMAIN_NOT_FOUND,
)

CODES: Mapping[str, Code] = MappingProxyType(_CODES)
LABELS: Mapping[str, Label] = MappingProxyType(_LABELS)
