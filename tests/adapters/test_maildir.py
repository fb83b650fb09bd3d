"""MaildirMailbox against real directories: every Mailbox method, UIDs, keywords, waiting."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import threading
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inboxbot.adapters.maildir import (
    BODY_LIMIT,
    MaildirMailbox,
    folder_dirname,
    folder_name,
)
from inboxbot.core.message import parse_message
from inboxbot.errors import MailboxError
from inboxbot.ports import Mailbox
from tests.dovecot import Dovecot

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "inboxbot" / "data" / "demo"
CUSTOMER_DIR = REPO / "tests" / "fixtures" / "customer"


def mail(subject: str, body: str = "Hello, where is my order?\n") -> bytes:
    return (
        f"From: Customer <customer@example.com>\nTo: support@shop.example\n"
        f"Subject: {subject}\nMessage-ID: <{subject.replace(' ', '.')}@example.com>\n\n{body}"
    ).encode()


def deliver(directory: Path, raw: bytes) -> str:
    """Deliver like an MDA does (tmp/ then new/), through the standard library's Maildir."""
    return mailbox.Maildir(directory, create=False).add(raw)


def subjects(box: MaildirMailbox, uids: list[int]) -> dict[int, str]:
    return {f.uid: parse_message(f.raw).subject for f in box.fetch(uids, headers_only=True)}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "Maildir"


@pytest.fixture
def box(root: Path) -> MaildirMailbox:
    return MaildirMailbox(root)


def messages_in(directory: Path) -> list[str]:
    return sorted(os.listdir(directory / "cur") + os.listdir(directory / "new"))


# --- opening, folders ---------------------------------------------------------------------------


def test_implements_the_mailbox_protocol(box: MaildirMailbox) -> None:
    typed: Mailbox = box  # mypy checks the signatures; this checks nothing is missing at run time
    for name in (
        "capabilities",
        "list_folders",
        "ensure_folders",
        "select",
        "search_unprocessed",
        "fetch",
        "fetch_full",
        "move",
        "copy",
        "add_keywords",
        "append",
        "wait",
        "close",
    ):
        assert callable(getattr(typed, name)), name


def test_creates_the_root_maildir(root: Path) -> None:
    MaildirMailbox(root)
    assert all((root / sub).is_dir() for sub in ("cur", "new", "tmp"))


def test_refuses_a_missing_root_without_create(root: Path) -> None:
    with pytest.raises(MailboxError, match="not a Maildir"):
        MaildirMailbox(root, create=False)
    assert not root.exists()


def test_os_errors_become_mailbox_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(MailboxError, match="cannot open the Maildir"):
        MaildirMailbox(blocker / "Maildir")


def test_capabilities(box: MaildirMailbox) -> None:
    assert {"MOVE", "MAILDIR"} <= box.capabilities()


@pytest.mark.parametrize(
    ("name", "dirname"),
    [
        ("INBOX", ""),
        ("inbox", ""),
        ("Sent", ".Sent"),
        ("Support/VIP", ".Support.VIP"),
        ("Übersicht", ".&ANw-bersicht"),
        ("Tom & Jerry", ".Tom &- Jerry"),
    ],
)
def test_folder_names_map_to_maildirpp_directories(name: str, dirname: str) -> None:
    assert folder_dirname(name) == dirname
    if dirname:
        assert folder_name(dirname) == name


@pytest.mark.parametrize("name", ["a.b", "Support//VIP", "/Sent", "Sent/", "", "bad\nname"])
def test_invalid_folder_names_are_refused(box: MaildirMailbox, name: str) -> None:
    with pytest.raises(MailboxError, match="invalid folder name"):
        box.ensure_folders([name])


def test_ensure_folders_creates_only_missing_ones(box: MaildirMailbox, root: Path) -> None:
    assert box.ensure_folders(["Support/VIP", "Urgent", "INBOX", "Urgent"]) == [
        "Support/VIP",
        "Urgent",
    ]
    assert (root / ".Support.VIP" / "maildirfolder").exists()
    assert all((root / ".Urgent" / sub).is_dir() for sub in ("cur", "new", "tmp"))
    assert box.ensure_folders(["Urgent", "Support/VIP"]) == []


