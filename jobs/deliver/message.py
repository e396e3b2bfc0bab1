"""The report mail as a MIME message, and its stable Message-ID.

Owns the message's structure (text and HTML alternatives, the CSV attached, plain or gzipped), its
headers and the Message-ID derived from the set of cases it carries, so that a re-send is
recognisable as the same report. Certificate text reaches the subject: line breaks and control
characters are folded, never trusted. It must not render reports or speak SMTP.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from jobs.core.errors import ConfigError

# Domains in a Message-ID: a plain host name, nothing that could end the angle brackets.
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def check_address(what: str, address: str) -> None:
    if not address or not address.strip():
        raise ConfigError(f"{what} is empty")
    if len(address.splitlines()) > 1 or any(unicodedata.category(c) == "Cc" for c in address):
        raise ConfigError(f"{what} {address!r} contains a line break or control character")


def message_id_for(
    case_keys: Iterable[tuple[str, str]],
    *,
    window_until: datetime,
    domain: str,
    issuance_keys: Iterable[tuple[str, str]] = (),
) -> str:
    """A Message-ID that depends only on the set of cases and suspicious issuances (or, with
    neither, on the window end).

    A re-send after a crash then carries the same Message-ID as the first send, so mail clients
    and the compliance team's archive can recognise it as the same report.
    """
    if window_until.tzinfo is None:
        raise ValueError("window_until must be timezone-aware")
    if not domain or not set(domain) <= _DOMAIN_CHARS:
        raise ValueError(f"Message-ID domain {domain!r} is not a plain host name")
    keys = sorted({(str(issuer), str(serial)) for issuer, serial in case_keys})
    payload: dict[str, object] = {"cases": keys}
    watched = sorted({(str(issuer), str(serial)) for issuer, serial in issuance_keys})
    if watched:
        # Only when there are some: a report without them keeps the Message-ID it always had.
        payload["issuances"] = watched
    if not keys and not watched:
        payload["window_until"] = window_until.astimezone(UTC).isoformat()
    # JSON keeps (issuer, serial) boundaries unambiguous whatever characters an issuer holds.
    encoded = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return f"<revwatch.{hashlib.sha256(encoded).hexdigest()[:32]}@{domain}>"


def one_line(text: str) -> str:
    """`text` with every line break and control character folded into single spaces."""
    cleaned = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return " ".join(cleaned.split())


def build_message(
    *,
    subject: str,
    text: str,
    html: str,
    csv: str | bytes,
    csv_filename: str = "early-revocations.csv",
    mail_from: str,
    mail_to: Sequence[str],
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """The report mail: text and HTML alternatives, the CSV attached.

    A `csv_filename` ending in `.gz` attaches `csv` (gzip bytes) as application/gzip: a mass
    revocation's complete case list stays within mail size limits that way.

    The subject may quote certificate names, so line breaks in it are folded to spaces rather
    than trusted; From/To/Message-ID come from settings and are refused if they hold one.
    """
    if date.tzinfo is None:
        raise ValueError("the Date of a message must be timezone-aware")
    recipients = (mail_to,) if isinstance(mail_to, str) else tuple(mail_to)
    if not recipients:
        raise ConfigError("no mail recipients (mail_to is empty)")
    for address in (mail_from, *recipients):
        check_address("mail address", address)
    if one_line(message_id) != message_id or not (
        message_id.startswith("<") and message_id.endswith(">")
    ):
        raise ValueError(f"malformed Message-ID {message_id!r}")
    if one_line(csv_filename) != csv_filename or "/" in csv_filename or "\\" in csv_filename:
        raise ValueError(f"attachment name {csv_filename!r} is not a plain file name")

    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = ", ".join(recipients)
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(date.astimezone(UTC))
    message["Message-ID"] = message_id
    # RFC 3834: keeps vacation responders and ticket systems from answering a nightly job.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    payload = csv.encode("utf-8") if isinstance(csv, str) else csv
    if csv_filename.endswith(".gz"):
        message.add_attachment(
            payload, maintype="application", subtype="gzip", filename=csv_filename
        )
        return message
    # Base64 keeps the CSV byte for byte (its CRLF row ends included) whatever relays do to lines.
    message.add_attachment(
        payload,
        maintype="text",
        subtype="csv",
        cte="base64",
        filename=csv_filename,
        params={"charset": "utf-8"},
    )
    return message
