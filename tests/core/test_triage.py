"""Triage: lazy facts about one message (channel, VIP, sender kind, language, classifier)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from inboxbot.core.message import Message, parse_message
from inboxbot.core.plan import Facts
from inboxbot.core.triage import CustomerRecord, Triage, TriagePolicy, channel_of

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = TriagePolicy(
    shop_address="support@shop.example",
    own_addresses=("info@shop.example",),
    unsupported=("sales@shop.example", "orders@shop.example"),
    languages=("en", "de", "sv", "et"),
    default_language="de",
    vip_addresses=("anna@bigcustomer.example",),
    vip_domains=("bigco.example",),
    repeat_complaints=3,
)


def mail(*, sender: str = "casey@customer.example", to: str | None = "support@shop.example",
         subject: str = "Bestellung", body: str = "Wo ist meine Bestellung?",
         **headers: str) -> Message:
    message = EmailMessage()
    message["From"] = sender
    if to is not None:
        message["To"] = to
    message["Subject"] = subject
    message.set_content(body)  # before the headers: set_content drops Content-* headers
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return parse_message(bytes(message))


@dataclass
class FakeVerdict:
    complaint: bool = False
    urgent: bool = False
    angry: bool = False
    categories: tuple[str, ...] = ()
    cues: dict[str, list[str]] = field(default_factory=dict)


class FakeClassifier:
    def __init__(self, verdict: FakeVerdict | None = None) -> None:
        self.verdict = verdict or FakeVerdict()
        self.calls: list[tuple[str, str, str]] = []

    def classify(self, subject: str, body: str, language: str) -> FakeVerdict:
        self.calls.append((subject, body, language))
        return self.verdict


class FakeDetector:
    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, tuple[str, ...], str]] = []

    def __call__(self, text: str, content_language: str, languages: Sequence[str],
                 default: str) -> str:
        self.calls.append((text, content_language, tuple(languages), default))
        return self.answer


class FakeCustomers:
    def __init__(self, record: CustomerRecord) -> None:
        self.record = record
        self.asked: list[str] = []

    def __call__(self, address: str) -> CustomerRecord:
        self.asked.append(address)
        return self.record


class FakeCalendar:
    def __init__(self, open_now: bool) -> None:
        self.open_now = open_now
        self.asked: list[datetime] = []

    def is_open(self, t: datetime) -> bool:
        self.asked.append(t)
        return self.open_now


# --- channel --------------------------------------------------------------------------------

CHANNELS = [
    ("To support", {"to": "support@shop.example"}, "supported"),
    ("To support, any case", {"to": "Support <SUPPORT@Shop.Example>"}, "supported"),
    ("Cc support", {"to": "friend@else.example", "Cc": "support@shop.example"}, "supported"),
    ("Delivered-To support", {"to": "undisclosed-recipients:;",
                              "Delivered_To": "support@shop.example"}, "supported"),
    ("X-Original-To support", {"to": "list@else.example",
                               "X_Original_To": "support@shop.example"}, "supported"),
    ("plus address", {"to": "support+order-1234@shop.example"}, "supported"),
    ("support and sales", {"to": "sales@shop.example", "Cc": "support@shop.example"},
     "supported"),
    ("sales", {"to": "sales@shop.example"}, "unsupported"),
    ("second unsupported", {"to": "orders@shop.example"}, "unsupported"),
    ("sales plus address", {"to": "sales+promo@shop.example"}, "unsupported"),
    ("sales via Delivered-To", {"to": None, "Delivered_To": "sales@shop.example"},
     "unsupported"),
    ("reply to our noreply", {"to": "noreply@shop.example"}, "unsupported"),
    ("reply to a no-reply", {"to": "no-reply@shop.example"}, "unsupported"),
    ("reply to donotreply", {"to": "DoNotReply@shop.example"}, "unsupported"),
    ("own address is not unsupported", {"to": "info@shop.example"}, "supported"),
    ("no recipients", {"to": None}, "supported"),
    ("someone else", {"to": "friend@else.example"}, "supported"),
    ("noreply-like but not noreply", {"to": "noreplying@shop.example"}, "supported"),
]


@pytest.mark.parametrize(("headers", "expected"), [c[1:] for c in CHANNELS],
                         ids=[c[0] for c in CHANNELS])
def test_channel_of(headers: dict[str, str | None], expected: str) -> None:
    message = mail(**headers)  # type: ignore[arg-type]
    assert channel_of(message, POLICY) == expected
    assert Triage(message, POLICY, NOW).channel == expected


def test_plus_address_of_the_shop_address_in_the_policy() -> None:
    policy = TriagePolicy(shop_address="support+bot@shop.example")
    assert channel_of(mail(to="support@shop.example"), policy) == "supported"


# --- VIP and sender kind ----------------------------------------------------------------------

@pytest.mark.parametrize(("sender", "expected"), [
    ("anna@bigcustomer.example", True),
    ("Anna Big <ANNA@BigCustomer.example>", True),
    ("bob@bigcustomer.example", False),
    ("ceo@bigco.example", True),
    ("ceo@eu.bigco.example", True),
    ("ceo@a.b.bigco.example", True),
    ("ceo@notbigco.example", False),
    ("ceo@bigco.example.evil.example", False),
    ("casey@customer.example", False),
])
def test_vip(sender: str, expected: bool) -> None:
    assert Triage(mail(sender=sender), POLICY, NOW).vip is expected


def test_no_sender_is_not_vip() -> None:
    message = parse_message(b"To: support@shop.example\r\nSubject: x\r\n\r\nbody\r\n")
    t = Triage(message, POLICY, NOW)
    assert t.sender_address == ""
    assert t.vip is False


SENDER_KINDS = [
    ("vip", "anna@bigcustomer.example", CustomerRecord(known=True, recent_complaints=9), "vip"),
    ("new", "casey@customer.example", CustomerRecord(), "new"),
    ("chronic", "casey@customer.example", CustomerRecord(known=True, recent_complaints=3),
     "repeat"),
    ("many", "casey@customer.example", CustomerRecord(known=True, recent_complaints=7),
     "repeat"),
]


@pytest.mark.parametrize(("sender", "record", "kind"), [c[1:] for c in SENDER_KINDS],
                         ids=[c[0] for c in SENDER_KINDS])
def test_sender_kind(sender: str, record: CustomerRecord, kind: str) -> None:
    customers = FakeCustomers(record)
    t = Triage(mail(sender=sender), POLICY, NOW, customer=customers)
    assert t.sender_kind == kind
    assert t.sender_is(kind)
    assert customers.asked in ([], [sender])


def test_customer_lookup_gets_the_sender_once() -> None:
    customers = FakeCustomers(CustomerRecord(known=True))
    t = Triage(mail(sender="Casey <Casey@Customer.example>"), POLICY, NOW, customer=customers)
    assert t.sender_is("new") is False
    assert t.sender_is("repeat") is False
    _ = t.sender_kind
    assert customers.asked == ["casey@customer.example"]


def test_sender_is_unknown_kind() -> None:
    assert Triage(mail(), POLICY, NOW).sender_is("gold") is False


def test_vip_is_also_new_when_never_seen() -> None:
    t = Triage(mail(sender="anna@bigcustomer.example"), POLICY, NOW,
               customer=FakeCustomers(CustomerRecord()))
    assert t.sender_is("vip") and t.sender_is("new")


def test_known_customer_without_complaints_is_not_called_repeat() -> None:
    t = Triage(mail(), POLICY, NOW, customer=FakeCustomers(CustomerRecord(known=True)))
    assert t.sender_is(t.sender_kind)


# --- language ---------------------------------------------------------------------------------

def test_language_comes_from_the_detector() -> None:
    detector = FakeDetector("sv")
    message = mail(subject="Hej", body="Var är min beställning?", Content_Language="sv-SE")
    t = Triage(message, POLICY, NOW, detect_language=detector)
    assert t.language == "sv"
    assert t.language == "sv"
    assert len(detector.calls) == 1
    text, content_language, languages, default = detector.calls[0]
    assert "Hej" in text and "Var är min beställning?" in text
    assert content_language == "sv-se"
    assert languages == ("en", "de", "sv", "et")
    assert default == "de"


def test_language_without_detector_is_the_default() -> None:
    assert Triage(mail(), POLICY, NOW).language == "de"


def test_classifier_gets_subject_text_and_language() -> None:
    classifier = FakeClassifier(FakeVerdict(complaint=True))
    t = Triage(mail(subject="Kaputt", body="Die Tasse ist kaputt."), POLICY, NOW,
               classifier=classifier, detect_language=FakeDetector("de"))
    assert t.complaint is True
    assert classifier.calls == [("Kaputt", "Die Tasse ist kaputt.\n", "de")]


@pytest.mark.parametrize(("verdict", "facts"), [
    (FakeVerdict(), (False, False, False)),
    (FakeVerdict(complaint=True), (True, False, False)),
    (FakeVerdict(urgent=True, angry=True), (False, True, True)),
])
def test_verdict_flags(verdict: FakeVerdict, facts: tuple[bool, bool, bool]) -> None:
    t = Triage(mail(), POLICY, NOW, classifier=FakeClassifier(verdict))
    assert (t.complaint, t.urgent, t.angry) == facts


def test_no_classifier_means_no_complaint() -> None:
    t = Triage(mail(), POLICY, NOW)
    assert (t.verdict, t.complaint, t.urgent, t.angry) == (None, False, False, False)


# --- laziness ---------------------------------------------------------------------------------

def test_header_facts_never_run_the_classifier_or_detector() -> None:
    classifier = FakeClassifier(FakeVerdict(complaint=True))
    detector = FakeDetector("sv")
    customers = FakeCustomers(CustomerRecord())
    calendar = FakeCalendar(open_now=False)
    t = Triage(mail(to="sales@shop.example", Auto_Submitted="auto-replied"), POLICY, NOW,
               calendar=calendar, classifier=classifier, detect_language=detector,
               customer=customers)
    assert t.automated is not None
    assert t.channel == "unsupported"
    assert t.vip is False
    assert t.sender_address == "casey@customer.example"
    assert t.open is False
    assert t.sender_kind == "new"
    assert classifier.calls == [] and detector.calls == []
    assert calendar.asked == [NOW]


def test_vip_check_does_not_ask_the_store() -> None:
    customers = FakeCustomers(CustomerRecord())
    t = Triage(mail(sender="anna@bigcustomer.example"), POLICY, NOW, customer=customers)
    assert t.vip is True and t.sender_kind == "vip"
    assert customers.asked == []


def test_text_facts_are_computed_once() -> None:
    classifier = FakeClassifier(FakeVerdict(complaint=True, urgent=True))
    detector = FakeDetector("en")
    t = Triage(mail(), POLICY, NOW, classifier=classifier, detect_language=detector)
    for _ in range(3):
        assert t.complaint and t.urgent and not t.angry
    assert len(classifier.calls) == 1
    assert len(detector.calls) == 1


def test_open_without_calendar() -> None:
    assert Triage(mail(), POLICY, NOW).open is True


def test_facts_collect_everything() -> None:
    verdict = FakeVerdict(complaint=True, urgent=False, angry=True,
                          cues={"complaint": ["kaputt"], "angry": ["!!!"]})
    t = Triage(mail(sender="ceo@bigco.example"), POLICY, NOW, calendar=FakeCalendar(True),
               classifier=FakeClassifier(verdict), detect_language=FakeDetector("de"))
    assert t.facts() == Facts(
        automated=None, language="de", complaint=True, urgent=False, angry=True, vip=True,
        sender="vip", channel="supported", open=True, now=NOW,
        cues={"complaint": ("kaputt",), "angry": ("!!!",)},
    )


# --- the real classifier ------------------------------------------------------------------------

def test_facts_carry_the_cue_words_of_the_real_classifier() -> None:
    """The shipped classifier returns its cues as a read-only mapping; they must reach the facts
    (and so the complaint log and `stats`' recurring words), not only a test double's dict."""
    from inboxbot.lexicons import default_classifier

    t = Triage(mail(subject="Lamp arrived broken", body="The lamp is broken. I want a refund."),
               POLICY, NOW, classifier=default_classifier(), detect_language=FakeDetector("en"))
    cues = t.facts().cues
    assert t.complaint
    assert cues["complaint"], cues
    assert any("broken" in cue for cue in cues["complaint"]), cues


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied"},
    {"Return_Path": "<>"},
    {"Precedence": "bulk"},
])
def test_automated_mail_is_never_classified(headers: dict[str, str]) -> None:
    """A bounce quoting "delivery failed", or an out-of-office, is no customer's complaint: it is
    never tagged, filed or reminded about as one, whatever the words in it."""
    classifier = FakeClassifier(FakeVerdict(complaint=True, urgent=True, angry=True))
    t = Triage(mail(subject="Delivery failed", body="Broken, refund, lawyer!", **headers),
               POLICY, NOW, classifier=classifier, detect_language=FakeDetector("en"))
    assert t.automated is not None
    assert (t.verdict, t.complaint, t.urgent, t.angry) == (None, False, False, False)
    assert t.facts().cues == {}
    assert classifier.calls == []


@pytest.mark.parametrize(("subject", "body"), [
    ("Teekanne kaputt", "Die Teekanne kam mit einem Sprung an. Ich möchte mein Geld zurück."),
    ("Trasig vas", "Vasen kom trasig och jag vill ha pengarna tillbaka."),
    ("Vale toode", "Sain vale toote ja soovin raha tagasi, pakend oli ka katki."),
])
def test_a_complaint_in_a_language_the_shop_does_not_answer_in_is_still_a_complaint(
    subject: str, body: str,
) -> None:
    """An English-only shop still files a German, Swedish or Estonian complaint; it answers
    in English."""
    from inboxbot.core.language import detect_language
    from inboxbot.lexicons import default_classifier

    english_only = TriagePolicy(shop_address="support@shop.example", languages=("en",),
                                default_language="en")
    t = Triage(mail(subject=subject, body=body), english_only, NOW,
               classifier=default_classifier(), detect_language=detect_language)
    assert t.language == "en"
    assert t.complaint, t.verdict


def test_a_shop_answering_in_every_lexicon_language_detects_once() -> None:
    detector = FakeDetector("sv")
    t = Triage(mail(), POLICY, NOW, classifier=FakeClassifier(), detect_language=detector)
    assert t.text_language == t.language == "sv"
    t.facts()
    assert len(detector.calls) == 1


def test_the_unsupported_channels_reach_us_too() -> None:
    # A reply to one of them lands back in this mailbox: no reply is written to it.
    from inboxbot.core.automated import reply_target_reason

    notice = mail(sender="orders@shop.example", subject="New order 4711", body="Placed.")
    assert reply_target_reason(notice, POLICY.all_own) is None
    assert reply_target_reason(notice, POLICY.reaching_us) == (
        "From orders@shop.example: our own address")
