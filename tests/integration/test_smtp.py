"""SmtpSender against a real aiosmtpd server on loopback (tests/smtp_sink.py); no mocks."""

from __future__ import annotations

import logging
import time
from email import message_from_bytes
from email.message import EmailMessage

import pytest

from inboxbot.adapters.smtp import SmtpSender, is_loopback
from inboxbot.errors import SendError
from tests.smtp_sink import SINK_PASSWORD, SINK_USER, SmtpSink, TlsFiles


def reply(subject: str = "Re: order 1234") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Support <support@shop.test>"
    msg["To"] = "customer@example.test"
    msg["Subject"] = subject
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("Thanks, we will answer by Tuesday 10:00.\n")
    return msg


class Sleeps:
    """Injected instead of time.sleep: records the delays and can act on the server meanwhile."""

    def __init__(self, on_sleep: object = None) -> None:
        self.delays: list[float] = []
        self._on_sleep = on_sleep

    def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if callable(self._on_sleep):
            self._on_sleep(len(self.delays))


def sender_for(sink: SmtpSink, **kwargs: object) -> SmtpSender:
    options: dict[str, object] = {"security": "plain", "username": None, "password": None}
    options.update(kwargs)
    return SmtpSender(sink.host, sink.port, timeout=5, **options)  # type: ignore[arg-type]


def test_plain_loopback_delivers_message_and_envelope(smtp_sink: SmtpSink) -> None:
    with sender_for(smtp_sink) as sender:
        sender.send(reply(), envelope_from="bounces@shop.test", recipients=["c@example.test"])
    [got] = smtp_sink.wait_for(1)
    assert got.mail_from == "bounces@shop.test"
    assert got.rcpt_tos == ("c@example.test",)
    parsed = message_from_bytes(got.raw)
    assert parsed["Subject"] == "Re: order 1234"
    assert parsed["Auto-Submitted"] == "auto-replied"


def test_null_envelope_sender_on_the_wire(smtp_sink: SmtpSink) -> None:
    with sender_for(smtp_sink) as sender:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    [got] = smtp_sink.wait_for(1)
    assert got.mail_from in ("", "<>")  # aiosmtpd reports MAIL FROM:<> as "<>"


def test_connection_is_reused_across_sends(smtp_sink: SmtpSink) -> None:
    with sender_for(smtp_sink) as sender:
        for n in range(5):
            sender.send(reply(f"Re: {n}"), envelope_from="", recipients=["c@example.test"])
    assert len(smtp_sink.wait_for(5)) == 5
    assert smtp_sink.connections == 1


def test_auth_with_right_credentials(smtp_sink_auth: SmtpSink) -> None:
    with sender_for(smtp_sink_auth, username=SINK_USER, password=SINK_PASSWORD) as sender:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert len(smtp_sink_auth.wait_for(1)) == 1


