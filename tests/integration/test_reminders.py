"""Reminders against a real Dovecot and aiosmtpd, with an injected clock: staff SLA reminders,
customer check-ins after resolution, staff commands by plus address, and exactly once."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from inboxbot.adapters.store import StateStore
from inboxbot.daemon import serve
from tests.mailgen import customer_mail

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN)  # an ordinary Monday in Berlin
FRIDAY_16 = datetime(2026, 11, 27, 16, 0, tzinfo=BERLIN)
OWNER = "owner@shop.example"
REMINDERS = f'\n[reminders]\nnotify = "{OWNER}"\ncheck_in_after = "48h"\n'

URGENT = (
    "The lamp arrived broken and this is the third time I write. I want a "
    "refund immediately or I will contact my lawyer and file a chargeback."
)
GERMAN = (
    "Guten Tag, die Teekanne kam gesprungen an. Ich bin sehr enttäuscht und möchte "
    "einen Ersatz. Mit freundlichen Grüßen"
)


def _parse(raw: bytes) -> tuple[EmailMessage, str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("plain",))
    assert part is not None
    return message, part.get_content()


def _to(shop, address: str) -> list:
    return [m for m in shop.sink.messages if address in m.rcpt_tos]


def _run(shop, when: datetime) -> None:
    serve(shop.config(), once=True, clock=lambda: when)


def _urgent_complaint(shop, msgid: str = "<lamp@customer.example>") -> None:
    shop.write(extra=REMINDERS)
    shop.dovecot.append(
        "INBOX", customer_mail("angry@customer.example", "Broken lamp", URGENT, msgid=msgid)
    )
    _run(shop, MONDAY_10)  # acknowledged, moved to Urgent, reminder due at 12:00 (2 h promise)
    assert len(shop.sink.wait_for(1)) == 1


def _flags(shop, folder: str, msgid: str) -> set[str]:
    for item in shop.folder(folder).values():
        if msgid in item["header"]:
            return item["flags"]
    raise AssertionError(f"{msgid} not in {folder}")


def test_unanswered_urgent_complaint_reminds_staff_once_at_the_promise(shop) -> None:
    _urgent_complaint(shop)
    _run(shop, MONDAY_10 + timedelta(hours=1, minutes=59))
    assert _to(shop, OWNER) == []

    _run(shop, MONDAY_10 + timedelta(hours=2, minutes=1))
    _run(shop, MONDAY_10 + timedelta(hours=3))  # and again later: still only one

    time.sleep(0.3)
    [reminder] = _to(shop, OWNER)
    mail, body = _parse(reminder.raw)
    assert "Broken lamp" in mail["Subject"]
    assert "> The lamp arrived broken" in body  # the customer's message is quoted
    assert mail["Auto-Submitted"] == "auto-generated"
    assert {"$Overdue", "\\Flagged"} <= _flags(shop, "Urgent", "<lamp@customer.example>")
    sent = [item["header"] for item in shop.folder("Sent").values()]
    assert sum(mail["Message-ID"] in h for h in sent) == 1  # staff see it in Sent too


def test_a_staff_reply_in_sent_before_the_promise_cancels_the_reminder(shop) -> None:
    _urgent_complaint(shop)
    reply = EmailMessage()
    reply["From"] = "anna@shop.example"
    reply["To"] = "angry@customer.example"
    reply["Subject"] = "Re: Broken lamp"
    reply["Message-ID"] = "<reply1@shop.example>"
    reply["In-Reply-To"] = "<lamp@customer.example>"
    reply["References"] = "<lamp@customer.example>"
    reply.set_content("So sorry! A new lamp is on its way.")
    shop.dovecot.append("Sent", bytes(reply))

    _run(shop, MONDAY_10 + timedelta(hours=3))

    time.sleep(0.3)
    assert _to(shop, OWNER) == []
    assert "$Overdue" not in _flags(shop, "Urgent", "<lamp@customer.example>")


def test_answered_flag_before_the_promise_cancels_the_reminder(shop) -> None:
    _urgent_complaint(shop)
    client = shop.dovecot.client()
    try:
        client.select_folder("Urgent")
        client.add_flags(client.search("ALL"), [b"\\Answered"])
    finally:
        client.logout()

    _run(shop, MONDAY_10 + timedelta(hours=3))

    time.sleep(0.3)
    assert _to(shop, OWNER) == []


def test_the_acknowledgement_in_sent_is_not_an_answer(shop) -> None:
    """Our own auto-reply names the complaint in In-Reply-To; it must not count as answered."""
    _urgent_complaint(shop)
    _run(shop, MONDAY_10 + timedelta(hours=3))
    assert len(shop.sink.wait_for(2)) == 2
    assert len(_to(shop, OWNER)) == 1


def on_message(shop, folder: str, msgid: str, act) -> None:
    """What staff do in their mail client: act(client, uids) on one message of a folder."""
    client = shop.dovecot.client()
    try:
        client.select_folder(folder)
        uids = client.search(["HEADER", "Message-ID", msgid])
        assert uids, f"{msgid} not in {folder}"
        act(client, uids)
    finally:
        client.logout()


def _move(shop, source: str, msgid: str, target: str) -> None:
    on_message(shop, source, msgid, lambda client, uids: client.move(uids, target))


def _resolved_on_friday(shop) -> None:
    shop.write(extra=REMINDERS)
    shop.dovecot.append(
        "INBOX",
        customer_mail(
            "kunde@kunde.example", "Teekanne gesprungen", GERMAN, msgid="<pot@k.example>"
        ),
    )
    _run(shop, FRIDAY_16 - timedelta(hours=4))  # acknowledged on Friday at noon
    assert len(shop.sink.wait_for(1)) == 1
    _move(shop, "INBOX", "<pot@k.example>", "Resolved")
    _run(shop, FRIDAY_16)  # staff resolved it: check-in due 2 business days later


def checks_in_on_tuesday_once(shop, msgid: str) -> None:
    """Resolved on Friday 16:00: one German check-in on Tuesday 16:00 (48 h of business time,
    not Sunday), in the customer's thread, and nothing before."""
    _run(shop, FRIDAY_16 + timedelta(days=2))  # Sunday 16:00: 48 h, but not business time
    _run(shop, FRIDAY_16 + timedelta(days=4, minutes=-1))  # Tuesday 15:59
    assert len(shop.sink.messages) == 1

    _run(shop, FRIDAY_16 + timedelta(days=4, minutes=1))  # Tuesday 16:01
    _run(shop, FRIDAY_16 + timedelta(days=5))

    time.sleep(0.3)
    checkins = _to(shop, "kunde@kunde.example")
    assert len(checkins) == 2  # the acknowledgement and exactly one check-in
    mail, body = _parse(checkins[1].raw)
    assert mail["In-Reply-To"] == msgid
    assert mail["Content-Language"] == "de"
    assert "Funktioniert jetzt alles" in body
    assert _to(shop, OWNER) == []


