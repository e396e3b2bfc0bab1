"""Real DNS servers on loopback for the domain-existence tests: one that answers, one silent.

`answering(existing)` runs a dnslib UDP server on 127.0.0.1 (a free port) that answers NS queries
for each existing registrable domain (and any name below it) and NXDOMAIN for everything else; it
counts the queries it was asked. `silent()` binds a UDP port and never answers: a resolver that is
up but says nothing. Both yield `host:port` as the `dns_resolver` setting takes it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dnslib import NS, QTYPE, RCODE, RR, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Zone(BaseResolver):  # type: ignore[misc]
    """NS records for the existing domains, NXDOMAIN for the rest; `asked` records each query."""

    def __init__(self, existing: set[str]) -> None:
        self.existing = {d.lower().rstrip(".") for d in existing}
        self.asked: list[str] = []

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = str(request.q.qname).lower().rstrip(".")
        self.asked.append(name)
        reply = request.reply()
        owner = next((d for d in self.existing if name == d or name.endswith("." + d)), None)
        if owner is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.NS and name == owner:
            reply.add_answer(RR(name, QTYPE.NS, rdata=NS(f"ns1.{owner}"), ttl=60))
        return reply


@contextmanager
def answering(existing: set[str]) -> Iterator[tuple[str, Zone]]:
    """A DNS server on loopback that knows `existing`; yields (`127.0.0.1:port`, its zone)."""
    zone = Zone(existing)
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=DNSLogger("-request,-reply"))
    server.start_thread()
    try:
        yield f"127.0.0.1:{server.server.server_address[1]}", zone
    finally:
        server.stop()


@contextmanager
def silent() -> Iterator[str]:
    """A UDP port on loopback that takes every query and answers none."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    try:
        yield f"127.0.0.1:{sink.getsockname()[1]}"
    finally:
        sink.close()
