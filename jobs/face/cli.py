"""The `revwatch` command: `run`, `schedule`, `backfill`, `demo`, `status`, `resend`.

Owns argument parsing, logging set-up and the mapping of errors to exit codes (the only module that
does either). Every command is a thin layer over `jobs.pipeline.nightly`, `jobs.face.schedule` and
`jobs.demo.dataset`; `main(argv) -> int` is what tests call.

Exit codes: 0 success; 1 unexpected error; 2 configuration or usage error; 3 CA database error;
4 delivery failed; 5 another run holds the lock; 6 state database error.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobs import __version__
from jobs.core.errors import RevwatchError
from jobs.core.settings import Settings, load_settings, redact_url, utcnow
from jobs.pipeline.nightly import run_once
from jobs.state.runlog import RunOutcome

log = logging.getLogger("revwatch")


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

    resend = commands.add_parser(
        "resend", help="send a run's stored message again (same Message-ID)"
    )
    resend.add_argument("run_id", help="the run whose message to send (see `revwatch status`)")
    resend.add_argument("--config", type=Path, help="TOML settings file")
    resend.add_argument("--state-db", help="the job's ledger (locates the default outbox)")
    resend.add_argument("--outbox", type=Path, help="the outbox directory")

    status = commands.add_parser("status", help="print the latest runs from the ledger")
    status.add_argument("--config", type=Path, help="TOML settings file")
    status.add_argument("--state-db", help="the job's ledger")
    status.add_argument("--limit", type=int, default=10, help="how many runs (10)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    names = (
        "ca_db", "profile", "state_db", "threshold", "replacement_window", "since", "until",
        "out", "no_mail", "overlap", "metrics_file", "log_format", "outbox",
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
    assert settings.since is not None
    now = utcnow()
    chunk = None if args.chunk == "month" else parse_duration(args.chunk)
    result = backfill.run_backfill(
        settings, since=settings.since, until=settings.until or now, out=args.out,
        chunk=chunk, now=now,
    )  # fmt: skip
    print(f"backfill: {result.cases} early revocations in {result.chunks} chunks")
    print(f"cases:    {result.csv}")
    print(f"summary:  {result.summary_html} (and {result.summary_json.name})")
    if args.mark_reported:
        marked = backfill.mark_reported(settings, result, now)
        print(f"ledger:   {marked} case(s) recorded as reported")
    if args.mail:
        message_id = backfill.mail_summary(settings, result, now)
        print(f"mail:     sent {message_id}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from jobs.demo import dataset as demo
    from jobs.demo.mailsink import MailSink

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    ca_path = out / "demo-ca.sqlite"
    state_path = out / "demo-state.sqlite"
    for stale in (state_path, Path(f"{state_path}.lock")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(out / "mailbox", ignore_errors=True)
    data = demo.create_sqlite(ca_path, now, overwrite=True)
    print(
        f"demo CA database: {ca_path} ({len(data.issuance)} certificates, "
        f"{len(data.revocation)} revocations)"
    )
    with MailSink(directory=out / "mailbox") as sink:
        settings = Settings(
            ca_db=f"sqlite:///{ca_path.resolve()}",
            state_db=f"sqlite:///{state_path.resolve()}",
            out=out,
            smtp_host=sink.host,
            smtp_port=sink.port,
            smtp_security="none",
            mail_from="revwatch@ca.example",
            mail_to=("compliance@ca.example",),
        )
        outcome = run_once(settings, now)
        received = len(sink.messages)
    print(summary_line(outcome))
    print(
        f"mail: {received} message(s) delivered to the SMTP sink on {sink.host}:{sink.port}, "
        f"saved in {out / 'mailbox'}"
    )
    print(f"report: {(out / 'report.html').resolve()}")
    print(f"try:    revwatch run --ca-db sqlite:///{ca_path.resolve()} --no-mail --out {out}")
    return 0


def _resend(args: argparse.Namespace) -> int:
    from jobs.deliver import outbox
    from jobs.deliver import smtp as delivery
    from jobs.pipeline.nightly import smtp_settings

    settings = load_settings(
        {"state_db": args.state_db, "outbox": args.outbox}, config_file=args.config
    )
    message = outbox.load(settings.outbox_dir(), args.run_id)
    result = delivery.send(message, smtp_settings(settings))
    for recipient, reply in result.refused.items():
        log.warning("recipient %s refused the report: %s", recipient, reply)
    print(f"resent {message['Message-ID']} of run {args.run_id} to {', '.join(result.accepted)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from jobs.state.ledger import Ledger

    settings = load_settings({"state_db": args.state_db}, config_file=args.config)
    url = settings.state_url()
    ledger = Ledger.open(url)
    try:
        runs = ledger.recent_runs(args.limit)
    finally:
        ledger.close()
    print(f"ledger: {redact_url(url)}")
    if not runs:
        print("no runs yet")
    for run in runs:
        print(
            f"{run['started_at']}  {run['outcome']:<7}  [{run['window_since']}, "
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
