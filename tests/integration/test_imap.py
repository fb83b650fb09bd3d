"""ImapMailbox against a real Dovecot (tests/dovecot.py): no mock stands in for the server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from inboxbot.adapters.imap import SEEN_KEYWORD, ImapMailbox, connect_with_backoff
from inboxbot.core.message import Message, parse_entity, parse_message
from inboxbot.errors import MailboxError
from inboxbot.ports import Fetched
from tests.dovecot import Dovecot
from tests.integration.test_hostile import _hostile_batch, hostile_mail


def _crlf(message: EmailMessage) -> bytes:
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def plain(n: int, body: str | None = None) -> bytes:
    # Built by hand: EmailMessage costs ~3 ms a message, too slow for seeding thousands.
    text = body if body is not None else f"Hello, this is message number {n}.\n"
    return (
        f"From: Customer {n} <c{n}@example.org>\r\n"
        "To: support@shop.example\r\n"
        f"Subject: Order {n}\r\n"
        f"Message-ID: <m{n}@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n" + text.replace("\n", "\r\n")
    ).encode()


def with_attachment(n: int, size: int = 2 * 1024 * 1024) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"c{n}@example.org"
    msg["Subject"] = f"Invoice {n}"
    msg.set_content(f"Please see the invoice {n} attached. Kind regards")
    msg.add_alternative(f"<p>Please see the <b>invoice {n}</b> attached.</p>", subtype="html")
    msg.add_attachment(bytes(range(256)) * (size // 256), "application", "pdf", filename="big.pdf")
    msg.add_attachment("a,b\n1,2\n", subtype="csv", filename="rows.csv")
    return _crlf(msg)


def forwarded() -> bytes:
    inner = EmailMessage()
    inner["From"] = "original@example.org"
    inner["Subject"] = "the original"
    inner.set_content("Inner text of the forwarded mail.")
    inner.add_attachment(b"\x00" * 50_000, "image", "png", filename="photo.png")
    outer = EmailMessage()
    outer["From"] = "forwarder@example.org"
    outer["Subject"] = "Fwd: the original"
    outer.set_content("See below.")
    outer.add_attachment(inner)
    return _crlf(outer)


@pytest.fixture
def box(dovecot: Dovecot) -> Iterator[ImapMailbox]:
    mailbox = open_box(dovecot)
    yield mailbox
    mailbox.close()


def open_box(dovecot: Dovecot, **options: Any) -> ImapMailbox:
    return ImapMailbox(
        dovecot.host, dovecot.port, "plain", dovecot.username, dovecot.password, **options
    )


# -- connecting -----------------------------------------------------------------------------


def test_plain_to_a_non_loopback_host_is_refused_before_connecting() -> None:
    with pytest.raises(MailboxError, match='security = "tls"'):
        ImapMailbox("192.0.2.10", 143, "plain", "user", "secret", timeout=1)


def test_plain_to_localhost_by_name_works(dovecot: Dovecot) -> None:
    with ImapMailbox("localhost", dovecot.port, "plain", dovecot.username, dovecot.password) as b:
        assert "IMAP4REV1" in b.capabilities()


def test_unknown_security_is_refused() -> None:
    with pytest.raises(MailboxError, match="starttls"):
        ImapMailbox("127.0.0.1", 143, "ssl", "user", "secret")


def test_bad_password_is_a_readable_error_without_the_password(dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError, match="username and password") as caught:
        ImapMailbox(dovecot.host, dovecot.port, "plain", dovecot.username, "wrong-Pa55")
    assert "wrong-Pa55" not in str(caught.value)
    assert f"{dovecot.host}:{dovecot.port}" in str(caught.value)


def test_tls_verifies_the_certificate_against_ca_file(dovecot: Dovecot) -> None:
    for host in ("127.0.0.1", "localhost"):
        with ImapMailbox(
            host,
            dovecot.tls_port,
            "tls",
            dovecot.username,
            dovecot.password,
            ca_file=dovecot.ca_file,
        ) as box:
            assert box.select("INBOX").exists == 0


def test_imaplib_trace_only_when_its_logger_wants_it(dovecot: Dovecot) -> None:
    with open_box(dovecot) as quiet:
        assert quiet._imap._imap.debug == 0  # no line formatted for a logger that drops it
    trace = logging.getLogger("imapclient.imaplib")
    level = trace.level
    trace.setLevel(logging.DEBUG)
    try:
        with open_box(dovecot) as traced:
            assert traced._imap._imap.debug == 5  # as imapclient sets it
    finally:
        trace.setLevel(level)


def test_tls_refuses_an_unknown_certificate(dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError, match="ca_file"):
        ImapMailbox(dovecot.host, dovecot.tls_port, "tls", dovecot.username, dovecot.password)


def test_starttls_upgrades_and_verifies(dovecot: Dovecot) -> None:
    with ImapMailbox(
        dovecot.host, dovecot.port, "starttls", dovecot.username, dovecot.password,
        ca_file=dovecot.ca_file,
    ) as box:  # fmt: skip
        assert box._imap._starttls_done
        assert box.select("INBOX").exists == 0
    with pytest.raises(MailboxError, match="ca_file"):
        ImapMailbox(dovecot.host, dovecot.port, "starttls", dovecot.username, dovecot.password)


def test_tls_to_a_plain_port_fails_cleanly(dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError, match=r"TLS|connection"):
        ImapMailbox(dovecot.host, dovecot.port, "tls", dovecot.username, "x", timeout=5)


def test_nothing_listening_names_the_fix(dovecot: Dovecot) -> None:
    dovecot.stop()
    with pytest.raises(MailboxError, match="host and port"):
        open_box(dovecot)


def test_capabilities(box: ImapMailbox) -> None:
    assert {"IDLE", "MOVE", "UIDPLUS"} <= box.capabilities()


# -- folders --------------------------------------------------------------------------------


def test_ensure_folders_creates_nested_and_subscribes(box: ImapMailbox, dovecot: Dovecot) -> None:
    assert box.ensure_folders(["INBOX", "Urgent", "Support/VIP", "Urgent"]) == [
        "Urgent",
        "Support/VIP",
    ]
    assert box.ensure_folders(["Urgent", "Support/VIP", "inbox"]) == []
    folders = box.list_folders()
    assert {"INBOX", "Urgent", "Support/VIP"} <= set(folders)
    assert "Support" not in folders  # a \Noselect parent is not a folder to select
    subscribed = {name for _f, _d, name in dovecot.client().list_sub_folders()}
    assert {"Urgent", "Support/VIP"} <= subscribed
    assert box.select("Support/VIP").exists == 0


def test_select_reports_uidvalidity_uidnext_exists(box: ImapMailbox, dovecot: Dovecot) -> None:
    for n in range(3):
        dovecot.append("INBOX", plain(n))
    state = box.select("INBOX")
    theirs = dovecot.client().select_folder("INBOX", readonly=True)
    assert (state.name, state.exists, state.uidnext) == ("INBOX", 3, 4)
    assert state.uidvalidity == theirs[b"UIDVALIDITY"]


def test_select_missing_folder_names_it(box: ImapMailbox) -> None:
    with pytest.raises(MailboxError, match="Nowhere"):
        box.select("Nowhere")


def test_uidvalidity_change_is_visible(box: ImapMailbox, dovecot: Dovecot) -> None:
    dovecot.append("INBOX", plain(1))
    before = box.select("INBOX").uidvalidity
    new = dovecot.change_uidvalidity("INBOX")
    box.close()
    with open_box(dovecot) as again:
        after = again.select("INBOX").uidvalidity
    assert after == new != before


# -- searching ------------------------------------------------------------------------------


def test_search_unprocessed_skips_marked_and_old(box: ImapMailbox, dovecot: Dovecot) -> None:
    uids = [dovecot.append("INBOX", plain(n)) for n in range(5)]
    dovecot.append("INBOX", plain(9), flags=[SEEN_KEYWORD])
    box.select("INBOX")
    assert box.search_unprocessed(0) == uids
    box.add_keywords(uids[:2], [SEEN_KEYWORD])
    assert box.search_unprocessed(0) == uids[2:]
    assert box.search_unprocessed(uids[3]) == uids[4:]


def test_search_above_the_highest_uid_is_empty(box: ImapMailbox, dovecot: Dovecot) -> None:
    # "UID n:*" matches the highest UID even when it is below n; the adapter must filter.
    last = dovecot.append("INBOX", plain(1))
    box.select("INBOX")
    assert box.search_unprocessed(last) == []
    assert box.search_unprocessed(last + 100) == []


# -- fetching -------------------------------------------------------------------------------


def count_fetches(box: ImapMailbox, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on the adapter's FETCH commands (the server still answers them)."""
    calls: list[int] = []
    real = box._fetch_items

    def counting(uids: Any, items: Any) -> Any:
        calls.append(len(uids))
        return real(uids, items)

    monkeypatch.setattr(box, "_fetch_items", counting)
    return calls


