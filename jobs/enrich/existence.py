"""Which registrable domains to ask a resolver about, and the label an NXDOMAIN answer gives.

Owns the choice of domains for the optional existence check (the registrable domains of every
case's revoked certificate and of every suspicious issuance: suspicious issuances first, then
cases in the order given, so a bounded check spends itself on what matters most) and the
`domain-not-found` label and `dns.domain_not_found` finding on each case or issuance that names
a domain the resolver said does not exist. It must not ask anything (`jobs.source.dns` does): a
domain the check could not answer is never labelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from jobs.core import codes
from jobs.core.model import Case, Certificate, Finding
from jobs.core.watch import SuspiciousIssuance
from jobs.enrich.names import is_dns_name, registrable_domain


def domains_to_check(cases: Sequence[Case], issuances: Sequence[SuspiciousIssuance]) -> list[str]:
    """The distinct registrable domains of the flagged certificates, most important first."""
    found: dict[str, None] = {}
    for domains in [i.domains for i in issuances] + [c.domains for c in cases]:
        for domain in domains:
            if domain is not None:
                found.setdefault(domain, None)
    return list(found)


def _not_found(certificate: Certificate, missing: set[str]) -> list[Finding]:
    by_domain: dict[str, list[str]] = {}
    for name in certificate.names:
        domain = registrable_domain(name) if is_dns_name(name) else None
        if domain in missing:
            by_domain.setdefault(domain, []).append(name)
    return [
        codes.DNS_DOMAIN_NOT_FOUND.finding(
            f"{domain} ({', '.join(names)}) is not registered: the resolver answered NXDOMAIN"
        )
        for domain, names in by_domain.items()
    ]


def _labelled(labels: tuple[str, ...], findings: Sequence[Finding]) -> tuple[str, ...]:
    if not findings:
        return labels
    return (*labels, codes.LABEL_DOMAIN_NOT_FOUND.name)


def mark_not_found(
    cases: Iterable[Case], issuances: Iterable[SuspiciousIssuance], missing: Iterable[str]
) -> tuple[list[Case], list[SuspiciousIssuance]]:
    """Cases and issuances with `domain-not-found` where they name a domain in `missing`."""
    gone = set(missing)
    marked_cases = []
    for case in cases:
        found = _not_found(case.certificate, gone) if gone else []
        if found:
            case = replace(
                case, findings=case.findings + tuple(found), labels=_labelled(case.labels, found)
            )
        marked_cases.append(case)
    marked = []
    for issuance in issuances:
        found = _not_found(issuance.certificate, gone) if gone else []
        if found:
            issuance = replace(
                issuance,
                findings=issuance.findings + tuple(found),
                labels=_labelled(issuance.labels, found),
            )
        marked.append(issuance)
    return marked_cases, marked
