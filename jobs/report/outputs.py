"""The files a run leaves, as contents: the --out directory's outputs and the mailed CSV's form.

Owns which files a run writes (report.html, report.txt, early-revocations.csv, report.json,
message.eml) and how the report travels in the mail: the CSV under a dated name, plain, gzipped
once large, and without its SHA-256 columns when even that would break the mail's size budget
(the complete file is then kept on the host); the sender shown by name. Pure: writing them is
`jobs.deliver.files`'s. It must not render, send or record.
"""

from __future__ import annotations

import zlib
from datetime import date
from email.message import EmailMessage
from email.utils import formataddr, parseaddr

from jobs.report import document

GZIP_CSV_ABOVE = 1024 * 1024
# The gzipped attachment's budget: base64 adds a third, and the bodies need room under 10 MB.
ATTACHMENT_BUDGET = 6 * 1024 * 1024
# The whole message's: under Postfix's default `message_size_limit` (10,240,000 bytes), the
# smallest limit common among mail servers (Exchange on premises defaults to 10 MB as well). A
# message the server refuses for its size is a permanent failure: the night would not be mailed.
MESSAGE_BUDGET = 10_000_000
# The fewest cases the bodies show in full when the message must shrink to fit its budget.
FEWEST_SHOWN = 25
FINGERPRINT_COLUMNS = ("sha256", "replacement_sha256")
# The name a reader's mail client shows for a sender configured as a bare address.
SENDER_NAME = "revwatch"
# Characters encoded and compressed at a time: a mass night's CSV is never held twice over.
GZIP_PIECE = 1 << 20


def sender(mail_from: str) -> str:
    """The From header: the configured sender, given a display name when it has none, so that
    inboxes list the report as revwatch's rather than as an address."""
    name, address = parseaddr(mail_from)
    return mail_from if name or not address else formataddr((SENDER_NAME, address))


def attachment(csv: str, day: date | None = None) -> tuple[str | bytes, str, bytes | None]:
    """The CSV as attached: (content, file name, the complete CSV gzipped when trimmed).

    The name carries the report's date (`early-revocations-2026-11-27.csv`), so that the files of
    several nights saved side by side stay apart.

    Gzipped once it is large (a mass revocation). If even that would not fit the mail's budget,
    the attachment keeps every case and column but the two SHA-256 fingerprints: random hex is
    what gzip cannot shrink, and 100,000 cases carry 13 MB of it. The complete CSV is then kept
    beside the message in the outbox (and in --out), and the mail says where."""
    name = "early-revocations" + (f"-{day:%Y-%m-%d}" if day else "") + ".csv"
    if len(csv) <= GZIP_CSV_ABOVE:
        return csv, name, None
    packed = _gzip(csv)
    if len(packed) <= ATTACHMENT_BUDGET:
        return packed, name + ".gz", None
    return _gzip(document.without_columns(csv, FINGERPRINT_COLUMNS)), name + ".gz", packed


def _gzip(text: str) -> bytes:
    """`text` as UTF-8, gzipped at level 9 with no time in the header (reproducible): the bytes
    of `gzip.compress(text.encode(), mtime=0)`, a piece at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    pieces = [
        packer.compress(text[start : start + GZIP_PIECE].encode("utf-8"))
        for start in range(0, len(text), GZIP_PIECE)
    ]
    pieces.append(packer.flush())
    return b"".join(pieces)


def files(rendered: document.RenderedReport, message: EmailMessage) -> dict[str, str | bytes]:
    """The run's output files by name: what `--out` receives."""
    return {
        "report.html": rendered.html,
        "report.txt": rendered.text,
        "early-revocations.csv": rendered.csv,
        "report.json": rendered.json,
        "message.eml": message.as_bytes(),
    }