def test_list_folders(box: MaildirMailbox, root: Path) -> None:
    assert box.list_folders() == ["INBOX"]
    box.ensure_folders(["Urgent", "Support/VIP", "Übersicht"])
    (root / ".not-a-maildir").mkdir()  # no cur/new/tmp: not a folder
    assert box.list_folders() == ["INBOX", "Support/VIP", "Urgent", "Übersicht"]


# --- select, UIDs -------------------------------------------------------------------------------


def test_select_reports_state_and_takes_new_into_cur(box: MaildirMailbox, root: Path) -> None:
    for n in range(3):
        deliver(root, mail(f"m{n}"))
    state = box.select("INBOX")
    assert (state.name, state.exists, state.uidnext) == ("INBOX", 3, 4)
    assert state.uidvalidity > 0
    assert os.listdir(root / "new") == []
    assert all(name.endswith(":2,") for name in os.listdir(root / "cur"))


def test_select_missing_folder_fails(box: MaildirMailbox) -> None:
    with pytest.raises(MailboxError, match="does not exist"):
        box.select("Nope")


def test_uids_follow_arrival_order_not_file_names(box: MaildirMailbox, root: Path) -> None:
    late = root / "new" / "0000.first-by-name"
    early = root / "new" / "9999.last-by-name"
    late.write_bytes(mail("late"))
    early.write_bytes(mail("early"))
    os.utime(early, (1_700_000_000, 1_700_000_000))
    os.utime(late, (1_700_000_100, 1_700_000_100))
    box.select("INBOX")
    assert subjects(box, [1, 2]) == {1: "early", 2: "late"}


def test_uids_are_stable_across_reopen(root: Path) -> None:
    first = MaildirMailbox(root)
    first.ensure_folders(["Done"])
    for n in range(4):
        deliver(root, mail(f"m{n}"))
    before = first.select("INBOX")
    seen = subjects(first, [1, 2, 3, 4])
    first.move([2], "Done")
    first.close()

    deliver(root, mail("m4"))
    second = MaildirMailbox(root, create=False)
    after = second.select("INBOX")
    assert after.uidvalidity == before.uidvalidity
    assert after.uidnext == 6
    assert subjects(second, [1, 3, 4, 5]) == {1: seen[1], 3: seen[3], 4: seen[4], 5: "m4"}
    assert second.fetch([2]) == []  # expunged UIDs are never reused


def test_uid_survives_flag_renames_by_another_client(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("a"))
    deliver(root, mail("b"))
    box.select("INBOX")
    # Another client marks message 2 seen: same base name, new info part.
    name = sorted(os.listdir(root / "cur"), key=lambda n: (root / "cur" / n).stat().st_mtime_ns)[1]
    other = subjects(box, [2])[2]
    os.rename(root / "cur" / name, root / "cur" / (name + "S"))
    fetched = box.fetch([2])
    assert [parse_message(f.raw).subject for f in fetched] == [other]
    assert fetched[0].flags == {"\\Seen"}


def test_uidvalidity_is_per_folder_and_changes_when_the_list_is_damaged(
    box: MaildirMailbox, root: Path
) -> None:
    box.ensure_folders(["Other"])
    deliver(root, mail("a"))
    inbox = box.select("INBOX")
    other = box.select("Other")
    assert (root / ".Other" / "dovecot-uidlist").read_text().startswith(f"3 V{other.uidvalidity} ")
    uidlist = root / "dovecot-uidlist"
    uidlist.write_text(uidlist.read_text().splitlines()[0] + "\nnot a uid line\n")
    rebuilt = box.select("INBOX")
    assert rebuilt.uidvalidity > inbox.uidvalidity
    assert rebuilt.exists == 1


def test_uidlist_is_dovecot_version_3(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("a"))
    state = box.select("INBOX")
    lines = (root / "dovecot-uidlist").read_text().splitlines()
    base = os.listdir(root / "cur")[0].split(":")[0]
    assert lines == [f"3 V{state.uidvalidity} N2", f"1 :{base}"]


