"""Where the shipped default rules/ and replies/ are: inside the installed package (the wheel
carries them as package data), or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def defaults_dir(name: str) -> Path:
    """`name` is "rules" or "replies"."""
    for candidate in (_PACKAGE / "defaults" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped {name}/ folder is missing from this installation")


def data_dir(name: str) -> Path:
    return _PACKAGE / "data" / name
