"""`revwatch backfill`: chunks lose nothing at their edges, a stopped backfill resumes without
duplicates, the ledger is untouched unless asked, the summary and the mail carry the evidence."""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from jobs.core.errors import ConfigError
from jobs.core.settings import Settings
from jobs.demo import dataset as demo
from jobs.demo import schema as generic_schema
from jobs.detect.detection import detect
from jobs.face.cli import main
from jobs.pipeline import backfill, backfill_summary
from jobs.pipeline.backfill import chunks, run_backfill
from jobs.pipeline.nightly import run_once
from jobs.source.database import CaDatabase
from jobs.state.ledger import Ledger
from tests.support.cli import log_lines, revwatch
from tests.support.smtp_server import ScriptedServer

NOW = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
SINCE = NOW - timedelta(days=75)


def test_months_are_half_open_and_cover_the_window() -> None:
    parts = chunks(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), None)
    assert [(a.isoformat()[:10], b.isoformat()[:10]) for a, b in parts] == [
        ("2026-01-15", "2026-02-01"), ("2026-02-01", "2026-03-01"), ("2026-03-01", "2026-04-01")
    ]  # fmt: skip
    spans = chunks(NOW, NOW + timedelta(days=10), timedelta(days=4))
    assert [b - a for a, b in spans] == [timedelta(days=4), timedelta(days=4), timedelta(days=2)]
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    december = chunks(datetime(2025, 12, 5, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), None)
    assert december[0][1] == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, set[str]]:
    """The demo CA plus early revocations planted across months, one exactly on a month edge."""
    data = demo.generate(NOW)
    path = tmp_path_factory.mktemp("history") / "ca.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    demo.load(engine, data)
    edge = datetime(2026, 10, 1, tzinfo=UTC)
    planted = []
    times = [edge, edge - timedelta(microseconds=1), NOW - timedelta(days=60)]
    for n, revoked in enumerate(times):
        cert = data.issuance[n]  # its subscriber and names; the times are set below
        issued = revoked - timedelta(hours=3 + n)
        planted.append({**cert, "serial": f"bf{n:04x}", "issued_at": issued, "der": None,
                        "not_before": issued - timedelta(minutes=10)})  # fmt: skip
    with engine.begin() as connection:
        generic_schema.insert(
            connection,
            planted,
            [{"issuer_dn": p["issuer_dn"], "serial": p["serial"],
              "revoked_at": p["issued_at"] + timedelta(hours=3 + n), "reason_code": 0,
              "revoked_by": "ra-operator-old", "comment": None}
             for n, p in enumerate(planted)],
        )  # fmt: skip
    engine.dispose()
    url = f"sqlite:///{path}"
    whole = CaDatabase(Settings(ca_db=url).ca_url())
    frame = whole.early_revocations(SINCE, NOW, timedelta(days=7))
    whole.close()
    detection = detect(frame, since=SINCE, until=NOW, threshold=timedelta(days=7))
    expected = {c.revocation.serial for c in detection.cases}
    assert {"bf0000", "bf0001", "bf0002"} <= expected
    return url, expected


def _serials(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as stream:
        return [row["serial"] for row in csv.DictReader(stream)]


def test_chunked_backfill_equals_one_pass_over_history(
    history: tuple[str, set[str]], tmp_path: Path
) -> None:
    url, expected = history
    result = run_backfill(Settings(ca_db=url), since=SINCE, until=NOW, out=tmp_path, now=NOW)
    assert result.chunks == 3 and result.resumed_from is None  # 13 Sep-1 Oct, Oct, 1-27 Nov
    serials = _serials(result.csv)
    assert sorted(serials) == sorted(expected)
    summary = json.loads(result.summary_json.read_text())
    assert summary["complete"] and summary["cases"] == len(expected)
    assert sum(summary["by"]["month"].values()) == len(expected)
    assert summary["by"]["operator"]["ra-operator-old"] == 3
    assert "2026-10" in summary["by"]["month"] and "2026-09" in summary["by"]["month"]
    html = result.summary_html.read_text()
    assert "By registrable domain" in html and str(len(expected)) in html


def test_a_stopped_backfill_resumes_without_duplicates(
    history: tuple[str, set[str]], tmp_path: Path
) -> None:
    url, expected = history
    settings = Settings(ca_db=url)
    first = run_backfill(settings, since=SINCE, until=NOW, out=tmp_path, now=NOW, stop_after=2)
    assert not json.loads(first.summary_json.read_text())["complete"]
    assert "incomplete" in first.summary_html.read_text()
    # A crash in the middle of the third chunk left half-written rows behind.
    with (tmp_path / backfill.CSV_NAME).open("a") as stream:
        stream.write("CN=garbage,half-written-row\n")
    second = run_backfill(settings, since=SINCE, until=NOW, out=tmp_path, now=NOW)
    assert second.resumed_from is not None and second.resumed_from > SINCE
    assert sorted(_serials(second.csv)) == sorted(expected)
    with pytest.raises(ConfigError, match="another backfill"):
        run_backfill(settings, since=SINCE + timedelta(days=1), until=NOW, out=tmp_path, now=NOW)


def test_large_output_is_gzipped_and_mailed(
    history: tuple[str, set[str]], tmp_path: Path, smtp_server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    url, expected = history
    monkeypatch.setattr(backfill, "GZIP_ABOVE_BYTES", 100)
    settings = Settings(
        ca_db=url, smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_security="none",
        mail_from="Revwatch <revwatch@ca.example>", mail_to=("audit@ca.example",),
    )  # fmt: skip
    result = run_backfill(settings, since=SINCE, until=NOW, out=tmp_path, now=NOW)
    assert result.csv.name.endswith(".csv.gz")
    assert not (tmp_path / backfill.CSV_NAME).exists()
    backfill_summary.mail_summary(settings, result, NOW)
    (message,) = smtp_server.messages
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/gzip"
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(attachment.get_content()).decode())))
    assert sorted(r["serial"] for r in rows) == sorted(expected)
    assert f"{len(expected)} early revocations" in str(message["Subject"])


