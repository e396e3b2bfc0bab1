"""early-revocations.csv: the columns, the cells of one case and the file's text.

Owns the CSV's shape (its columns, new ones only at the end), how a case's report.json object
becomes a row (lists joined by spaces, the replacement's fields flattened), the defusing of cells
a spreadsheet would run as formulas, and the optional UTF-8 byte order mark. It must not decide
what a case says (jobs.report.document's `case_json` does) nor where the file goes.
"""

from __future__ import annotations

import csv
import io
import itertools
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

from jobs.report.filters import text_or_none

# New columns go at the end: spreadsheets and scripts that read the file by position keep working.
CSV_COLUMNS = (
    "issuer", "serial", "sha256", "names", "subject", "issued_at", "revoked_at",
    "seconds_to_revocation", "reason", "revoked_by", "comment", "subscriber",
    "replacement_serial", "replacement_sha256", "replacement_names", "name_changes", "labels",
    "replacement_issued_at", "worst_severity",
)  # fmt: skip
# What spreadsheet programs need to read a CSV as UTF-8 rather than the system's code page.
UTF8_BOM = "\ufeff"
# Spreadsheets run a cell starting with one of these as a formula (OWASP CSV injection); some
# skip leading blanks and control characters first, and read fullwidth forms (＝) as the ASCII ones.
_FORMULA_START = frozenset("=+-@")
_CONTROL_START = frozenset("\t\r\n\x00")


def _formula_like(text: str) -> bool:
    if text[:1] in _CONTROL_START:
        return True
    for char in text:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            continue
        return unicodedata.normalize("NFKC", char)[:1] in _FORMULA_START
    return False


def _cell(value: object) -> str:
    text = text_or_none(value) or ""
    return "'" + text if isinstance(value, str) and _formula_like(text) else text


def cells(row: dict[str, Any]) -> list[str]:
    """One case's report.json object as a row of CSV_COLUMNS."""
    row = dict(row)
    repl = row["replacement"] or {}
    changes = (f"{c['before']}>{c['after']}({c['distance']})" for c in row["name_changes"])
    row |= {
        "names": " ".join(row["names"]),
        "replacement_serial": repl.get("serial"),
        "replacement_sha256": repl.get("sha256"),
        "replacement_names": " ".join(repl.get("names", ())),
        "replacement_issued_at": repl.get("issued_at"),
        "name_changes": " ".join(changes),
        "labels": " ".join(row["labels"]),
    }
    return [_cell(row[column]) for column in CSV_COLUMNS]


class Lines:
    """One case's CSV line at a time, as the report's rows are serialised when they arrive; the
    file is `header()` then these lines (the csv module writes each row on its own)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def __call__(self, values: Sequence[object]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(values)
        return self._buffer.getvalue()


def header(*, bom: bool = False) -> str:
    """The file's first line; `bom` starts it with a UTF-8 byte order mark, for spreadsheets
    that otherwise guess the encoding."""
    return (UTF8_BOM if bom else "") + Lines()(CSV_COLUMNS)


def without_columns(csv_text: str, dropped: Sequence[str]) -> str:
    """The same CSV without some columns (the mail's attachment on a mass revocation night),
    its byte order mark kept when it has one."""
    bom = UTF8_BOM if csv_text.startswith(UTF8_BOM) else ""
    reader = csv.reader(_lines(csv_text, len(bom)))
    header = next(reader)
    keep = [i for i, name in enumerate(header) if name not in dropped]
    buffer = io.StringIO()
    buffer.write(bom)
    writer = csv.writer(buffer)
    # Row by row: a mass night's CSV parsed whole would take several times its size.
    writer.writerows([row[i] for i in keep] for row in itertools.chain([header], reader))
    return buffer.getvalue()


def _lines(text: str, start: int) -> Iterator[str]:
    # What iterating io.StringIO(text[start:]) gives (lines end at "\n" only), without the copy
    # it makes: four bytes a character, a gigabyte for a mass night's CSV.
    while start < len(text):
        end = text.find("\n", start) + 1 or len(text)
        yield text[start:end]
        start = end
