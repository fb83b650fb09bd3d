"""Round trips per batch against a real Dovecot: keywords are set with one STORE per keyword
for the whole batch and messages leave with one UID MOVE per destination folder (issue 2),
whatever the number of messages. The adapter's calls are counted; the server is real."""

from __future__ import annotations

from collections import Counter

import pytest

from inboxbot import service
from inboxbot.adapters import imap
from inboxbot.adapters.store import StateStore
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


@pytest.mark.parametrize(("apply_size", "applies"), [(120, 1), (80, 2)])
def test_a_backlogs_batches_are_stored_and_moved_together(
    shop, monkeypatch: pytest.MonkeyPatch, apply_size: int, applies: int
) -> None:
    """Planned 40 at a time, stored every `apply_size` messages and at the end of the pass:
    three batches cost one round of STOREs and MOVEs (or two), not three."""
    expected = mixed_backlog(120)
    shop.dovecot.append_many("INBOX", [e.raw for e in expected])
    monkeypatch.setattr(service, "BATCH_SIZE", 40)
    monkeypatch.setattr(service, "APPLY_SIZE", apply_size, raising=False)
    moves: Counter[str] = Counter()
    move = imap.ImapMailbox.move

    def counting_move(self, uids, folder):  # type: ignore[no-untyped-def]
        moves[folder] += 1
        return move(self, uids, folder)

    monkeypatch.setattr(imap.ImapMailbox, "move", counting_move)

    serve(shop.config(), once=True)

    folders = {e.folder for e in expected} - {"INBOX"}
    assert folders
    assert dict(moves) == dict.fromkeys(folders, applies), f"MOVEs per folder: {moves}"
    for folder in folders:
        assert len(shop.folder(folder)) == sum(e.folder == folder for e in expected)
    inbox = shop.folder("INBOX")
    assert len(inbox) == sum(e.folder == "INBOX" for e in expected)
    assert all(service.SEEN in m["flags"] for m in inbox.values()), "every message marked done"
    with StateStore(shop.directory / "state.json") as store:
        assert store.watermark("INBOX")[1] == len(expected)  # past the last batch
        assert store.in_flight("INBOX", store.watermark("INBOX")[0]) == []
