"""FETCH responses as imaplib collected them -> {uid: {item: value}}, parsed with regexes.

imapclient's response parser lexes every byte of a response in Python: on a backlog it cost
more than the server took to answer (a 500-message FETCH of headers and BODYSTRUCTURE: ~3x
the time of reading it off the socket). This parser reads the same data, a token per regex
match, and returns what imapclient's parse_fetch_response returns for the items the mailbox
adapter asks for: numbers as int, strings and literals as bytes, NIL as None, lists as tuples
(BODYSTRUCTURE too: the adapter reads both shapes), item names upper-cased.

What imaplib hands over: for each untagged FETCH, one (text, literal) tuple per literal, the
text ending in the literal's "{n}" marker, then the rest of the line as bytes. A response this
parser does not understand raises ValueError: the adapter then lets imapclient parse it, so an
odd server costs speed, never a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["parse_fetch"]

# imapclient's token rules: whitespace separates; ( ) and quoted strings stand alone; an atom
# runs until a special, and a [ takes everything up to the next ] with it (BODY[HEADER.FIELDS
# (FROM TO)]<0> is one atom). findall collects a line's tokens in one C loop; _CLEAN_RE checks
# that nothing else was on the line (findall would skip it silently).
_TOKEN = rb'\(|\)|"[^"\\]*(?:\\.[^"\\]*)*"|(?:[^\x00-\x20()%"\[]+|\[[^\]]*\])+'
_TOKEN_RE = re.compile(_TOKEN)
_CLEAN_RE = re.compile(rb"(?:[ \t\r\n]+|" + _TOKEN + rb")*")
_LITERAL_RE = re.compile(rb"\{(\d+)\}\Z")
_ESCAPE_RE = re.compile(rb'\\([\\"])')
_OPEN, _CLOSE, _QUOTE = ord("("), ord(")"), ord('"')

Record = tuple[bytes, bytes] | bytes


def parse_fetch(records: Sequence[Record | None]) -> dict[int, dict[bytes, Any]]:
    """uid -> item -> value. Responses without a UID (unsolicited flag updates) are left out;
    two responses for one UID are merged, the later one winning, as imapclient does."""
    result: dict[int, dict[bytes, Any]] = {}
    if list(records) == [None]:  # imaplib's way of saying "no FETCH response"
        return result
    for values in _responses(records):
        if len(values) != 2 or not isinstance(values[0], int) or not isinstance(values[1], tuple):
            raise ValueError(f"not a FETCH response: {values!r:.200}")
        items = values[1]
        if len(items) % 2:
            raise ValueError(f"uneven FETCH items: {items!r:.200}")
        data: dict[bytes, Any] = {}
        for name, value in zip(items[::2], items[1::2], strict=True):
            if not isinstance(name, bytes):
                raise ValueError(f"FETCH item name {name!r}")
            data[name.upper()] = value
        uid = data.pop(b"UID", None)
        if isinstance(uid, int):
            data[b"SEQ"] = values[0]
            result.setdefault(uid, {}).update(data)
    return result


def _responses(records: Sequence[Record | None]) -> Iterator[list[Any]]:
    """One list of top-level values per untagged response (a run of tuples, then bytes)."""
    stack: list[list[Any]] = [[]]  # the response's values, then every list still open
    for record in records:
        if isinstance(record, tuple):
            text, literal = record
            marker = _LITERAL_RE.search(text)
            if marker is None or int(marker.group(1)) != len(literal):
                raise ValueError(f"literal marker missing or wrong: {text[-40:]!r}")
            _tokens(text[: marker.start()], stack)
            stack[-1].append(bytes(literal))
            continue
        if not isinstance(record, bytes):
            raise ValueError(f"unexpected record {record!r:.80}")
        _tokens(record, stack)
        if len(stack) != 1:
            raise ValueError(f"unclosed list in {record[-80:]!r}")
        yield stack.pop()
        stack.append([])
    if stack != [[]]:
        raise ValueError("FETCH response ends inside a literal")


def _tokens(text: bytes, stack: list[list[Any]]) -> None:
    """Append the values in `text` to the innermost open list."""
    if _CLEAN_RE.fullmatch(text) is None:
        raise ValueError(f"unreadable FETCH data in {text[:80]!r}")
    current = stack[-1]
    for token in _TOKEN_RE.findall(text):
        first = token[0]
        if first == _OPEN:
            current = []
            stack.append(current)
        elif first == _CLOSE:
            if len(stack) == 1:
                raise ValueError("unbalanced ) in FETCH data")
            done = tuple(stack.pop())
            current = stack[-1]
            current.append(done)
        elif first == _QUOTE:
            quoted = token[1:-1]
            current.append(_ESCAPE_RE.sub(rb"\1", quoted) if b"\\" in quoted else quoted)
        else:
            current.append(_atom(token))


def _atom(atom: bytes) -> Any:
    if atom == b"NIL":
        return None
    if atom.isdigit() and (atom[:1] != b"0" or len(atom) == 1):  # "0123" stays bytes
        return int(atom)
    return atom