def test_the_ledger_is_untouched_unless_asked(
    history: tuple[str, set[str]], tmp_path: Path, smtp_server: ScriptedServer
) -> None:
    url, expected = history
    settings = Settings(
        ca_db=url, state_db=f"sqlite:///{tmp_path / 'state.sqlite'}",
        smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_security="none",
        mail_from="revwatch@ca.example", mail_to=("compliance@ca.example",),
    )  # fmt: skip
    result = run_backfill(settings, since=SINCE, until=NOW, out=tmp_path / "out", now=NOW)
    assert not (tmp_path / "state.sqlite").exists()
    assert backfill_summary.mark_reported(settings, result, NOW) == len(expected)
    assert backfill_summary.mark_reported(settings, result, NOW + timedelta(seconds=1)) == 0
    ledger = Ledger.open(settings.state_url())
    assert ledger.watermark() is None  # a backfill is not a nightly success
    ledger.close()
    # The ledger is the subject: the night's watch judges every issuance by the name rules, but
    # pkilint's pass over the whole history's certificates (most of this run) is left out.
    outcome = run_once(replace(settings, since=SINCE, until=NOW, watch_lint_limit=0), NOW)
    assert outcome.cases_found == len(expected) and outcome.cases_new == 0


def test_backfill_command(history: tuple[str, set[str]], tmp_path: Path) -> None:
    url, expected = history
    out = tmp_path / "evidence"
    code = main(["backfill", "--ca-db", url, "--since", SINCE.isoformat(),
                 "--until", NOW.isoformat(), "--chunk", "30d", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert sorted(_serials(out / backfill.CSV_NAME)) == sorted(expected)
    assert main(["backfill", "--ca-db", url, "--since", "yesterday"]) == 2


def test_the_summary_lists_every_month_of_the_range_zeros_included(
    history: tuple[str, set[str]], tmp_path: Path
) -> None:
    """On the real command: a range of 14 months of which only the last three hold cases; the
    summary lists all 14, and the command's outcome is one summary line on stderr."""
    url, expected = history
    out = tmp_path / "evidence"
    done = revwatch(
        "backfill", "--ca-db", url, "--since", "2025-10-15", "--until", NOW.isoformat(),
        "--chunk", "45d", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    # Off a terminal, no line per chunk: progress at most once a minute, then the summary.
    (line,) = [line for line in log_lines(done.stderr) if line["logger"].endswith("backfill")]
    assert line["logger"] == "revwatch.backfill"
    assert (
        line["message"].startswith("backfill complete")
        and f"cases={len(expected)}" in line["message"]
    )
    summary = json.loads((out / "backfill-summary.json").read_text())
    months = list(summary["by"]["month"])
    assert months == [f"2025-{m}" for m in ("10", "11", "12")] + [
        f"2026-{m:02d}" for m in range(1, 12)
    ]
    assert summary["months_examined"] == 14
    assert summary["by"]["month"]["2026-03"] == 0
    assert sum(summary["by"]["month"].values()) == len(expected)
    text = (out / "backfill-summary.txt").read_text()
    assert "2026-03" in text and "without early revocations, listed with 0" in text
    html = (out / "backfill-summary.html").read_text()
    assert all(month in html for month in months)
