"""The `revwatch` command: `run`, `schedule`, `backfill`, `demo`, `status`, `resend`.

Owns argument parsing, logging set-up and the mapping of errors to exit codes (the only module that
does either). Each command parses, calls one function (of `jobs.pipeline`, `jobs.face.schedule`,
or, lazily, `jobs.demo.run`) and prints what it returned; `main(argv) -> int` is what tests call.

Exit codes: 0 success; 1 unexpected error; 2 configuration or usage error; 3 CA database error;
4 delivery failed; 5 another run holds the lock; 6 state database error; 7 an output or outbox
file could not be written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobs import __version__
from jobs.core.errors import RevwatchError
from jobs.core.model import RunOutcome
from jobs.core.settings import Settings, load_settings, utcnow
from jobs.core.text import neutralise
from jobs.pipeline.nightly import run_once, status
from jobs.pipeline.recovery import resend


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and exit code 2, as for every config error
        self.print_usage(sys.stderr)
        self.exit(2, f"revwatch: error: {message}\n")


def _job_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--config", type=Path, help="TOML settings file (also REVWATCH_CONFIG)")
    add("--ca-db", help="CA database URL, e.g. postgresql://revwatch@db/ca or sqlite:///ca.sqlite")
    add("--profile", help="CA schema profile (default: generic)")
    add("--state-db", help="the job's ledger (default: revwatch-state.sqlite beside the config)")
    add("--threshold", help="flag revocations at most this long after issuance (default 7d)")
    add("--replacement-window", help="look for replacements until this long after revocation")
    add(
        "--overlap", help="how far before the last watermark a run looks again (default: threshold)"
    )
    add("--metrics-file", type=Path, help="write Prometheus textfile metrics here")
    add("--log-format", choices=("text", "json"), help="log lines as text (default) or JSON")
    add("-v", "--verbose", action="store_true", help="log debug detail")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="revwatch",
        description="Report certificates revoked soon after issuance to the compliance team.",
    )
    parser.add_argument("--version", action="version", version=f"revwatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="the nightly job: detect, report, mail, remember")
    _job_flags(run)
    run.add_argument("--since", help="window start, ISO 8601 (default: end of last success)")
    run.add_argument("--until", help="window end, exclusive, ISO 8601 (default: now)")
    run.add_argument("--out", type=Path, help="also write the report files to this directory")
    run.add_argument(
        "--no-mail",
        action="store_true",
        default=None,
        help="render and write; send nothing, change no state",
    )
    run.add_argument(
        "--ignore-ledger",
        action="store_true",
        default=None,
        help="with --no-mail: do not read the ledger (every case counts as new)",
    )

    schedule = commands.add_parser("schedule", help="run the job nightly as a daemon")
    _job_flags(schedule)
    schedule.add_argument("--cron", help="crontab expression (default: '15 2 * * *')")
    schedule.add_argument("--timezone", help="time zone of the cron expression (default: UTC)")
    schedule.add_argument("--out", type=Path, help="also write each run's report files here")
    schedule.add_argument("--run-now", action="store_true", help="also run once at start")

    backfill = commands.add_parser(
        "backfill", help="examine all history for early revocations (for auditors)"
    )
    _job_flags(backfill)
    backfill.add_argument("--since", required=True, help="start of history, ISO 8601")
    backfill.add_argument("--until", help="end, exclusive, ISO 8601 (default: now)")
    backfill.add_argument(
        "--chunk", default="month", help="examine this much at a time: month (default) or 30d, 7d"
    )
    backfill.add_argument(
        "--out", type=Path, default=Path("backfill-out"), help="directory (backfill-out)"
    )
    backfill.add_argument("--mail", action="store_true", help="mail the summary and the CSV")
    backfill.add_argument(
        "--mark-reported",
        action="store_true",
        help="record the cases found in the nightly ledger, so nightly runs never mail them",
    )

    demo = commands.add_parser("demo", help="build a demo CA database and run the job against it")
    demo.add_argument("--out", type=Path, default=Path("demo-out"), help="directory (demo-out)")

    resend_ = commands.add_parser(
        "resend", help="send a run's stored message again (same Message-ID)"
    )
    resend_.add_argument("run_id", help="the run whose message to send (see `revwatch status`)")
    resend_.add_argument("--config", type=Path, help="TOML settings file")
    resend_.add_argument("--state-db", help="the job's ledger (locates the default outbox)")
    resend_.add_argument("--outbox", type=Path, help="the outbox directory")
    resend_.add_argument(
        "--force", action="store_true", help="send it even if its cases are recorded as sent"
    )

    status_ = commands.add_parser("status", help="print the latest runs from the ledger")
    status_.add_argument("--config", type=Path, help="TOML settings file")
    status_.add_argument("--state-db", help="the job's ledger")
    status_.add_argument("--limit", type=int, default=10, help="how many runs (10)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    names = (
        "ca_db", "profile", "state_db", "threshold", "replacement_window", "since", "until",
        "out", "no_mail", "overlap", "metrics_file", "log_format", "outbox", "ignore_ledger",
    )  # fmt: skip
    flags = {name: getattr(args, name, None) for name in names}
    flags["schedule_cron"] = getattr(args, "cron", None)
    flags["schedule_timezone"] = getattr(args, "timezone", None)
    return load_settings(flags, config_file=getattr(args, "config", None))


def summary_line(outcome: RunOutcome) -> str:
    """A run's outcome in one line, for people at a terminal."""
    return (
        f"run {outcome.run_id} window [{outcome.since.isoformat()}, {outcome.until.isoformat()}) "
        f"found={outcome.cases_found} new={outcome.cases_new} "
        f"already_reported={outcome.already_reported} mailed={str(outcome.mailed).lower()} "
        f"message_id={outcome.message_id} record_problems={outcome.problems}"
    )


