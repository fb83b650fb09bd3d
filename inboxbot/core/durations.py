"""Human-written durations as used in config.toml: "8h", "90m", "1d12h", "1w".

Pure: no clock, no locale. `parse_duration` and `format_duration` are inverses for whole seconds.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["ACCEPTED", "format_duration", "parse_duration"]

# Unit letter -> seconds. "m" is minutes, never months: months have no fixed length.
_UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}

ACCEPTED = (
    "a whole number followed by a unit, w (weeks), d (days), h (hours), m (minutes) or s "
    '(seconds), parts may be combined and spaced, each unit at most once: "8h", "90m", "2d", '
    '"1d12h", "1d 12h", "1w"'
)

_PART = re.compile(r"\s*(\d+)\s*([a-z])\s*", re.ASCII)


def parse_duration(text: str) -> timedelta:
    """Parse e.g. "1d12h" (case-insensitive, spaces allowed) into a non-negative timedelta."""
    lowered = text.lower()
    if not lowered.strip():
        raise ValueError(f"empty duration: expected {ACCEPTED}")
    seconds = 0
    seen: set[str] = set()
    pos = 0
    while pos < len(lowered):
        match = _PART.match(lowered, pos)
        if match is None:
            rest = text[pos:]
            raise ValueError(f"cannot read duration {text!r} at {rest!r}: expected {ACCEPTED}")
        number, unit = match.groups()
        seconds += int(number) * _unit_seconds(unit, text, seen)
        pos = match.end()
    return _to_timedelta(seconds, text)


def _unit_seconds(unit: str, text: str, seen: set[str]) -> int:
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {unit!r} in duration {text!r}: expected {ACCEPTED}")
    # A repeated unit ("1h 2h") is almost always a typo; refuse rather than guess the sum.
    if unit in seen:
        raise ValueError(f"unit {unit!r} appears twice in duration {text!r}: expected {ACCEPTED}")
    seen.add(unit)
    return _UNITS[unit]


def _to_timedelta(seconds: int, text: str) -> timedelta:
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too long") from None


def format_duration(td: timedelta) -> str:
    """Format a non-negative timedelta as parse_duration reads it, largest unit first: "1d12h".

    Weeks are written as days ("14d"), which reads better in replies and parses the same.
    Sub-second parts are dropped (this is for people, who never see microseconds).
    """
    if td < timedelta(0):
        raise ValueError(f"cannot format a negative duration ({td})")
    remaining = td.days * 86_400 + td.seconds
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s"):
        amount, remaining = divmod(remaining, _UNITS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
