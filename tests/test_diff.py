"""Tests for jobs.enrich.diff: distance, alignment, duration wording, name pairing and the rules."""

from __future__ import annotations

import ast
import inspect
import itertools
import random
from functools import cache

import pytest

from jobs.core import codes
from jobs.core.codes import Code
from jobs.core.model import Certificate, EditStep, Finding, Severity
from jobs.enrich import diff as diff_module
from jobs.enrich import judge as judge_module
from jobs.enrich import rules as rules_module
from jobs.enrich import values
from jobs.enrich.diff import (
    MAX_PAIRABLE_LENGTH,
    RULES,
    Comparison,
    DiffFinding,
    alignment,
    diff_certificates,
    edit_distance,
    format_duration,
    format_relative,
    pair_names,
    render_edit,
    split_names,
)


def cert(
    serial: str,
    names: tuple[str, ...],
    *,
    subject: str | None = None,
    spki: str | None = None,
) -> Certificate:
    return Certificate(
        issuer="Example CA", serial=serial, names=names, subject=subject, spki_sha256=spki
    )


def reference_distance(a: str, b: str) -> int:
    """An independent, recursive statement of optimal string alignment."""

    @cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        best = min(
            d(i - 1, j) + 1,
            d(i, j - 1) + 1,
            d(i - 1, j - 1) + (a[i - 1] != b[j - 1]),
        )
        if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
            best = min(best, d(i - 2, j - 2) + 1)
        return best

    return d(len(a), len(b))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("", "abc", 3),
        ("abc", "", 3),
        ("mail.cuatis.net", "mail.cualtis.net", 1),
        ("exmaple", "example", 1),
        ("rn", "m", 2),
        ("paypa1", "paypal", 1),
        ("g0od", "good", 1),
        ("kitten", "sitting", 3),
        # Optimal string alignment never edits a transposed pair again: 3, not DL's 2.
        ("ca", "abc", 3),
    ],
)
def test_edit_distance_known_values(a: str, b: str, expected: int) -> None:
    assert edit_distance(a, b) == expected


def test_alignment_puts_the_missing_letter_where_a_human_would() -> None:
    steps = alignment("mail.cuatis.net", "mail.cualtis.net")
    assert steps == (
        EditStep("equal", "mail.cua", "mail.cua"),
        EditStep("insert", "", "l"),
        EditStep("equal", "tis.net", "tis.net"),
    )
    assert render_edit(steps) == "mail.cua[+l]tis.net"


@pytest.mark.parametrize(
    ("a", "b", "rendered"),
    [
        ("exmaple", "example", "ex[ma->am]ple"),
        ("rn.example", "m.example", "[r->m][-n].example"),
        ("example", "examplee", "example[+e]"),
        ("shopp.example", "shop.example", "shop[-p].example"),
        ("app1e", "apple", "app[1->l]e"),
        ("same", "same", "same"),
        ("", "ab", "[+a][+b]"),
    ],
)
def test_alignment_renderings(a: str, b: str, rendered: str) -> None:
    assert render_edit(alignment(a, b)) == rendered


def test_transposition_is_one_step() -> None:
    steps = alignment("www.exmaple.com", "www.example.com")
    assert [s.op for s in steps] == ["equal", "transpose", "equal"]
    assert steps[1] == EditStep("transpose", "ma", "am")


def _apply(steps: tuple[EditStep, ...]) -> tuple[str, str]:
    return "".join(s.before for s in steps), "".join(s.after for s in steps)


