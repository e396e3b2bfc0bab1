"""`revwatch schedule`: a real daemon process, a real SMTP server that answers slowly, SIGTERM
in the middle of a run; plus the trigger's behaviour across a DST change."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from jobs.core.errors import ConfigError
from jobs.demo import dataset as demo
from jobs.demo.mailsink import MailSink, SinkHandler
from jobs.face.schedule import trigger_for
from jobs.state.ledger import Ledger


class SlowHandler(SinkHandler):
    """Accepts every message, but only after `delay` seconds inside DATA."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.data_started = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started += 1
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_sigterm_lets_the_running_job_finish_then_exits(tmp_path: Path) -> None:
    ca = tmp_path / "ca.sqlite"
    demo.create_sqlite(ca, datetime.now(UTC))
    handler = SlowHandler(delay=3.0)
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
            _, stderr = daemon.communicate(timeout=60)
        finally:
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
    fire = trigger.get_next_fire_time(None, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    times = []
    for _ in range(3):
        times.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
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
