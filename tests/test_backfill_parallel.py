"""`revwatch backfill --workers N`: chunks examined in worker processes give the very bytes of the
serial backfill, a backfill killed (or a worker killed, or Ctrl-C, or SIGTERM) resumes to the same
CSV, no worker outlives the command, and a worker's error is the serial path's error.

All on the real command (`.venv/bin/revwatch` as a subprocess) against a real PostgreSQL history
of 60 days with cases every day (tests/support/backfill_history.py)."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from jobs.core import errors
from jobs.pipeline import backfill, backfill_pool
from tests.support.backfill_history import BAD_SERIAL, HISTORY_START, break_day, load_history
from tests.support.cli import REVWATCH, log_lines, revwatch
from tests.support.processes import children, descendants, wait_gone
from tests.support.servers import PG_ADMIN, throwaway_database

DAYS, PER_DAY = 60, 6
UNTIL = HISTORY_START + timedelta(days=DAYS)
BROKEN_DAY = HISTORY_START + timedelta(days=30)


@pytest.fixture(scope="module")
def history() -> Iterator[str]:
    """The CA database's URL, as an operator would give it to --ca-db."""
    for url in throwaway_database(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432"):
        load_history(url, DAYS, PER_DAY)
        yield url.render_as_string(hide_password=False)


def _args(url: str, out: Path, workers: int, chunk: str = "1d") -> list[str]:
    return [
        "backfill", "--ca-db", url, "--since", HISTORY_START.isoformat(),
        "--until", UNTIL.isoformat(), "--chunk", chunk, "--out", str(out),
        "--workers", str(workers),
    ]  # fmt: skip


def _summary(out: Path) -> dict[str, object]:
    document = json.loads((out / "backfill-summary.json").read_text())
    del document["generated_at"]
    return dict(document)


def _checkpoint(out: Path) -> dict[str, object] | None:
    try:
        return dict(json.loads((out / backfill.CHECKPOINT).read_text()))
    except (OSError, ValueError):  # not there yet, or being replaced
        return None


@pytest.fixture(scope="module")
def reference(history: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted parallel backfill of the whole history: the evidence to compare with."""
    out = tmp_path_factory.mktemp("reference")
    done = revwatch(*_args(history, out, workers=2))
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in log_lines(done.stderr) if line["logger"] == "revwatch.backfill"]
    assert "workers=2" in line["message"] and f"cases={DAYS * PER_DAY}" in line["message"]
    return out


def test_parallel_and_serial_backfills_write_the_same_bytes_and_logs(
    history: str, reference: Path, tmp_path: Path
) -> None:
    serial = revwatch(*_args(history, tmp_path, workers=1))
    assert serial.returncode == 0, serial.stderr
    csv_bytes = (tmp_path / backfill.CSV_NAME).read_bytes()
    assert csv_bytes == (reference / backfill.CSV_NAME).read_bytes()
    assert csv_bytes.count(b"\r\n") == DAYS * PER_DAY + 1  # every case, and the header
    assert _summary(tmp_path) == _summary(reference)
    assert _summary(tmp_path)["cases"] == DAYS * PER_DAY
    # The workers' warnings reach the log, in the order the serial backfill logs them.
    parallel = revwatch(*_args(history, tmp_path / "again", workers=2))
    assert parallel.returncode == 0, parallel.stderr

    def warnings(stderr: str) -> list[str]:
        return [line["message"] for line in log_lines(stderr) if line["level"] == "WARNING"]

    assert warnings(parallel.stderr) == warnings(serial.stderr)
    assert any(BAD_SERIAL in message for message in warnings(serial.stderr))


def _started(url: str, out: Path, workers: int) -> subprocess.Popen[str]:
    # As a terminal's foreground job: its own process group, so that it can be paused and sent a
    # terminal's Ctrl-C as a whole, and SIGINT's default action. A command started in the
    # background by a shell without job control (`cmd &`, as CI may start the tests) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt for it: Ctrl-C would be
    # ignored, rightly, by the backfill and this test would see it run to its end (exit 0).
    return subprocess.Popen(
        [str(REVWATCH), *_args(url, out, workers)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _paused_after_first_chunks(command: subprocess.Popen[str], out: Path) -> None:
    """Wait until the checkpoint names a finished chunk, then pause the whole backfill (SIGSTOP
    to its process group) mid-history: this history's 60 chunks take well under a second over two
    workers, so a signal sent to a running backfill could arrive after its end. What the test
    then sends is pending until `_go_on` lets the processes run again."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and command.poll() is None:
        saved = _checkpoint(out)
        if saved and saved["done_until"] != HISTORY_START.isoformat():
            os.killpg(command.pid, signal.SIGSTOP)
            assert command.poll() is None, "the backfill ended before it could be paused"
            saved = _checkpoint(out)
            assert saved is not None and saved["done_until"] != UNTIL.isoformat(), "it ended"
            return
        time.sleep(0.005)
    raise AssertionError(f"no chunk finished (exit {command.poll()})")


def _go_on(command: subprocess.Popen[str]) -> None:
    """Let the paused backfill's processes run again (those still alive)."""
    with contextlib.suppress(ProcessLookupError):  # none left: all ended
        os.killpg(command.pid, signal.SIGCONT)


def _resumed_to_the_reference(history: str, out: Path, reference: Path) -> None:
    again = revwatch(*_args(history, out, workers=2))
    assert again.returncode == 0, again.stderr
    assert "resumed_from=" in again.stderr
    assert (out / backfill.CSV_NAME).read_bytes() == (reference / backfill.CSV_NAME).read_bytes()
    assert _summary(out) == _summary(reference)


def test_a_killed_parallel_backfill_resumes_to_the_same_csv_and_leaves_no_worker(
    history: str, reference: Path, tmp_path: Path
) -> None:
    command = _started(history, tmp_path, workers=2)
    _paused_after_first_chunks(command, tmp_path)
    workers = descendants(command.pid)
    command.kill()  # SIGKILL: no clean-up of any kind in the backfill
    _go_on(command)
    command.communicate(timeout=60)  # its pipes close once no process of it is left
    saved = _checkpoint(tmp_path)
    assert saved is not None and saved["done_until"] != UNTIL.isoformat(), "it ended first"
    assert workers, "no worker process was seen"
    # The fork server ends with the backfill, and its workers with it.
    assert wait_gone(workers, timeout=15) == set()
    _resumed_to_the_reference(history, tmp_path, reference)


def test_a_dying_worker_is_one_clear_error_and_the_finished_chunks_are_kept(
    history: str, reference: Path, tmp_path: Path
) -> None:
    command = _started(history, tmp_path, workers=2)
    _paused_after_first_chunks(command, tmp_path)
    # The backfill's children are the fork server and the resource tracker; the workers are
    # the fork server's children.
    workers = descendants(command.pid) - children(command.pid)
    assert workers, "no worker process was seen"
    os.kill(min(workers), signal.SIGKILL)  # as the kernel's OOM killer would
    _go_on(command)
    _stdout, stderr = command.communicate(timeout=60)
    assert command.returncode == errors.RevwatchError.exit_code, stderr
    assert "Traceback" not in stderr
    (line,) = [line for line in stderr.splitlines() if line.startswith("revwatch: error:")]
    assert "a backfill worker process died while examining" in line
    assert "run the same command again to resume" in line
    assert wait_gone(workers, timeout=15) == set()
    saved = _checkpoint(tmp_path)
    assert saved is not None and saved["done_until"] != UNTIL.isoformat()
    _resumed_to_the_reference(history, tmp_path, reference)


@pytest.mark.parametrize("stop", ["SIGTERM", "Ctrl-C"])
def test_an_interrupted_parallel_backfill_stops_its_workers_and_resumes(
    history: str, reference: Path, tmp_path: Path, stop: str
) -> None:
    command = _started(history, tmp_path, workers=2)
    _paused_after_first_chunks(command, tmp_path)
    workers = descendants(command.pid)
    assert workers - children(command.pid), "no worker process was seen"
    if stop == "SIGTERM":
        command.send_signal(signal.SIGTERM)  # systemd's stop, or kill PID
    else:
        os.killpg(command.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    _go_on(command)
    _stdout, stderr = command.communicate(timeout=60)
    assert command.returncode == 130, stderr
    assert stderr.splitlines()[-1] == "revwatch: interrupted"
    assert "Traceback" not in stderr
    assert wait_gone(workers, timeout=15) == set()
    saved = _checkpoint(tmp_path)
    assert saved is not None and saved["done_until"] != UNTIL.isoformat()
    _resumed_to_the_reference(history, tmp_path, reference)


@pytest.fixture(scope="module")
def broken_history() -> Iterator[str]:
    """The same history, whose records of BROKEN_DAY cannot be read (an error inside PostgreSQL)."""
    for url in throwaway_database(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432"):
        load_history(url, DAYS, PER_DAY)
        break_day(url, BROKEN_DAY)
        yield url.render_as_string(hide_password=False)


def test_a_workers_error_is_the_serial_error_with_the_same_checkpoint(
    broken_history: str, tmp_path: Path
) -> None:
    outcomes = {}
    for workers in (1, 2):
        out = tmp_path / f"workers-{workers}"
        done = revwatch(*_args(broken_history, out, workers, chunk="3d"))
        errors_said = [line for line in done.stderr.splitlines() if line.startswith("revwatch:")]
        outcomes[workers] = (
            done.returncode,
            errors_said,
            _checkpoint(out),
            (out / backfill.CSV_NAME).read_bytes(),
        )
        assert "Traceback" not in done.stderr
    serial, parallel = outcomes[1], outcomes[2]
    assert serial[0] == errors.SourceError.exit_code
    (line,) = serial[1]
    assert "could not read block of revocation record" in line and "CA database" in line
    assert parallel == serial
    checkpoint = serial[2]
    assert checkpoint is not None and checkpoint["done_until"] == BROKEN_DAY.isoformat()


def test_every_error_class_crosses_a_process_boundary_intact() -> None:
    """A worker's error reaches the parent pickled: same class, message and exit code."""
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.RevwatchError):
            copy = pickle.loads(pickle.dumps(cls("CA database x: the message")))
            assert type(copy) is cls and str(copy) == "CA database x: the message"
            assert copy.exit_code == cls.exit_code


def test_an_error_that_cannot_be_unpickled_is_relayed_with_its_message_and_exit_code() -> None:
    class Detailed(errors.SourceError):
        def __init__(self, table: str, row: int) -> None:
            super().__init__(f"table {table}: row {row} unreadable")

    relayed = backfill_pool._portable(Detailed("revocation", 7))
    copy = pickle.loads(pickle.dumps(relayed))
    assert str(copy) == "table revocation: row 7 unreadable"
    assert copy.exit_code == errors.SourceError.exit_code
    ordinary = errors.ConfigError("bad")
    assert backfill_pool._portable(ordinary) is ordinary


def test_workers_must_be_a_positive_number(history: str, tmp_path: Path) -> None:
    done = revwatch(*_args(history, tmp_path, workers=0))
    assert done.returncode == 2 and "--workers: at least 1" in done.stderr
    assert 1 <= backfill_pool.default_workers() <= backfill_pool.MAX_DEFAULT_WORKERS
