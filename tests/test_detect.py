"""Detection golden cases: `tests/golden/detect/<case>/input.json` beside `expected.json`.

Each input holds the joined rows exactly as the profile's `early_revocations` statement returns
them (times as ISO text, as SQLite gives them; `der_base64` for stored DER), the window and the
threshold; the expected file holds the cases (issuer, serial, seconds, reason, finding codes in
order) and the record problems. Adding a case is dropping in a directory.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from jobs.core.codes import CODES
from jobs.core.settings import parse_duration, parse_time
from jobs.detect.detection import Record, detect, group
from jobs.source.database import rows as source_rows

GOLDEN = Path(__file__).parent / "golden" / "detect"
CASES = sorted(p.name for p in GOLDEN.iterdir() if p.is_dir())
# What detection may say: the case itself (`detect.*`) and problems with its records (`data.*`).
DETECTION_CODES = {code for code in CODES if code.startswith(("detect.", "data."))}


def _frame(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as the source hands them over: normalised like every dialect's."""
    for row in rows:
        encoded = row.pop("der_base64", None)
        row["der"] = base64.b64decode(encoded) if encoded else None
    return source_rows(pd.DataFrame(rows))


def _observed(input_: dict[str, Any]) -> dict[str, Any]:
    detection = detect(
        _frame(input_["rows"]),
        since=parse_time(input_["window"]["since"]),
        until=parse_time(input_["window"]["until"]),
        threshold=parse_duration(input_["threshold"]),
    )
    return {
        "cases": [
            {
                "issuer": case.revocation.issuer,
                "serial": case.revocation.serial,
                "seconds_to_revocation": case.seconds_to_revocation,
                "reason": case.revocation.reason,
                "finding_codes": [f.code for f in case.findings],
            }
            for case in detection.cases
        ],
        "problems": [p.code for p in detection.problems],
    }


def test_there_are_golden_cases() -> None:
    assert len(CASES) >= 15


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    directory = GOLDEN / name
    input_ = json.loads((directory / "input.json").read_text())
    expected = json.loads((directory / "expected.json").read_text())
    assert _observed(input_) == expected


def test_every_finding_names_its_record() -> None:
    """A reviewer must be able to find the record: each data finding names issuer and serial."""
    for name in CASES:
        input_ = json.loads((GOLDEN / name / "input.json").read_text())
        detection = detect(
            _frame(input_["rows"]),
            since=parse_time(input_["window"]["since"]),
            until=parse_time(input_["window"]["until"]),
            threshold=parse_duration(input_["threshold"]),
        )
        for finding in [f for c in detection.cases for f in c.findings] + list(detection.problems):
            assert finding.code in DETECTION_CODES
            if finding.code.startswith("data."):
                assert "revocation record" in finding.message and "serial" in finding.message


def test_the_duration_in_words_is_in_the_finding() -> None:
    input_ = json.loads((GOLDEN / "seed-case-4h38" / "input.json").read_text())
    detection = detect(
        _frame(input_["rows"]),
        since=datetime(2026, 11, 20, tzinfo=UTC),
        until=datetime(2026, 11, 27, tzinfo=UTC),
        threshold=timedelta(days=7),
    )
    assert detection.cases[0].findings[0].message == (
        "revoked 4 h 38 min after issuance (threshold 7 d)"
    )


def test_an_empty_frame_has_no_cases() -> None:
    detection = detect(
        source_rows(pd.DataFrame()),
        since=datetime(2026, 11, 20, tzinfo=UTC),
        until=datetime(2026, 11, 27, tzinfo=UTC),
        threshold=timedelta(days=7),
    )
    assert detection.cases == () and detection.problems == ()


def test_an_unparseable_der_has_no_fingerprint() -> None:
    """Garbage bytes would give a crt.sh link to nothing: the case reports no SHA-256."""
    input_ = json.loads((GOLDEN / "unparseable-der" / "input.json").read_text())
    detection = detect(
        _frame(input_["rows"]),
        since=parse_time(input_["window"]["since"]),
        until=parse_time(input_["window"]["until"]),
        threshold=parse_duration(input_["threshold"]),
    )
    (case,) = detection.cases
    assert case.certificate.sha256 is None and case.certificate.names == ("shop.example.es",)


def test_every_golden_case_has_a_note() -> None:
    """Each input says, in its `note`, what the case shows and why its expected output is right."""
    inputs = {name: json.loads((GOLDEN / name / "input.json").read_text()) for name in CASES}
    missing = [
        name
        for name, given in inputs.items()
        if not (isinstance(given.get("note"), str) and given["note"].strip())
    ]
    assert missing == []


def test_pending_rows_are_held_compact_and_read_as_they_were() -> None:
    """A night's rows wait in `Pending` as Records: each reads as its row did, the window's
    rows share one column index and one object per repeated issuer or operator, and the
    batches judge them as `detect` judges the rows."""
    input_ = json.loads((GOLDEN / "seed-case-4h38" / "input.json").read_text())
    window = {
        "since": datetime(2026, 11, 20, tzinfo=UTC),
        "until": datetime(2026, 11, 27, tzinfo=UTC),
        "threshold": timedelta(days=7),
    }
    row = _frame(input_["rows"])[0]
    # Equal strings, each row's its own object (as a driver hands them over).
    copies = [
        {**row, "serial": f"{n:x}", "issuer_dn": "".join(str(row["issuer_dn"])),
         "revoked_by": "".join(["ra-", "operator"])}
        for n in range(1, 4)
    ]  # fmt: skip
    assert copies[0]["issuer_dn"] is not copies[1]["issuer_dn"]
    assert copies[0]["revoked_by"] is not copies[1]["revoked_by"]
    whole = detect([dict(r) for r in copies], **window)
    pending = group([dict(r) for r in copies], **window)
    records = [group_[0] for group_ in pending._groups]
    assert all(isinstance(r, Record) for r in records)
    assert [dict(r) for r in records] == copies and records[0] == copies[0]
    assert records[0].get("missing", "default") == "default" and "der" in records[0]
    assert records[0]["issuer_dn"] is records[2]["issuer_dn"]
    assert records[0]["revoked_by"] is records[1]["revoked_by"]
    assert records[0]._index is records[1]._index
    batched = [case for cases, _ in pending.batches(2) for case in cases]
    assert tuple(batched) == whole.cases and len(pending) == 0
