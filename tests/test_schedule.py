"""`revwatch schedule`: a real daemon process, a real SMTP server that answers slowly, SIGTERM
in the middle of a run; the trigger's one-fire-per-local-time rule over 400 days in four zones;
and the daemon under a fake clock across the night DST ends, with a real SMTP server and ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.executors.debug import DebugExecutor
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import make_url

from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from jobs.demo import dataset as demo
from jobs.demo.mailsink import MailSink
from jobs.face.schedule import LocalTimeCronTrigger, serve, trigger_for
from jobs.pipeline.nightly import run_once
from jobs.state.ledger import Ledger
from tests.support.nights import UNLINTED_ENV
from tests.support.smtp_server import HeldHandler


def test_sigterm_lets_the_running_job_finish_then_exits(tmp_path: Path) -> None:
    ca = tmp_path / "ca.sqlite"
    demo.create_sqlite(ca, datetime.now(UTC))
    handler = HeldHandler()  # the run waits inside DATA until the daemon has taken the signal
    with MailSink(handler=handler) as sink:
        env = {
            **os.environ,
            "REVWATCH_CA_DB": f"sqlite:///{ca}",
            "REVWATCH_STATE_DB": f"sqlite:///{tmp_path / 'state.sqlite'}",
            "REVWATCH_SMTP_HOST": sink.host,
            "REVWATCH_SMTP_PORT": str(sink.port),
            "REVWATCH_SMTP_SECURITY": "none",
            "REVWATCH_MAIL_FROM": "revwatch@ca.example",
            "REVWATCH_MAIL_TO": "compliance@ca.example",
            **UNLINTED_ENV,  # the signal is the subject, not the watch's pkilint pass
        }
        # A cron that will not fire during the test: only --run-now starts a run.
        daemon = subprocess.Popen(
            [sys.executable, "-m", "jobs", "schedule", "--run-now", "--cron", "0 0 1 1 *"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while handler.data_started == 0 and time.monotonic() < deadline:
                assert daemon.poll() is None, daemon.communicate()
                time.sleep(0.05)
            assert handler.data_started == 1, "the run never reached DATA"
            daemon.send_signal(signal.SIGTERM)
            assert daemon.stderr is not None and daemon.stdout is not None
            said = []
            for line in daemon.stderr:  # until the daemon says it took the signal (or exits)
                said.append(line)
                if "received SIGTERM" in line:
                    break
            handler.release.set()  # only now may the running job's mail be accepted
            said.append(daemon.stderr.read())
            daemon.stdout.read()
            daemon.wait(timeout=60)
            stderr = "".join(said)
        finally:
            handler.release.set()
            if daemon.poll() is None:
                daemon.kill()
        assert daemon.returncode == 0, stderr
        assert len(sink.messages) == 1
    assert "received SIGTERM" in stderr
    assert stderr.index("received SIGTERM") < stderr.index("mailed=true")
    ledger = Ledger.open(make_url(f"sqlite:///{tmp_path / 'state.sqlite'}"))
    assert [run["outcome"] for run in ledger.recent_runs()] == ["success"]
    ledger.close()


def test_default_schedule_is_daily_0215_utc_across_dst() -> None:
    trigger = trigger_for("15 2 * * *", "UTC")
    times = _fires(
        trigger, datetime(2026, 10, 24, 12, tzinfo=UTC), datetime(2026, 10, 28, tzinfo=UTC)
    )
    assert [t.astimezone(UTC).strftime("%m-%d %H:%M") for t in times] == [
        "10-25 02:15",
        "10-26 02:15",
        "10-27 02:15",
    ]


def test_a_configured_time_zone_is_honoured() -> None:
    trigger = trigger_for("30 2 * * *", "Europe/Berlin")
    fire = trigger.get_next_fire_time(None, datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    assert fire is not None and fire.astimezone(UTC).hour == 0  # 02:30 CEST is 00:30 UTC


@pytest.mark.parametrize(
    ("cron", "zone", "needle"),
    [
        ("61 2 * * *", "UTC", "bad cron expression"),
        ("15 2 * *", "UTC", "bad cron expression"),
        ("15 2 * * *", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_schedules_are_config_errors(cron: str, zone: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        trigger_for(cron, zone)


# 2026-01-01 and the 399 local days after it hold exactly one DST start and one DST end in each
# zone below (Sydney ends DST on 2026-04-05 and starts it on 2026-10-04).
FIRST_DAY = date(2026, 1, 1)
DAYS = 400


def _just_after(fire: datetime) -> datetime:
    """`now` a second after a fire, as the scheduler's clock reads it. In UTC: a second added
    to a local time is wall-clock arithmetic, and after 02:00 CET it would land on 02:00:01 CEST,
    an hour earlier."""
    return fire.astimezone(UTC) + timedelta(seconds=1)


def _fires(trigger: CronTrigger, now: datetime, until: datetime) -> list[datetime]:
    """The fire times from `now` to `until`, each found from the one before, as the scheduler
    asks for them."""
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, now)
    while fire is not None and fire < until:
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, _just_after(fire))
    return fires


def _occurrences(day: date, at: str, zone: ZoneInfo) -> list[datetime]:
    """The instants (UTC) at which local time `at` occurs on `day`: none, one or two."""
    wall = datetime.fromisoformat(f"{day.isoformat()}T{at}")
    readings = {wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1)}
    return sorted(r for r in readings if r.astimezone(zone).replace(tzinfo=None) == wall)


@pytest.mark.parametrize(
    ("zone", "at", "skipped", "repeated"),
    [
        ("Europe/Madrid", "02:30", 1, 1),
        ("Europe/Madrid", "01:30", 0, 0),
        ("Europe/Madrid", "03:30", 0, 0),
        ("Europe/Berlin", "02:30", 1, 1),
        ("Europe/Berlin", "01:30", 0, 0),
        ("Europe/Berlin", "03:30", 0, 0),
        ("America/New_York", "02:30", 1, 0),
        ("America/New_York", "01:30", 0, 1),
        ("America/New_York", "03:30", 0, 0),
        ("Australia/Sydney", "02:30", 1, 1),
        ("Australia/Sydney", "01:30", 0, 0),
        ("Australia/Sydney", "03:30", 0, 0),
    ],
)
def test_a_daily_local_time_fires_once_on_every_local_day(
    zone: str, at: str, skipped: int, repeated: int
) -> None:
    tz = ZoneInfo(zone)
    hour, minute = (int(part) for part in at.split(":"))
    trigger = trigger_for(f"{minute} {hour} * * *", zone)
    midnight = datetime.min.time()
    fires = _fires(
        trigger,
        datetime.combine(FIRST_DAY, midnight, tz),
        datetime.combine(FIRST_DAY + timedelta(days=DAYS), midnight, tz),
    )
    local = [f.astimezone(tz) for f in fires]
    assert [t.date() for t in local] == [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
    gaps = folds = 0
    for fired, instant in zip(local, fires, strict=True):
        occurs = _occurrences(fired.date(), at, tz)
        if not occurs:  # skipped: the first valid instant after the gap
            gaps += 1
            before = (instant.astimezone(UTC) - timedelta(seconds=1)).astimezone(tz)
            assert before.time() < fired.time().replace(hour=hour, minute=minute) < fired.time()
            assert before.utcoffset() != fired.utcoffset()
        else:  # the time itself, and when it occurs twice its first occurrence
            folds += len(occurs) == 2
            assert instant.astimezone(UTC) == occurs[0]
    assert (gaps, folds) == (skipped, repeated)


def test_the_night_dst_ends_and_starts_in_berlin() -> None:
    """The issue's measurement: 02:30 Europe/Berlin fired at 00:30 and 01:30 UTC on 2026-10-25."""
    trigger = trigger_for("30 2 * * *", "Europe/Berlin")

    def next_three(now: datetime) -> list[str]:
        fires = _fires(trigger, now, now + timedelta(days=3))[:3]
        return [f"{fire.astimezone(UTC):%m-%d %H:%M}" for fire in fires]

    assert next_three(datetime(2026, 10, 24, 12, tzinfo=UTC)) == [
        "10-25 00:30",  # 02:30 CEST, the first pass; not 02:30 CET an hour later
        "10-26 01:30",
        "10-27 01:30",
    ]
    # Started during the second pass through 02:xx (02:10 CET): that night's 02:30 has been.
    assert next_three(datetime(2026, 10, 25, 1, 10, tzinfo=UTC))[0] == "10-26 01:30"
    # 02:30 does not exist on 2026-03-29: the run starts when the clocks jump to 03:00 CEST.
    assert next_three(datetime(2026, 3, 28, 12, tzinfo=UTC)) == [
        "03-29 01:00",
        "03-30 00:30",
        "03-31 00:30",
    ]


