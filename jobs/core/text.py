"""The one neutralising function for every human-readable output: text and HTML reports,
backfill summaries and text log lines.

Owns what counts as unsafe in subscriber- or operator-written text: every character of the
Unicode categories Cc (controls: line breaks that forge lines, NUL, ESC), Cf (format: bidi
overrides and isolates, U+061C, soft hyphen, zero-width and invisible operators, tag characters)
and Zl/Zp (U+2028, U+2029). Each is shown as a visible `\\uXXXX` escape rather than obeyed, so a
name cannot forge a line, reorder what a reviewer reads or hide part of itself. It must not do
markup escaping (Jinja2's autoescape does) or decide what a field means.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


@lru_cache(maxsize=4096)
def _unsafe(char: str) -> bool:
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def neutralise(text: str) -> str:
    """`text` with every unsafe character (see the module docstring) shown as its escape."""
    if text.isascii() and text.isprintable():
        return text  # the common case, without a look at each character
    return "".join(_escape(c) if _unsafe(c) else c for c in text)
