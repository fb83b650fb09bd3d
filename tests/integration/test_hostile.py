"""Hostile and broken mail: nothing a sender writes may crash, hang, inject or execute.

Two layers:
- hypothesis generates broken MIME (mismatched and missing boundaries, unknown charsets, bad
  transfer encodings, 8-bit headers, deep nesting, CR/LF smuggled through encoded words) and runs
  each message through the same code the Executor uses: parse_message -> plan_message ->
  Composer.reply -> bytes. Each must finish in under a second and any reply must carry only the
  headers inboxbot writes;
- a handful of the nastiest go through the whole pipeline against the real Dovecot and aiosmtpd.
"""

from __future__ import annotations

import base64
import email
import email.policy
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inboxbot.app import build_engine
from inboxbot.config import load_config
from inboxbot.core.message import parse_message
from inboxbot.daemon import serve
from inboxbot.defaults import defaults_dir
from inboxbot.service import NoHistory, ReplyLimiter, plan_message
from tests.integration.conftest import CONFIG
from tests.mailgen import customer_mail

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday morning: the shop is open
BUDGET = 1.0  # seconds per message, parse to reply bytes
EVIL = "evil@attacker.example"
# Every header a reply may carry; anything else got there by injection.
REPLY_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "content-language",
}


# -- an engine built from a real shop directory (no server is contacted) ----------------------


def _shop_dir(root: Path) -> Path:
    shutil.copytree(defaults_dir("rules"), root / "rules")
    shutil.copytree(defaults_dir("replies"), root / "replies")
    (root / "config.toml").write_text(
        CONFIG.format(
            imap_host="127.0.0.1",
            imap_port=143,
            user="u",
            password="p",
            smtp_host="127.0.0.1",
            smtp_port=25,
            max_per_hour=100000,
        )
    )
    return root / "config.toml"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Any:
    config = load_config(_shop_dir(tmp_path_factory.mktemp("hostile-shop")))
    built = build_engine(config)
    _pipeline(built, customer_mail("warm@up.example", "warm up", "Hello there."))  # lazy loads
    return built


def _pipeline(engine: Any, raw: bytes) -> tuple[float, Any, list[bytes]]:
    """What Executor.plan_one + _compose do for one message; returns (seconds, plan, replies)."""
    started = time.perf_counter()
    message = parse_message(raw)
    limiter = ReplyLimiter(NoHistory(), engine.config)
    triage, plan = plan_message(engine, message, NOW, limiter)
    replies = [
        bytes(engine.composer.reply(str(action.args["template"]), triage, NOW))
        for action in plan.active
        if action.type == "reply"
    ]
    return time.perf_counter() - started, plan, replies


def _check_reply(raw: bytes) -> email.message.Message:
    reply = email.message_from_bytes(raw, policy=email.policy.compat32)
    names = {name.lower() for name in reply}
    assert names <= REPLY_HEADERS, f"injected header(s): {names - REPLY_HEADERS}"
    head = raw.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    for line in head.split(b"\n"):
        assert b"\r" not in line, line
        assert not line.lower().startswith((b"bcc:", b"cc:")), line
    return reply


# -- hypothesis: the shapes of broken mail ----------------------------------------------------

CHARSETS = ["utf-8", "iso-8859-1", "x-unknown-42", "utf-7", "koi8-r", "bogus charset", "", "gb2312"]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
INJECTIONS = [
    f"\r\nBcc: {EVIL}",
    f"\nBcc: {EVIL}\n",
    f"x\r\n\r\nBcc: {EVIL}",
    "\r\nContent-Type: text/html",
    f"\x00\r\nX-Injected: yes\rBcc: {EVIL}",
]

# Characters str.splitlines() treats as line ends besides CR and LF. They hit a known bug
# (test_unicode_line_separators_in_subject_...), so the generated mail leaves them out to keep
# proving everything else; the bug has its own test below.
LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_NO_BREAKS = str.maketrans("", "", LINE_BREAKS)

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80).map(
    lambda t: t.translate(_NO_BREAKS)
)
raw_bytes = st.binary(max_size=120)


