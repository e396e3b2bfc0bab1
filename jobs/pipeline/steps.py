"""The stage calls the nightly run and the backfill share: open the CA, detect a window, enrich.

Owns how a window's rows reach detection and how cases reach enrichment (candidates and declared
replacements fetched per batch of cases, so a mass revocation holds one batch's DER at a time), and
which cases are linted: those the report shows in full (all of them on an ordinary night), and
the CA's 30-day revocation activity that the report shows beside the cases.
Both `jobs.pipeline.nightly` and `jobs.pipeline.backfill` call these; neither imports the other.
It must not decide the order of a run, render, send or record anything.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.utils import parseaddr

from jobs.core.activity import Activity
from jobs.core.errors import ConfigError, SourceError
from jobs.core.model import Case, Certificate
from jobs.core.x509 import ParseCache
from jobs.detect.detection import Detection, detect
from jobs.detect.records import certificate_from_row
from jobs.enrich.enrichment import enrich, lint_cases
from jobs.enrich.lint import shared_linter
from jobs.pipeline.options import SourceOptions
from jobs.report.document import FULL_CASES, case_order
from jobs.source.database import CaDatabase

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


def enrich_cases(
    ca: CaDatabase,
    cases: list[Case],
    replacement_window: timedelta,
    cache: ParseCache | None = None,
    *,
    lint: bool = True,
) -> list[Case]:
    """Replacement, diff and labels for `cases`: candidates and declared replacements from the
    CA database (one query per batch of subscribers), then the pure enrichment; then, with
    `lint`, the lint diff of the cases the report shows in full (its order and its FULL_CASES),
    with the process's validators.

    Cases go ENRICH_BATCH at a time, so a mass revocation holds one batch's candidates (DER
    included) in memory, not every candidate of the night."""
    enriched: list[Case] = []
    for start in range(0, len(cases), ENRICH_BATCH):
        batch = cases[start : start + ENRICH_BATCH]
        enriched += enrich(
            batch,
            candidates_for(ca, batch, replacement_window, cache),
            replacement_window=replacement_window,
            declared=ca.declared_replacements([case.key for case in batch]),
            cache=cache,
        )
    if lint:
        enriched = lint_cases(enriched, shared_linter(), limit=FULL_CASES, order=case_order)
    return enriched


def sender_domain(mail_from: str) -> str:
    """The domain of the sender's address, for Message-IDs.

    `Revwatch <revwatch@ca.example>` is a valid From: take the domain of the address inside."""
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
