"""The processes a command started, as Linux's /proc shows them, for tests that stop a command
or one of its worker processes and then check that nothing was left running.

Owns reading the process tree (parent ids from /proc/<pid>/stat) and waiting for a set of
processes to be gone. It must not start or signal anything itself.
"""

from __future__ import annotations

import time
from pathlib import Path


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: read after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] == "Z" else int(fields[1])  # a zombie has already ended


def children(pid: int) -> set[int]:
    """The live processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _parent_of(int(entry.name)) == pid:
            found.add(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`: children, their children and so on."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        below = children(todo.pop())
        todo += below - found
        found |= below
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (not ended, not zombies)."""
    return {pid for pid in pids if _parent_of(pid) is not None}


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    """Wait up to `timeout` seconds for `pids` to end; those still running then."""
    deadline = time.monotonic() + timeout
    while (left := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
