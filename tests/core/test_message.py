"""The Message model: addresses, decoding, text from HTML, attachments, ids and hostile input."""

from __future__ import annotations

import email.message
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.message import (
    TEXT_LIMIT,
    _charset,
    _filename,
    _from_email,
    html_to_text,
    parse_message,
    plain_header_fields,
    single_line,
)


def _mail(**headers: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = headers.pop("From", "Anna Berg <Anna@Customer.Example>")
    mail["To"] = headers.pop("To", "support@shop.example")
    mail["Subject"] = headers.pop("Subject", "Hello")
    mail.set_content("Plain body")  # before the headers: it drops Content-* headers
    for name, value in headers.items():
        mail[name.replace("_", "-")] = value
    return mail


def test_addresses_are_parsed_and_lower_cased() -> None:
    raw = _mail(Reply_To="Anna <anna.private@home.example>", Cc="Bo <bo@x.example>",
                Delivered_To="support+vip@shop.example", X_Original_To="sales@shop.example")
    message = parse_message(bytes(raw))
    assert message.sender is not None and message.sender.addr == "anna@customer.example"
    assert message.sender.name == "Anna Berg" and message.sender.domain == "customer.example"
    assert message.reply_address is not None
    assert message.reply_address.addr == "anna.private@home.example"
    assert [a.addr for a in message.recipients] == [
        "support@shop.example", "bo@x.example", "support+vip@shop.example", "sales@shop.example"]


def test_sender_address_is_the_senders_addr_without_decoding_the_name() -> None:
    froms = [
        "Anna Berg <Anna@Customer.Example>", '"Berg, Anna" <anna@x.example>',
        "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <J@Web.Example>", "bare@Mail.Example",
        "a@x.example, b@y.example", "Undisclosed recipients:;", "not an address", "<>",
        "Anna <anna@x.example> (comment)",
    ]
    for value in froms:
        fresh, decoded = (parse_message(bytes(_mail(From=value))) for _ in range(2))
        expected = decoded.sender.addr if decoded.sender else ""
        assert fresh.sender_address == expected, value  # before From was decoded
        assert decoded.sender_address == expected, value  # and after
    assert parse_message(b"Subject: no sender\r\n\r\nhi").sender_address == ""


def test_encoded_words_and_ids() -> None:
    raw = _mail(Subject="Rückerstattung für Bestellung 12", Message_ID="<a1@x.example>",
                In_Reply_To="<prev@shop.example>",
                References="<first@x.example> <prev@shop.example>", Content_Language="de-DE")
    message = parse_message(bytes(raw))
    assert message.subject == "Rückerstattung für Bestellung 12"
    assert message.message_id == "<a1@x.example>"
    assert message.in_reply_to == "<prev@shop.example>"
    assert message.references == ("<first@x.example>", "<prev@shop.example>")
    assert message.content_language == "de-de"


def test_return_path_null_sender_and_absent() -> None:
    assert parse_message(bytes(_mail(Return_Path="<>"))).return_path == ""
    assert parse_message(bytes(_mail())).return_path is None


def test_html_only_mail_becomes_text() -> None:
    mail = _mail()
    mail.set_content("<p>Hello&nbsp;there</p><script>evil()</script><br>Second line",
                     subtype="html")
    message = parse_message(bytes(mail))
    assert message.text == "Hello there\nSecond line"


def test_plain_text_part_wins_over_html() -> None:
    mail = _mail()
    mail.add_alternative("<p>HTML version</p>", subtype="html")
    assert parse_message(bytes(mail)).text.strip() == "Plain body"


def test_attachments_are_listed_not_read_as_text() -> None:
    mail = _mail()
    mail.add_attachment(b"%PDF-1.4 binary", maintype="application", subtype="pdf",
                        filename="invoice.pdf")
    message = parse_message(bytes(mail))
    assert [a.filename for a in message.attachments] == ["invoice.pdf"]
    assert message.has_attachment and "PDF" not in message.text
    assert "application/pdf" in message.part_types


def test_parts_of_an_attached_mail_do_not_count() -> None:
    bounce = (b"From: MAILER-DAEMON@mx.example\r\nSubject: failed\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
              b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
              b"--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n"
              b"--b--\r\n")
    assert "message/delivery-status" in parse_message(bounce).part_types
    forwarded = (b"From: anna@customer.example\r\nSubject: Fwd: your mail bounced\r\n"
                 b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"
                 b"--o\r\nContent-Type: text/plain\r\n\r\nMy order mail bounced, see below.\r\n"
                 b"--o\r\nContent-Type: message/rfc822\r\n\r\n" + bounce + b"--o--\r\n")
    types = parse_message(forwarded).part_types
    assert "message/rfc822" in types and "message/delivery-status" not in types


def test_headers_only_skips_the_body() -> None:
    message = parse_message(bytes(_mail()), headers_only=True)
    assert message.text == "" and message.subject == "Hello"


def test_text_is_bounded() -> None:
    mail = _mail()
    mail.set_content("x" * (TEXT_LIMIT * 3))
    assert len(parse_message(bytes(mail)).text) <= TEXT_LIMIT + 2


def test_header_values_never_carry_line_breaks() -> None:
    raw = b"From: a@b.example\r\nSubject: =?utf-8?q?Hi=0D=0ABcc=3A_x=40evil.example?=\r\n\r\nx"
    message = parse_message(raw)
    assert "\n" not in message.subject and "\r" not in message.subject
    assert single_line("a\r\nb\x00c") == "a b c"
    assert html_to_text("<div>a</div><div>b</div>") == "a\nb"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    message = parse_message(raw)
    assert isinstance(message.subject, str) and "\n" not in message.subject


PARAMS = ['; charset="utf-8"', "; charset=ISO-8859-1", "; CHARSET = koi8-r ", '; charset="a b"',
          "; charset=utf-8; format=flowed", "; charset*=utf-8''latin1", '; charset="x\\"y"',
          "; charset=\u00e4", '; name="a.pdf"', "; NAME=x", "; name*=utf-8''%C3%A4.txt",
          ";charset=", "; charset", '; charset="utf-8', "; x-charset=1", ";\r\n\tcharset=us-ascii"]
DISPOSITIONS = ["", "attachment", 'attachment; filename="r.pdf"', "inline; FILENAME=a",
                "inline; filename*=utf-8''%C3%A4", "inline; name=b"]


@given(st.lists(st.sampled_from(PARAMS), max_size=3), st.sampled_from(DISPOSITIONS),
       st.sampled_from(["text/plain", "TEXT/html", "text", ""]))
def test_charset_and_filename_shortcuts_agree_with_the_email_package(
    params: list[str], disposition: str, ctype: str
) -> None:
    part = email.message.Message()
    part.set_raw("Content-Type", ctype + "".join(params))
    if disposition:
        part.set_raw("Content-Disposition", disposition)
    assert _charset(part) == part.get_content_charset()
    assert _filename(part) == part.get_filename()


@given(st.text(max_size=60))
def test_single_line_shortcut_is_the_substitution(value: str) -> None:
    from inboxbot.core.message import _CRLF_RE

    assert single_line(value) == _CRLF_RE.sub(" ", value).strip()


# -- the plain header split (parse_message(headers_only=True) without the email package) ------

_NAMES = st.sampled_from(["From", "Subject", "Message-ID", "To", "Cc", "X-Topic", "Received",
                          "Content-Type", "from", "X:odd", "Bad Name", " Folded", "From "])
_VALUES = st.lists(
    st.one_of(
        st.sampled_from(["Anna <anna@x.example>", "=?utf-8?q?J=C3=BCrgen?= <j@x.example>",
                         "<id.1@x.example>", "urgent: help", "", " ", "a,b;c", "\t",
                         "=?iso-8859-1?b?/w==?=", "x\x0cy", "caf\u00e9"]),
        st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=12),
    ),
    min_size=1, max_size=3,
)
_BREAKS = st.sampled_from(["\r\n", "\n", "\r"])