def test_resolved_on_friday_checks_in_on_tuesday_once_in_the_customers_language(shop) -> None:
    _resolved_on_friday(shop)
    checks_in_on_tuesday_once(shop, "<pot@k.example>")


def test_a_customer_who_writes_first_gets_no_check_in(shop) -> None:
    _resolved_on_friday(shop)
    shop.dovecot.append(
        "INBOX",
        customer_mail(
            "kunde@kunde.example",
            "Re: Teekanne gesprungen",
            "Die neue Kanne ist auch gesprungen!",
            headers={"In-Reply-To": "<pot@k.example>"},
        ),
    )
    _run(shop, FRIDAY_16 + timedelta(days=3))  # Monday: the new mail cancels the check-in
    _run(shop, FRIDAY_16 + timedelta(days=5))

    time.sleep(0.3)
    assert len(_to(shop, "kunde@kunde.example")) == 1  # only the first acknowledgement
    with StateStore(shop.directory / "state.json") as store:
        [checkin] = [r for r in store.reminders() if r["kind"] == "checkin"]
    assert checkin["state"] == "cancelled"
    assert "wrote again" in checkin["cancel_reason"]


def test_moving_the_thread_out_of_resolved_cancels_the_check_in(shop) -> None:
    _resolved_on_friday(shop)
    _move(shop, "Resolved", "<pot@k.example>", "INBOX")
    _run(shop, FRIDAY_16 + timedelta(days=5))

    time.sleep(0.3)
    assert len(_to(shop, "kunde@kunde.example")) == 1


