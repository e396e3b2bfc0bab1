"""The run's files on the host: the --out directory and the complete CSV kept beside the outbox.

Owns writing contents the report stage prepared (`jobs.report.outputs.files`) to disk, through
`jobs.core.atomic`: the outputs of a run replace the previous ones all together or not at all (a
full disk leaves neither a truncated report.html nor stray temporary files), and are readable by
the job's user alone. A failure is an OutputError naming the path. It must not decide what the
files hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jobs.core.atomic import write_atomic, write_together
from jobs.core.errors import OutputError


def keep(path: Path, content: bytes) -> None:
    """Keep `content` at `path` (the complete CSV of a mail that carries a trimmed one)."""
    try:
        write_atomic(path, content)
    except OSError as exc:
        raise OutputError(f"cannot keep the complete CSV at {path}: {exc.strerror}") from None


def write(out: Path, contents: Mapping[str, str | bytes]) -> dict[str, Path]:
    """Write each named content into `out`; the paths written, by name."""
    try:
        return write_together(out, contents)
    except OSError as exc:
        where = exc.filename or out
        raise OutputError(f"cannot write the outputs to {out} ({where}): {exc.strerror}") from None
