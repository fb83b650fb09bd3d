"""UID sets for STORE/COPY/MOVE: runs become ranges; a range covers no UID not asked for."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from inboxbot.adapters import imap
from inboxbot.adapters.imap import _uid_sets


def test_runs_become_ranges() -> None:
    assert list(_uid_sets([5, 1, 2, 3, 7, 8, 3])) == [([1, 2, 3, 5, 7, 8], "1:3,5,7:8")]


def test_a_backlog_is_one_command() -> None:
    assert [text for _, text in _uid_sets(range(1, 10001))] == ["1:10000"]


def test_many_gaps_are_split_into_short_commands(monkeypatch) -> None:
    monkeypatch.setattr(imap, "SET_CHARS", 6)
    assert [text for _, text in _uid_sets([1, 3, 5, 6, 9])] == ["1,3", "5:6,9"]


def test_scattered_uids_fill_a_command_line_of_about_7_kb() -> None:
    sets = [text for _, text in _uid_sets(range(10_001, 30_001, 2))]  # 10,000 lone UIDs
    assert all(len(text) <= imap.SET_CHARS for text in sets)
    assert len(sets) == 9  # 6 characters each: ~1,160 per command (it was 300 ranges)


@given(st.lists(st.integers(min_value=1, max_value=3000), max_size=400))
def test_exactly_the_uids_asked_for(uids: list[int]) -> None:
    covered: list[int] = []
    for members, text in _uid_sets(uids):
        expanded = []
        for part in text.split(","):
            first, _, last = part.partition(":")
            expanded += range(int(first), int(last or first) + 1)
        assert expanded == members
        covered += members
    assert covered == sorted(set(uids))
