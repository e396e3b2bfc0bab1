"""The outbox: every report message, kept on disk before it is handed to the mail server.

Owns a run's stored message `<outbox>/<run_id>.eml`, beside `<run_id>.json` (its envelope: the
ledger it belongs to, the run's window and the cases the message carries), each written whole (a
crash leaves a whole file or none) and readable by the job's user alone; and `<run_id>.accepted`,
the note that the mail server accepted the message, written the moment it did, so that a ledger
write that fails after that finishes later without mailing the report again. Several ledgers may
share the folder: each entry names its ledger, and the pipeline recovers, resends and prunes only
its own ledger's. It must not send anything or touch the ledger.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from jobs.core.atomic import write_atomic
from jobs.core.errors import ConfigError, OutputError

log = logging.getLogger("revwatch.deliver.outbox")

_RUN_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$")
# Every file an entry may have, by suffix after the run id.
ENTRY_SUFFIXES = (".eml", ".json", ".accepted", ".early-revocations.csv.gz")


def path_for(outbox: Path, run_id: str) -> Path:
    # The run id becomes a file name: refuse anything that could climb out of the outbox.
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise ConfigError(f"bad run id {run_id!r}")
    return outbox / f"{run_id}.eml"


@dataclass(frozen=True)
class Envelope:
    """What a stored message carries: its ledger (None: stored before entries named one), its
    run's window, its cases (issuer, serial, revoked) and its suspicious issuances (issuer,
    serial, issued or None; absent from envelopes stored before the issuance watch)."""

    run_id: str
    started_at: datetime
    since: datetime
    until: datetime
    threshold_seconds: int
    message_id: str
    cases: tuple[tuple[str, str, datetime], ...]
    ledger_id: str | None = None
    issuances: tuple[tuple[str, str, datetime | None], ...] = ()


def _write(target: Path, content: bytes) -> None:
    try:
        write_atomic(target, content)
    except OSError as exc:
        raise OutputError(f"cannot write the outbox file {target}: {exc.strerror}") from None


def store(outbox: Path, envelope: Envelope, message: EmailMessage) -> Path:
    """Write the envelope, then the message, before it is sent; return the message's path."""
    target = path_for(outbox, envelope.run_id)
    meta = {
        "run_id": envelope.run_id,
        "ledger_id": envelope.ledger_id,
        "started_at": envelope.started_at.isoformat(),
        "since": envelope.since.isoformat(),
        "until": envelope.until.isoformat(),
        "threshold_seconds": envelope.threshold_seconds,
        "message_id": envelope.message_id,
        "cases": [[issuer, serial, when.isoformat()] for issuer, serial, when in envelope.cases],
        "issuances": [
            [issuer, serial, when.isoformat() if when else None]
            for issuer, serial, when in envelope.issuances
        ],
    }
    _write(target.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    # The .eml lands last: a stored message always has its envelope beside it.
    _write(target, message.as_bytes())
    return target


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
            ledger_id=meta.get("ledger_id"),
            issuances=tuple(
                (i, s, datetime.fromisoformat(t) if t else None)
                for i, s, t in meta.get("issuances", [])
            ),
        )
    except FileNotFoundError:
        known = sorted(p.stem for p in outbox.glob("*.eml")) if outbox.is_dir() else []
        hint = f"; stored runs: {', '.join(known[-5:])}" if known else ""
        raise ConfigError(f"no stored message for run {run_id} in {outbox}{hint}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"the outbox envelope {source} is unreadable: {exc}") from None


def stored(outbox: Path, ledger_id: str) -> list[Envelope]:
    """The envelopes of `ledger_id`'s stored messages, oldest run first. Other ledgers' entries,
    and entries from before envelopes named their ledger, are not this ledger's to touch."""
    if not outbox.is_dir():
        return []
    own = []
    for path in sorted(outbox.glob("*.eml")):
        if not path.with_suffix(".json").is_file():
            continue
        try:
            found = envelope(outbox, path.stem)
        except ConfigError as exc:
            log.warning("outbox entry skipped: %s", exc)
            continue
        if found.ledger_id == ledger_id:
            own.append(found)
    return own


def load(outbox: Path, run_id: str) -> EmailMessage:
    """The stored message of a run, exactly as it was (or would have been) sent."""
    source = path_for(outbox, run_id)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no stored message for run {run_id} in {outbox}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def note_accepted(outbox: Path, run_id: str, refused: dict[str, str]) -> None:
    """Note that the mail server accepted run `run_id`'s message (with these refusals)."""
    body = json.dumps({"run_id": run_id, "refused": refused}).encode()
    _write(path_for(outbox, run_id).with_suffix(".accepted"), body)


def accepted(outbox: Path, run_id: str) -> dict[str, str] | None:
    """The refusals noted when the server accepted run `run_id`'s message; None: no such note."""
    source = path_for(outbox, run_id).with_suffix(".accepted")
    try:
        return dict(json.loads(source.read_text(encoding="utf-8"))["refused"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Written whole or not at all, so this is damage: trust it no more than no note at all.
        log.warning("the acceptance note %s is unreadable (%s); ignored", source, exc)
        return None


def discard(outbox: Path, run_id: str, suffixes: tuple[str, ...] = ENTRY_SUFFIXES) -> int:
    """Remove these files of run `run_id`'s entry; how many there were. Errors are logged: a
    file left behind is tidied up by a later run."""
    removed = 0
    for suffix in suffixes:
        path = outbox / f"{path_for(outbox, run_id).stem}{suffix}"
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot remove the outbox file %s: %s", path, exc.strerror)
    return removed