def _clean(value: bytes) -> bytes:
    return value.translate(None, b"\x0b\x0c\x1c\x1d\x1e\x85")


@st.composite
def header_value(draw: st.DrawFn) -> bytes:
    """A header value as it appears on the wire: 8-bit, encoded words, smuggled CR/LF."""
    value = draw(text) + draw(st.sampled_from(["", *INJECTIONS]))
    kind = draw(st.sampled_from(["utf8", "latin1", "ew-b", "ew-q", "raw"]))
    if kind == "utf8":
        return value.replace("\r", "").replace("\n", "").encode("utf-8", "replace")
    if kind == "latin1":
        return _clean(value.replace("\r", "").replace("\n", "").encode("latin-1", "replace"))
    if kind == "raw":
        return _clean(draw(raw_bytes)).replace(b"\r", b"").replace(b"\n", b"")
    charset = draw(st.sampled_from(CHARSETS)) or "utf-8"
    payload = _clean(value.encode("utf-8", "replace"))
    if kind == "ew-b":
        encoded = base64.b64encode(payload).decode()
        return f"=?{charset}?b?{encoded}?=".encode("ascii", "replace")
    quoted = "".join(f"={b:02X}" for b in payload)
    return f"=?{charset}?q?{quoted}?=".encode("ascii", "replace")


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype = draw(
        st.sampled_from(["text/plain", "text/html", "application/octet-stream", "text/x-?"])
    )
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    head = f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "")
    head += f"\r\nContent-Transfer-Encoding: {encoding}" if encoding else ""
    if draw(st.booleans()):
        head += '\r\nContent-Disposition: attachment; filename="=?x-bad?q?=FF=FE?=.pdf"'
    body = draw(st.one_of(raw_bytes, text.map(lambda t: t.encode("utf-8", "replace"))))
    return head.encode() + b"\r\n\r\n" + body


def multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        declared = draw(st.sampled_from(["b1", "=_b2", "b b", "", '"', "x" * 75]))
        used = declared if draw(st.booleans()) else draw(st.sampled_from(["b1", "other", "--"]))
        parts = draw(st.lists(children, min_size=0, max_size=3))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "x-bad"]))
        head = f'Content-Type: multipart/{subtype}; boundary="{declared}"\r\n\r\n'.encode()
        body = b"".join(b"--" + used.encode() + b"\r\n" + part + b"\r\n" for part in parts)
        if draw(st.booleans()):  # the closing delimiter is often what breaks
            body += b"--" + used.encode() + b"--\r\n"
        return head + draw(st.sampled_from([b"", b"preamble\r\n"])) + body

    return build()


body_tree = st.recursive(leaf(), multipart, max_leaves=12)


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    """Deeply nested multiparts (each level one part), hundreds of levels at most."""
    depth = draw(st.integers(1, 300))
    head = b""
    for level in range(depth):
        head += b"Content-Type: multipart/mixed; boundary=l%d\r\n\r\n--l%d\r\n" % (level, level)
    return head + b"Content-Type: text/plain\r\n\r\nHello, where is my order?\r\n"


