"""UID sets as IMAP writes them (core.uidsets)."""

from __future__ import annotations

from inboxbot.core.uidsets import sequence_set, sequence_set_of, uid_ranges


def test_sequence_set_writes_runs_as_ranges() -> None:
    assert sequence_set([7, 1, 3, 2, 9, 10, 3]) == "1:3,7,9:10"
    assert sequence_set([]) == ""


def test_ranges_and_their_text_agree() -> None:
    assert uid_ranges([5, 4, 12, 6]) == [(4, 6), (12, 12)]
    assert sequence_set_of([(4, 6), (12, 12)]) == "4:6,12"
