"""A TinyDB file ({"table": {"doc id": {...}}}) held as one packed JSON text per document.

Why text: the state keeps a record per message (history, complaint log, reminders), and a
record of 150-500 bytes costs 1.5-3 KB as a Python dict (a dict, a string per value, a list per
list) but only its own length as a string. The daemon therefore holds every document as the
JSON it is written as, decodes the few it reads, and writes the file by streaming those texts:
no whole-state dict tree on load and no whole-state JSON string at a snapshot.

Why packed: even as text, a 50,000-message backlog's records were ~0.75 KB per message, most of
the daemon's growth. The records repeat the same keys, ISO times and values, so each text is
held deflated against a fixed dictionary of those (``pack``): ~0.25 KB per message, for ~10 us
per document written and ~2 us per document read. Document ids are held as ints (28 bytes,
against 54 for the decimal string).

The file format is TinyDB's, unchanged; any valid TinyDB JSON file (TinyDB's own indented
output included) loads. Packing is only how the process holds it: the dictionary can change
from one version to the next.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

Docs = dict[int, bytes]  # doc id -> packed JSON text
Tables = dict[str, Docs]
Visit = Callable[[str, int, dict[str, Any]], None]  # table, doc id, the document decoded

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
# One encoder for all: json.dumps with options builds a new one per call. No cycles are
# possible (records are checked on the way in): skipping the check saves a quarter.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_WRITE_CHUNK = 500  # documents joined per write: few syscalls, small temporary strings


# Strings the state's documents share (store.py's records, as the service writes them): deflate
# finds them here instead of needing a first copy in the document. A small window and memory
# level: the texts are a few hundred bytes, and zlib's defaults cost ~200 us per compressor.
_ZDICT = (
    b'"address":"","seen":[["2026-01-01T00:00:00.000000+00:00",true,["late"]],'
    b'"replied":["2026-01-01T00:00:00.000000+00:00"],"key":"@example>:reply","uid":0,'
    b'"type":"reply","state":"done","state":"pending","created":"2026-01-01T00:00:00.000000+00:00",'
    b'"at":"","customer":"","message_id":"<@example>","language":"en","categories":[],'
    b'"cues":{},"urgent":false,"folder":"INBOX","due":"2026-01-01T00:00:00.000000+00:00",'
    b'"kind":"sla","to":"staff","subject":"","origin":"rule","reason":"rule \'complaints\' (rules/'
    b'"promise_at":"2026-01-01T00:00:00.000000+00:00"'
)
_WBITS = -10  # raw deflate (no header or checksum), a 1 KiB window: the whole dictionary fits
_LEVEL, _MEMLEVEL = 1, 1


# Copies of a primed (de)compressor: setting the dictionary on a fresh one costs more than
# deflating the document.
_PACKER = zlib.compressobj(
    _LEVEL, zlib.DEFLATED, _WBITS, _MEMLEVEL, zlib.Z_DEFAULT_STRATEGY, _ZDICT
)
_UNPACKER = zlib.decompressobj(_WBITS, _ZDICT)


def pack(text: str) -> bytes:
    """A document's JSON text as the process holds it (see the module docstring)."""
    packer = _PACKER.copy()
    return packer.compress(text.encode()) + packer.flush()


def unpack(data: bytes) -> str:
    unpacker = _UNPACKER.copy()
    return (unpacker.decompress(data) + unpacker.flush()).decode()


def dump(value: Any) -> str:
    """The compact JSON text of one document (or key), as the file holds it."""
    return _ENCODER.encode(value)


def load(text: str) -> Any:
    return _DECODER.decode(text)


def doc_id(key: str) -> int:
    """A document id of the file (TinyDB's are decimal strings) as the process holds it."""
    if not key.isdigit():  # TinyDB itself reads ids with int(): it could not open such a file
        raise ValueError(f"document id {key!r} is not a number")
    return int(key)


def scan(text: str, visit: Visit | None = None) -> Tables:
    """The tables of a TinyDB JSON file, each document kept as its own packed JSON text.

    Raises ValueError (with the position) for anything but an object of objects of objects
    with numeric document ids. One document is decoded at a time: the peak is the file's text
    and the packed texts, never the file as a tree of dicts. ``visit`` sees each document as
    it is decoded (the store builds its indexes so, instead of decoding every one again)."""
    tables: Tables = {}

    def table(name: str, start: int) -> int:
        docs: Docs = {}

        def document(key: str, begin: int) -> int:
            doc, end = _DECODER.raw_decode(text, begin)
            if not isinstance(doc, dict):
                raise ValueError(f"document {key!r} of table {name!r} is not an object")
            text_of_doc = text[begin:end]
            # A file TinyDB wrote itself may be indented: that text is re-dumped compact.
            number = doc_id(key)
            docs[number] = pack(dump(doc) if "\n" in text_of_doc else text_of_doc)
            if visit is not None:
                visit(name, number, doc)
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


def write(handle: IO[bytes], tables: Mapping[str, Mapping[int, bytes]]) -> None:
    """Stream the tables to ``handle`` as one TinyDB JSON object."""
    handle.write(b"{")
    for number, (name, docs) in enumerate(tables.items()):
        handle.write(f"{',' if number else ''}{dump(name)}:{{".encode())
        for piece in _joined(docs.items()):
            handle.write(piece.encode())
        handle.write(b"}")
    handle.write(b"}")


def _joined(items: Iterable[tuple[int, bytes]]) -> Iterator[str]:
    chunk: list[str] = []
    first = True
    for key, packed in items:
        chunk.append(f'"{key}":{unpack(packed)}')
        if len(chunk) == _WRITE_CHUNK:
            yield ("" if first else ",") + ",".join(chunk)
            chunk, first = [], False
    if chunk:
        yield ("" if first else ",") + ",".join(chunk)
