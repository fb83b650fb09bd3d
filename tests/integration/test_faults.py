"""Faults injected into the real servers while inboxbot works: Dovecot restarted or its connection
cut in the middle of FETCH and MOVE, SMTP refusing for a while or for good, a wrong IMAP password,
a full disk under the state file. Nothing may be lost, nothing done twice."""

from __future__ import annotations

import contextlib
import email
import email.utils
import imaplib
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inboxbot.daemon import serve
from tests.mailgen import KINDS, customer_mail, mixed_backlog

SEEN = "$InboxbotSeen"
FOLDERS = ("INBOX", "VIP", "Urgent", "Quarantine")


def _wait(predicate: Callable[[], bool], timeout: float, what: str = "") -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if _holds(predicate):
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def _holds(predicate: Callable[[], bool]) -> bool:
    # The injected fault kicks the shop's user off the server, every session of it: a look
    # at the mailbox that was connected then is cut too ("BYE Server shutting down", seen in
    # a loaded CI run) and simply looks again.
    try:
        return predicate()
    except (imaplib.IMAP4.error, OSError):
        return False


# A tiny launcher: the real `inboxbot run`, with faults injected at exact points of the IMAP
# adapter. The fault is real (doveadm kick drops the connection on the server side); only the
# moment is chosen by wrapping the adapter method.
_LAUNCHER = r"""
import os, subprocess, sys
from inboxbot.adapters import imap

KICK = os.environ["FAULT_KICK"].split("\x1f")
PLAN = {k: {int(n) for n in v.split(",") if n} for k, v in
        (item.split("=") for item in os.environ.get("FAULT_AT", "").split(";") if item)}
calls = {}

def kick():
    subprocess.run(KICK, check=True, capture_output=True)
    sys.stderr.write("FAULT: connection cut\n")

def due(name):
    calls[name] = calls.get(name, 0) + 1
    return calls[name] in PLAN.get(name, ())

original_sections = imap.ImapMailbox._fetch_sections
def fetch_sections(self, plans):  # between the header FETCH and the text FETCH
    if due("fetch"):
        kick()
    return original_sections(self, plans)
imap.ImapMailbox._fetch_sections = fetch_sections

original_move = imap.ImapMailbox.move
def move(self, uids, folder):  # half the group moved, then the connection is gone
    if due("move") and len(uids) > 1:
        half = len(uids) // 2
        original_move(self, uids[:half], folder)
        kick()
        return original_move(self, uids[half:], folder)
    return original_move(self, uids, folder)
imap.ImapMailbox.move = move

original_keywords = imap.ImapMailbox.add_keywords
def add_keywords(self, uids, keywords):
    if due("keywords"):
        kick()
    return original_keywords(self, uids, keywords)
imap.ImapMailbox.add_keywords = add_keywords

sys.argv = ["inboxbot", *sys.argv[1:]]
from inboxbot.cli.app import main
main()
"""


class Daemon:
    """`inboxbot run` as a separate process, as systemd would run it."""

    def __init__(self, shop: Any, *args: str, faults: str = "") -> None:
        self.log = shop.directory / "run.log"
        server = shop.dovecot.server
        kick = ["doveadm", "-c", str(server.config), "kick", shop.dovecot.username]
        kick[0] = server._doveadm
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "FAULT_KICK": "\x1f".join(kick),
            "FAULT_AT": faults,
        }
        self._stderr = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, "run", "-c", str(shop.config_path), *args],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=env,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        finally:
            self._stderr.close()
        return code


@pytest.fixture
def daemons() -> Any:
    started: list[Daemon] = []

    def start(shop: Any, *args: str, faults: str = "") -> Daemon:
        daemon = Daemon(shop, *args, faults=faults)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.stop()


def _all_mail(shop: Any) -> dict[str, list[dict[str, Any]]]:
    """Message-ID -> where each copy of it is (folder and flags), over every folder."""
    client = shop.dovecot.client()
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        names = {f[2] for f in client.list_folders()}
        for folder in FOLDERS:
            if folder not in names:
                continue
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                continue
            data = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            for item in data.values():
                header = next(v for k, v in item.items() if k.startswith(b"BODY"))
                msgid = header.decode().split(":", 1)[-1].strip()
                flags = {f.decode() if isinstance(f, bytes) else str(f) for f in item[b"FLAGS"]}
                found.setdefault(msgid, []).append({"folder": folder, "flags": flags})
    finally:
        client.logout()
    return found


def _unprocessed(shop: Any) -> int:
    client = shop.dovecot.client()
    try:
        client.select_folder("INBOX", readonly=True)
        return len(client.search(["NOT", "KEYWORD", SEEN]))
    finally:
        client.logout()