@pytest.mark.parametrize("cron", ["0 * * * *", "*/15 * * * *", "30 */2 * * *"])
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York"])
def test_a_wildcard_hour_fires_as_apscheduler_computes(cron: str, zone: str) -> None:
    """Hourly and finer schedules count elapsed time: both passes of a repeated hour fire."""
    ours = trigger_for(cron, zone)
    theirs = CronTrigger.from_crontab(cron, timezone=ZoneInfo(zone))

    def fires(trigger: CronTrigger, start: datetime, days: int) -> list[float]:
        # Timestamps: an aware time in a repeated hour never equals one in another zone.
        return [f.timestamp() for f in _fires(trigger, start, start + timedelta(days=days))]

    for start in (datetime(2026, 3, 6, tzinfo=UTC), datetime(2026, 10, 23, tzinfo=UTC)):
        assert fires(ours, start, 10) == fires(theirs, start, 10)
    if cron == "0 * * * *" and zone == "Europe/Berlin":
        tz = ZoneInfo(zone)
        end_day = fires(ours, datetime(2026, 10, 25, tzinfo=tz), 1)
        start_day = fires(ours, datetime(2026, 3, 29, tzinfo=tz), 1)
        assert (len(end_day), len(start_day)) == (25, 23)


def test_each_hour_of_a_fixed_hour_list_is_a_time_of_day() -> None:
    trigger = trigger_for("0 1-3 * * *", "Europe/Berlin")
    assert isinstance(trigger, LocalTimeCronTrigger)

    def day(local_date: date) -> list[str]:
        start = datetime.combine(local_date, datetime.min.time(), ZoneInfo("Europe/Berlin"))
        return [f"{f.astimezone(UTC):%H:%M}" for f in _fires(trigger, start, start + timedelta(1))]

    # 01:00 CEST, 02:00 CEST, 03:00 CET: the second 02:00 (CET) does not fire.
    assert day(date(2026, 10, 25)) == ["23:00", "00:00", "02:00"]
    # 02:00 does not exist and fires at 03:00 CEST, the instant 03:00 names too: one fire for both.
    assert day(date(2026, 3, 29)) == ["00:00", "01:00"]


