"""Jinja2 filters and the template environment: every human formatting of a report lives here.

Owns how values read in the mail: missing values ("—", never "None" or "nan"), durations in
words, UTC times, serials, crt.sh links, the highlighted edit of a name change, line wrapping,
and the escaping of control and bidi characters that subscribers could use to forge lines or
disguise names. It must not decide what a report contains (jobs.report.document does).

Also where compiled templates are kept between runs, as Python keeps a module's bytecode:
compiling the report's two templates was most of an empty night's work after the imports (about
0.1 s every run; the job is a new process each night), loading them compiled takes a
millisecond. They are kept beside this module's own bytecode (its `__pycache__`, or its folder
under PYTHONPYCACHEPREFIX), trusted as that bytecode is, written when Python writes bytecode
(not under PYTHONDONTWRITEBYTECODE or `-B`) and where it may: an installation the job's user
cannot write compiles its templates every run, as before. Jinja2 recompiles a template whose
source changed (it checks a hash of the source); the file names carry a hash of Jinja2's version,
the environment's options and the filters' names, so other ones never read old code. A cache
that cannot be read or written is a miss: the template is compiled, silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import os
import pickle
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.core import times as durations
from jobs.core.model import Case, EditStep, NameChange, normalise_serial
from jobs.core.resources import templates_dir
from jobs.core.text import neutralise
from jobs.report.views import REPORT_FILTERS

if TYPE_CHECKING:
    import jinja2

MISSING = "—"
UNKNOWN = "unknown"


def text_or_none(value: object) -> str | None:
    """A field as text, or None when absent: None, pandas' NaN/NaT and "" all mean absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return None if text in ("", "nan", "NaT", "None") else text


def show(value: object, missing: str = MISSING) -> str:
    """A subscriber-written field made safe to print: absent -> "—", control characters escaped."""
    text = text_or_none(value)
    if text is None:
        return missing
    return neutralise(text)


def format_duration(seconds: object) -> str:
    """Seconds in words ("4 h 38 min", "23 min"); "unknown" when absent."""
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or math.isnan(seconds):
        return UNKNOWN
    return durations.format_duration(int(seconds))


def format_utc(moment: object) -> str:
    """A timestamp as "2026-11-25 12:17 UTC"; "unknown" when absent."""
    if not isinstance(moment, datetime):
        return UNKNOWN
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def as_utc(moment: datetime) -> datetime:
    # Naive times should not reach here (the source normalises to UTC); read them as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: object) -> str | None:
    """ISO 8601 with the UTC offset written out (`+00:00`), None when absent."""
    return as_utc(moment).isoformat() if isinstance(moment, datetime) else None


def format_serial(value: object) -> str:
    """A serial as lower-case hex; a malformed one is shown as written, escaped."""
    text = text_or_none(value)
    try:
        return MISSING if text is None else normalise_serial(text)
    except ValueError:
        return show(text)


def crtsh_url(sha256: str) -> str:
    """The crt.sh page of a certificate, by the SHA-256 of its DER."""
    return f"https://crt.sh/?sha256={sha256}"


def replacement_delay(case: Case) -> int | None:
    """Seconds from the revocation to the replacement's issuance (negative: issued before)."""
    issued = case.replacement.issuance_time if case.replacement else None
    revoked = case.revocation.revoked_at
    delay = as_utc(issued) - as_utc(revoked) if issued and revoked else None
    return None if delay is None else int(delay.total_seconds())


def relative(seconds: int | None) -> str:
    """A replacement delay in words: "23 min after", "5 min before", "unknown"."""
    when = "before" if seconds is not None and seconds < 0 else "after"
    return UNKNOWN if seconds is None else f"{format_duration(abs(seconds))} {when}"


# How each edit op is shown in text; `{0}` is the revoked side, `{1}` the replacement's. An op
# this module does not know is shown as a substitution rather than dropped.
_EDIT_TEXT = {"equal": "{1}", "insert": "[+{1}]", "delete": "[-{0}]", "transpose": "[{0}<>{1}]"}


def _edit_ops(change: NameChange) -> list[tuple[str, str, str]]:
    # Without an alignment, the whole name counts as replaced.
    steps = change.edit or (EditStep("substitute", change.before, change.after),)
    return [(s.op, show(s.before), show(s.after or s.before)) for s in steps]


