"""The nightly run's issuance watch and domain-existence check, as stage calls.

Owns the watch's window (the run's window; on a night that follows a successful run, from that
run's window end less `ISSUANCE_LAG`, since every issuance before it was watched by a successful
run already), reading the window's unrevoked certificates and their subscribers' grouped history
from the CA database, dropping those the ledger already reported, judging the rest by the names
rules in batches (`jobs.enrich.watch`), then which of them pkilint lints (at most `lint_limit`
a night: those a names rule flagged first, then in issuance order) over a pool of workers, one
per CPU (`jobs.enrich.lint.lint_all`), and the optional DNS check of every flagged
certificate's registrable domains (`jobs.source.dns`, labels by `jobs.enrich.existence`). A CA
database that cannot answer the watch leaves the night going on and the report saying why. It
must not render, send or record anything.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jobs.core.errors import SourceError
from jobs.core.model import Case, Certificate
from jobs.core.watch import WATCH_LINT_LIMIT, DomainCheck, SuspiciousIssuance, WatchOutcome
from jobs.core.x509 import ParseCache
from jobs.detect.records import certificate_from_row
from jobs.source import dns
from jobs.source.database import CaDatabase
from jobs.source.profiles.base import HISTORY_PER_SUBSCRIBER

if TYPE_CHECKING:
    from jobs.enrich.lint import Linter
    from jobs.enrich.watch import Holdings

# jobs.enrich is imported by the functions that judge, lint or label, not here: a window that
# issued nothing (an empty night) never loads it, nor what it pulls in (rapidfuzz, pkilint's pool).

log = logging.getLogger("revwatch.pipeline.watch")

# How late an issuance row may reach the database after its issuance time (replication, a CA
# writing its records in batches) and still be watched by the next night.
ISSUANCE_LAG = timedelta(hours=6)
# Certificates judged (parsed, linted) at a time: one batch's parsed certificates in memory.
WATCH_BATCH = 2_000
Reported = Callable[[Iterable[tuple[str, str]]], dict[tuple[str, str], str]]


def watch_since(
    since: datetime, until: datetime, given: datetime | None, watermark: datetime | None
) -> datetime:
    """Where the watch's window starts: the run's `since`, unless the run's window was derived
    from the watermark (no `--since` given), in which case at the watermark less ISSUANCE_LAG:
    the run's overlap re-reads revocations, and re-linting its issuances would find nothing new."""
    if given is not None or watermark is None:
        return since
    return min(max(since, watermark - ISSUANCE_LAG), until)


def _certificates(rows: Sequence[dict[str, object]], cache: ParseCache) -> list[Certificate]:
    out = []
    for row in rows:
        label = f"issued certificate (issuer {row.get('issuer_dn')}, serial {row.get('serial')})"
        certificate, findings = certificate_from_row(row, label, cache=cache)
        for finding in findings:
            log.warning("%s", finding.message)
        out.append(certificate)
    return out


def _history(ca: CaDatabase, since: datetime, until: datetime) -> tuple[Holdings, list[str]]:
    """The subscribers' holdings, and what limited them (sentences for the report)."""
    try:
        rows = ca.subscriber_history(since, until)
    except SourceError as exc:
        note = (
            f"the subscribers' history could not be read, so near-siblings were not judged: {exc}"
        )
        log.warning("%s", note)
        return {}, [note]
    from jobs.enrich.watch import holdings, holdings_from_names  # see the top

    found, unnamed = holdings_from_names(rows)
    notes = []
    per = Counter(str(row["subscriber"]) for row in rows if row.get("subscriber") is not None)
    capped = sum(1 for count in per.values() if count >= HISTORY_PER_SUBSCRIBER)
    if capped:
        notes.append(
            f"the history of {capped} subscriber(s) was cut to their {HISTORY_PER_SUBSCRIBER:,} "
            "most recent names lists"
        )
    if unnamed:
        notes.append(
            f"{unnamed} names list(s) of the history are empty in the database (names only in "
            "the DER) and were not read"
        )
    return holdings(found), notes