@st.composite
def hostile_mail(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    """(raw message, subject bytes, display name bytes)"""
    subject = draw(header_value())
    name = draw(header_value())
    sender = draw(st.sampled_from(["c@customer.example", "x.y+tag@a.example"]))
    lines = [
        b'From: "' + name.replace(b'"', b"") + b'" <' + sender.encode() + b">",
        b"To: support@shop.example",
        b"Subject: " + subject,
        b"Message-ID: <" + draw(st.sampled_from([b"h1@x", b"", b"a b c", b"<<>>"])) + b">",
        b"Date: " + draw(st.sampled_from([b"Mon, 23 Nov 2026 10:00:00 +0100", b"yesterday", b""])),
    ]
    for _ in range(draw(st.integers(0, 3))):  # arbitrary extra 8-bit headers
        lines.append(
            b"X-"
            + draw(st.sampled_from([b"A", b"\xff\xfe", b"Mailer"]))
            + b": "
            + draw(header_value())
        )
    body = draw(st.one_of(body_tree, deep()))
    top = b"MIME-Version: 1.0\r\n" if draw(st.booleans()) else b""
    return b"\r\n".join(lines) + b"\r\n" + top + body, subject, name


@settings(
    max_examples=300,
    deadline=None,  # timed explicitly, per message, below
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile_mail())
def test_generated_hostile_mail_never_crashes_hangs_or_injects(engine: Any, mail: Any) -> None:
    raw, _subject, _name = mail
    elapsed, _plan, replies = _pipeline(engine, raw)
    assert elapsed < BUDGET, f"{elapsed:.2f}s for one message"
    for reply in replies:
        _check_reply(reply)


# -- deterministic worst cases ----------------------------------------------------------------


def _mail(
    body: bytes, ctype: bytes = b"text/plain", extra: bytes = b"", subject: bytes = b"x"
) -> bytes:
    return (
        b"From: Carla <carla@customer.example>\r\nTo: support@shop.example\r\nSubject: "
        + subject
        + b"\r\nMessage-ID: <w@customer.example>\r\n"
        + extra
        + b"Content-Type: "
        + ctype
        + b"\r\n\r\n"
        + body
        + b"\r\n"
    )


TEN_MB = 10 * 1024 * 1024

WORST = {
    "10 MB single-line text": lambda: _mail(b"a" * TEN_MB),
    "10 MB single-line base64": lambda: _mail(
        b"QUFB" * (TEN_MB // 4), extra=b"Content-Transfer-Encoding: base64\r\n"
    ),
    "10 MB single-line quoted-printable": lambda: _mail(
        b"=41" * (TEN_MB // 3), extra=b"Content-Transfer-Encoding: quoted-printable\r\n"
    ),
    "10 MB single-line unknown charset": lambda: _mail(
        b"\xe4\xf6\xfc" * (TEN_MB // 3), b"text/plain; charset=x-no-such-charset"
    ),
    "10 MB single-line html": lambda: _mail(b"<p>hi</p>" * (TEN_MB // 9), b"text/html"),
    "1000 nested multiparts": lambda: _mail(
        b"".join(
            b"--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n" % (i, i + 1)
            for i in range(1000)
        ),
        b"multipart/mixed; boundary=n0",
    ),
    "100 KB of encoded words in Subject": lambda: _mail(
        b"hello", subject=b" ".join([b"=?x-unknown?q?=FF=FE?="] * 4000)
    ),
    "10000 To addresses": lambda: _mail(
        b"hi", extra=b"Cc: " + b", ".join([b"a@b.example"] * 10000) + b"\r\n"
    ),
}


@pytest.mark.parametrize("name", list(WORST))
def test_worst_case_mail_is_handled_within_a_second(engine: Any, name: str) -> None:
    raw = WORST[name]()
    try:
        elapsed, _plan, replies = _pipeline(engine, raw)
    except RecursionError:
        # The Executor quarantines what parse_message cannot read: allowed, if quick.
        return
    assert elapsed < BUDGET, f"{name}: {elapsed:.2f}s"
    for reply in replies:
        _check_reply(reply)


@pytest.mark.parametrize("body", [b"<" * 65536, b"<script" * 9400], ids=["lt", "script"])
def test_html_without_closing_brackets_is_linear(engine: Any, body: bytes) -> None:
    elapsed, _plan, _replies = _pipeline(engine, _mail(body, b"text/html"))
    assert elapsed < BUDGET, f"{elapsed:.2f}s"


def test_huge_subject_does_not_stall_the_reply(engine: Any) -> None:
    elapsed, _plan, replies = _pipeline(engine, _mail(b"hello", subject=b"a" * 2_000_000))
    assert elapsed < BUDGET, f"{elapsed:.2f}s"
    assert all(len(r) < 20_000 for r in replies)


# -- header injection and template injection, checked on the rendered reply --------------------

JINJA = [
    "{{ 7*7 }}",
    "{% for x in range(3) %}loop{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config }}{{ self }}{{ lipsum.__globals__ }}",
    "{% include '/etc/passwd' %}",
    "{{ signature }}{{ shop_address }}",
    "{#",
    "{% raw %}",
]


@pytest.mark.parametrize("payload", JINJA)
def test_jinja_in_subject_and_name_is_printed_not_evaluated(engine: Any, payload: str) -> None:
    encoded = base64.b64encode(payload.encode()).decode()
    raw = customer_mail(
        "jinja@customer.example",
        payload,
        f"Hello, {payload} where is my parcel?",
        headers={},
    ).replace(
        b"From: jinja@customer.example",
        f'From: "=?utf-8?b?{encoded}?=" <jinja@customer.example>'.encode(),
    )
    _elapsed, _plan, replies = _pipeline(engine, raw)
    assert len(replies) == 1
    reply = email.message_from_bytes(replies[0], policy=email.policy.default)
    body = reply.get_body(("plain",)).get_content()
    assert reply["Subject"] == f"Re: {payload}"
    assert payload in body, body  # the greeting names the customer, literally
    for evaluated in ("49", "looploop", "<class", "root:", "Anna and Jonas", "support@shop"):
        if evaluated not in payload:
            assert evaluated not in reply["Subject"]
            assert body.count(evaluated) == _template_count(engine, evaluated)


def _template_count(engine: Any, text: str) -> int:
    """How often the plain template itself prints `text` (signature, address): not injected."""
    raw = customer_mail("plain@customer.example", "plain", "Hello, where is my parcel?")
    _e, _p, replies = _pipeline(engine, raw.replace(b"plain@", b"jinja@"))
    reply = email.message_from_bytes(replies[0], policy=email.policy.default)
    return reply.get_body(("plain",)).get_content().count(text)


@pytest.mark.parametrize("injection", INJECTIONS)
def test_crlf_in_encoded_subject_and_name_never_reaches_reply_headers(
    engine: Any, injection: str
) -> None:
    word = "=?utf-8?b?" + base64.b64encode(("Hi" + injection).encode()).decode() + "?="
    raw = (
        f'From: "{word}" <inj@customer.example>\r\nTo: support@shop.example\r\n'
        f"Subject: {word}\r\nMessage-ID: <inj@customer.example>\r\n\r\nA question.\r\n"
    ).encode()
    _elapsed, _plan, replies = _pipeline(engine, raw)
    assert len(replies) == 1
    reply = _check_reply(replies[0])
    assert reply["To"].endswith("<inj@customer.example>")
    assert "\n" not in str(reply["Subject"]).replace("\n ", "").replace("\n\t", "")


@pytest.mark.parametrize("separator", list(LINE_BREAKS), ids=[f"{ord(c):#x}" for c in LINE_BREAKS])
def test_unicode_line_separators_in_subject_are_removed_from_reply(
    engine: Any, separator: str
) -> None:
    word = "=?utf-8?b?" + base64.b64encode(f"Hi{separator}there".encode()).decode() + "?="
    raw = (
        "From: sep@customer.example\r\nTo: support@shop.example\r\n"
        f"Subject: {word}\r\nMessage-ID: <sep@customer.example>\r\n\r\nA question.\r\n"
    ).encode()
    _elapsed, _plan, replies = _pipeline(engine, raw)
    assert len(replies) == 1
    _check_reply(replies[0])


# -- malformed addresses: the pipeline must survive them --------------------------------------

BAD_FROM = [b"a@b@c.example", b'"x" <x y@z.example>', "jörg@kunde.example".encode()]


@pytest.mark.parametrize("sender", BAD_FROM, ids=["two-ats", "space", "utf8-local"])
def test_unanswerable_sender_does_not_stop_the_batch(shop, sender: bytes) -> None:
    bad = customer_mail("placeholder@customer.example", "Hello", "Where is my order?")
    bad = bad.replace(b"placeholder@customer.example", sender)
    shop.dovecot.append("INBOX", bad)
    shop.dovecot.append("INBOX", customer_mail("good@customer.example", "Hello", "A question."))

    serve(shop.config(), once=True)

    assert [r.rcpt_tos for r in shop.sink.wait_for(1)] == [("good@customer.example",)]
    assert all("$InboxbotSeen" in i["flags"] for i in shop.folder("INBOX").values())


# -- the whole pipeline against the real servers ----------------------------------------------


def _hostile_batch() -> list[bytes]:
    inject = "=?utf-8?b?" + base64.b64encode(f"Hi\r\nBcc: {EVIL}".encode()).decode() + "?="
    return [
        # header injection through encoded words in Subject and display name
        (
            f'From: "{inject}" <inj@customer.example>\r\nTo: support@shop.example\r\n'
            f"Subject: {inject}\r\nMessage-ID: <inj@customer.example>\r\n\r\nA question.\r\n"
        ).encode(),
        # broken boundary: declared one, used another, never closed
        b"From: broken@customer.example\r\nTo: support@shop.example\r\nSubject: broken\r\n"
        b'Message-ID: <broken@customer.example>\r\nContent-Type: multipart/mixed; boundary="AAA"'
        b"\r\n\r\n--BBB\r\nContent-Type: text/plain\r\n\r\nWhere is my order?\r\n",
        # unknown charsets everywhere, 8-bit header bytes
        b"From: =?x-klingon?q?=FF=FE?= <charset@customer.example>\r\nTo: support@shop.example\r\n"
        b"Subject: \xe4\xf6\xfc \xff\xfe\r\nMessage-ID: <charset@customer.example>\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n\r\n\xe4\xf6\xfc where is it\r\n",
        # template injection in subject, name and body
        customer_mail(
            "jinja@customer.example",
            "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %}",
            "{{ ''.__class__.__mro__ }}",
            name="{{ 6*7 }}",
        ),
        # deep nesting (Dovecot's BODYSTRUCTURE; the adapter stubs beyond 16 levels)
        _mail(
            b"".join(
                b"--n%d\r\nContent-Type: multipart/mixed; boundary=n%d\r\n\r\n" % (i, i + 1)
                for i in range(60)
            )
            + b"--n60\r\nContent-Type: text/plain\r\n\r\nHello?\r\n",
            b"multipart/mixed; boundary=n0",
        ).replace(b"carla@", b"deep@"),
        # 10 MB on one line
        _mail(b"a" * TEN_MB).replace(b"carla@", b"big@"),
    ]


def test_hostile_batch_through_dovecot_and_smtp(shop) -> None:
    batch = _hostile_batch()
    for raw in batch:
        shop.dovecot.append("INBOX", raw)

    started = time.monotonic()
    serve(shop.config(), once=True)
    elapsed = time.monotonic() - started

    assert elapsed < BUDGET * len(batch) + 2, f"{elapsed:.1f}s for {len(batch)} messages"
    everywhere = {**shop.folder("INBOX")}
    assert all("$InboxbotSeen" in i["flags"] for i in everywhere.values())
    replies = shop.sink.wait_for(len(batch), timeout=10)
    assert sorted(r.rcpt_tos[0].split("@")[0] for r in replies) == sorted(
        ["inj", "broken", "charset", "jinja", "deep", "big"]
    )
    for received in replies:
        assert EVIL not in str(received.rcpt_tos)
        reply = _check_reply(received.raw)
        if received.rcpt_tos == ("jinja@customer.example",):
            body = email.message_from_bytes(received.raw, policy=email.policy.default)
            text = body.get_body(("plain",)).get_content()
            assert "{{ 6*7 }}" in text and "42" not in text
            assert "{{ 7*7 }}" in reply["Subject"]
    assert len(shop.folder("Sent")) == len(batch)
