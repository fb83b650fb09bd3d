"""A mail fetched in pieces (Entity), and the email tree built from the pieces directly.

The IMAP adapter downloads each MIME entity's header and at most 64 KiB of each text part, never
an attachment's content. Rendering the pieces back into one message only for the feed parser to
split it again cost more than every rule check on it (the boundary regex alone is compiled anew
for every multipart mail). `email_tree` builds the compat32 tree the feed parser would build
from `Entity.to_bytes()`: each header block is split by the feed parser's own rules, each
content becomes the payload it would get. Shapes it does not reproduce exactly (8-bit or
malformed headers, message/* parts, a boundary read differently) give None, and the caller
parses the rebuilt bytes instead, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message as EmailMessage
from typing import Any, Literal

__all__ = ["Entity", "email_tree", "split_header"]

Kind = Literal["text", "multipart", "message", "omitted"]

# One header field as the feed parser reads it: a name of printable ASCII but ":" (headerRE),
# the rest of its line, and every continuation line (starting with space or tab). Lines end in
# CRLF, LF or a lone CR, as in the feed parser.
_FIELD_RE = re.compile(r"([!-9;-~]+):([^\r\n]*(?:\r\n|\r|\n)(?:[ \t][^\r\n]*(?:\r\n|\r|\n))*)")
_HEADER_END = frozenset({"\r\n", "\n", "\r"})


@dataclass(frozen=True, slots=True)
class Entity:
    """One MIME entity as fetched: its header block and its content or its parts.

    text: `body` holds (the start of) the content, still transfer-encoded; multipart: `parts`,
    split on `boundary` (the server's reading of the header); message (message/rfc822): one part,
    the enclosed message; omitted: content not downloaded, `header` already carries the
    X-Inboxbot-Omitted note."""

    kind: Kind
    header: bytes
    body: bytes = b""
    parts: tuple[Entity, ...] = ()
    boundary: bytes = b""

    def to_bytes(self) -> bytes:
        """The entity as one MIME message: the original headers and boundaries, text contents
        as fetched, omitted contents empty (what a quarantine or a fallback parse reads)."""
        if self.kind == "text":
            return self.header + self.body
        if self.kind == "message":
            return self.header + b"".join(part.to_bytes() for part in self.parts)
        if self.kind == "multipart":
            delimiter = b"--" + self.boundary
            body = b"".join(delimiter + b"\r\n" + part.to_bytes() + b"\r\n" for part in self.parts)
            return self.header + body + delimiter + b"--\r\n"
        return self.header


def split_header(block: bytes) -> list[tuple[str, str]] | None:
    """(name, value) pairs exactly as the compat32 feed parser stores them, for a block of
    well-formed ASCII header lines ending in a blank line; None for anything else (8-bit bytes,
    a line that is no header field, a Unix "From " line, no blank line at the end)."""
    if not block.isascii():
        return None
    text = block.decode("ascii")
    fields = []
    pos = 0
    match = _FIELD_RE.match
    while (found := match(text, pos)) is not None:
        name, rest = found.groups()
        # compat32 header_source_parse: leading blanks go, the line breaks inside stay.
        fields.append((name, rest.lstrip(" \t").rstrip("\r\n")))
        pos = found.end()
    return fields if text[pos:] in _HEADER_END else None


class _Indexed(EmailMessage):
    """A compat32 message for a tree built once and read many times: its header lookups go
    through an index (a plain Message scans and lower-cases every header for every get, and the
    walk over a mail asks for Content-Type and its kin a dozen times). Its fields are ASCII
    (split_header), which compat32 hands out unchanged."""

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__()
        self._headers = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, failobj: Any = None) -> Any:
        return self._first.get(name.lower(), failobj)

    def items(self) -> list[tuple[str, str]]:
        return list(self._headers)


def email_tree(entity: Entity, enclosing: frozenset[bytes] = frozenset()) -> EmailMessage | None:
    """The compat32 message the feed parser builds from entity.to_bytes(), or None when this
    entity's shape is one it might build differently. `enclosing`: the boundaries of the
    multiparts around it."""
    fields = split_header(entity.header)
    if fields is None:
        return None
    msg = _Indexed(fields)
    maintype = msg.get_content_maintype()
    if entity.kind == "multipart":
        # The feed parser splits on the boundary it reads itself; a digest's parts default to
        # message/rfc822, which this tree does not build.
        if maintype != "multipart" or msg.get_content_subtype() == "digest":
            return None
        # A boundary used twice on one path: the feed parser ends the outer part at the inner.
        if entity.boundary in enclosing:
            return None
        if msg.get_boundary() != entity.boundary.decode("ascii", "surrogateescape"):
            return None
        for part in entity.parts:
            child = email_tree(part, enclosing | {entity.boundary})
            if child is None:
                return None
            msg.attach(child)
        return msg
    if entity.kind == "message" or maintype in ("multipart", "message"):
        return None
    # A part's content is what lies between its header and the CRLF before the next delimiter:
    # what the adapter fetched. An omitted part's content is empty in the rebuilt message too.
    body = entity.body if entity.kind == "text" else b""
    msg.set_payload(body.decode("ascii", "surrogateescape"))
    return msg
