"""Faults of the host that the job's own files meet, produced for real: a ledger that cannot be
written, a disk that fills up mid-file, a PostgreSQL ledger turned read-only.

Owns `frozen` (paths the job may read but not write: mode 0444 for an ordinary user, the immutable
attribute for root, whom file modes do not stop), `command` (the job as a subprocess, optionally
under `RLIMIT_FSIZE`: a write past the limit fails with EFBIG, as one past a full disk fails with
ENOSPC, mid-file) and `read_only_database`. It must not mock the job's code.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from tests.support.servers import PG_ADMIN


@contextmanager
def frozen(*paths: Path) -> Iterator[None]:
    """`paths` (files or directories) read-only to the job for the block, even when it is root."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
        return
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in paths}
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


def _file_size_limit(limit: int) -> None:
    # A write past the limit then fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def command(
    args: list[str], env: Mapping[str, str], *, file_size_limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m jobs ARGS` with `env` on top of this environment; its result."""
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=(lambda: _file_size_limit(file_size_limit)) if file_size_limit else None,
    )


def set_read_only(url: URL, on: bool) -> None:
    """Make new sessions on the PostgreSQL database `url` read-only (a standby, or a DBA's
    `default_transaction_read_only`), or writable again."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    change = (
        "SET default_transaction_read_only = on" if on else "RESET default_transaction_read_only"
    )
    try:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER DATABASE {url.database} {change}"))
    finally:
        admin.dispose()


@contextmanager
def read_only_database(url: URL) -> Iterator[None]:
    """`set_read_only` for the block."""
    set_read_only(url, True)
    try:
        yield
    finally:
        set_read_only(url, False)
