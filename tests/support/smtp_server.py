"""Pytest fixtures: real aiosmtpd servers on loopback whose failures a test can script.

Owns the test TLS material (a CA and a `localhost`/127.0.0.1 server certificate made with
`cryptography`), the scriptable handler, a handler that is slow inside DATA (`SlowHandler`), one
held inside DATA until the test releases it (`HeldHandler`), and the fixtures `smtp_server`
(plain), `smtp_starttls_auth` (STARTTLS required + AUTH), `smtp_tls` (implicit TLS) and
`dead_smtp_port` (nothing listens).
It must not mock the SMTP protocol: every fault is produced by a real server on a real socket.
Loaded by `tests/conftest.py` with `pytest_plugins = ["tests.support.smtp_server"]`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from jobs.demo.mailsink import LOOPBACK, MailSink, SinkHandler, free_port

SMTP_USER = "revwatch"
SMTP_PASSWORD = "s3cret-Pa55-do-not-leak"


# --- TLS material ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsMaterial:
    """A private CA (`ca_bundle`) and the server certificate and key it signed."""

    ca_bundle: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls_material(directory: Path) -> TlsMaterial:
    """A CA plus a leaf for localhost and 127.0.0.1, shaped as strict verifiers expect."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("revwatch test CA"))
        .issuer_name(_name("revwatch test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    material = TlsMaterial(
        ca_bundle=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key"
    )
    material.ca_bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    material.cert.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    material.key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return material


# --- scripted faults ------------------------------------------------------------------------


class Script:
    """Faults the server will produce, each for the next `times` commands (None: forever).

    Set by the test thread, read by the server thread, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rcpt: list[list[Any]] = []
        self._data: list[list[Any]] = []
        self.refused: dict[str, str] = {}
        self.mail_commands = 0
        self.data_commands = 0

    def rcpt_reply(self, reply: str, times: int | None = 1) -> None:
        """Answer the next RCPT commands with `reply` (e.g. "451 4.3.0 Try later")."""
        with self._lock:
            self._rcpt.append(["reply", reply, times])

    def data_reply(self, reply: str, times: int | None = 1) -> None:
        """Answer the next DATA transactions with `reply` instead of accepting them."""
        with self._lock:
            self._data.append(["reply", reply, times])

    def drop_in_data(self, times: int | None = 1) -> None:
        """Close the connection when the message has been sent, before replying."""
        with self._lock:
            self._data.append(["drop", None, times])

    def stall_in_data(self, seconds: float, times: int | None = 1) -> None:
        """Wait `seconds` before replying to the end of DATA (longer than the client's timeout)."""
        with self._lock:
            self._data.append(["stall", seconds, times])

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        """Always refuse RCPT for `address`."""
        with self._lock:
            self.refused[address] = reply

    def take(self, phase: str) -> tuple[str, Any] | None:
        with self._lock:
            queue = self._rcpt if phase == "rcpt" else self._data
            while queue:
                entry = queue[0]
                kind, value, remaining = entry
                if remaining is None:
                    return kind, value
                if remaining > 0:
                    entry[2] = remaining - 1
                    return kind, value
                queue.pop(0)
            return None

    def count(self, command: str) -> None:
        with self._lock:
            if command == "MAIL":
                self.mail_commands += 1
            else:
                self.data_commands += 1


class ScriptedHandler(SinkHandler):
    """The sink's handler, with the faults of a `Script` applied on MAIL, RCPT and DATA."""

    def __init__(self) -> None:
        super().__init__()
        self.script = Script()

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.script.count("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.script.refused:
            return self.script.refused[address]
        fault = self.script.take("rcpt")
        if fault is not None:
            return str(fault[1])
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.script.count("DATA")
        fault = self.script.take("data")
        if fault is not None:
            kind, value = fault
            if kind == "reply":
                return str(value)
            if kind == "drop":
                server.transport.close()
                return "451 4.3.0 (connection already closed)"
            if kind == "stall":
                await asyncio.sleep(float(value))
                # The client gave up; keeping the message would make a duplicate on its retry.
                return "451 4.3.0 Too late"
        return await super().handle_DATA(server, session, envelope)


class SlowHandler(SinkHandler):
    """Accepts every message, but only after `delay` seconds inside DATA."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.data_started = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started += 1
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


class HeldHandler(SinkHandler):
    """Accepts every message, but only once the test sets `release` (or after `timeout` seconds):
    a run stays inside DATA, holding whatever it holds, for exactly as long as the test needs,
    however slow the machine."""

    def __init__(self, timeout: float = 60.0) -> None:
        super().__init__()
        self.release = threading.Event()
        self.timeout = timeout
        self.data_started = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started += 1
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, self.timeout)
        return await super().handle_DATA(server, session, envelope)


# --- fixtures -------------------------------------------------------------------------------


@dataclass
class ScriptedServer:
    """A running scripted server: where it is, what it received, how to make it fail."""

    sink: MailSink
    handler: ScriptedHandler
    ca_bundle: Path | None = None
    user: str | None = None
    password: str | None = None

    @property
    def host(self) -> str:
        return self.sink.host

    @property
    def port(self) -> int:
        return self.sink.port

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def envelopes(self) -> list[tuple[str, tuple[str, ...]]]:
        return self.handler.envelopes

    @property
    def script(self) -> Script:
        return self.handler.script


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    # handled=False lets aiosmtpd answer the failure itself (535 5.7.8).
    return AuthResult(success=ok, handled=False)


def _serve(handler: ScriptedHandler, **options: Any) -> Iterator[MailSink]:
    sink = MailSink(handler=handler, ready_timeout=30.0, **options)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    return make_tls_material(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def smtp_server() -> Iterator[ScriptedServer]:
    """Plain SMTP (no TLS, no AUTH) on loopback."""
    handler = ScriptedHandler()
    for sink in _serve(handler):
        yield ScriptedServer(sink, handler)


@pytest.fixture
def smtp_starttls_auth(tls_material: TlsMaterial) -> Iterator[ScriptedServer]:
    """STARTTLS required, then AUTH LOGIN/PLAIN as SMTP_USER / SMTP_PASSWORD."""
    handler = ScriptedHandler()
    for sink in _serve(
        handler,
        tls_context=tls_material.server_context(),
        require_starttls=True,
        authenticator=_authenticator,
        auth_require_tls=True,
    ):
        yield ScriptedServer(sink, handler, tls_material.ca_bundle, SMTP_USER, SMTP_PASSWORD)


@pytest.fixture
def smtp_tls(tls_material: TlsMaterial) -> Iterator[ScriptedServer]:
    """Implicit TLS: the listener itself speaks TLS (the Controller's `ssl_context`)."""
    handler = ScriptedHandler()
    for sink in _serve(handler, ssl_context=tls_material.server_context()):
        yield ScriptedServer(sink, handler, tls_material.ca_bundle)


@pytest.fixture
def dead_smtp_port() -> int:
    """A port on 127.0.0.1 where nothing listens: the mail server is down."""
    return free_port(LOOPBACK)
