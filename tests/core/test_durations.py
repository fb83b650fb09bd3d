"""parse_duration / format_duration: the config's "8h", "1d12h" and friends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8h", timedelta(hours=8)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("48h", timedelta(hours=48)),
        ("30s", timedelta(seconds=30)),
        ("1w", timedelta(weeks=1)),
        ("0h", timedelta(0)),
        ("1D12H", timedelta(days=1, hours=12)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("  2 h 30 m  ", timedelta(hours=2, minutes=30)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("30m1h", timedelta(hours=1, minutes=30)),  # order is not enforced, repeats are
    ],
)
def test_parse_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "8", "h", "8x", "1.5h", "-1h", "8 hours", "1h1h", "1d 2d", "1 y", "8h!", "١h"],
)
def test_parse_rejects_with_a_message_saying_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r'"1d12h"') as info:
        parse_duration(text)
    assert "w (weeks)" in str(info.value)


def test_parse_rejects_absurdly_long() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("999999999999w")


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(days=1, hours=12), "1d12h"),
        (timedelta(hours=8), "8h"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(weeks=2), "14d"),
        (timedelta(0), "0s"),
        (timedelta(seconds=61), "1m1s"),
        (timedelta(hours=1, microseconds=999_999), "1h"),  # sub-second dropped
    ],
)
def test_format(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


def test_format_rejects_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_is_identity_for_whole_seconds(seconds: int) -> None:
    td = timedelta(seconds=seconds)
    assert parse_duration(format_duration(td)) == td


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from("wdhms"), st.integers(min_value=0, max_value=10_000), min_size=1
    ),
    st.booleans(),
    st.booleans(),
)
def test_parse_sums_the_parts(parts: dict[str, int], upper: bool, spaced: bool) -> None:
    text = (" " if spaced else "").join(f"{n}{u}" for u, n in parts.items())
    seconds = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
    expected = timedelta(seconds=sum(n * seconds[u] for u, n in parts.items()))
    assert parse_duration(text.upper() if upper else text) == expected
