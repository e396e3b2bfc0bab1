"""Rewrites the README's sample of the demo's report from a fresh demo run.

    .venv/bin/python -m tests.support.readme_sample

`tests/test_report_demo.py` fails when the README's sample and the demo's text part differ; this
writes the demo's own words into the README (the same fixed night, the same cut). It must not
touch anything in the README but that one block.
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from jobs.demo.run import run_demo

README = Path(__file__).resolve().parent.parent.parent / "README.md"
BLOCK = re.compile(r"(The demo's report opens like this[^\n]*\n\n```\n)(.*?)(```\n)", re.DOTALL)
# The night the README shows: the demo's data is a function of this instant.
NOW = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
# The README shows the text part from its first line up to this heading.
ENDS_BEFORE = "Last 30 days: early revocations of all revocations"


def sample(report_text: str) -> str:
    """The opening of the demo's text part that the README shows: up to the 30-day trend."""
    head, found, _ = report_text.partition(ENDS_BEFORE + "\n")
    if not found:
        raise ValueError("the text part lost its trend heading")
    return head.rstrip("\n") + "\n"


def in_readme() -> str:
    """The sample as the README has it."""
    match = BLOCK.search(README.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError("the README lost its sample of the demo's report")
    return match.group(2)


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        run_demo(Path(out), NOW)
        fresh = sample((Path(out) / "report.txt").read_text(encoding="utf-8"))
    text = README.read_text(encoding="utf-8")
    README.write_text(BLOCK.sub(lambda m: m.group(1) + fresh + m.group(3), text, count=1))
    print(fresh, end="")


if __name__ == "__main__":
    main()
