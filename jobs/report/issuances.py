"""The issuance watch and the domain-existence check in the report: report.json's parts.

Owns how suspicious issuances are written to report.json (`suspicious_issuances`, every one,
each `{issuer, serial, names, subject, issued_at, labels, findings}`) and the watch's and the
DNS check's own summaries beside them (`issuance_watch`: counts per label and per issuing CA and
pkilint code, how many were linted and shown in the mail; `domain_check`). The mail bodies show
the first `SHOWN_IN_FULL` in full and the same summary, from `templates/report.*`. It must not
decide what is suspicious or ask anything.
"""

from __future__ import annotations

from typing import Any

from jobs.core.watch import SHOWN_IN_FULL, DomainCheck, SuspiciousIssuance, WatchOutcome
from jobs.report.filters import format_serial, iso, text_or_none


def issuance_json(issuance: SuspiciousIssuance) -> dict[str, Any]:
    """One suspicious issuance as report.json states it (serial in lower-case hex)."""
    cert = issuance.certificate
    return {
        "issuer": cert.issuer,
        "serial": format_serial(cert.serial),
        "names": list(cert.names),
        "subject": text_or_none(cert.subject),
        "issued_at": iso(cert.issuance_time),
        "labels": list(issuance.labels),
        "findings": [
            {"code": f.code, "severity": f.severity.value, "message": f.message}
            for f in issuance.findings
        ],
    }


def watch_json(watch: WatchOutcome, domains: DomainCheck) -> dict[str, Any]:
    """report.json's `suspicious_issuances`, `issuance_watch` and `domain_check`."""
    return {
        "suspicious_issuances": [issuance_json(i) for i in watch.suspicious],
        "issuance_watch": {
            "since": iso(watch.since) if watch.since else None,
            "until": iso(watch.until) if watch.until else None,
            "checked": watch.checked,
            "suspicious": len(watch.suspicious),
            "already_reported": watch.already_reported,
            "notes": list(watch.notes),
            "linted": watch.linted,
            "not_linted": watch.checked - watch.linted if watch.linted is not None else None,
            "shown_in_mail": len(watch.shown),
            "shown_in_mail_at_most": SHOWN_IN_FULL,
            "by_label": dict(watch.by_label),
            "lint_errors_by_issuer": [
                {"issuer": issuer, "code": code, "certificates": count}
                for issuer, code, count in watch.lint_by_issuer
            ],
        },
        "domain_check": {
            "enabled": domains.enabled,
            "resolver": domains.resolver,
            "asked": domains.asked,
            "not_found": list(domains.not_found),
            "unanswered": domains.unanswered,
            "note": domains.note,
        },
    }
