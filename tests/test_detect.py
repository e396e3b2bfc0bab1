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
from jobs.detect.detection import detect
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
