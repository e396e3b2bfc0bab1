"""`revwatch schedule`: the nightly job as its own daemon, under APScheduler 3.x.

Owns the trigger (a cron expression, UTC by default so no DST change can skip or double a night),
the one-run-at-a-time rule, coalescing of missed runs, and a clean stop: on SIGTERM or SIGINT no
new run starts, a running one finishes, then the daemon exits. A failed run is logged and the
daemon waits for the next night: the ledger makes the next run catch up. It must not know what
a run does beyond calling it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime, tzinfo
from types import FrameType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from jobs.core.errors import ConfigError, RevwatchError
from jobs.core.settings import utcnow

log = logging.getLogger(__name__)

# A run that could not start on time (machine asleep, daemon busy) still runs within this grace;
# several missed runs coalesce into one, and the ledger's watermark makes that one catch up.
MISFIRE_GRACE_SECONDS = 6 * 3600


def timezone_of(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (use an IANA name such as UTC)") from None


def trigger_for(cron: str, timezone: str) -> CronTrigger:
    """A CronTrigger from a five-field crontab expression, or ConfigError naming the problem."""
    try:
        return CronTrigger.from_crontab(cron, timezone=timezone_of(timezone))
    except ValueError as exc:
        raise ConfigError(f"bad cron expression {cron!r}: {exc}") from None


def serve(
    run: Callable[[], object],
    *,
    cron: str,
    timezone: str = "UTC",
    run_now: bool = False,
    now: Callable[[], datetime] | None = None,
) -> int:
    """Run `run` on the schedule until SIGTERM/SIGINT; return the exit code (0)."""
    trigger = trigger_for(cron, timezone)
    scheduler = BlockingScheduler(timezone=timezone_of(timezone))
    idle = threading.Event()
    idle.set()

    def job() -> None:
        idle.clear()
        try:
            run()
        except RevwatchError as exc:
            log.error("run failed (exit code %d): %s", exc.exit_code, exc)
        except Exception:  # a daemon outlives one bad night; the traceback goes to the log
            log.exception("run crashed")
        finally:
            idle.set()

    options: dict[str, object] = {}
    if run_now:
        options["next_run_time"] = (now or utcnow)()
    scheduler.add_job(
        job,
        trigger,
        id="revwatch-run",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=MISFIRE_GRACE_SECONDS,
        **options,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "received %s: no new run starts; a running one finishes first",
            signal.Signals(signum).name,
        )
        scheduler.shutdown(wait=False)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("scheduled %r (%s); next run %s", cron, timezone, _next(scheduler))
        scheduler.start()
        idle.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return 0


def _next(scheduler: BlockingScheduler) -> str:
    job = scheduler.get_job("revwatch-run")
    when = getattr(job, "next_run_time", None) if job else None
    return when.isoformat() if when else "pending"
