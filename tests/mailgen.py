"""Realistic test mail, built with the standard library, with what inboxbot should do to it."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

SHOP = "support@shop.example"


def customer_mail(
    sender: str,
    subject: str,
    body: str,
    *,
    to: str = SHOP,
    name: str = "",
    headers: dict[str, str] | None = None,
    msgid: str | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = email.utils.formataddr((name, sender)) if name else sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = "Mon, 23 Nov 2026 10:00:00 +0100"
    mail["Message-ID"] = msgid or email.utils.make_msgid(domain="customer.example")
    for key, value in (headers or {}).items():
        mail[key] = value
    mail.set_content(body)
    return bytes(mail)


def bounce(index: int) -> bytes:
    mail = EmailMessage()
    mail["From"] = "MAILER-DAEMON@mx.example.net"
    mail["To"] = SHOP
    mail["Return-Path"] = "<>"
    mail["Subject"] = "Undelivered Mail Returned to Sender"
    mail["Message-ID"] = f"<bounce{index}@mx.example.net>"
    mail["Auto-Submitted"] = "auto-replied"
    mail.set_content("This is the mail system at host mx.example.net. I'm sorry...")
    return bytes(mail)


def newsletter(index: int) -> bytes:
    return customer_mail(
        "news@brand.example",
        f"Our November deals #{index}",
        "Big savings this week!!! Unsubscribe below.",
        headers={
            "List-Id": "<deals.brand.example>",
            "Precedence": "bulk",
            "List-Unsubscribe": "<mailto:leave@brand.example>",
        },
    )


def out_of_office(index: int) -> bytes:
    return customer_mail(
        f"kollege{index}@firma.example",
        "Automatische Antwort: Ihre Bestellung",
        "Ich bin bis zum 30.11. nicht im Büro.",
        headers={"Auto-Submitted": "auto-replied"},
    )


@dataclass(frozen=True)
class Expected:
    raw: bytes
    folder: str
    keywords: frozenset[str]
    answered: bool


KINDS: dict[str, Any] = {
    "vip": lambda i: Expected(
        customer_mail(
            f"buyer{i}@bigcustomer.example",
            f"Order {i} question",
            "Hello, could you send me the invoice for last week's order? Thanks.",
        ),
        "VIP",
        frozenset({"$VIP"}),
        True,
    ),
    "urgent": lambda i: Expected(
        customer_mail(
            f"angry{i}@customer.example",
            "Broken item - third time I write!",
            "The lamp arrived broken and this is the third time I write. I want a "
            "refund immediately or I will contact my lawyer and file a chargeback.",
        ),
        "Urgent",
        frozenset({"$Complaint", "$Urgent"}),
        True,
    ),
    "complaint": lambda i: Expected(
        customer_mail(
            f"sad{i}@customer.example",
            "Damaged parcel",
            "Hello, my order arrived damaged: the mug is broken. Could you send a "
            "replacement or a refund?",
        ),
        "INBOX",
        frozenset({"$Complaint"}),
        True,
    ),
    "question": lambda i: Expected(
        customer_mail(
            f"asker{i}@customer.example",
            "Opening hours",
            "Hi! Do you also sell gift cards? Best regards",
        ),
        "INBOX",
        frozenset(),
        True,
    ),
    "newsletter": lambda i: Expected(newsletter(i), "INBOX", frozenset(), False),
    "bounce": lambda i: Expected(bounce(i), "INBOX", frozenset(), False),
    "ooo": lambda i: Expected(out_of_office(i), "INBOX", frozenset(), False),
}


def mixed_backlog(count: int) -> list[Expected]:
    names = list(KINDS)
    return [KINDS[names[i % len(names)]](i) for i in range(count)]