def _staff_reply(command: str, *, sender: str = "anna@shop.example") -> bytes:
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = "sad@customer.example"
    reply["Delivered-To"] = command  # staff BCC'd the command address on their reply
    reply["Subject"] = "Re: Damaged parcel"
    reply["Message-ID"] = "<staffreply@shop.example>"
    reply["In-Reply-To"] = "<mug@customer.example>"
    reply["References"] = "<mug@customer.example>"
    reply["Date"] = "Mon, 23 Nov 2026 11:00:00 +0100"
    reply.set_content("We have sent a replacement. Please let us know when it arrives.")
    return bytes(reply)


def test_plus_address_command_schedules_a_reminder_on_the_thread(shop) -> None:
    shop.write(extra=REMINDERS)
    shop.dovecot.append(
        "INBOX",
        customer_mail(
            "sad@customer.example",
            "Damaged parcel",
            "Hello, my order arrived damaged: the mug is broken.",
            msgid="<mug@customer.example>",
        ),
    )
    _run(shop, MONDAY_10)
    assert len(shop.sink.wait_for(1)) == 1
    shop.dovecot.append("INBOX", _staff_reply("support+remind-2d@shop.example"))

    _run(shop, MONDAY_10 + timedelta(hours=1))

    time.sleep(0.3)
    assert len(shop.sink.messages) == 1  # the command mail is never acknowledged
    assert "\\Seen" in _flags(shop, "Resolved", "<staffreply@shop.example>")  # filed away
    with StateStore(shop.directory / "state.json") as store:
        reminders = store.reminders()
    assert not [r for r in reminders if r["kind"] == "checkin"]  # staff mail filed in Resolved
    [reminder] = [r for r in reminders if r["origin"] == "command"]
    assert reminder["message_id"] == "<mug@customer.example>"
    assert reminder["customer"] == "sad@customer.example"
    assert reminder["due"] == MONDAY_10 + timedelta(days=2, hours=1)  # Wednesday 11:00

    _run(shop, MONDAY_10 + timedelta(days=2, hours=2))
    [reminder_mail] = [m for m in _to(shop, OWNER) if b"remind-2d" in m.raw]
    _mail, body = _parse(reminder_mail.raw)
    assert "> Hello, my order arrived damaged" in body
    assert "remind-2d" in body


def test_a_command_address_from_a_customer_is_ordinary_mail(shop) -> None:
    shop.write(extra=REMINDERS)
    shop.dovecot.append(
        "INBOX", _staff_reply("support+remind-2d@shop.example", sender="x@customer.example")
    )
    _run(shop, MONDAY_10)
    assert len(shop.sink.wait_for(1)) == 1  # acknowledged like any customer
    with StateStore(shop.directory / "state.json") as store:
        assert store.reminders() == []