def light(item: Fetched) -> Message:
    """The Message the service builds from a fetched item, checked against the parse of the
    item put back together (what the service parsed before it read the pieces directly)."""
    assert item.entity is not None and item.raw == b""
    message = parse_entity(item.entity, item.size)
    assert message == replace(parse_message(item.message_bytes()), size=item.size)
    return message


def test_fetch_1200_messages_in_batches(
    box: ImapMailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [plain(n) for n in range(1200)]
    uids = dovecot.deliver_many("INBOX", messages)
    box.select("INBOX")
    calls = count_fetches(box, monkeypatch)
    started = time.perf_counter()
    fetched = box.fetch(uids)
    elapsed = time.perf_counter() - started
    assert [f.uid for f in fetched] == uids
    # 3 chunks of <= 500, each two round trips (headers+structure, then text) for every size.
    assert calls == [500, 500, 500, 500, 200, 200]
    for n, item in enumerate(fetched):
        parsed = light(item)
        assert parsed.subject == f"Order {n}"
        assert parsed.text.strip() == f"Hello, this is message number {n}."
        assert item.size == len(messages[n])
        assert item.flags <= frozenset({"\\Recent"})
    logging.getLogger(__name__).info("fetched 1200 messages in %.2fs", elapsed)
    assert elapsed < 20


def test_fetch_never_downloads_attachments(box: ImapMailbox, dovecot: Dovecot) -> None:
    raw = with_attachment(1)
    uid = dovecot.append("INBOX", raw)
    box.select("INBOX")
    [item] = box.fetch([uid])
    assert len(raw) > 2_000_000
    assert item.size == len(raw)
    assert len(item.message_bytes()) < 8_000  # not even 64 KiB of the attachment came down
    full, part = parse_message(raw), light(item)
    assert [a.filename for a in part.attachments] == ["big.pdf", "rows.csv"]
    assert part.text == full.text
    assert "invoice 1 attached" in part.text
    assert part.subject == full.subject == "Invoice 1"


def test_fetch_keeps_forwarded_message_structure(box: ImapMailbox, dovecot: Dovecot) -> None:
    raw = forwarded()
    uid = dovecot.append("INBOX", raw)
    box.select("INBOX")
    [item] = box.fetch([uid])
    full, part = parse_message(raw), light(item)
    assert part.text == full.text
    assert "Inner text of the forwarded mail." in part.text
    assert [a.filename for a in part.attachments] == ["photo.png"]
    assert len(item.message_bytes()) < 5_000


def test_fetch_truncates_long_text_to_64k(box: ImapMailbox, dovecot: Dovecot) -> None:
    uid = dovecot.append("INBOX", plain(1, "word " * 100_000))
    box.select("INBOX")
    [item] = box.fetch([uid])
    assert item.size > 500_000
    assert 64 * 1024 < len(item.message_bytes()) < 70_000
    assert light(item).text.startswith("word word")


def test_fetch_mixed_batch_keeps_round_trips_constant(
    box: ImapMailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [plain(0), with_attachment(1, 10_000), forwarded()] * 20
    uids = dovecot.append_many("INBOX", raws)
    box.select("INBOX")
    calls = count_fetches(box, monkeypatch)
    fetched = box.fetch(uids)
    assert len(calls) <= 1 + 3  # one first round, then one per distinct structure at most
    for raw, item in zip(raws, fetched, strict=True):
        full, part = parse_message(raw), light(item)
        assert (part.text, [a.filename for a in part.attachments]) == (
            full.text,
            [a.filename for a in full.attachments],
        )


def test_odd_mime_fetched_in_pieces_reads_as_the_rebuilt_message(
    box: ImapMailbox, dovecot: Dovecot
) -> None:
    # Broken boundaries, unknown charsets, 8-bit headers, 60 levels of nesting, 10 MB of text.
    uids = [dovecot.append("INBOX", raw) for raw in _hostile_batch()]
    box.select("INBOX")
    fetched = box.fetch(uids)
    assert [f.uid for f in fetched] == uids
    texts = [light(item).text for item in fetched]
    assert "where is it" in texts[2]
    assert texts[4] == ""  # nested beyond the depth the adapter follows: a stub, no text
    assert texts[5].startswith("aaaa") and len(texts[5]) == 64 * 1024


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
@given(mail=hostile_mail())
def test_generated_hostile_mail_fetched_in_pieces_reads_as_rebuilt(
    box: ImapMailbox, dovecot: Dovecot, mail: tuple[bytes, bytes, bytes]
) -> None:
    uid = dovecot.append("INBOX", mail[0])
    box.select("INBOX")
    [item] = box.fetch([uid])
    light(item)


def test_fetch_headers_only(box: ImapMailbox, dovecot: Dovecot) -> None:
    raw = with_attachment(7, 100_000)
    uid = dovecot.append("INBOX", raw, flags=["\\Seen"])
    box.select("INBOX")
    [item] = box.fetch([uid], headers_only=True)
    assert item.raw == raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert "\\Seen" in item.flags
    assert item.size == len(raw)
    assert parse_message(item.raw, headers_only=True).subject == "Invoice 7"


def test_fetch_skips_vanished_uids_and_fetch_full(box: ImapMailbox, dovecot: Dovecot) -> None:
    raw = with_attachment(3, 300_000)
    uid = dovecot.append("INBOX", raw)
    box.select("INBOX")
    assert [f.uid for f in box.fetch([uid, uid + 50])] == [uid]
    assert box.fetch_full(uid) == raw
    with pytest.raises(MailboxError, match="UID 999"):
        box.fetch_full(999)


# -- changing -------------------------------------------------------------------------------


def inbox_and(dovecot: Dovecot, folder: str) -> tuple[list[int], int]:
    client = dovecot.client()
    client.select_folder("INBOX", readonly=True)
    left = client.search(["ALL"])
    return sorted(left), client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"]


@pytest.mark.parametrize("use_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
def test_move_grouped(dovecot: Dovecot, use_move: bool) -> None:
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(10)])
    other = dovecot.client()
    other.select_folder("INBOX")
    other.add_flags([uids[-1]], [b"\\Deleted"])  # someone else's pending deletion: not ours
    with open_box(dovecot, use_move=use_move) as box:
        box.ensure_folders(["Done"])
        box.select("INBOX")
        box.move(uids[:5], "Done")
        assert inbox_and(dovecot, "Done") == (uids[5:], 5)
        assert [f.uid for f in box.fetch(uids)] == uids[5:]


def test_copy_keeps_the_original(box: ImapMailbox, dovecot: Dovecot) -> None:
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(3)])
    box.ensure_folders(["Archive"])
    box.select("INBOX")
    box.copy(uids, "Archive")
    assert inbox_and(dovecot, "Archive") == (uids, 3)


