"""core.mime: a mail fetched in pieces gives the Message its rebuilt bytes give."""

from __future__ import annotations

import base64
import quopri
from dataclasses import replace
from email.parser import BytesParser
from email.policy import compat32

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.message import parse_entity, parse_message
from inboxbot.core.mime import Entity, email_tree, split_header

TOP = b"From: Anna <anna@customer.example>\r\nTo: support@shop.example\r\nSubject: Hi\r\n"


def _items(block: bytes) -> list[tuple[str, str]]:
    msg = BytesParser(policy=compat32).parsebytes(block, headersonly=True)
    return list(msg._headers)  # as stored, before any header_fetch_parse


def test_split_header_keeps_folding_as_compat32_stores_it() -> None:
    block = b"Subject: a\r\n  folded\r\n\tagain\r\nX-Empty:\r\nX-Gap:   spaced \r\n\r\n"
    assert split_header(block) == [("Subject", "a\r\n  folded\r\n\tagain"), ("X-Empty", ""),
                                   ("X-Gap", "spaced ")]
    assert split_header(block) == _items(block)


@pytest.mark.parametrize("block", [
    b"Subject: caf\xc3\xa9\r\n\r\n",  # 8-bit: compat32 makes it a Header object
    b"From someone Mon Nov 23\r\nSubject: x\r\n\r\n",  # a Unix From line
    b" continued first\r\nSubject: x\r\n\r\n",  # a first line that is a continuation
    b"Subject: x\r\nno colon here\r\n\r\n",  # a line that ends the header early
    b"Subject: x\r\n",  # no blank line: the body would be read as header
    b"Subject: x\r\n\r\nmore",  # something after the blank line
    b": no name\r\n\r\n",
])
def test_split_header_refuses_what_it_might_read_differently(block: bytes) -> None:
    assert split_header(block) is None


NAME_CHARS = "".join(chr(c) for c in range(0x21, 0x7F) if c != 0x3A)
field_names = st.text(alphabet=NAME_CHARS, min_size=1, max_size=12)
field_lines = st.text(alphabet="".join(chr(c) for c in range(0x20, 0x7F)) + "\t", max_size=30)
eols = st.sampled_from(["\r\n", "\n", "\r"])


@st.composite
def header_blocks(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        eol = draw(eols)
        lines.append(f"{draw(field_names)}:{draw(field_lines)}{eol}")
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(st.sampled_from([" ", "\t"])) + draw(field_lines) + eol)
    return ("".join(lines) + draw(eols)).encode("ascii")


@given(header_blocks())
def test_split_header_is_the_feed_parser_on_well_formed_blocks(block: bytes) -> None:
    fields = split_header(block)
    if fields is not None:  # a generated line may still be one the parser reads otherwise
        assert fields == _items(block)


# -- whole messages ----------------------------------------------------------------------------


def text(body: bytes, ctype: bytes = b"text/plain; charset=utf-8", cte: bytes = b"8bit",
         extra: bytes = b"") -> Entity:
    header = b"Content-Type: " + ctype + b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n"
    return Entity("text", header + extra + b"\r\n", body)


def omitted(ctype: bytes, name: bytes = b"file.bin") -> Entity:
    header = (b"Content-Type: " + ctype + b'; name="' + name + b'"\r\n'
              b"Content-Disposition: attachment\r\nX-Inboxbot-Omitted: 900 octets not downloaded"
              b"\r\n\r\n")
    return Entity("omitted", header)


def multipart(subtype: bytes, *parts: Entity, boundary: bytes = b"b-1", top: bool = False,
              declared: bytes | None = None) -> Entity:
    header = (TOP + b"MIME-Version: 1.0\r\n" if top else b"") + (
        b'Content-Type: multipart/' + subtype + b'; boundary="'
        + (boundary if declared is None else declared) + b'"\r\n\r\n')
    return Entity("multipart", header, parts=parts, boundary=boundary)


def single(body: bytes, ctype: bytes = b"text/plain; charset=utf-8",
           cte: bytes = b"8bit") -> Entity:
    inner = text(body, ctype, cte)
    return Entity("text", TOP + inner.header, body)


def same_as_rebuilt(entity: Entity, *, direct: bool = True) -> None:
    """parse_entity == parsing the rebuilt bytes; `direct`: without parsing them."""
    rebuilt = replace(parse_message(entity.to_bytes()), size=123)
    assert parse_entity(entity, 123) == rebuilt
    assert (email_tree(entity) is not None) == direct