def test_reads_a_dovecot_uidlist_with_extension_fields(box: MaildirMailbox, root: Path) -> None:
    # Dovecot adds a GUID to the header and W/S fields to records, and may record the file name
    # with its info part; UIDs must survive all of that.
    (root / "cur" / "1700000000.M1P1.host,S=60,W=62:2,S").write_bytes(mail("seven"))
    (root / "cur" / "1700000001.M2P1.host,S=60,W=62:2,").write_bytes(mail("nine"))
    (root / "dovecot-uidlist").write_text(
        "3 V1234 N10 G0123456789abcdef0123456789abcdef\n"
        "7 W62 :1700000000.M1P1.host,S=60,W=62:2,S\n"
        "9 :1700000001.M2P1.host,S=60,W=62\n"
    )
    state = box.select("INBOX")
    assert (state.uidvalidity, state.uidnext, state.exists) == (1234, 10, 2)
    assert subjects(box, [7, 9]) == {7: "seven", 9: "nine"}


# --- fetch --------------------------------------------------------------------------------------


def test_fetch_returns_headers_and_text_with_flags_and_size(
    box: MaildirMailbox, root: Path
) -> None:
    raw = mail("hello", "body text\n")
    deliver(root, raw)
    box.select("INBOX")
    [fetched] = box.fetch([1])
    assert fetched.uid == 1
    assert fetched.raw == raw
    assert fetched.size == len(raw)
    assert fetched.flags == frozenset()


def test_fetch_headers_only_stops_at_the_blank_line(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("hello", "secret body\n"))
    box.select("INBOX")
    [fetched] = box.fetch([1], headers_only=True)
    assert fetched.raw.endswith(b"\n\n")
    assert b"secret body" not in fetched.raw
    assert parse_message(fetched.raw).subject == "hello"


def test_fetch_caps_the_body_at_64_kib(box: MaildirMailbox, root: Path) -> None:
    raw = mail("big", "x" * (BODY_LIMIT * 3))
    deliver(root, raw)
    box.select("INBOX")
    [fetched] = box.fetch([1])
    header_length = raw.index(b"\n\n") + 2
    assert len(fetched.raw) == header_length + BODY_LIMIT
    assert fetched.size == len(raw)
    assert box.fetch_full(1) == raw


def test_fetch_skips_unknown_uids_and_keeps_request_order(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("a"))
    deliver(root, mail("b"))
    box.select("INBOX")
    assert [f.uid for f in box.fetch([2, 99, 1])] == [2, 1]


def test_fetch_full_unknown_uid_fails(box: MaildirMailbox) -> None:
    box.select("INBOX")
    with pytest.raises(MailboxError, match="no message with UID 7"):
        box.fetch_full(7)


def test_operations_need_a_selected_folder(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("a"))
    box.select("INBOX")
    box.close()
    with pytest.raises(MailboxError, match="no folder selected"):
        box.fetch([1])
    with pytest.raises(MailboxError, match="no folder selected"):
        box.search_unprocessed(0)


# --- flags and keywords -------------------------------------------------------------------------


def test_system_flags_map_to_maildir_letters(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("a"))
    box.select("INBOX")
    box.add_keywords([1], ["\\Seen", "\\Flagged", "\\answered"])
    [name] = os.listdir(root / "cur")
    assert name.endswith(":2,FRS")
    assert box.fetch([1])[0].flags == {"\\Seen", "\\Flagged", "\\Answered"}


def test_keywords_round_trip_through_dovecot_keywords(root: Path) -> None:
    box = MaildirMailbox(root)
    deliver(root, mail("a"))
    deliver(root, mail("b"))
    box.select("INBOX")
    box.add_keywords([1, 2], ["$InboxbotSeen"])
    box.add_keywords([2], ["$Complaint", "$Urgent"])
    box.add_keywords([2], ["$complaint"])  # IMAP keywords compare case-insensitively
    assert (root / "dovecot-keywords").read_text() == "0 $InboxbotSeen\n1 $Complaint\n2 $Urgent\n"
    box.close()

    reopened = MaildirMailbox(root)
    reopened.select("INBOX")
    flags = {f.uid: f.flags for f in reopened.fetch([1, 2])}
    assert flags == {1: {"$InboxbotSeen"}, 2: {"$InboxbotSeen", "$Complaint", "$Urgent"}}
    assert sorted(n.rpartition(",")[2] for n in os.listdir(root / "cur")) == ["a", "abc"]