def test_add_keywords_and_system_flags(box: ImapMailbox, dovecot: Dovecot) -> None:
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(3)])
    box.select("INBOX")
    box.add_keywords(uids[:2], ["$Complaint", "$Urgent", "\\Flagged"])
    flags = {f.uid: f.flags for f in box.fetch(uids, headers_only=True)}
    assert {"$Complaint", "$Urgent", "\\Flagged"} <= flags[uids[0]]
    assert {"$Complaint", "$Urgent", "\\Flagged"} <= flags[uids[1]]
    assert not {"$Complaint", "$Urgent", "\\Flagged"} & flags[uids[2]]


def test_add_keywords_rejects_an_injection(box: ImapMailbox, dovecot: Dovecot) -> None:
    dovecot.append("INBOX", plain(1))
    box.select("INBOX")
    with pytest.raises(MailboxError, match="not a valid IMAP keyword"):
        box.add_keywords([1], ["$Ok) \\Deleted ("])


def test_fetch_fields_marking_judges_the_fields_while_the_keyword_is_set(
    box: ImapMailbox, dovecot: Dovecot
) -> None:
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(40)])
    box.select("INBOX")
    fetched, scattered = uids[1::3], uids[::3]  # several ranges in each UID set
    judged: list[dict[int, bytes]] = []
    box.fetch_fields_marking(fetched, ["From", "Subject"], scattered, "$Mark", judged.append)
    assert judged == [box.fetch_fields(fetched, ["From", "Subject"])]
    assert all(b"Subject: Order" in raw and b"To:" not in raw for raw in judged[0].values())
    flags = {f.uid: f.flags for f in box.fetch(uids, headers_only=True)}
    assert {u for u, f in flags.items() if "$Mark" in f} == set(scattered)
    assert box.search(["KEYWORD", "$Mark"]) == sorted(scattered), "the connection is in step"


