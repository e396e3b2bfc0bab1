"""Hands the finished message to the mail server.

Owns the SMTP conversation: TLS, authentication, and the decision whether a failure is worth
retrying (`TransientDeliveryError`) or not (`PermanentDeliveryError`). The message itself is
`jobs.deliver.message`'s.
It must not render reports, choose recipients beyond its settings, or record delivery state, and it
never writes the SMTP password into a repr, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from jobs.core.errors import (
    ConfigError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from jobs.deliver.message import check_address

if TYPE_CHECKING:
    import aiosmtplib
    from aiosmtplib.protocol import SMTPProtocol

log = logging.getLogger("revwatch.deliver.smtp")

Security = Literal["none", "starttls", "tls"]
_SECURITIES: tuple[str, ...] = get_args(Security)

# Sending a password in clear text is tolerable only where it never leaves the machine.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# QUIT after an accepted DATA is a courtesy; waiting the full command timeout for it is not.
_QUIT_TIMEOUT = 5.0


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """Where and how to hand the report over; validated on construction (ConfigError)."""

    host: str
    port: int
    mail_from: str
    mail_to: tuple[str, ...]
    security: Security = "starttls"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ca_bundle: Path | None = None
    verify: bool = True
    attempts: int = 4
    backoff_base: float = 2.0
    backoff_cap: float = 60.0

    def __post_init__(self) -> None:
        if isinstance(self.mail_to, str):
            object.__setattr__(self, "mail_to", (self.mail_to,))
        elif not isinstance(self.mail_to, tuple):
            object.__setattr__(self, "mail_to", tuple(self.mail_to))
        where = f"{self.host}:{self.port}"
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigError(f"smtp host {self.host!r} is empty or contains whitespace")
        if not 0 < self.port < 65536:
            raise ConfigError(f"smtp port {self.port} is not between 1 and 65535")
        if self.security not in _SECURITIES:
            raise ConfigError(
                f"smtp security {self.security!r} is not one of {', '.join(_SECURITIES)}"
            )
        if not self.mail_to:
            raise ConfigError("no mail recipients (mail_to is empty)")
        for address in (self.mail_from, *self.mail_to):
            check_address("mail address", address)
        if self.password is not None and not self.user:
            raise ConfigError(f"an smtp password is set for {where} but no user")
        if self.user and self.security == "none" and self.host.lower() not in _LOOPBACK_HOSTS:
            raise ConfigError(
                f"refusing to send the smtp password in clear text to {where}; "
                "set security to starttls or tls"
            )
        if not self.timeout > 0:
            raise ConfigError(f"smtp timeout must be positive, not {self.timeout}")
        if self.attempts < 1:
            raise ConfigError(f"smtp attempts must be at least 1, not {self.attempts}")
        if not (self.backoff_base >= 0 and self.backoff_cap >= 0):
            raise ConfigError("smtp backoff base and cap must not be negative")


@dataclass(frozen=True)
class DeliveryResult:
    """What the server took: refused recipients map to the server's `"550 reason"`."""

    accepted: tuple[str, ...]
    refused: dict[str, str]
    attempts: int


