"""Round trips per batch against a real Dovecot: keywords are set with one STORE per keyword
for the whole batch and messages leave with one UID MOVE per destination folder (issue 2),
whatever the number of messages. The adapter's calls are counted; the server is real."""

from __future__ import annotations

from collections import Counter

import pytest

from inboxbot import service
from inboxbot.adapters import imap
from inboxbot.daemon import serve
from tests.mailgen import mixed_backlog

# Set right after each reply is sent, one message at a time, by design (DESIGN.md section 4:
# send -> mark $AutoReplied -> move); every other keyword is grouped.
PER_REPLY = {"$AutoReplied", "$Redirected"}


def test_one_store_per_keyword_and_one_move_per_folder_for_a_batch(
    shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = mixed_backlog(120)
    shop.dovecot.append_many("INBOX", [e.raw for e in expected])
    stores: Counter[str] = Counter()
    moves: Counter[str] = Counter()
    add_keywords, move = imap.ImapMailbox.add_keywords, imap.ImapMailbox.move

    def counting_add_keywords(self, uids, keywords):  # type: ignore[no-untyped-def]
        if self._selected == "INBOX":  # reminders and Sent copies are not the batch
            for keyword in keywords:
                stores[keyword] += 1
        return add_keywords(self, uids, keywords)

    def counting_move(self, uids, folder):  # type: ignore[no-untyped-def]
        moves[folder] += 1
        return move(self, uids, folder)

    monkeypatch.setattr(imap.ImapMailbox, "add_keywords", counting_add_keywords)
    monkeypatch.setattr(imap.ImapMailbox, "move", counting_move)

    serve(shop.config(), once=True)

    batches = -(-len(expected) // service.BATCH_SIZE)  # 1 at the usual batch size
    folders = {e.folder for e in expected} - {"INBOX"}
    # $InboxbotSeen may go with each move group (stored right before its MOVE, for crash
    # safety): at most once per destination and once for the mail that stays, never per mail.
    assert 1 <= stores.pop("$InboxbotSeen") <= batches * (len(folders) + 1)
    grouped = {k: n for k, n in stores.items() if k not in PER_REPLY}
    wanted = {k for e in expected for k in e.keywords} - PER_REPLY
    assert wanted and wanted <= set(grouped), (wanted, grouped)
    assert grouped == dict.fromkeys(grouped, batches), f"one STORE per keyword: {grouped}"
    assert folders
    assert dict(moves) == dict.fromkeys(folders, batches), f"one MOVE per folder: {moves}"
    assert sum(len(shop.folder(f)) for f in folders) == sum(e.folder != "INBOX" for e in expected)
