"""Turning a planned reply, redirect or forward into the EmailMessage that will be sent."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from inboxbot.config import Config
from inboxbot.core.hours import BusinessCalendar
from inboxbot.core.message import Message, single_line
from inboxbot.core.replies import (
    ReplyContext,
    TemplateSet,
    build_reply,
    format_when,
    hours_table,
    short_reference,
)
from inboxbot.core.triage import Triage


def promise_class(triage: Triage) -> str:
    if triage.vip:
        return "vip"
    return "urgent" if triage.urgent else "default"


def promised_time(config: Config, calendar: BusinessCalendar, triage: Triage,
                  now: datetime) -> datetime:
    return calendar.add_business_time(now, config.promise.for_class(promise_class(triage)))


@dataclass(frozen=True)
class Composer:
    config: Config
    calendar: BusinessCalendar
    templates: TemplateSet

    def context(self, triage: Triage, now: datetime, *, forwarded: bool = False,
                due_reason: str = "") -> ReplyContext:
        config, message, language = self.config, triage.message, triage.language
        customer = message.reply_address
        local_now = now.astimezone(self.calendar.zone)
        next_open = self.calendar.next_open(now)
        return ReplyContext(
            customer_name=(customer.name if customer else "") or "",
            customer_address=customer.addr if customer else "",
            shop_name=config.shop.name,
            shop_address=config.shop.address,
            signature=config.shop.signature,
            subject=message.subject,
            reference=short_reference(message.message_id or message.subject),
            language=language,
            open_now=self.calendar.is_open(local_now),
            hours_table=hours_table(config.hours.week, language),
            next_open=format_when(next_open, language),
            promise=format_when(promised_time(config, self.calendar, triage, now), language),
            promise_class=promise_class(triage),
            help_url=config.channels.help_url,
            support_address=config.shop.address,
            forwarded=forwarded,
            quoted_text=quote(message.text),
            due_reason=due_reason,
        )

    def reply(self, template: str, triage: Triage, now: datetime,
              *, forwarded: bool = False) -> EmailMessage:
        context = self.context(triage, now, forwarded=forwarded)
        rendered = self.templates.render(template, triage.language, context)
        return build_reply(triage.message, rendered, shop_address=self.config.shop.address,
                           shop_name=self.config.shop.name, now=now, language=triage.language)

    def forward(self, original: bytes, message: Message, to: str, now: datetime) -> EmailMessage:
        """The original travels as message/rfc822 so nothing is lost; Reply-To is the customer."""
        forward = EmailMessage()
        customer = message.reply_address
        forward["From"] = email.utils.formataddr((self.config.shop.name, self.config.shop.address))
        forward["To"] = to
        if customer:
            forward["Reply-To"] = email.utils.formataddr((customer.name, customer.addr))
        forward["Subject"] = single_line(f"Fwd: {message.subject}")
        forward["Date"] = email.utils.format_datetime(now)
        forward["Message-ID"] = email.utils.make_msgid(domain=self.config.shop.domain)
        forward["Auto-Submitted"] = "auto-forwarded"
        who = customer.addr if customer else "unknown sender"
        forward.set_content(f"Forwarded by inboxbot: {who} wrote to an unsupported address.\n")
        forward.add_attachment(original, maintype="message", subtype="rfc822")
        return forward


def quote(text: str, limit: int = 4000) -> str:
    text = text[:limit]
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())
