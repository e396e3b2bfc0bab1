"""Durations in words, as reviewers read them: "4 h 38 min", "23 min", "2 d 3 h".

Owns the one spelling of a duration used by detection messages, replacement reasons and reports.
It must not know about certificates.
"""

from __future__ import annotations

from datetime import timedelta


def format_duration(value: float | timedelta) -> str:
    """Two most significant units, rounded down: 45 s, 23 min, 4 h 38 min, 2 d 3 h.

    A negative value is spelled with a leading minus; callers that mean "before" say so in words.
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        return "-" + format_duration(-seconds)
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