def run_watch(
    ca: CaDatabase,
    since: datetime,
    until: datetime,
    *,
    reported: Reported | None,
    linter: Linter | Callable[[], Linter] | None,
    lint_limit: int = WATCH_LINT_LIMIT,
    workers: int | None = None,
) -> WatchOutcome:
    """Watch the certificates issued in [since, until) and not revoked (module docstring).
    `linter`: the linter, or what makes it once there is something to lint (a night passes
    `shared_linter`); None lints nothing. `workers`: lint processes (None: one per CPU of this
    process)."""
    if since >= until:
        return WatchOutcome(since, until)
    started = time.monotonic()
    try:
        rows = ca.watched_issuances(since, until)
    except SourceError as exc:
        note = f"the issuance watch could not read the CA database: {exc}"
        log.warning("%s", note)
        return WatchOutcome(since, until, notes=(note,))
    already = reported(_keys(rows)) if reported is not None and rows else {}
    held, notes = _history(ca, since, until) if rows else ({}, [])
    queried = time.monotonic()
    certificates: list[Certificate] = []
    judged: list[SuspiciousIssuance | None] = []
    for start in range(0, len(rows), WATCH_BATCH):
        from jobs.enrich.watch import judge_all  # see the top

        cache = ParseCache(limit=WATCH_BATCH)
        batch = [
            c
            for c in _certificates(rows[start : start + WATCH_BATCH], cache)
            if c.key not in already and _within(c, since, until)
        ]
        certificates += batch
        judged += judge_all(batch, held, cache=cache)
    del rows
    named = time.monotonic()
    chosen = _lint_choice(certificates, judged, lint_limit) if linter is not None else []
    if linter is not None and chosen:
        from jobs.enrich.lint import lint_all
        from jobs.enrich.watch import with_lint

        linter = linter() if callable(linter) else linter
        if workers is None:
            from jobs.pipeline.backfill_pool import default_workers  # the CPUs it may use

            workers = default_workers()
        lints = lint_all([certificates[i].der or b"" for i in chosen], linter, workers)
        for i, lint in zip(chosen, lints, strict=True):
            judged[i] = with_lint(certificates[i], judged[i], lint, linter.name)
    notes += _lint_note(certificates, len(chosen), lint_limit) if linter is not None else []
    suspicious = _in_issuance_order(judged)
    log.debug(
        "issuance watch [%s, %s): %d checked, %d suspicious, %d reported before; "
        "reading %.2f s (history of %d subscribers), judging %.2f s (names %.2f s, "
        "lint of %d over %s workers %.2f s)",
        since.isoformat(), until.isoformat(), len(certificates), len(suspicious), len(already),
        queried - started, len(held), time.monotonic() - queried, named - queried,
        len(chosen), workers or 1, time.monotonic() - named,
    )  # fmt: skip
    return WatchOutcome(
        since, until, len(certificates), tuple(suspicious), len(already), tuple(notes),
        linted=len(chosen) if linter is not None else None,
    )  # fmt: skip


def _in_issuance_order(judged: Sequence[SuspiciousIssuance | None]) -> list[SuspiciousIssuance]:
    flagged = [i for i in judged if i is not None]
    if not flagged:
        return []
    from jobs.enrich.watch import issuance_order  # see the top

    return sorted(flagged, key=issuance_order)


def _lint_choice(
    certificates: Sequence[Certificate], judged: Sequence[SuspiciousIssuance | None], limit: int
) -> list[int]:
    """Which certificates pkilint lints, by index: at most `limit` of those with DER, those a
    names rule flagged first, then in issuance order (issuer and serial breaking ties), so that
    a night over the limit lints the same ones however the database returned its rows."""

    def order(i: int) -> tuple[bool, str, str, str]:
        cert = certificates[i]
        when = cert.issuance_time.isoformat() if cert.issuance_time is not None else "~"
        return (judged[i] is None, when, cert.issuer, cert.serial)

    if not certificates:
        return []
    from jobs.enrich.watch import lintable  # see the top

    candidates = [i for i, cert in enumerate(certificates) if lintable(cert)]
    return sorted(candidates, key=order)[: max(0, limit)]


def _lint_note(certificates: Sequence[Certificate], linted: int, limit: int) -> list[str]:
    """The sentence saying how many certificates were left unlinted by `watch_lint_limit`."""
    if not certificates:
        return []
    from jobs.enrich.watch import lintable  # see the top

    left = sum(1 for cert in certificates if lintable(cert)) - linted
    if left <= 0:
        return []
    return [
        f"pkilint linted {linted:,} of the {linted + left:,} certificates with DER "
        f"(watch_lint_limit {limit:,}: those a name rule flagged first, then in issuance "
        f"order); the other {left:,} were not linted, so a lint error among them is not reported"
    ]


def _keys(rows: Sequence[dict[str, object]]) -> list[tuple[str, str]]:
    # The report's spelling of the key, as certificate_from_row makes it.
    keys = []
    for row in rows:
        certificate, _ = certificate_from_row({**row, "der": None}, "")
        keys.append(certificate.key)
    return keys


def _within(certificate: Certificate, since: datetime, until: datetime) -> bool:
    when = certificate.issuance_time
    return when is not None and since <= when < until


def check_domains(
    options: dns.DnsOptions, cases: list[Case], suspicious: Sequence[SuspiciousIssuance]
) -> tuple[list[Case], list[SuspiciousIssuance], DomainCheck]:
    """With `dns_check` on, ask the resolver about every flagged certificate's registrable
    domains and label the ones that do not exist; otherwise everything as it was."""
    if not options.enabled:
        return cases, list(suspicious), DomainCheck()
    from jobs.enrich import existence  # see the top

    result = dns.check(existence.domains_to_check(cases, suspicious), options)
    marked_cases, marked = existence.mark_not_found(cases, suspicious, result.not_found)
    if result.not_found:
        log.debug("domain check: %d domain(s) not registered", len(result.not_found))
    return marked_cases, marked, result
