"""The `revwatch` command line: every command's flags, help, defaults and example.

Owns the argument parser only: each command has a one-line description, an example, and only
the flags that apply to it (a flag is also a setting, see the README's Configuration); every flag
that takes a value says its default. Parsing errors are one line and exit code 2. It must not
import anything heavier than argparse: `revwatch --help` answers before the job's libraries load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from jobs import __version__


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and exit code 2, as for every config error
        self.print_usage(sys.stderr)
        self.exit(2, f"revwatch: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


def _command(
    commands: Any, name: str, summary: str, description: str, example: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE",
        help="TOML settings file (default: REVWATCH_CONFIG, else none)",
    )  # fmt: skip


def _state_db(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--state-db", metavar="URL",
        help=f"{what}: sqlite:///path, a plain file path, or postgresql://… (default: "
        "revwatch-state.sqlite beside the config file, else in ~/.local/state/revwatch/)",
    )  # fmt: skip


def _logging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-format", choices=("text", "json"),
        help="the summary line (on stderr) as text or JSON (default: text)",
    )  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true", help="also log debug detail")


def _source(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--ca-db", metavar="URL",
        help="the CA database: postgresql://user@host/db, mysql://user@host/db, "
        "sqlite:///path or a plain file path (default: none; the ca_db setting)",
    )  # fmt: skip
    add(
        "--profile", metavar="NAME",
        help="how to read the CA's schema: generic, ejbca or boulder (default: generic)",
    )  # fmt: skip
    add(
        "--threshold", metavar="DURATION",
        help="flag revocations at most this long after issuance: 7d, 36h, 90m (default: 7d)",
    )  # fmt: skip
    add(
        "--replacement-window", metavar="DURATION",
        help="look for a replacement until this long after the revocation (default: 30d)",
    )  # fmt: skip


def _nightly(parser: argparse.ArgumentParser) -> None:
    """What a nightly run takes, as `run` and `schedule` both do."""
    _config(parser)
    _source(parser)
    _state_db(parser, "the job's ledger")
    add = parser.add_argument
    add(
        "--overlap", metavar="DURATION",
        help="how far before the last successful run's end a run reads again "
        "(default: the threshold)",
    )  # fmt: skip
    add(
        "--metrics-file", type=Path, metavar="FILE",
        help="write Prometheus textfile metrics here after each run (default: none)",
    )  # fmt: skip
    _logging(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="revwatch",
        description="Report certificates revoked soon after issuance to the compliance team.",
        epilog="example:\n  revwatch run --config /etc/revwatch/revwatch.toml\n\n"
        "`revwatch COMMAND --help` describes each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"revwatch {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=Parser, metavar="COMMAND"
    )

    run = _command(
        commands, "run", "the nightly job: detect, report, mail, remember",
        "Run the nightly job once: detect, report, mail and record new early revocations.",
        "revwatch run --config /etc/revwatch/revwatch.toml",
    )  # fmt: skip
    _nightly(run)
    add = run.add_argument
    add(
        "--since", metavar="TIME",
        help="window start, ISO 8601, UTC when it has no offset "
        "(default: the end of the last successful run, less the overlap)",
    )  # fmt: skip
    add("--until", metavar="TIME", help="window end, exclusive, ISO 8601 (default: now)")
    add(
        "--out", type=Path, metavar="DIR",
        help="also write report.html, report.txt, the CSV, report.json and message.eml here "
        "(default: none)",
    )  # fmt: skip
    add(
        "--no-mail", action="store_true", default=None,
        help="a dry run: render and write, send nothing, change no state",
    )  # fmt: skip
    add(
        "--ignore-ledger", action="store_true", default=None,
        help="with --no-mail: do not read the ledger (every case counts as new)",
    )  # fmt: skip

    schedule = _command(
        commands, "schedule", "run the job nightly as a daemon",
        "Run the nightly job as a daemon on a cron schedule, one run at a time.",
        "revwatch schedule --config /etc/revwatch/revwatch.toml --cron '15 2 * * *'",
    )  # fmt: skip
    _nightly(schedule)
    add = schedule.add_argument
    add("--cron", metavar="EXPR", help="crontab expression (default: '15 2 * * *')")
    add("--timezone", metavar="ZONE", help="IANA time zone of --cron (default: UTC)")
    add(
        "--out", type=Path, metavar="DIR",
        help="also write each run's report files here (default: none)",
    )  # fmt: skip
    add("--run-now", action="store_true", help="also run once at start")

    backfill = _command(
        commands, "backfill", "examine all history for early revocations (for auditors)",
        "Examine every revocation since --since, month by month, for auditors; resumable.",
        "revwatch backfill --config /etc/revwatch/revwatch.toml --since 2019-01-01 "
        "--out backfill-2019",
    )  # fmt: skip
    _config(backfill)
    _source(backfill)
    add = backfill.add_argument
    add("--since", required=True, metavar="TIME", help="start of history, ISO 8601 (required)")
    add(
        "--until", metavar="TIME",
        help="end, exclusive, ISO 8601 (default: the moment this backfill first started)",
    )  # fmt: skip
    add(
        "--chunk", default="month", metavar="SPAN",
        help="examine this much at a time: month, or a duration such as 30d (default: month)",
    )  # fmt: skip
    add(
        "--out", type=Path, default=Path("backfill-out"), metavar="DIR",
        help="where the CSV, the summary and the checkpoint go (default: backfill-out)",
    )  # fmt: skip
    add(
        "--workers", type=_positive, metavar="N",
        help="examine this many chunks at a time, each in its own process; 1: all in this one "
        "(default: this machine's CPUs, at most 4)",
    )  # fmt: skip
    add("--mail", action="store_true", help="mail the summary with the CSV attached")
    add(
        "--mark-reported", action="store_true",
        help="record every case found in the nightly ledger, so nightly runs never mail them",
    )  # fmt: skip
    _state_db(backfill, "with --mark-reported: the nightly ledger")
    _logging(backfill)

    demo = _command(
        commands, "demo", "build a demo CA database and run the job against it",
        "Build a demo CA database, run the real job on it, mail an SMTP sink on loopback.",
        "revwatch demo --out demo-out",
    )  # fmt: skip
    demo.add_argument(
        "--out", type=Path, default=Path("demo-out"), metavar="DIR",
        help="where the demo's database, ledger, mail and report go (default: demo-out)",
    )  # fmt: skip

    resend = _command(
        commands, "resend", "send a run's stored message again (same Message-ID)",
        "Send a run's stored message again, same Message-ID, and record its cases.",
        "revwatch resend 20261127T021500Z-1a2b3c --config /etc/revwatch/revwatch.toml",
    )  # fmt: skip
    resend.add_argument("run_id", metavar="RUN", help="the run ID (see `revwatch status`)")
    _config(resend)
    _state_db(resend, "the job's ledger (it also locates the default outbox)")
    resend.add_argument(
        "--outbox", type=Path, metavar="DIR",
        help="the outbox directory (default: outbox/ beside a SQLite ledger)",
    )  # fmt: skip
    resend.add_argument(
        "--force", action="store_true", help="send it even if its cases are recorded as sent"
    )
    _logging(resend)

    status = _command(
        commands, "status", "print the latest runs from the ledger (read-only)",
        "Print the ledger's latest runs and last success, read-only (exit 8: overdue).",
        "revwatch status --config /etc/revwatch/revwatch.toml --max-age 26h",
    )  # fmt: skip
    _config(status)
    _state_db(status, "the job's ledger")
    status.add_argument(
        "--limit", type=_positive, default=10, metavar="N", help="how many runs (default: 10)"
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.add_argument(
        "--max-age", metavar="DURATION",
        help="exit 8 when the last successful run finished longer ago than this, or never, "
        "e.g. 26h (default: none, exit 0)",
    )  # fmt: skip
    return parser
