"""The demo's report as people read it: in a browser at phone and desktop widths, and in the README.

Renders `revwatch demo` (a fixed night) and loads report.html in headless Chromium at 400 px and
1280 px, as it is and with every <style> element removed (as many mail clients do): at 400 px
nothing may scroll sideways; at 1280 px every case of the night must be named within the first
900 px. The screenshots are kept as test artefacts (their directory is printed). The README's
sample output must be the demo's own text part, word for word.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.core.activity import Activity, DayCount, OperatorCount
from jobs.core.model import Case, Certificate, Finding, Revocation, Severity
from jobs.demo.dataset import generate
from jobs.demo.run import run_demo
from jobs.report.document import build_context, render
from tests.support import browser, readme_sample

NOW = readme_sample.NOW
FIRST_SCREEN_PX = 900
PHONE, DESKTOP = 400, 1280


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo-report")
    run = run_demo(out, NOW)
    assert run.received == 1
    report = json.loads((out / "report.json").read_text())
    return {
        "html": (out / "report.html").read_text(encoding="utf-8"),
        "text": (out / "report.txt").read_text(encoding="utf-8"),
        "json": report,
        "names": [
            case["names"][0] if case["names"] else case["subject"] for case in report["cases"]
        ],
    }


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "report-screenshots"
    folder.mkdir(exist_ok=True)
    print(f"\nreport screenshots: {folder}")
    return folder


def _variant(html: str, styles: bool) -> str:
    return html if styles else browser.without_styles(html)


@pytest.mark.parametrize("styles", [True, False], ids=["as-sent", "style-stripped"])
def test_no_sideways_scrolling_on_a_phone(
    demo: dict[str, Any], artefacts: Path, tmp_path: Path, styles: bool
) -> None:
    html = _variant(demo["html"], styles)
    found = browser.measure(html, PHONE, demo["names"], tmp_path)
    name = "with-style" if styles else "without-style"
    browser.screenshot(html, PHONE, 1800, artefacts / f"demo-{PHONE}-{name}.png")
    whole = browser.screenshot(
        html, PHONE, found["height"], artefacts / f"demo-{PHONE}-{name}-all.png"
    )
    print(f"{whole}: the whole page, {found['height']} px tall")
    assert found["viewport"] == PHONE
    assert found["styles"] == 0 or styles
    assert found["scroll_width"] <= PHONE, found
    assert found["widest_right"] <= PHONE + 0.5, found


@pytest.mark.parametrize("styles", [True, False], ids=["as-sent", "style-stripped"])
def test_every_case_is_named_on_the_first_screen(
    demo: dict[str, Any], artefacts: Path, tmp_path: Path, styles: bool
) -> None:
    html = _variant(demo["html"], styles)
    found = browser.measure(html, DESKTOP, demo["names"], tmp_path)
    name = "with-style" if styles else "without-style"
    browser.screenshot(html, DESKTOP, 1200, artefacts / f"demo-{DESKTOP}-{name}.png")
    assert len(demo["names"]) == len(generate(NOW).expected) == 8
    positions = {needle: found["found"][needle] for needle in demo["names"]}
    print(f"case names at {DESKTOP} px (top, bottom):", positions)
    for needle, where in positions.items():
        assert where is not None, f"{needle} is not shown"
        assert where["bottom"] <= FIRST_SCREEN_PX, (needle, where)
    assert found["scroll_width"] <= DESKTOP


def _hostile_case() -> Case:
    """A case whose every field is one long token: nothing for the browser to break at."""
    token = "x" * 90 + ".example"
    issuer = "CN=" + "Issuing-CA-" * 12
    revoked = NOW - timedelta(hours=3)
    cert = Certificate(
        issuer=issuer, serial="ab" * 20, subscriber="s" * 80, names=(token, "a" * 70 + ".test"),
        subject="CN=" + token, issued_at=revoked - timedelta(hours=1),
    )  # fmt: skip
    return Case(
        certificate=cert,
        revocation=Revocation(issuer, cert.serial, revoked, 0, "CN=" + "operator" * 15, "c" * 120),
        seconds_to_revocation=3600,
        findings=(Finding("diff.name.registrable_domain_typo", Severity.ERROR, "m" * 150),),
        labels=("registrable-domain-typo", "label-" + "z" * 60),
    )


def test_long_tokens_wrap_on_a_phone(tmp_path: Path) -> None:
    days = tuple(DayCount(date(2026, 10, 28) + timedelta(days=n), n * 40, n) for n in range(30))
    activity = Activity(days=days, operators=(OperatorCount("CN=" + "op" * 60, 9999, 999),))
    context = build_context(
        [_hostile_case()], since=NOW - timedelta(days=1), until=NOW,
        threshold_seconds=7 * 86400, now=NOW, source="postgresql://" + "h" * 120,
        activity=activity,
    )  # fmt: skip
    html = render(context).html
    for styles in (True, False):
        found = browser.measure(_variant(html, styles), PHONE, ["x" * 20], tmp_path)
        assert found["scroll_width"] <= PHONE, found
        assert found["widest_right"] <= PHONE + 0.5, found
        assert found["found"]["x" * 20] is not None


def test_the_readme_sample_is_the_demo_output(demo: dict[str, Any]) -> None:
    fresh = readme_sample.sample(demo["text"])
    assert readme_sample.in_readme() == fresh, (
        "README.md's sample of the demo's report drifted from what `revwatch demo` prints; "
        f"run `.venv/bin/python -m tests.support.readme_sample`, which writes:\n{fresh}"
    )


def test_the_demo_triage_subject_and_colours(demo: dict[str, Any]) -> None:
    report = demo["json"]
    assert report["need_review"] == 3
    assert [case["worst_severity"] for case in report["cases"]][:4] == [
        "error", "error", "error", "warning",
    ]  # fmt: skip
    assert demo["text"].splitlines()[3] == "3 of 8 early revocations need review"
    # The error label is red and the warning label amber, from the registry, everywhere.
    html = demo["html"]
    red, amber = "background-color:#b3261e", "background-color:#8a4b00"
    for label, colour in (("registrable-domain-typo", red), ("likely-typo", amber)):
        badges = re.findall(rf'<span style="([^"]*)">{label}</span>', html)
        assert badges and all(colour in style for style in badges), label
    assert "<style" not in html and 'name="viewport"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//(?!crt\.sh/)""", html)
    # The planted misissuance nobody revoked is the issuance watch's one suspicious issuance,
    # and the subject line puts it first.
    planted = generate(NOW).suspicious
    watched = report["suspicious_issuances"]
    assert [(s["issuer"], s["serial"], s["labels"]) for s in watched] == [
        (p["issuer"], p["serial"], p["labels"]) for p in planted
    ]
    assert demo["text"].splitlines()[4].startswith("1 suspicious issuance (issued in the window")
    early = sum(day["early_revocations"] for day in report["trend"])
    assert len(report["trend"]) == 30 and early == 8
    assert report["trend"][-1]["day"] == "2026-11-27"


def test_a_missing_browser_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        browser.chromium()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="Chromium"):
        browser.chromium()
