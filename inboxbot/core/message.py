"""Message: the normalised, immutable view of one mail that the rest of the core reads.

Parsing is done once, here, from bytes. The structure comes from the standard library parser
(compat32, which never raises on broken input) and mail-parser's decoding helpers turn encoded
words and unknown charsets into text: a full mail-parser parse costs about 1.2 ms a message and
decodes every attachment, which the throughput target cannot afford.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import Message as EmailMessage
from email.parser import BytesParser
from functools import cached_property

from inboxbot.core.mime import Entity, email_tree

# Only the first part of a text is worth classifying; a customer does not hide the point of a
# complaint after 64 KiB, and reading more costs memory on hostile mail.
TEXT_LIMIT = 64 * 1024

_ADDRESS_HEADERS = ("from", "reply-to", "to", "cc", "delivered-to", "x-original-to", "sender")
_DELIVERABLE_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_MSGID_RE = re.compile(r"<[^<>\s]+>")
# Every character str.splitlines() breaks on: the email package refuses them all in headers.
_CRLF_RE = re.compile("[\r\n\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")
# Longer header values are cut: no customer needs 8 KiB of Subject, and decoding and folding
# megabytes of hostile header would stall the loop.
HEADER_LIMIT = 8 * 1024


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    addr: str  # lower-cased; "" when the header held no usable address

    @property
    def domain(self) -> str:
        return self.addr.rpartition("@")[2]

    @property
    def local(self) -> str:
        return self.addr.rpartition("@")[0]


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Message:
    """Headers are decoded when parsed; addresses and the date only when first asked for, so
    rules that look at one header do not pay for all of them."""

    headers: tuple[tuple[str, str], ...]  # (lower-case name, decoded value), in order
    subject: str
    return_path: str | None  # None: no Return-Path header; "": the null sender <>
    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    content_type: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    size: int = 0
    content_language: str = ""
    # Content types of the parts of this mail, not of mails attached to it (message/rfc822):
    # a report part (message/delivery-status) marks a machine even inside multipart/mixed.
    part_types: tuple[str, ...] = ()
    _index: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    _raw_addresses: dict[str, tuple[str, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def _addresses_of(self, name: str) -> tuple[Address, ...]:
        return _addresses(self._raw_addresses.get(name, ()))

    @cached_property
    def from_(self) -> tuple[Address, ...]:
        return self._addresses_of("from")

    @cached_property
    def reply_to(self) -> tuple[Address, ...]:
        return self._addresses_of("reply-to")

    @cached_property
    def to(self) -> tuple[Address, ...]:
        return self._addresses_of("to")

    @cached_property
    def cc(self) -> tuple[Address, ...]:
        return self._addresses_of("cc")

    @cached_property
    def delivered_to(self) -> tuple[Address, ...]:
        return self._addresses_of("delivered-to")

    @cached_property
    def x_original_to(self) -> tuple[Address, ...]:
        return self._addresses_of("x-original-to")

    @cached_property
    def date(self) -> datetime | None:
        value = self.header("date")
        if not value:
            return None
        try:
            return email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None

    def header(self, name: str) -> str | None:
        values = self._index.get(name.lower())
        return values[0] if values else None

    def header_all(self, name: str) -> tuple[str, ...]:
        return self._index.get(name.lower(), ())

    def has_header(self, name: str) -> bool:
        return name.lower() in self._index

    @property
    def sender(self) -> Address | None:
        return self.from_[0] if self.from_ else None

    @cached_property
    def sender_address(self) -> str:
        """sender.addr ("" without one), without decoding the display name: VIP and customer
        lookups need only the address, and an encoded name ("=?utf-8?q?J=C3=BCrgen?=") costs
        more to decode than the rest of the lookup."""
        values = [v for v in self._raw_addresses.get("from", ()) if v]
        if "from_" not in self.__dict__ and len(values) == 1:
            match = _SIMPLE_ADDRESS_RE.match(values[0])
            if match is not None:  # the address _simple_address would give
                return _matched_address(match)
        sender = self.sender
        return sender.addr if sender else ""

    @property
    def reply_address(self) -> Address | None:
        """Where a human reply goes: Reply-To when present, else From; only an address a reply
        can actually be written to (plain ASCII local@domain) counts."""
        for candidate in (*self.reply_to, *self.from_):
            if _DELIVERABLE_RE.match(candidate.addr):
                return candidate
        return None

    @property
    def recipients(self) -> tuple[Address, ...]:
        """Every address the mail was sent to, as `to` conditions and channels see it."""
        return (*self.to, *self.cc, *self.delivered_to, *self.x_original_to)

    @property
    def has_attachment(self) -> bool:
        return bool(self.attachments)


def single_line(value: str) -> str:
    """Header values built from customer input must never carry CR or LF."""
    if value.isprintable():  # none of the line breaks (nor tab): the common case, in C
        return value.strip()
    return _CRLF_RE.sub(" ", value).strip()


def mailbox_of(address: str) -> str:
    """The mailbox an address delivers to, lower-cased: desk+4711@partner.example is
    desk@partner.example (sub-addressing, RFC 5233). Own addresses and channels compare by it
    (support+x@ is the shop), and per_sender counts by it: a helpdesk answering from a plus
    address per ticket, counted apart, kept a reply loop going up to max_per_hour."""
    local, at, domain = address.lower().rpartition("@")
    if not at or "+" not in local:
        return address.lower()
    return f"{local.split('+', 1)[0] or local}@{domain}"


def _decode(value: object) -> str:
    if value is None:
        return ""
    text = str(value)[:HEADER_LIMIT]
    if not text.isascii():
        # 8-bit bytes in a header (compat32 keeps them as surrogates): most are UTF-8.
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if "=?" in text:  # only encoded words need the decoder; most headers are plain ASCII
        # A header no decoder understands is still text for our purposes.
        from mailparser.utils import decode_header_part  # a slow import, rarely needed

        with contextlib.suppress(Exception):
            text = decode_header_part(text)
    return single_line(text)


_SIMPLE_ADDRESS_RE = re.compile(
    r'^\s*(?:"([^"\\]*)"|([^"<>,;:@()\\]*?))\s*<([^<>\s,;"@]+@[^<>\s,;"@]+)>\s*$'
    r'|^\s*([^<>\s,;"@()]+@[^<>\s,;"@()]+)\s*$'
)


def _simple_address(value: str) -> Address | None:
    """The common one-address header without the full RFC 5322 parser (a third of the time
    of a header-only triage went there)."""
    match = _SIMPLE_ADDRESS_RE.match(value)
    if match is None:
        return None
    quoted, plain, _angle, _bare = match.groups()
    name = (quoted if quoted is not None else plain or "").strip()
    return Address(_decode(name) if name else "", _matched_address(match))


def _matched_address(match: re.Match[str]) -> str:
    """The address of a _SIMPLE_ADDRESS_RE match: <angle> or bare, lower-cased."""
    return str(match.group(3) or match.group(4)).lower()


def _addresses(values: Iterable[str]) -> tuple[Address, ...]:
    values = [v for v in values if v]
    if len(values) == 1 and (simple := _simple_address(values[0])) is not None:
        return (simple,)
    result = []
    for name, addr in email.utils.getaddresses([v for v in values if v]):
        addr = single_line(addr).strip("<> ").lower()
        if name or addr:
            result.append(Address(_decode(name), addr))
    return tuple(result)


def _msgids(value: str) -> tuple[str, ...]:
    return tuple(_MSGID_RE.findall(value))


# A Content-Type whose only parameter is a plain charset token: what most text parts carry.
_PLAIN_CHARSET_RE = re.compile(
    r"""[^;"\\]*;\s*charset\s*=\s*("?)([A-Za-z0-9!#$%&'*+.^_`{|}~-]+)\1\s*""", re.IGNORECASE
)


def _charset(part: EmailMessage) -> str | None:
    """part.get_content_charset(), reading the common one-parameter header without the
    general parameter parser (a third of the time of walking a mail went to it)."""
    value = str(part.get("content-type", ""))
    if "charset" not in value.lower():
        return None  # no parameter of any spelling can be the charset
    plain = _PLAIN_CHARSET_RE.fullmatch(value)
    if plain is not None:
        return plain.group(2).lower()
    return part.get_content_charset()


def _filename(part: EmailMessage) -> str | None:
    """part.get_filename(), without parsing the parameters of parts that name no file."""
    disposition = str(part.get("content-disposition", "")).lower()
    if "filename" not in disposition and "name" not in str(part.get("content-type", "")).lower():
        return None
    return part.get_filename()


def _payload_text(part: EmailMessage, limit: int) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = _charset(part) or "utf-8"
    from mailparser.utils import ported_string

    return str(ported_string(payload[:limit], encoding=charset, errors="replace"))


_SPACES_RE = re.compile(r"[ \t\u00a0]+")
_BLOCKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table"})
_HIDDEN = frozenset({"script", "style", "head", "title"})


# One token at a time, each match bounded by the next "<": linear on any input, unlike
# backtracking tag regexes or html.parser, which both go quadratic on hostile markup such as
# 64 KiB of "<script" with no ">" (measured: seconds per message).
_TOKEN_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)[^<>]*>|[^<]+|<")