def test_killed_after_sending_before_marking_sends_once_after_restart(shop, monkeypatch) -> None:
    """The reminder left (SMTP and the copy in Sent), then the process died before "sent" was
    written: on restart its Message-ID in Sent shows it went out."""
    _urgent_complaint(shop)
    original = StateStore.update_reminder

    def die_on_sent(self, reminder_id, **fields):
        if fields.get("state") == "sent":
            raise SystemExit("killed")  # stands in for SIGKILL at this exact point
        return original(self, reminder_id, **fields)

    monkeypatch.setattr(StateStore, "update_reminder", die_on_sent)
    with pytest.raises(SystemExit):
        _run(shop, MONDAY_10 + timedelta(hours=3))
    assert len(shop.sink.wait_for(2)) == 2
    monkeypatch.setattr(StateStore, "update_reminder", original)
    with StateStore(shop.directory / "state.json") as store:
        assert [r["state"] for r in store.reminders()] == ["sending"]

    _run(shop, MONDAY_10 + timedelta(hours=3, minutes=1))

    time.sleep(0.3)
    assert len(_to(shop, OWNER)) == 1
    with StateStore(shop.directory / "state.json") as store:
        assert [r["state"] for r in store.reminders()] == ["sent"]


def test_killed_before_sending_sends_once_after_restart(shop, monkeypatch) -> None:
    from inboxbot.adapters import smtp

    _urgent_complaint(shop)
    original = smtp.SmtpSender.send

    def die_on_send(self, message, **kwargs):
        if message["X-Inboxbot-Reminder"]:
            raise SystemExit("killed")
        return original(self, message, **kwargs)

    monkeypatch.setattr(smtp.SmtpSender, "send", die_on_send)
    with pytest.raises(SystemExit):
        _run(shop, MONDAY_10 + timedelta(hours=3))
    monkeypatch.setattr(smtp.SmtpSender, "send", original)

    _run(shop, MONDAY_10 + timedelta(hours=3, minutes=1))
    _run(shop, MONDAY_10 + timedelta(hours=4))

    time.sleep(0.3)
    assert len(_to(shop, OWNER)) == 1


def test_notify_mailbox_appends_a_flagged_reminder_that_is_not_triaged(shop) -> None:
    _urgent_complaint(shop)
    shop.write(extra=REMINDERS.replace(OWNER, "mailbox"))
    _run(shop, MONDAY_10 + timedelta(hours=3))
    _run(shop, MONDAY_10 + timedelta(hours=4))

    inbox = [i for i in shop.folder("INBOX").values() if "Reminder" in i["header"]]
    assert len(inbox) == 1
    assert "\\Flagged" in inbox[0]["flags"]
    assert "$Complaint" not in inbox[0]["flags"]  # not triaged as customer mail
    time.sleep(0.3)
    assert len(shop.sink.messages) == 1  # only the acknowledgement left by SMTP
    with StateStore(shop.directory / "state.json") as store:
        assert len(store.reminders()) == 1  # the reminder mail scheduled no reminder itself


