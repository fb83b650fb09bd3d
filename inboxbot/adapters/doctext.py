"""A TinyDB file ({"table": {"doc id": {...}}}) held as one compact JSON text per document.

Why text: the state keeps a record per message (history, complaint log, reminders), and a
record of 150-500 bytes costs 1.5-3 KB as a Python dict (a dict, a string per value, a list per
list) but only its own length as a string. The daemon therefore holds every document as the
JSON it is written as, decodes the few it reads, and writes the file by streaming those texts:
no whole-state dict tree on load and no whole-state JSON string at a snapshot.

The file format is TinyDB's, unchanged; any valid TinyDB JSON file (TinyDB's own indented
output included) loads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

Tables = dict[str, dict[str, str]]

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# One encoder for all: json.dumps with options builds a new one per call. No cycles are
# possible (records are checked on the way in): skipping the check saves a quarter.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_WRITE_CHUNK = 500  # documents joined per write: few syscalls, small temporary strings


def dump(value: Any) -> str:
    """The compact JSON text of one document (or key), as the file holds it."""
    return _ENCODER.encode(value)


def load(text: str) -> Any:
    return _DECODER.decode(text)


def _key(key: str) -> str:
    # Document ids are decimal numbers: most keys need no escaping.
    return f'"{key}"' if key.isdigit() else dump(key)


def scan(text: str) -> Tables:
    """The tables of a TinyDB JSON file, each document kept as its own JSON text.

    Raises ValueError (with the position) for anything but an object of objects of objects.
    One document is decoded at a time: the peak is the file's text and the texts, never the
    file as a tree of dicts."""
    tables: Tables = {}

    def table(name: str, start: int) -> int:
        docs: dict[str, str] = {}

        def document(key: str, begin: int) -> int:
            doc, end = _DECODER.raw_decode(text, begin)
            if not isinstance(doc, dict):
                raise ValueError(f"document {key!r} of table {name!r} is not an object")
            text_of_doc = text[begin:end]
            # A file TinyDB wrote itself may be indented: that text is re-dumped compact.
            docs[key] = dump(doc) if "\n" in text_of_doc else text_of_doc
            return end

        end = _object(text, start, document)
        tables[name] = docs
        return end

    end = _skip(text, _object(text, _skip(text, 0), table))
    if end != len(text):
        raise ValueError(f"extra data at position {end}")
    return tables


def _skip(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def _object(text: str, pos: int, member: Callable[[str, int], int]) -> int:
    """Walk the JSON object at ``pos``: ``member(key, position of its value)`` consumes each
    value and returns where it ends. Returns the position after the closing brace."""
    if text[pos : pos + 1] != "{":
        raise ValueError(f"expected an object at position {pos}")
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == "}":
        return pos + 1
    while True:
        key, pos = _DECODER.raw_decode(text, pos)
        if not isinstance(key, str):
            raise ValueError(f"expected a key at position {pos}")
        pos = _skip(text, pos)
        if text[pos : pos + 1] != ":":
            raise ValueError(f"expected ':' at position {pos}")
        pos = _skip(text, member(key, _skip(text, pos + 1)))
        if text[pos : pos + 1] == "}":
            return pos + 1
        if text[pos : pos + 1] != ",":
            raise ValueError(f"expected ',' or '}}' at position {pos}")
        pos = _skip(text, pos + 1)


def write(handle: IO[bytes], tables: Mapping[str, Mapping[str, str]]) -> None:
    """Stream the tables to ``handle`` as one TinyDB JSON object."""
    handle.write(b"{")
    for number, (name, docs) in enumerate(tables.items()):
        handle.write(f"{',' if number else ''}{dump(name)}:{{".encode())
        for piece in _joined(docs.items()):
            handle.write(piece.encode())
        handle.write(b"}")
    handle.write(b"}")


def _joined(items: Iterable[tuple[str, str]]) -> Iterator[str]:
    chunk: list[str] = []
    first = True
    for key, text in items:
        chunk.append(f"{_key(key)}:{text}")
        if len(chunk) == _WRITE_CHUNK:
            yield ("" if first else ",") + ",".join(chunk)
            chunk, first = [], False
    if chunk:
        yield ("" if first else ",") + ",".join(chunk)
