"""The files a run leaves: the --out directory's outputs and the form of the mailed CSV.

Owns writing report.html, report.txt, early-revocations.csv, report.json and message.eml, and
deciding how the CSV travels in the mail: plain, gzipped once large, and without its SHA-256
columns when even that would break the mail's size budget (the complete file is then kept on the
host). It must not render, send or record anything.
"""

from __future__ import annotations

import gzip
from email.message import EmailMessage
from pathlib import Path

from jobs.core.errors import ConfigError
from jobs.report import document as report

GZIP_CSV_ABOVE = 1024 * 1024
# The gzipped attachment's budget: base64 adds a third, and the bodies need room under 10 MB.
ATTACHMENT_BUDGET = 6 * 1024 * 1024
FINGERPRINT_COLUMNS = ("sha256", "replacement_sha256")


def attachment(csv: str) -> tuple[str | bytes, str, bytes | None]:
    """The CSV as attached: (content, file name, the complete CSV gzipped when trimmed).

    Gzipped once it is large (a mass revocation). If even that would not fit the mail's budget,
    the attachment keeps every case and column but the two SHA-256 fingerprints: random hex is
    what gzip cannot shrink, and 100,000 cases carry 13 MB of it. The complete CSV is then kept
    beside the message in the outbox (and in --out), and the mail says where."""
    if len(csv) <= GZIP_CSV_ABOVE:
        return csv, "early-revocations.csv", None
    packed = gzip.compress(csv.encode("utf-8"), mtime=0)
    if len(packed) <= ATTACHMENT_BUDGET:
        return packed, "early-revocations.csv.gz", None
    trimmed = report.without_columns(csv, FINGERPRINT_COLUMNS)
    return gzip.compress(trimmed.encode("utf-8"), mtime=0), "early-revocations.csv.gz", packed


def keep(path: Path, content: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise ConfigError(f"cannot keep the complete CSV at {path}: {exc.strerror}") from None


def write(out: Path, rendered: report.RenderedReport, message: EmailMessage) -> dict[str, Path]:
    contents: dict[str, str | bytes] = {
        "report.html": rendered.html,
        "report.txt": rendered.text,
        "early-revocations.csv": rendered.csv,
        "report.json": rendered.json,
        "message.eml": message.as_bytes(),
    }
    written = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, content in contents.items():
            path = out / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            written[name] = path
    except OSError as exc:
        raise ConfigError(f"cannot write the outputs to {out}: {exc.strerror}") from None
    return written
