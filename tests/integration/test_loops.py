"""Loops and floods against the real Dovecot and aiosmtpd: two bots never talk forever, a
flood of forged senders never turns the shop into a spam cannon, machines never get a reply."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inboxbot.daemon import serve
from inboxbot.defaults import defaults_dir
from tests.dovecot import Dovecot
from tests.integration.conftest import CONFIG, Shop
from tests.mailgen import customer_mail

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday, open


def _make_shop(root: Path, dovecot: Dovecot, sink: Any, domain: str, **fmt: Any) -> Shop:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(defaults_dir("rules"), root / "rules")
    shutil.copytree(defaults_dir("replies"), root / "replies")
    shop = Shop(root, dovecot, sink)
    text = CONFIG.format(
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        user=dovecot.username,
        password=dovecot.password,
        smtp_host=sink.host,
        smtp_port=sink.port,
        max_per_hour=fmt.get("max_per_hour", 1000),
    ).replace("shop.example", domain)
    shop.config_path.write_text(text, encoding="utf-8")
    return shop


class Network:
    """Delivers what the SMTP sink received into the recipients' real IMAP inboxes."""

    def __init__(self, sink: Any, mailboxes: dict[str, Dovecot], rewrite: Any = None) -> None:
        self.sink, self.mailboxes, self.rewrite = sink, mailboxes, rewrite
        self.cursor = 0
        self.delivered: list[tuple[str, str]] = []  # (from shop, to shop) per message

    def route(self) -> int:
        fresh = self.sink.messages[self.cursor :]
        self.cursor += len(fresh)
        for received in fresh:
            raw = self.rewrite(received.raw) if self.rewrite else received.raw
            for rcpt in received.rcpt_tos:
                if rcpt in self.mailboxes:
                    self.mailboxes[rcpt].append("INBOX", raw)
                    self.delivered.append((_sender(raw), rcpt))
        return len(fresh)


def _sender(raw: bytes) -> str:
    for line in raw.split(b"\n"):
        if line.lower().startswith(b"from:"):
            return line.decode(errors="replace").split("<")[-1].strip(" >\r")
    return ""


def _strip_loop_headers(raw: bytes) -> bytes:
    """A relay that drops Auto-Submitted and friends: only per_sender is left to stop a loop."""
    head, _, body = raw.partition(b"\n\n")
    kept = [
        line
        for line in head.split(b"\n")
        if not line.lower().startswith((b"auto-submitted:", b"x-auto-response-suppress:"))
    ]
    return b"\n".join(kept) + b"\n\n" + body


@pytest.fixture
def two_shops(tmp_path: Path, dovecot: Dovecot, dovecot_server: Any, smtp_sink: Any) -> Any:
    other = Dovecot(dovecot_server)
    try:
        a = _make_shop(tmp_path / "a", dovecot, smtp_sink, "a.example")
        b = _make_shop(tmp_path / "b", other, smtp_sink, "b.example")
        yield a, b
    finally:
        other.close()


def _ping_pong(a: Shop, b: Shop, network: Network, rounds: int) -> None:
    clock = [T0]
    for _ in range(rounds):
        serve(a.config(), once=True, clock=lambda: clock[0])
        serve(b.config(), once=True, clock=lambda: clock[0])
        network.route()
        clock[0] += timedelta(minutes=5)


@pytest.mark.parametrize(
    ("relay", "per_sender"),
    # honest relay, per_sender shorter than a round: only the Auto-Submitted check stops a loop;
    # a relay that strips the robot headers: only per_sender stops it.
    [("honest", "1m"), ("strips Auto-Submitted", "4d")],
)
def test_two_bots_answering_each_other_exchange_at_most_one_message_each(
    two_shops, relay, per_sender
) -> None:
    a, b = two_shops
    for shop in (a, b):
        text = shop.config_path.read_text().replace(
            'per_sender = "4d"', f'per_sender = "{per_sender}"'
        )
        shop.config_path.write_text(text)
    network = Network(
        a.sink,
        {"support@a.example": a.dovecot, "support@b.example": b.dovecot},
        rewrite=_strip_loop_headers if relay != "honest" else None,
    )
    # Each shop's support address writes to the other, like a person would (no robot headers).
    question = "Hello, do you have the blue teapot in stock?"
    a.dovecot.append(
        "INBOX", customer_mail("support@b.example", "Stock", question, to="support@a.example")
    )
    b.dovecot.append(
        "INBOX", customer_mail("support@a.example", "Stock", question, to="support@b.example")
    )

    _ping_pong(a, b, network, rounds=6)

    sent = Counter(sender for sender, _to in network.delivered)
    assert sent["support@a.example"] <= 1 and sent["support@b.example"] <= 1, sent
    assert sum(sent.values()) >= 1, "the first (human-looking) mail is answered"
    assert network.route() == 0, "nothing more in flight"


def test_thousand_forged_senders_within_an_hour_get_at_most_max_per_hour(shop) -> None:
    limit = 40
    shop.write(max_per_hour=limit)
    forged = [
        customer_mail(f"victim{i}@forged{i % 37}.example", f"Order {i}", "Where is my order?")
        for i in range(1000)
    ]
    clock = [T0]
    sent_per_hour: list[int] = []
    # Four bursts of 250 within the same hour: the limit spans runs, not just one batch.
    for burst in range(4):
        shop.dovecot.append_many("INBOX", forged[burst * 250 : (burst + 1) * 250])
        before = len(shop.sink.messages)
        serve(shop.config(), once=True, clock=lambda: clock[0])
        sent_per_hour.append(len(shop.sink.messages) - before)
        clock[0] += timedelta(minutes=14)
    assert sum(sent_per_hour) == limit, sent_per_hour

    # An hour after the first replies the window has moved on: mail is answered again, and the
    # limit holds for the new hour too (whether held-back replies are dropped or sent later).
    clock[0] = T0 + timedelta(minutes=61)
    shop.dovecot.append_many(
        "INBOX", [customer_mail(f"later{i}@x.example", "Hi", "A question.") for i in range(5)]
    )
    before = len(shop.sink.messages)
    serve(shop.config(), once=True, clock=lambda: clock[0])
    second_hour = len(shop.sink.messages) - before
    assert 0 < second_hour <= limit, second_hour
    flags = [item["flags"] for item in shop.folder("INBOX").values()]
    assert len(flags) == 1005
    assert sum("$AutoReplied" in f for f in flags) == limit + second_hour
    assert len({r.rcpt_tos[0] for r in shop.sink.messages}) == limit + second_hour


