"""Editing config.toml from the CLI: keep comments and layout (tomlkit), validate the result
before writing, write atomically, keep the previous version as a backup."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from inboxbot.config import parse_config
from inboxbot.errors import ConfigError


def edit(path: Path, change: Callable[[Any], str]) -> str:
    """Apply `change` to the parsed document; nothing is written unless the result is valid."""
    # utf-8-sig: Notepad starts UTF-8 with a byte order mark, which TOML parsers refuse
    original = path.read_text(encoding="utf-8-sig")
    try:
        document = tomlkit.parse(original)
    except TOMLKitError as error:
        raise ConfigError(f"{path}: not valid TOML, nothing changed: {error}") from None
    summary = change(document)
    updated = tomlkit.dumps(document)
    parse_config(updated, path)  # refuses an edit that would leave the service broken
    write_atomically(path, updated, backup=original)
    return summary


def write_atomically(path: Path, text: str, *, backup: str | None = None) -> None:
    path = Path(os.path.realpath(path))  # edit the file a symlink points at, keep the link
    if backup is not None:
        backup_path = path.with_name(path.name + ".bak")
        backup_path.write_text(backup, encoding="utf-8")
        os.chmod(backup_path, 0o600)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(path, temp) if path.exists() else os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _table(document: Any, section: str) -> Any:
    if section not in document:
        document[section] = tomlkit.table()
    return document[section]


def edit_list(
    path: Path,
    section: str,
    key: str,
    value: str,
    *,
    add: bool,
    same: Callable[[str], str] = str.lower,
) -> str:
    """Add `value` to (or remove it from) a list; `same` maps an entry to what it means, so an
    entry written another way ("*.x.example" for "x.example") is found."""

    def change(document: Any) -> str:
        table = _table(document, section)
        values = table.get(key)
        if values is None:
            values = tomlkit.array()
            table[key] = values
        existing = [same(str(v)) for v in values]
        present = same(value) in existing
        if add and present:
            return f"{value} is already in [{section}].{key}"
        if not add and not present:
            raise ConfigError(f"{path}: {value} is not in [{section}].{key}; nothing changed")
        if add:
            values.append(value)
        else:
            del values[existing.index(same(value))]
        return (
            f"{'added' if add else 'removed'} {value} {'to' if add else 'from'} [{section}].{key}"
        )

    return edit(path, change)


def set_value(path: Path, section: str, key: str, value: object) -> str:
    def change(document: Any) -> str:
        _table(document, section)[key] = value
        return f"set [{section}].{key} = {value!r}"

    return edit(path, change)
