"""The run's files on the host: the --out directory and the complete CSV kept beside the outbox.

Owns writing contents the report stage prepared (`jobs.report.outputs.files`) to disk. A failure
is one line naming the path. It must not decide what the files hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from jobs.core.errors import ConfigError


def keep(path: Path, content: bytes) -> None:
    """Keep `content` at `path` (the complete CSV of a mail that carries a trimmed one)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise ConfigError(f"cannot keep the complete CSV at {path}: {exc.strerror}") from None


def write(out: Path, contents: Mapping[str, str | bytes]) -> dict[str, Path]:
    """Write each named content into `out`; the paths written, by name."""
    written = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in contents.items():
            path = out / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            written[name] = path
    except OSError as exc:
        raise ConfigError(f"cannot write the outputs to {out}: {exc.strerror}") from None
    return written
