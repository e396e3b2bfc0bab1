"""A throw-away SMTP server on loopback that keeps what it receives.

Owns `MailSink`, a context manager around an aiosmtpd `Controller` bound to 127.0.0.1, and
`SinkHandler`, the aiosmtpd handler that parses each message and optionally saves it as `.eml`.
The demo uses it as its mail server and the tests build their scripted servers on it.
It must not relay mail anywhere, listen on anything but the host it is given, or import pytest.
"""

from __future__ import annotations

import email
import email.policy
import errno
import itertools
import socket
import ssl
import threading
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller

LOOPBACK = "127.0.0.1"

# Each attempt to bind races other processes for the port free_port() found; a few retries make
# that race harmless without hiding a real bind failure.
_BIND_ATTEMPTS = 5


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that nothing listens on at the moment of asking.

    aiosmtpd 1.4's Controller cannot be given port 0 (it connects to `self.port` to check the
    server is up), so the port is picked here first.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class SinkHandler:
    """An aiosmtpd handler that accepts every message, parses it and keeps it.

    Messages are parsed with `email.policy.default`, so they come back as `EmailMessage`. When
    `directory` is given, each message is also written there as `NNNN.eml` (a counter, never a
    name taken from the message: headers are written by whoever sent it).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, tuple[str, ...]]] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def keep(self, raw: bytes, mail_from: str, rcpt_tos: tuple[str, ...]) -> None:
        """Parse and store one received message (called on the server's thread)."""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
            self.envelopes.append((mail_from, rcpt_tos))
            number = next(self._counter)
        if self.directory is not None:
            (self.directory / f"{number:04d}.eml").write_bytes(raw)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        self.keep(raw, str(envelope.mail_from), tuple(str(r) for r in envelope.rcpt_tos))
        return "250 2.0.0 Message accepted for delivery"


class MailSink:
    """An SMTP server on loopback for as long as the `with` block lasts.

    `host` and `port` say where to connect; `messages` holds what arrived, parsed. Extra keyword
    arguments go to aiosmtpd's SMTP class (`tls_context=`, `require_starttls=`, `authenticator=`,
    `auth_require_tls=`); `ssl_context` makes the listener speak implicit TLS.
    """

    def __init__(
        self,
        directory: Path | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        handler: SinkHandler | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ready_timeout: float = 10.0,
        **smtp_options: Any,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self.handler = handler if handler is not None else SinkHandler(directory)
        self._ssl_context = ssl_context
        self._ready_timeout = ready_timeout
        self._smtp_options = smtp_options
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> MailSink:
        """Bind and start serving; raises OSError if no port could be bound."""
        if self._controller is not None:
            raise RuntimeError("mail sink already running")
        last_error: OSError | None = None
        for _ in range(_BIND_ATTEMPTS if self._requested_port == 0 else 1):
            port = self._requested_port or free_port(self.host)
            controller = Controller(
                self.handler,
                hostname=self.host,
                port=port,
                ready_timeout=self._ready_timeout,
                ssl_context=self._ssl_context,
                # A fixed greeting name: the default asks DNS for the FQDN, which can stall.
                server_hostname="localhost",
                **self._smtp_options,
            )
            try:
                controller.start()
            except OSError as error:
                last_error = error
                if error.errno != errno.EADDRINUSE:
                    raise
                controller.loop.close()
                continue
            self._controller = controller
            self.port = port
            return self
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop serving; safe to call twice."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
