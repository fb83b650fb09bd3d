"""The whole pipeline against a real Dovecot and a real aiosmtpd: backlog, restart, dry-run,
UIDVALIDITY, idle pickup, dropped connections and exactly-once replies."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from inboxbot import service
from inboxbot.daemon import serve
from tests.mailgen import KINDS, customer_mail, mixed_backlog

SEEN = "$InboxbotSeen"


def _subjects(shop, folder: str) -> Counter[str]:
    return Counter(
        item["header"].split("Subject:")[-1].strip() for item in shop.folder(folder).values()
    )


def test_backlog_of_500_mixed_messages_is_filed_tagged_and_answered(shop) -> None:
    expected = mixed_backlog(500)
    shop.dovecot.append_many("INBOX", [e.raw for e in expected])

    serve(shop.config(), once=True)

    by_id = {email.message_from_bytes(e.raw)["Message-ID"]: e for e in expected}
    seen_ids = set()
    for folder in ("INBOX", "VIP", "Urgent"):
        for item in shop.folder(folder).values():
            msgid = item["header"].split("Message-ID:")[-1].split()[0]
            want = by_id[msgid]
            seen_ids.add(msgid)
            assert folder == want.folder, (msgid, folder, want.folder)
            assert want.keywords <= item["flags"], (msgid, item["flags"])
            assert SEEN in item["flags"]
            assert ("$AutoReplied" in item["flags"]) == want.answered
    assert seen_ids == set(by_id), "every message is in one of the folders"
    answered = sum(e.answered for e in expected)
    replies = shop.sink.wait_for(answered, timeout=20)
    assert len(replies) == answered
    recipients = Counter(r.rcpt_tos[0] for r in replies)
    assert all(count == 1 for count in recipients.values()), "one reply per customer"
    assert not any(
        "mailer-daemon" in r or "brand.example" in r or "firma.example" in r for r in recipients
    ), "machines are never answered"
    assert all(r.mail_from in ("", "<>") for r in replies), "null envelope sender (RFC 3834)"
    sent = shop.folder("Sent")
    assert len(sent) == answered, "a copy of every reply is in Sent"
    # Marked processed: the scan of Sent for staff answers passes over our own copies (without
    # the mark a restart after a 10,000-message backlog read 10,000 headers, ~8 s).
    assert all(SEEN in item["flags"] for item in sent.values())


def test_replies_reach_sent_a_chunk_per_command(shop, monkeypatch) -> None:
    # An APPEND per reply cost Dovecot more the larger Sent grew (1 ms into an empty Maildir,
    # 50 ms into one of 40,000): a 50,000-message backlog slowed from 19 to 11 msg/s.
    from inboxbot.adapters.imap import ImapMailbox
    from inboxbot.service import SEND_CHUNK

    commands = Counter[str]()
    for name in ("append", "append_many"):
        original = getattr(ImapMailbox, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            commands[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(ImapMailbox, name, counted)
    count = SEND_CHUNK + 10
    shop.dovecot.append_many("INBOX", [KINDS["question"](i).raw for i in range(count)])
    serve(shop.config(), once=True)

    assert len(shop.sink.wait_for(count)) == count
    assert len(shop.folder("Sent")) == count
    assert commands == {"append_many": 2}  # SEND_CHUNK, then 10


def test_restart_processes_only_new_mail(shop) -> None:
    shop.dovecot.append_many("INBOX", [KINDS["question"](i).raw for i in range(3)])
    serve(shop.config(), once=True)
    assert len(shop.sink.wait_for(3)) == 3

    shop.dovecot.append("INBOX", KINDS["question"](99).raw)
    serve(shop.config(), once=True)

    replies = shop.sink.wait_for(4)
    assert len(replies) == 4
    assert replies[-1].rcpt_tos == ("asker99@customer.example",)


def test_lost_state_file_does_not_cause_a_second_reply(shop) -> None:
    shop.dovecot.append("INBOX", KINDS["question"](1).raw)
    serve(shop.config(), once=True)
    assert len(shop.sink.wait_for(1)) == 1
    (shop.directory / "state.json").unlink()
    client = shop.dovecot.client()
    client.select_folder("INBOX")
    client.remove_flags(client.search("ALL"), [SEEN])  # as if it had never been processed

    serve(shop.config(), once=True)

    time.sleep(0.5)
    assert len(shop.sink.messages) == 1, "$AutoReplied on the server stops a second reply"


def test_dry_run_changes_nothing_on_the_server(shop, capsys) -> None:
    shop.dovecot.append_many("INBOX", [e.raw for e in mixed_backlog(14)])
    before = shop.folder("INBOX")
    folders_before = sorted(shop.dovecot.client().list_folders(), key=str)

    serve(shop.config(), once=True, dry_run=True)

    assert _without_recent(shop.folder("INBOX")) == _without_recent(before)
    assert sorted(shop.dovecot.client().list_folders(), key=str) == folders_before
    assert shop.sink.messages == []
    out = capsys.readouterr().out
    assert "move {'folder': 'Urgent'}" in out and "reply {'template': 'ack'}" in out


def _without_recent(folder: dict) -> dict:
    """\\Recent belongs to the session that first selects a folder, not to the message."""
    return {uid: (item["flags"] - {"\\Recent"}, item["header"]) for uid, item in folder.items()}


def test_uidvalidity_change_is_survived_without_repeats(shop) -> None:
    shop.dovecot.append("INBOX", KINDS["question"](1).raw)
    serve(shop.config(), once=True)
    shop.dovecot.change_uidvalidity("INBOX")
    shop.dovecot.append("INBOX", KINDS["question"](2).raw)

    serve(shop.config(), once=True)

    replies = shop.sink.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in replies) == [
        "asker1@customer.example",
        "asker2@customer.example",
    ]


def test_folders_are_created_when_missing(shop) -> None:
    names = {f[2] for f in shop.dovecot.client().list_folders()}
    assert "Urgent" not in names and "Quarantine" not in names
    shop.dovecot.append("INBOX", KINDS["urgent"](1).raw)

    serve(shop.config(), once=True)

    names = {f[2] for f in shop.dovecot.client().list_folders()}
    assert {"Urgent", "VIP", "Quarantine", "Sent"} <= names
    assert len(shop.folder("Urgent")) == 1


@pytest.mark.parametrize("batch_size", [500, 1], ids=["one-batch", "parsed-by-the-worker"])
def test_unreadable_mail_is_quarantined_untouched(shop, monkeypatch, batch_size: int) -> None:
    """In batches of one, the worker parses the backlog (inboxbot.textwork): it quarantines
    the same mail."""
    monkeypatch.setattr(service, "BATCH_SIZE", batch_size)
    garbage = b"\x01\x02 this is not a mail\r\n\r\n\xff\xfe"  # Dovecot rewrites NUL
    shop.dovecot.append("INBOX", garbage)
    shop.dovecot.append("INBOX", KINDS["question"](1).raw)

    serve(shop.config(), once=True)

    quarantined = shop.folder("Quarantine")
    assert len(quarantined) == 1
    client = shop.dovecot.client()
    client.select_folder("Quarantine", readonly=True)
    uid = next(iter(quarantined))
    assert client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == garbage
    assert len(shop.sink.wait_for(1)) == 1


def _start_daemon(shop) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "inboxbot", "run", "-c", str(shop.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=open(shop.directory / "run.log", "wb"),
        env=env,
    )


def _wait(predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout}s")


def _seen_count(shop) -> int:
    return sum(SEEN in item["flags"] for item in shop.folder("INBOX").values())


def test_mail_arriving_while_idling_is_processed_within_two_seconds(shop) -> None:
    shop.dovecot.append("INBOX", KINDS["question"](0).raw)
    process = _start_daemon(shop)
    try:
        _wait(lambda: len(shop.sink.messages) == 1, 30)  # backlog done, now idling
        time.sleep(0.5)
        shop.dovecot.append("INBOX", KINDS["question"](1).raw)
        elapsed = _wait(lambda: len(shop.sink.messages) == 2, 5)
        assert elapsed < 2.0, f"took {elapsed:.2f}s"

        # A connection dropped mid-IDLE: inboxbot reconnects and catches up.
        shop.dovecot.kick()
        shop.dovecot.append("INBOX", KINDS["question"](2).raw)
        _wait(lambda: len(shop.sink.messages) == 3, 10)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=5)
    assert code == 0, (shop.directory / "run.log").read_text()


def test_crash_between_send_and_marking_does_not_send_twice(shop, monkeypatch) -> None:
    """The reply went out, then the process died before $AutoReplied was set."""
    from inboxbot.adapters import imap

    shop.dovecot.append("INBOX", customer_mail("once@customer.example", "Hello", "A question."))
    original = imap.ImapMailbox.add_keywords

    def die_on_mark(self, uids, keywords):
        if "$AutoReplied" in keywords:
            raise SystemExit("killed")  # stands in for SIGKILL at this exact point
        return original(self, uids, keywords)

    monkeypatch.setattr(imap.ImapMailbox, "add_keywords", die_on_mark)
    with pytest.raises(SystemExit):
        serve(shop.config(), once=True)
    assert len(shop.sink.wait_for(1)) == 1
    monkeypatch.setattr(imap.ImapMailbox, "add_keywords", original)

    serve(shop.config(), once=True)

    time.sleep(0.3)
    assert len(shop.sink.messages) == 1
    flags = next(iter(shop.folder("INBOX").values()))["flags"]
    assert {"$AutoReplied", SEEN} <= flags


def test_mail_without_message_id_in_a_recreated_folder_is_answered(shop) -> None:
    """The outbox keys a mail without Message-ID by its UID, which a recreated (or restored)
    folder hands out again from 1: the new mail's key found the old mail's finished entry and
    was marked $AutoReplied without a reply ever being sent."""
    text = shop.config_path.read_text()
    shop.config_path.write_text(text.replace("timeout = 10\n", 'timeout = 10\nwatch = "Support"\n'))

    def without_message_id(sender: str) -> bytes:
        raw = customer_mail(sender, "Hello", "A question, please.")
        return b"".join(line for line in raw.splitlines(keepends=True)
                        if not line.lower().startswith(b"message-id:"))

    shop.dovecot.create_folder("Support")
    shop.dovecot.append("Support", without_message_id("first@customer.example"))
    serve(shop.config(), once=True)
    assert shop.sink.wait_for(1)[0].rcpt_tos == ("first@customer.example",)
    with shop.dovecot.client() as client:  # the folder is rebuilt: UIDs start again at 1
        client.delete_folder("Support")
        client.create_folder("Support")
    shop.dovecot.append("Support", without_message_id("second@customer.example"))

    serve(shop.config(), once=True)

    replies = shop.sink.wait_for(2)
    assert [r.rcpt_tos[0] for r in replies] == ["first@customer.example",
                                                "second@customer.example"]
