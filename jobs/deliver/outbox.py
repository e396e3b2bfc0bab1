"""The outbox: every report message, kept on disk before it is handed to the mail server.

Owns writing a run's message as `<outbox>/<run_id>.eml`, beside `<run_id>.json` (the run's window
and the cases the message carries), each atomically: a crash leaves a whole file or none. A stored
run the ledger does not know is a run that died between storing and recording; the pipeline sends
its very bytes again (same Message-ID) before anything else. `revwatch resend RUN` reads it too.
It must not send anything or touch the ledger.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from jobs.core.errors import ConfigError

_RUN_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$")


def path_for(outbox: Path, run_id: str) -> Path:
    # The run id becomes a file name: refuse anything that could climb out of the outbox.
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise ConfigError(f"bad run id {run_id!r}")
    return outbox / f"{run_id}.eml"


@dataclass(frozen=True)
class Envelope:
    """What a stored message carries: its run's window and its cases (issuer, serial, revoked)."""

    run_id: str
    started_at: datetime
    since: datetime
    until: datetime
    threshold_seconds: int
    message_id: str
    cases: tuple[tuple[str, str, datetime], ...]


def _write(target: Path, content: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(handle, "wb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, target)


def store(outbox: Path, envelope: Envelope, message: EmailMessage) -> Path:
    """Write the envelope, then the message, before it is sent; return the message's path."""
    target = path_for(outbox, envelope.run_id)
    meta = {
        "run_id": envelope.run_id,
        "started_at": envelope.started_at.isoformat(),
        "since": envelope.since.isoformat(),
        "until": envelope.until.isoformat(),
        "threshold_seconds": envelope.threshold_seconds,
        "message_id": envelope.message_id,
        "cases": [[issuer, serial, when.isoformat()] for issuer, serial, when in envelope.cases],
    }
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        _write(target.with_suffix(".json"), json.dumps(meta, indent=1).encode())
        # The .eml lands last: a stored message always has its envelope beside it.
        _write(target, message.as_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot write the outbox message {target}: {exc.strerror}") from None
    return target


def stored_runs(outbox: Path) -> list[str]:
    """The runs with a stored message and envelope, oldest first."""
    if not outbox.is_dir():
        return []
    return sorted(p.stem for p in outbox.glob("*.eml") if p.with_suffix(".json").is_file())


def envelope(outbox: Path, run_id: str) -> Envelope:
    """The envelope stored beside a run's message."""
    source = path_for(outbox, run_id).with_suffix(".json")
    try:
        meta = json.loads(source.read_text(encoding="utf-8"))
        return Envelope(
            run_id=meta["run_id"],
            started_at=datetime.fromisoformat(meta["started_at"]),
            since=datetime.fromisoformat(meta["since"]),
            until=datetime.fromisoformat(meta["until"]),
            threshold_seconds=int(meta["threshold_seconds"]),
            message_id=meta["message_id"],
            cases=tuple((i, s, datetime.fromisoformat(t)) for i, s, t in meta["cases"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the outbox envelope {source} is unreadable: {exc}") from None


def load(outbox: Path, run_id: str) -> EmailMessage:
    """The stored message of a run, exactly as it was (or would have been) sent."""
    source = path_for(outbox, run_id)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        known = sorted(p.stem for p in outbox.glob("*.eml")) if outbox.is_dir() else []
        hint = f"; stored runs: {', '.join(known[-5:])}" if known else ""
        raise ConfigError(f"no stored message for run {run_id} in {outbox}{hint}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message
