"""Unsupported channels against a real Dovecot and aiosmtpd: redirect in the customer's
language, forward of the original, the per-sender limit, and notification robots."""

from __future__ import annotations

import email
import email.policy

from inboxbot.daemon import serve
from tests.mailgen import customer_mail

FORWARD_ON = '\n[channels]\nunsupported = ["sales@shop.example"]\nforward = true\n'


def _config_with_forward(shop) -> None:
    text = shop.config_path.read_text()
    text = text.replace('[channels]\nunsupported = ["sales@shop.example"]\n', "")
    shop.config_path.write_text(text.replace('help_url = "https://shop.example/help"\n', "")
                                + FORWARD_ON + 'help_url = "https://shop.example/help"\n')


def test_mail_to_sales_gets_one_redirect_in_german_and_the_original_is_forwarded(shop) -> None:
    _config_with_forward(shop)
    shop.dovecot.append("INBOX", customer_mail(
        "kunde@kunde.example", "Umtausch eines Schals",
        "Guten Tag, ich möchte meinen Schal gegen eine andere Farbe umtauschen. Geht das?",
        to="sales@shop.example"))

    serve(shop.config(), once=True)

    received = shop.sink.wait_for(2)
    by_rcpt = {r.rcpt_tos[0]: r for r in received}
    assert set(by_rcpt) == {"kunde@kunde.example", "support@shop.example"}
    redirect = email.message_from_bytes(by_rcpt["kunde@kunde.example"].raw,
                                        policy=email.policy.default)
    body = redirect.get_body(("plain",)).get_content()
    assert redirect["Content-Language"] == "de"
    assert "support@shop.example" in body and "https://shop.example/help" in body
    forward = email.message_from_bytes(by_rcpt["support@shop.example"].raw,
                                       policy=email.policy.default)
    assert forward["Reply-To"] == "kunde@kunde.example"
    attached = [p for p in forward.iter_attachments() if p.get_content_type() == "message/rfc822"]
    assert attached and "Umtausch eines Schals" in attached[0].as_string()
    [item] = shop.folder("INBOX").values()
    assert "$Redirected" in item["flags"] and "$AutoReplied" not in item["flags"]


def test_same_customer_again_within_per_sender_gets_nothing(shop) -> None:
    for subject in ("First", "Second"):
        shop.dovecot.append("INBOX", customer_mail("again@customer.example", subject,
                                                   "Hello, a question.", to="sales@shop.example"))
        serve(shop.config(), once=True)
    assert len(shop.sink.wait_for(1)) == 1
    assert len(shop.sink.messages) == 1


def test_reply_to_a_noreply_order_confirmation_is_redirected(shop) -> None:
    shop.dovecot.append("INBOX", customer_mail(
        "buyer@customer.example", "Re: Your order 10482 is confirmed",
        "Can I still change the delivery address?", to="noreply@shop.example"))

    serve(shop.config(), once=True)

    [received] = shop.sink.wait_for(1)
    assert received.rcpt_tos == ("buyer@customer.example",)
    assert "$Redirected" in next(iter(shop.folder("INBOX").values()))["flags"]


def test_notification_robots_get_no_reply_and_customer_messages_are_flagged(shop) -> None:
    robots = [
        customer_mail("notification@facebookmail.com", "New message from Anna",
                      "You have a new message from Anna."),
        customer_mail("service@paypal.com", "You've got money", "You received a payment."),
        customer_mail("noreply@dhl.com", "Your parcel is on its way", "Tracking 00340434"),
        customer_mail("transaction@etsy.com", "Conversation with Mia about order 123",
                      "Mia sent you a message: is the blue mug still available?"),
    ]
    shop.dovecot.append_many("INBOX", robots)
    shop.dovecot.append("INBOX", customer_mail("human@customer.example", "Hi", "A question."))

    serve(shop.config(), once=True)

    received = shop.sink.wait_for(1)
    assert [r.rcpt_tos for r in received] == [("human@customer.example",)]
    channel = shop.folder("Channels")
    assert len(channel) >= 2  # the Facebook page message and the Etsy conversation
    for item in channel.values():
        assert {"$Channel", "\\Flagged"} <= item["flags"]
