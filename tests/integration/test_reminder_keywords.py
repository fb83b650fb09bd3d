"""The keyword triggers of reminders against a real Dovecot and aiosmtpd, with an injected
clock: staff set `$FollowUp` on a customer's mail (a staff follow-up after `check_in_after`),
or `$Resolved` instead of moving it to the resolved folder (a customer check-in)."""

from __future__ import annotations

import time
from datetime import timedelta

from inboxbot.adapters.store import StateStore
from tests.integration.test_reminders import (
    FRIDAY_16,
    GERMAN,
    MONDAY_10,
    OWNER,
    REMINDERS,
    _parse,
    _run,
    _to,
    checks_in_on_tuesday_once,
    on_message,
)
from tests.mailgen import customer_mail


def _set_keyword(shop, folder: str, msgid: str, keyword: str) -> None:
    on_message(shop, folder, msgid, lambda client, uids: client.add_flags(uids, [keyword.encode()]))


def _reminders(shop) -> list[dict]:
    with StateStore(shop.directory / "state.json") as store:
        return list(store.reminders())


def test_followup_keyword_schedules_one_staff_follow_up(shop) -> None:
    shop.write(extra=REMINDERS)
    shop.dovecot.append("INBOX", customer_mail(
        "ines@customer.example", "Gift wrapping",
        "Hello, could you wrap the scarf as a gift? It is for my sister.",
        msgid="<wrap@customer.example>"))
    _run(shop, MONDAY_10)
    assert len(shop.sink.wait_for(1)) == 1  # the acknowledgement
    _set_keyword(shop, "INBOX", "<wrap@customer.example>", "$FollowUp")

    _run(shop, MONDAY_10 + timedelta(hours=1))
    _run(shop, MONDAY_10 + timedelta(hours=2))  # seen again: still one reminder

    [reminder] = [r for r in _reminders(shop) if r["origin"] == "keyword"]
    assert (reminder["kind"], reminder["to"]) == ("custom", "staff")
    assert reminder["message_id"] == "<wrap@customer.example>"
    assert reminder["due"] == MONDAY_10 + timedelta(days=2, hours=1)  # 48 h: Wednesday 11:00

    _run(shop, MONDAY_10 + timedelta(days=2))  # Wednesday 10:00: not yet
    assert _to(shop, OWNER) == []
    _run(shop, MONDAY_10 + timedelta(days=2, hours=1, minutes=1))
    _run(shop, MONDAY_10 + timedelta(days=3))
    time.sleep(0.3)
    [mail] = _to(shop, OWNER)
    message, body = _parse(mail.raw)
    assert "Gift wrapping" in message["Subject"]
    assert "> Hello, could you wrap the scarf" in body


def test_resolved_keyword_schedules_one_check_in_in_the_customers_language(shop) -> None:
    shop.write(extra=REMINDERS)
    shop.dovecot.append("INBOX", customer_mail(
        "kunde@kunde.example", "Teekanne gesprungen", GERMAN, msgid="<pot2@k.example>"))
    _run(shop, FRIDAY_16 - timedelta(hours=4))
    assert len(shop.sink.wait_for(1)) == 1
    folder = next(f for f in ("INBOX", "Urgent")
                  if any("<pot2@k.example>" in i["header"] for i in shop.folder(f).values()))
    _set_keyword(shop, folder, "<pot2@k.example>", "$Resolved")  # resolved where it lies

    _run(shop, FRIDAY_16)
    [checkin] = [r for r in _reminders(shop) if r["kind"] == "checkin"]
    assert checkin["due"] == FRIDAY_16 + timedelta(days=4)  # Tuesday 16:00, not Sunday

    checks_in_on_tuesday_once(shop, "<pot2@k.example>")