def test_fetch_fields_marking_judges_the_fields_while_the_rest_are_outstanding(
    box: ImapMailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("inboxbot.adapters.imap.BATCH", 4)
    monkeypatch.setattr("inboxbot.adapters.imap.JUDGE_EVERY", 6)  # three messages' records
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(13)])
    box.select("INBOX")
    waiting = box._imap._imap.tagged_commands
    judged: list[dict[int, bytes]] = []
    unanswered: list[int] = []

    def judge(fields: dict[int, bytes]) -> None:
        judged.append(fields)
        unanswered.append(sum(1 for answer in waiting.values() if answer is None))

    box.fetch_fields_marking(uids, ["From"], uids[:2], "$Mark", judge)
    # Four FETCHes and a STORE: the first fields are judged before the STORE is answered,
    # every message once, in groups of three as they came and the rest at the end.
    assert [len(fields) for fields in judged] == [3, 3, 3, 3, 1]
    assert unanswered[0] >= 1
    whole = box.fetch_fields(uids, ["From"])
    assert {uid: raw for fields in judged for uid, raw in fields.items()} == whole
    assert box.search(["KEYWORD", "$Mark"]) == uids[:2], "the connection is in step"


def test_fetch_fields_marking_a_judge_failing_midway_leaves_the_connection_in_step(
    box: ImapMailbox, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("inboxbot.adapters.imap.BATCH", 2)
    monkeypatch.setattr("inboxbot.adapters.imap.JUDGE_EVERY", 4)
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(7)])
    box.select("INBOX")
    calls: list[int] = []

    def judge(fields: dict[int, bytes]) -> None:
        calls.append(len(fields))
        if len(calls) == 2:
            raise RuntimeError("parse failed")

    with pytest.raises(RuntimeError, match="parse failed"):
        box.fetch_fields_marking(uids, ["From"], uids, "$Mark", judge)
    assert calls == [2, 2]
    assert box.search(["KEYWORD", "$Mark"]) == uids, "the other answers were still read"
    assert box.fetch_fields(uids[:1], ["From"]), "and the next command works"


