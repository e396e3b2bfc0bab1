"""Rewrites the README's samples of the demo's outputs from one fixed demo night.

    .venv/bin/python -m tests.support.readme_sample

The README shows what `revwatch demo` does on the night of NOW: the opening of the report's text
part, its report.json cut to the seed case, the run's summary line and `revwatch status` after it.
`tests/test_readme_samples.py` (and `tests/test_report_demo.py` for the text part) fail when a
sample and the demo differ; this script writes the demo's own words into the README, each block
found by the sentence that introduces it. The night runs on a clock that starts at NOW, so that
its times agree with each other. It must not touch anything in the README but those blocks.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jobs.core import settings
from jobs.demo.run import run_demo
from jobs.face.cli import status_text
from jobs.face.logs import LogFormatter
from jobs.pipeline.status import ledger_status

README = Path(__file__).resolve().parent.parent.parent / "README.md"
# The night the README shows: the demo's data is a function of this instant.
NOW = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
# The README shows the text part from its first line up to this heading.
ENDS_BEFORE = "Last 30 days: early revocations of all revocations"
# Each sample's block: the sentence that introduces it (to the end of its paragraph), the fence.
_PARAGRAPH = r"[^\n]*(?:\n[^\n]+)*\n\n"
BLOCKS = {
    "report": r"The demo's report opens like this" + _PARAGRAPH + "```\n",
    "json": r"The demo night's `report.json`" + _PARAGRAPH + "```json\n",
    "summary": r"The demo night's summary line" + _PARAGRAPH + "```\n",
    "status": r"`revwatch status` after the demo night" + _PARAGRAPH + "```\n",
}
JSON_WIDTH = 100
# What differs between two runs of the same night: the run ID's random part, times taken from
# the clock (seconds into the night), the run's duration.
_VOLATILE = (
    (re.compile(r"(\d{8}T\d{6}Z)-[0-9a-f]{6}"), r"\1-xxxxxx"),
    (re.compile(r"2026-11-27T02:1[5-9]:\d\d(\.\d+)?"), "2026-11-27T02:1x:xx"),
    (re.compile(r"duration_seconds=[\d.]+"), "duration_seconds=x"),
    (re.compile(r"\(\d+ (s|min) ago\)"), "(x ago)"),
)


@dataclass(frozen=True)
class Night:
    """What the demo night left for the README: each sample's text, as the README shows it."""

    samples: dict[str, str]


def sample(report_text: str) -> str:
    """The opening of the demo's text part that the README shows: up to the 30-day trend."""
    head, found, _ = report_text.partition(ENDS_BEFORE + "\n")
    if not found:
        raise ValueError("the text part lost its trend heading")
    return head.rstrip("\n") + "\n"


def _block(name: str) -> re.Pattern[str]:
    return re.compile(f"({BLOCKS[name]})(.*?)(```\n)", re.DOTALL)


def in_readme(name: str = "report") -> str:
    """The sample `name` as the README has it."""
    match = _block(name).search(README.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"the README lost its {name} sample of the demo night")
    return match.group(2)


def normalise(text: str) -> str:
    """A sample without what differs between two runs of the same night."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def compact_json(value: Any, indent: int = 0, lead: int = 0) -> str:
    """JSON as the README shows it: a value that fits the width on one line stays on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or not value or indent + lead + len(flat) <= JSON_WIDTH:
        return flat
    inner = " " * (indent + 2)
    if isinstance(value, dict):
        parts = [
            f"{inner}{json.dumps(key)}: {compact_json(item, indent + 2, len(json.dumps(key)) + 2)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(parts) + "\n" + " " * indent + "}"
    parts = [inner + compact_json(item, indent + 2) for item in value]
    return "[\n" + ",\n".join(parts) + "\n" + " " * indent + "]"


def json_sample(report: dict[str, Any]) -> str:
    """report.json cut to the seed case, the trend's first and last day, the first operator."""
    cut = dict(report)
    cut["cases"] = report["cases"][:1]
    trend = report["trend"]
    cut["trend"] = [trend[0], "…", trend[-1]] if len(trend) > 2 else trend
    cut["operators"] = report["operators"][:1] + (["…"] if len(report["operators"]) > 1 else [])
    return compact_json(cut) + "\n"


@contextmanager
def _clock() -> Iterator[Callable[[], datetime]]:
    """Every `utcnow` of the job reads NOW plus the time elapsed since the night began."""
    started = time.monotonic()
    original = settings.utcnow

    def now() -> datetime:
        return NOW + timedelta(seconds=time.monotonic() - started)

    patched = [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("jobs") and getattr(module, "utcnow", None) is original
    ]
    for module in patched:
        module.utcnow = now  # type: ignore[attr-defined]
    try:
        yield now
    finally:
        for module in patched:
            module.utcnow = original  # type: ignore[attr-defined]


class _Lines(logging.Handler):
    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(LogFormatter("text"))
        self.clock = clock
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.created = self.clock().timestamp()
        self.lines.append(self.format(record))


def night(workdir: Path) -> Night:
    """Run the demo night in `workdir/demo-out`; the README's samples of it (the work directory
    shown as `…`)."""
    out = workdir / "demo-out"
    run_log = logging.getLogger("revwatch.run")
    level = run_log.level
    with _clock() as clock:
        handler = _Lines(clock)
        run_log.addHandler(handler)
        run_log.setLevel(logging.INFO)
        try:
            demo = run_demo(out, NOW)
        finally:
            run_log.removeHandler(handler)
            run_log.setLevel(level)
        found = ledger_status(settings.Settings(state_db=str(demo.ledger)), 10)
        status = status_text(found, clock() + timedelta(minutes=5))
    (summary_line,) = handler.lines
    samples = {
        "report": sample((out / "report.txt").read_text(encoding="utf-8")),
        "json": json_sample(json.loads((out / "report.json").read_text(encoding="utf-8"))),
        "summary": summary_line + "\n",
        "status": status + "\n",
    }
    return Night({name: text.replace(str(workdir), "…") for name, text in samples.items()})


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        fresh = night(Path(workdir)).samples
    text = README.read_text(encoding="utf-8")
    for name, sample_text in fresh.items():
        match = _block(name).search(text)
        if match is None:
            raise SystemExit(f"README.md has no {name} sample block ({BLOCKS[name]})")
        text = text[: match.start(2)] + sample_text + text[match.end(2) :]
        print(sample_text)
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