def test_wrong_password_is_permanent_and_never_logged(
    smtp_sink_auth: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wrong-but-secret-pw"
    sleeps = Sleeps()
    caplog.set_level(logging.DEBUG)
    with (
        sender_for(smtp_sink_auth, username=SINK_USER, password=secret, sleep=sleeps) as sender,
        pytest.raises(SendError) as info,
    ):
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert info.value.permanent
    assert "username and password" in str(info.value)
    assert secret not in str(info.value) and secret not in caplog.text
    assert sleeps.delays == []
    assert smtp_sink_auth.messages == []


def test_no_username_means_no_auth(smtp_sink_auth: SmtpSink) -> None:
    # Without a username the sender must not try AUTH; this server insists, so it is refused.
    with sender_for(smtp_sink_auth) as sender, pytest.raises(SendError) as info:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert info.value.permanent
    assert "530" in str(info.value)


def test_4xx_for_a_while_then_accept_delivers_exactly_once(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse(451, "4.3.0 try again later")
    sleeps = Sleeps(on_sleep=lambda n: smtp_sink.accept() if n == 3 else None)
    with sender_for(smtp_sink, sleep=sleeps, backoff=1.0, max_backoff=3.0) as sender:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert len(smtp_sink.wait_for(1)) == 1
    time.sleep(0.1)
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.attempts == 4
    assert sleeps.delays == [1.0, 2.0, 3.0]  # exponential, capped at max_backoff


def test_4xx_with_real_waiting(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse(421, "4.7.0 busy", for_seconds=0.3)
    started = time.monotonic()
    with sender_for(smtp_sink, backoff=0.1, retries=6) as sender:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert len(smtp_sink.wait_for(1)) == 1
    assert time.monotonic() - started >= 0.3


def test_temporary_failures_outlasting_retries_are_not_permanent(
    smtp_sink: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_sink.refuse(452, "4.3.1 mailbox full, come back later")
    sleeps = Sleeps()
    caplog.set_level(logging.WARNING, logger="inboxbot.smtp")
    with sender_for(smtp_sink, sleep=sleeps, retries=3) as sender, pytest.raises(SendError) as info:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert not info.value.permanent
    assert "452" in str(info.value)
    assert smtp_sink.attempts == 4
    assert len(sleeps.delays) == 3
    retry_lines = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retry_lines) == 3


def test_5xx_is_permanent_without_retry(smtp_sink: SmtpSink) -> None:
    smtp_sink.refuse(550, "5.7.1 relaying denied")
    sleeps = Sleeps()
    with sender_for(smtp_sink, sleep=sleeps) as sender, pytest.raises(SendError) as info:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert info.value.permanent
    assert "5.7.1 relaying denied" in str(info.value)
    assert smtp_sink.attempts == 1
    assert sleeps.delays == []


def test_server_down_then_up_delivers_once(smtp_sink: SmtpSink) -> None:
    smtp_sink.stop()
    sleeps = Sleeps(on_sleep=lambda n: smtp_sink.start() if n == 2 else None)
    with sender_for(smtp_sink, sleep=sleeps) as sender:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert len(smtp_sink.wait_for(1)) == 1
    assert len(sleeps.delays) == 2


def test_server_restart_between_sends_reconnects(smtp_sink: SmtpSink) -> None:
    with sender_for(smtp_sink, sleep=Sleeps()) as sender:
        sender.send(reply("Re: 1"), envelope_from="", recipients=["c@example.test"])
        smtp_sink.stop()  # drops the connection the sender keeps open
        smtp_sink.start()
        sender.send(reply("Re: 2"), envelope_from="", recipients=["c@example.test"])
    got = smtp_sink.wait_for(2)
    assert [message_from_bytes(m.raw)["Subject"] for m in got] == ["Re: 1", "Re: 2"]
    assert smtp_sink.connections == 2


def test_server_never_up_gives_temporary_error(smtp_sink: SmtpSink) -> None:
    smtp_sink.stop()
    with sender_for(smtp_sink, sleep=Sleeps(), retries=2) as sender, pytest.raises(SendError) as e:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert not e.value.permanent
    assert "connect" in str(e.value).lower()


def test_starttls_without_ca_file_fails_verification(
    smtp_sink_starttls: SmtpSink,
) -> None:
    sleeps = Sleeps()
    sender = sender_for(smtp_sink_starttls, security="starttls", sleep=sleeps)
    with sender, pytest.raises(SendError) as info:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert info.value.permanent
    assert "ca_file" in str(info.value)
    assert sleeps.delays == []  # an untrusted certificate does not get better by waiting
    assert smtp_sink_starttls.messages == []


def test_starttls_with_ca_file_delivers(smtp_sink_starttls: SmtpSink, tls_files: TlsFiles) -> None:
    sender = sender_for(smtp_sink_starttls, security="starttls", ca_file=str(tls_files.ca_file))
    with sender:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert len(smtp_sink_starttls.wait_for(1)) == 1


def test_starttls_with_auth_and_ca_file(tls_files: TlsFiles) -> None:
    from tests.smtp_sink import _server_context

    sink = SmtpSink(starttls=_server_context(tls_files), require_auth=True)
    sink.start()
    try:
        with sender_for(
            sink,
            security="starttls",
            ca_file=str(tls_files.ca_file),
            username=SINK_USER,
            password=SINK_PASSWORD,
        ) as sender:
            sender.send(reply(), envelope_from="", recipients=["c@example.test"])
        assert len(sink.wait_for(1)) == 1
    finally:
        sink.stop()


def test_plain_client_against_starttls_only_server_is_refused(smtp_sink_starttls: SmtpSink) -> None:
    with sender_for(smtp_sink_starttls, sleep=Sleeps()) as sender, pytest.raises(SendError) as e:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert e.value.permanent  # 530 must issue STARTTLS first
    assert smtp_sink_starttls.messages == []


def test_implicit_tls_verification(smtp_sink_tls: SmtpSink, tls_files: TlsFiles) -> None:
    with sender_for(smtp_sink_tls, security="tls") as sender, pytest.raises(SendError) as e:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert e.value.permanent and "ca_file" in str(e.value)
    with sender_for(smtp_sink_tls, security="tls", ca_file=str(tls_files.ca_file)) as sender:
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    assert len(smtp_sink_tls.wait_for(1)) == 1


@pytest.mark.parametrize("host", ["smtp.example.com", "192.0.2.10", "10.0.0.1"])
def test_plain_to_non_loopback_is_refused(host: str) -> None:
    with pytest.raises(SendError) as info:
        SmtpSender(host, 25, "plain", None, None)
    assert info.value.permanent
    assert "starttls" in str(info.value)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("localhost", True), ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True),
     ("[::1]", True), ("example.com", False), ("192.0.2.1", False), ("localhost.evil.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_closed_sender_refuses(smtp_sink: SmtpSink) -> None:
    sender = sender_for(smtp_sink)
    sender.close()
    sender.close()  # idempotent
    with pytest.raises(SendError):
        sender.send(reply(), envelope_from="", recipients=["c@example.test"])
    with pytest.raises(SendError):
        sender.check()