def test_fetch_fields_marking_a_refused_store_raises_after_the_judging(
    box: ImapMailbox, dovecot: Dovecot
) -> None:
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(3)])
    box.select("INBOX")
    judged: list[int] = []
    with pytest.raises(MailboxError, match=r"store keywords.*BAD"):
        # A flag the server does not know: BAD, read after the judging is done.
        box.fetch_fields_marking(uids[:1], ["From"], uids, "\\Bogus",
                                 lambda fields: judged.extend(fields))
    assert judged == uids[:1]
    assert box.search(["ALL"]) == uids, "the connection is in step"


def test_fetch_fields_marking_a_failing_judge_is_the_error_seen(
    box: ImapMailbox, dovecot: Dovecot
) -> None:
    uids = dovecot.append_many("INBOX", [plain(n) for n in range(3)])
    box.select("INBOX")

    def failing(fields: dict[int, bytes]) -> None:
        raise RuntimeError("parse failed")

    with pytest.raises(RuntimeError, match="parse failed"):
        box.fetch_fields_marking(uids[:1], ["From"], uids, "$Mark", failing)
    assert box.search(["KEYWORD", "$Mark"]) == uids, "the STOREs were still read"


def test_append_with_flags_and_date(box: ImapMailbox, dovecot: Dovecot) -> None:
    box.ensure_folders(["Sent"])
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    box.append("Sent", plain(5), flags=["\\Seen", "$AutoReplied"], when=when)
    client = dovecot.client()
    client.select_folder("Sent")
    [(_uid, data)] = client.fetch([1], ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"]).items()
    assert {b"\\Seen", b"$AutoReplied"} <= set(data[b"FLAGS"])
    assert data[b"INTERNALDATE"].astimezone(UTC) == when
    assert data[b"BODY[]"] == plain(5)


# -- waiting --------------------------------------------------------------------------------


def append_later(dovecot: Dovecot, delay: float) -> threading.Thread:
    def later() -> None:
        time.sleep(delay)
        dovecot.append("INBOX", plain(99))

    thread = threading.Thread(target=later, daemon=True)
    thread.start()
    return thread


def test_idle_wakes_on_another_clients_append(box: ImapMailbox, dovecot: Dovecot) -> None:
    box.select("INBOX")
    started = time.monotonic()
    thread = append_later(dovecot, 0.2)
    assert box.wait(10) is True
    assert time.monotonic() - started < 2.2
    thread.join()
    assert box.search_unprocessed(0) == [1]


def test_idle_times_out_without_changes(box: ImapMailbox) -> None:
    box.select("INBOX")
    started = time.monotonic()
    assert box.wait(0.6) is False
    assert 0.5 < time.monotonic() - started < 2


def test_idle_is_renewed(dovecot: Dovecot) -> None:
    with open_box(dovecot, idle_renew=0.3) as box:
        box.select("INBOX")
        thread = append_later(dovecot, 1.0)
        assert box.wait(5) is True
        thread.join()


class _Stopped(Exception):
    """What the daemon's SIGTERM handler raises (daemon.ShutdownRequested), here on cue."""


def test_a_stop_as_idle_starts_hangs_up_at_once(dovecot: Dovecot) -> None:
    # The signal lands right after IDLE went out, before the adapter's next line: the goodbye
    # must not be a LOGOUT to a server waiting for DONE (that waited the whole timeout).
    box = open_box(dovecot, timeout=5)
    box.select("INBOX")
    client = box._imap
    start_idle = client.idle

    def idle_then_stopped() -> Any:
        start_idle()
        raise _Stopped

    client.idle = idle_then_stopped  # type: ignore[method-assign]
    with pytest.raises(_Stopped):
        box.wait(5)
    started = time.monotonic()
    box.close()
    assert time.monotonic() - started < 1.0


def test_mail_seen_during_another_command_still_wakes(box: ImapMailbox, dovecot: Dovecot) -> None:
    box.select("INBOX")
    dovecot.append("INBOX", plain(1))
    box.search_unprocessed(0)  # Dovecot reports the new EXISTS in this command's answer
    started = time.monotonic()
    assert box.wait(5) is True
    assert time.monotonic() - started < 0.5


def test_poll_fallback_without_idle(dovecot: Dovecot) -> None:
    with open_box(dovecot, use_idle=False, poll_interval=0.2) as box:
        box.select("INBOX")
        assert box.wait(0.3) is False
        thread = append_later(dovecot, 0.2)
        started = time.monotonic()
        assert box.wait(5) is True
        assert time.monotonic() - started < 2
        thread.join()


def test_wait_after_kick_raises(box: ImapMailbox, dovecot: Dovecot) -> None:
    box.select("INBOX")
    threading.Timer(0.3, dovecot.kick).start()
    with pytest.raises(MailboxError, match="connection"):
        box.wait(10)


def test_commands_after_a_restart_raise_then_reconnect(box: ImapMailbox, dovecot: Dovecot) -> None:
    box.select("INBOX")
    dovecot.restart()
    with pytest.raises(MailboxError, match="INBOX"):
        box.search_unprocessed(0)
    box.close()
    with open_box(dovecot) as again:
        assert again.select("INBOX").exists == 0


def test_connect_with_backoff_waits_for_the_server(dovecot: Dovecot) -> None:
    dovecot.stop()
    delays: list[float] = []

    def sleep(delay: float) -> None:
        delays.append(delay)
        if len(delays) == 2:
            dovecot.start()

    box = connect_with_backoff(
        lambda: open_box(dovecot, timeout=2),
        attempts=5,
        base_delay=0.5,
        max_delay=0.8,
        log=logging.getLogger("test"),
        sleep=sleep,
    )
    with box:
        assert box.select("INBOX").exists == 0
    assert delays == [0.5, 0.8]


def test_connect_with_backoff_gives_up(dovecot: Dovecot) -> None:
    dovecot.stop()
    with pytest.raises(MailboxError, match="host and port"):
        connect_with_backoff(
            lambda: open_box(dovecot, timeout=2),
            attempts=3,
            base_delay=0.01,
            max_delay=0.01,
            log=logging.getLogger("test"),
        )


def test_a_split_search_finds_what_one_search_finds(box: ImapMailbox, dovecot: Dovecot) -> None:
    dovecot.append_many("INBOX", [plain(n) for n in range(40)])
    box.select("INBOX")
    criteria = ["OR", "SUBJECT", "Order 1", "SUBJECT", "Order 3"]
    whole = box.search(["UID", "1:40", *criteria])
    assert whole and box.search_split(1, 40, criteria) == whole
    assert box.search_split(5, 40, criteria) == [uid for uid in whole if uid >= 5]


def test_a_split_search_without_its_second_connection_searches_on_one(
    box: ImapMailbox, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    def refused() -> None:
        raise ConnectionRefusedError("no second connection")

    dovecot.append_many("INBOX", [plain(n) for n in range(40)])
    box.select("INBOX")
    criteria = ["SUBJECT", "Order 2"]
    whole = box.search(["UID", "1:40", *criteria])
    box._open_another = refused  # type: ignore[method-assign]
    with caplog.at_level(logging.DEBUG, logger="inboxbot.adapters.imap"):
        assert box.search_split(1, 40, criteria) == whole
    assert "second connection failed" in caplog.text
