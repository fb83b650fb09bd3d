"""Literal strings a regex match must contain, for a cheap `in` test before a costly scan.

A lexicon's raw `re:` terms are scanned at every word of every text; most texts cannot match
them at all ("within 3 days" needs "within "). `str.__contains__` answers that in a fraction of
the scan's time, so a scan runs only where one of a term's required literals occurs.

The answer is derived from the pattern's parse tree (the standard library's own parser): a set of
strings of which every match contains at least one, or None when no such set is known (a
pattern that starts matching anywhere, ignores case, or cannot be parsed): then the scan always
runs, which is slower but never wrong.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

try:  # the standard library's regex parser; private, so its absence only costs speed
    from re import _constants as _sre  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - a Python without it
    _sre = _sre_parse = None

Required = tuple[frozenset[str], ...]  # every match holds one string of each set


def required_literals(pattern: str) -> Required | None:
    """Sets of strings such that every match of `pattern` contains one string of each set;
    None when no such set is known."""
    if _sre_parse is None:
        return None
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:  # any failure means "unknown", never an error
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    try:
        return _required(list(parsed)) or None
    except _CaseInsensitive:
        return None


class _CaseInsensitive(Exception):
    """A group that turns on IGNORECASE: literals no longer say what the text must hold."""


def _required(items: Sequence[tuple[Any, Any]]) -> Required:
    found: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            found.append(frozenset({"".join(run)}))
            run = []
        found.extend(_required_of(op, av))
    if run:
        found.append(frozenset({"".join(run)}))
    return tuple(found)


def _required_of(op: Any, av: Any) -> Required:
    if op is _sre.SUBPATTERN:
        _group, add_flags, _del_flags, pattern = av
        if add_flags & re.IGNORECASE:
            raise _CaseInsensitive
        return _required(list(pattern))
    if op is _sre.ATOMIC_GROUP:
        return _required(list(av))
    if op is _sre.BRANCH:
        # One of the alternatives matches: each must name a string, and any of them will do.
        best = [max(_required(list(branch)), key=selectivity, default=None) for branch in av[1]]
        if all(best):
            return (frozenset().union(*(b for b in best if b)),)
        return ()
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
        return _required(list(av[2]))
    return ()


def selectivity(candidate: frozenset[str]) -> tuple[int, int]:
    # The shortest string bounds how often the test passes by chance; fewer strings cost fewer
    # `in` tests.
    return min(map(len, candidate)), -len(candidate)


def may_match(required: Required, text: str) -> bool:
    """False when `text` cannot hold a match (a string of some required set is missing)."""
    return all(any(literal in text for literal in choice) for choice in required)


def max_width(pattern: str) -> int | None:
    """The most characters a match of `pattern` can span, or None when unbounded or unknown, or
    when the pattern looks around (a lookahead sees past the match, so a window could hide it)."""
    if _sre_parse is None:
        return None
    try:
        parsed = _sre_parse.parse(pattern)
    except Exception:  # unknown, never an error
        return None
    if _looks_around(list(parsed)):
        return None
    widest: int = parsed.getwidth()[1]
    return widest if widest < _UNBOUNDED else None


_UNBOUNDED = 10_000  # getwidth() reports a repeat without a maximum as about 2**32


def _looks_around(items: Sequence[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op in (_sre.ASSERT, _sre.ASSERT_NOT):
            return True
        nested: list[Any] = []
        if op is _sre.SUBPATTERN:
            nested = [av[3]]
        elif op is _sre.BRANCH:
            nested = list(av[1])
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT):
            nested = [av[2]]
        elif op is _sre.ATOMIC_GROUP:
            nested = [av]
        if any(_looks_around(list(sub)) for sub in nested):
            return True
    return False