def test_distance_and_alignment_properties_on_random_strings() -> None:
    rng = random.Random(20240305)
    for _ in range(1500):
        a = "".join(rng.choice("abc.") for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice("abc.") for _ in range(rng.randint(0, 7)))
        distance = edit_distance(a, b)
        assert distance == edit_distance(b, a), (a, b)
        assert distance == reference_distance(a, b), (a, b)
        steps = alignment(a, b)
        assert _apply(steps) == (a, b), (a, b, steps)
        assert sum(s.op != "equal" for s in steps) == distance, (a, b, steps)
        assert steps == alignment(a, b)
        for first, second in itertools.pairwise(steps):
            assert not (first.op == second.op == "equal"), (a, b, steps)
        for step in steps:
            if step.op == "equal":
                assert step.before == step.after
            elif step.op == "transpose":
                assert step.before == step.after[::-1] and step.before != step.after
            elif step.op == "substitute":
                assert len(step.before) == len(step.after) == 1 and step.before != step.after


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (23 * 60 + 59, "23 min"),
        (3600, "1 h"),
        (4 * 3600 + 38 * 60 + 12, "4 h 38 min"),
        (86400, "1 d"),
        (2 * 86400 + 3 * 3600 + 59 * 60, "2 d 3 h"),
        (-7200, "-2 h"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_relative() -> None:
    assert format_relative(23 * 60) == "23 min after revocation"
    assert format_relative(-7200) == "2 h before revocation"
    assert format_relative(0) == "at revocation"
    assert format_relative(90, "issuance") == "1 min after issuance"


def test_split_names_is_case_insensitive_and_keeps_order() -> None:
    kept, added, removed = split_names(
        ["B.example", "a.example", "gone.example", "a.example"],
        ["new.example", "A.EXAMPLE", "b.example"],
    )
    assert kept == ("B.example", "a.example")
    assert added == ("new.example",)
    assert removed == ("gone.example",)


def test_pairing_is_greedy_by_smallest_distance_and_uses_each_name_once() -> None:
    # wa's closest is www (2), but www1 is closer still (1) and takes it; wa gets shop.
    changes = pair_names(["wa.example", "www1.example"], ["www.example", "shop.example"])
    assert [(c.before, c.after, c.distance) for c in changes] == [
        ("wa.example", "shop.example", 4),
        ("www1.example", "www.example", 1),
    ]


def test_pairing_ties_go_to_earlier_names() -> None:
    changes = pair_names(["a1", "a2"], ["a3", "a4"])
    assert [(c.before, c.after) for c in changes] == [("a1", "a3"), ("a2", "a4")]


def _naive_greedy(removed: list[str], added: list[str]) -> list[tuple[int, int, int]]:
    pairs = sorted(
        (edit_distance(r, a), i, j) for i, r in enumerate(removed) for j, a in enumerate(added)
    )
    used_i: set[int] = set()
    used_j: set[int] = set()
    out = []
    for dist, i, j in pairs:
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            out.append((i, j, dist))
    return sorted(out)


def test_lazy_pairing_matches_naive_greedy_on_random_names() -> None:
    rng = random.Random(7)
    for _ in range(300):
        removed = ["".join(rng.choice("ab") for _ in range(rng.randint(1, 5))) for _ in range(4)]
        added = ["".join(rng.choice("ab") for _ in range(rng.randint(1, 5))) for _ in range(3)]
        got = pair_names(removed, added)
        expected = _naive_greedy(removed, added)
        assert [(c.before, c.after, c.distance) for c in got] == [
            (removed[i], added[j], d) for i, j, d in expected
        ]


def test_hostile_overlong_names_are_not_paired() -> None:
    long_name = "a" * (MAX_PAIRABLE_LENGTH + 1)
    assert pair_names([long_name], ["a.example"]) == ()
    diff = diff_certificates(cert("1", (long_name,)), cert("2", ("a.example",)))
    # Over 253 octets it is no DNS name either.
    assert {f.code for f in diff.findings} == {
        "diff.name.added",
        "diff.name.removed",
        "diff.name.invalid",
    }


def test_diff_of_the_founding_incident() -> None:
    revoked = cert("1", ("mail.cuatis.net",), subject="CN=mail.cuatis.net", spki="ab" * 32)
    replacement = cert("2", ("mail.cualtis.net",), subject="CN=mail.cualtis.net", spki="cd" * 32)
    diff = diff_certificates(revoked, replacement)
    assert diff.kept == ()
    assert diff.removed == ("mail.cuatis.net",)
    assert diff.added == ("mail.cualtis.net",)
    assert len(diff.name_changes) == 1
    change = diff.name_changes[0]
    assert (change.before, change.after, change.distance) == (
        "mail.cuatis.net",
        "mail.cualtis.net",
        1,
    )
    assert render_edit(change.edit) == "mail.cua[+l]tis.net"
    assert diff.subject_before == "CN=mail.cuatis.net"
    assert diff.subject_after == "CN=mail.cualtis.net"
    assert diff.key_reused is False
    by_code = {f.code: f for f in diff.findings}
    assert set(by_code) == {
        "diff.name.registrable_domain_typo",
        "diff.subject.changed",
        "diff.key.changed",
    }
    typo = by_code["diff.name.registrable_domain_typo"]
    assert typo.severity is Severity.ERROR
    assert "mail.cuatis.net" in typo.message and "mail.cualtis.net" in typo.message
    assert "mail.cua[+l]tis.net" in typo.message
    assert "from cuatis.net to cualtis.net" in typo.message
    # The finding carries its evidence, so a report can highlight the edit.
    assert isinstance(typo, DiffFinding) and typo.change == change and typo.field == "name"
    # The CN typo is the SAN typo already reported: no second warning for the subject.
    assert "CN 'mail.cuatis.net' -> 'mail.cualtis.net'" in by_code["diff.subject.changed"].message


def test_a_subdomain_typo_is_a_likely_typo_not_a_registrable_domain_one() -> None:
    diff = diff_certificates(cert("1", ("wwww.cualtis.net",)), cert("2", ("www.cualtis.net",)))
    [typo] = [f for f in diff.findings if f.code.startswith("diff.name.")]
    assert typo.code == "diff.name.likely_typo" and typo.severity is Severity.WARNING
    assert "subdomain label" in typo.message and "www[-w].cualtis.net" in typo.message


def test_diff_identical_names_key_reused_and_unknown_key() -> None:
    same = diff_certificates(
        cert("1", ("a.example", "b.example"), spki="AB" * 32),
        cert("2", ("B.example", "a.example"), spki="ab" * 32),
    )
    assert same.key_reused is True
    assert {f.code for f in same.findings} == {"diff.identical_names", "diff.key.reused"}
    unknown = diff_certificates(
        cert("1", ("a.example",), spki="ab" * 32), cert("2", ("a.example",))
    )
    assert unknown.key_reused is None
    assert {f.code for f in unknown.findings} == {"diff.identical_names"}


def test_added_and_removed_findings_name_the_names() -> None:
    diff = diff_certificates(
        cert("1", ("keep.example", "legacy.example")),
        cert("2", ("keep.example", "brand-new-service.example", "www.keep.example")),
    )
    by_code = {f.code: f for f in diff.findings}
    assert "legacy.example" in by_code["diff.name.removed"].message
    added = by_code["diff.name.added"].message
    assert "brand-new-service.example" in added and "www.keep.example" in added
    assert "diff.name.likely_typo" not in by_code


def test_a_failing_rule_becomes_an_error_finding() -> None:
    def exploding_rule(comparison: Comparison) -> list[Finding]:
        raise ZeroDivisionError("boom")

    diff = diff_certificates(
        cert("1", ("a.example",)),
        cert("2", ("a.example",)),
        rules=(exploding_rule, *RULES),
    )
    failed = [f for f in diff.findings if f.code == "diff.rule_failed"]
    assert len(failed) == 1
    assert failed[0].severity is Severity.ERROR
    assert "exploding_rule" in failed[0].message
    assert "ZeroDivisionError: boom" in failed[0].message
    assert "Example CA serial 1" in failed[0].message
    # The other rules still ran.
    assert "diff.identical_names" in {f.code for f in diff.findings}


def test_every_rule_survives_hostile_records() -> None:
    # Unreadable DNs, absurd names, missing everything: findings, never an exception.
    odd = Certificate(issuer="", serial="0", names=("", ".", "*", "xn--", "a" * 300, "::1"))
    other = Certificate(issuer="x", serial="1", subject="not a dn", names=("xn--zz--.com", "@"))
    diff = diff_certificates(odd, other)
    assert "diff.rule_failed" not in {f.code for f in diff.findings}


def test_rules_and_codes_are_consistent() -> None:
    names = [getattr(rule, "__name__", "") for rule in RULES]
    assert len(set(names)) == len(names)
    # The registry constants the diff modules use are the codes the diff can emit.
    used = {
        node.attr
        for module in (diff_module, rules_module, judge_module)
        for node in ast.walk(ast.parse(inspect.getsource(module)))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "codes"
    }
    emitted = {found.code for found in (getattr(codes, n) for n in used) if isinstance(found, Code)}
    assert emitted and all(code.startswith("diff.") for code in emitted)


def test_the_banded_table_gives_the_full_tables_alignment() -> None:
    """alignment() computes only the band |i - j| <= distance; the backtrace must not change."""
    from jobs.enrich import alignment as module

    def full(a: str, b: str) -> tuple[EditStep, ...]:
        original = module._table
        module._table = lambda x, y, band=None: original(x, y)  # type: ignore[assignment]
        try:
            return module.alignment(a, b)
        finally:
            module._table = original  # type: ignore[assignment]

    rng = random.Random(20261127)
    for _ in range(3000):
        a = "".join(rng.choice("abm.rn") for _ in range(rng.randrange(0, 10)))
        b = "".join(rng.choice("abm.rn") for _ in range(rng.randrange(0, 10)))
        if rng.random() < 0.7 and a:  # mostly near-misses, as in real typos
            k = rng.randrange(len(a))
            b = a[:k] + rng.choice(["", "m", "rn", a[k : k + 2][::-1]]) + a[k + 1 :]
        assert module.alignment(a, b) == full(a, b), (a, b)


@pytest.mark.parametrize(
    ("before", "after", "dns", "kind"),
    [
        ("-api.example-kunde.de", "shop-api.example-kunde.de", True, values.TRUNCATED),
        ("https://www.example.jp", "www.example.jp", True, values.EXTRA_TEXT),
        (".portal.example-bank.ch", "portal.example-bank.ch", True, values.EXTRA_TEXT),
        ("mail.example.co", "mail.example.com", True, values.TRUNCATED),
        ("2153", "21532", False, values.TRUNCATED),
        ("1260 Nyon", "1260", False, values.EXTRA_TEXT),
        ("Tokyo, C=JP", "Tokyo", False, values.EXTRA_TEXT),
        ("TOKYO, C=JP", "Tokyo", False, values.EXTRA_TEXT),  # case does not matter
        # Whole labels gained or lost: another name (parent, child), not a cut or padded one.
        ("example.com", "www.example.com", True, None),
        ("www.example.com", "example.com", True, None),
        ("mail.example.com", "mail.example.com.au", True, None),
        # A typo is not a part of the other name; a doubled letter is a typo too.
        ("mail.cuatis.net", "mail.cualtis.net", True, None),
        ("wwww.cualtis.net", "www.cualtis.net", True, None),
        ("ww.cualtis.net", "www.cualtis.net", True, None),
        # IP addresses are other addresses; lone metadata is a placeholder, not a cut value.
        ("192.0.2.10", "192.0.2.1", True, None),
        ("-", "Saint-Gall", False, None),
        ("Madrid", "Madrid", False, None),
    ],
)
def test_value_relations(before: str, after: str, dns: bool, kind: str | None) -> None:
    assert values.relation(before, after, dns=dns) == kind


@pytest.mark.parametrize(
    ("attribute", "value", "source"),
    [
        ("ST", "Some-State", "OpenSSL's default openssl.cnf"),
        ("O", "Internet Widgits Pty Ltd", "OpenSSL's default openssl.cnf"),
        ("L", "Default City", "the openssl.cnf of Red Hat, Fedora and CentOS"),
        ("C", "XX", "the openssl.cnf of Red Hat, Fedora and CentOS"),
        ("OU", " n/a ", "CA/B Forum BR 7.1.4.3"),
        ("O", "NA", "CA/B Forum BR 7.1.4.3"),
        ("C", "NA", None),  # Namibia
        ("L", "...", "CA/B Forum BR 7.1.4.3, metadata only"),
        ("ST", "Vaud", None),
        ("O", "Unknown Pleasures Ltd", None),
    ],
)
def test_placeholders(attribute: str, value: str, source: str | None) -> None:
    assert values.placeholder_source(attribute, value) == source


def test_every_placeholder_source_is_named_with_its_address() -> None:
    import tomllib
    from importlib import resources

    text = resources.files("jobs.enrich").joinpath("placeholders.toml").read_text("utf-8")
    sources = tomllib.loads(text)["source"]
    assert len(sources) >= 4
    for source in sources:
        assert source["name"] and source["url"].startswith("https://") and source["values"]


def test_a_name_without_registrable_domain_is_no_registrable_domain_typo() -> None:
    # Before: an error "the registrable domain changed from None to example-bank.ch".
    diff = diff_certificates(
        cert("1", (".portal.example-bank.ch",)), cert("2", ("portal.example-bank.ch",))
    )
    found = {f.code: f for f in diff.findings}
    assert "diff.name.registrable_domain_typo" not in found
    assert "a typo in the name" in found["diff.name.likely_typo"].message
    assert {"diff.name.invalid", "diff.value.extra_text"} <= set(found)
    assert "diff.name.added" not in found and "diff.name.removed" not in found


def test_no_message_shows_none() -> None:
    # Missing subjects, keys known only from DER, names without a registrable domain.
    pairs = [
        (cert("1", ("a.example",)), cert("2", ("a.example",), subject="CN=a.example")),
        (cert("1", (".a.example",), spki="ab"), cert("2", ("a.example",), spki="ab")),
        (cert("1", ("co.uk",)), cert("2", ("example.co.uk",))),
        (cert("1", ("192.0.2.1",)), cert("2", ("192.0.2.10",))),
    ]
    for before, after in pairs:
        for finding in diff_certificates(before, after).findings:
            assert "None" not in finding.message, finding


def test_subject_attributes_are_named_even_when_the_database_writes_oids() -> None:
    diff = diff_certificates(
        cert("1", ("www.example.ch",), subject="CN=www.example.ch,2.5.4.17=1260 Nyon,C=CH"),
        cert("2", ("www.example.ch",), subject="CN=www.example.ch,postalCode=1260,C=CH"),
    )
    assert diff.subject_before == "CN=www.example.ch,postalCode=1260 Nyon,C=CH"
    messages = " ".join(f.message for f in diff.findings)
    assert "postalCode '1260 Nyon'" in messages and "2.5.4" not in messages
    assert "diff.value.extra_text" in {f.code for f in diff.findings}
