"""Mail delivery against real aiosmtpd servers on loopback: MIME shape, TLS, AUTH, retries."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from jobs.core.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from jobs.deliver.message import build_message, message_id_for
from jobs.deliver.smtp import DeliveryResult, SmtpSettings, backoff_delay, send
from jobs.demo.mailsink import MailSink

if TYPE_CHECKING:
    # Imported for types only: importing it at run time would stop pytest rewriting its asserts.
    from tests.support.smtp_server import ScriptedServer

WINDOW_END = datetime(2024, 3, 5, 0, 0, tzinfo=UTC)
TO = "compliance@ca.example"
KEYS = [("CN=Example Issuing CA 1", "4f2a"), ("CN=Example Issuing CA 2", "4f2a")]


class Sleeps:
    """Records the backoff instead of waiting it out."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def message(subject: str = "revwatch: 1 early revocation", to: tuple[str, ...] = (TO,)) -> Any:
    return build_message(
        subject=subject,
        text="mail.cuatis.net revoked after 4 h 38 min — Müller\n",
        html="<p>mail.cuatis.net &lt;b&gt; revoked</p>\n",
        csv="issuer,serial,names\r\nCN=Example Issuing CA 1,4f2a,mail.cuatis.net\r\n",
        mail_from="revwatch@ca.example",
        mail_to=to,
        message_id=message_id_for(KEYS, window_until=WINDOW_END, domain="ca.example"),
        date=datetime(2024, 3, 5, 2, 0, tzinfo=UTC),
    )


def constant(value: float) -> Callable[[], float]:
    return lambda: value


def settings_for(server: ScriptedServer, **overrides: Any) -> SmtpSettings:
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "mail_from": "revwatch@ca.example",
        "mail_to": (TO,),
        "timeout": 5.0,
        "attempts": 4,
    }
    values.update(overrides)
    return SmtpSettings(**values)


def test_plain_delivery_arrives_with_every_part(smtp_server: ScriptedServer) -> None:
    sent = message()
    result = send(sent, settings_for(smtp_server), sleep=Sleeps())

    assert result == DeliveryResult(accepted=(TO,), refused={}, attempts=1)
    [received] = smtp_server.messages
    assert received["Message-ID"] == sent["Message-ID"]
    assert re.fullmatch(r"<revwatch\.[0-9a-f]{32}@ca\.example>", str(received["Message-ID"]))
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["Subject"] == "revwatch: 1 early revocation"
    assert received["Date"].datetime == datetime(2024, 3, 5, 2, 0, tzinfo=UTC)
    assert [part.get_content_type() for part in received.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/csv",
    ]
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain is not None and "4 h 38 min — Müller" in plain.get_content()
    assert html is not None and "&lt;b&gt;" in html.get_content()
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "early-revocations.csv"
    assert attachment.get_content_charset() == "utf-8"
    # Byte for byte, CRLF row ends included (RFC 4180), as the report wrote it.
    assert attachment.get_content() == (
        "issuer,serial,names\r\nCN=Example Issuing CA 1,4f2a,mail.cuatis.net\r\n"
    )
    assert smtp_server.envelopes == [("revwatch@ca.example", (TO,))]


def test_starttls_with_auth_and_ca_bundle(smtp_starttls_auth: ScriptedServer) -> None:
    server = smtp_starttls_auth
    settings = settings_for(
        server,
        security="starttls",
        user=server.user,
        password=server.password,
        ca_bundle=server.ca_bundle,
    )
    result = send(message(), settings)
    assert result.accepted == (TO,)
    assert len(server.messages) == 1


def test_refused_login_is_permanent_and_never_shows_the_password(
    smtp_starttls_auth: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtp_starttls_auth
    wrong = f"wrong-{server.password}"
    settings = settings_for(
        server, security="starttls", user=server.user, password=wrong, ca_bundle=server.ca_bundle
    )
    sleeps = Sleeps()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentDeliveryError) as caught:
        send(message(), settings, sleep=sleeps)

    text = str(caught.value)
    assert "535" in text and f"{server.host}:{server.port}" in text
    assert wrong not in text and wrong not in repr(settings) and wrong not in str(settings)
    assert wrong not in caplog.text
    assert sleeps.calls == [] and server.messages == []


def test_starttls_without_ca_bundle_fails_verification(smtp_starttls_auth: ScriptedServer) -> None:
    server = smtp_starttls_auth
    settings = settings_for(server, security="starttls", user=server.user, password=server.password)
    with pytest.raises(PermanentDeliveryError, match="certificate could not be verified"):
        send(message(), settings, sleep=Sleeps())
    assert server.messages == []


def test_plain_client_against_starttls_required_server_is_permanent(
    smtp_starttls_auth: ScriptedServer,
) -> None:
    with pytest.raises(PermanentDeliveryError, match="530"):
        send(message(), settings_for(smtp_starttls_auth), sleep=Sleeps())


def test_starttls_required_but_not_offered_is_permanent(smtp_server: ScriptedServer) -> None:
    settings = settings_for(smtp_server, security="starttls")
    with pytest.raises(PermanentDeliveryError, match="STARTTLS"):
        send(message(), settings, sleep=Sleeps())
    assert smtp_server.messages == []


