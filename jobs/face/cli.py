"""The `revwatch` command: `run`, `schedule`, `backfill`, `demo`, `status`, `resend`.

Owns the mapping of errors to exit codes and what each command prints (the only module that does
either); the flags are `jobs.face.parser`'s, the log set-up `jobs.face.logs`'. Each command parses,
calls one function (of `jobs.pipeline`, `jobs.face.schedule`, or, lazily, `jobs.demo.run`) and
maps its result. Stdout carries only what a command exists to print (`status`, `demo`); a run's
summary is one log line on stderr. The pipeline is imported inside each command, so that `--help`
and usage errors answer before the job's libraries load. `main(argv) -> int` is what tests call.

Exit codes: 0 success; 1 unexpected error; 2 configuration or usage error; 3 CA database error;
4 delivery failed; 5 another run holds the lock; 6 state database error; 7 an output or outbox
file could not be written; 8 `status --max-age`: the last successful run is older, or none.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import sys
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.core.errors import RevwatchError
from jobs.face.logs import setup_logging
from jobs.face.parser import build_parser

if TYPE_CHECKING:
    from jobs.core.settings import Settings
    from jobs.pipeline.status import LedgerStatus

# When the process ends, every object it made is freed with it. The collector's passes over all
# of them at the interpreter's exit (it looks for cycles among the modules it tears down) cost an
# empty night about 0.05 s of its 0.35 s on an idle machine, 0.2 s under load, for nothing the
# exit does not free anyway. Frozen, they are left to it; atexit's own functions (log flushing,
# temporary files) still run.
atexit.register(gc.freeze)

# `status --max-age`: the job is overdue. Apart from the error classes' codes (1 to 7), so that a
# monitoring check tells "overdue" from "cannot read the ledger" (6) and a wrong flag (2).
EXIT_OVERDUE = 8


def _settings(args: argparse.Namespace) -> Settings:
    from jobs.core.settings import load_settings

    names = (
        "ca_db", "profile", "state_db", "threshold", "replacement_window", "since", "until",
        "out", "no_mail", "overlap", "metrics_file", "log_format", "outbox", "ignore_ledger",
    )  # fmt: skip
    flags = {name: getattr(args, name, None) for name in names}
    flags["schedule_cron"] = getattr(args, "cron", None)
    flags["schedule_timezone"] = getattr(args, "timezone", None)
    return load_settings(flags, config_file=getattr(args, "config", None))


def _run(args: argparse.Namespace) -> int:
    from jobs.core.settings import utcnow
    from jobs.pipeline.nightly import run_once

    settings = _settings(args)
    setup_logging(args.verbose, settings.log_format)
    run_once(settings, utcnow())  # its summary is the log line `revwatch.run` writes
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from jobs.core.settings import utcnow
    from jobs.face.schedule import serve
    from jobs.pipeline.nightly import run_once

    settings = _settings(args)
    setup_logging(args.verbose, settings.log_format)

    def nightly() -> None:
        run_once(settings, utcnow())

    return serve(
        nightly,
        cron=settings.schedule_cron,
        timezone=settings.schedule_timezone,
        run_now=args.run_now,
    )


def _backfill(args: argparse.Namespace) -> int:
    from jobs.core.settings import parse_duration, utcnow
    from jobs.pipeline import backfill

    settings = _settings(args)
    setup_logging(args.verbose, settings.log_format)
    chunk = None if args.chunk == "month" else parse_duration(args.chunk)
    # Its summary (where the evidence is, how much, what was recorded and mailed) is the log
    # line `revwatch.backfill` writes.
    backfill.examine_history(
        settings, out=args.out, chunk=chunk, now=utcnow(),
        record_cases=args.mark_reported, mail=args.mail, workers=args.workers,
    )  # fmt: skip
    return 0


def _command_name() -> str:
    """How this program was started, for a command line the user can paste."""
    started = Path(sys.argv[0])
    return str(started.resolve()) if started.name == "revwatch" else f"{sys.executable} -m jobs"


def _demo(args: argparse.Namespace) -> int:
    from jobs.core.settings import utcnow
    from jobs.demo.run import run_demo

    demo = run_demo(args.out, utcnow())  # the run's summary line went to stderr
    command = _command_name()
    print(f"demo CA database: {demo.ca_path} ({demo.certificates} certificates, "
          f"{demo.revocations} revocations)")  # fmt: skip
    print(
        f"mail: {demo.received} message(s) delivered to the SMTP sink on {demo.sink}, "
        f"saved in {demo.mailbox}"
    )
    print(f"report: {demo.report}")
    print(f"status: {command} status --state-db {demo.ledger}")
    print(f"try:    {command} run --ca-db {demo.ca_path.resolve()} --no-mail --out {args.out}")
    return 0


def _resend(args: argparse.Namespace) -> int:
    from jobs.core.settings import load_settings, utcnow
    from jobs.pipeline.recovery import resend

    settings = load_settings(
        {"state_db": args.state_db, "outbox": args.outbox, "log_format": args.log_format},
        config_file=args.config,
    )
    setup_logging(args.verbose, settings.log_format)
    message_id, recorded, accepted = resend(settings, args.run_id, utcnow(), force=args.force)
    summary = {
        "event": "resend", "run_id": args.run_id, "message_id": message_id,
        "recorded": recorded, "accepted": list(accepted),
    }  # fmt: skip
    logging.getLogger("revwatch.resend").info(
        "resent run %s", args.run_id, extra={"summary": summary}
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from jobs.core.settings import load_settings, parse_duration, utcnow
    from jobs.pipeline.status import ledger_status

    # Status opens neither the CA database nor the mail server: their password files are not
    # read, so a monitoring user who may not read them can still ask.
    settings = load_settings({"state_db": args.state_db}, config_file=args.config, secrets=False)
    max_age = parse_duration(args.max_age) if args.max_age else None
    now = utcnow()
    found = ledger_status(settings, args.limit)
    overdue = max_age is not None and found.older_than(max_age, now)
    if args.json:
        print(json.dumps(status_document(found, now, max_age, overdue), indent=2))
    else:
        print(status_text(found, now))
    if not overdue:
        return 0
    last = found.last_success
    last_one = (
        f"the last one finished {_ago(last, now)} ({last.isoformat()})"
        if last
        else "there has been none"
    )
    print(
        f"revwatch: overdue: no successful run within --max-age {args.max_age}; {last_one}",
        file=sys.stderr,
    )
    return EXIT_OVERDUE


def _ago(when: datetime, now: datetime) -> str:
    from jobs.core.times import format_duration

    return f"{format_duration(now - when)} ago"


def status_text(found: LedgerStatus, now: datetime) -> str:
    """`revwatch status` as text: the ledger, its last success, then one line per run."""
    lines = [f"ledger: {found.ledger}"]
    if not found.exists:
        lines.append("no ledger there yet: no run has recorded anything (nothing was created)")
        return "\n".join(lines)
    last = found.last_success
    lines.append(
        f"last success: {last.isoformat()} ({_ago(last, now)})" if last else "last success: none"
    )
    if not found.runs:
        lines.append("no runs yet")
    for run in found.runs:
        lines.append(
            f"{run['run_id']}  {run['outcome']:<8} [{run['window_since']}, {run['window_until']})"
            f"  found={run['cases_found']} new={run['cases_new']}"
            f"  message_id={run['message_id'] or '-'}"
            + (f"  error: {run['error']}" if run["error"] else "")
            + (f"  refused: {'; '.join(run['refused'].splitlines())}" if run["refused"] else "")
        )
    return "\n".join(lines)


def status_document(
    found: LedgerStatus, now: datetime, max_age: timedelta | None, overdue: bool
) -> dict[str, Any]:
    """`revwatch status --json`: the same, with the age and the verdict for monitoring."""
    age = found.age(now)
    return {
        "ledger": found.ledger,
        "exists": found.exists,
        "last_success": found.last_success.isoformat() if found.last_success else None,
        "last_success_age_seconds": round(age.total_seconds()) if age is not None else None,
        "max_age_seconds": round(max_age.total_seconds()) if max_age is not None else None,
        "overdue": overdue if max_age is not None else None,
        "runs": [{**run, "refused": (run["refused"] or "").splitlines()} for run in found.runs],
    }


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
    setup_logging(getattr(args, "verbose", False), "text")
    try:
        return COMMANDS[args.command](args)
    except RevwatchError as exc:
        print(f"revwatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("revwatch: interrupted", file=sys.stderr)
        _quiet_shutdown()
        return 130


def _quiet_shutdown() -> None:
    # After an interrupt the worker pools are torn down while their helper threads and exit
    # handlers still run; an OSError from a pipe closed under one of them (seen once in CI after
    # Ctrl-C reached a backfill's process group) is noise after "interrupted", not news.
    threading.excepthook = lambda _args: None
    sys.unraisablehook = lambda _args: None
