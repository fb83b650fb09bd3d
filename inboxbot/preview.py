"""A sample customer message for `replies preview`, planned through the real triage."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any, ClassVar

from inboxbot.core.message import parse_message
from inboxbot.core.triage import Triage

_SAMPLES = {
    "en": ("Where is my order?", "Hello, my order has not arrived yet. Could you check?"),
    "de": ("Wo ist meine Bestellung?", "Hallo, meine Bestellung ist noch nicht angekommen."),
    "sv": ("Var är min beställning?", "Hej, min beställning har inte kommit fram än."),
    "et": ("Kus on mu tellimus?", "Tere, mu tellimus pole veel kohale jõudnud."),
}


def sample_triage(
    engine: Any, now: datetime, *, language: str, vip: bool = False, urgent: bool = False
) -> Triage:
    subject, body = _SAMPLES.get(language, _SAMPLES["en"])
    mail = EmailMessage()
    domain = engine.config.vip.domains[0] if vip and engine.config.vip.domains else "example.com"
    mail["From"] = f"Sam Customer <sam@{domain}>"
    mail["To"] = engine.config.shop.address
    mail["Subject"] = subject
    mail["Message-ID"] = "<preview@inboxbot.invalid>"
    mail["Content-Language"] = language
    mail.set_content(body)
    triage: Triage = engine.triage(parse_message(bytes(mail)), now)
    # The preview shows the promise a class gets, whatever the sample text would classify as.
    triage.__dict__["vip"] = vip
    if urgent:
        triage.__dict__["verdict"] = _Urgent()
    return triage


class _Urgent:
    complaint = True
    urgent = True
    angry = False
    categories: tuple[str, ...] = ()
    cues: ClassVar[dict[str, tuple[str, ...]]] = {}
