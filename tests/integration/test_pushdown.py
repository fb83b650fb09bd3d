"""Header rules run as server searches (inboxbot.pushdown) against the real Dovecot: the same
folders and keywords as the per-message path, the hits confirmed, bookkeeping mail left to the
per-message path, exactly once."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formataddr

import pytest

from inboxbot.daemon import serve
from inboxbot.pushdown import PUSHDOWN_MIN

SEEN = "$InboxbotSeen"
RULES = """
[[rule]]
name = "vip domain"
when.from = "*@vip.example"
then.move = "VIP"
then.tag = ["vip"]
stop = true

[[rule]]
name = "urgent subject"
when.subject = ["urgent", "asap"]
then.move = "Urgent"

[[rule]]
name = "invoices"
when.header = { name = "X-Topic", contains = "invoice" }
then.flag = true
"""


def _mail(index: int, sender: str, subject: str, name: str = "", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = formataddr((name, sender)) if name else sender
    message["To"] = "support@shop.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<push.{index}@test.example>"
    for key, value in headers.items():
        message[key.replace("_", "-")] = value
    message.set_content(f"Mail number {index}.\n")
    return bytes(message)


def _backlog() -> tuple[list[bytes], dict[str, str], set[str]]:
    """Mails, Message-ID -> expected folder, Message-IDs expected \\Flagged."""
    mails: list[bytes] = []
    folder: dict[str, str] = {}
    flagged: set[str] = set()

    def add(raw: bytes, where: str, flag: bool = False) -> None:
        mid = f"<push.{len(mails)}@test.example>"
        mails.append(raw)
        folder[mid] = where
        if flag:
            flagged.add(mid)

    for i in range(PUSHDOWN_MIN + 30):
        n = len(mails)
        if i % 5 == 0:
            add(_mail(n, f"c{i}@vip.example", "urgent: vip wins (stop)"), "VIP")
        elif i % 5 == 1:
            add(_mail(n, f"c{i}@mail.example", "Need this ASAP"), "Urgent")
        elif i % 5 == 2:
            add(_mail(n, f"c{i}@mail.example", "Question", X_Topic="Invoice 12"), "INBOX", True)
        else:
            add(_mail(n, f"c{i}@mail.example", "Hello"), "INBOX")
    # Decoys the server's superset finds and the confirmation must throw out.
    add(_mail(len(mails), "fan@other.example", "Hi", name="vip.example fan"), "INBOX")
    add(_mail(len(mails), "x@vip.example.org", "Hi"), "INBOX")  # FROM finds it, the glob not
    add(_mail(len(mails), "y@mail.example", "Hi", X_Other="urgent"), "INBOX")
    # What the server decodes (an encoded word) is matched like the predicate does.
    add(_mail(len(mails), "z@mail.example", "=?utf-8?q?Dringend_/_URGENT_=C3=84rger?="),
        "Urgent")
    # Staff mail takes the per-message path (it may be a command); its rules still apply.
    add(_mail(len(mails), "anna@shop.example", "urgent: staff note"), "Urgent")
    return mails, folder, flagged


def _where(shop) -> dict[str, tuple[str, set[str]]]:
    found = {}
    for name in ("INBOX", "VIP", "Urgent", "Quarantine"):
        for item in shop.folder(name).values():
            mid = item["header"].split("Message-ID:")[-1].split()[0] if "Message-ID" in (
                item["header"]) else "(none)"
            found[mid] = (name, item["flags"])
    return found


@pytest.fixture
def header_shop(shop):
    for path in (shop.directory / "rules").glob("*.toml"):
        path.unlink()
    (shop.directory / "rules" / "10-header.toml").write_text(RULES)
    return shop


@pytest.mark.parametrize("server_search", [True, False])
def test_header_rules_file_the_same_with_and_without_server_search(
    header_shop, caplog, server_search: bool
) -> None:
    mails, expected, flagged = _backlog()
    garbage = b"\x01\x02 this is not a mail\r\n\r\n\xff\xfe"
    header_shop.dovecot.append_many("INBOX", [*mails, garbage])
    config = header_shop.config_path.read_text().replace(
        'timeout = 10', f'timeout = 10\nserver_search = {str(server_search).lower()}')
    header_shop.config_path.write_text(config)

    with caplog.at_level(logging.INFO, logger="inboxbot"):
        serve(header_shop.config(), once=True)

    pushed = [r.getMessage() for r in caplog.records if "server search" in r.getMessage()]
    assert bool(pushed) == server_search, pushed
    found = _where(header_shop)
    for mid, folder in expected.items():
        assert found[mid][0] == folder, (mid, found[mid], folder)
        assert SEEN in found[mid][1], mid
        assert ("\\Flagged" in found[mid][1]) == (mid in flagged), (mid, found[mid])
        assert ("$VIP" in found[mid][1]) == (folder == "VIP"), (mid, found[mid])
    assert found["(none)"][0] == "Quarantine", "unreadable mail is still quarantined"
    # One log line per action, naming the mail by its Message-ID on either path.
    moves = [r for r in caplog.records if getattr(r, "action", None) == "move"
             and "Quarantine" not in r.getMessage()]
    assert sorted(r.message_id for r in moves) == sorted(
        mid for mid, folder in expected.items() if folder != "INBOX")


def test_a_second_run_and_new_mail_are_processed_exactly_once(header_shop) -> None:
    mails, expected, _ = _backlog()
    header_shop.dovecot.append_many("INBOX", mails)
    serve(header_shop.config(), once=True)
    header_shop.dovecot.append_many("INBOX", [_mail(900 + i, f"n{i}@vip.example", "new")
                                              for i in range(PUSHDOWN_MIN)])
    serve(header_shop.config(), once=True)
    serve(header_shop.config(), once=True)

    vip = header_shop.folder("VIP")
    ids = [item["header"].split("Message-ID:")[-1].split()[0] for item in vip.values()]
    assert len(ids) == len(set(ids)), "nothing moved twice"
    assert len(ids) == sum(1 for f in expected.values() if f == "VIP") + PUSHDOWN_MIN
    assert all(SEEN in item["flags"] for item in vip.values())
    assert all(SEEN in item["flags"] for item in header_shop.folder("INBOX").values())


def test_a_customer_with_an_open_reminder_takes_the_per_message_path(header_shop) -> None:
    from inboxbot.adapters.store import StateStore
    from inboxbot.app import build_engine, open_imap, utc_now
    from inboxbot.core.reminders import Reminder
    from inboxbot.pushdown import server_plans

    config = header_shop.config()
    mails, _, _ = _backlog()
    header_shop.dovecot.append_many("INBOX", mails)
    with StateStore(config.paths.state) as store:
        store.add_reminder(Reminder(kind="checkin", to="customer", due=utc_now(),
                                    created=utc_now(), message_id="<old@x>",
                                    customer="C1@mail.example").to_record())
        box = open_imap(config)
        try:
            box.select("INBOX")
            uids = box.search(["ALL"])
            plans = server_plans(build_engine(config, lazy=True), box, store, uids, utc_now(),
                                 dry_run=False).plans
        finally:
            box.close()
    assert plans, "pushed down"
    left = set(uids) - set(plans)
    assert left == {uids[1], uids[-1]}, "c1@mail.example and the staff mail go per message"


def test_a_refused_search_falls_back_to_the_per_message_path(
    header_shop, caplog, monkeypatch
) -> None:
    from inboxbot.adapters.imap import ImapMailbox
    from inboxbot.errors import MailboxError

    real_search = ImapMailbox.search

    def refusing(self, criteria):  # the server says BAD to the rules' searches only
        if "SUBJECT" in str(criteria):
            raise MailboxError("IMAP search failed: BAD Unknown argument")
        return real_search(self, criteria)

    monkeypatch.setattr(ImapMailbox, "search", refusing)
    mails, expected, _ = _backlog()
    header_shop.dovecot.append_many("INBOX", mails)
    with caplog.at_level(logging.INFO, logger="inboxbot"):
        serve(header_shop.config(), once=True)

    assert any("planning message by message" in r.getMessage() for r in caplog.records)
    found = _where(header_shop)
    assert all(found[mid][0] == folder for mid, folder in expected.items())


def _recording_searches(monkeypatch: pytest.MonkeyPatch) -> list[list[object]]:
    from inboxbot.adapters.imap import ImapMailbox

    sent: list[list[object]] = []
    real_search = ImapMailbox.search

    def recording(self, criteria):
        sent.append(list(criteria))
        return real_search(self, criteria)

    monkeypatch.setattr(ImapMailbox, "search", recording)
    return sent


def test_one_pass_finds_the_candidates_and_their_fields_decide(header_shop, monkeypatch) -> None:
    # The server reads each message's headers once for every field the rules need; the
    # candidates' fields are fetched to confirm them anyway, so they also say which rule
    # matched and which mail is the staff's: no search per rule after the pass.
    from inboxbot.adapters.imap import ImapMailbox

    sent = _recording_searches(monkeypatch)
    marked_early: list[int] = []
    marked_later: list[int] = []
    real_mark, real_add = ImapMailbox.fetch_fields_marking, ImapMailbox.add_keywords

    def fetch_fields_marking(self, uids, fields, marking, keyword, judge):
        marked_early.extend(marking)
        return real_mark(self, uids, fields, marking, keyword, judge)

    def add_keywords(self, uids, keywords):
        if SEEN in keywords:
            marked_later.extend(uids)
        return real_add(self, uids, keywords)

    monkeypatch.setattr(ImapMailbox, "fetch_fields_marking", fetch_fields_marking)
    monkeypatch.setattr(ImapMailbox, "add_keywords", add_keywords)
    mails, expected, flagged = _backlog()
    uids = header_shop.dovecot.append_many("INBOX", mails)
    serve(header_shop.config(), once=True)

    ruled = [c for c in sent if "FROM" in str(c) or "SUBJECT" in str(c) or "X-Topic" in str(c)]
    assert len(ruled) == 1, ruled
    # What no key matched ("Hello" mail, some decoys) was marked while the candidates were
    # judged, and only then; every message was marked exactly once.
    hello = {uid for uid, raw in zip(uids, mails, strict=True) if b"\nSubject: Hello\n" in raw}
    untouched = {uid for i, uid in enumerate(uids)
                 if expected[f"<push.{i}@test.example>"] == "INBOX"
                 and f"<push.{i}@test.example>" not in flagged}
    assert hello <= set(marked_early) <= untouched, marked_early
    assert sorted(marked_early + marked_later) == sorted(uids)
    assert all(word in str(ruled[0]) for word in ("@vip.example", "urgent", "asap", "X-Topic",
                                                  "@shop.example")), ruled[0]
    found = _where(header_shop)
    for mid, folder in expected.items():
        assert found[mid][0] == folder, (mid, found[mid], folder)
        assert ("\\Flagged" in found[mid][1]) == (mid in flagged), (mid, found[mid])


def test_a_rule_that_narrows_nothing_is_searched_rule_by_rule(header_shop, monkeypatch) -> None:
    # `not` has no superset the server could search for: every message is a candidate, so
    # each rule gets its own search and only the inexact ones' hits are confirmed.
    sent = _recording_searches(monkeypatch)
    extra = """