def _without_comments(markup: str) -> str:
    kept, start = [], 0
    while (opening := markup.find("<!--", start)) >= 0:
        kept.append(markup[start:opening])
        closing = markup.find("-->", opening + 4)
        if closing < 0:
            return "".join(kept)  # an unclosed comment hides the rest, as in a browser
        start = closing + 3
    kept.append(markup[start:])
    return "".join(kept)


def html_to_text(markup: str) -> str:
    parts: list[str] = []
    hidden = 0
    for token in _TOKEN_RE.finditer(_without_comments(markup)):
        tag = token.group(2)
        if tag is None:
            if not hidden:
                parts.append(token.group(0))
            continue
        name, closing = tag.lower(), bool(token.group(1))
        if name in _HIDDEN:
            hidden = max(0, hidden - 1) if closing else hidden + 1
        elif name in _BLOCKS:
            parts.append("\n")
    text = html.unescape("".join(parts))
    lines = (_SPACES_RE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _walk(msg: EmailMessage) -> tuple[str, tuple[Attachment, ...]]:
    plain: list[str] = []
    markup: list[str] = []
    attachments: list[Attachment] = []
    budget = TEXT_LIMIT
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get("content-disposition") or "").lower()
        filename = _filename(part)
        if filename or disposition.startswith("attachment") or not ctype.startswith("text/"):
            raw = part.get_payload()
            size = len(raw) if isinstance(raw, str) else 0
            attachments.append(Attachment(_decode(filename or ""), ctype, size))
            continue
        if budget <= 0:
            continue
        text = _payload_text(part, budget)
        budget -= len(text)
        (markup if ctype == "text/html" else plain).append(text)
    body = "\n".join(plain) if plain else html_to_text("\n".join(markup))
    return body, tuple(attachments)