def test_implicit_tls(smtp_tls: ScriptedServer) -> None:
    settings = settings_for(smtp_tls, security="tls", ca_bundle=smtp_tls.ca_bundle)
    assert send(message(), settings).accepted == (TO,)
    assert len(smtp_tls.messages) == 1


def test_implicit_tls_without_ca_bundle_fails_verification(smtp_tls: ScriptedServer) -> None:
    with pytest.raises(PermanentDeliveryError, match="certificate could not be verified"):
        send(message(), settings_for(smtp_tls, security="tls"), sleep=Sleeps())


def test_verification_off_works_but_warns_each_time(
    smtp_tls: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(smtp_tls, security="tls", verify=False)
    with caplog.at_level(logging.WARNING, logger="revwatch.deliver.smtp"):
        send(message(), settings)
        send(message(), settings)
    assert len(smtp_tls.messages) == 2
    assert sum("verification is OFF" in r.getMessage() for r in caplog.records) == 2


def test_421_then_success_is_delivered_after_one_retry(smtp_server: ScriptedServer) -> None:
    smtp_server.script.rcpt_reply("421 4.3.2 Service shutting down", times=1)
    sleeps = Sleeps()
    result = send(message(), settings_for(smtp_server), sleep=sleeps, rng=lambda: 0.5)
    assert result.attempts == 2 and result.accepted == (TO,)
    assert sleeps.calls == [1.0]  # 0.5 * min(cap 60, base 2 * 2**0)
    assert len(smtp_server.messages) == 1


def test_451_forever_gives_up_after_all_attempts_with_capped_backoff(
    smtp_server: ScriptedServer,
) -> None:
    smtp_server.script.data_reply("451 4.3.0 Mailbox busy", times=None)
    sleeps = Sleeps()
    settings = settings_for(smtp_server, attempts=4, backoff_base=10.0, backoff_cap=15.0)
    with pytest.raises(TransientDeliveryError, match=r"451 4\.3\.0 Mailbox busy") as caught:
        send(message(), settings, sleep=sleeps, rng=lambda: 1.0)
    assert "4 attempts" in str(caught.value)
    assert sleeps.calls == [10.0, 15.0, 15.0]
    assert smtp_server.script.data_commands == 4 and smtp_server.messages == []


def test_550_is_permanent_after_one_attempt(smtp_server: ScriptedServer) -> None:
    smtp_server.script.data_reply("550 5.7.1 Message rejected as spam", times=None)
    sleeps = Sleeps()
    with pytest.raises(PermanentDeliveryError, match=r"550 5\.7\.1") as caught:
        send(message(), settings_for(smtp_server), sleep=sleeps)
    assert f"{smtp_server.host}:{smtp_server.port}" in str(caught.value)
    assert sleeps.calls == [] and smtp_server.script.mail_commands == 1


def test_one_of_two_recipients_refused(smtp_server: ScriptedServer) -> None:
    smtp_server.script.refuse("gone@ca.example", "550 5.1.1 No such user here")
    result = send(
        message(to=(TO, "gone@ca.example")),
        settings_for(smtp_server, mail_to=(TO, "gone@ca.example")),
    )
    assert result.accepted == (TO,)
    assert result.refused == {"gone@ca.example": "550 5.1.1 No such user here"}
    assert smtp_server.envelopes == [("revwatch@ca.example", (TO,))]


def test_all_recipients_refused_5xx_is_permanent(smtp_server: ScriptedServer) -> None:
    smtp_server.script.refuse(TO, "550 5.1.1 No such user here")
    with pytest.raises(PermanentDeliveryError, match="refused every recipient"):
        send(message(), settings_for(smtp_server), sleep=Sleeps())
    assert smtp_server.script.mail_commands == 1


def test_all_recipients_refused_4xx_is_transient(smtp_server: ScriptedServer) -> None:
    smtp_server.script.rcpt_reply("450 4.2.1 Mailbox temporarily unavailable", times=None)
    with pytest.raises(TransientDeliveryError, match=r"450 4\.2\.1"):
        send(message(), settings_for(smtp_server, attempts=2), sleep=Sleeps())
    assert smtp_server.script.mail_commands == 2


def test_drop_during_data_is_transient_and_retried(smtp_server: ScriptedServer) -> None:
    smtp_server.script.drop_in_data(times=1)
    sleeps = Sleeps()
    result = send(message(), settings_for(smtp_server), sleep=sleeps)
    assert result.attempts == 2 and len(sleeps.calls) == 1
    assert len(smtp_server.messages) == 1


def test_drop_during_data_on_the_last_attempt_is_transient(smtp_server: ScriptedServer) -> None:
    smtp_server.script.drop_in_data(times=None)
    with pytest.raises(TransientDeliveryError, match="closed the connection"):
        send(message(), settings_for(smtp_server, attempts=1), sleep=Sleeps())


def test_stall_past_the_timeout_is_transient(smtp_server: ScriptedServer) -> None:
    smtp_server.script.stall_in_data(2.0, times=None)
    settings = settings_for(smtp_server, timeout=1.0, attempts=1)
    with pytest.raises(TransientDeliveryError, match="did not answer within 1 s"):
        send(message(), settings, sleep=Sleeps())
    assert smtp_server.messages == []


def test_server_down_is_transient(dead_smtp_port: int) -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=dead_smtp_port,
        security="none",
        mail_from="revwatch@ca.example",
        mail_to=(TO,),
        attempts=2,
    )
    sleeps = Sleeps()
    with pytest.raises(TransientDeliveryError, match=f"127.0.0.1:{dead_smtp_port}"):
        send(message(), settings, sleep=sleeps)
    assert len(sleeps.calls) == 1