def test_reads_keywords_written_by_dovecot(box: MaildirMailbox, root: Path) -> None:
    (root / "dovecot-keywords").write_text("0 $Label1\n3 $Complaint\n")
    (root / "cur" / "1700000000.M1P1.host,S=10:2,Sd").write_bytes(mail("from dovecot"))
    box.select("INBOX")
    assert box.fetch([1])[0].flags == {"\\Seen", "$Complaint"}
    box.add_keywords([1], ["$Urgent"])  # takes the first free letter, b
    assert "1 $Urgent" in (root / "dovecot-keywords").read_text()
    assert box.fetch([1])[0].flags == {"\\Seen", "$Complaint", "$Urgent"}


@pytest.mark.parametrize("keyword", ["two words", "(paren", "", "\\Recent", "back\\slash"])
def test_invalid_keywords_are_refused(box: MaildirMailbox, root: Path, keyword: str) -> None:
    deliver(root, mail("a"))
    box.select("INBOX")
    with pytest.raises(MailboxError):
        box.add_keywords([1], [keyword])


def test_a_folder_holds_at_most_26_keywords(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("a"))
    box.select("INBOX")
    box.add_keywords([1], [f"$K{n}" for n in range(26)])
    assert len(box.fetch([1])[0].flags) == 26
    with pytest.raises(MailboxError, match="at most 26"):
        box.add_keywords([1], ["$OneTooMany"])


def test_search_unprocessed_respects_inboxbot_seen(box: MaildirMailbox, root: Path) -> None:
    for n in range(5):
        deliver(root, mail(f"m{n}"))
    box.select("INBOX")
    assert box.search_unprocessed(0) == [1, 2, 3, 4, 5]
    box.add_keywords([2, 4], ["$InboxbotSeen"])
    box.add_keywords([3], ["$Complaint", "\\Seen"])
    assert box.search_unprocessed(0) == [1, 3, 5]
    assert box.search_unprocessed(3) == [5]


def test_search_unprocessed_sees_mail_delivered_after_select(
    box: MaildirMailbox, root: Path
) -> None:
    box.select("INBOX")
    assert box.search_unprocessed(0) == []
    deliver(root, mail("late"))
    assert box.search_unprocessed(0) == [1]


# --- move, copy, append -------------------------------------------------------------------------


def test_move_renames_into_target_cur_with_new_uids(box: MaildirMailbox, root: Path) -> None:
    box.ensure_folders(["Urgent"])
    for n in range(3):
        deliver(root, mail(f"m{n}"))
    box.select("INBOX")
    box.add_keywords([3], ["$Complaint", "\\Flagged"])
    box.move([3, 1], "Urgent")
    assert box.search_unprocessed(0) == [2]
    assert len(os.listdir(root / ".Urgent" / "cur")) == 2
    assert os.listdir(root / ".Urgent" / "new") == []
    state = box.select("Urgent")
    assert (state.exists, state.uidnext) == (2, 3)
    assert subjects(box, [1, 2]) == {1: "m0", 2: "m2"}  # new UIDs in source-UID order
    assert box.fetch([2])[0].flags == {"$Complaint", "\\Flagged"}


def test_move_remaps_keyword_letters_per_folder(box: MaildirMailbox, root: Path) -> None:
    box.ensure_folders(["VIP"])
    (root / ".VIP" / "dovecot-keywords").write_text("0 $VIP\n")
    deliver(root, mail("a"))
    box.select("INBOX")
    box.add_keywords([1], ["$InboxbotSeen"])  # letter a here, but a means $VIP in VIP
    box.move([1], "VIP")
    box.select("VIP")
    assert box.fetch([1])[0].flags == {"$InboxbotSeen"}
    assert (root / ".VIP" / "dovecot-keywords").read_text() == "0 $VIP\n1 $InboxbotSeen\n"


def test_move_ignores_unknown_uids_and_missing_target_fails(
    box: MaildirMailbox, root: Path
) -> None:
    box.ensure_folders(["Done"])
    deliver(root, mail("a"))
    box.select("INBOX")
    box.move([42], "Done")
    assert messages_in(root / ".Done") == []
    with pytest.raises(MailboxError, match="does not exist"):
        box.move([1], "Missing")
    assert box.search_unprocessed(0) == [1]


