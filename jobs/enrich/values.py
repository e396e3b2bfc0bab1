"""Single values judged on their own or against their counterpart: placeholders and partial values.

Owns which subject values are placeholders (the list in `placeholders.toml` beside this module,
each value with its source, read once) and how a value of the revoked certificate relates to the
replacement's when one is a strict part of the other: `TRUNCATED` (`2153` -> `21532`) or
`EXTRA_TEXT` (`1260 Nyon` -> `1260`). A DNS name that gains or loses whole labels
(`example.com` -> `www.example.com`) is another name, not a cut one. Pure functions of strings:
it must not know what a certificate or a finding is, and does no I/O beyond reading its data file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from jobs.enrich import names

TRUNCATED = "truncated"
EXTRA_TEXT = "extra"

# A part must carry this many letters or digits: `-` is a strict part of `Saint-Gall`, and
# saying it was truncated would be noise (a lone hyphen is a placeholder, judged as such).
_MIN_MEANINGFUL = 2


@dataclass(frozen=True)
class Placeholders:
    """The placeholder values by case-folded spelling: (source, attributes it counts in or
    None for all), and the characters a metadata-only value is made of."""

    values: dict[str, tuple[str, frozenset[str] | None]]
    metadata: frozenset[str]


@cache
def placeholders() -> Placeholders:
    """The shipped list, read once per process."""
    text = resources.files("jobs.enrich").joinpath("placeholders.toml").read_text("utf-8")
    data = tomllib.loads(text)
    values: dict[str, tuple[str, frozenset[str] | None]] = {}
    for source in data["source"]:
        only = source.get("attributes")
        for value in source["values"]:
            values[value.strip().casefold()] = (
                source["name"],
                frozenset(only) if only else None,
            )
    return Placeholders(values, frozenset(data["metadata_characters"]))


def placeholder_source(attribute: str, value: str) -> str | None:
    """Where `value` comes from as a placeholder in `attribute` (`OpenSSL's default
    openssl.cnf`), or None when it is a real value."""
    known = placeholders()
    key = value.strip().casefold()
    found = known.values.get(key)
    if found is not None and (found[1] is None or attribute in found[1]):
        return found[0]
    if not value.strip() or set(value) <= known.metadata:
        return "CA/B Forum BR 7.1.4.3, metadata only"
    return None


def _meaningful(value: str) -> bool:
    if value[:_MIN_MEANINGFUL].isalnum() and len(value) >= _MIN_MEANINGFUL:
        return True  # the common case, without counting the rest
    return sum(c.isalnum() for c in value) >= _MIN_MEANINGFUL


def _whole_labels(part: str) -> bool:
    """`www.` or `.example`: one or more valid labels and the period joining them on."""
    labels = part.strip(".").split(".")
    return part.count(".") == len(labels) and all(
        names.dns_name_problem(label) is None and label != "*" for label in labels
    )


def _label_boundary(short: str, long: str) -> bool:
    """`long` is `short` with whole labels added before or after it: a parent or a child."""
    start = long.find(short)
    prefix, suffix = long[:start], long[start + len(short) :]
    return (
        (not prefix or (prefix.endswith(".") and _whole_labels(prefix)))
        and (not suffix or (suffix.startswith(".") and _whole_labels(suffix)))
        and names.dns_name_problem(short) is None
    )


@lru_cache(maxsize=65_536)  # a diff's pairs are judged by several rules and by its labels
def relation(before: str, after: str, *, dns: bool = False) -> str | None:
    """`TRUNCATED` when `before` (the revoked certificate's) is a strict part of `after`,
    `EXTRA_TEXT` when `after` is a strict part of `before`, else None. Case is ignored.

    With `dns` (two certificate names), a valid name inside another at label boundaries is a
    different name (`example.com`, `www.example.com`), not a cut or padded one, and an IP address
    is never either (`192.0.2.1` in `192.0.2.10` is another address); `.portal.example.ch` and
    `https://www.example.jp` are padded, `-api.example.de` is cut.
    """
    a, b = before.strip().casefold(), after.strip().casefold()
    if a == b or not (_meaningful(a) and _meaningful(b)):
        return None
    if dns and (names.is_ip(a) or names.is_ip(b)):
        return None
    if a in b:
        kind, short, long = TRUNCATED, a, b
    elif b in a:
        kind, short, long = EXTRA_TEXT, b, a
    else:
        return None
    if dns and _label_boundary(short, long):
        return None
    if _doubled(short, long):
        return None
    return kind


def _doubled(short: str, long: str) -> bool:
    """`wwww.` for `www.`: one character more that repeats its neighbour is a key held too
    long (or not long enough), a typo rather than a cut or padded value."""
    if len(long) != len(short) + 1:
        return False
    if long.startswith(short):
        return long[-1] == long[-2]
    return long[0] == long[1]