SHAPES = {
    "plain": single(b"Hello,\r\nmy parcel is late.\r\n"),
    "quoted-printable latin-1": single(quopri.encodestring("Grüße, ärgerlich".encode("latin-1")),
                                       b"text/plain; charset=iso-8859-1", b"quoted-printable"),
    "base64": single(base64.encodebytes(b"Tere, pakk on katki"), cte=b"base64"),
    "bad charset": single(b"caf\xe9", b"text/plain; charset=x-unknown-42"),
    "html only": single(b"<p>Hello&nbsp;there</p><script>x()</script>", b"text/html"),
    "no text part": multipart(b"mixed", omitted(b"application/pdf"), omitted(b"image/png"),
                              top=True),
    "alternative + attachment": multipart(
        b"mixed",
        multipart(b"alternative", text(b"plain words"), text(b"<b>html</b>", b"text/html"),
                  boundary=b"inner"),
        omitted(b"application/pdf", b"receipt.pdf"), top=True),
    "html before plain": multipart(b"mixed", text(b"<p>" + b"x" * 300 + b"</p>", b"text/html"),
                                   text(b"later plain"), top=True),
    "text with a filename": multipart(
        b"mixed", text(b"body"), text(b"a,b\r\n", b'text/csv; name="rows.csv"'), top=True),
    "deeply nested": multipart(b"mixed", multipart(b"mixed", multipart(
        b"alternative", text(b"deep"), boundary=b"c"), boundary=b"b"), top=True),
}


@pytest.mark.parametrize("name", SHAPES)
def test_common_shapes_are_built_directly(name: str) -> None:
    same_as_rebuilt(SHAPES[name])


FALLBACKS = {
    "8-bit header": Entity("text", b"Subject: caf\xc3\xa9\r\nFrom: a@b.example\r\n\r\n", b"hi"),
    "forwarded message": multipart(b"mixed", text(b"see below"), Entity(
        "message", b"Content-Type: message/rfc822\r\n\r\n",
        parts=(Entity("text", b"Subject: inner\r\n\r\n", b"inner text"),)), top=True),
    "boundary read otherwise": multipart(b"mixed", text(b"x"), top=True, declared=b"other"),
    "digest": multipart(b"digest", text(b"x"), top=True),
    "multipart the server saw as text": Entity(
        "text", TOP + b"Content-Type: multipart/mixed\r\n\r\n", b"no boundary"),
    "unix from line": Entity("text", b"From someone\r\n" + TOP + b"\r\n", b"x"),
}


@pytest.mark.parametrize("name", FALLBACKS)
def test_other_shapes_are_parsed_from_the_rebuilt_bytes(name: str) -> None:
    same_as_rebuilt(FALLBACKS[name], direct=False)


def test_an_omitted_top_level_part_keeps_its_note() -> None:
    entity = Entity("omitted", TOP + b"Content-Type: application/pdf\r\n"
                    b"X-Inboxbot-Omitted: 5000 octets not downloaded\r\n\r\n")
    same_as_rebuilt(entity)
    message = parse_entity(entity, 5000)
    assert message.header("x-inboxbot-omitted") == "5000 octets not downloaded"
    assert message.text == "" and message.content_type == "application/pdf"


CHARSETS = [b"utf-8", b"iso-8859-1", b"x-unknown-42", b"utf-7", b"koi8-r", b'"bogus charset"',
            b"", b"gb2312", b"UTF-8"]
ENCODINGS = [b"7bit", b"8bit", b"base64", b"quoted-printable", b"x-uuencode", b"bogus", b""]
TYPES = [b"text/plain", b"text/html", b"text/calendar", b"application/octet-stream",
         b"image/png", b"text", b"TEXT/PLAIN", b"message/delivery-status"]


@st.composite
def leaves(draw: st.DrawFn) -> Entity:
    ctype = draw(st.sampled_from(TYPES))
    params = b"; charset=" + draw(st.sampled_from(CHARSETS)) if draw(st.booleans()) else b""
    if draw(st.booleans()):
        params += draw(st.sampled_from([b'; name="a.txt"', b"; name*=utf-8''%C3%A4.txt",
                                        b"; NAME=x"]))
    extra = draw(st.sampled_from([b"", b"Content-Disposition: attachment\r\n",
                                  b"Content-Disposition: inline; filename=x.txt\r\n",
                                  b"Content-Disposition: INLINE\r\n"]))
    body = draw(st.binary(max_size=200))
    if draw(st.booleans()):
        return Entity("omitted", b"Content-Type: " + ctype + params + b"\r\n" + extra
                      + b"X-Inboxbot-Omitted: 9 octets not downloaded\r\n\r\n")
    return text(body, ctype + params, draw(st.sampled_from(ENCODINGS)), extra)


entities = st.recursive(
    leaves(),
    lambda inner: st.builds(
        lambda subtype, parts, n: multipart(subtype, *parts, boundary=b"=_%d" % n),
        st.sampled_from([b"mixed", b"alternative", b"related", b"report"]),
        st.lists(inner, min_size=1, max_size=3), st.integers(0, 10**6)),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(entities)
def test_any_tree_of_parts_gives_the_rebuilt_message(entity: Entity) -> None:
    top = replace(entity, header=TOP + entity.header)
    rebuilt = replace(parse_message(top.to_bytes()), size=1)
    assert parse_entity(top, 1) == rebuilt