def test_copy_keeps_the_source(box: MaildirMailbox, root: Path) -> None:
    box.ensure_folders(["Archive"])
    raw = mail("keep me")
    deliver(root, raw)
    box.select("INBOX")
    box.add_keywords([1], ["$Complaint"])
    box.copy([1], "Archive")
    assert box.fetch_full(1) == raw
    box.select("Archive")
    [copied] = box.fetch([1])
    assert copied.raw == raw
    assert copied.flags == {"$Complaint"}


def test_append_with_flags_and_date(box: MaildirMailbox, root: Path) -> None:
    box.ensure_folders(["Sent"])
    when = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    raw = mail("our reply")
    box.append("Sent", raw, ["\\Seen", "$AutoReplied"], when)
    box.append("Sent", mail("second"))
    [name] = os.listdir(root / ".Sent" / "cur")
    assert (root / ".Sent" / "cur" / name).stat().st_mtime == when.timestamp()
    assert len(os.listdir(root / ".Sent" / "new")) == 1  # no flags: a fresh delivery
    state = box.select("Sent")
    assert (state.exists, state.uidnext) == (2, 3)
    assert box.fetch([1])[0].raw == raw
    assert box.fetch([1])[0].flags == {"\\Seen", "$AutoReplied"}
    assert subjects(box, [2]) == {2: "second"}


def test_append_refuses_missing_folder_and_empty_message(box: MaildirMailbox) -> None:
    with pytest.raises(MailboxError, match="does not exist"):
        box.append("Sent", mail("x"))
    with pytest.raises(MailboxError, match="empty"):
        box.append("INBOX", b"")


def test_append_leaves_nothing_in_tmp(box: MaildirMailbox, root: Path) -> None:
    box.append("INBOX", mail("x"), ["\\Seen"])
    assert os.listdir(root / "tmp") == []


# --- wait ---------------------------------------------------------------------------------------


def test_wait_times_out_without_changes(box: MaildirMailbox, root: Path) -> None:
    deliver(root, mail("a"))
    box.select("INBOX")
    box.add_keywords([1], ["$InboxbotSeen"])  # our own changes are no news
    started = time.monotonic()
    assert box.wait(0.3) is False
    assert time.monotonic() - started >= 0.3


def test_wait_detects_a_delivery_while_waiting(box: MaildirMailbox, root: Path) -> None:
    box.select("INBOX")
    timer = threading.Timer(0.2, deliver, (root, mail("during wait")))
    timer.start()
    started = time.monotonic()
    try:
        assert box.wait(5.0) is True
    finally:
        timer.join()
    assert time.monotonic() - started < 2.0
    assert box.search_unprocessed(0) == [1]
    assert box.wait(0.2) is False  # reported once, not again and again


def test_wait_reports_a_delivery_made_before_it_was_called(box: MaildirMailbox, root: Path) -> None:
    box.select("INBOX")
    deliver(root, mail("between search and wait"))
    assert box.wait(0) is True


def test_wait_sees_a_delivery_that_left_the_directory_mtime_unchanged(
    box: MaildirMailbox, root: Path
) -> None:
    # On file systems with one-second timestamps a delivery in the same second as our last
    # look does not change new/'s mtime; simulate that by putting the old mtime back.
    box.select("INBOX")
    before = (root / "new").stat().st_mtime_ns
    deliver(root, mail("same tick"))
    os.utime(root / "new", ns=(before, before))
    assert box.wait(0) is True


def test_wait_detects_a_message_appended_by_another_process(root: Path) -> None:
    watcher = MaildirMailbox(root)
    watcher.select("INBOX")
    MaildirMailbox(root).append("INBOX", mail("appended"), ["\\Seen"])
    assert watcher.wait(1.0) is True


# --- sample mail --------------------------------------------------------------------------------


def demo_files() -> list[Path]:
    return sorted(DEMO_DIR.glob("*.eml"))


def test_there_are_enough_demo_files_in_every_language() -> None:
    names = [p.name for p in demo_files()]
    assert len(names) >= 14
    for lang in ("en", "de", "sv", "et"):
        assert sum(f"-{lang}-" in name for name in names) >= 2, lang
    readme = (DEMO_DIR / "README.txt").read_text()
    assert all(name in readme for name in names)


@pytest.mark.parametrize("path", demo_files(), ids=lambda p: p.name)
def test_demo_file_parses(path: Path) -> None:
    message = parse_message(path.read_bytes())
    assert message.subject
    assert message.sender is not None and message.sender.addr
    assert message.message_id
    assert message.date is not None and (message.date.year, message.date.month) == (2026, 11)


