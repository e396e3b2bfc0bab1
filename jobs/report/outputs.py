"""The files a run leaves, as contents: the --out directory's outputs and the mailed CSV's form.

Owns which files a run writes (report.html, report.txt, early-revocations.csv, report.json,
message.eml) and how the CSV travels in the mail: plain, gzipped once large, and without its
SHA-256 columns when even that would break the mail's size budget (the complete file is then kept
on the host). Pure: writing them is `jobs.deliver.files`'s. It must not render, send or record.
"""

from __future__ import annotations

import gzip
from email.message import EmailMessage

from jobs.report import document

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
    trimmed = document.without_columns(csv, FINGERPRINT_COLUMNS)
    return gzip.compress(trimmed.encode("utf-8"), mtime=0), "early-revocations.csv.gz", packed


def files(rendered: document.RenderedReport, message: EmailMessage) -> dict[str, str | bytes]:
    """The run's output files by name: what `--out` receives."""
    return {
        "report.html": rendered.html,
        "report.txt": rendered.text,
        "early-revocations.csv": rendered.csv,
        "report.json": rendered.json,
        "message.eml": message.as_bytes(),
    }
