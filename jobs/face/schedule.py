"""`revwatch schedule`: the nightly job as its own daemon, under APScheduler 3.x.

Owns the trigger (a cron expression, UTC by default), the one-run-at-a-time rule, coalescing of
missed runs, and a clean stop: on SIGTERM or SIGINT no new run starts, a running one finishes,
then the daemon exits. A failed run is logged and the daemon waits for the next night: the ledger
makes the next run catch up. It must not know what a run does beyond calling it.

Invariant of the trigger (`LocalTimeCronTrigger`): **each local time that a fixed-hour expression
names fires exactly once on each date it names, whatever the DST changes of the zone**, so a daily
schedule fires once per local calendar day. On the repeated hour when clocks go back it fires at
the first occurrence only; a time inside the hour skipped when clocks go forward fires at the first
valid instant after the gap (03:00 local in most of Europe). An expression with `*` in the hour
field (hourly or more often) counts elapsed time rather than times of day and keeps APScheduler's
own behaviour, as cron does: it fires in both passes of a repeated hour.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from types import FrameType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.cron.expressions import AllExpression

from jobs.core.errors import ConfigError, RevwatchError
from jobs.core.settings import utcnow

log = logging.getLogger("revwatch.face.schedule")

# A run that could not start on time (machine asleep, daemon busy) still runs within this grace;
# several missed runs coalesce into one, and the ledger's watermark makes that one catch up.
MISFIRE_GRACE_SECONDS = 6 * 3600

# CronTrigger's own step past a previous fire time, so that the same instant never fires twice.
_TICK = timedelta(microseconds=1)


def timezone_of(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (use an IANA name such as UTC)") from None


# APScheduler 3.x ships no type information: CronTrigger is `Any` to mypy.
class LocalTimeCronTrigger(CronTrigger):  # type: ignore[misc]
    """A CronTrigger whose fixed local times fire once each across DST changes (module docstring).

    APScheduler's CronTrigger steps through local time in UTC arithmetic: after 02:30 on the night
    clocks go back it reaches 02:00 again and fires at the second 02:30 too, and a time in the
    skipped hour becomes the instant its old offset names (02:30 CET = 03:30 CEST). Here the same
    fields are evaluated by a CronTrigger on the naive wall clock, where no hour repeats or goes
    missing, and each wall-clock time found is then placed on the real time line by `_instant`.
    """

    __slots__ = ()

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if self._counts_elapsed_time():
            elapsed: datetime | None = super().get_next_fire_time(previous_fire_time, now)
            return elapsed
        # Where the search starts, as CronTrigger decides it.
        start = now.astimezone(UTC)
        if previous_fire_time is not None:
            # Compared in UTC: an aware time in a repeated hour never equals one in another zone.
            previous = previous_fire_time.astimezone(UTC)
            start = min(start, previous + _TICK)
            if start == previous:
                start += _TICK
        elif self.start_date is not None:
            start = max(start, self.start_date.astimezone(UTC))
        wall_clock = self._on_the_wall_clock()
        after = _wall(start, self.timezone)
        # Ends: later wall-clock times never map to earlier instants, so `fire` only grows.
        while True:
            local = wall_clock.get_next_fire_time(None, after.replace(tzinfo=UTC))
            if local is None:
                return None
            fire = _instant(local.replace(tzinfo=None), self.timezone)
            if fire >= start:
                break
            # A time whose first occurrence is already past: the second pass of a repeated hour.
            after = local.replace(tzinfo=None) + timedelta(seconds=1)
        if self.end_date is not None and fire > self.end_date:
            return None
        jittered: datetime = self._apply_jitter(fire.astimezone(self.timezone), self.jitter, now)
        return jittered

    def _counts_elapsed_time(self) -> bool:
        """True for `*` or `*/n` in the hour field. RangeExpression subclasses AllExpression, so
        an exact type test tells `*/2` (elapsed) from `1-3` or `2` (times of day)."""
        hour = self.fields[self.FIELD_NAMES.index("hour")]
        return any(type(expr) is AllExpression for expr in hour.expressions)

    def _on_the_wall_clock(self) -> CronTrigger:
        """The same fields read in UTC, which has no DST: its fire times are wall-clock times.

        Built through CronTrigger's pickling state (version 2), which shares the parsed fields."""
        twin = CronTrigger.__new__(CronTrigger)
        state = {"version": 2, "timezone": UTC, "fields": self.fields, "jitter": None}
        twin.__setstate__({**state, "start_date": None, "end_date": None})
        return twin


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    """The naive local wall-clock time of an instant."""
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The instant (UTC) at which wall-clock time `wall` fires in `zone`.

    A time that occurs twice (clocks went back) fires at its first occurrence; a time that does not
    occur (clocks went forward) fires at the end of the gap, the first instant after it.
    """
    readings = sorted(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    occurrences = [instant for instant in readings if _wall(instant, zone) == wall]
    if occurrences:
        return occurrences[0]
    # In a gap the two readings use the offsets before and after the change, so the change lies
    # between them; tz transitions fall on whole seconds, so a search by the second finds it.
    before, after = (int(instant.timestamp()) for instant in readings)
    while after - before > 1:
        middle = (before + after) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), zone) > wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def trigger_for(cron: str, timezone: str) -> LocalTimeCronTrigger:
    """The daemon's trigger from a five-field crontab expression, or ConfigError naming the
    problem."""
    try:
        trigger: LocalTimeCronTrigger = LocalTimeCronTrigger.from_crontab(
            cron, timezone=timezone_of(timezone)
        )
    except ValueError as exc:
        raise ConfigError(f"bad cron expression {cron!r}: {exc}") from None
    return trigger


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