def test_same_forged_sender_in_many_spellings_is_answered_once(shop) -> None:
    spellings = ["Victim@Forged.example", "victim@forged.example", "VICTIM@FORGED.EXAMPLE"]
    mails = [
        customer_mail(spellings[i % 3], f"Order {i}", "Where is my order?", name=f"V {i}")
        for i in range(60)
    ]
    # MULTIAPPEND, not deliver_many: two Maildir deliveries in one second reuse file names.
    shop.dovecot.append_many("INBOX", mails[:30])
    serve(shop.config(), once=True)
    shop.dovecot.append_many("INBOX", mails[30:])
    serve(shop.config(), once=True, clock=lambda: datetime.now(UTC) + timedelta(days=3))

    assert len(shop.sink.wait_for(1)) == 1
    assert len(shop.sink.messages) == 1


# One header (or sender) at a time, so each protection is proven on its own; the controls
# prove the same mail without that signal is answered.
MACHINES = {
    "auto-generated": {"headers": {"Auto-Submitted": "auto-generated"}},
    "auto-replied": {"headers": {"Auto-Submitted": "auto-replied; owner-email=x@y.example"}},
    "auto-notified": {"headers": {"Auto-Submitted": "auto-notified"}},
    "list-id": {"headers": {"List-Id": "Deals <deals.brand.example>"}},
    "list-unsubscribe": {"headers": {"List-Unsubscribe": "<mailto:leave@brand.example>"}},
    "list-post": {"headers": {"List-Post": "<mailto:list@brand.example>"}},
    "precedence-bulk": {"headers": {"Precedence": "bulk"}},
    "precedence-list": {"headers": {"Precedence": "list"}},
    "precedence-junk": {"headers": {"Precedence": "junk"}},
    "precedence-bulk-case": {"headers": {"Precedence": " BULK "}},
    "return-path-null": {"headers": {"Return-Path": "<>"}},
    "x-loop": {"headers": {"X-Loop": "support@shop.example"}},
    "suppress-oof": {"headers": {"X-Auto-Response-Suppress": "OOF"}},
    "mailer-daemon": {"sender": "MAILER-DAEMON@mx.example.net"},
    "mailer-daemon-lower": {"sender": "mailer-daemon@mx.example.net"},
    "postmaster": {"sender": "postmaster@mx.example.net"},
    "daemon-name": {"sender": "daemon@mx.example.net", "name": "Mail Delivery System"},
}
HUMANS = {
    "auto-submitted-no": {"headers": {"Auto-Submitted": "no"}},
    "precedence-first-class": {"headers": {"Precedence": "first-class"}},
    "plain": {},
}


def test_each_machine_signal_alone_prevents_a_reply(shop) -> None:
    mails = []
    for index, (label, spec) in enumerate({**MACHINES, **HUMANS}.items()):
        sender = spec.get("sender", f"{label}@customer{index}.example")
        mails.append(
            customer_mail(
                sender,
                "Your order",
                "Hello, where is my order? Thanks.",
                name=spec.get("name", ""),
                headers=spec.get("headers"),
            )
        )
    shop.dovecot.append_many("INBOX", mails)

    serve(shop.config(), once=True)

    received = shop.sink.wait_for(len(HUMANS))
    answered = sorted(r.rcpt_tos[0].split("@")[0] for r in received)
    assert answered == sorted(HUMANS), answered
    assert len(shop.sink.messages) == len(HUMANS)
    flags = [item["flags"] for item in shop.folder("INBOX").values()]
    assert all("$InboxbotSeen" in f for f in flags)


def test_a_ticket_system_answering_from_a_new_plus_address_each_time_gets_one_reply(
    shop,
) -> None:
    """Helpdesks answer from a per-ticket plus address (desk+4711@partner.example), and one that
    ignores Auto-Submitted opens a ticket for our acknowledgement and confirms it from the next
    address. desk+N@ is one mailbox (desk@ receives it, as support+x@ is us), so per_sender
    holds across the tags: without that only max_per_hour stopped the loop."""
    clock = [T0]
    shop.dovecot.append("INBOX", customer_mail(
        "desk+1@partner.example", "[#1] Stock", "Hello, do you have the blue teapot?"))
    seen = 0
    for _ in range(6):
        serve(shop.config(), once=True, clock=lambda: clock[0])
        fresh, seen = shop.sink.messages[seen:], len(shop.sink.messages)
        for received in fresh:  # the desk opens a ticket for each and confirms it
            [rcpt] = received.rcpt_tos
            ticket = int(rcpt.split("+")[1].split("@")[0]) + 1
            shop.dovecot.append("INBOX", customer_mail(
                f"desk+{ticket}@partner.example", f"[#{ticket}] Re: Stock",
                f"Thank you, we have opened ticket {ticket} for your message."))
        clock[0] += timedelta(minutes=5)

    assert [r.rcpt_tos for r in shop.sink.messages] == [("desk+1@partner.example",)]