class _FakeClock:
    """The scheduler's clock, moved by hand: a real clock cannot be moved across DST end.

    APScheduler 3.x reads the time with `datetime.now()` in `schedulers.base` and `executors.base`
    and sleeps in `Event.wait` in `schedulers.blocking`: here a timed wait moves the clock on
    instead of sleeping. At `stop_at` the daemon gets SIGTERM, its real way to stop.
    """

    def __init__(self, start: datetime, stop_at: datetime) -> None:
        self.now = start
        self.stop_at = stop_at
        self.stopping = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        clock = self

        class FrozenDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> FrozenDatetime:
                return clock.now.astimezone(tz)  # type: ignore[return-value]

        class SleeplessEvent(threading.Event):
            def wait(self, timeout: float | None = None) -> bool:
                if not self.is_set() and timeout is not None:
                    clock.advance(timeout)
                return self.is_set()

        monkeypatch.setattr("apscheduler.schedulers.base.datetime", FrozenDatetime)
        monkeypatch.setattr("apscheduler.executors.base.datetime", FrozenDatetime)
        monkeypatch.setattr("apscheduler.schedulers.blocking.Event", SleeplessEvent)
        # Jobs run in the scheduler's thread (APScheduler's DebugExecutor): a worker thread would
        # still be running when the clock jumps to the next fire, and max_instances=1 would then
        # hide a second fire.
        monkeypatch.setattr("apscheduler.schedulers.base.ThreadPoolExecutor", DebugExecutor)

    def advance(self, seconds: float) -> None:
        self.now = min(self.now + timedelta(seconds=seconds), self.stop_at)
        if self.now == self.stop_at and not self.stopping:
            self.stopping = True
            signal.raise_signal(signal.SIGTERM)


def test_the_daemon_runs_once_on_the_night_dst_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # Local midnight to local midnight on 2026-10-25: 25 hours, 02:00-02:59 twice.
    clock = _FakeClock(
        datetime(2026, 10, 25, tzinfo=berlin).astimezone(UTC),
        datetime(2026, 10, 26, tzinfo=berlin).astimezone(UTC),
    )
    clock.install(monkeypatch)
    demo.create_sqlite(tmp_path / "ca.sqlite", clock.now)
    runs: list[datetime] = []
    with MailSink() as sink:
        settings = Settings(
            ca_db=f"sqlite:///{tmp_path / 'ca.sqlite'}",
            state_db=f"sqlite:///{tmp_path / 'state.sqlite'}",
            smtp_host=sink.host,
            smtp_port=sink.port,
            smtp_security="none",
            mail_from="revwatch@ca.example",
            mail_to=("compliance@ca.example",),
            watch_lint_limit=0,  # when the daemon runs is the subject, not the watch's lint
        )

        def nightly() -> None:
            runs.append(clock.now)
            run_once(settings, clock.now)

        assert serve(nightly, cron="30 2 * * *", timezone="Europe/Berlin") == 0
        messages = list(sink.messages)
    assert clock.now == datetime(2026, 10, 25, 23, 0, tzinfo=UTC)  # past the second 02:30
    # One run, at 02:30 CEST (the first pass), and one message.
    assert (runs, len(messages)) == ([datetime(2026, 10, 25, 0, 30, tzinfo=UTC)], 1)
    ledger = Ledger.open(make_url(f"sqlite:///{tmp_path / 'state.sqlite'}"))
    assert [run["outcome"] for run in ledger.recent_runs()] == ["success"]
    ledger.close()