class LogFormatter(logging.Formatter):
    """Text or JSON lines; a run's summary (`extra={"summary": {...}}`) becomes its fields."""

    def __init__(self, style_name: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.json = style_name == "json"

    def formatMessage(self, record: logging.LogRecord) -> str:
        # A newline in an issuer DN or a name must not forge a log line of its own; a traceback
        # (appended after this) keeps its lines.
        return neutralise(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "summary", None) or {}
        if self.json:
            line = {
                "time": self.formatTime(record),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
                **fields,
            }
            return json.dumps(line, default=str, ensure_ascii=False)
        text = super().format(record)
        extra = " ".join(
            f"{key}={json.dumps(value) if isinstance(value, str | list | bool) else value}"
            for key, value in fields.items()
            if key not in ("event", "run_id", "outcome") and value is not None
        )
        return f"{text} {extra}" if extra else text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (tests and daemons swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _setup_logging(verbose: bool, style_name: str) -> None:
    handler = _StderrHandler()
    handler.setFormatter(LogFormatter(style_name))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True
    )
    # aiosmtpd (the demo's sink) logs every SMTP command at INFO; only its problems matter here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _setup_logging(args.verbose, settings.log_format)
    outcome = run_once(settings, utcnow())
    if "report.html" in outcome.outputs:
        print(f"report: {outcome.outputs['report.html']}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from jobs.face.schedule import serve

    settings = _settings(args)
    _setup_logging(args.verbose, settings.log_format)

    def nightly() -> None:
        run_once(settings, utcnow())

    return serve(
        nightly,
        cron=settings.schedule_cron,
        timezone=settings.schedule_timezone,
        run_now=args.run_now,
    )


def _backfill(args: argparse.Namespace) -> int:
    from jobs.core.settings import parse_duration
    from jobs.pipeline import backfill

    settings = _settings(args)
    _setup_logging(args.verbose, settings.log_format)
    chunk = None if args.chunk == "month" else parse_duration(args.chunk)
    done = backfill.examine_history(
        settings, out=args.out, chunk=chunk, now=utcnow(),
        record_cases=args.mark_reported, mail=args.mail,
    )  # fmt: skip
    result = done.result
    print(f"backfill: {result.cases} early revocations in {result.chunks} chunks")
    print(f"cases:    {result.csv}")
    print(f"summary:  {result.summary_html} (and {result.summary_json.name})")
    if done.marked is not None:
        print(f"ledger:   {done.marked} case(s) recorded as reported")
    if done.message_id is not None:
        print(f"mail:     sent {done.message_id}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from jobs.demo.run import run_demo

    demo = run_demo(args.out, utcnow())
    print(f"demo CA database: {demo.ca_path} ({demo.certificates} certificates, "
          f"{demo.revocations} revocations)")  # fmt: skip
    print(summary_line(demo.outcome))
    print(
        f"mail: {demo.received} message(s) delivered to the SMTP sink on {demo.sink}, "
        f"saved in {demo.mailbox}"
    )
    print(f"report: {demo.report}")
    ca_url = f"sqlite:///{demo.ca_path.resolve()}"
    print(f"try:    revwatch run --ca-db {ca_url} --no-mail --out {args.out}")
    return 0


def _resend(args: argparse.Namespace) -> int:
    settings = load_settings(
        {"state_db": args.state_db, "outbox": args.outbox}, config_file=args.config
    )
    message_id, recorded, accepted = resend(settings, args.run_id, utcnow(), force=args.force)
    print(f"resent {message_id} of run {args.run_id} to {', '.join(accepted)}")
    print(f"ledger: {recorded} case(s) recorded as reported")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = load_settings({"state_db": args.state_db}, config_file=args.config)
    label, runs = status(settings, args.limit)
    print(f"ledger: {label}")
    if runs is None:
        print("no ledger there yet: no run has recorded anything (nothing was created)")
        return 0
    if not runs:
        print("no runs yet")
    for run in runs:
        print(
            f"{run['started_at']}  {run['outcome']:<7}  {run['run_id']}  [{run['window_since']}, "
            f"{run['window_until']})  found={run['cases_found']} new={run['cases_new']}"
            + (f"  error: {run['error']}" if run["error"] else "")
        )
    return 0


COMMANDS = {
    "run": _run,
    "schedule": _schedule,
    "backfill": _backfill,
    "demo": _demo,
    "status": _status,
    "resend": _resend,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(getattr(args, "verbose", False), "text")
    try:
        return COMMANDS[args.command](args)
    except RevwatchError as exc:
        print(f"revwatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("revwatch: interrupted", file=sys.stderr)
        return 130
