"""Certificate names as a reviewer reads them: IDN forms, registrable domains, look-alikes.

Owns what a name *is* beyond its characters: its canonical comparison key (lower case, A-labels,
no trailing dot), its U-label (Unicode) form, its registrable domain by the Public Suffix List
(the copy the `publicsuffixlist` package ships: no network at run time), whether two names only
differ by look-alike characters (`rn`/`m`, `l`/`1`, `0`/`o`, Cyrillic `а`/Latin `a`), and the
edit distance between two names in whichever IDN form shows the smaller edit, and why a name is
not valid for its SAN type (`dns_name_problem`, `mailbox_problem`). It must not pair names,
produce findings or do I/O beyond loading the shipped list once.

IDN handling is deliberately lenient: names come from certificates a CA already issued, so a
label that is not valid IDNA is kept as written rather than rejected, and nothing here raises on
a hostile name.
"""

from __future__ import annotations

import ipaddress
import re
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

# RFC 1035 "preferred name syntax" as RFC 5280 and the CA/B Forum BRs (7.1.2.7.12) require of a
# dNSName: letters, digits and hyphens, no hyphen at either end of a label, labels of 1 to 63
# octets, the whole name at most 253; a wildcard only as the entire leftmost label.
_LDH_LABEL = re.compile(r"[a-z0-9-]+\Z")
_MAX_LABEL = 63
_MAX_NAME = 253


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
    # An A-label needs `--`: most names are decided without lower-casing them.
    if name.isascii() and ("--" not in name or _ACE_PREFIX not in name.lower()):
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
def dns_name_problem(name: str, *, wildcard: bool = True) -> str | None:
    """Why `name` is not a valid dNSName, in words (`label '-api' starts with a hyphen`), or None.

    The name is judged as written but for case and IDN form: a U-label from a database column is
    read as its A-label (the certificate holds that), so only what no spelling can fix counts.
    """
    if not name:
        return "it is empty"
    if any(c.isspace() for c in name):
        return "it contains whitespace"
    if "://" in name:
        return f"it holds the URL scheme {name.partition('://')[0]}://"
    for char, what in (("/", "a path"), ("@", "an @, as a mailbox does")):
        if char in name:
            return f"it holds {what}"
    if name.startswith("."):
        return "it starts with a period, an empty first label"
    if name.endswith("."):
        return "it ends with a period, as an absolute name does"
    labels = [_label_to_ascii(label) for label in name.lower().split(".")]
    if len(".".join(labels)) > _MAX_NAME:
        return f"it is over {_MAX_NAME} octets"
    for index, label in enumerate(labels):
        problem = _label_problem(label, leftmost=index == 0 and len(labels) > 1 and wildcard)
        if problem:
            return problem
    return None


def _label_problem(label: str, *, leftmost: bool) -> str | None:
    shown = label if len(label) <= 24 else label[:21] + "..."
    if not label:
        return "it has an empty label, two periods in a row"
    if label == "*":
        return None if leftmost else "a wildcard may only be the whole leftmost label"
    if len(label) > _MAX_LABEL:
        return f"label {shown!r} is over {_MAX_LABEL} octets"
    if "_" in label:
        return f"label {shown!r} holds an underscore"
    if label.startswith("-"):
        return f"label {shown!r} starts with a hyphen"
    if label.endswith("-"):
        return f"label {shown!r} ends with a hyphen"
    if not _LDH_LABEL.match(label):
        bad = next(c for c in label if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-"))
        return f"label {shown!r} holds {bad!r}, not a letter, digit or hyphen"
    if label.startswith(_ACE_PREFIX) and not _valid_punycode(label):
        return f"label {shown!r} is not valid punycode"
    return None


def _valid_punycode(label: str) -> bool:
    # An A-label must decode, hold something beyond ASCII, and encode back to itself.
    try:
        decoded = label[len(_ACE_PREFIX) :].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return False
    return bool(decoded) and not decoded.isascii() and _label_to_ascii(decoded) == label


def mailbox_problem(mailbox: str) -> str | None:
    """Why `mailbox` is not a valid rfc822Name (`local@domain`), in words, or None."""
    local, at, domain = mailbox.rpartition("@")
    if not at or not local:
        return "it has no local part before the @"
    if any(c.isspace() for c in mailbox):
        return "it contains whitespace"
    problem = dns_name_problem(domain, wildcard=False)
    return f"its domain {domain!r}: {problem}" if problem else None


@lru_cache(maxsize=_CACHE)
def skeleton(name: str) -> str:
    """The name with each look-alike replaced by what it imitates (`paypa1` -> `paypal`)."""
    text = to_unicode(name).lower()
    for fake, real in _LOOKALIKES:
        if fake in text:  # most names hold none of them: no new string each time
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
