"""Required literals of a regex: the cheap `in` test that lets the classifier skip a scan."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.literals import max_width, may_match, required_literals


@pytest.mark.parametrize(
    ("pattern", "required"),
    [
        (r"within \d{1,4} days", ({"within "}, {" days"})),
        (r"(?:statt|anstatt|anstelle)\b", ({"statt", "anstatt", "anstelle"},)),
        (r"\bkam(?:en)?\b x", ({"kam"}, {" x"})),
        (r"(?:^|\n)\s{0,20}kiire\b", ({"kiire"},)),
        (r"ab|cd", ({"ab", "cd"},)),
    ],
)
def test_required_literals(pattern: str, required: tuple[set[str], ...]) -> None:
    assert required_literals(pattern) == tuple(frozenset(r) for r in required)


@pytest.mark.parametrize("pattern", [r"\d+", r"x*", r"(?i)refund", r"a(?i:b)c", r"(", r"a|\d"])
def test_nothing_known_means_always_search(pattern: str) -> None:
    assert required_literals(pattern) is None


def test_may_match_needs_one_string_of_every_set() -> None:
    needs = required_literals(r"within \d{1,4} days")
    assert needs is not None
    assert may_match(needs, "refund within 14 days please")
    assert not may_match(needs, "refund within a week, 14 days max"[:20])
    assert not may_match(needs, "14 days")


@pytest.mark.parametrize(
    ("pattern", "width"),
    [(r"within \d{1,4} days", 16), (r"ab", 2), (r"\d+ days", None), (r"a(?=b)", None),
     (r"a(?:b|(?!c)d)", None)],
)
def test_max_width(pattern: str, width: int | None) -> None:
    assert max_width(pattern) == width


_PIECES = ["ab", "c", r"\d", r"\s", "(?:x|yz)", "(?:q)?", "[a-c]", r"\b", "k{1,3}", "(?:m|)", "."]


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6),
    text=st.text(alphabet="abcxyzqkm 12\n.", max_size=40),
)
def test_a_text_that_matches_passes_the_test(parts: list[str], text: str) -> None:
    # Soundness is all that matters: a wrong "cannot match" would lose a cue.
    pattern = "".join(parts)
    needs = required_literals(pattern)
    if re.search(pattern, text) and needs is not None:
        assert may_match(needs, text)
    width = max_width(pattern)
    if width is not None:
        assert all(len(m.group()) <= width for m in re.finditer(pattern, text))