def test_the_daemon_wakes_from_idle_for_a_due_reminder(shop) -> None:
    shop.write(extra=REMINDERS)
    with StateStore(shop.directory / "state.json") as store:
        now = datetime.now(BERLIN)
        store.add_reminder(
            {
                "kind": "custom",
                "to": "staff",
                "due": now + timedelta(seconds=4),
                "created": now,
                "message_id": "<gone@customer.example>",
                "customer": "c@customer.example",
                "subject": "Call back",
                "reason": "test",
                "origin": "cli",
            }
        )
    log = (shop.directory / "run.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "inboxbot", "run", "-c", str(shop.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log.close()  # the child has its own copy
    try:
        # IDLE_SLICE is 60 s: arriving within 12 s means the wait was cut for the timer.
        assert len(shop.sink.wait_for(1, timeout=12)) == 1, (shop.directory / "run.log").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    assert code == 0, (shop.directory / "run.log").read_text()
    assert _to(shop, OWNER)


def _cli(shop, *args: str) -> str:
    from typer.testing import CliRunner

    from inboxbot.cli.app import app

    result = CliRunner().invoke(app, [*args, "-c", str(shop.config_path)])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_add_list_cancel_and_a_hand_made_check_in_goes_out(shop) -> None:
    import json

    shop.write(extra=REMINDERS)
    shop.dovecot.append(
        "INBOX",
        customer_mail(
            "asker@customer.example",
            "Gift cards?",
            "Do you sell gift cards?",
            msgid="<gift@customer.example>",
        ),
    )
    _run(shop, datetime.now(BERLIN))
    assert len(shop.sink.wait_for(1)) == 1

    assert "due" in _cli(
        shop, "reminders", "add", "gift@customer.example", "--in", "1d", "--to", "customer"
    )
    assert "due" in _cli(shop, "reminders", "add", "<gift@customer.example>", "--in", "2d")
    rows = json.loads(_cli(shop, "reminders", "list", "--json"))
    assert [(r["kind"], r["to"], r["state"]) for r in rows] == [
        ("checkin", "customer", "pending"),
        ("custom", "staff", "pending"),
    ]
    assert "cancelled" in _cli(shop, "reminders", "cancel", str(rows[1]["id"]))
    assert len(json.loads(_cli(shop, "reminders", "list", "--json"))) == 1
    rows = json.loads(_cli(shop, "reminders", "list", "--all", "--json"))
    assert rows[1]["state"] == "cancelled"

    _run(shop, datetime.now(BERLIN) + timedelta(days=8))

    time.sleep(0.3)
    checkins = _to(shop, "asker@customer.example")
    assert len(checkins) == 2  # the acknowledgement, then the check-in found its customer
    assert _to(shop, OWNER) == []
    assert "sent" in _cli(shop, "reminders", "list", "--all")


def test_scheduling_from_a_pass_asks_the_open_reminder_index_only(shop, monkeypatch) -> None:
    # A backlog leaves tens of thousands of open reminders; after_batch runs for every batch, so
    # it must not read them all (it did: ~15 % of a backlog's time). The store is real; the spy
    # only notes which of its whole-table reads happen while a batch is scheduled.
    from inboxbot import reminders

    with StateStore(shop.directory / "state.json") as store:
        for n in range(2000):
            store.add_reminder({"kind": "checkin", "to": "customer", "due": FRIDAY_16,
                                "created": MONDAY_10, "message_id": f"<old{n}@x.example>",
                                "customer": f"other{n}@x.example"})  # fmt: skip
        store.add_reminder({"kind": "checkin", "to": "customer", "due": FRIDAY_16,
                            "created": MONDAY_10, "message_id": "<earlier@customer.example>",
                            "customer": "angry@customer.example"})  # fmt: skip
    inside, reads = [False], []

    def scheduling(*args: object) -> None:
        inside[0] = True
        try:
            original(*args)
        finally:
            inside[0] = False

    def spy(name: str) -> Any:
        real = getattr(StateStore, name)

        def counted(self: StateStore, *args: object, **kwargs: object) -> object:
            if inside[0]:
                reads.append(name)
            return real(self, *args, **kwargs)

        return counted

    original = reminders.after_batch
    monkeypatch.setattr(reminders, "after_batch", scheduling)
    for name in ("reminders", "iter_reminders"):
        monkeypatch.setattr(StateStore, name, spy(name))
    _urgent_complaint(shop)
    monkeypatch.undo()
    assert reads == []
    with StateStore(shop.directory / "state.json") as store:
        assert store.has_open_reminder("<lamp@customer.example>", "sla")  # scheduled
        # The customer wrote again: the index found their check-in and it was cancelled.
        assert store.open_reminders("angry@customer.example", kinds={"checkin"}) == []
        assert len(store.open_reminders(kinds={"checkin"})) == 2000


def test_no_check_in_goes_to_a_machine_in_reply_to(shop) -> None:
    """The check-in replies in the customer's thread, to Reply-To before From: a no-reply
    Reply-To gets neither the acknowledgement nor, once staff resolve the mail, a check-in."""
    shop.write(extra=REMINDERS)
    shop.dovecot.append("INBOX", customer_mail(
        "kunde@kunde.example", "Teekanne gesprungen", GERMAN, msgid="<form@k.example>",
        headers={"Reply-To": "noreply@forms.example"}))
    _run(shop, FRIDAY_16 - timedelta(hours=4))
    _move(shop, "INBOX", "<form@k.example>", "Resolved")
    _run(shop, FRIDAY_16)
    _run(shop, FRIDAY_16 + timedelta(days=5))

    time.sleep(0.3)
    assert [m.rcpt_tos for m in shop.sink.messages if OWNER not in m.rcpt_tos] == []
    with StateStore(shop.directory / "state.json") as store:
        assert not [r for r in store.reminders() if r["kind"] == "checkin"]


@pytest.mark.parametrize("kind", ["", ', kind = "custom"'])
def test_a_rule_check_in_to_a_machine_in_reply_to_is_cancelled(shop, kind) -> None:
    """A rule's `remind = { to = "customer" }` is scheduled when the mail is planned; the
    check-in that falls due goes to the Reply-To, which is no-reply: cancelled, not sent.
    Whatever `kind` the rule names: every mail to a customer obeys DESIGN.md section 5."""
    shop.write(extra=REMINDERS)
    (shop.directory / "rules" / "20-checkin.toml").write_text(
        '[[rule]]\nname = "check in"\nwhen.complaint = true\n'
        f'then.remind = {{ after = "2d", to = "customer"{kind} }}\n')
    shop.dovecot.append("INBOX", customer_mail(
        "kunde@kunde.example", "Broken lamp", URGENT, msgid="<form2@k.example>",
        headers={"Reply-To": "no-reply@forms.example"}))
    _run(shop, MONDAY_10)
    _run(shop, MONDAY_10 + timedelta(days=7))

    time.sleep(0.3)
    assert [m.rcpt_tos for m in shop.sink.messages if OWNER not in m.rcpt_tos] == []
    with StateStore(shop.directory / "state.json") as store:
        [checkin] = [r for r in store.reminders() if r["to"] == "customer"]
    assert checkin["state"] == "cancelled"
    assert "no-reply@forms.example: noreply address" in checkin["cancel_reason"]


def test_check_ins_count_toward_max_per_hour_for_acknowledgements(shop) -> None:
    """max_per_hour caps every automatic mail to customers in an hour: the acknowledgements
    counted the check-ins' hour, but the check-ins were missing from the acknowledgements'."""
    shop.write(max_per_hour=2, extra=REMINDERS)
    for i in (1, 2):
        shop.dovecot.append("INBOX", customer_mail(
            f"resolved{i}@customer.example", "Teekanne", GERMAN, msgid=f"<r{i}@k.example>"))
    _run(shop, FRIDAY_16 - timedelta(hours=4))  # two acknowledgements on Friday at noon
    for i in (1, 2):
        _move(shop, "INBOX", f"<r{i}@k.example>", "Resolved")
    _run(shop, FRIDAY_16)
    _run(shop, FRIDAY_16 + timedelta(days=4, minutes=1))  # Tuesday 16:01: both check-ins
    assert len(shop.sink.wait_for(4)) == 4

    for i in (1, 2):
        shop.dovecot.append("INBOX", customer_mail(
            f"new{i}@customer.example", "A question", "Hello, a question."))
    _run(shop, FRIDAY_16 + timedelta(days=4, minutes=10))  # the same hour: no room left

    time.sleep(0.3)
    assert [m.rcpt_tos for m in shop.sink.messages if "new" in m.rcpt_tos[0]] == []
    shop.dovecot.append("INBOX", customer_mail("new3@customer.example", "Hi", "A question."))
    _run(shop, FRIDAY_16 + timedelta(days=4, minutes=62))  # the next hour: answered
    assert shop.sink.wait_for(5)[-1].rcpt_tos == ("new3@customer.example",)
