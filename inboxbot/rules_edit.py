"""Editing rules/*.toml from the CLI: add, remove, enable, disable and move rules.

Every edit keeps the files' comments and layout (tomlkit for values, and whole rule blocks for
moves, so a rule's comment travels with it), compiles the *whole* rule set as it would be after
the edit before anything is written, writes atomically with the previous version kept as
`.bak`, and holds a lock around read-modify-write, so a second edit sees the first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from inboxbot.config_edit import write_atomically
from inboxbot.core.rules import Registry, compile_rules, rule_header_lines
from inboxbot.errors import RuleError
from inboxbot.rulefiles import parse_document, rule_files

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_NEW_FILE_HEADER = "# Rules added with `inboxbot rules add`; edit them with `inboxbot rules ...`.\n"


# --- --when / --then values ------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """`true`, `3`, `["a","b"]`, `{after="promise"}` are TOML; anything else is a string.

    Dates and times are kept as written: no condition takes a date, and `subject=2026-01-02`
    means the text."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    if isinstance(value, dt.date | dt.time):
        return text
    if isinstance(value, float) and not math.isfinite(value):  # "nan", "inf" are words here
        return text
    return value


def parse_assignments(items: list[str], option: str) -> dict[str, Any]:
    """["complaint=true", "tag=a", "tag=b"] -> {"complaint": True, "tag": ["a", "b"]}."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise RuleError(f"{option} {item!r}: write KEY=VALUE, e.g. {option} complaint=true")
        value = parse_value(raw.strip())
        if key in result:  # repeating a key collects its values: --then tag=a --then tag=b
            previous = result[key] if isinstance(result[key], list) else [result[key]]
            result[key] = previous + (value if isinstance(value, list) else [value])
        else:
            result[key] = value
    return result


def toml_value(value: Any) -> Any:
    """A tomlkit item for a plain value; tables become inline tables (one rule, one line each)."""
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, item in value.items():
            table[key] = toml_value(item)
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        array.extend(toml_value(v) for v in value)
        return array
    return tomlkit.item(value)


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def rule_block(
    name: str, when: Mapping[str, Any], then: Mapping[str, Any], *, stop: bool = False
) -> str:
    lines = ["[[rule]]", f"name = {tomlkit.item(name).as_string()}"]
    lines += [f"when.{_key(k)} = {toml_value(v).as_string()}" for k, v in when.items()]
    lines += [f"then.{_key(k)} = {toml_value(v).as_string()}" for k, v in then.items()]
    if stop:
        lines.append("stop = true")
    return "\n".join(lines) + "\n"


# --- a rules file as blocks ------------------------------------------------------------------


@dataclass
class Block:
    """One [[rule]] with the comment lines directly above it: they move and go with it."""

    name: str
    text: str


@dataclass
class RuleFile:
    path: Path
    label: str
    original: str | None  # None: a new file
    preamble: str = ""
    blocks: list[Block] = field(default_factory=list)
    changed: bool = False

    def names(self) -> list[str]:
        return [b.name for b in self.blocks]

    def index(self, name: str) -> int:
        return self.names().index(name)

    def render(self) -> str:
        parts = [_with_newline(self.preamble)] if self.preamble else []
        for i, block in enumerate(self.blocks):
            text = block.text
            if i < len(self.blocks) - 1 and not text.endswith("\n\n"):
                text = _with_newline(text) + "\n"  # keep a blank line between rules
            if parts and not parts[-1].endswith("\n\n") and not _starts_with_comment(text):
                parts[-1] += "\n"
            parts.append(text)
        return _with_newline("".join(parts).rstrip("\n")) if parts else ""


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") or not text else text + "\n"


def _starts_with_comment(text: str) -> bool:
    return text.lstrip().startswith("#")


def split_rules(path: Path, label: str) -> RuleFile:
    """Read a rules file into its preamble and rule blocks; refuse a file that is not valid TOML
    (the edit would otherwise build on a file the service cannot read)."""
    try:
        # utf-8-sig: Notepad starts UTF-8 with a byte order mark, which TOML parsers refuse
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RuleError(f"{label}: cannot read it: {error}; nothing changed") from None
    try:
        data = tomllib.loads(text)
        tomlkit.parse(text)
    except (tomllib.TOMLDecodeError, TOMLKitError) as error:
        raise RuleError(f"{label}: not valid TOML, nothing changed: {error}") from None
    entries = data.get("rule", [])
    headers = [n - 1 for n in rule_header_lines(text)]
    if not isinstance(entries, list) or len(entries) != len(headers):
        raise RuleError(
            f"{label}: rules must be written as [[rule]] tables, one header per line, "
            "to be edited from the command line; edit this file by hand"
        )
    lines = text.splitlines(keepends=True)
    starts = _block_starts(lines, headers)
    bounds = [*starts, len(lines)]
    blocks = [
        Block(str(entry.get("name", "")), "".join(lines[bounds[i] : bounds[i + 1]]))
        for i, entry in enumerate(entries)
    ]
    preamble = "".join(lines[: starts[0]]) if starts else text
    return RuleFile(path, label, text, preamble, blocks)


def _block_starts(lines: list[str], headers: list[int]) -> list[int]:
    starts = []
    floor = 0
    for header in headers:
        start = header
        while start > floor and lines[start - 1].lstrip().startswith("#"):
            start -= 1
        starts.append(start)
        floor = header + 1
    return starts


def set_enabled_in_block(block: Block, enabled: bool) -> Block:
    document = tomlkit.parse(block.text)
    rule = document["rule"][0]
    if rule.get("enabled", True) is enabled:
        return block  # already so; rewriting the line could drop its comment
    if enabled:
        rule.pop("enabled", None)  # enabled is the default; leave no noise behind
    else:
        rule["enabled"] = False
    return Block(block.name, tomlkit.dumps(document))


# --- the editor ------------------------------------------------------------------------------


@dataclass
class RuleEditor:
    directory: Path
    folder_roles: Mapping[str, str]
    registry: Registry

    # -- the edits -------------------------------------------------------------------------

    def add(
        self,
        name: str,
        when: Mapping[str, Any],
        then: Mapping[str, Any],
        *,
        stop: bool = False,
        before: str | None = None,
        after: str | None = None,
        file: Path | None = None,
    ) -> str:
        if not name.strip():
            raise RuleError("a rule needs a name")
        with self._session() as files:
            if any(name in f.names() for f in files):
                where = self._file_of(files, name).label
                raise RuleError(f"a rule named {name!r} already exists in {where}; nothing changed")
            block = Block(name, rule_block(name, when, then, stop=stop))
            target, index = self._place(files, before, after, file)
            target.blocks.insert(index, block)
            target.changed = True
            self._commit(files)
            return f"added rule {name!r} to {target.label}" + _position(before, after)

    def remove(self, name: str) -> str:
        with self._session() as files:
            target = self._file_of(files, name)
            del target.blocks[target.index(name)]
            target.changed = True
            self._commit(files)
            return f"removed rule {name!r} from {target.label} (previous version: .bak)"

    def set_enabled(self, name: str, enabled: bool) -> str:
        state = "enabled" if enabled else "disabled"
        with self._session() as files:
            target = self._file_of(files, name)
            index = target.index(name)
            updated = set_enabled_in_block(target.blocks[index], enabled)
            if updated.text == target.blocks[index].text:
                return f"rule {name!r} is already {state}"
            target.blocks[index] = updated
            target.changed = True
            self._commit(files)
            return f"{state} rule {name!r} in {target.label}"

    def move(self, name: str, *, before: str | None = None, after: str | None = None) -> str:
        if (before is None) == (after is None):
            raise RuleError("say where: --before OTHER or --after OTHER")
        other = before or after
        if other == name:
            raise RuleError(f"cannot move rule {name!r} relative to itself")
        with self._session() as files:
            source = self._file_of(files, name)
            block = source.blocks.pop(source.index(name))
            source.changed = True
            target, index = self._place(files, before, after, None)
            target.blocks.insert(index, _with_blank_line(block))
            target.changed = True
            self._commit(files)
            return f"moved rule {name!r}" + _position(before, after) + f" ({target.label})"

    # -- shared steps ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[list[RuleFile]]:
        """Lock, then read every rules file: the edit and the validation see one state."""
        with rules_lock(self.directory):
            paths = rule_files(self.directory)
            yield [split_rules(p, self._label(p)) for p in paths]

    def _label(self, path: Path) -> str:
        return f"{self.directory.name}/{path.name}"

    def _file_of(self, files: list[RuleFile], name: str) -> RuleFile:
        for rule_file in files:
            if name in rule_file.names():
                return rule_file
        raise RuleError(
            f"no rule named {name!r}; `inboxbot rules list` shows the names; nothing changed"
        )

    def _place(
        self,
        files: list[RuleFile],
        before: str | None,
        after: str | None,
        file: Path | None,
    ) -> tuple[RuleFile, int]:
        if before is not None and after is not None:
            raise RuleError("use --before or --after, not both")
        other = before or after
        if other is not None:
            target = self._file_of(files, other)
            if file is not None and self._resolve(file) != target.path:
                raise RuleError(
                    f"rule {other!r} is in {target.label}, not {file}; rules apply in file "
                    "order, so --before/--after place a rule in the file of the other rule"
                )
            return target, target.index(other) + (1 if after else 0)
        if file is not None:
            target = self._file_for(files, self._resolve(file))
            return target, len(target.blocks)
        if not files:
            return self._file_for(files, self.directory / "50-custom.toml"), 0
        return files[-1], len(files[-1].blocks)  # by default a new rule applies last

    def _resolve(self, file: Path) -> Path:
        """--file rules/60-x.toml or 60-x.toml: always a *.toml file directly in the rules
        folder, since files anywhere else are never loaded."""
        if file.suffix != ".toml" or file.name.startswith("."):
            raise RuleError(f"{file}: a rules file is named like 60-vip.toml")
        parent = file.parent
        if parent not in (Path(), Path(self.directory.name)) and (
            parent.resolve() != self.directory.resolve()
        ):
            raise RuleError(f"{file}: rules files live in {self.directory}; use --file {file.name}")
        return self.directory / file.name

    def _file_for(self, files: list[RuleFile], path: Path) -> RuleFile:
        for rule_file in files:
            if rule_file.path.resolve() == path.resolve():
                return rule_file
        created = RuleFile(path, self._label(path), None, _NEW_FILE_HEADER)
        files.append(created)
        files.sort(key=lambda f: f.path.name)
        return created

    def _commit(self, files: list[RuleFile]) -> None:
        """Compile everything as it will be; write only if all of it is valid."""
        texts = {id(f): f.render() if f.changed else (f.original or "") for f in files}
        try:
            documents = [parse_document(texts[id(f)], f.label) for f in files]
            compile_rules(documents, self.folder_roles, self.registry)
        except RuleError as error:
            raise RuleError(f"{error}; nothing changed") from None
        for rule_file in files:
            if rule_file.changed:
                _check_round_trip(texts[id(rule_file)], rule_file.label)
        for rule_file in files:
            if rule_file.changed:
                write_atomically(rule_file.path, texts[id(rule_file)], backup=rule_file.original)


def _with_blank_line(block: Block) -> Block:
    return Block(block.name, block.text.rstrip("\n") + "\n\n")


def _check_round_trip(text: str, label: str) -> None:
    try:
        ok = tomlkit.dumps(tomlkit.parse(text)) == text
    except TOMLKitError as error:
        raise RuleError(
            f"{label}: the edit would not be valid TOML ({error}); nothing changed"
        ) from None
    if not ok:
        raise RuleError(f"{label}: the edit would change the file's layout; nothing changed")


def _position(before: str | None, after: str | None) -> str:
    if before:
        return f" before {before!r}"
    if after:
        return f" after {after!r}"
    return ""


@contextlib.contextmanager
def rules_lock(directory: Path) -> Iterator[None]:
    """An exclusive lock on the rules folder for one read-modify-write (POSIX flock; where
    there is none, edits are still atomic but not serialised)."""
    if not directory.is_dir():
        raise RuleError(
            f"{directory}: rules folder not found; run `inboxbot init` or set [paths].rules"
        )
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    # The folder itself is locked, so no lock file is left lying among the rules.
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