def test_implicit_tls_against_a_plain_server_is_permanent(smtp_server: ScriptedServer) -> None:
    with pytest.raises(PermanentDeliveryError, match="TLS failed"):
        send(message(), settings_for(smtp_server, security="tls"), sleep=Sleeps())


def test_backoff_is_capped_and_bounded() -> None:
    for retry in range(0, 200, 7):
        for draw in (0.0, 0.3, 0.999, 1.0, 7.0, -1.0):
            delay = backoff_delay(retry, base=2.0, cap=60.0, rng=constant(draw))
            assert 0.0 <= delay <= min(60.0, 2.0 * 2**retry)
    assert backoff_delay(3, base=2.0, cap=60.0, rng=lambda: 1.0) == 16.0
    assert backoff_delay(10, base=2.0, cap=60.0, rng=lambda: 1.0) == 60.0


def test_message_id_depends_only_on_the_set_of_cases() -> None:
    first = message_id_for(KEYS, window_until=WINDOW_END, domain="ca.example")
    again = message_id_for(
        [*reversed(KEYS), KEYS[0]],
        window_until=datetime(2030, 1, 1, tzinfo=UTC),
        domain="ca.example",
    )
    other = message_id_for(KEYS[:1], window_until=WINDOW_END, domain="ca.example")
    assert first == again and first != other
    # Serial alone is not the key: the same serial under another issuer is another case.
    assert message_id_for([("CN=X", "1")], window_until=WINDOW_END, domain="d") != message_id_for(
        [("CN=Y", "1")], window_until=WINDOW_END, domain="d"
    )


def test_message_id_of_an_empty_report_follows_the_window() -> None:
    monday = message_id_for([], window_until=WINDOW_END, domain="ca.example")
    same = message_id_for(
        [], window_until=datetime.fromisoformat("2024-03-05T01:00:00+01:00"), domain="ca.example"
    )
    tuesday = message_id_for([], window_until=datetime(2024, 3, 6, tzinfo=UTC), domain="ca.example")
    assert monday == same and monday != tuesday
    with pytest.raises(ValueError):
        message_id_for([], window_until=WINDOW_END, domain="ca.example>\r\nBcc: x")


def test_subject_line_breaks_cannot_inject_headers(smtp_server: ScriptedServer) -> None:
    hostile = "revwatch: mail.cuatis.net\r\nBcc: attacker@evil.example\nX-Evil: 1\u2028"
    sent = message(subject=hostile)
    assert sent["Subject"] == "revwatch: mail.cuatis.net Bcc: attacker@evil.example X-Evil: 1"
    send(sent, settings_for(smtp_server))
    [received] = smtp_server.messages
    assert received["Bcc"] is None and received["X-Evil"] is None
    assert smtp_server.envelopes == [("revwatch@ca.example", (TO,))]


def test_line_breaks_in_addresses_are_refused() -> None:
    with pytest.raises(ConfigError, match="line break"):
        message(to=("compliance@ca.example\r\nBcc: attacker@evil.example",))
    with pytest.raises(ConfigError, match="line break"):
        SmtpSettings(host="h", port=25, mail_from="a@b\n", mail_to=("c@d",))


def test_settings_refuse_a_clear_text_password_off_loopback() -> None:
    password = "hunter2-secret"
    with pytest.raises(ConfigError, match="clear text") as caught:
        SmtpSettings(
            host="smtp.ca.example",
            port=25,
            security="none",
            user="u",
            password=password,
            mail_from="a@ca.example",
            mail_to=("b@ca.example",),
        )
    assert password not in str(caught.value)
    with pytest.raises(ConfigError, match="attempts"):
        SmtpSettings(host="h", port=25, mail_from="a@b", mail_to=("c@d",), attempts=0)


def test_mail_sink_saves_each_message_as_eml(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail") as sink:
        settings = SmtpSettings(
            host=sink.host, port=sink.port, security="none", mail_from="r@ca.example", mail_to=(TO,)
        )
        send(message(), settings)
        send(message(subject="second"), settings)
    assert [m["Subject"] for m in sink.messages] == ["revwatch: 1 early revocation", "second"]
    saved = sorted((tmp_path / "mail").glob("*.eml"))
    assert [p.name for p in saved] == ["0001.eml", "0002.eml"]
    assert b"Subject: second" in saved[1].read_bytes()
