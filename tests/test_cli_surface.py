"""The operator's surface on the real command (a subprocess of `.venv/bin/revwatch`): every
command's help, what goes to stdout and stderr, the log lines' times and names, `status` for
people and for monitoring, and the one-line errors that say what to do next."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from jobs.core.settings import utcnow
from jobs.demo import dataset as demo
from jobs.demo.mailsink import MailSink
from jobs.face import cli
from jobs.face.parser import build_parser
from tests.support.ca_schemas import run_script, scratch_database
from tests.support.cli import REVWATCH, json_lines, log_lines, revwatch
from tests.support.smtp_server import SlowHandler

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.COMMANDS)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo CA database (SQLite) whose window ends now."""
    path = tmp_path_factory.mktemp("ca") / "demo-ca.sqlite"
    demo.create_sqlite(path, utcnow())
    return path


@pytest.fixture(scope="module")
def demo_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`revwatch demo` run once, as a user would: its directory (the ledger holds one run)."""
    out = tmp_path_factory.mktemp("night") / "demo-out"
    done = revwatch("demo", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


def _subparser(command: str) -> argparse.ArgumentParser:
    subparser: argparse.ArgumentParser
    (subparser,) = [
        action.choices[command]
        for action in build_parser()._actions
        if isinstance(action.choices, dict) and command in action.choices
    ]
    return subparser


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_one_line_description_defaults_and_an_example(command: str) -> None:
    done = revwatch(command, "--help")
    assert done.returncode == 0 and done.stderr == ""
    _usage, description, *_ = done.stdout.split("\n\n")
    assert "\n" not in description and 20 < len(description) <= 80, description
    assert done.stdout.rstrip().splitlines()[-2:][0] == "example:"
    assert done.stdout.rstrip().splitlines()[-1].startswith(f"  revwatch {command}")
    for action in _subparser(command)._actions:
        if action.option_strings and action.nargs != 0 and "--help" not in action.option_strings:
            assert "default" in (action.help or "") or action.required, action.option_strings


def test_every_flag_of_every_command_is_in_the_readme() -> None:
    section = README[README.index("## Commands\n") : README.index("### Historic examination")]
    for command in COMMANDS:
        for flag in _subparser(command)._option_string_actions:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in section, f"{command} {flag}"


def test_flags_that_do_not_apply_are_not_offered() -> None:
    offered = {
        command: set(revwatch(command, "--help").stdout.replace(",", " ").split())
        for command in ("backfill", "status", "demo", "resend")
    }
    assert not {"--overlap", "--metrics-file", "--no-mail", "--ignore-ledger"} & offered["backfill"]
    assert not {"--ca-db", "--profile", "--threshold", "--out"} & offered["status"]
    assert {flag for flag in offered["demo"] if flag.startswith("--")} == {"--help", "--out"}
    assert not {"--ca-db", "--since", "--no-mail"} & offered["resend"]
    refused = revwatch("backfill", "--since", "2026-01-01", "--overlap", "1d")
    assert refused.returncode == 2 and "unrecognized arguments: --overlap" in refused.stderr


def test_help_answers_before_the_job_libraries_load() -> None:
    script = (
        "import sys\nfrom jobs.face.cli import main\n"
        "for argv in (['--help'], ['run', '--help'], ['status', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = ('pandas', 'sqlalchemy', 'jinja2', 'cryptography', 'apscheduler')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stderr.strip() == "[]"
    started = time.monotonic()
    assert revwatch("--help").returncode == 0
    print(f"revwatch --help: {time.monotonic() - started:.3f} s")


# --- stdout, stderr and the log lines -----------------------------------------------------------


def test_run_prints_nothing_and_logs_one_summary_line_with_an_iso_utc_time(
    ca: Path, tmp_path: Path
) -> None:
    args = ["run", "--ca-db", str(ca), "--no-mail", "--state-db", str(tmp_path / "state.sqlite")]
    text = revwatch(*args, "--out", str(tmp_path / "out"))
    assert text.returncode == 0, text.stderr
    assert text.stdout == ""
    lines = log_lines(text.stderr)
    # One line per run: its summary. Another stage's counts belong in it, or at DEBUG (-v).
    assert [line["logger"] for line in lines] == ["revwatch.run"], text.stderr
    (line,) = lines
    assert "found=" in line["message"]
    assert datetime.fromisoformat(line["time"]).utcoffset() == UTC.utcoffset(None)
    assert text.stderr.count("found=") == 1  # the summary once, not echoed on stdout too
    as_json = revwatch(*args, "--log-format", "json")
    assert as_json.returncode == 0 and as_json.stdout == ""
    (record,) = json_lines(as_json.stderr)
    assert record["logger"] == "revwatch.run" and record["event"] == "run"
    assert datetime.fromisoformat(record["time"]).tzinfo is not None
    assert record["time"].endswith("+00:00")


def test_the_demo_prints_where_things_went_and_logs_its_summary_once(demo_night: Path) -> None:
    again = revwatch("demo", "--out", str(demo_night))  # a re-run starts from a clean slate
    assert again.returncode == 0, again.stderr
    assert "report: " in again.stdout and "found=" not in again.stdout
    assert f"{REVWATCH} status --state-db " in again.stdout
    loggers = [line["logger"] for line in log_lines(again.stderr)]
    assert all(name.startswith("revwatch.") for name in loggers)  # no aiosmtpd `mail.log`
    assert loggers.count("revwatch.run") == 1
    assert again.stderr.count("found=") == 1


def test_the_daemon_logs_only_revwatch_lines(ca: Path, tmp_path: Path) -> None:
    handler = SlowHandler(delay=0.5)
    with MailSink(handler=handler) as sink:
        env = {
            "REVWATCH_CA_DB": str(ca), "REVWATCH_STATE_DB": str(tmp_path / "state.sqlite"),
            "REVWATCH_SMTP_HOST": sink.host, "REVWATCH_SMTP_PORT": str(sink.port),
            "REVWATCH_SMTP_SECURITY": "none", "REVWATCH_MAIL_FROM": "revwatch@ca.example",
            "REVWATCH_MAIL_TO": "compliance@ca.example",
        }  # fmt: skip
        daemon = subprocess.Popen(
            [str(REVWATCH), "schedule", "--run-now", "--cron", "0 0 1 1 *"],
            env={**os.environ, **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while not sink.messages and time.monotonic() < deadline:
                assert daemon.poll() is None, daemon.communicate()
                time.sleep(0.1)
            time.sleep(1)  # the run settles and logs after the server's reply
            daemon.send_signal(signal.SIGTERM)
            out, err = daemon.communicate(timeout=60)
        finally:
            if daemon.poll() is None:
                daemon.kill()
    assert daemon.returncode == 0, err
    assert out == ""
    lines = log_lines(err)
    assert lines and all(line["logger"].startswith("revwatch.") for line in lines), err
    assert "apscheduler" not in err.lower()
    assert [line["logger"] for line in lines].count("revwatch.run") == 1


def test_every_logger_is_named_in_the_revwatch_namespace() -> None:
    jobs = Path(__file__).parent.parent / "jobs"
    for path in sorted(jobs.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert "getLogger(__name__)" not in source, path
        module = "revwatch." + ".".join(path.relative_to(jobs).with_suffix("").parts)
        for name in re.findall(r'getLogger\("([^"]+)"\)', source):
            assert name == module or (name.count(".") == 1 and name.startswith("revwatch.")), name


# --- status -------------------------------------------------------------------------------------


def test_status_on_a_missing_ledger_creates_nothing_and_is_overdue(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    default = revwatch("status", env={"HOME": str(home)})
    assert default.returncode == 0, default.stderr
    assert "no ledger there yet" in default.stdout
    assert list(home.iterdir()) == []  # not even ~/.local/state/revwatch/
    missing = tmp_path / "not" / "here" / "state.sqlite"
    watched = revwatch("status", "--state-db", str(missing), "--max-age", "26h")
    assert watched.returncode == cli.EXIT_OVERDUE
    assert watched.stderr.startswith("revwatch: overdue:") and "none" in watched.stderr
    assert not (tmp_path / "not").exists()


def test_status_takes_a_plain_path_and_prints_run_ids_windows_and_message_ids(
    demo_night: Path,
) -> None:
    ledger = demo_night / "demo-state.sqlite"
    before = hashlib.sha256(ledger.read_bytes()).hexdigest()
    document = revwatch("status", "--state-db", str(ledger), "--json")
    assert document.returncode == 0, document.stderr
    found = json.loads(document.stdout)
    (run,) = found["runs"]
    assert found["exists"] and run["outcome"] == "success" and run["message_id"]
    assert found["last_success"] == run["finished_at"]
    text = revwatch("status", "--state-db", str(ledger))
    assert text.returncode == 0 and text.stderr == ""
    for value in (run["run_id"], run["window_since"], run["window_until"], run["message_id"]):
        assert value in text.stdout
    assert f"sqlite:///{ledger}" in text.stdout
    assert hashlib.sha256(ledger.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in demo_night.iterdir() if "state" in p.name) == [
        "demo-state.sqlite", "demo-state.sqlite.lock",
    ]  # fmt: skip


def test_status_max_age_exit_code_says_whether_the_last_success_is_older(
    demo_night: Path,
) -> None:
    ledger = str(demo_night / "demo-state.sqlite")
    fresh = revwatch("status", "--state-db", ledger, "--max-age", "26h", "--json")
    assert fresh.returncode == 0 and json.loads(fresh.stdout)["overdue"] is False
    time.sleep(1.1)
    stale = revwatch("status", "--state-db", ledger, "--max-age", "1s")
    assert stale.returncode == cli.EXIT_OVERDUE
    assert stale.stderr.startswith("revwatch: overdue: no successful run within --max-age 1s")
    assert len(stale.stderr.splitlines()) == 1
    bad = revwatch("status", "--state-db", ledger, "--max-age", "soon")
    assert bad.returncode == 2 and "bad duration" in bad.stderr
    assert f"| {cli.EXIT_OVERDUE} | `status --max-age`" in README


def test_status_reads_no_password_file(demo_night: Path, tmp_path: Path) -> None:
    config = tmp_path / "revwatch.toml"
    config.write_text(
        'ca_db = "postgresql://revwatch@ca-db.internal/ejbca"\n'
        'ca_db_password_file = "/nonexistent/ca-db-password"\n'
        'smtp_password_file = "/nonexistent/smtp-password"\n'
        f'state_db = "{demo_night / "demo-state.sqlite"}"\n'
    )
    done = revwatch("status", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "success" in done.stdout


# --- one-line errors that say what to do --------------------------------------------------------


@pytest.fixture
def wrong_schemas(
    pg_server_url: URL, mariadb_server_url: URL
) -> Iterator[list[tuple[URL, str, str]]]:
    """(database, profile given, profile suggested): each database in another profile's schema."""
    plan = [
        (pg_server_url, "ejbca.postgresql.sql", "generic", "--profile ejbca"),
        (mariadb_server_url, "boulder.mysql.sql", "generic", "--profile boulder"),
        (mariadb_server_url, "generic.mysql.sql", "ejbca", "--profile generic"),
        (mariadb_server_url, "ejbca.mysql.sql", "boulder", "--profile ejbca"),
    ]
    made: list[tuple[URL, str, str]] = []
    with contextlib.ExitStack() as stack:
        for server, script, given, suggested in plan:
            url = stack.enter_context(scratch_database(server, "profile"))
            engine = create_engine(url)
            run_script(engine, script)
            engine.dispose()
            made.append((url, given, suggested))
        yield made


