"""Certificate names as a reviewer reads them: IDN forms, registrable domains, look-alikes.

Owns what a name *is* beyond its characters: its canonical comparison key (lower case, A-labels,
no trailing dot), its U-label (Unicode) form, its registrable domain by the Public Suffix List
(the copy the `publicsuffixlist` package ships: no network at run time), whether two names only
differ by look-alike characters (`rn`/`m`, `l`/`1`, `0`/`o`, Cyrillic `а`/Latin `a`), and the
edit distance between two names in whichever IDN form shows the smaller edit. It must not pair
names, produce findings or do I/O beyond loading the shipped list once.

IDN handling is deliberately lenient: names come from certificates a CA already issued, so a
label that is not valid IDNA is kept as written rather than rejected, and nothing here raises on
a hostile name.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

from jobs.enrich.alignment import edit_distance

_ACE_PREFIX = "xn--"

# Look-alike sequences, longest first, each mapped to the character it imitates. Applied to both
# names; two different names with the same skeleton differ only by look-alikes. Cyrillic and Greek
# letters that render like Latin ones catch IDN homographs once a name is in U-label form.
_LOOKALIKES: tuple[tuple[str, str], ...] = (
    ("rn", "m"),
    ("vv", "w"),
    ("cl", "d"),
    ("1", "l"),
    ("|", "l"),
    ("0", "o"),
    ("5", "s"),
    ("а", "a"),
    ("е", "e"),
    ("о", "o"),
    ("р", "p"),
    ("с", "c"),
    ("у", "y"),
    ("х", "x"),
    ("і", "l"),
    ("ј", "j"),
    ("ѕ", "s"),
    ("ο", "o"),
    ("ν", "v"),
    ("α", "a"),
)

# Memo sizes: a night's distinct names, not every name the CA ever issued.
_CACHE = 65_536


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # The package's bundled list; unknown TLDs count as public suffixes, as browsers treat them.
    return PublicSuffixList()


def is_ip(name: str) -> bool:
    # Only digits and dots (IPv4) or a colon (IPv6) can be an address; parsing is the slow part.
    if ":" not in name and not (name[-1:].isdigit() and set(name) <= set("0123456789.")):
        return False
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=_CACHE)
def is_dns_name(name: str) -> bool:
    """A DNS name (possibly a wildcard), not an IP address, mailbox or URI."""
    return bool(name) and not any(c in name for c in "@/: ") and not is_ip(name)


def _label_to_ascii(label: str) -> str:
    if label.isascii():
        return label
    try:
        return _ACE_PREFIX + unicodedata.normalize("NFC", label).encode("punycode").decode("ascii")
    except UnicodeError:
        return label


def _label_to_unicode(label: str) -> str:
    if not label.startswith(_ACE_PREFIX):
        return label
    try:
        return label[len(_ACE_PREFIX) :].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


@lru_cache(maxsize=_CACHE)
def canonical(name: str) -> str:
    """The comparison key of a name: DNS names lower case, A-labels, no trailing dot.

    `münchen.de`, `XN--MNCHEN-3YA.DE.` and `xn--mnchen-3ya.de` are the same name. Mailboxes,
    URIs and IP addresses are compared case-insensitively as written.
    """
    lowered = name.strip().lower()
    if not is_dns_name(lowered):
        return lowered
    return ".".join(_label_to_ascii(label) for label in lowered.rstrip(".").split("."))


@lru_cache(maxsize=_CACHE)
def to_unicode(name: str) -> str:
    """The U-label form of a DNS name (`xn--mnchen-3ya.de` -> `münchen.de`); others unchanged."""
    if _ACE_PREFIX not in name.lower() or not is_dns_name(name):
        return name
    return ".".join(_label_to_unicode(label) for label in name.lower().split("."))


def is_idn(name: str) -> bool:
    """Whether a DNS name has an internationalised label (in either form)."""
    if name.isascii() and _ACE_PREFIX not in name.lower():
        return False
    return is_dns_name(name)


@lru_cache(maxsize=_CACHE)
def registrable_domain(name: str) -> str | None:
    """The registrable domain (public suffix + one label) of a DNS name, in A-label form.

    A wildcard's `*.` is dropped first (`*.x.com` -> `x.com`). None for IP addresses, mailboxes,
    URIs and names that are themselves a public suffix (`co.uk`).
    """
    key = canonical(name)
    if not is_dns_name(key):
        return None
    if key.startswith("*."):
        key = key[2:]
    if not key or "*" in key:
        return None
    found = _psl().privatesuffix(key)
    return found if isinstance(found, str) else None


@lru_cache(maxsize=_CACHE)
def skeleton(name: str) -> str:
    """The name with each look-alike replaced by what it imitates (`paypa1` -> `paypal`)."""
    text = to_unicode(name).lower()
    for fake, real in _LOOKALIKES:
        text = text.replace(fake, real)
    return text


def lookalike(before: str, after: str) -> bool:
    """Whether two different names read the same once look-alike characters are resolved."""
    return canonical(before) != canonical(after) and skeleton(before) == skeleton(after)


def comparison_forms(before: str, after: str) -> tuple[str, str]:
    """The forms to align two names in: U-labels when either is an IDN and that edit is no
    larger (a homograph `xn--pypal-4ve.com` is one letter from `paypal.com` in U-labels),
    else the names as written."""
    if not (is_idn(before) or is_idn(after)):
        return before, after
    plain = edit_distance(before, after)
    uni_before, uni_after = to_unicode(before), to_unicode(after)
    if edit_distance(uni_before, uni_after) <= plain:
        return uni_before, uni_after
    return before, after


def name_distance(before: str, after: str) -> int:
    """Optimal-string-alignment distance of two names, in the IDN form that shows less edit."""
    a, b = comparison_forms(before, after)
    return edit_distance(a, b)
