"""Reading rules/*.toml from disk into compiled rules (the pure compiler lives in core/rules.py)."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from inboxbot.core.rules import (
    REGISTRY,
    Registry,
    RuleDocument,
    RuleSet,
    compile_rules,
    rule_header_lines,
)
from inboxbot.errors import RuleError


def rule_files(directory: Path) -> list[Path]:
    """Rules apply in file-name order, then top to bottom."""
    if not directory.is_dir():
        raise RuleError(
            f"{directory}: rules folder not found; run `inboxbot init` or set [paths].rules"
        )
    return sorted(p for p in directory.glob("*.toml") if p.is_file() or _broken_link(p))


def _broken_link(path: Path) -> bool:
    """A link whose target is gone is a rules file that cannot be read: read_document says so
    rather than its rules silently stopping to apply. Hidden ones are editors' lock links
    (Emacs writes ".#NAME" pointing nowhere)."""
    return path.is_symlink() and not path.name.startswith(".")


def read_document(path: Path, label: str | None = None) -> RuleDocument:
    label = label or str(path)
    try:
        # utf-8-sig: Notepad starts UTF-8 with a byte order mark, which TOML parsers refuse
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RuleError(f"{label}: cannot read it: {error}") from None
    return parse_document(text, label)


def parse_document(text: str, label: str) -> RuleDocument:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RuleError(f"{label}: not valid TOML: {error}") from None
    return RuleDocument(label, data, rule_header_lines(text))


def load_rules(
    directory: Path, folder_roles: Mapping[str, str], registry: Registry | None = None
) -> RuleSet:
    documents = [read_document(p, _label(p, directory)) for p in rule_files(directory)]
    return compile_rules(documents, folder_roles, registry or REGISTRY)


def _label(path: Path, directory: Path) -> str:
    return f"{directory.name}/{path.name}"