def test_a_wrong_profile_names_the_profile_used_and_suggests_the_others(
    wrong_schemas: list[tuple[URL, str, str]],
) -> None:
    for url, given, suggested in wrong_schemas:
        done = revwatch(
            "run", "--ca-db", url.render_as_string(hide_password=False), "--profile", given,
            "--no-mail", "--ignore-ledger",
        )  # fmt: skip
        assert done.returncode == 3, done.stderr
        (error,) = [line for line in done.stderr.splitlines() if "error" in line]
        assert f"read with profile '{given}'" in error and suggested in error, error
        assert "Traceback" not in done.stderr


def test_mail_hints_name_only_flags_the_command_has(ca: Path, tmp_path: Path) -> None:
    resend = revwatch("resend", "20261127T021500Z-1a2b3c", "--state-db", str(tmp_path / "s"))
    assert resend.returncode == 2 and "mail is not configured" in resend.stderr
    assert "--no-mail" not in resend.stderr
    backfill = revwatch(
        "backfill", "--ca-db", str(ca), "--since", "2026-11-01", "--out", str(tmp_path / "b"),
        "--mail",
    )  # fmt: skip
    assert backfill.returncode == 2 and "or leave out --mail" in backfill.stderr


def test_demo_out_that_is_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    existing = tmp_path / "report.txt"
    existing.write_text("not a directory")
    done = revwatch("demo", "--out", str(existing))
    assert done.returncode == 2
    assert done.stderr.startswith("revwatch: error:") and len(done.stderr.splitlines()) == 1
    assert existing.read_text() == "not a directory"
