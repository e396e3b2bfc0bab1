"""Issue #15: what a command does not load. `--help`, `status` on a fresh state directory and a
night with nothing to do never import pandas or numpy (pandas loads only for a profile that hands
its rows over as a frame); a night with rows still finds its cases. Each command runs in a child
interpreter (`tests.support.imports`) on a real SQLite CA.

What a module imports only in the function that needs it is held here too: a night with nothing
to do never loads jobs.enrich's libraries (rapidfuzz, pkilint's process pool: `multiprocessing`)
nor aiosmtplib (a dry run mails nothing); `--help` and `status` never load Jinja2. An empty
night's templates are compiled once and then read compiled (`jobs.report.compiled`)."""

from __future__ import annotations

import re
import stat
import sys
from datetime import timedelta
from pathlib import Path

import jinja2
import pytest

from jobs.core.settings import utcnow
from jobs.demo import dataset as demo
from jobs.report import filters
from jobs.report.document import build_context
from tests.support.imports import command_loads
from tests.support.nights import sqlite_demo_ca

NOW = utcnow().replace(microsecond=0)
HEAVY = {"pandas", "numpy"}
# Imported inside the functions that need them (see the module docstring).
RENDERING = {"jinja2", "markupsafe"}
NOT_ON_AN_EMPTY_NIGHT = {"rapidfuzz", "multiprocessing", "pkilint", "aiosmtplib"}


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
    assert (
        not (RENDERING | NOT_ON_AN_EMPTY_NIGHT | {"sqlalchemy", "cryptography"}) & loaded.packages
    )


def test_status_on_a_fresh_state_directory_loads_neither(tmp_path: Path) -> None:
    loaded = command_loads("status", "--state-db", str(tmp_path / "state" / "ledger.sqlite"))
    assert loaded.code == 0, loaded.stderr
    assert not HEAVY & loaded.packages
    assert not (RENDERING | NOT_ON_AN_EMPTY_NIGHT) & loaded.packages
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
    assert not NOT_ON_AN_EMPTY_NIGHT & loaded.packages
    assert "jinja2" in loaded.packages  # the empty report is still rendered


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


def test_compiled_templates_are_kept_with_the_bytecode_and_render_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "pycache"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    context = build_context(
        [], since=NOW - timedelta(days=1), until=NOW, threshold_seconds=7 * 86400, now=NOW,
        source="ca", run_id="run-1",
    )  # fmt: skip

    def render() -> tuple[str, str]:
        filters._environment.cache_clear()  # as a new process would
        env = filters.environment()
        html = env.get_template("report.html").render(report=context)
        return html, env.get_template("report.txt").render(report=context)

    try:
        compiled = render()
        assert not (tmp_path / "pycache").exists()  # Python writes no bytecode: nor do we
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        assert render() == compiled
        kept = [path for path in (tmp_path / "pycache").rglob("*") if path.is_file()]
        assert sorted(path.parent.name for path in kept) == ["report", "report"]
        assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in kept)
        # The next time nothing is compiled: the kept code renders the same text.
        with monkeypatch.context() as patched:
            patched.setattr(jinja2.Environment, "compile", _no_compiling)
            assert render() == compiled
        # A kept file that is not what was written is a miss: compiled again, the same.
        (kept[0]).write_bytes(b"not what was kept")
        assert render() == compiled
    finally:
        filters._environment.cache_clear()


def _no_compiling(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("a template was compiled again")
