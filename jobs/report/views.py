"""The filters of the report's first screen, the trend and the operators: severity, advice, shares.

Owns what the templates ask of a case or a row to draw the verdict: a case's or a label's severity
(the registry's, via `jobs.report.triage`), the advice for a severity, the shares of the trend and
of each operator, the text part's bars, and the short name a case goes by in the overview. The
colour of each severity is the templates' (one palette, by severity, never by label). It must not
emit markup nor decide what the report contains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs.core.model import Case, Certificate, Severity
from jobs.core.watch import SuspiciousIssuance
from jobs.report import charts, triage


def severity(item: Case | SuspiciousIssuance) -> str:
    """A case's (or a suspicious issuance's) severity as the templates key their palette:
    `error`, `warning` or `info`."""
    if isinstance(item, SuspiciousIssuance):
        return triage.issuance_severity(item).value
    return triage.case_severity(item).value


def label_severity(label: str) -> str:
    """A label's severity from the registry (`info` for one it does not declare)."""
    return triage.label_severity(str(label)).value


def next_step(value: Severity | str) -> str:
    """The one sentence of advice for the cases of a severity."""
    return triage.NEXT_STEP[Severity(value)]


def first_name(cert: Certificate | None) -> str | None:
    """What a certificate goes by in a list: its first name, else its subject (None: neither)."""
    if cert is None:
        return None
    return cert.names[0] if cert.names else cert.subject


def more_names(cert: Certificate | None) -> int:
    """How many names a certificate has beyond the first."""
    return max(0, len(cert.names) - 1) if cert is not None else 0


REPORT_FILTERS: dict[str, Callable[..., Any]] = dict(
    severity=severity, label_severity=label_severity, next_step=next_step,
    first_name=first_name, more_names=more_names, share=charts.share,
    operator_share=charts.operator_share, text_bar=charts.text_bar,
)  # fmt: skip