def backoff_delay(retry: int, *, base: float, cap: float, rng: Callable[[], float]) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**retry)]."""
    ceiling = min(cap, base * 2.0 ** min(retry, 60))
    return max(0.0, min(1.0, rng())) * ceiling


def send(
    message: EmailMessage,
    settings: SmtpSettings,
    *,
    sleep: Callable[[float], object] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> DeliveryResult:
    """Deliver `message` to `settings.mail_to`, retrying transient failures.

    Raises PermanentDeliveryError at once when retrying cannot help, TransientDeliveryError when
    every attempt failed with a transient error. Runs its own event loop (`asyncio.run`), so it
    must not be called from inside a running loop.
    """
    # Imported here: only a run that mails needs aiosmtplib (a dry run, `status` never do).
    import aiosmtplib

    where = f"{settings.host}:{settings.port}"
    context = _tls_context(settings)
    if context is not None and not settings.verify:
        log.warning(
            "TLS certificate verification is OFF for the mail server %s: "
            "anyone on the path can read the report and the smtp password",
            where,
        )
    for attempt in range(1, settings.attempts + 1):
        try:
            refused = asyncio.run(_deliver_once(message, settings, context))
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            error = _classify(exc, settings)
            if isinstance(error, PermanentDeliveryError):
                raise error from None
            if attempt == settings.attempts:
                raise TransientDeliveryError(
                    f"{error} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})"
                ) from None
            delay = backoff_delay(
                attempt - 1, base=settings.backoff_base, cap=settings.backoff_cap, rng=rng
            )
            log.warning(
                "mail attempt %d of %d failed: %s; retrying in %.1f s",
                attempt,
                settings.attempts,
                error,
                delay,
            )
            sleep(delay)
            continue
        accepted = tuple(r for r in settings.mail_to if r not in refused)
        return DeliveryResult(
            accepted=accepted,
            refused={
                r: _redact(f"{reply.code} {reply.message}", settings)
                for r, reply in refused.items()
            },
            attempts=attempt,
        )
    raise AssertionError("unreachable: attempts >= 1 is validated")  # pragma: no cover


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    if settings.security == "none":
        return None
    cafile = str(settings.ca_bundle) if settings.ca_bundle is not None else None
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise PermanentDeliveryError(
            f"cannot read the CA bundle {settings.ca_bundle} for {settings.host}:{settings.port}: "
            f"{exc}"
        ) from None
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def _deliver_once(
    message: EmailMessage, settings: SmtpSettings, context: ssl.SSLContext | None
) -> dict[str, aiosmtplib.SMTPResponse]:
    import aiosmtplib  # see send()

    client = aiosmtplib.SMTP(
        hostname=settings.host,
        port=settings.port,
        timeout=settings.timeout,
        use_tls=settings.security == "tls",
        # STARTTLS and AUTH are run below, step by step, so that the connection is in hand to
        # release whichever step fails.
        start_tls=False,
        tls_context=context,
    )
    protocol: SMTPProtocol | None = None
    try:
        await client.connect()
        protocol = client.protocol
        if settings.security == "starttls":
            # Raises when the server offers no STARTTLS: never fall back to clear text.
            await client.starttls()
        if settings.user:
            await client.login(settings.user, settings.password or "")
        refused, _reply = await client.send_message(
            message, sender=settings.mail_from, recipients=list(settings.mail_to)
        )
        # The message is accepted once DATA is: a failing QUIT must not cause a second copy.
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await client.quit(timeout=min(_QUIT_TIMEOUT, settings.timeout))
    finally:
        client.close()
        await _release(protocol)
    return refused


async def _release(protocol: SMTPProtocol | None) -> None:
    """Free the socket before asyncio.run() ends, or every attempt leaks a descriptor.

    A close only schedules the release, and a TLS close waits for the server's close_notify;
    nothing more is owed to the server here, so abort and let the loop run the callbacks.
    """
    transport = protocol.transport if protocol is not None else None
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    for _ in range(3):
        await asyncio.sleep(0)


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of `kind` in `exc`'s cause/context chain (aiosmtplib wraps OSErrors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _secrets(settings: SmtpSettings) -> list[str]:
    """The password and every form AUTH sends it in: a server that echoes the base64 blob of
    AUTH PLAIN or LOGIN back in its reply must not get it into a log or the ledger."""
    if not settings.password:
        return []
    user, password = (settings.user or "").encode(), settings.password.encode()
    blobs = [b"\0" + user + b"\0" + password, user + b"\0" + user + b"\0" + password, password]
    encoded = [base64.b64encode(blob).decode("ascii") for blob in blobs]
    # Longest first, so that a blob is masked whole before the password inside it is.
    return sorted({settings.password, *encoded}, key=len, reverse=True)


def _redact(text: str, settings: SmtpSettings) -> str:
    for secret in _secrets(settings):
        text = text.replace(secret, "***")
    return text


def _by_code(code: int, text: str) -> DeliveryError:
    if 400 <= code < 500:
        return TransientDeliveryError(text)
    return PermanentDeliveryError(text)


def _classify(exc: BaseException, settings: SmtpSettings) -> DeliveryError:
    """Turn what aiosmtplib raised into a transient or permanent delivery error.

    aiosmtplib raises the same classes for temporary and permanent replies, so replies are
    decided on their code: 4xx is worth retrying, anything else is not.
    """
    where = f"mail server {settings.host}:{settings.port}"
    error = _classify_unredacted(exc, settings, where)
    return type(error)(_redact(str(error), settings))


def _classify_unredacted(exc: BaseException, settings: SmtpSettings, where: str) -> DeliveryError:
    import aiosmtplib  # see send()

    verify_error = _cause(exc, ssl.SSLCertVerificationError)
    if isinstance(verify_error, ssl.SSLCertVerificationError):
        return PermanentDeliveryError(
            f"{where}: the mail server's certificate could not be verified; set a CA bundle "
            f"(ca_bundle) that signs it ({verify_error.verify_message or verify_error})"
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        details = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        if any(400 <= r.code < 500 for r in exc.recipients):
            return TransientDeliveryError(f"{where} refused every recipient for now: {details}")
        return PermanentDeliveryError(f"{where} refused every recipient: {details}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        step = {
            aiosmtplib.SMTPAuthenticationError: f"refused authentication as {settings.user!r}",
            aiosmtplib.SMTPSenderRefused: f"refused the sender {settings.mail_from!r}",
            aiosmtplib.SMTPDataError: "refused the message",
            aiosmtplib.SMTPHeloError: "refused the greeting",
            aiosmtplib.SMTPConnectResponseError: "refused the connection",
        }.get(type(exc), "replied")
        return _by_code(exc.code, f"{where} {step}: {exc.code} {exc.message}")
    tls_error = _cause(exc, ssl.SSLError)
    if isinstance(tls_error, ssl.SSLError) and not isinstance(
        tls_error, ssl.SSLEOFError | ssl.SSLZeroReturnError
    ):
        return PermanentDeliveryError(
            f"{where}: TLS failed ({tls_error.reason or tls_error}); check that security="
            f"{settings.security} is what the server speaks (implicit tls is usually port 465, "
            "starttls 587)"
        )
    if isinstance(exc, TimeoutError):
        return TransientDeliveryError(f"{where} did not answer within {settings.timeout:g} s")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return TransientDeliveryError(f"{where} closed the connection unexpectedly ({exc})")
    if isinstance(exc, aiosmtplib.SMTPConnectError | OSError):
        return TransientDeliveryError(f"cannot connect to {where}: {exc}")
    if isinstance(exc, aiosmtplib.SMTPException):
        hint = ""
        if "STARTTLS" in exc.message:
            hint = "; set security to tls or none to match the server"
        elif "AUTH" in exc.message:
            hint = "; the server offers no AUTH on this connection (does it need TLS?)"
        return PermanentDeliveryError(f"{where}: {exc.message.rstrip('.')}{hint}")
    return PermanentDeliveryError(f"cannot send to {where}: {exc}")
