"""The real `revwatch` command as a subprocess, as an operator or a scheduler starts it.

Owns how tests start the installed console script (`.venv/bin/revwatch`, beside the running
Python) and read what it left: exit code, stdout, stderr and stderr's log lines. The environment
is the test's (tests/conftest.py gives each test its own HOME and no `REVWATCH_*` variable) plus
what a test adds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# The console script pip installed beside this interpreter: what cron and systemd run.
REVWATCH = Path(sys.executable).with_name("revwatch")
# A text log line: ISO 8601 UTC time with its zone, level, logger, message.
LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00) (?P<level>[A-Z]+) "
    r"(?P<logger>[\w.]+): (?P<message>.*)$"
)


def revwatch(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """`revwatch ARGS` with `env` on top of this environment; its result (never raises)."""
    return subprocess.run(
        [str(REVWATCH), *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def log_lines(stderr: str) -> list[dict[str, str]]:
    """The text log lines of a command's stderr, parsed; other lines are left out."""
    return [m.groupdict() for line in stderr.splitlines() if (m := LOG_LINE.match(line))]


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines of a command's stderr, parsed."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