def _part_types(msg: EmailMessage) -> tuple[str, ...]:
    found: list[str] = []
    pending = [msg]
    while pending:
        part = pending.pop()
        ctype = part.get_content_type()
        found.append(ctype)
        if not part.is_multipart() or ctype == "message/rfc822":
            continue  # get_payload() of a leaf checks all its text for 8-bit bytes: not needed
        payload = part.get_payload()
        if isinstance(payload, list):
            pending.extend(p for p in payload if isinstance(p, EmailMessage))
    return tuple(found[1:])


def preload() -> None:
    """Import what decoding an encoded word needs (mail-parser: ~50 ms), e.g. on a thread while
    the server works, instead of when the first such header is met."""
    import mailparser.utils  # noqa: F401


def parse_message(raw: bytes, *, headers_only: bool = False) -> Message:
    """Build a Message from raw RFC 5322 bytes. Never raises on malformed input it can read."""
    if headers_only and (items := plain_header_fields(raw)) is not None:
        return _from_items(items, "text/plain", len(raw), None)
    # headersonly: no MIME walk, no boundary regex per message, when the body is not needed.
    msg = BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=headers_only)
    return _from_email(msg, len(raw), headers_only=headers_only)


# A header line as the email package's feedparser takes it: a name of printable ASCII other
# than ":", then ":". Anything else (a continuation line first, "From " lines, a line that is
# not a header, a form feed the str methods would break lines on) goes to the email package.
_FIELD_NAME_RE = re.compile(r"[\041-\071\073-\176]+")
_ODD_BREAKS_RE = re.compile(r"[\x0b\x0c\x1c-\x1e]")


