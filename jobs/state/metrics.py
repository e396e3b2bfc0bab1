"""Prometheus metrics for node_exporter's textfile collector.

Owns the metric names and writing them atomically (a temporary file renamed over the target, so
the collector never reads half a file). Alerting on `revwatch_last_success_timestamp_seconds`
catches a dead job even when it stopped running altogether. It must not decide outcomes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jobs.core.errors import ConfigError


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


def write(path: Path, metrics: RunMetrics) -> None:
    """Replace `path` with the metrics in one rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(render(metrics))
        os.chmod(temporary, 0o644)  # node_exporter runs as another user
        os.replace(temporary, path)
    except OSError as exc:
        raise ConfigError(f"cannot write the metrics file {path}: {exc.strerror}") from None
