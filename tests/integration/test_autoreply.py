"""Auto-replies against a real Dovecot and aiosmtpd: the promise, the language, the machines
that get nothing, and the per-sender and per-hour limits."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from inboxbot.daemon import serve
from tests.mailgen import bounce, customer_mail, newsletter, out_of_office

BERLIN = ZoneInfo("Europe/Berlin")


def _body(raw: bytes) -> tuple[email.message.EmailMessage, str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = message.get_body(("plain",))
    assert part is not None
    return message, part.get_content()


def test_friday_evening_before_a_holiday_promises_the_morning_after(shop) -> None:
    # Friday 14 May 2027, 18:00 in Berlin; Monday 17 May is Whit Monday, a public holiday in DE.
    friday_evening = datetime(2027, 5, 14, 18, 0, tzinfo=BERLIN)
    shop.write(extra='\n[promise]\nvip = "1h"\n')
    shop.dovecot.append("INBOX", customer_mail("buyer@bigcustomer.example", "Invoice", "Hello!"))

    serve(shop.config(), once=True, clock=lambda: friday_evening)

    [received] = shop.sink.wait_for(1)
    reply, body = _body(received.raw)
    assert "Tuesday, 18 May at 10:00" in body, body  # 09:00 opening + the 1 h VIP promise
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] and reply["In-Reply-To"] in reply["References"]


def test_swedish_mail_gets_a_swedish_reply(shop) -> None:
    shop.dovecot.append(
        "INBOX",
        customer_mail(
            "karin@kund.example",
            "Fråga om leverans",
            "Hej! Jag beställde en vas förra veckan och undrar när den kommer fram. "
            "Tack på förhand!",
        ),
    )

    serve(shop.config(), once=True)

    [received] = shop.sink.wait_for(1)
    reply, body = _body(received.raw)
    assert reply["Content-Language"] == "sv"
    assert "Tack för att du hörde av dig" in body


def test_machines_get_no_reply(shop, caplog) -> None:
    machines = [
        bounce(1),
        out_of_office(2),
        newsletter(3),
        customer_mail("noreply@shop-platform.example", "Your order shipped", "Tracking: 123"),
        customer_mail(
            "someone@spam.example", "Cheap watches", "Buy now", headers={"X-Spam-Flag": "YES"}
        ),
        customer_mail("info@shop.example", "Loop?", "Our own address writing to us."),
    ]
    shop.dovecot.append_many("INBOX", machines)
    shop.dovecot.append("INBOX", customer_mail("human@customer.example", "Hi", "A question."))

    with caplog.at_level(logging.INFO, logger="inboxbot"):
        serve(shop.config(), once=True)

    received = shop.sink.wait_for(1)
    assert [r.rcpt_tos for r in received] == [("human@customer.example",)]
    flags = [item["flags"] for item in shop.folder("INBOX").values()]
    assert sum("$AutoReplied" in f for f in flags) == 1
    assert all("$InboxbotSeen" in f for f in flags)
    unanswered = re.findall(r"uid \d+: not answered: automated mail \((.+)\)", caplog.text)
    assert len(unanswered) == len(machines), caplog.text  # each machine, with its reason


def test_second_mail_from_the_same_sender_within_per_sender_gets_none(shop, caplog) -> None:
    shop.dovecot.append("INBOX", customer_mail("twice@customer.example", "One", "First."))
    serve(shop.config(), once=True)
    shop.dovecot.append("INBOX", customer_mail("twice@customer.example", "Two", "Second."))
    with caplog.at_level(logging.INFO, logger="inboxbot"):
        serve(shop.config(), once=True)

    assert len(shop.sink.wait_for(1)) == 1
    assert len(shop.sink.messages) == 1
    # the reason for the skipped reply is in the log, as in `simulate`
    assert re.search(r"uid 2: reply skipped: twice@customer.example was already answered .*"
                     r"\(per_sender\)", caplog.text), caplog.text


def test_three_hundred_senders_with_max_per_hour_100_get_exactly_100(shop) -> None:
    shop.write(max_per_hour=100)
    shop.dovecot.append_many(
        "INBOX",
        [
            customer_mail(f"c{i}@customer.example", f"Question {i}", "Hello, a question.")
            for i in range(300)
        ],
    )

    serve(shop.config(), once=True)

    assert len(shop.sink.wait_for(100, timeout=30)) == 100
    flags = [item["flags"] for item in shop.folder("INBOX").values()]
    assert sum("$AutoReplied" in f for f in flags) == 100
    assert len(shop.sink.messages) == 100


def test_smtp_down_then_up_sends_exactly_one_reply_each(shop) -> None:
    shop.write(extra="")
    text = shop.config_path.read_text().replace(
        'security = "plain"\n\n[shop]', 'security = "plain"\nretries = 0\n\n[shop]'
    )
    shop.config_path.write_text(text)
    shop.dovecot.append_many(
        "INBOX",
        [customer_mail(f"wait{i}@customer.example", "Hello", "A question.") for i in range(3)],
    )
    shop.sink.stop()

    serve(shop.config(), once=True)  # nothing can be sent; nothing is marked either

    assert not any("$InboxbotSeen" in item["flags"] for item in shop.folder("INBOX").values())
    shop.sink.start()
    serve(shop.config(), once=True)
    serve(shop.config(), once=True)

    received = shop.sink.wait_for(3)
    assert sorted(r.rcpt_tos[0] for r in received) == [
        f"wait{i}@customer.example" for i in range(3)
    ]
    assert len(shop.sink.messages) == 3


def test_a_machine_or_our_own_address_in_reply_to_gets_nothing(shop, caplog) -> None:
    """A reply goes to Reply-To before From (RFC 5322 3.6.2), so that address must be a person
    too: a contact form's no-reply Reply-To, a mail system, or our own address (a reply to
    ourselves, or to an alias of ours, is mail to a machine that answers). The mail itself is
    human: it is still classified as a complaint and staff are reminded."""
    shop.write(extra='\n[reminders]\nnotify = "owner@shop.example"\n')
    targets = [
        "no-reply@forms.example",
        "MAILER-DAEMON@mx.example",
        "support@shop.example",
        "info+eu@shop.example",
    ]
    shop.dovecot.append_many("INBOX", [
        customer_mail(f"human{i}@customer.example", "Broken lamp",
                      "The lamp arrived broken. I want a refund.",
                      headers={"Reply-To": target})
        for i, target in enumerate(targets)
    ])
    shop.dovecot.append("INBOX", customer_mail(
        "anna@customer.example", "A question", "Hello, a question.",
        headers={"Reply-To": "Anna <anna.home@customer.example>"}))

    with caplog.at_level(logging.INFO, logger="inboxbot"):
        serve(shop.config(), once=True)

    received = shop.sink.wait_for(1)
    time.sleep(0.3)  # anything else the pass sent has arrived by now
    assert [r.rcpt_tos for r in shop.sink.messages] == [("anna.home@customer.example",)]
    items = shop.folder("INBOX").values()
    flags = [item["flags"] for item in items]
    assert sum("$AutoReplied" in f for f in flags) == 1
    assert sum("$Complaint" in f for f in flags) == len(targets)  # still human mail
    for target in targets:
        assert f"reply skipped: Reply-To {target.lower()}" in caplog.text, caplog.text
    assert received


def test_mail_from_an_unsupported_address_of_ours_is_not_answered(shop, caplog) -> None:
    """[channels].unsupported lists addresses whose mail reaches this mailbox: ours. A web
    shop's order notice from sales@ to support@ (or a Reply-To naming sales+eu@) was
    acknowledged to sales@, i.e. into our own inbox."""
    shop.dovecot.append_many("INBOX", [
        customer_mail("sales@shop.example", "New order 4711", "Order 4711 was placed."),
        customer_mail("kim@customer.example", "Question", "Hello, a question.",
                      headers={"Reply-To": "sales+eu@shop.example"}),
    ])

    with caplog.at_level(logging.INFO, logger="inboxbot"):
        serve(shop.config(), once=True)

    time.sleep(0.3)
    assert shop.sink.messages == []
    assert "reply skipped: From sales@shop.example: our own address" in caplog.text
    assert "reply skipped: Reply-To sales+eu@shop.example: our own address" in caplog.text
