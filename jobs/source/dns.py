"""[1] The outside world, read-only: whether registrable domains exist, asked of a DNS resolver.

Owns the optional domain-existence check (`dns_check`): one NS query per registrable domain to the
configured resolver (`dns_resolver`, `host[:port]`; default the system's), with dnspython. The
answers mean: NXDOMAIN -> the domain is not registered; any other answer (records or none) -> it
exists; a timeout, SERVFAIL, REFUSED or a network error -> unknown, never "not found". Time is
bounded for the whole run: each query at most `query_timeout`, all of them at most `budget`, and
after `give_up_after` queries in a row without an answer the resolver is taken as down or silent
and asked nothing more; what was not asked stays unknown and the outcome's note says why. It must
not raise for anything the resolver does (the run goes on), label anything, or read the CA
database. Privacy: the domains asked go to that resolver (and from it to the DNS at large).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.core.errors import ConfigError
from jobs.core.watch import DomainCheck

if TYPE_CHECKING:
    import dns.resolver

log = logging.getLogger("revwatch.source.dns")

SYSTEM = "system"


@dataclass(frozen=True)
class DnsOptions:
    """The check's settings: `enabled` (`dns_check`), `resolver` (`host[:port]`, None: the
    system's), and its bounds in seconds."""

    enabled: bool = False
    resolver: str | None = None
    query_timeout: float = 2.0
    budget: float = 20.0
    give_up_after: int = 2


def parse_resolver(text: str) -> tuple[str, int]:
    """`host[:port]` (an IPv6 address in brackets: `[::1]:5353`) as (host, port); port 53."""
    value = text.strip()
    host, port = value, "53"
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ConfigError(f"bad resolver {text!r}: use host, host:port or [v6]:port")
            port = rest[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"bad resolver {text!r}: use host, host:port or [v6]:port")
    return host, int(port)


def _address(host: str) -> str:
    """The resolver's IP address (dnspython asks addresses): a host name is looked up once."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, 53, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise OSError(f"cannot find the resolver {host}: {exc}") from None
    return str(infos[0][4][0])


def _resolver(options: DnsOptions) -> tuple[dns.resolver.Resolver, str]:
    """A dnspython resolver bounded by the options, and its label for the report."""
    # dnspython is imported where it is used: most nights run without the DNS check, and its
    # import costs an empty night 40-100 ms.
    import dns.resolver

    if options.resolver is None:
        resolver = dns.resolver.Resolver(configure=True)
        label = f"{SYSTEM} ({', '.join(str(n) for n in resolver.nameservers)})"
    else:
        host, port = parse_resolver(options.resolver)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [_address(host)]
        resolver.port = port
        label = options.resolver
    resolver.timeout = options.query_timeout
    resolver.lifetime = options.query_timeout
    resolver.retry_servfail = False
    resolver.cache = None
    return resolver, label


# One domain's answer: True exists, False NXDOMAIN, None unknown (with why).
Answer = tuple[bool | None, str | None]


def ask(resolver: dns.resolver.Resolver, domain: str, lifetime: float) -> Answer:
    """Whether `domain` exists, by one NS query; (None, why) when the resolver did not say."""
    import dns.exception
    import dns.name
    import dns.rdatatype
    import dns.resolver

    try:
        name = dns.name.from_text(domain)
        resolver.resolve(name, dns.rdatatype.NS, raise_on_no_answer=False, lifetime=lifetime)
    except dns.resolver.NXDOMAIN:
        return False, None
    except dns.resolver.LifetimeTimeout:
        return None, f"no answer within {lifetime:.1f} s"
    except dns.resolver.NoNameservers as exc:
        return None, f"no usable answer ({' '.join(str(exc).split())[:160]})"
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    return True, None


def check(
    domains: Sequence[str],
    options: DnsOptions,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> DomainCheck:
    """Ask the resolver about each domain, in order, within the options' bounds (see the module
    docstring). Never raises for what the resolver does or does not do."""
    if not options.enabled:
        return DomainCheck()
    import dns.exception

    try:
        resolver, label = _resolver(options)
    except (dns.exception.DNSException, OSError) as exc:
        failed = f"The domain-existence check could not be made: no resolver ({exc})"
        log.warning("%s", failed)
        return DomainCheck(True, options.resolver or SYSTEM, 0, (), len(domains), failed)
    deadline = clock() + options.budget
    missing: list[str] = []
    unanswered, failures, asked = 0, 0, 0
    note: str | None = None
    why: str | None = None
    for index, domain in enumerate(domains):
        left = deadline - clock()
        if left <= 0:
            note = f"the time budget of {options.budget:g} s for DNS ran out"
        elif failures >= options.give_up_after:
            note = f"the resolver answered none of the last {failures} queries ({why})"
        if note is not None:
            unanswered += len(domains) - index
            break
        asked += 1
        exists, why = ask(resolver, domain, min(options.query_timeout, left))
        if exists is None:
            unanswered += 1
            failures += 1
        else:
            failures = 0
            if not exists:
                missing.append(domain)
    if note is None and unanswered:
        note = f"{unanswered} of {len(domains)} domains got no usable answer (last: {why})"
    if note is not None:
        note = (
            f"The domain-existence check could not be made for {unanswered} of "
            f"{len(domains)} domains: {note}; they are not labelled"
        )
        log.warning("resolver %s: %s", label, note)
    return DomainCheck(True, label, asked, tuple(missing), unanswered, note)
