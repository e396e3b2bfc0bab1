"""Tests of jobs.report.document: the four renderings of a report, built from hand-made cases."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jinja2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jobs.core.activity import Activity, DayCount, OperatorCount
from jobs.core.model import (
    Case,
    CertDiff,
    Certificate,
    EditStep,
    Finding,
    NameChange,
    Revocation,
    Severity,
)
from jobs.report import document
from jobs.report.document import (
    CSV_COLUMNS,
    ReportContext,
    build_context,
    edit_text,
    environment,
    format_duration,
    format_utc,
    render,
)

ISSUER = "CN=Cualtis Issuing CA 1,O=Cualtis Trust,C=ES"
T0 = datetime(2026, 11, 25, 12, 17, tzinfo=UTC)
SINCE = datetime(2026, 11, 25, 2, 15, tzinfo=UTC)
UNTIL = datetime(2026, 11, 26, 2, 15, tzinfo=UTC)
HOSTILE_SCRIPT = "<script>alert(1)</script>"
# Thirty days ending with the window's last day (2026-11-26), as the source counts them.
ACTIVITY = Activity(
    days=tuple(
        DayCount(datetime(2026, 10, 28).date() + timedelta(days=n), 10 + n, n % 4)
        for n in range(30)
    ),
    operators=(OperatorCount("ra-officer-7", 120, 9), OperatorCount(None, 40, 2)),
)
HOSTILE_IMG = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_der(key: ec.EllipticCurvePrivateKey, serial: int, names: list[str]) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cualtis Issuing CA 1")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def seed(key: ec.EllipticCurvePrivateKey) -> Case:
    """The founding incident: mail.cuatis.net revoked after 4 h 38 min, replaced 23 min later."""
    revoked_at = T0 + timedelta(hours=4, minutes=38)
    cert = Certificate(
        issuer=ISSUER,
        serial="00:0A:1B:2C",
        subscriber="cust-0042",
        names=("mail.cuatis.net",),
        subject="CN=mail.cuatis.net",
        issued_at=T0,
        der=make_der(key, 0x0A1B2C, ["mail.cuatis.net"]),
    )
    repl = Certificate(
        issuer=ISSUER,
        serial="0a1b2d",
        subscriber="cust-0042",
        names=("mail.cualtis.net",),
        subject="CN=mail.cualtis.net",
        issued_at=revoked_at + timedelta(minutes=23),
        der=make_der(key, 0x0A1B2D, ["mail.cualtis.net"]),
    )
    change = NameChange(
        "mail.cuatis.net",
        "mail.cualtis.net",
        1,
        (
            EditStep("equal", "mail.cua", "mail.cua"),
            EditStep("insert", "", "l"),
            EditStep("equal", "tis.net", "tis.net"),
        ),
    )
    diff = CertDiff(
        added=("mail.cualtis.net",),
        removed=("mail.cuatis.net",),
        name_changes=(change,),
        subject_before=cert.subject,
        subject_after=repl.subject,
        key_reused=True,
        findings=(Finding("diff.name.typo", Severity.WARNING, "one letter inserted"),),
    )
    return Case(
        certificate=cert,
        revocation=Revocation(ISSUER, "0a1b2c", revoked_at, 4, "ra-officer-7", "typo in SAN"),
        seconds_to_revocation=4 * 3600 + 38 * 60,
        findings=(Finding("detect.revoked_early", Severity.INFO, "revoked within threshold"),),
        replacement=repl,
        replacement_reason="same subscriber, closest names",
        candidate_count=2,
        diff=diff,
        labels=("likely-typo",),
    )


def bare_case(serial: str, seconds: int | None, **revocation: object) -> Case:
    """A case with every optional field left empty, as detection alone would produce."""
    rev = Revocation(ISSUER, serial, T0 + timedelta(hours=1), **revocation)  # type: ignore[arg-type]
    return Case(Certificate(issuer=ISSUER, serial=serial), rev, seconds)


def context(cases: list[Case], **kwargs: object) -> ReportContext:
    args: dict[str, object] = {
        "since": SINCE,
        "until": UNTIL,
        "threshold_seconds": 7 * 86400,
        "now": UNTIL,
        "source": "ca-db.internal/ejbca",
        "run_id": "run-1",
    }
    args.update(kwargs)
    return build_context(cases, **args)  # type: ignore[arg-type]


INS = r'<ins style="[^"<>]*background-color:[^"<>]*">'


def test_seed_case_highlights_the_typo_in_every_format(seed: Case) -> None:
    out = render(context([seed]))
    # The edit highlight is styled inline: a client that strips <style> still shows it.
    assert re.search("mail.cua" + INS + "l</ins>tis.net", out.html)
    assert "mail.cua[+l]tis.net" in out.text
    assert "4 h 38 min" in out.html and "4 h 38 min" in out.text
    assert "23 min after the revocation" in out.text
    assert "23 min after the revocation" in out.html
    assert out.subject == "[revwatch] 0 need review, 1 early revocation, 2026-11-26"
    for cert in (seed.certificate, seed.replacement):
        assert cert is not None and cert.der is not None
        url = f"https://crt.sh/?sha256={hashlib.sha256(cert.der).hexdigest()}"
        assert f'href="{url}"' in out.html
        assert url in out.text
    assert "2026-11-25 12:17 UTC" in out.html
    assert "a1b2c" in out.html and "00:0A:1B:2C" not in out.html
    # The reason carries its own candidate count (enrich writes it); the report adds nothing.
    assert "Why this one:  same subscriber, closest names\n" in out.text
    assert "[warning] diff.name.typo: one letter inserted" in out.text
    assert "ra-officer-7" in out.html and "superseded" in out.html
    assert '">likely-typo</span>' in out.html


def test_hostile_fields_are_escaped_in_html(seed: Case) -> None:
    cert = replace(
        seed.certificate,
        subject=HOSTILE_SCRIPT,
        names=(HOSTILE_IMG, 'it\'s "quoted"'),
        subscriber=HOSTILE_SCRIPT,
    )
    rev = replace(seed.revocation, revoked_by=HOSTILE_IMG, comment=HOSTILE_SCRIPT)
    change = NameChange(HOSTILE_IMG, "<b>x</b>", 3, (EditStep("insert", "", "<b>x</b>"),))
    assert seed.diff is not None
    case = replace(
        seed,
        certificate=cert,
        revocation=rev,
        labels=(HOSTILE_IMG,),
        replacement_reason=HOSTILE_SCRIPT,
        diff=replace(seed.diff, name_changes=(change,), added=(HOSTILE_IMG,)),
        findings=(Finding("x.y", Severity.ERROR, HOSTILE_IMG),),
    )
    out = render(context([case], source=HOSTILE_SCRIPT, run_id=HOSTILE_IMG))
    for raw in (HOSTILE_SCRIPT, HOSTILE_IMG, "<img", "<b>x</b>", 'it\'s "quoted"'):
        assert raw not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out.html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in out.html
    assert re.search(INS + "&lt;b&gt;x&lt;/b&gt;</ins>", out.html)
    assert "it&#39;s &#34;quoted&#34;" in out.html
    # The text body is not HTML: it shows the field as written, with no markup of our own.
    assert HOSTILE_SCRIPT in out.text
    assert json.loads(out.json)["cases"][0]["subject"] == HOSTILE_SCRIPT


def test_control_and_bidi_characters_cannot_forge_lines(seed: Case) -> None:
    forged = "evil.example\nRevoked by:      nobody\u202e"
    case = replace(seed, certificate=replace(seed.certificate, names=(forged,)))
    out = render(context([case]))
    assert "\nRevoked by:      nobody" not in out.text
    assert "evil.example\\u000aRevoked by:      nobody\\u202e" in out.text
    assert "\u202e" not in out.html


def test_edit_steps_in_text() -> None:
    steps = (
        EditStep("equal", "ab", "ab"),
        EditStep("delete", "x", ""),
        EditStep("substitute", "c", "d"),
        EditStep("transpose", "ef", "fe"),
    )
    assert edit_text(NameChange("abxcef", "abdfe", 3, steps)) == "ab[-x][c->d][ef<>fe]"
    # Without an alignment the whole name reads as replaced, never as empty.
    assert edit_text(NameChange("a.com", "b.com", 1)) == "[a.com->b.com]"


def test_json_has_the_contract_keys_and_types(seed: Case) -> None:
    data = json.loads(render(context([seed, bare_case("ff", 60)], already_reported=3)).json)
    contract = [
        "generated_at", "source", "run_id", "window", "threshold_seconds",
        "already_reported", "summary", "cases",
    ]  # fmt: skip
    assert [key for key in data if key in contract] == contract  # names and order kept
    assert {"need_review", "trend", "operators"} <= set(data)
    assert data["window"] == {"since": "2026-11-25T02:15:00+00:00", "until": UNTIL.isoformat()}
    assert data["generated_at"] == "2026-11-26T02:15:00+00:00"
    assert (data["threshold_seconds"], data["already_reported"]) == (604800, 3)
    assert (data["source"], data["run_id"]) == ("ca-db.internal/ejbca", "run-1")
    first, second = data["cases"]
    assert seed.certificate.der is not None
    assert first["sha256"] == hashlib.sha256(seed.certificate.der).hexdigest()
    assert first["serial"] == "a1b2c"
    assert first["issuer"] == ISSUER
    assert first["names"] == ["mail.cuatis.net"]
    assert first["issued_at"] == "2026-11-25T12:17:00+00:00"
    assert first["revoked_at"] == "2026-11-25T16:55:00+00:00"
    assert first["seconds_to_revocation"] == 16680
    assert (first["reason"], first["reason_code"]) == ("superseded", 4)
    assert first["replacement"]["serial"] == "a1b2d"
    assert set(first["replacement"]) >= {"serial", "sha256", "names", "issued_at", "subject"}
    assert first["candidate_count"] == 2 and first["key_reused"] is True
    assert first["name_changes"] == [
        {
            "before": "mail.cuatis.net",
            "after": "mail.cualtis.net",
            "distance": 1,
            "edit": [
                {"op": "equal", "before": "mail.cua", "after": "mail.cua"},
                {"op": "insert", "before": "", "after": "l"},
                {"op": "equal", "before": "tis.net", "after": "tis.net"},
            ],
        }
    ]
    assert first["labels"] == ["likely-typo"]
    assert first["findings"][1] == {
        "code": "diff.name.typo",
        "severity": "warning",
        "message": "one letter inserted",
    }
    # The bare case: absent values are JSON null or empty lists, never the string "None".
    assert second["sha256"] is None and second["replacement"] is None
    assert second["revoked_by"] is None and second["reason"] == "unspecified"
    assert second["name_changes"] == [] and second["labels"] == [] and second["key_reused"] is None
    assert data["summary"]["total"] == 2


def test_csv_parses_one_row_per_case_and_defuses_formulas(seed: Case) -> None:
    evil = replace(
        bare_case("0b", 120, revoked_by="@SUM(1+1)", comment="+cmd|' /C calc'!A0"),
        certificate=Certificate(
            issuer=ISSUER,
            serial="0b",
            names=("-2+3.example",),
            subject='=HYPERLINK("http://x","y")',
            subscriber="\tTAB",
        ),
    )
    rows = list(csv.DictReader(io.StringIO(render(context([seed, evil])).csv)))
    assert len(rows) == 2
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["serial"] == "a1b2c"
    assert rows[0]["names"] == "mail.cuatis.net"
    assert rows[0]["name_changes"] == "mail.cuatis.net>mail.cualtis.net(1)"
    assert rows[0]["revoked_at"] == "2026-11-25T16:55:00+00:00"
    assert rows[0]["seconds_to_revocation"] == "16680"
    assert rows[0]["replacement_serial"] == "a1b2d"
    assert rows[1]["subject"] == '\'=HYPERLINK("http://x","y")'
    assert rows[1]["revoked_by"] == "'@SUM(1+1)"
    assert rows[1]["comment"] == "'+cmd|' /C calc'!A0"
    assert rows[1]["names"] == "'-2+3.example"
    assert rows[1]["subscriber"] == "'\tTAB"
    assert rows[1]["sha256"] == "" and rows[1]["issued_at"] == ""


def test_quiet_night_says_so_and_names_the_window() -> None:
    out = render(context([], already_reported=2, threshold_seconds=86400))
    assert out.subject == "[revwatch] quiet night: no early revocations, 2026-11-26"
    for body in (out.html, out.text):
        assert "No early revocations in this window" in body
        assert "2026-11-25 02:15 UTC to 2026-11-26 02:15 UTC" in body
        assert "1 d" in body and "ca-db.internal/ejbca" in body
        assert "2 cases in this window" in body
    assert json.loads(out.json)["cases"] == []
    assert out.csv.strip() == ",".join(CSV_COLUMNS)


def test_absent_values_never_print_none_or_nan() -> None:
    nan_case = bare_case("0c", None, comment=float("nan"), revoked_by=None)
    out = render(context([nan_case, bare_case("0d", 30)], source="", run_id=None))
    for body in (out.html, out.text, out.csv):
        assert not re.search(r"\bNone\b", body)
        assert not re.search(r"\bnan\b", body)
    assert "unknown" in out.text and "—" in out.text
    assert json.loads(out.json)["cases"][1]["comment"] is None


def test_summary_counts_and_order_agree_across_outputs(seed: Case) -> None:
    other_ca = "CN=Other CA"
    cases = [
        bare_case("01", 3600, reason_code=1, revoked_by="alice"),
        replace(bare_case("02", None, revoked_by="alice"), labels=("replaced",)),
        replace(
            bare_case("03", 60, reason_code=1),
            certificate=Certificate(issuer=other_ca, serial="03"),
            labels=("replaced", "names-changed"),
        ),
        seed,
    ]
    ctx = context(cases, already_reported=4)
    s = ctx.summary
    assert s.total == 4 and s.with_replacement == 1
    assert s.by_reason == (("keyCompromise", 2), ("superseded", 1), ("unspecified", 1))
    assert s.by_operator == (("alice", 2), ("ra-officer-7", 1), ("unknown", 1))
    assert s.by_issuer == ((ISSUER, 3), (other_ca, 1))
    assert s.by_label == (("replaced", 2), ("likely-typo", 1), ("names-changed", 1))
    # likely-typo first, then shortest time to revocation, unknown time last.
    assert [c.revocation.serial for c in ctx.shown] == ["0a1b2c", "03", "01", "02"]
    out = render(ctx)
    data = json.loads(out.json)
    assert [c["serial"] for c in data["cases"]] == ["a1b2c", "3", "1", "2"]
    assert [r["serial"] for r in csv.DictReader(io.StringIO(out.csv))] == ["a1b2c", "3", "1", "2"]
    assert data["summary"]["by_operator"] == {"alice": 2, "ra-officer-7": 1, "unknown": 1}
    cards = re.findall(r'id="case-(\d+)".*?<strong>([^<]+)</strong>', out.html, re.DOTALL)
    assert cards[0] == ("1", "mail.cuatis.net") and len(cards) == 4
    headings = re.findall(r"^\d\. (\S+) revoked", out.text, re.MULTILINE)
    assert headings[0] == "mail.cuatis.net" and len(headings) == 4
    for body in (out.html, out.text):
        assert "revoked, time since issuance unknown" in body
        assert "keyCompromise: 2" in body and "alice: 2" in body and "unknown: 1" in body
    assert "Already reported:  4" in out.text


def test_text_body_has_no_markup_and_fits_80_columns(seed: Case) -> None:
    long_subject = "CN=" + "x" * 150 + ", O=" + "y " * 80
    case = replace(seed, certificate=replace(seed.certificate, subject=long_subject))
    text = render(context([case], activity=ACTIVITY)).text
    # A URL cannot wrap; it stands alone on its line.
    lines = [line for line in text.splitlines() if not line.strip().startswith("https://")]
    assert max(len(line) for line in lines) <= 80
    assert not re.search(r"</?(ins|del|td|tr|span|a)\b", text)
    assert sum(len(run) for run in re.findall("x{10,}", text)) == 150  # wrapped, not cut


def test_replacement_issued_before_revocation_reads_before(seed: Case) -> None:
    assert seed.replacement is not None
    early = replace(seed.replacement, issued_at=seed.revocation.revoked_at - timedelta(minutes=5))
    out = render(context([replace(seed, replacement=early)]))
    assert "5 min before the revocation" in out.text
    assert json.loads(out.json)["cases"][0]["replacement_delay_seconds"] == -300


def test_strict_undefined_and_autoescape_are_on(seed: Case) -> None:
    env = environment()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ report.no_such_field }}").render(report=context([seed]))
    assert env.get_template("report.html").render(report=context([])).startswith("<!DOCTYPE")
    autoescape = env.autoescape
    assert callable(autoescape)
    assert autoescape("report.html") is True and autoescape("report.txt") is False


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (16680, "4 h 38 min"),
        (1380, "23 min"),
        (2 * 86400 + 3 * 3600 + 59, "2 d 3 h"),
        (7 * 86400, "7 d"),
        (3600, "1 h"),
        (45, "45 s"),
        (None, "unknown"),
        (float("nan"), "unknown"),
    ],
)
def test_format_duration(seconds: int | None, words: str) -> None:
    assert format_duration(seconds) == words


def test_format_utc_converts_offsets() -> None:
    cet = datetime(2026, 11, 25, 13, 17, tzinfo=UTC).astimezone()
    assert format_utc(cet) == "2026-11-25 13:17 UTC"
    assert format_utc(None) == "unknown"


def test_build_context_rejects_nonsense_windows() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        context([], since=UNTIL, until=SINCE)
    with pytest.raises(ValueError, match="timezone-aware"):
        context([], now=datetime(2026, 11, 26))


def test_enriched_golden_cases_show_edits_domain_subject_typo_and_reason() -> None:
    # Real enrichment of two golden cases (tests/golden/enrich), rendered: the founding incident
    # (registrable-domain typo) and a typo in the subject's O attribute, from real DER.
    from tests.support.golden_rows import GOLDEN, load, run_golden

    cases = [
        run_golden(load(GOLDEN / name)[0])
        for name in ("insertion-cuatis", "subject-organisation-typo")
    ]
    revoked = cases[0].revocation.revoked_at
    out = render(
        build_context(
            cases,
            since=revoked - timedelta(days=1),
            until=revoked + timedelta(days=1),
            threshold_seconds=7 * 86400,
            now=revoked + timedelta(days=1),
        )
    )
    words = " ".join(out.text.split())  # the text wraps at 80 columns
    assert (
        "Name change: mail.cuatis.net -> mail.cua[+l]tis.net "
        "(edit distance 1, registrable domain)" in words
    )
    assert "Subject typo: O: CUATIS S.L.U -> CUA[+L]TIS S.L.U (edit distance 1)" in words
    assert (
        "Why this one: same subscriber, 1 of 1 names within distance 1, issued 23 min after "
        "revocation; 1 candidate" in " ".join(out.text.split())  # the text wraps it
    )
    assert re.search("mail.cua" + INS + "l</ins>tis.net", out.html)
    assert "registrable domain</strong>" in out.html
    assert re.search("<code[^>]*>CUA" + INS + "L</ins>TIS S.L.U</code>", out.html)
    assert "[error] diff.name.registrable_domain_typo" in words
    assert out.subject.startswith("[revwatch] 1 need review, 2 early revocations, ")


def test_a_mass_revocation_night_shows_the_most_severe_in_full_and_all_in_the_csv() -> None:
    from jobs.enrich.enrichment import registrable_domains
    from jobs.report.document import FULL_CASES

    cases = [
        replace(
            bare_case(format(0x1000 + n, "x"), 3600 + n),
            certificate=Certificate(
                issuer=ISSUER, serial=format(0x1000 + n, "x"),
                names=(f"www.shop{n % 7}.co.uk",),
            ),
            # Enrichment fills each case's registrable domains (Public Suffix List).
            domains=registrable_domains([f"www.shop{n % 7}.co.uk"]),
        )
        for n in range(FULL_CASES + 50)
    ]  # fmt: skip
    severe = replace(
        bare_case("dead", 6 * 86400),
        findings=(Finding("diff.name.registrable_domain_typo", Severity.ERROR, "typo"),),
    )
    ctx = context([*cases, severe])
    out = render(ctx)
    assert len(ctx.shown) == FULL_CASES and ctx.shown[0] is severe  # error findings first
    notice = f"This window holds {FULL_CASES + 51} early revocations"
    assert notice in out.text and "<strong>" + str(FULL_CASES + 51) in out.html
    assert out.text.count("revoked, ") == FULL_CASES
    assert len(list(csv.DictReader(io.StringIO(out.csv)))) == FULL_CASES + 51
    document = json.loads(out.json)
    assert len(document["cases"]) == FULL_CASES + 51
    assert document["summary"]["by_domain"]["shop0.co.uk"] == 36  # PSL: co.uk is a suffix
    assert "By registrable domain" in out.text


def test_a_quiet_night_shows_everything_and_no_notice() -> None:
    ctx = context([bare_case("a1", 60)])
    assert len(ctx.shown) == ctx.summary.total == 1 and "This window holds" not in render(ctx).text


def test_report_json_is_made_only_when_read(seed: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    # A mass night's report.json is hundreds of MB and only --out writes it: a mailed night must
    # not pay for it. Made once on first read, then kept; the same bytes as to_json's.
    made: list[int] = []
    real = document.to_json
    monkeypatch.setattr(document, "to_json", lambda c: made.append(1) or real(c))
    the_context = context([seed, bare_case("ff", 60)])
    rendered = render(the_context)
    assert made == [] and rendered.html and rendered.csv
    first = rendered.json
    assert made == [1] and rendered.json is first
    assert first == real(the_context)
    assert json.loads(first)["summary"]["total"] == 2
