"""A network endpoint as an operator spells it in a setting: `host`, `host:port`, `[v6]:port`.

Owns the one check of such a spelling (the `dns_resolver` setting's), made when the settings are
read so that a typo fails at start with exit 2, not at the first query. It must not resolve
names or open sockets: the stage that uses the endpoint does.
"""

from __future__ import annotations

from jobs.core.errors import ConfigError

_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
_V6_CHARS = frozenset("0123456789abcdefABCDEF:.")


def host_port(value: str, what: str) -> str:
    """`host`, `host:port` or `[IPv6 address]:port`, checked now, kept as written (stripped)."""
    text = value.strip()
    host, colon, port = text, "", ""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        colon, port = rest[:1], rest[1:]
        good_host = bool(bracket) and colon in ("", ":") and set(host) <= _V6_CHARS
    else:
        if text.count(":") == 1:
            host, colon, port = text.partition(":")
        good_host = set(host) <= _HOST_CHARS
    good_port = not colon or (port.isdigit() and 0 < int(port) < 65536)
    if not host or not good_host or not good_port:
        raise ConfigError(f"bad {what} {text!r}: use host, host:port or [IPv6 address]:port")
    return text