def test_overdue_folder_moves_an_unanswered_complaint_when_its_reminder_fires(shop) -> None:
    """[reminders].overdue_folder = "urgent": the complaint that stayed in the queue unanswered
    goes to the urgent folder when staff are reminded (issue 6, "optionally moved")."""
    shop.write(extra=REMINDERS + 'overdue_folder = "urgent"\n')
    shop.dovecot.append("INBOX", customer_mail(
        "sad@customer.example", "Damaged parcel",
        "Hello, my order arrived damaged: the mug is broken. Could you send a replacement?",
        msgid="<mug2@customer.example>"))
    _run(shop, MONDAY_10)  # a complaint, not urgent: stays in INBOX; promise 8 h -> Tue 10:00
    assert any("<mug2@customer.example>" in i["header"] for i in shop.folder("INBOX").values())

    _run(shop, MONDAY_10 + timedelta(hours=23))  # Tuesday 09:00: not yet due
    assert any("<mug2@customer.example>" in i["header"] for i in shop.folder("INBOX").values())
    _run(shop, MONDAY_10 + timedelta(days=1, minutes=1))

    time.sleep(0.3)
    assert len(_to(shop, OWNER)) == 1
    assert not any("<mug2@customer.example>" in i["header"]
                   for i in shop.folder("INBOX").values())
    [flags] = [i["flags"] for i in shop.folder("Urgent").values()
               if "<mug2@customer.example>" in i["header"]]
    assert {"$Overdue", "\\Flagged", "$Complaint"} <= flags


def test_both_keywords_found_with_one_search_per_folder_in_any_case(shop, monkeypatch) -> None:
    # A client may write the keyword in another case; IMAP keywords are case-insensitive. One
    # OR search per folder finds both kinds; the fetched flags tell them apart.
    from inboxbot.adapters.imap import ImapMailbox

    shop.write(extra=REMINDERS)
    for n, subject in enumerate(("Gift wrapping", "Teapot")):
        shop.dovecot.append("INBOX", customer_mail(
            f"c{n}@customer.example", subject, "Hello, a question about my order, please.",
            msgid=f"<both{n}@customer.example>"))
    _run(shop, MONDAY_10)
    _set_keyword(shop, "INBOX", "<both0@customer.example>", "$followup")
    _set_keyword(shop, "INBOX", "<both1@customer.example>", "$RESOLVED")
    searches: list[str] = []
    real_search = ImapMailbox.search
    monkeypatch.setattr(ImapMailbox, "search",
                        lambda self, c: searches.append(str(c)) or real_search(self, c))

    _run(shop, MONDAY_10 + timedelta(hours=1))

    kinds = {(r["message_id"], r["kind"]) for r in _reminders(shop) if r["origin"] == "keyword"}
    assert kinds == {
        ("<both0@customer.example>", "custom"), ("<both1@customer.example>", "checkin")}
    # The Sent scan for staff answers (NOT KEYWORD $InboxbotSeen) is no keyword reminder search.
    keyword_searches = [s for s in searches if "KEYWORD" in s and "$InboxbotSeen" not in s]
    assert keyword_searches and all("$Resolved" in s and "$FollowUp" in s for s in keyword_searches)


def test_a_quiet_round_selects_the_watched_folder_once(shop, monkeypatch) -> None:
    # The pass selects it and IDLE goes on from there; the reminders select the other folders
    # on a second connection. Each SELECT of a large folder costs the server an index load
    # (~0.25 s at 100,000 messages): on one connection the round selected it again for IDLE
    # (`assert 2 == 1`), before the keyword scan ended on it, a third time.
    from inboxbot.adapters.imap import ImapMailbox

    shop.write(extra=REMINDERS)
    shop.dovecot.append("INBOX", customer_mail(
        "q@customer.example", "Question", "Hello, do you ship to Norway?", msgid="<q@c.example>"))
    _run(shop, MONDAY_10)
    selected: list[tuple[int, str]] = []  # (connection, folder)
    real_select = ImapMailbox.select
    monkeypatch.setattr(ImapMailbox, "select", lambda self, folder: selected.append(
        (id(self), folder)) or real_select(self, folder))

    _run(shop, MONDAY_10 + timedelta(hours=1))

    watched = [connection for connection, folder in selected if folder == "INBOX"]
    assert len(watched) == 1, selected
    # The daemon's connection ends on the watched folder, where IDLE waits.
    assert [f for c, f in selected if c == watched[0]][-1] == "INBOX", selected
    assert {f for c, f in selected if c != watched[0]} >= {"Resolved", "Urgent"}, selected