@st.composite
def _header_blocks(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        name, pieces, br = draw(_NAMES), draw(_VALUES), draw(_BREAKS)
        # Later pieces become folded continuation lines.
        gap = draw(st.sampled_from(["", " ", "  ", "\t"]))
        folds = "".join(f"{draw(st.sampled_from([' ', chr(9)]))}{p}{br}" for p in pieces[1:])
        lines.append(f"{name}:{gap}{pieces[0]}{br}{folds}")
    tail = draw(st.sampled_from(["", "\r\n", "\r\nbody text\r\n", "not a header\r\n"]))
    return ("".join(lines) + tail).encode("utf-8", "surrogateescape")


def _email_package(raw: bytes) -> email.message.Message:
    import email.policy
    from email.parser import BytesParser

    return BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)


@settings(max_examples=600)
@given(_header_blocks())
def test_the_plain_header_split_is_the_email_packages_answer(raw: bytes) -> None:
    fields = plain_header_fields(raw)
    if fields is None:
        return  # left to the email package
    parsed = _email_package(raw)
    assert fields == parsed.items()
    assert not parsed.defects
    lean = parse_message(raw, headers_only=True)
    full = _from_email(parsed, len(raw), headers_only=True)
    assert lean == full
    assert (lean._index, lean._raw_addresses) == (full._index, full._raw_addresses)
    assert (lean.from_, lean.to, lean.cc) == (full.from_, full.to, full.cc)


def test_the_plain_header_split_takes_the_common_confirm_fields() -> None:
    raw = (b"From: =?utf-8?q?J=C3=BCrgen?= <j@vip.example>\r\nSubject: urgent:\r\n help\r\n"
           b"Message-ID: <m1@x.example>\r\n\r\n")
    assert plain_header_fields(raw) == [
        ("From", "=?utf-8?q?J=C3=BCrgen?= <j@vip.example>"),
        ("Subject", "urgent:\r\n help"),
        ("Message-ID", "<m1@x.example>"),
    ]
    message = parse_message(raw, headers_only=True)
    assert message.sender is not None and message.sender.name == "Jürgen"
    assert message.subject.split() == ["urgent:", "help"]
    assert message.message_id == "<m1@x.example>"
    assert message == _from_email(_email_package(raw), len(raw), headers_only=True)


def test_what_the_plain_split_does_not_cover_goes_to_the_email_package() -> None:
    for raw in (b"From: caf\xc3\xa9 <c@x.example>\r\n",  # 8-bit
                b"Content-Type: text/html\r\nFrom: a@x.example\r\n",
                b" folded first\r\nFrom: a@x.example\r\n",
                b"From a@x.example Mon Jan 1\r\nFrom: a@x.example\r\n",
                b"Subject: a\x0cb\r\n"):
        assert plain_header_fields(raw) is None, raw
        assert parse_message(raw, headers_only=True) == _from_email(
            _email_package(raw), len(raw), headers_only=True)
