"""The stage calls the nightly run and the backfill share: open the CA, detect a window, enrich.

Owns how a window's rows reach detection and how cases reach enrichment, ENRICH_BATCH cases at a
time (each batch judged, its DER parsed into a cache of its own (twice with the domain check on:
`check_case_domains` judges every batch first), its candidates and declared
replacements fetched, enriched, then let go, so a mass revocation holds one batch in memory), which
cases are linted (those the report shows in full: all of them on an ordinary night), the
domain-existence check of the cases' domains, and the CA's 30-day revocation activity that the
report shows beside the cases.
Both `jobs.pipeline.nightly` and `jobs.pipeline.backfill` call these; neither imports the other.
It must not decide the order of a run, render, send or record anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from jobs.core.activity import Activity
from jobs.core.errors import ConfigError, SourceError
from jobs.core.model import Case, Certificate
from jobs.core.watch import DomainCheck, SuspiciousIssuance
from jobs.detect.detection import Detection, Pending, detect, group
from jobs.detect.records import certificate_from_row
from jobs.pipeline.options import SourceOptions
from jobs.report.collector import FULL_CASES, case_order
from jobs.source import dns
from jobs.source.database import CaDatabase

if TYPE_CHECKING:
    from jobs.core.x509 import ParseCache

# jobs.enrich is imported by the functions that use it, not here: a night without cases (and
# without the domain check) never loads it, nor what it pulls in (rapidfuzz, pkilint's pool).

log = logging.getLogger("revwatch.pipeline.steps")

ENRICH_BATCH = 5_000


def open_ca(source: SourceOptions) -> CaDatabase:
    """The CA database through the configured profile and its options."""
    if source.url is None:
        raise ConfigError("no CA database: give --ca-db URL or set REVWATCH_CA_DB")
    return CaDatabase(source.url, source.profile, options=source.profile_options)


def detect_window(
    ca: CaDatabase,
    since: datetime,
    until: datetime,
    threshold: timedelta,
    cache: ParseCache | None = None,
) -> Detection:
    """The early revocations of [since, until): the profile's rows, then detection.

    Record problems that belong to no case are logged here, each naming its record."""
    detection = detect(
        ca.early_revocations(since, until, threshold),
        since=since,
        until=until,
        threshold=threshold,
        cache=cache,
    )
    for problem in detection.problems:
        log.warning("%s", problem.message)
    return detection


def pending_window(
    ca: CaDatabase, since: datetime, until: datetime, threshold: timedelta
) -> Pending:
    """The early revocations of [since, until), grouped and ordered, to be judged in batches
    (`enriched_batches`); record problems that belong to no case are logged here.

    The rows are streamed (`CaDatabase.early_revocation_rows`): grouped as they arrive, while
    the read-only session is open, so the night's rows are held only as detection's Records."""
    with closing(ca.early_revocation_rows(since, until, threshold)) as found:
        pending = group(found, since=since, until=until, threshold=threshold)
    for problem in pending.problems:
        log.warning("%s", problem.message)
    return pending


def read_activity(ca: CaDatabase, until: datetime, threshold: timedelta) -> Activity:
    """The CA's revocations per day for the 30 days ending with the window's, and per operator.

    A CA database that cannot answer them leaves the report without them, saying why, and the
    run goes on: the cases are the report; the trend is context."""
    try:
        return ca.activity(until, threshold)
    except SourceError as exc:
        log.warning("the 30-day revocation trend could not be read: %s", exc)
        note = f"could not be read: {exc}"
        return Activity(trend_note=note, operator_note=f"who revoked {note}")


def candidates_for(
    ca: CaDatabase,
    cases: list[Case],
    replacement_window: timedelta,
    cache: ParseCache | None = None,
) -> list[Certificate]:
    """Replacement candidates of every case with a subscriber, fetched in batches."""
    wanted = []
    for case in cases:
        subscriber = case.certificate.subscriber
        if subscriber is None:
            continue
        start = case.certificate.issuance_time or case.revocation.revoked_at
        wanted.append((subscriber, start, case.revocation.revoked_at + replacement_window))
    if not wanted:
        return []
    certificates = []
    for row in ca.replacement_candidates(wanted):
        label = f"candidate certificate (issuer {row.get('issuer_dn')}, serial {row.get('serial')})"
        certificate, findings = certificate_from_row(row, label, cache=cache, parse=False)
        for finding in findings:
            log.warning("%s", finding.message)
        certificates.append(certificate)
    return certificates


def _enrich(
    ca: CaDatabase, cases: list[Case], replacement_window: timedelta, cache: ParseCache | None
) -> list[Case]:
    """One batch: its candidates and declared replacements (one query per batch of subscribers),
    then the pure enrichment."""
    if not cases:
        return []
    from jobs.enrich.enrichment import enrich  # only a batch with cases needs it (see the top)

    return enrich(
        cases,
        candidates_for(ca, cases, replacement_window, cache),
        replacement_window=replacement_window,
        declared=ca.declared_replacements([case.key for case in cases]),
        cache=cache,
    )


def enrich_cases(
    ca: CaDatabase,
    cases: list[Case],
    replacement_window: timedelta,
    cache: ParseCache | None = None,
    *,
    lint: bool = True,
) -> list[Case]:
    """Replacement, diff and labels for `cases` held all at once (the backfill's months), in
    batches of ENRICH_BATCH; then, with `lint`, the lint diff of the cases a report would show
    in full (its order and its FULL_CASES), with the process's validators."""
    enriched: list[Case] = []
    for start in range(0, len(cases), ENRICH_BATCH):
        enriched += _enrich(ca, cases[start : start + ENRICH_BATCH], replacement_window, cache)
    if lint:
        enriched = _lint(enriched, limit=FULL_CASES, order=case_order)
    return enriched


@dataclass(frozen=True)
class Batch:
    """One batch of a streamed night: how many cases it held, and the new ones, enriched."""

    found: int
    cases: list[Case]


def enriched_batches(
    ca: CaDatabase,
    pending: Pending,
    replacement_window: timedelta,
    reported: Container[tuple[str, str]] = (),
) -> Iterator[Batch]:
    """The pending cases judged and enriched ENRICH_BATCH at a time, those whose key is in
    `reported` (the ledger's) left out; each batch is let go as the next is made."""
    for cases, cache in pending.batches(ENRICH_BATCH):
        fresh = [case for case in cases if case.key not in reported]
        yield Batch(len(cases), _enrich(ca, fresh, replacement_window, cache))
        del cases, cache, fresh


def lint_shown(cases: list[Case]) -> list[Case]:
    """`cases` linted with the process's validators (the collector hands over those it shows)."""
    return _lint(cases)


def _lint(
    cases: list[Case], *, limit: int | None = None, order: Callable[[Case], Any] | None = None
) -> list[Case]:
    # Imported here: only cases to lint need jobs.enrich (see the top).
    from jobs.enrich.enrichment import lint_cases
    from jobs.enrich.lint import shared_linter

    return lint_cases(cases, shared_linter(), limit=limit, order=order)


def check_case_domains(
    options: dns.DnsOptions,
    pending: Pending,
    reported: Container[tuple[str, str]],
    suspicious: Sequence[SuspiciousIssuance],
) -> tuple[list[SuspiciousIssuance], DomainCheck, Callable[[Case], Case] | None]:
    """With `dns_check` on, ask the resolver about the registrable domains of the suspicious
    issuances, then of the new cases in detection order (as `jobs.enrich.existence` ranks them);
    the issuances marked, the check's outcome, and the marking of a case (None: nothing to mark).

    The cases are judged here in a first pass of their own (one batch at a time, DER parsed
    again in the second), since a case is serialised as soon as it is settled."""
    if not options.enabled:
        return list(suspicious), DomainCheck(), None
    # Imported here: only the domain check needs them (see the top).
    from jobs.enrich import existence
    from jobs.enrich.enrichment import registrable_domains

    domains = dict.fromkeys(existence.domains_to_check((), suspicious))
    for cases, _ in pending.batches(ENRICH_BATCH, consume=False):
        fresh = [
            replace(case, domains=registrable_domains(case.certificate.names))
            for case in cases
            if case.key not in reported
        ]
        domains.update(dict.fromkeys(existence.domains_to_check(fresh, ())))
    result = dns.check(list(domains), options)
    missing = result.not_found
    _, marked = existence.mark_not_found((), suspicious, missing)
    if not missing:
        return marked, result, None
    log.debug("domain check: %d domain(s) not registered", len(missing))

    def mark(case: Case) -> Case:
        return existence.mark_not_found([case], (), missing)[0][0]

    return marked, result, mark


def sender_domain(mail_from: str) -> str:
    """The domain of the sender's address, for Message-IDs.

    `Revwatch <revwatch@ca.example>` is a valid From: take the domain of the address inside."""
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
