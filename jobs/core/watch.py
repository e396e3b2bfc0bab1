"""The records of the issuance watch and of the domain-existence check.

Owns what flows from the watch to the report and the ledger: a suspicious issuance (a certificate
issued in the run's window, not revoked, with the labels and findings that make it suspicious),
one subscriber's holding of a registrable domain (from the CA database's grouped history), the
watch's outcome for one run, and the outcome of the optional DNS check (which domains the
resolver said do not exist, and why the check could not be made in full), with the counts a
mass night's report sums up (per label, per issuing CA and pkilint code) and which the mail shows
in full. Plain immutable data, like `jobs.core.model`; it must not decide what is suspicious,
query anything or format output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from jobs.core.model import Certificate, Finding

# Suspicious issuances the mail shows in full, most severe first (as FULL_CASES for cases): a
# reviewer reads fifty; a mass night's thousands are summarised by label, lint code and CA, and
# every one stays in report.json.
SHOWN_IN_FULL = 50
# Certificates pkilint lints per night by default (`watch_lint_limit`; about 4.5 ms of one CPU
# each): an ordinary night of a mid-size CA is linted whole, a mass night's cost stays bounded.
WATCH_LINT_LIMIT = 10_000


@dataclass(frozen=True)
class SuspiciousIssuance:
    """A certificate issued in the window and not revoked that the watch flags.

    `labels` are registry labels (`near-sibling`, `invalid-name`, `placeholder-value`,
    `lint-error`, `domain-not-found`); `findings` say why, each naming its evidence; `domains`
    are the registrable domains of its names (None for a name without one), distinct;
    `lint_codes` pkilint's error-level codes on it (what the mail counts per issuing CA)."""

    certificate: Certificate
    labels: tuple[str, ...]
    findings: tuple[Finding, ...]
    domains: tuple[str | None, ...] = ()
    lint_codes: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """Issuer and serial, the ledger's key of the certificate (as for cases)."""
        return self.certificate.key


@dataclass(frozen=True)
class Holding:
    """A subscriber's registrable domain, as its history shows it: `since` is when the subscriber
    first held it (its first certificate naming it, or the profile's equivalent)."""

    subscriber: str
    domain: str
    since: datetime | None


@dataclass(frozen=True)
class WatchOutcome:
    """What the issuance watch did in one run.

    since, until: the issuance window it checked, half-open (None: the watch did not run).
    checked: issuances examined (issued in the window, not revoked, not reported before).
    suspicious: those it flags, most severe first (the report's order).
    already_reported: suspicious issuances an earlier run reported; not repeated.
    notes: what limited the watch (history capped, a table it could not read, certificates left
        unlinted by `watch_lint_limit`), each a sentence.
    linted: certificates pkilint linted (at most `watch_lint_limit`; None: lint was off).
    """

    since: datetime | None = None
    until: datetime | None = None
    checked: int = 0
    suspicious: tuple[SuspiciousIssuance, ...] = ()
    already_reported: int = 0
    notes: tuple[str, ...] = ()
    linted: int | None = None

    @property
    def shown(self) -> tuple[SuspiciousIssuance, ...]:
        """Those the mail shows in full: the first SHOWN_IN_FULL, most severe first."""
        return self.suspicious[:SHOWN_IN_FULL]

    @cached_property
    def by_label(self) -> tuple[tuple[str, int], ...]:
        """Suspicious issuances per label, most first (one issuance counts under each label)."""
        counts = Counter(label for i in self.suspicious for label in i.labels)
        return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    @cached_property
    def lint_by_issuer(self) -> tuple[tuple[str, str, int], ...]:
        """(issuing CA, pkilint code, certificates) for every error code, most first: thousands
        of one CA's certificates with one code is a profile error, fixed once at the CA."""
        counts = Counter((i.certificate.issuer, c) for i in self.suspicious for c in i.lint_codes)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return tuple((issuer, code, n) for (issuer, code), n in ranked)


@dataclass(frozen=True)
class DomainCheck:
    """The optional domain-existence check of one run.

    enabled: whether `dns_check` is on. resolver: which resolver was asked (`127.0.0.1:53`, or
    `system`). asked: registrable domains asked about. not_found: those answered NXDOMAIN.
    unanswered: those with no usable answer (timeout, SERVFAIL, refused, budget spent).
    note: why the check could not be made, in full or in part (None: every domain answered).
    """

    enabled: bool = False
    resolver: str | None = None
    asked: int = 0
    not_found: tuple[str, ...] = ()
    unanswered: int = 0
    note: str | None = None