def _inbox_count(shop: Any) -> int:
    client = shop.dovecot.client()
    try:
        return int(client.select_folder("INBOX", readonly=True)[b"EXISTS"])
    finally:
        client.logout()


def _assert_filed_once_answered_once(shop: Any, expected: list[Any]) -> None:
    by_id = {email.message_from_bytes(e.raw)["Message-ID"]: e for e in expected}
    found = _all_mail(shop)
    assert set(found) == set(by_id), "nothing lost, nothing invented"
    for msgid, copies in found.items():
        want = by_id[msgid]
        assert len(copies) == 1, f"{msgid} filed {len(copies)} times: {copies}"
        assert copies[0]["folder"] == want.folder, (msgid, copies, want.folder)
        assert SEEN in copies[0]["flags"]
        assert ("$AutoReplied" in copies[0]["flags"]) == want.answered, (msgid, copies)
    answered = Counter(r.rcpt_tos[0] for r in shop.sink.messages)
    duplicates = {k: v for k, v in answered.items() if v > 1}
    assert not duplicates, f"answered twice: {duplicates}"
    assert len(answered) == sum(e.answered for e in expected)


# -- IMAP server faults ------------------------------------------------------------------------


@pytest.mark.parametrize("downtime", [0.0, 3.0], ids=["restart", "down-3s"])
def test_dovecot_restart_while_idling_catches_up_within_10s(shop, daemons, downtime) -> None:
    shop.dovecot.append("INBOX", KINDS["question"](0).raw)
    daemon = daemons(shop)
    _wait(lambda: len(shop.sink.messages) == 1, 30, "first reply")
    time.sleep(0.5)  # idling now

    shop.dovecot.stop()
    time.sleep(downtime)
    shop.dovecot.start()
    restarted = time.monotonic()
    shop.dovecot.append_many("INBOX", [KINDS["question"](i).raw for i in range(1, 4)])

    _wait(lambda: len(shop.sink.messages) == 4, 10, "catch-up after the restart")
    caught_up = time.monotonic() - restarted
    assert caught_up < 10, f"{caught_up:.1f}s"
    assert _unprocessed(shop) == 0
    assert daemon.stop() == 0, daemon.text()
    assert "reconnecting" in daemon.text()
    assert len(shop.sink.messages) == 4


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param("fetch=1,2", id="mid-fetch"),
        pytest.param("move=1,2", id="mid-move"),
        pytest.param("keywords=2,5", id="mid-store"),
    ],
)
def test_connection_cut_mid_batch_files_everything_once(shop, daemons, faults) -> None:
    expected = mixed_backlog(520)
    shop.dovecot.deliver_many("INBOX", [e.raw for e in expected])

    daemon = daemons(shop, faults=faults)
    answered = sum(e.answered for e in expected)
    staying = sum(e.folder == "INBOX" for e in expected)
    # Done means filed, not only marked: a batch cut mid-MOVE is marked and then replayed.
    # The bound is generous (alone it takes ~10 s; a loaded 2-core machine needs over 60 s):
    # what the test proves is the end state, checked in full below.
    try:
        _wait(
            lambda: len(shop.sink.messages) >= answered and _unprocessed(shop) == 0
            and _inbox_count(shop) == staying,
            180,
            "backlog done despite the cuts",
        )
    except AssertionError as timeout:
        state = (
            f"replies {len(shop.sink.messages)}/{answered}, unprocessed {_unprocessed(shop)}, "
            f"INBOX {_inbox_count(shop)}/{staying}"
        )
        raise AssertionError(f"{timeout}: {state}\n{daemon.text()[-3000:]}") from None
    time.sleep(0.5)
    assert daemon.stop() == 0, daemon.text()[-3000:]
    log = daemon.text()
    assert log.count("FAULT: connection cut") == len(re.findall(r"\d+", faults)), log[-3000:]
    _assert_filed_once_answered_once(shop, expected)
    _assert_recorded_once(shop, expected)


def _assert_recorded_once(shop: Any, expected: list[Any]) -> None:
    """A replayed batch was recorded before the cut: its history and complaints not again."""
    from inboxbot.adapters.store import StateStore

    with StateStore(shop.directory / "state.json") as store:
        logged = Counter(c["message_id"] for c in store.complaints())
        senders = Counter(email.message_from_bytes(e.raw)["From"] for e in expected)
        histories = {
            sender: len(store.history(email.utils.parseaddr(sender)[1].lower()))
            for sender in senders
        }
    twice = [message_id for message_id, n in logged.items() if n > 1]
    assert logged and not twice, f"{len(twice)} complaints logged more than once: {twice[:3]}"
    recorded = {s: n for s, n in histories.items() if n > senders[s]}
    assert not recorded, f"{len(recorded)} histories longer than the mail sent"


