"""Prometheus metrics for node_exporter's textfile collector.

Owns the metric names and writing them atomically (a temporary file renamed over the target, so
the collector never reads half a file), best effort: a metrics file that cannot be written is
logged and changes no run's outcome. Alerting on `revwatch_last_success_timestamp_seconds`
catches a dead job even when it stopped running altogether. It must not decide outcomes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobs.core.atomic import write_atomic

log = logging.getLogger("revwatch.state.metrics")


@dataclass(frozen=True)
class RunMetrics:
    """What one run leaves for the monitoring system."""

    finished_at: datetime
    outcome: str
    cases_found: int
    cases_mailed: int
    duration_seconds: float
    last_success: datetime | None


def render(metrics: RunMetrics) -> str:
    """The textfile collector format: HELP, TYPE and one sample per metric."""
    samples = [
        (
            "revwatch_last_success_timestamp_seconds",
            "Unix time at which the last successful run finished (0: never).",
            metrics.last_success.timestamp() if metrics.last_success else 0.0,
        ),
        (
            "revwatch_last_run_timestamp_seconds",
            "Unix time at which the last run finished.",
            metrics.finished_at.timestamp(),
        ),
        (
            "revwatch_last_run_success",
            "1 if the last run mailed its report and recorded it, else 0.",
            1.0 if metrics.outcome == "success" else 0.0,
        ),
        (
            "revwatch_last_run_cases_found",
            "Early revocations found in the last run's window.",
            float(metrics.cases_found),
        ),
        (
            "revwatch_last_run_cases_mailed",
            "Early revocations mailed for the first time by the last run.",
            float(metrics.cases_mailed),
        ),
        (
            "revwatch_last_run_duration_seconds",
            "Wall time of the last run.",
            metrics.duration_seconds,
        ),
    ]
    lines = []
    for name, help_text, value in samples:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value!r}"]
    return "\n".join(lines) + "\n"


def write(path: Path, metrics: RunMetrics) -> bool:
    """Replace `path` with the metrics in one rename; False (and a logged error) if it cannot.

    Best effort: the report was mailed and recorded, or the run failed for its own reason, either
    way a metrics file must not change the outcome or its exit code. The stale file's
    `revwatch_last_run_timestamp_seconds` shows the monitoring that something is wrong."""
    try:
        # node_exporter runs as another user: this file (counts, no cases) and a directory the
        # job creates for it are readable by all.
        write_atomic(path, render(metrics), mode=0o644, dir_mode=0o755)
    except OSError as exc:
        log.error("cannot write the metrics file %s: %s", path, exc.strerror or exc)
        return False
    return True
