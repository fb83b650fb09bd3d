"""Staff answers: a reply in the Sent folder whose In-Reply-To/References names a logged
complaint marks it answered, which `stats` turns into first-response times."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from inboxbot.core.message import parse_message
from inboxbot.ports import Mailbox

log = logging.getLogger("inboxbot")


def sync_answers(mailbox: Mailbox, store: Any, sent_folder: str, now: datetime) -> int:
    """Scan Sent mail not seen before; returns how many complaints became answered."""
    state = mailbox.select(sent_folder)
    mark = store.watermark(sent_folder)
    after = mark[1] if mark and mark[0] == state.uidvalidity else 0
    uids = [uid for uid in mailbox.search_unprocessed(after) if uid > after]
    if not uids:
        return 0
    answered = 0
    for fetched in mailbox.fetch(uids, headers_only=True):
        reply = parse_message(fetched.raw, headers_only=True)
        if reply.header("auto-submitted") not in (None, "no"):
            continue  # our own acknowledgements are not answers
        when = reply.date or now
        for message_id in dict.fromkeys((reply.in_reply_to, *reply.references)):
            complaint = store.complaint(message_id) if message_id else None
            if complaint is not None and not complaint.get("answered_at"):
                store.update_complaint(message_id, answered_at=when)  # the first answer counts
                answered += 1
    store.set_watermark(sent_folder, state.uidvalidity, max(uids))
    store.flush()
    if answered:
        log.info("%d complaint(s) answered by staff replies in %s", answered, sent_folder)
    return answered
