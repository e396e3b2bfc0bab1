"""Which modules a `revwatch` command loads: the command run in a child interpreter through
`jobs.face.cli.main`, then the names of the loaded modules reported on the last line of stdout.

Owns the small `-c` wrapper and the reading of its report. The child's environment is the test's
(tests/conftest.py gives each test its own HOME and no `REVWATCH_*` variable) plus what a test adds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

# Runs the command as the console script does, then reports its exit code and the top-level
# packages it loaded (SystemExit included: `--help` leaves through it).
_WRAPPER = """
import json, sys
from jobs.face.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted({name.split(".")[0] for name in sys.modules})
print(json.dumps({"code": code, "loaded": loaded}))
"""


@dataclass(frozen=True)
class Loaded:
    """A finished command: its exit code, the top-level packages it loaded, stdout and stderr."""

    code: int
    packages: frozenset[str]
    stdout: str
    stderr: str


def command_loads(*args: str, env: Mapping[str, str] | None = None, timeout: float = 180) -> Loaded:
    """`revwatch ARGS` in a child interpreter; what it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    *output, last = done.stdout.splitlines() or [""]
    try:
        report = json.loads(last)
    except ValueError:
        raise AssertionError(f"no report from the child: {done.stdout}{done.stderr}") from None
    return Loaded(report["code"], frozenset(report["loaded"]), "\n".join(output), done.stderr)