# -- SMTP server faults ------------------------------------------------------------------------


def _smtp_retries(shop: Any, retries: int) -> None:
    text = shop.config_path.read_text()
    text = text.replace(
        'security = "plain"\n\n[shop]', f'security = "plain"\nretries = {retries}\n\n[shop]'
    )
    shop.config_path.write_text(text)


def test_smtp_4xx_for_a_while_then_accepting_sends_each_reply_once(shop) -> None:
    _smtp_retries(shop, 1)
    customers = [f"patient{i}@customer.example" for i in range(5)]
    shop.dovecot.append_many(
        "INBOX", [customer_mail(c, "Hello", "Where is my order?") for c in customers]
    )
    shop.sink.refuse(451, "4.3.0 try again later", for_seconds=4)

    passes = 0
    deadline = time.monotonic() + 20
    while len(shop.sink.messages) < len(customers) and time.monotonic() < deadline:
        serve(shop.config(), once=True)  # each pass: 1 try + 1 retry 1 s later, then defer
        passes += 1

    assert passes >= 2, "the refusal outlasted the first pass"
    assert sorted(r.rcpt_tos[0] for r in shop.sink.messages) == sorted(customers)
    serve(shop.config(), once=True)
    time.sleep(0.3)
    assert len(shop.sink.messages) == len(customers), "each reply sent exactly once"
    flags = [i["flags"] for i in shop.folder("INBOX").values()]
    assert all({SEEN, "$AutoReplied"} <= f for f in flags), flags
    assert len(shop.folder("Sent")) == len(customers)


def test_a_deferred_reply_answered_later_leaves_nothing_behind(shop, daemons) -> None:
    """Bug 11: a long run kept a deferred uid in Executor.deferred for good, so the watermark
    never passed it again. Also: the complaint's reminder and history exist once."""
    from inboxbot.adapters.store import StateStore

    _smtp_retries(shop, 0)
    complaint = KINDS["complaint"](1).raw
    shop.sink.refuse(451, "4.3.0 try again later")
    shop.dovecot.append("INBOX", complaint)
    daemon = daemons(shop)
    _wait(lambda: "will retry" in daemon.text(), 30, "the reply was deferred")
    shop.sink.accept()
    shop.dovecot.append("INBOX", customer_mail("later@customer.example", "Hi", "A question."))
    _wait(lambda: len(shop.sink.messages) >= 2, 30, "both answered (the deferred one retried)")
    assert daemon.stop() == 0

    message_id = email.message_from_bytes(complaint)["Message-ID"]
    with StateStore(shop.directory / "state.json") as store:
        assert [r["message_id"] for r in store.reminders()] == [message_id]
        assert store.is_known("sad1@customer.example")
        assert store.watermark("INBOX")[1] == 2  # past both messages


def test_smtp_5xx_is_logged_not_retried_and_flagged_for_staff(shop, caplog) -> None:
    _smtp_retries(shop, 3)
    shop.dovecot.append("INBOX", customer_mail("refused@customer.example", "Hi", "A question."))
    shop.sink.refuse(550, "5.7.1 relaying denied")

    with caplog.at_level(logging.ERROR, logger="inboxbot"):
        serve(shop.config(), once=True)

    assert shop.sink.attempts == 1, "a permanent refusal is not retried"
    assert any("refused" in r.getMessage() and "550" in r.getMessage() for r in caplog.records)
    [item] = shop.folder("INBOX").values()
    assert "\\Flagged" in item["flags"] and SEEN in item["flags"]
    assert "$AutoReplied" not in item["flags"]

    shop.sink.accept()
    serve(shop.config(), once=True)
    assert shop.sink.attempts == 1 and shop.sink.messages == [], "not retried on the next pass"


# -- login failure: a clear error and backoff ---------------------------------------------------


def _auth_failures(shop: Any) -> int:
    log = shop.dovecot.server.log_path.read_text(errors="replace")
    user = re.escape(shop.dovecot.username)
    return len(re.findall(rf"imap-login: .*(auth failed|Login aborted).*user=<{user}>", log))