def test_demo_files_seed_a_maildir(box: MaildirMailbox, root: Path) -> None:
    for path in demo_files():
        box.append("INBOX", path.read_bytes())
    state = box.select("INBOX")
    assert state.exists == len(demo_files())
    fetched = box.fetch(box.search_unprocessed(0))
    assert [f.raw for f in fetched] == [p.read_bytes() for p in demo_files()]


def customer_manifest() -> dict[str, dict[str, object]]:
    files: dict[str, dict[str, object]] = tomllib.loads(
        (CUSTOMER_DIR / "manifest.toml").read_text("utf-8")
    )["files"]
    return files


def test_customer_manifest_lists_every_fixture() -> None:
    manifest = customer_manifest()
    assert sorted(manifest) == sorted(p.name for p in CUSTOMER_DIR.glob("*.eml"))
    assert len(manifest) >= 40
    for name, entry in manifest.items():
        assert entry["language"] in {"en", "de", "sv", "et"}, name
        for key in ("complaint", "urgent", "vip", "automated"):
            assert isinstance(entry[key], bool), (name, key)
        assert not entry["urgent"] or entry["complaint"], name


@pytest.mark.parametrize("name", sorted(customer_manifest()))
def test_customer_fixture_parses_and_matches_its_manifest(name: str) -> None:
    entry = customer_manifest()[name]
    message = parse_message((CUSTOMER_DIR / name).read_bytes())
    assert message.subject and message.text.strip()
    assert message.sender is not None
    assert (message.sender.domain == "bigcustomer.example") == entry["vip"]
    assert name.startswith(f"{entry['language']}-")


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_fixtures.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- interoperability with a real Dovecot (tests/dovecot.py) ------------------------------------


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    for directory, dirs, files in os.walk(top):
        for name in [*dirs, *files]:
            os.chown(Path(directory) / name, uid, gid)
    os.chown(top, uid, gid)


def test_dovecot_reads_a_maildir_written_here(dovecot: Dovecot) -> None:
    box = MaildirMailbox(dovecot.maildir)
    box.ensure_folders(["Support/VIP"])
    box.append("INBOX", mail("first"), ["\\Seen", "$Complaint"])
    box.append("INBOX", mail("second"))
    box.append("Support/VIP", mail("vip"), ["$VIP", "\\Flagged"])
    inbox = box.select("INBOX")
    box.add_keywords([2], ["$InboxbotSeen"])
    box.close()
    _chown_tree(dovecot.maildir, dovecot.server.uid, dovecot.server.gid)

    client = dovecot.client()
    assert "Support/VIP" in [name for _, _, name in client.list_folders()]
    assert client.select_folder("INBOX")[b"UIDVALIDITY"] == inbox.uidvalidity
    flags = {uid: set(f) for uid, f in client.get_flags([1, 2]).items()}
    assert flags == {1: {b"\\Seen", b"$Complaint"}, 2: {b"$InboxbotSeen"}}
    client.select_folder("Support/VIP")
    assert {uid: set(f) for uid, f in client.get_flags([1]).items()} == {1: {b"$VIP", b"\\Flagged"}}


def test_reads_a_maildir_written_by_dovecot(dovecot: Dovecot) -> None:
    dovecot.create_folder("Support/VIP")
    first = dovecot.append("INBOX", mail("first"), ["\\Seen", "$Complaint"])
    second = dovecot.append("INBOX", mail("second"))
    vip = dovecot.append("Support/VIP", mail("vip"), ["$VIP"])
    client = dovecot.client()
    validity = client.select_folder("INBOX")[b"UIDVALIDITY"]
    client.logout()

    box = MaildirMailbox(dovecot.maildir, create=False)
    assert box.list_folders() == ["INBOX", "Support/VIP"]
    state = box.select("INBOX")
    assert state.uidvalidity == validity
    assert subjects(box, [first, second]) == {first: "first", second: "second"}
    assert box.fetch([first])[0].flags == {"\\Seen", "$Complaint"}
    assert box.search_unprocessed(0) == [first, second]
    box.select("Support/VIP")
    assert box.fetch([vip])[0].flags == {"$VIP"}
