"""The records of the issuance watch and of the domain-existence check.

Owns what flows from the watch to the report and the ledger: a suspicious issuance (a certificate
issued in the run's window, not revoked, with the labels and findings that make it suspicious),
one subscriber's holding of a registrable domain (from the CA database's grouped history), the
watch's outcome for one run, and the outcome of the optional DNS check (which domains the
resolver said do not exist, and why the check could not be made in full). Plain immutable data,
like `jobs.core.model`; it must not decide what is suspicious, query anything or format output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jobs.core.model import Certificate, Finding


@dataclass(frozen=True)
class SuspiciousIssuance:
    """A certificate issued in the window and not revoked that the watch flags.

    `labels` are registry labels (`near-sibling`, `invalid-name`, `placeholder-value`,
    `lint-error`, `domain-not-found`); `findings` say why, each naming its evidence; `domains`
    are the registrable domains of its names (None for a name without one), distinct."""

    certificate: Certificate
    labels: tuple[str, ...]
    findings: tuple[Finding, ...]
    domains: tuple[str | None, ...] = ()

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
    notes: what limited the watch (history capped, a table it could not read), each a sentence.
    """

    since: datetime | None = None
    until: datetime | None = None
    checked: int = 0
    suspicious: tuple[SuspiciousIssuance, ...] = ()
    already_reported: int = 0
    notes: tuple[str, ...] = ()


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
