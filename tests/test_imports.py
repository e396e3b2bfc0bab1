"""Issue #15: what a command does not load. `--help`, `status` on a fresh state directory and a
night with nothing to do never import pandas or numpy (pandas loads only for a profile that hands
its rows over as a frame); a night with rows still finds its cases. Each command runs in a child
interpreter (`tests.support.imports`) on a real SQLite CA."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.core.settings import utcnow
from jobs.demo import dataset as demo
from tests.support.imports import command_loads
from tests.support.nights import sqlite_demo_ca

NOW = utcnow().replace(microsecond=0)
HEAVY = {"pandas", "numpy"}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, demo.DemoData]:
    data = demo.generate(NOW)
    return sqlite_demo_ca(tmp_path_factory.mktemp("ca") / "ca.sqlite", data), data


def _found(stderr: str) -> int:
    match = re.search(r"\bfound=(\d+)", stderr)
    assert match, stderr
    return int(match.group(1))


def test_help_loads_neither_pandas_nor_numpy() -> None:
    loaded = command_loads("--help")
    assert loaded.code == 0 and "usage: revwatch" in loaded.stdout
    assert not HEAVY & loaded.packages


def test_status_on_a_fresh_state_directory_loads_neither(tmp_path: Path) -> None:
    loaded = command_loads("status", "--state-db", str(tmp_path / "state" / "ledger.sqlite"))
    assert loaded.code == 0, loaded.stderr
    assert not HEAVY & loaded.packages
    assert not (tmp_path / "state").exists()  # read-only: nothing created


def test_an_empty_night_loads_neither(ca: tuple[str, demo.DemoData], tmp_path: Path) -> None:
    url, _ = ca
    loaded = command_loads(
        "run", "--no-mail", "--ca-db", url, "--state-db", str(tmp_path / "ledger.sqlite"),
        "--since", "2001-01-01T00:00:00Z", "--until", "2001-01-02T00:00:00Z",
    )  # fmt: skip
    assert loaded.code == 0, loaded.stderr
    assert _found(loaded.stderr) == 0
    assert not HEAVY & loaded.packages


def test_a_night_with_rows_finds_its_cases(ca: tuple[str, demo.DemoData], tmp_path: Path) -> None:
    url, data = ca
    # A narrow window around one planted early revocation: its case, few issuances to watch.
    revoked = min(case["revoked_at"] for case in data.expected)
    loaded = command_loads(
        "run", "--no-mail", "--ca-db", url, "--state-db", str(tmp_path / "ledger.sqlite"),
        "--since", (revoked - timedelta(minutes=1)).isoformat(),
        "--until", (revoked + timedelta(minutes=1)).isoformat(), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert loaded.code == 0, loaded.stderr
    assert _found(loaded.stderr) >= 1
    assert (tmp_path / "out" / "report.json").is_file()
    # The generic profile hands over plain rows: its nights need no pandas either.
    assert "pandas" not in loaded.packages