[[rule]]
name = "not hello"
when.not = { subject = "Hello" }
then.tag = ["not-hello"]
"""
    (header_shop.directory / "rules" / "10-header.toml").write_text(RULES + extra)
    mails, expected, _ = _backlog()
    header_shop.dovecot.append_many("INBOX", mails)
    serve(header_shop.config(), once=True)

    ruled = [c for c in sent if "FROM" in str(c) or "SUBJECT" in str(c) or "X-Topic" in str(c)]
    assert len(ruled) == 4, ruled  # bookkeeping, then one per rule that narrows
    found = _where(header_shop)
    for mid, folder in expected.items():
        assert found[mid][0] == folder, (mid, found[mid], folder)
        if folder == "VIP":
            continue  # stop = true: no later rule
        subject_hello = b"Subject: Hello" in mails[int(mid.split(".")[1].split("@")[0])]
        assert ("$Not-hello" in found[mid][1]) != subject_hello, (mid, found[mid])


def test_the_candidate_search_is_split_over_two_connections(header_shop, monkeypatch) -> None:
    import inboxbot.pushdown as pushdown
    from inboxbot.adapters.imap import ImapMailbox

    monkeypatch.setattr(pushdown, "SPLIT_MIN", 10)
    splits: list[tuple[int, int]] = []
    real_split = ImapMailbox.search_split

    def recording(self, first, last, criteria):
        splits.append((first, last))
        return real_split(self, first, last, criteria)

    monkeypatch.setattr(ImapMailbox, "search_split", recording)
    mails, expected, flagged = _backlog()
    header_shop.dovecot.append_many("INBOX", mails)
    serve(header_shop.config(), once=True)

    assert splits == [(1, len(mails))]
    found = _where(header_shop)
    for mid, folder in expected.items():
        assert found[mid][0] == folder, (mid, found[mid], folder)
        assert ("\\Flagged" in found[mid][1]) == (mid in flagged), (mid, found[mid])
