"""UID sets as IMAP writes them (RFC 3501 sequence-set): runs of consecutive UIDs as ranges."""

from __future__ import annotations

from collections.abc import Iterable


def uid_ranges(uids: Iterable[int]) -> list[tuple[int, int]]:
    """Runs of consecutive UIDs, ascending: {1, 2, 3, 7} -> [(1, 3), (7, 7)]."""
    ranges: list[list[int]] = []
    for uid in sorted(set(uids)):
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return [(first, last) for first, last in ranges]


def sequence_set_of(ranges: Iterable[tuple[int, int]]) -> str:
    return ",".join(f"{first}:{last}" if first != last else str(first) for first, last in ranges)


def sequence_set(uids: Iterable[int]) -> str:
    """UIDs as an IMAP sequence set, consecutive ones as ranges: {1, 2, 3, 7} -> "1:3,7"."""
    return sequence_set_of(uid_ranges(uids))
