"""Files that hold cases, written whole or not at all, and readable by the job's user alone.

Owns the one way the job writes such a file (the `--out` outputs, the outbox, the metrics file,
the backfill's evidence) and how it creates the SQLite ledger and its lock: the content goes to a
temporary name in the target's own directory, is flushed and fsync'd, then renamed over the
target, so a reader (or a crash, or a full disk) sees the old file or the new one, never half of
one; on failure the temporary file is removed. Files are created 0600 and directories 0700 unless
the caller needs otherwise (node_exporter reads the metrics file as another user).
It raises OSError and leaves the wording to its callers, each of which has its own error class.
It must not decide what a file holds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
# Errors that mean "this file may be read but not written": a 0444 file, a read-only mount.
READ_ONLY_ERRORS = (errno.EACCES, errno.EPERM, errno.EROFS)


def ensure_dir(path: Path, mode: int = PRIVATE_DIR) -> None:
    """Create `path` (and its parents) when missing; the directory itself gets `mode`."""
    if not path.is_dir():
        path.mkdir(mode=mode, parents=True, exist_ok=True)


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory is; some filesystems refuse, which is fine.
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@contextmanager
def _temporary(target: Path, mode: int) -> Iterator[tuple[BinaryIO, Path]]:
    """A stream on a new temporary file beside `target`, fsync'd when the block ends; removed if
    the block fails."""
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
            yield stream, temporary
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _stage(target: Path, content: bytes, mode: int) -> Path:
    """`content` in a fsync'd temporary file beside `target`; its path."""
    with _temporary(target, mode) as (stream, temporary):
        stream.write(content)
    return temporary


@contextmanager
def replacing(
    path: Path, *, mode: int = PRIVATE_FILE, dir_mode: int = PRIVATE_DIR
) -> Iterator[BinaryIO]:
    """A binary stream whose content replaces `path` once the block ends without an error (for
    content too large to hold in memory); nothing changes at `path` if it fails."""
    ensure_dir(path.parent, dir_mode)
    with _temporary(path, mode) as (stream, temporary):
        yield stream
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def write_together(
    directory: Path,
    contents: Mapping[str, str | bytes],
    *,
    mode: int = PRIVATE_FILE,
    dir_mode: int = PRIVATE_DIR,
) -> dict[str, Path]:
    """Write each named content into `directory`, all of them or none: every file is written and
    fsync'd under a temporary name before the first rename. The paths written, by name."""
    ensure_dir(directory, dir_mode)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, content in contents.items():
            target = directory / name
            data = content.encode("utf-8") if isinstance(content, str) else content
            staged.append((_stage(target, data, mode), target))
        for temporary, target in staged:
            os.replace(temporary, target)
    except BaseException:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        raise
    _sync_directory(directory)
    return {name: directory / name for name in contents}


def write_atomic(
    path: Path, content: str | bytes, *, mode: int = PRIVATE_FILE, dir_mode: int = PRIVATE_DIR
) -> None:
    """Replace `path` with `content` in one rename (see the module docstring)."""
    write_together(path.parent, {path.name: content}, mode=mode, dir_mode=dir_mode)


def create_private(path: Path) -> None:
    """Create `path` empty and 0600 if it does not exist yet (a SQLite ledger, before SQLite
    creates it with the process's umask); an existing file is left as it is."""
    ensure_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def open_lock_file(path: Path) -> int:
    """A descriptor on the lock file `path` (created 0600), for `flock`.

    Opened read-only where it cannot be opened for writing (a 0444 file, a read-only mount):
    `flock` works on either, and the ledger's own write check then names the real problem."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except OSError as exc:
        if exc.errno not in READ_ONLY_ERRORS:
            raise
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise exc from None  # it cannot be created: say why, not that it is missing
