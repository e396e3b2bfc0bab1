"""Tests for jobs.enrich.names: IDN forms, registrable domains by the shipped PSL, look-alikes."""

from __future__ import annotations

import pytest

from jobs.enrich import names
from jobs.enrich.alignment import edit_distance


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Mail.Example.COM", "mail.example.com"),
        ("example.com.", "example.com"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("XN--MNCHEN-3YA.DE", "xn--mnchen-3ya.de"),
        ("*.Example.com", "*.example.com"),
        ("Ops@Example.com", "ops@example.com"),
        ("2001:DB8::1", "2001:db8::1"),
    ],
)
def test_canonical(name: str, key: str) -> None:
    assert names.canonical(name) == key


def test_u_label_form() -> None:
    assert names.to_unicode("www.xn--mnchen-3ya.de") == "www.münchen.de"
    assert names.to_unicode("plain.example") == "plain.example"
    # A label that is not valid punycode stays as written instead of raising.
    assert names.to_unicode("xn--zz--!.example") == "xn--zz--!.example"
    assert names.is_idn("xn--mnchen-3ya.de") and names.is_idn("münchen.de")
    assert not names.is_idn("example.de") and not names.is_idn("ops@xn--mnchen-3ya.de")


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("mail.cualtis.net", "cualtis.net"),
        ("cualtis.net", "cualtis.net"),
        ("a.b.shop.example.co.uk", "example.co.uk"),
        ("cualtis.github.io", "cualtis.github.io"),
        ("*.x.com", "x.com"),
        ("www.münchen.de", "xn--mnchen-3ya.de"),
        ("host.unknowntld", "host.unknowntld"),
        ("co.uk", None),
        ("192.0.2.1", None),
        ("ops@cualtis.net", None),
        ("https://cualtis.net/", None),
    ],
)
def test_registrable_domain_by_the_public_suffix_list(name: str, domain: str | None) -> None:
    assert names.registrable_domain(name) == domain


@pytest.mark.parametrize(
    ("before", "after", "alike"),
    [
        ("rnail.example.com", "mail.example.com", True),
        ("app1e.com", "apple.com", True),
        ("g00gle.com", "google.com", True),
        ("xn--pypal-4ve.com", "paypal.com", True),  # Cyrillic а
        ("vvww.example", "www.example", True),
        ("mail.cuatis.net", "mail.cualtis.net", False),
        ("exmaple.com", "example.com", False),
        ("same.example", "SAME.example", False),  # one name, not a look-alike of itself
    ],
)
def test_lookalike(before: str, after: str, alike: bool) -> None:
    assert names.lookalike(before, after) is alike


def test_idn_distance_uses_the_form_with_the_smaller_edit() -> None:
    before, after = "www.xn--mchen-kva.de", "www.xn--mnchen-3ya.de"  # müchen / münchen
    assert edit_distance(before, after) > 2
    assert names.name_distance(before, after) == 1
    assert names.comparison_forms(before, after) == ("www.müchen.de", "www.münchen.de")
    # ASCII names are measured as written.
    assert names.comparison_forms("a.example", "b.example") == ("a.example", "b.example")
    assert names.name_distance("mail.cuatis.net", "mail.cualtis.net") == 1


def test_hostile_names_do_not_raise() -> None:
    for name in ("", ".", "..", "*", "xn--", "xn--.xn--", "a" * 300, "\x00.com", "ü" * 70):
        names.canonical(name)
        names.to_unicode(name)
        names.registrable_domain(name)
        names.skeleton(name)
        names.dns_name_problem(name)
        names.mailbox_problem(name)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("www.example-kunde.de", None),
        ("*.example-kunde.de", None),
        ("xn--mnchen-3ya.de", None),
        ("münchen.de", None),  # a U-label from a database column: the certificate has the A-label
        ("192.0.2.1", None),  # digits are letters of the LDH alphabet; IP SANs are judged apart
        ("-api.example-kunde.de", "label '-api' starts with a hyphen"),
        ("shop-.example-handel.de", "label 'shop-' ends with a hyphen"),
        (".portal.example-bank.ch", "it starts with a period, an empty first label"),
        ("www..example.de", "it has an empty label, two periods in a row"),
        ("www.example.de.", "it ends with a period, as an absolute name does"),
        ("https://www.example.jp", "it holds the URL scheme https://"),
        ("www.example.jp/login", "it holds a path"),
        ("ops@example.jp", "it holds an @, as a mailbox does"),
        ("www.exam ple.de", "it contains whitespace"),
        ("my_app.example.de", "label 'my_app' holds an underscore"),
        ("w*.example.de", "label 'w*' holds '*', not a letter, digit or hyphen"),
        ("a.*.example.de", "a wildcard may only be the whole leftmost label"),
        ("*", "a wildcard may only be the whole leftmost label"),
        ("xn--zz.example.de", "label 'xn--zz' is not valid punycode"),
        ("xn--abc-.example.de", "label 'xn--abc-' ends with a hyphen"),
        ("a" * 64 + ".de", "label 'aaaaaaaaaaaaaaaaaaaaa...' is over 63 octets"),
        (".".join(["a" * 60] * 5), "it is over 253 octets"),
        ("", "it is empty"),
    ],
)
def test_dns_name_problem(name: str, problem: str | None) -> None:
    assert names.dns_name_problem(name) == problem


def test_mailbox_problem() -> None:
    assert names.mailbox_problem("ops@example-kunde.de") is None
    assert names.mailbox_problem("@example-kunde.de") == "it has no local part before the @"
    assert names.mailbox_problem("ops@*.example.de") == (
        "its domain '*.example.de': a wildcard may only be the whole leftmost label"
    )
    assert (
        names.mailbox_problem("ops@-x.de") == "its domain '-x.de': label '-x' starts with a hyphen"
    )