def test_imap_login_failure_is_clear_and_backs_off(shop, daemons) -> None:
    text = shop.config_path.read_text().replace(shop.dovecot.password, "wrong-password")
    shop.config_path.write_text(text)

    once = subprocess.run(
        [sys.executable, "-m", "inboxbot", "run", "--once", "-c", str(shop.config_path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert once.returncode == 1
    errors = [line for line in once.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "check [imap] username and password" in errors[0], once.stderr

    before = _auth_failures(shop)
    daemon = daemons(shop)
    time.sleep(8.5)
    assert daemon.stop() == 0
    attempts = _auth_failures(shop) - before
    delays = [float(d) for d in re.findall(r"(?:retrying|reconnecting) in (\d+)s", daemon.text())]
    # 1, 2, 4 s apart: 4 attempts in 8.5 s, where a tight loop would make hundreds.
    assert 3 <= attempts <= 5, (attempts, daemon.text())
    assert delays[:3] == [1.0, 2.0, 4.0], delays
    assert "login refused" in daemon.text()


# -- disk full under the state file -------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Any:
    mount = tmp_path / "state"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
        capture_output=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr!r}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory: Path, leave: int) -> Path:
    """Fill the file system but `leave` bytes."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


def test_disk_full_stops_cleanly_with_a_clear_error_and_loses_nothing(shop, tiny_disk) -> None:
    text = shop.config_path.read_text() + f'\n[paths]\nstate = "{tiny_disk}/state.json"\n'
    shop.config_path.write_text(text)
    expected = mixed_backlog(600)
    shop.dovecot.deliver_many("INBOX", [e.raw for e in expected])
    filler = _fill(tiny_disk, leave=24 * 1024)

    full = subprocess.run(
        [sys.executable, "-m", "inboxbot", "run", "--once", "-c", str(shop.config_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert full.returncode == 1, full.stderr[-2000:]
    errors = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, full.stderr[-2000:]
    assert "cannot be written" in errors[0] and "disk space" in errors[0], errors
    assert "Traceback" not in full.stderr
    sent_while_full = len(shop.sink.messages)

    filler.unlink()  # the admin frees space and starts it again
    again = subprocess.run(
        [sys.executable, "-m", "inboxbot", "run", "--once", "-c", str(shop.config_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr[-2000:]
    assert sent_while_full < sum(e.answered for e in expected), "the disk filled mid-backlog"
    _assert_filed_once_answered_once(shop, expected)


# -- exact crash points (a SystemExit stands in for SIGKILL at that line) ----------------------


def test_crash_after_marking_keeps_the_staff_reminders(shop, monkeypatch) -> None:
    from inboxbot import reminders

    shop.dovecot.append("INBOX", KINDS["complaint"](1).raw)
    original = reminders.after_batch

    def die(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(reminders, "after_batch", die)
    with pytest.raises(SystemExit):
        serve(shop.config(), once=True)
    monkeypatch.setattr(reminders, "after_batch", original)
    serve(shop.config(), once=True)

    from inboxbot.adapters.store import StateStore

    with StateStore(shop.directory / "state.json") as store:
        assert [r["kind"] for r in store.reminders()] == ["sla"]


def test_crash_right_after_the_smtp_250_resends_with_the_same_message_id(shop, monkeypatch) -> None:
    """The one window no local bookkeeping can close: SIGKILL after the server's 250 and before
    the "sent" state is on disk. The reply goes out again, with the same Message-ID, so the
    customer's mail client shows one message (documented in RELIABILITY.md)."""
    from inboxbot.adapters import smtp

    shop.dovecot.append("INBOX", customer_mail("window@customer.example", "Hi", "A question."))
    original = smtp.SmtpSender.send

    def send_then_die(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        raise SystemExit("killed")

    monkeypatch.setattr(smtp.SmtpSender, "send", send_then_die)
    with pytest.raises(SystemExit):
        serve(shop.config(), once=True)
    monkeypatch.setattr(smtp.SmtpSender, "send", original)
    serve(shop.config(), once=True)

    first, second = shop.sink.wait_for(2)
    ids = {email.message_from_bytes(m.raw)["Message-ID"] for m in (first, second)}
    assert len(ids) == 1, ids
    [item] = shop.folder("INBOX").values()
    assert {"$AutoReplied", SEEN} <= item["flags"]


def test_crash_before_sent_is_on_disk_does_not_resend(shop, monkeypatch) -> None:
    """SIGKILL after the 250 while "sent" is being written: the $AutoReplied mark is already on
    the server (it is set before the fsync), so the restart does not answer again."""
    from inboxbot.adapters import smtp
    from inboxbot.adapters.store import StateStore

    shop.dovecot.append("INBOX", customer_mail("fsync@customer.example", "Hi", "A question."))
    send, flush = smtp.SmtpSender.send, StateStore.flush
    sent: list[bool] = []

    def send_and_note(self: Any, *args: Any, **kwargs: Any) -> None:
        send(self, *args, **kwargs)
        sent.append(True)

    def flush_or_die(self: StateStore) -> bool:
        if sent:
            raise SystemExit("killed")
        return flush(self)

    monkeypatch.setattr(smtp.SmtpSender, "send", send_and_note)
    monkeypatch.setattr(StateStore, "flush", flush_or_die)
    close = StateStore.close
    # SIGKILL writes nothing more: closing must not save what the "killed" flush did not.
    monkeypatch.setattr(StateStore, "close", StateStore._release)
    with pytest.raises(SystemExit):
        serve(shop.config(), once=True)
    monkeypatch.setattr(StateStore, "flush", flush)
    monkeypatch.setattr(StateStore, "close", close)
    sent.clear()
    serve(shop.config(), once=True)

    assert len(shop.sink.messages) == 1, [m.rcpt_tos for m in shop.sink.messages]
    [item] = shop.folder("INBOX").values()
    assert {"$AutoReplied", SEEN} <= item["flags"]


def test_crash_while_tagging_with_the_state_lost_files_everything(shop, monkeypatch) -> None:
    """SIGKILL while the batch's keywords are stored, then the state file is lost (no in-flight
    list to replay): $InboxbotSeen is stored last, so nothing is marked done yet and the next run
    files and tags every message, answering each customer once."""
    from inboxbot.adapters import imap
    from inboxbot.adapters.store import StateStore

    made = [KINDS[kind](i) for i, kind in enumerate(("vip", "urgent", "complaint"))]
    for expected in made:
        shop.dovecot.append("INBOX", expected.raw)
    add_keywords = imap.ImapMailbox.add_keywords

    def die_at_complaint(self: Any, uids: Any, keywords: Any) -> None:
        if list(keywords) == ["$Complaint"]:
            raise SystemExit("killed")
        add_keywords(self, uids, keywords)

    monkeypatch.setattr(imap.ImapMailbox, "add_keywords", die_at_complaint)
    monkeypatch.setattr(StateStore, "close", StateStore._release)  # SIGKILL saves nothing
    with pytest.raises(SystemExit):
        serve(shop.config(), once=True)
    monkeypatch.undo()
    for leftover in shop.directory.glob("state.json*"):
        leftover.unlink()
    serve(shop.config(), once=True)

    for expected in made:
        msgid = email.message_from_bytes(expected.raw)["Message-ID"]
        found = [i for i in shop.folder(expected.folder).values() if msgid in i["header"]]
        assert len(found) == 1, (msgid, expected.folder, shop.folder("INBOX"))
        assert expected.keywords | {SEEN, "$AutoReplied"} <= found[0]["flags"], (msgid, found)
    assert not [i for i in shop.folder("INBOX").values() if "$VIP" in i["flags"]]
    replies = Counter(m.rcpt_tos[0] for m in shop.sink.messages)
    assert sorted(replies.values()) == [1, 1, 1], replies


def test_sigterm_during_a_backlog_stops_within_5s(shop, daemons) -> None:
    shop.dovecot.deliver_many("INBOX", [e.raw for e in mixed_backlog(2000)])
    daemon = daemons(shop)
    _wait(lambda: len(shop.sink.messages) >= 5, 30, "work started")
    started = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    try:
        code = daemon.process.wait(timeout=8)
    except subprocess.TimeoutExpired:
        daemon.process.kill()
        code = None
    stopped = time.monotonic() - started
    assert code == 0 and stopped < 5.0, f"exit {code} after {stopped:.1f}s"
    assert _unprocessed(shop) > 0, "it stopped mid-backlog rather than finishing it"
    # The work in hand was finished, not dropped: every reply sent carries its mark on the
    # server, and no batch is left half filed (nothing in flight in the state).
    from inboxbot.adapters.store import StateStore

    answered = {email.message_from_bytes(m.raw)["In-Reply-To"] for m in shop.sink.messages}
    marked = set()
    for folder in ("INBOX", "VIP", "Urgent"):
        for item in shop.folder(folder).values():
            if "$AutoReplied" in item["flags"]:
                marked.add(item["header"].split("Message-ID:")[-1].split()[0])
    assert answered <= marked, answered - marked
    with StateStore(shop.directory / "state.json") as store:
        client = shop.dovecot.client()
        try:
            uidvalidity = client.select_folder("INBOX", readonly=True)[b"UIDVALIDITY"]
        finally:
            client.logout()
        assert store.in_flight("INBOX", int(uidvalidity)) == []

