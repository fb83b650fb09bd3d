"""fetch_response.parse_fetch on imaplib's records: the values imapclient's parser gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response
from imapclient.response_types import BodyData

from inboxbot.adapters.fetch_response import parse_fetch

HEADER = b"From: a@b.example\r\nSubject: hi\r\n\r\n"


def test_items_literals_and_bodystructure() -> None:
    records = [
        (b"1 (UID 7 FLAGS (\\Seen $InboxbotSeen) RFC822.SIZE 1080 BODY[HEADER] {%d}" % len(HEADER),
         HEADER),
        b' BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 1 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 9 1 NIL NIL NIL NIL) '
        b'"alternative" ("boundary" "b1") NIL NIL NIL))',
    ]
    assert parse_fetch(records) == {7: {
        b"SEQ": 1,
        b"FLAGS": (b"\\Seen", b"$InboxbotSeen"),
        b"RFC822.SIZE": 1080,
        b"BODY[HEADER]": HEADER,
        b"BODYSTRUCTURE": (
            (b"text", b"plain", (b"charset", b"utf-8"), None, None, b"7bit", 5, 1, None, None,
             None, None),
            (b"text", b"html", (b"charset", b"utf-8"), None, None, b"quoted-printable", 9, 1,
             None, None, None, None),
            b"alternative", (b"boundary", b"b1"), None, None, None,
        ),
    }}


def test_section_names_keep_brackets_spaces_and_origin() -> None:
    records = [(b"3 (UID 9 BODY[HEADER.FIELDS (FROM SUBJECT)] {4}", b"x\r\n\r"),
               (b" BODY[1]<0> {2}", b"ok"), b")"]
    assert parse_fetch(records) == {9: {
        b"SEQ": 3, b"BODY[HEADER.FIELDS (FROM SUBJECT)]": b"x\r\n\r", b"BODY[1]<0>": b"ok"}}


def test_quoting_nil_and_numbers_as_imapclient() -> None:
    records = [b'1 (UID 2 X ("a \\"q\\" \\\\ \\n" "NIL" NIL "12" 012 0 ""))']
    [(_uid, data)] = parse_fetch(records).items()
    assert data[b"X"] == (b'a "q" \\ \\n', b"NIL", None, b"12", b"012", 0, b"")


def test_a_literal_inside_a_list() -> None:
    records = [(b'1 (UID 4 BODYSTRUCTURE ("application" "pdf" ("name" {5}', b"r\xe9.pd"),
               b') NIL NIL "base64" 10 NIL NIL NIL NIL))']
    assert parse_fetch(records)[4][b"BODYSTRUCTURE"][2] == (b"name", b"r\xe9.pd")


def test_unsolicited_responses_without_uid_are_left_out_and_later_ones_merge() -> None:
    records = [b"5 (FLAGS (\\Deleted))", b"1 (UID 1 FLAGS ())", b"1 (UID 1 FLAGS (\\Seen))",
               b"2 (UID 3 RFC822.SIZE 10)"]
    assert parse_fetch(records) == {1: {b"SEQ": 1, b"FLAGS": (b"\\Seen",)},
                                    3: {b"SEQ": 2, b"RFC822.SIZE": 10}}


def test_no_response_at_all() -> None:
    assert parse_fetch([None]) == {}
    assert parse_fetch([]) == {}


@pytest.mark.parametrize("records", [
    [b"1 (UID 1 FLAGS (\\Seen)"],  # unclosed list
    [b"1 (UID 1 FLAGS ()))"],  # unbalanced
    [b"1 (UID 1 X \x01)"],  # a byte no token starts with
    [(b"1 (UID 1 BODY[] {9}", b"short")],  # the literal's size disagrees
    [(b"1 (UID 1 BODY[]", b"x"), b")"],  # no literal marker
    [b"1 (UID 1 FLAGS)"],  # uneven items
    [b"* OK hello"],  # not a FETCH response
    [(b"1 (UID 1 BODY[] {1}", b"x")],  # ends inside the response
])
def test_what_it_cannot_read_raises_value_error(records: list[Any]) -> None:
    with pytest.raises(ValueError):
        parse_fetch(records)


# -- the same values as imapclient's parser, on any response built from IMAP's grammar ------

atoms = st.from_regex(rb"\A[A-Za-z$\\][A-Za-z0-9.$_-]{0,8}\Z").filter(lambda a: a != b"NIL")
numbers = st.integers(min_value=0, max_value=10**12).map(lambda n: str(n).encode())
quoted = st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b)


def _quote(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


values = st.recursive(
    st.one_of(atoms, numbers, quoted.map(_quote), st.just(b"NIL")),
    lambda inner: st.lists(inner, max_size=5).map(lambda xs: b"(" + b" ".join(xs) + b")"),
    max_leaves=20,
)


@st.composite
def responses(draw: st.DrawFn) -> list[Any]:
    records: list[Any] = []
    for seq in range(1, draw(st.integers(1, 4)) + 1):
        text = b"%d (UID %d" % (seq, draw(st.integers(1, 10**6)))
        for index in range(draw(st.integers(0, 4))):
            name = b"X%d" % index
            if draw(st.booleans()):  # a literal value: the record ends at its marker
                literal = draw(st.binary(max_size=30))
                records.append((text + b" " + name + b" {%d}" % len(literal), literal))
                text = b""
            else:
                text += b" " + name + b" " + draw(values)
        records.append(text + b")")
    return records


def _plain(value: Any) -> Any:
    if isinstance(value, BodyData | list | tuple):
        flat: list[Any] = []
        for item in value:
            flat.extend(_plain(x) for x in item) if isinstance(item, list) else flat.append(
                _plain(item))
        return tuple(flat)
    return value


@given(responses())
def test_same_values_as_imapclient(records: list[Any]) -> None:
    ours = parse_fetch(records)
    theirs = parse_fetch_response(records, True, True)
    assert set(ours) == set(theirs)
    for uid, data in theirs.items():
        assert ours[uid] == {key: _plain(value) for key, value in data.items()}
