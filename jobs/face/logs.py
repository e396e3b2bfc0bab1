"""Logging for every command: where lines go, how they look, which loggers speak.

Owns the one handler (stderr: stdout belongs to commands whose purpose is to print), the line
formats (text or JSON, both with ISO 8601 UTC times and their zone), and the levels: the job's
loggers live under `revwatch.*` (`revwatch.run` carries each run's summary line) and log at INFO
(DEBUG with -v); every other library logs at WARNING, whatever it does by default. A summary
(`extra={"summary": {...}}`) becomes the line's fields. It must not log anything itself.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from jobs.core.text import neutralise

NAMESPACE = "revwatch"
# Libraries known to log at INFO: APScheduler (every job start and end), aiosmtpd's `mail.log`
# (every SMTP command of the demo's sink), asyncio. Set explicitly, so that none of them can
# lower its own level and bring its lines back; every other library inherits the root's WARNING.
QUIET = ("apscheduler", "mail.log", "aiosmtpd", "aiosmtplib", "asyncio", "sqlalchemy", "pkilint")
# Summary fields the text line already says in its message.
_IN_MESSAGE = ("event", "run_id", "outcome")


class LogFormatter(logging.Formatter):
    """Text or JSON lines; a run's summary (`extra={"summary": {...}}`) becomes its fields."""

    def __init__(self, style_name: str) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.json = style_name == "json"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 in UTC with its zone, as every other time the job writes: a log line must
        # not depend on the host's time zone to be read.
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

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
            if record.exc_info:
                line["traceback"] = self.formatException(record.exc_info)
            return json.dumps(line, default=str, ensure_ascii=False)
        text = super().format(record)
        extra = " ".join(
            f"{key}={json.dumps(value) if isinstance(value, str | list | bool) else value}"
            for key, value in fields.items()
            if key not in _IN_MESSAGE and value is not None
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


def setup_logging(verbose: bool, style_name: str) -> None:
    """One stderr handler in `style_name` (text or json); levels as the module docstring says."""
    handler = _StderrHandler()
    handler.setFormatter(LogFormatter(style_name))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger(NAMESPACE).setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
