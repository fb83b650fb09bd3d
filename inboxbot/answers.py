"""Staff answers: a reply in the Sent folder whose In-Reply-To/References names a logged
complaint marks it answered, and so does the \\Answered flag staff's mail client sets on the
complaint itself; `stats` turns these into first-response times."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from inboxbot.core.message import parse_message
from inboxbot.ports import Mailbox

log = logging.getLogger("inboxbot")

SEEN = "$InboxbotSeen"  # as service.SEEN; not imported: service imports reminders, which imports us


def sync_answers(mailbox: Mailbox, store: Any, sent_folder: str, now: datetime) -> int:
    """Scan Sent mail not seen before; returns how many complaints became answered."""
    state = mailbox.select(sent_folder)
    mark = store.watermark(sent_folder)
    after = mark[1] if mark and mark[0] == state.uidvalidity else 0
    uids = _unprocessed(mailbox, after)
    if not uids:
        return 0
    answered = 0
    for fetched in mailbox.fetch(uids, headers_only=True):
        reply = parse_message(fetched.raw, headers_only=True)
        if reply.header("auto-submitted") not in (None, "no"):
            continue  # our own acknowledgements are not answers
        for message_id in dict.fromkeys((reply.in_reply_to, *reply.references)):
            complaint = store.complaint(message_id) if message_id else None
            if complaint is not None and not complaint.get("answered_at"):
                # the first answer counts
                store.update_complaint(message_id, answered_at=_answer_time(
                    reply.date, complaint["at"], now))
                answered += 1
    store.set_watermark(sent_folder, state.uidvalidity, max(uids))
    store.flush()
    if answered:
        log.info("%d complaint(s) answered by staff replies in %s", answered, sent_folder)
    return answered


def _answer_time(dated: datetime | None, asked: datetime, now: datetime) -> datetime:
    """When a staff reply answered a complaint asked at `asked`: its Date, or `now` when it
    has none or one without a zone ("-0000" parses naive, which the state cannot hold); never
    before the complaint nor after now, whatever the staff's clock said."""
    when = dated if dated is not None and dated.utcoffset() is not None else now
    return min(max(when, asked), now)


def _unprocessed(mailbox: Any, after: int) -> list[int]:
    """UIDs above `after` without our $InboxbotSeen (our own replies' copies carry it). The
    reminders' mailbox (reminders.TwoConnections, Sent on its second connection) has SEARCH
    but not the adapters' search_unprocessed."""
    finder = getattr(mailbox, "search_unprocessed", None)
    if finder is not None:
        found = finder(after)
    else:
        found = mailbox.search(["UID", f"{after + 1}:*", "NOT", "KEYWORD", SEEN])
    return sorted(uid for uid in found if uid > after)  # "n:*" includes the highest UID


# A complaint still unanswered after this long is no longer looked for by its \\Answered flag.
ANSWERED_LOOKBACK = timedelta(days=30)


def sync_answered_flags(
    mailbox: Any, store: Any, folders: Iterable[str], now: datetime, checked: set[str]
) -> int:
    """Logged complaints that carry \\Answered in one of `folders` become answered.

    The flag says nothing about when: the pass that first sees it gives the time (while the
    service runs, the next pass after the answer). Costs nothing while every recent complaint
    is answered; otherwise one SEARCH per folder, and each answered message's Message-ID is
    fetched once per process (`checked` remembers them). Returns how many became answered."""
    # Message-ID -> time of each: a backlog logs tens of thousands, too many to hold as dicts.
    unanswered = {
        str(c["message_id"]): c["at"]
        for c in store.iter_complaints(since=now - ANSWERED_LOOKBACK)
        if c.get("message_id") and not c.get("answered_at")
    }
    if not unanswered:
        return 0
    open_ids = set(unanswered)
    since = (min(unanswered.values()) - timedelta(days=1)).date()  # INTERNALDATE
    answered = 0
    for folder in folders:
        state = mailbox.select(folder)
        uids = [
            uid
            for uid in mailbox.search(["ANSWERED", "SINCE", since])
            if f"{folder}:{state.uidvalidity}:{uid}" not in checked
        ]
        # Only the Message-ID of each: after a restart every \Answered mail of the last month
        # is looked at again, and its whole header is 1-4 KB against ~60 bytes.
        for uid, raw in mailbox.fetch_fields(uids, ["Message-ID"]).items():
            checked.add(f"{folder}:{state.uidvalidity}:{uid}")
            message_id = parse_message(raw, headers_only=True).message_id
            if message_id in open_ids and store.update_complaint(message_id, answered_at=now):
                open_ids.discard(message_id)
                answered += 1
    if answered:
        store.flush()
        log.info("%d complaint(s) answered (\\Answered set by staff)", answered)
    return answered
