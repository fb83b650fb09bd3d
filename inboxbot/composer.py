"""Turning a planned reply, redirect or forward into the EmailMessage that will be sent."""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from inboxbot.config import Config
from inboxbot.core.hours import BusinessCalendar
from inboxbot.core.message import Message, single_line
from inboxbot.core.replies import PromiseClass, ReplyContext, TemplateSet, build_reply, context_for
from inboxbot.core.triage import Triage


def promise_class(triage: Triage) -> PromiseClass:
    if triage.vip:
        return "vip"
    return "urgent" if triage.urgent else "default"


def promised_time(
    config: Config, calendar: BusinessCalendar, triage: Triage, now: datetime
) -> datetime:
    return calendar.add_business_time(now, config.promise.for_class(promise_class(triage)))


@dataclass(frozen=True)
class Composer:
    config: Config
    calendar: BusinessCalendar
    templates: TemplateSet

    def context(
        self,
        template: str,
        triage: Triage,
        now: datetime,
        *,
        forwarded: bool = False,
        due_reason: str = "",
    ) -> ReplyContext:
        config, zone = self.config, self.calendar.zone
        language = self.templates.resolve(template, triage.language)
        return context_for(
            triage.message,
            language=language,
            shop_name=config.shop.name,
            shop_address=config.shop.address,
            signature=config.shop.signature,
            open_now=self.calendar.is_open(now),
            week=config.hours.week,
            next_open=self.calendar.next_open(now).astimezone(zone),
            promise=promised_time(config, self.calendar, triage, now).astimezone(zone),
            promise_class=promise_class(triage),
            help_url=config.channels.help_url,
            support_address=config.shop.address,
            forwarded=forwarded,
            due_reason=due_reason,
        )

    def reply(
        self, template: str, triage: Triage, now: datetime, *, forwarded: bool = False
    ) -> EmailMessage:
        context = self.context(template, triage, now, forwarded=forwarded)
        rendered = self.templates.render(template, context.language, context)
        return build_reply(
            triage.message,
            rendered,
            shop_address=self.config.shop.address,
            shop_name=self.config.shop.name,
            now=now,
            language=context.language,
            message_id=self.reply_id(triage.message, template),
        )

    def reply_id(self, message: Message, template: str) -> str:
        """The same inbound mail always gets the same reply Message-ID, so a reply re-sent after
        a crash is recognisable as the same mail (in Sent, and by the customer's client). A
        mail without a Message-ID is known by its sender, Date and subject: by the subject
        alone, two such mails saying "Order question" got replies with one Message-ID, and a
        mailbox that keeps one mail per Message-ID (Gmail) shows only the first."""
        inbound = message.message_id or "\0".join(
            (message.sender_address, message.header("date") or "", message.subject)
        )
        key = f"{inbound}\0{template}".encode()
        return f"<inboxbot.{hashlib.sha256(key).hexdigest()[:24]}@{self.config.shop.domain}>"

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
        # As a message/rfc822 part (never base64, RFC 2046 5.2.1), so mail clients open it.
        forward.add_attachment(email.message_from_bytes(original, policy=email.policy.default))
        return forward
