"""automated_reason: DESIGN.md section 5, on hand-written mails from real systems' formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.automated import automated_reason, reply_target_reason
from inboxbot.core.message import parse_message

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "automated"
OWN = ("support@shop.example", "Sales@Shop.Example")


def _load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# (fixture, expected reason). The reason pins which check fires first, so a reordering of the
# checks or a check that stops firing shows up here.
AUTOMATED = [
    ("bounce-postfix.eml", "null Return-Path"),
    ("bounce-exim.eml", "sender MAILER-DAEMON"),
    ("bounce-exchange.eml", "sender postmaster"),
    ("bounce-qmail.eml", "sender MAILER-DAEMON"),
    ("mdn-read-receipt.eml", "disposition-notification report"),
    ("arf-abuse.eml", "feedback report (ARF)"),
    ("oof-en-gmail.eml", "Auto-Submitted: auto-replied"),
    ("oof-de-exchange.eml", "X-Auto-Response-Suppress: All"),
    ("oof-sv.eml", "X-Autoreply header"),
    ("oof-et-subject-only.eml", "auto-generated subject 'Automaatne vastus:'"),
    ("list-mail.eml", "List-Id header"),
    ("newsletter-bulk.eml", "Precedence: bulk"),
    ("noreply-notification.eml", "noreply sender no-reply@accounts.example"),
    ("spam-flagged.eml", "X-Spam-Flag: YES"),
    ("x-loop.eml", "X-Loop header"),
    ("own-plus-address.eml", "our own address"),
]

GAP_FIXTURE = "dsn-mixed.eml"

HUMAN = [
    "human-gmail.eml",
    "human-outlook.eml",  # "RE: Automatic reply: ..." is a person answering an auto-reply
    "human-out-of-office-hours.eml",
    "human-auto-submitted-no.eml",
    "human-tricky-local-part.eml",
    "human-forwarded-mail.eml",  # a forwarded bounce is the customer's own message
]


@pytest.mark.parametrize(("fixture", "expected"), AUTOMATED)
def test_automated_fixtures(fixture: str, expected: str) -> None:
    assert automated_reason(parse_message(_load(fixture)), OWN) == expected


@pytest.mark.parametrize("fixture", HUMAN)
def test_human_fixtures(fixture: str) -> None:
    assert automated_reason(parse_message(_load(fixture)), OWN) is None


def test_delivery_status_inside_multipart_mixed() -> None:
    msg = parse_message(_load(GAP_FIXTURE))
    assert automated_reason(msg, OWN) == "delivery-status report"


def test_fixture_tables_cover_every_file() -> None:
    # A fixture added without a table row would silently test nothing.
    listed = {name for name, _ in AUTOMATED} | set(HUMAN) | {GAP_FIXTURE}
    assert {p.name for p in FIXTURES.glob("*.eml")} == listed


def test_own_address_needs_own_addresses() -> None:
    msg = parse_message(_load("own-plus-address.eml"))
    assert automated_reason(msg) is None


def _mail(*headers: str, subject: str = "Question about order 77") -> bytes:
    lines = [
        "Return-Path: <kim@example.org>",
        "From: Kim Park <kim@example.org>",
        "To: support@shop.example",
        f"Subject: {subject}",
        "Message-ID: <q77@example.org>",
        *headers,
        "Content-Type: text/plain; charset=UTF-8",
        "",
        "Hello, I have a question.",
        "",
    ]
    return "\r\n".join(lines).encode()


def test_plain_mail_is_human() -> None:
    # The baseline every header case below changes in one place.
    assert automated_reason(parse_message(_mail()), OWN) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: Auto-Replied (vacation)", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-notified; owner-email=x@ex.org", "Auto-Submitted: auto-notified"),
        ("Auto-Submitted:", "Auto-Submitted: (empty)"),
        ("Auto-Submitted: No", None),
        ("Auto-Submitted: no (sent by a person)", None),
        ("Precedence: Bulk", "Precedence: bulk"),
        ("Precedence: list", "Precedence: list"),
        ("Precedence: junk", "Precedence: junk"),
        ("Precedence: first-class", None),
        ("List-Unsubscribe: <mailto:unsub@example.org>", "List-Unsubscribe header"),
        ("List-Post: NO", "List-Post header"),
        ("Mailing-List: contact shop-help@example.org; run by ezmlm", "Mailing-List header"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply", "X-Auto-Response-Suppress: AutoReply"),
        ("X-Auto-Response-Suppress: oof", "X-Auto-Response-Suppress: oof"),
        ("X-Auto-Response-Suppress: DR, RN, NRN", None),
        ("X-Loop: support@partner.example", "X-Loop header"),
        ("X-Autorespond: yes", "X-Autorespond header"),
        ("X-Auto-Reply: yes", "X-Auto-Reply header"),
        ("X-Spam-Flag: YES", "X-Spam-Flag: YES"),
        ("X-Spam-Flag: NO", None),
        ("X-Spam-Status: Yes, score=9.9", "X-Spam-Status: Yes"),
        ("X-Spam-Status: No, score=0.1", None),
        ("X-Failed-Recipients: a@example.net", "X-Failed-Recipients header"),
        ("x-ms-exchange-message-is-ndr:", "X-MS-Exchange-Message-Is-NDR header"),
        ("X-MLServer: fml [fml 4.0.3]", "X-MLServer header"),
        ("X-MS-Exchange-Inbox-Rules-Loop: k@ex.org", "X-MS-Exchange-Inbox-Rules-Loop header"),
        (
            "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent",
            "X-MS-Exchange-Generated-Message-Source header",
        ),
        ("X-MS-Has-Attach: yes", None),
        ("Feedback-ID: 123:campaign:esp", None),  # transactional mail a person triggered, too
    ],
)
def test_header_signals(header: str, expected: str | None) -> None:
    assert automated_reason(parse_message(_mail(header)), OWN) == expected


@pytest.mark.parametrize(
    ("from_", "expected"),
    [
        ("noreply@shop-platform.example", "noreply sender noreply@shop-platform.example"),
        ("No-Reply@Example.com", "noreply sender no-reply@example.com"),
        ("do-not-reply@example.com", "noreply sender do-not-reply@example.com"),
        ("donotreply@example.com", "noreply sender donotreply@example.com"),
        ("jira-noreply@example.com", "noreply sender jira-noreply@example.com"),
        ("noreply-dmarc-support@example.com", "noreply sender noreply-dmarc-support@example.com"),
        ("notifications@github.example", "noreply sender notifications@github.example"),
        ("notification@bank.example", "noreply sender notification@bank.example"),
        ("bounces+2931@mail.example", "noreply sender bounces+2931@mail.example"),
        ("bounce-mc.us5_1.2@mcsv.example", "noreply sender bounce-mc.us5_1.2@mcsv.example"),
        ("MAILER-DAEMON@mx.example", "sender MAILER-DAEMON"),
        ("postmaster@mx.example", "sender postmaster"),
        ("SUPPORT@shop.example", "our own address"),
        ("sales+eu@shop.example", "our own address"),
        ("noreen@example.com", None),
        ("bruno.reply@example.com", None),  # "no.reply" only as a whole token
        ("bouncer@example.com", None),
        ("notify.me.please@example.com", None),
        ("support@shop.example.org", None),
        ("support+x@other.example", None),
        ("Mail Delivery Subsystem <mailer-daemon@googlemail.example>", "sender MAILER-DAEMON"),
        ("MAILER-DAEMON <>", "sender MAILER-DAEMON"),
        ("Mail Delivery System <bounce-handler@mx.example>", "sender Mail Delivery System"),
    ],
)
def test_sender_signals(from_: str, expected: str | None) -> None:
    raw = _mail().replace(b"From: Kim Park <kim@example.org>", f"From: {from_}".encode())
    assert automated_reason(parse_message(raw), OWN) == expected


@pytest.mark.parametrize(
    ("return_path", "expected"),
    [
        ("<>", "null Return-Path"),
        ("< >", "null Return-Path"),
        ("<MAILER-DAEMON>", "Return-Path mailer-daemon"),
        ("<kim@example.org>", None),
    ],
)
def test_return_path(return_path: str, expected: str | None) -> None:
    raw = _mail().replace(b"<kim@example.org>\r\nFrom", f"{return_path}\r\nFrom".encode(), 1)
    assert automated_reason(parse_message(raw), OWN) == expected


@pytest.mark.parametrize(
    ("subject", "automated"),
    [
        ("Automatic reply: Order 77", True),
        ("Out of Office: Order 77", True),
        ("Out of the office", True),
        ("Abwesenheitsnotiz: Bestellung 77", True),
        ("Automatische Antwort: Bestellung 77", True),
        ("Autosvar: Order 77", True),
        ("Automaatne vastus: tellimus 77", True),
        ("Automaattinen vastaus: tilaus 77", True),
        ("Undeliverable: Order 77", True),
        ("Unzustellbar: Bestellung 77", True),
        ("Delivery Status Notification (Failure)", True),
        ("Returned mail: see transcript for details", True),
        ("complaint about message from 192.0.2.8", True),
        ("Re: Automatic reply: Order 77", False),
        ("AW: Automatische Antwort: Bestellung 77", False),
        ("SV: Autosvar: Order 77", False),
        ("Out of office hours delivery?", False),
        ("Automatic replies are annoying", False),
        ("Complaint about message from your courier", False),
        ("My parcel was undelivered twice", False),
    ],
)
def test_subject_signal(subject: str, automated: bool) -> None:
    reason = automated_reason(parse_message(_mail(subject=subject)), OWN)
    assert (reason is not None) == automated, reason


def test_order_is_deterministic() -> None:
    # Several signals at once: the standard ones win, in the documented order.
    raw = _mail("X-Loop: x@example.org", "Precedence: bulk", "Auto-Submitted: auto-replied")
    assert automated_reason(parse_message(raw), OWN) == "Auto-Submitted: auto-replied"


def test_body_text_is_never_a_signal() -> None:
    body = b"This is an automatic reply. Out of Office. Auto-Submitted: auto-replied\r\n"
    raw = _mail().replace(b"Hello, I have a question.\r\n", body)
    assert automated_reason(parse_message(raw), OWN) is None


_HEADER_NAMES = st.sampled_from(
    [
        "Auto-Submitted",
        "Precedence",
        "X-Auto-Response-Suppress",
        "X-Spam-Flag",
        "X-Spam-Status",
        "Return-Path",
        "From",
        "Subject",
        "Content-Type",
        "List-Id",
        "X-Loop",
    ]
)
_VALUES = st.text(st.characters(exclude_characters="\r\n", codec="utf-8"), max_size=80)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_HEADER_NAMES, _VALUES), max_size=8), st.lists(_VALUES, max_size=3))
def test_never_raises_on_arbitrary_headers(headers: list[tuple[str, str]], own: list[str]) -> None:
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\nbody\r\n"
    reason = automated_reason(parse_message(raw.encode("utf-8", "surrogatepass")), own)
    assert reason is None or (isinstance(reason, str) and reason)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    reason = automated_reason(parse_message(raw))
    assert reason is None or isinstance(reason, str)


# Where a reply would go (Reply-To before From: Message.reply_address) must itself be a person:
# a human From with a machine or our own address in Reply-To is still human mail (classified,
# logged, reminded about), but nothing may be sent to that address.
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), None),
        (("Reply-To: Kim <kim.home@example.net>",), None),
        (("Reply-To: no-reply@forms.example",), "Reply-To no-reply@forms.example: noreply address"),
        (("Reply-To: MAILER-DAEMON@mx.example",), "Reply-To mailer-daemon@mx.example: mail system"),
        (("Reply-To: postmaster@example.org",), "Reply-To postmaster@example.org: mail system"),
        (("Reply-To: support@shop.example",), "Reply-To support@shop.example: our own address"),
        (
            ("Reply-To: Shop <SALES+eu@Shop.Example>",),
            "Reply-To sales+eu@shop.example: our own address",
        ),
        (
            ("Reply-To: bounces+8812@esp.example",),
            "Reply-To bounces+8812@esp.example: noreply address",
        ),
        (("Reply-To: noreen@example.com",), None),
    ],
)
def test_reply_target_must_be_a_person(headers: tuple[str, ...], expected: str | None) -> None:
    message = parse_message(_mail(*headers))
    assert automated_reason(message, OWN) is None  # the mail itself stays human
    assert reply_target_reason(message, OWN) == expected


def test_reply_target_from_the_second_from_address() -> None:
    # A From whose first address cannot be written to: the reply would go to the second one.
    raw = _mail().replace(b"From: Kim Park <kim@example.org>", b"From: kim, noreply@x.example")
    assert reply_target_reason(parse_message(raw), OWN) == "From noreply@x.example: noreply address"


def test_no_reply_target_is_left_to_the_limiter() -> None:
    raw = _mail().replace(b"From: Kim Park <kim@example.org>", b"From: Kim Park <>")
    assert reply_target_reason(parse_message(raw), OWN) is None