def _edit(change: NameChange, formats: dict[str, str], default: str) -> list[tuple[str, str, str]]:
    return [(formats.get(op, default), before, after) for op, before, after in _edit_ops(change)]


def edit_steps(change: NameChange) -> list[tuple[str, str, str]]:
    """The edit as (kind, revoked side, replacement side) for the HTML template to mark up:
    kind is `equal`, `insert`, `delete` or `replace` (a substitution, a transposition, an op this
    module does not know: the revoked text struck, the replacement's inserted)."""
    kinds = {"equal": "equal", "insert": "insert", "delete": "delete"}
    return [(kinds.get(op, "replace"), before, after) for op, before, after in _edit_ops(change)]


def edit_text(change: NameChange) -> str:
    """The edit in plain text: `mail.cua[+l]tis.net`, `[-x]`, `[x->y]`, `[xy<>yx]`."""
    parts = _edit(change, _EDIT_TEXT, "[{0}->{1}]")
    return "".join(fmt.format(before, after) for fmt, before, after in parts)


def wrap(text: str, prefix: str, width: int = 78) -> str:
    """`prefix` + `text`, wrapped to fit an 80-column terminal, continuation lines aligned."""
    indent = " " * len(prefix)
    return textwrap.fill(
        text, width=width, initial_indent=prefix, subsequent_indent=indent,
        break_long_words=True, break_on_hyphens=False,
    ) or prefix.rstrip()  # fmt: skip


def plural(count: int, noun: str) -> str:
    """ "1 early revocation", "3 early revocations"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


FILTERS: dict[str, Callable[..., Any]] = dict(
    show=show, duration=format_duration, utc=format_utc, serial=format_serial, crtsh=crtsh_url,
    replacement_delay=replacement_delay, relative=relative, edit_steps=edit_steps,
    edit_text=edit_text, wrap=wrap, plural=plural, **REPORT_FILTERS,
)  # fmt: skip


def environment() -> jinja2.Environment:
    """The Jinja2 environment of every template: HTML autoescaped, undefined names an error.

    One per templates folder and process: compiling the two report templates costs about 0.3 s,
    which a daemon's nights (and a test session's) would otherwise pay every time; Jinja2 still
    reloads a template whose file changed. Between processes, the compiled templates are kept
    beside this module's bytecode (module docstring)."""
    return _environment(templates_dir())


# The options every template is compiled with (the compiled templates' cache is keyed by them).
_OPTIONS: dict[str, Any] = dict(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
_AUTOESCAPED = ("html",)


@cache
def _environment(folder: Path) -> jinja2.Environment:
    # Imported here, not at the top: only rendering needs Jinja2 and MarkupSafe (about 40 ms to
    # import), not a module that only formats values (the collector, the CSV, the backfill's rows).
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(enabled_extensions=_AUTOESCAPED),
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_compiled_templates((_OPTIONS, _AUTOESCAPED, sorted(FILTERS))),
        **_OPTIONS,
    )
    env.filters.update(FILTERS)
    return env


def _compiled_templates(options: object) -> jinja2.BytecodeCache:
    """The compiled templates' cache (module docstring) of an environment built with `options`."""
    import jinja2  # see _environment

    # This module's own bytecode folder, wherever Python puts it (`__pycache__`, or the mirror
    # of this folder under PYTHONPYCACHEPREFIX).
    folder = Path(importlib.util.cache_from_source(__file__)).parent
    tag = hashlib.sha256(repr((jinja2.__version__, options)).encode()).hexdigest()[:16]
    return _quiet_cache()(str(folder), f"templates-{tag}-%s.cache")


@cache
def _quiet_cache() -> type[jinja2.FileSystemBytecodeCache]:
    import jinja2  # see _environment
    from jinja2.bccache import Bucket

    class QuietCache(jinja2.FileSystemBytecodeCache):
        """Jinja2's file-system cache, failing quietly and writing only when Python would."""

        def load_bytecode(self, bucket: Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError, pickle.UnpicklingError):
                bucket.reset()  # unreadable or cut short: compiled again

        def dump_bytecode(self, bucket: Bucket) -> None:
            if not sys.dont_write_bytecode:
                with contextlib.suppress(OSError):
                    os.makedirs(self.directory, exist_ok=True)
                    super().dump_bytecode(bucket)

    return QuietCache