def plain_header_fields(raw: bytes) -> list[tuple[str, str]] | None:
    """(name, value) of each header field, exactly as compat32's parser gives them, for the
    common block of plain ASCII fields without a Content-Type; None for anything else.

    The email package's parser costs ~30 µs for the three fields that confirm a push-down
    hit (a feed parser, a policy object and a Message per call); this split costs ~3 µs.
    tests/core/test_message.py holds it to the email package's answer on generated blocks."""
    if not raw.isascii():
        return None  # 8-bit bytes: compat32 wraps those values in Header objects
    text = raw.decode("ascii")
    if _ODD_BREAKS_RE.search(text):
        return None
    fields: list[tuple[str, str]] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line in ("\r\n", "\n", "\r"):
            break  # the header ends; a body, if any, is not read
        if line[0] in " \t":
            if not current:
                return None
            current.append(line)
            continue
        colon = line.find(":")
        if colon <= 0 or _FIELD_NAME_RE.fullmatch(line, 0, colon) is None:
            return None
        if current:
            fields.append(_field(current))
        current = [line]
    if current:
        fields.append(_field(current))
    if any(name.lower() == "content-type" for name, _value in fields):
        return None
    return fields


def _field(lines: list[str]) -> tuple[str, str]:
    # compat32's header_source_parse.
    name, value = lines[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(lines[1:])
    return name, value.rstrip("\r\n")


def parse_entity(entity: Entity, size: int) -> Message:
    """Build a Message from a mail fetched in pieces (see core.mime); `size` is the whole
    mail's size on the server. The same Message as parsing entity.to_bytes(), without parsing
    it: shapes the direct build does not cover are parsed from those bytes."""
    tree = email_tree(entity)
    if tree is None:
        return replace(parse_message(entity.to_bytes()), size=size)
    return _from_email(tree, size, headers_only=False)


def _from_email(msg: EmailMessage, size: int, *, headers_only: bool) -> Message:
    return _from_items(msg.items(), msg.get_content_type(), size, None if headers_only else msg)


def _from_items(
    items: Sequence[tuple[str, object]], content_type: str, size: int, body: EmailMessage | None
) -> Message:
    """The Message of these header fields; `body`: the parsed mail whose text and parts to
    read (None: headers only)."""
    headers = tuple((name.lower(), _decode(value)) for name, value in items)
    index: dict[str, list[str]] = {}
    for name, decoded in headers:
        index.setdefault(name, []).append(decoded)
    raw_addresses: dict[str, list[str]] = {}
    for name, value in items:
        if name.lower() in _ADDRESS_HEADERS:
            raw_addresses.setdefault(name.lower(), []).append(
                single_line(str(value)[:HEADER_LIMIT])
            )
    first = {name: values[0] for name, values in index.items()}
    return_path = None
    if "return-path" in first:
        return_path = first["return-path"].strip().strip("<>").strip().lower()
    text, attachments = ("", ()) if body is None else _walk(body)
    return Message(
        headers=headers,
        subject=first.get("subject", ""),
        return_path=return_path,
        message_id=(_msgids(first.get("message-id", "")) or ("",))[0],
        in_reply_to=(_msgids(first.get("in-reply-to", "")) or ("",))[0],
        references=_msgids(" ".join(index.get("references", []))),
        content_type=content_type,
        text=text,
        attachments=attachments,
        size=size,
        content_language=first.get("content-language", "").split(",")[0].strip().lower(),
        part_types=() if body is None else _part_types(body),
        _index={name: tuple(values) for name, values in index.items()},
        _raw_addresses={name: tuple(values) for name, values in raw_addresses.items()},
    )
