"""The report's verdict and its mail-client robustness, from hand-made cases: the subject, the
headline and advice, severity colours from the code registry, the 30-day trend and operators in
every output, the CSV's new columns and byte order mark, and HTML that needs no <style>."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from jobs.core import codes
from jobs.core.activity import Activity, DayCount, OperatorCount, fill_days, last_day, span
from jobs.core.model import Case, Certificate, Finding, Revocation, Severity
from jobs.report import outputs, triage
from jobs.report.charts import share, text_bar, trend
from jobs.report.document import CSV_COLUMNS, UTF8_BOM, build_context, render, without_columns

ISSUER = "CN=Cualtis Issuing CA 1,O=Cualtis Trust,C=ES"
UNTIL = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=1)
# The palette of templates/report.html, by severity: the one place colours are chosen.
BACKGROUND = {"error": "#b3261e", "warning": "#8a4b00", "info": "#dde3e8"}


def case(serial: str, *labels: str, severity: Severity | None = None, **cert: object) -> Case:
    revoked = UNTIL - timedelta(hours=2)
    certificate = Certificate(
        issuer=ISSUER,
        serial=serial,
        names=(f"{serial}.example",),
        issued_at=revoked - timedelta(hours=1),
        **cert,  # type: ignore[arg-type]
    )
    findings = (Finding("x.test", severity, "found"),) if severity else ()
    return Case(
        certificate=certificate,
        revocation=Revocation(ISSUER, serial, revoked, 0, f"op-{serial}"),
        seconds_to_revocation=3600,
        findings=findings,
        labels=labels,
    )


ACTIVITY = Activity(
    days=fill_days({date(2026, 11, 27): (5, 2), date(2026, 11, 20): (40, 1)}, UNTIL),
    operators=(OperatorCount("ra-operator-maria", 30, 3), OperatorCount(None, 15, 0)),
)


def report(cases: list[Case], activity: Activity | None = ACTIVITY, **extra: object):  # type: ignore[no-untyped-def]
    context = build_context(
        cases, since=SINCE, until=UNTIL, threshold_seconds=7 * 86400, now=UNTIL,
        source="db", run_id="r1", activity=activity, **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return context, render(context)


def test_subject_says_how_many_need_review() -> None:
    typo = case("01", "registrable-domain-typo", "likely-typo")
    broken = case("02", severity=Severity.ERROR)
    routine = case("03", "re-key", "same-names")
    _, out = report([typo, broken, routine])
    assert out.subject == "[revwatch] 2 need review, 3 early revocations, 2026-11-27"
    _, out = report([routine])
    assert out.subject == "[revwatch] 0 need review, 1 early revocation, 2026-11-27"
    _, out = report([])
    assert out.subject == "[revwatch] quiet night: no early revocations, 2026-11-27"
    # A window ending at midnight is the day before's report.
    assert last_day(datetime(2026, 11, 27, tzinfo=UTC)) == date(2026, 11, 26)


def test_severity_is_the_registrys_for_labels_and_findings() -> None:
    assert triage.case_severity(case("a", "registrable-domain-typo")) is Severity.ERROR
    assert triage.case_severity(case("b", "likely-typo")) is Severity.WARNING
    assert triage.case_severity(case("c", "no-such-label")) is Severity.INFO
    assert triage.case_severity(case("d", "re-key", severity=Severity.ERROR)) is Severity.ERROR
    for label in codes.LABELS.values():
        assert triage.label_severity(label.name) is label.severity


def test_headline_reasons_and_one_sentence_of_advice_per_severity() -> None:
    cases = [
        case("01", "registrable-domain-typo"),
        case("02", "registrable-domain-typo", "data-problem"),
        case("03", severity=Severity.ERROR),  # an error finding without a label
        case("04", "likely-typo"),
    ]
    context, out = report(cases)
    verdict = context.triage
    assert verdict.need_review == 3
    assert verdict.by_severity == ((Severity.ERROR, 3), (Severity.WARNING, 1))
    assert [(r.name, r.count) for r in verdict.reasons] == [
        ("registrable-domain-typo", 2), ("data-problem", 1), ("x.test", 1),
    ]  # fmt: skip
    assert codes.LABELS["registrable-domain-typo"].meaning in out.html
    for body in (out.html, out.text):
        assert "3 of 4 early revocations need review" in body
        words = " ".join(re.sub("<[^>]+>", " ", body).split())
        for severity in (Severity.ERROR, Severity.WARNING):
            assert " ".join(triage.NEXT_STEP[severity].split()) in words
        assert triage.NEXT_STEP[Severity.INFO] not in words  # no info cases tonight


def test_every_label_badge_takes_its_severitys_colour_from_the_registry() -> None:
    labels = (*codes.LABELS, "unregistered-label")
    _, out = report([case("01", *labels)])
    for label in labels:
        severity = triage.label_severity(label).value
        styles = re.findall(rf'<span style="([^"]*)">{re.escape(label)}</span>', out.html)
        assert styles, label
        for style in styles:
            assert f"background-color:{BACKGROUND[severity]}" in style, (label, style)


def test_the_overview_lists_every_case_most_severe_first_linking_to_its_card() -> None:
    cases = [case("01", "re-key"), case("02", "likely-typo"), case("03", "registrable-domain-typo")]
    _, out = report(cases)
    rows = re.findall(r'<a href="#case-(\d+)"[^>]*>([^<]+)</a>', out.html)
    assert rows == [("1", "03.example"), ("2", "02.example"), ("3", "01.example")]
    for number in ("1", "2", "3"):
        assert f'id="case-{number}"' in out.html
    overview = out.text.split("Overview, most severe first")[1].split("What to do next")[0]
    assert re.findall(r"^ +\d\. \[(\w+)\] +(\S+)", overview, re.MULTILINE) == [
        ("error", "03.example"), ("warning", "02.example"), ("info", "01.example"),
    ]  # fmt: skip


def test_trend_and_operators_in_json_html_and_text() -> None:
    context, out = report([case("01", "likely-typo")])
    data = json.loads(out.json)
    assert len(data["trend"]) == 30
    assert data["trend"][0] == {"day": "2026-10-29", "early_revocations": 0, "revocations": 0}
    assert data["trend"][-1] == {"day": "2026-11-27", "early_revocations": 2, "revocations": 5}
    assert data["operators"] == [
        {"operator": "ra-operator-maria", "revocations": 30, "early_revocations": 3},
        {"operator": None, "revocations": 15, "early_revocations": 0},
    ]
    assert data["trend_note"] is None and data["operators_note"] is None
    assert data["need_review"] == 0
    # The text part states every day's numbers, the busiest day's bar the longest.
    assert re.search(r"^  2026-11-27 +2 +5  \*+#+$", out.text, re.MULTILINE)
    assert re.search(r"^  2026-11-20 +1 +40  \*#{39}$", out.text, re.MULTILINE)
    assert "3 early revocations of 45 revocations (6.7%)" in out.text
    assert re.search(r"ra-operator-maria +30 +3 +10%", out.text)
    assert "not recorded" in out.text and "not recorded" in out.html
    # The HTML chart: one cell per day, heights inline, the day's numbers in its title.
    bars = re.findall(r'<td title="(\d{4}-\d\d-\d\d): (\d+) early of (\d+)"', out.html)
    assert len(bars) == 30 and bars[-1] == ("2026-11-27", "2", "5")
    assert max(b.early_px + b.other_px for b in context.trend.bars) == 72  # the busiest fills it
    assert re.search(r'style="height:70px;line-height:70px;font-size:0;background-color:', out.html)
    assert context.trend.busiest == DayCount(date(2026, 11, 27), 5, 2)


def test_missing_activity_is_said_not_drawn() -> None:
    note = Activity(
        trend_note="could not be read: timeout", operator_note="who revoked is not stored"
    )
    _, out = report([case("01")], activity=note)
    data = json.loads(out.json)
    assert data["trend"] == [] and data["operators"] == []
    assert data["trend_note"] == "could not be read: timeout"
    for body in (out.html, out.text):
        assert "The 30-day trend is not available: could not be read: timeout." in body
        assert "who revoked is not stored." in body


def test_chart_scale_keeps_every_revocation_visible() -> None:
    days = fill_days({date(2026, 11, 26): (1000, 1), date(2026, 11, 27): (1, 0)}, UNTIL)
    chart = trend(days)
    tiny = chart.bars[-1]
    assert (tiny.other_px, tiny.early_px) == (1, 0)
    busy = chart.bars[-2]
    assert busy.early_px == 1 and busy.early_px + busy.other_px == 72
    assert text_bar(busy, 1000) == "*" + "#" * 39
    assert share(1, 3) == "33%" and share(1, 300) == "0.3%" and share(0, 0) == "—"
    assert span(UNTIL) == (datetime(2026, 10, 29, tzinfo=UTC), UNTIL)


def test_html_needs_no_style_element_and_loads_nothing() -> None:
    typo = case("01", "likely-typo")
    _, out = report([typo])
    html = out.html
    assert "<style" not in html.lower() and " class=" not in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert not re.search(r"<(img|link|script|iframe|object)\b", html, re.IGNORECASE)
    assert not re.search(r"url\(", html)
    # Every coloured element states its own text colour too (a dark mode inverts them as a pair).
    for style in re.findall(r'style="([^"]*background-color:[^"]*)"', html):
        if "font-size:0" not in style:  # chart bars hold no text
            assert re.search(r"(^|;)color:", style), style


def test_html_and_text_say_the_same_in_the_same_order() -> None:
    _, out = report([case("01", "likely-typo")])
    shared = [
        "What to do next", "Last 30 days: early revocations of all revocations",
        "Who revoked in the last 30 days", "Summary", "Cases, most severe first", "This run",
    ]  # fmt: skip
    html_at = [out.html.index(s) for s in ["none needs review", "Certificate →", *shared]]
    text_at = [out.text.index(s) for s in ["none needs review", "Overview, most", *shared]]
    assert html_at == sorted(html_at) and text_at == sorted(text_at)


def test_csv_gains_replacement_issued_and_worst_severity_and_an_optional_bom() -> None:
    original = case("01", "likely-typo")
    repl = replace(original.certificate, serial="02", issued_at=UNTIL - timedelta(minutes=30))
    with_repl = replace(original, replacement=repl)
    context, out = report([with_repl, case("03", severity=Severity.ERROR)])
    assert CSV_COLUMNS[-2:] == ("replacement_issued_at", "worst_severity")
    rows = list(csv.DictReader(io.StringIO(out.csv)))
    assert rows[0]["worst_severity"] == "error" and rows[0]["replacement_issued_at"] == ""
    assert rows[1]["replacement_issued_at"] == "2026-11-27T01:45:00+00:00"
    assert rows[1]["worst_severity"] == "warning"
    assert not out.csv.startswith(UTF8_BOM)
    with_bom = render(context, csv_bom=True).csv
    assert with_bom == UTF8_BOM + out.csv
    assert with_bom.encode("utf-8")[:3] == b"\xef\xbb\xbf"
    trimmed = without_columns(with_bom, ("sha256",))
    assert trimmed.startswith(UTF8_BOM + "issuer,serial,names")


@pytest.mark.parametrize(
    ("configured", "shown"),
    [
        ("revwatch@ca.example", "revwatch <revwatch@ca.example>"),
        ("CA Compliance <c@ca.example>", "CA Compliance <c@ca.example>"),
    ],
)
def test_the_sender_has_a_display_name(configured: str, shown: str) -> None:
    assert outputs.sender(configured) == shown


def test_the_attachment_name_carries_the_report_date() -> None:
    assert outputs.attachment("a,b\n", date(2026, 11, 27))[1] == "early-revocations-2026-11-27.csv"
    big = "x" * (outputs.GZIP_CSV_ABOVE + 1)
    assert outputs.attachment(big, date(2026, 11, 27))[1] == "early-revocations-2026-11-27.csv.gz"


def test_operator_order_and_filling() -> None:
    from jobs.core.activity import ranked

    rows = ranked({"b": (10, 1), None: (50, 1), "a": (10, 1), "c": (99, 0), "d": (1, 2)})
    assert [r.operator for r in rows] == ["d", None, "a", "b", "c"]
    assert len(fill_days({}, UNTIL)) == 30
