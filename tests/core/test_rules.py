"""Rules: compile errors, every condition, every action and the evaluation semantics."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from types import SimpleNamespace

import pytest

from inboxbot.core.message import Message, parse_message
from inboxbot.core.plan import Plan
from inboxbot.core.rules import (
    REGISTRY,
    RuleDocument,
    RuleSet,
    address_matches,
    compile_rules,
    evaluate,
    keyword_for,
    rule_header_lines,
    rule_matches,
    trace_rule,
)
from inboxbot.core.triage import CustomerRecord, Triage, TriagePolicy
from inboxbot.errors import RuleError

FILE = "rules/10-test.toml"
ROLES = {"vip": "VIP", "urgent": "Urgent", "resolved": "Resolved", "sent": "Sent",
         "quarantine": "Quarantine", "channel": "Channels"}
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = TriagePolicy(
    shop_address="support@shop.example",
    own_addresses=("info@shop.example",),
    unsupported=("sales@shop.example",),
    languages=("en", "de", "sv", "et"),
    default_language="en",
    vip_addresses=("anna@bigcustomer.example",),
    vip_domains=("bigco.example",),
    repeat_complaints=3,
)


# --- fakes and builders ---------------------------------------------------------------------

@dataclass
class FakeVerdict:
    complaint: bool = False
    urgent: bool = False
    angry: bool = False
    categories: tuple[str, ...] = ()
    cues: dict[str, tuple[str, ...]] = field(default_factory=dict)


class FakeClassifier:
    def __init__(self, **flags: bool) -> None:
        self.verdict = FakeVerdict(**flags)
        self.calls = 0

    def classify(self, subject: str, body: str, language: str) -> FakeVerdict:
        self.calls += 1
        return self.verdict


class FakeCalendar:
    def __init__(self, open_now: bool) -> None:
        self.open_now = open_now

    def is_open(self, t: datetime) -> bool:
        return self.open_now


def mail(*, sender: str = "Casey Customer <casey@customer.example>",
         to: str = "support@shop.example", subject: str = "Question about my order",
         body: str = "Hello, when will my order arrive?", attachment: bool = False,
         **headers: str) -> Message:
    message = EmailMessage()
    message["From"] = sender
    if to:
        message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<m1@customer.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    if attachment:
        message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf",
                               filename="invoice.pdf")
    return parse_message(bytes(message))


def triage(message: Message | None = None, *, classifier: FakeClassifier | None = None,
           language: str | None = None, record: CustomerRecord | None = None,
           open_now: bool | None = None) -> Triage:
    detect = None if language is None else (lambda *_args: language)
    return Triage(
        message or mail(), POLICY, NOW,
        calendar=None if open_now is None else FakeCalendar(open_now),
        classifier=classifier, detect_language=detect,
        customer=lambda _address: record or CustomerRecord(),
    )


def document(text: str, file: str = FILE) -> RuleDocument:
    return RuleDocument(file, tomllib.loads(text), rule_header_lines(text))


def compile_text(*texts: str) -> RuleSet:
    files = [f"rules/{10 * (i + 1)}-test.toml" for i in range(len(texts))]
    return compile_rules([document(t, f) for t, f in zip(texts, files, strict=True)], ROLES,
                         REGISTRY)


def one_rule(when: str, then: str = 'then.tag = "x"') -> RuleSet:
    return compile_text(f'[[rule]]\nname = "r"\n{when}\n{then}\n')


def compile_error(text: str) -> str:
    with pytest.raises(RuleError) as caught:
        compile_text(text)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- compile errors -------------------------------------------------------------------------

# Each case puts the bad rule second, after a comment, so the line must really be counted.
PREFIX = '# a comment\n[[rule]]\nname = "fine"\nthen.tag = "ok"\n\n# the bad one\n'
BAD_LINE = 7

BAD_RULES = [
    ("unknown condition", 'when.colour = "red"\nthen.tag = "x"', "unknown condition 'colour'"),
    ("unknown action", 'then.delete = true', "unknown action 'delete'"),
    ("unknown rule key", 'when.urgent = true\nthen.tag = "x"\nprority = 1', "'prority'"),
    ("no actions", "when.urgent = true", "has no actions"),
    ("flag condition not a bool", 'when.complaint = "yes"\nthen.tag = "x"',
     "when.complaint must be true or false"),
    ("automated not a bool", 'when.automated = 0\nthen.tag = "x"', "when.automated"),
    ("sender kind", 'when.sender = "gold"\nthen.tag = "x"', 'when.sender must be "vip"'),
    ("channel value", 'when.channel = "email"\nthen.tag = "x"', "when.channel"),
    ("bad regex", 'when.body = "re:(unclosed"\nthen.tag = "x"', "bad regular expression"),
    # a language detection never answers made the rule silently never match
    ("unknown language", 'when.language = "fr"\nthen.tag = "x"',
     "when.language must be \"en\", \"de\", \"sv\" or \"et\" (or a list of them), got 'fr'"),
    ("country code for a language", 'when.language = ["de", "se"]\nthen.tag = "x"',
     "got 'se'"),
    ("empty subject list", "when.subject = []\nthen.tag = \"x\"", "list of strings"),
    ("from not a string", "when.from = 5\nthen.tag = \"x\"", "address pattern"),
    # the message said "this condition" / "an address pattern", not which of the rule's
    ("regex names its condition", 'when.subject = "x"\nwhen.body = "re:(x"\nthen.tag = "x"',
     "when.body: bad regular expression '(x'"),
    ("address names its condition", 'when.to = ["a@b.example", 5]\nthen.tag = "x"',
     "when.to must be an address pattern or a list of them, got"),
    ("header not a table", 'when.header = "X-Mailer"\nthen.tag = "x"', "when.header"),
    ("header unknown key", 'when.header = { name = "X", equals = "y" }\nthen.tag = "x"',
     "'equals'"),
    ("any not a list", 'when.any = { urgent = true }\nthen.tag = "x"', "when.any"),
    ("any with unknown inner", 'when.any = [{ colour = "red" }]\nthen.tag = "x"',
     "unknown condition 'colour'"),
    ("not a list", "when.not = []\nthen.tag = \"x\"", "when.not"),
    ("stop not a bool", 'then.tag = "x"\nstop = "yes"', "'stop' and 'enabled'"),
    ("enabled not a bool", 'then.tag = "x"\nenabled = 1', "'stop' and 'enabled'"),
    ("tag with a space", 'then.tag = ["has space"]', "tag 'has space'"),
    ("tag empty", 'then.tag = [""]', "tag ''"),
    ("flag unknown", 'then.flag = "purple"', "flag 'purple'"),
    ("reply number", "then.reply = 5", "template"),
    ("reply false", "then.reply = false", "template"),
    ("reply unknown key", 'then.reply = { template = "ack", lang = "de" }', "template"),
    ("forward string", 'then.forward = "boss@shop.example"', "forward must be"),
    ("remind not a table", 'then.remind = "2d"', "remind must be a table"),
    ("remind to whom", 'then.remind = { to = "boss" }', "remind.to"),
    ("remind after", 'then.remind = { after = "soon" }', "remind.after"),
    ("remind after number", "then.remind = { after = 2 }", "remind.after"),
    ("move empty", 'then.move = ""', "a folder must be"),
    ("move parent", 'then.move = "../x"', "'../x' is not a folder of this mailbox"),
    ("move inner parent", 'then.move = "Support/../../x"', "is not a folder of this mailbox"),
    ("move shared namespace", 'then.move = "#shared/x"', "is not a folder of this mailbox"),
    ("move absolute", 'then.move = "/abs"', "is not a folder of this mailbox"),
    ("move home", 'then.move = "~/mail"', "is not a folder of this mailbox"),
    ("move other users", 'then.move = "Other Users/bob/INBOX"', "not a folder of this mailbox"),
    ("move empty part", 'then.move = "Support//VIP"', "is not a folder of this mailbox"),
    ("move control char", 'then.move = "Sup\\tport"', "is not a folder of this mailbox"),
    ("copy parent", 'then.copy = "../x"', "is not a folder of this mailbox"),
    ("move shared namespace path", 'then.move = "shared/bob/INBOX"', "not a folder of this"),
    ("role to a bad literal", 'then.move = ".."', "is not a folder of this mailbox"),
]


@pytest.mark.parametrize(("body", "problem"), [c[1:] for c in BAD_RULES],
                         ids=[c[0] for c in BAD_RULES])
def test_compile_error_names_file_line_and_rule(body: str, problem: str) -> None:
    message = compile_error(PREFIX + f'[[rule]]\nname = "bad one"\n{body}\n')
    assert message.startswith(f"{FILE}:{BAD_LINE}: rule 'bad one': ")
    assert problem in message


def test_rule_without_name_names_file_and_line() -> None:
    message = compile_error(PREFIX + '[[rule]]\nthen.tag = "x"\n')
    assert message.startswith(f"{FILE}:{BAD_LINE}: ")
    assert "without a name" in message


def test_unknown_top_level_key_names_the_file() -> None:
    message = compile_error('[[rules]]\nname = "x"\nthen.tag = "x"\n')
    assert message.startswith(FILE) and "'rules'" in message


def test_unknown_condition_lists_the_known_ones() -> None:
    message = compile_error('[[rule]]\nname = "x"\nwhen.colour = 1\nthen.tag = "x"\n')
    for known in ("complaint", "from", "header", "sender", "any", "not"):
        assert known in message


def test_duplicate_names_across_files() -> None:
    first = '[[rule]]\nname = "same"\nthen.tag = "a"\n'
    second = '# comment\n\n[[rule]]\nname = "same"\nthen.tag = "b"\n'
    with pytest.raises(RuleError) as caught:
        compile_text(first, second)
    message = str(caught.value)
    assert message.startswith("rules/20-test.toml:3: rule 'same'")
    assert "rules/10-test.toml:1" in message


def test_rule_lines_and_order_across_files() -> None:
    ruleset = compile_text('[[rule]]\nname = "a"\nthen.tag = "a"\n\n[[rule]]\nname = "b"\n'
                           'then.tag = "b"\n', '\n[[rule]]\nname = "c"\nthen.tag = "c"\n')
    assert [(r.name, r.where) for r in ruleset.rules] == [
        ("a", "rules/10-test.toml:1"), ("b", "rules/10-test.toml:5"),
        ("c", "rules/20-test.toml:2")]


def test_rule_lines_with_spaced_header() -> None:
    ruleset = compile_text('[[ rule ]]\nname = "a"\nthen.tag = "a"\n\n[[rule]]\nname = "b"\n'
                           'then.tag = "b"\n')
    assert [r.where for r in ruleset.rules] == ["rules/10-test.toml:1", "rules/10-test.toml:5"]


@pytest.mark.parametrize("folder", ["Shared Projects", "Sharedrive", "Other Users of X"])
def test_folder_named_like_a_namespace_is_allowed(folder: str) -> None:
    ruleset = one_rule("", f'then.move = "{folder}"')
    assert ruleset.rules[0].actions == (("move", {"folder": folder}),)


@pytest.mark.parametrize("folder", ["Shareholders", "INBOX/shared", "Support/VIP"])
def test_plain_folder_names_are_allowed(folder: str) -> None:
    ruleset = one_rule("", f'then.move = "{folder}"')
    assert ruleset.rules[0].actions == (("move", {"folder": folder}),)


# --- conditions -----------------------------------------------------------------------------

def holds(when: str, t: Triage) -> bool:
    ruleset = one_rule(when)
    return rule_matches(ruleset.rules[0], t)


class _Catalog:
    """One marketplace robot; `messages` says whether its notice carries a customer message."""

    def __init__(self, messages: bool | None) -> None:
        self.messages = messages

    def match(self, _message: Message) -> object:
        if self.messages is None:
            return None
        return SimpleNamespace(name="Etsy", kind="marketplace",
                               carries_customer_message=self.messages)


def _notified(messages: bool | None) -> Triage:
    result = triage()
    result.notifiers = _Catalog(messages)  # type: ignore[assignment]
    return result


def by_mail(**kwargs: object) -> Callable[[], Triage]:
    return lambda: triage(mail(**kwargs))  # type: ignore[arg-type]


CONDITIONS: list[tuple[str, str, Callable[[], Triage], bool]] = [
    # from: globs, exact address, bare domain with subdomains, case
    ("from glob", 'when.from = "*@bigco.example"', by_mail(sender="anna@bigco.example"), True),
    ("from glob other", 'when.from = "*@bigco.example"', by_mail(sender="a@other.example"),
     False),
    ("from glob is not subdomain", 'when.from = "*@bigco.example"',
     by_mail(sender="a@eu.bigco.example"), False),
    ("from bare domain", 'when.from = "bigco.example"', by_mail(sender="a@bigco.example"), True),
    ("from bare domain subdomain", 'when.from = "bigco.example"',
     by_mail(sender="a@eu.bigco.example"), True),
    ("from bare domain lookalike", 'when.from = "bigco.example"',
     by_mail(sender="a@notbigco.example"), False),
    ("from exact any case", 'when.from = "ANNA@BigCo.example"',
     by_mail(sender="Anna <Anna@BIGCO.EXAMPLE>"), True),
    ("from list", 'when.from = ["x@y.example", "*@customer.example"]', by_mail(), True),
    ("from list none", 'when.from = ["x@y.example", "*@z.example"]', by_mail(), False),
    # to: To, Cc, Delivered-To, X-Original-To
    ("to To", 'when.to = "sales@shop.example"', by_mail(to="sales@shop.example"), True),
    ("to Cc", 'when.to = "sales@shop.example"', by_mail(Cc="sales@shop.example"), True),
    ("to Delivered-To", 'when.to = "sales@shop.example"',
     by_mail(Delivered_To="sales@shop.example"), True),
    ("to X-Original-To", 'when.to = "sales@shop.example"',
     by_mail(X_Original_To="sales@shop.example"), True),
    ("to elsewhere", 'when.to = "sales@shop.example"', by_mail(), False),
    ("to Reply-To is not a recipient", 'when.to = "sales@shop.example"',
     by_mail(Reply_To="sales@shop.example"), False),
    ("to domain glob", 'when.to = "*@shop.example"', by_mail(), True),
    # subject and body: substrings (any case) or re:
    ("subject substring", 'when.subject = "refund"', by_mail(subject="REFUND please"), True),
    ("subject missing", 'when.subject = "refund"', by_mail(subject="Thanks"), False),
    ("subject regex", 'when.subject = "re:^order #\\\\d+"', by_mail(subject="Order #123 late"),
     True),
    ("subject regex anchored", 'when.subject = "re:^order #\\\\d+"',
     by_mail(subject="My order #123"), False),
    ("subject list", 'when.subject = ["invoice", "re:\\\\brefund\\\\b"]',
     by_mail(subject="a refund?"), True),
    ("subject umlaut casefold", 'when.subject = "STRASSE"', by_mail(subject="Hauptstraße 5"),
     True),
    ("body substring", 'when.body = "broken"', by_mail(body="The mug arrived BROKEN."), True),
    ("body absent", 'when.body = "broken"', by_mail(), False),
    ("body regex", 'when.body = "re:order\\\\s+#?\\\\d{5}"', by_mail(body="my order 10482"),
     True),
    ("subject does not search body", 'when.subject = "broken"', by_mail(body="broken"), False),
    # header
    ("header contains", 'when.header = { name = "X-Mailer", contains = "outlook" }',
     by_mail(X_Mailer="Microsoft Outlook 16.0"), True),
    ("header contains other", 'when.header = { name = "X-Mailer", contains = "outlook" }',
     by_mail(X_Mailer="Thunderbird"), False),
    ("header name any case", 'when.header = { name = "x-mailer", contains = "thunder" }',
     by_mail(X_Mailer="Thunderbird"), True),
    ("header matches", 'when.header = { name = "X-Priority", matches = "^1" }',
     by_mail(X_Priority="1 (Highest)"), True),
    ("header matches not", 'when.header = { name = "X-Priority", matches = "^1" }',
     by_mail(X_Priority="3 (Normal)"), False),
    ("header present", 'when.header = { name = "X-Shop-Order" }', by_mail(X_Shop_Order="7"),
     True),
    ("header absent fails", 'when.header = { name = "X-Shop-Order" }', by_mail(), False),
    ("header absent via not", 'when.not = { header = { name = "X-Shop-Order" } }', by_mail(),
     True),
    ("header present via not", 'when.not = { header = { name = "X-Shop-Order" } }',
     by_mail(X_Shop_Order="7"), False),
    # notifier: a catalog of notification robots
    ("notifier any", "when.notifier = true", lambda: _notified(True), True),
    ("notifier none", "when.notifier = true", lambda: _notified(None), False),
    ("notifier false", "when.notifier = false", lambda: _notified(None), True),
    ("notifier message", 'when.notifier = "message"', lambda: _notified(True), True),
    ("notifier no message", 'when.notifier = "message"', lambda: _notified(False), False),
    ("notifier kind", 'when.notifier = "marketplace"', lambda: _notified(False), True),
    ("notifier other kind", 'when.notifier = "shipping"', lambda: _notified(False), False),
    # sender
    ("sender vip address", 'when.sender = "vip"', by_mail(sender="anna@bigcustomer.example"),
     True),
    ("sender vip domain", 'when.sender = "vip"', by_mail(sender="b@eu.bigco.example"), True),
    ("sender not vip", 'when.sender = "vip"', by_mail(), False),
    ("sender new", 'when.sender = "new"', lambda: triage(record=CustomerRecord()), True),
    ("sender known is not new", 'when.sender = "new"',
     lambda: triage(record=CustomerRecord(known=True)), False),
    ("sender repeat", 'when.sender = "repeat"',
     lambda: triage(record=CustomerRecord(known=True, recent_complaints=3)), True),
    ("sender two complaints", 'when.sender = "repeat"',
     lambda: triage(record=CustomerRecord(known=True, recent_complaints=2)), False),
    ("sender list", 'when.sender = ["vip", "repeat"]',
     lambda: triage(record=CustomerRecord(known=True, recent_complaints=5)), True),
    # classifier facts
    ("complaint", "when.complaint = true", lambda: triage(classifier=FakeClassifier(
        complaint=True)), True),
    ("no complaint", "when.complaint = true", lambda: triage(classifier=FakeClassifier()),
     False),
    ("complaint false", "when.complaint = false", lambda: triage(classifier=FakeClassifier()),
     True),
    ("complaint without classifier", "when.complaint = true", lambda: triage(), False),
    ("urgent", "when.urgent = true", lambda: triage(classifier=FakeClassifier(urgent=True)),
     True),
    ("not urgent", "when.urgent = true", lambda: triage(classifier=FakeClassifier(
        complaint=True)), False),
    ("angry", "when.angry = true", lambda: triage(classifier=FakeClassifier(angry=True)), True),
    ("not angry", "when.angry = true", lambda: triage(classifier=FakeClassifier()), False),
    # automated
    ("automated", "when.automated = true", by_mail(Auto_Submitted="auto-replied"), True),
    ("automated list", "when.automated = true", by_mail(List_Id="<deals.brand.example>"), True),
    ("human", "when.automated = false", by_mail(), True),
    ("human is not automated", "when.automated = true", by_mail(), False),
    # hours, attachments, channel, language
    ("open", "when.open = true", lambda: triage(open_now=True), True),
    ("closed", "when.open = true", lambda: triage(open_now=False), False),
    ("closed false", "when.open = false", lambda: triage(open_now=False), True),
    ("has attachment", "when.has_attachment = true", by_mail(attachment=True), True),
    ("no attachment", "when.has_attachment = true", by_mail(), False),
    ("channel supported", 'when.channel = "supported"', by_mail(), True),
    ("channel unsupported", 'when.channel = "unsupported"', by_mail(to="sales@shop.example"),
     True),
    ("channel not unsupported", 'when.channel = "unsupported"', by_mail(), False),
    ("language", 'when.language = "de"', lambda: triage(language="de"), True),
    ("language other", 'when.language = "de"', lambda: triage(language="sv"), False),
    ("language list", 'when.language = ["sv", "ET"]', lambda: triage(language="et"), True),
    ("language default", 'when.language = "en"', lambda: triage(), True),
    # any / not / several keys
    ("any first", 'when.any = [{ subject = "refund" }, { body = "broken" }]',
     by_mail(subject="refund"), True),
    ("any second", 'when.any = [{ subject = "refund" }, { body = "broken" }]',
     by_mail(body="it is broken"), True),
    ("any none", 'when.any = [{ subject = "refund" }, { body = "broken" }]', by_mail(), False),
    ("any group needs all", 'when.any = [{ subject = "refund", body = "broken" }]',
     by_mail(subject="refund"), False),
    ("not", 'when.not = { from = "*@shop.example" }', by_mail(), True),
    ("not holds", 'when.not = { from = "*@shop.example" }', by_mail(sender="a@shop.example"),
     False),
    ("all keys must hold", 'when.subject = "refund"\nwhen.body = "broken"',
     by_mail(subject="refund", body="fine"), False),
    ("all keys hold", 'when.subject = "refund"\nwhen.body = "broken"',
     by_mail(subject="refund", body="broken"), True),
    ("no conditions always", "", by_mail(), True),
]


@pytest.mark.parametrize(("when", "make", "expected"), [c[1:] for c in CONDITIONS],
                         ids=[c[0] for c in CONDITIONS])
def test_condition(when: str, make: Callable[[], Triage], expected: bool) -> None:
    assert holds(when, make()) is expected


def test_every_builtin_condition_is_covered() -> None:
    used = {c[1].split("=")[0].split(".")[1].strip() for c in CONDITIONS if c[1]}
    assert set(REGISTRY.conditions) <= used


@pytest.mark.parametrize(("pattern", "address", "expected"), [
    ("*@shop.example", "a@shop.example", True),
    ("shop.example", "a@shop.example", True),
    ("shop.example", "a@mail.shop.example", True),
    ("shop.example", "a@badshop.example", False),
    ("*.shop.example", "a@mail.shop.example", True),
    ("a?@shop.example", "ab@shop.example", True),
    ("a@shop.example", "b@shop.example", False),
])
def test_address_matches(pattern: str, address: str, expected: bool) -> None:
    assert address_matches(pattern, address) is expected


def test_trace_shows_each_condition_and_what_it_saw() -> None:
    ruleset = one_rule('when.subject = "refund"\nwhen.from = "*@customer.example"\n'
                       'when.channel = "unsupported"')
    trace = trace_rule(ruleset.rules[0], triage(mail(subject="Refund now")))
    assert trace.matched is False
    assert [(c.key, c.holds, c.seen) for c in trace.conditions] == [
        ("subject", True, "Refund now"),
        ("from", True, "casey@customer.example"),
        ("channel", False, "supported"),
    ]


# --- actions --------------------------------------------------------------------------------

ACTIONS = [
    ('then.tag = ["complaint", "urgent"]',
     [("tag", {"keyword": "$Complaint"}), ("tag", {"keyword": "$Urgent"})]),
    ('then.tag = "complaint"', [("tag", {"keyword": "$Complaint"})]),
    ('then.tag = ["$VIP"]', [("tag", {"keyword": "$VIP"})]),
    ('then.tag = ["$custom_mark"]', [("tag", {"keyword": "$custom_mark"})]),
    ('then.tag = ["vip"]', [("tag", {"keyword": "$VIP"})]),
    ("then.flag = true", [("flag", {"flag": "\\Flagged"})]),
    ('then.flag = "seen"', [("flag", {"flag": "\\Seen"})]),
    ('then.flag = ["Answered", "\\\\Flagged"]',
     [("flag", {"flag": "\\Answered"}), ("flag", {"flag": "\\Flagged"})]),
    ('then.move = "urgent"', [("move", {"folder": "Urgent"})]),
    ('then.move = "vip"', [("move", {"folder": "VIP"})]),
    ('then.move = "Support/Returns"', [("move", {"folder": "Support/Returns"})]),
    ('then.move = "INBOX.Returns"', [("move", {"folder": "INBOX.Returns"})]),
    ('then.copy = "resolved"', [("copy", {"folder": "Resolved"})]),
    ('then.reply = "ack"', [("reply", {"template": "ack"})]),
    ("then.reply = true", [("reply", {"template": "ack"})]),
    ('then.reply = { template = "thanks" }', [("reply", {"template": "thanks"})]),
    ("then.redirect = true", [("redirect", {"template": "redirect"})]),
    ('then.redirect = "moved"', [("redirect", {"template": "moved"})]),
    ("then.forward = true", [("forward", {"to": ""})]),
    ('then.forward = { to = "Boss@Shop.example" }', [("forward", {"to": "boss@shop.example"})]),
    ('then.remind = { after = "promise", to = "staff" }',
     [("remind", {"after": "promise", "to": "staff", "kind": "sla"})]),
    ("then.remind = {}", [("remind", {"after": "promise", "to": "staff", "kind": "sla"})]),
    ('then.remind = { after = "2d", to = "customer" }',
     [("remind", {"after": "2d", "to": "customer", "kind": "checkin"})]),
    ('then.tag = "a"\nthen.move = "urgent"\nthen.reply = "ack"',
     [("tag", {"keyword": "$A"}), ("move", {"folder": "Urgent"}),
      ("reply", {"template": "ack"})]),
]


@pytest.mark.parametrize(("then", "expected"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_action_compiles_to(then: str, expected: list[tuple[str, dict[str, object]]]) -> None:
    ruleset = one_rule("", then)
    assert [(kind, dict(args)) for kind, args in ruleset.rules[0].actions] == expected


def test_every_builtin_action_is_covered() -> None:
    used = {then.split("=")[0].split(".")[1].strip() for then, _ in ACTIONS}
    assert set(REGISTRY.actions) <= used


@pytest.mark.parametrize(("tag", "keyword"), [
    ("complaint", "$Complaint"), ("urgent", "$Urgent"), ("$VIP", "$VIP"), ("$Overdue", "$Overdue"),
    ("vip", "$VIP"), ("VIP", "$VIP"), ("followup", "$FollowUp"), ("order-42", "$Order-42"),
    ("$vip", "$vip"),
])
def test_keyword_for(tag: str, keyword: str) -> None:
    assert keyword_for(tag) == keyword


# --- evaluation -----------------------------------------------------------------------------

def plan_for(text: str, t: Triage | None = None) -> tuple[RuleSet, Plan]:
    ruleset = compile_text(text)
    return ruleset, evaluate(ruleset, t or triage())


def test_every_matching_rule_contributes_in_order() -> None:
    _, plan = plan_for(
        '[[rule]]\nname = "a"\nthen.tag = "first"\n'
        '[[rule]]\nname = "b"\nwhen.subject = "nomatch"\nthen.tag = "never"\n'
        '[[rule]]\nname = "c"\nthen.tag = "second"\nthen.flag = true\n')
    assert plan.matched == ("a", "c")
    assert [(a.type, dict(a.args), a.skipped) for a in plan.actions] == [
        ("tag", {"keyword": "$First"}, None),
        ("tag", {"keyword": "$Second"}, None),
        ("flag", {"flag": "\\Flagged"}, None),
    ]
    reasons = [a.reason for a in plan.actions]
    assert reasons[0] == "rule 'a' (rules/10-test.toml:1)"
    assert reasons[1] == "rule 'c' (rules/10-test.toml:8)"


def test_moved_at_most_once_first_rule_wins() -> None:
    _, plan = plan_for('[[rule]]\nname = "vip"\nthen.move = "vip"\n'
                       '[[rule]]\nname = "urgent"\nthen.move = "urgent"\nthen.tag = "u"\n')
    moves = [a for a in plan.actions if a.type == "move"]
    assert [(a.args["folder"], a.skipped) for a in moves] == [
        ("VIP", None), ("Urgent", "already moved by rule 'vip'")]
    assert [a.args for a in plan.of_type("move")] == [{"folder": "VIP"}]
    assert plan.of_type("tag")  # the rest of the rule still applies


def test_copies_are_not_limited() -> None:
    _, plan = plan_for('[[rule]]\nname = "a"\nthen.copy = "vip"\nthen.move = "urgent"\n'
                       '[[rule]]\nname = "b"\nthen.copy = "resolved"\n')
    assert [a.args["folder"] for a in plan.of_type("copy")] == ["VIP", "Resolved"]


@pytest.mark.parametrize(("first", "second"), [
    ("reply", "reply"), ("reply", "redirect"), ("redirect", "reply"),
])
def test_answered_at_most_once(first: str, second: str) -> None:
    _, plan = plan_for(f'[[rule]]\nname = "one"\nthen.{first} = true\n'
                       f'[[rule]]\nname = "two"\nthen.{second} = true\n')
    answers = [a for a in plan.actions if a.type in ("reply", "redirect")]
    assert [(a.type, a.skipped) for a in answers] == [
        (first, None), (second, "already answered by rule 'one'")]


def test_stop_ends_evaluation() -> None:
    _, plan = plan_for('[[rule]]\nname = "a"\nthen.tag = "a"\nstop = true\n'
                       '[[rule]]\nname = "b"\nthen.tag = "b"\n')
    assert plan.matched == ("a",)
    assert [a.args["keyword"] for a in plan.actions] == ["$A"]


def test_stop_of_a_rule_that_does_not_match_changes_nothing() -> None:
    _, plan = plan_for('[[rule]]\nname = "a"\nwhen.subject = "zzz"\nstop = true\n'
                       '[[rule]]\nname = "b"\nthen.tag = "b"\n')
    assert plan.matched == ("b",)


def test_disabled_rules_are_ignored() -> None:
    ruleset, plan = plan_for('[[rule]]\nname = "off"\nenabled = false\nthen.move = "vip"\n'
                             'stop = true\n[[rule]]\nname = "on"\nthen.move = "urgent"\n')
    assert [r.name for r in ruleset.rules] == ["off", "on"]
    assert [r.name for r in ruleset.enabled] == ["on"]
    assert plan.matched == ("on",)
    assert [a.args["folder"] for a in plan.of_type("move")] == ["Urgent"]
    assert ruleset.folders_used() == frozenset({"Urgent"})


AUTOMATED = [
    ("auto-submitted", {"Auto_Submitted": "auto-replied"}),
    ("list", {"List_Id": "<news.brand.example>"}),
    ("noreply sender", {"sender": "noreply@brand.example"}),
    ("own address", {"sender": "info@shop.example"}),
]


@pytest.mark.parametrize("kwargs", [a[1] for a in AUTOMATED], ids=[a[0] for a in AUTOMATED])
def test_automated_mail_is_never_answered(kwargs: dict[str, str]) -> None:
    t = triage(mail(**kwargs))
    assert t.automated is not None
    _, plan = plan_for(
        '[[rule]]\nname = "all"\nthen.reply = "ack"\nthen.forward = true\n'
        'then.remind = { after = "2d", to = "customer" }\nthen.tag = "seen-by-bot"\n'
        'then.move = "resolved"\n'
        '[[rule]]\nname = "staff"\nthen.remind = { to = "staff" }\n'
        '[[rule]]\nname = "redirect"\nthen.redirect = true\n', t)
    skipped = {a.type: a.skipped for a in plan.actions if a.skipped}
    assert set(skipped) == {"reply", "forward", "remind", "redirect"}
    for kind in ("reply", "forward", "remind"):
        assert skipped[kind] == f"automated mail ({t.automated}): never answered"
    assert [a.type for a in plan.active] == ["tag", "move", "remind"]
    assert plan.active[-1].args["to"] == "staff"


def test_second_answer_to_automated_mail_shows_the_automated_reason() -> None:
    t = triage(mail(Auto_Submitted="auto-replied"))
    _, plan = plan_for('[[rule]]\nname = "a"\nthen.reply = true\n'
                       '[[rule]]\nname = "b"\nthen.redirect = true\n', t)
    assert all(str(a.skipped).startswith("automated mail")
               for a in plan.actions)


def test_human_mail_is_answered() -> None:
    _, plan = plan_for('[[rule]]\nname = "a"\nthen.reply = "ack"\n'
                       'then.remind = { after = "2d", to = "customer" }\n')
    assert [a.type for a in plan.active] == ["reply", "remind"]


def test_to_json_carries_type_args_reason_and_skip() -> None:
    _, plan = plan_for('[[rule]]\nname = "a"\nthen.move = "vip"\n'
                       '[[rule]]\nname = "b"\nthen.move = "urgent"\n')
    assert [a.to_json() for a in plan.actions] == [
        {"type": "move", "folder": "VIP", "reason": "rule 'a' (rules/10-test.toml:1)"},
        {"type": "move", "folder": "Urgent", "reason": "rule 'b' (rules/10-test.toml:4)",
         "skipped": "already moved by rule 'a'"},
    ]


# --- needs_text and laziness ------------------------------------------------------------------

HEADER_ONLY = [
    'when.from = "*@x.example"', 'when.to = "sales@shop.example"', 'when.subject = "refund"',
    'when.header = { name = "X-Mailer", contains = "x" }', 'when.sender = "vip"',
    "when.automated = false", 'when.channel = "supported"', "when.open = true",
    'when.any = [{ subject = "a" }, { from = "b.example" }]', 'when.not = { subject = "x" }',
    "",
]
NEEDS_TEXT = [
    'when.body = "broken"', "when.complaint = true", "when.urgent = true", "when.angry = true",
    'when.language = "de"', "when.has_attachment = true",
    'when.any = [{ subject = "a" }, { body = "b" }]', "when.not = { complaint = true }",
    'when.not = { any = [{ language = "sv" }] }',
]


@pytest.mark.parametrize("when", HEADER_ONLY)
def test_header_only_rules_need_no_text(when: str) -> None:
    assert one_rule(when).needs_text is False


@pytest.mark.parametrize("when", NEEDS_TEXT)
def test_text_rules_need_text(when: str) -> None:
    assert one_rule(when).needs_text is True


def test_disabled_text_rule_needs_no_text() -> None:
    ruleset = compile_text('[[rule]]\nname = "a"\nwhen.subject = "x"\nthen.tag = "a"\n'
                           '[[rule]]\nname = "b"\nenabled = false\nwhen.body = "x"\n'
                           'then.tag = "b"\n')
    assert ruleset.needs_text is False


def test_header_only_rules_never_call_the_classifier() -> None:
    classifier = FakeClassifier(complaint=True)
    detected: list[str] = []

    def detect(*args: object) -> str:
        detected.append("called")
        return "de"

    t = Triage(mail(), POLICY, NOW, classifier=classifier, detect_language=detect)
    ruleset = compile_text("".join(f'[[rule]]\nname = "r{i}"\n{when}\nthen.tag = "x"\n'
                                   for i, when in enumerate(HEADER_ONLY)))
    plan = evaluate(ruleset, t)
    assert plan.matched  # the rules really ran
    assert classifier.calls == 0
    assert detected == []


def test_classifier_runs_once_for_many_text_rules() -> None:
    classifier = FakeClassifier(complaint=True, urgent=True)
    t = triage(classifier=classifier)
    plan = evaluate(compile_text(
        '[[rule]]\nname = "a"\nwhen.complaint = true\nthen.tag = "a"\n'
        '[[rule]]\nname = "b"\nwhen.urgent = true\nthen.tag = "b"\n'
        '[[rule]]\nname = "c"\nwhen.angry = false\nthen.tag = "c"\n'), t)
    assert plan.matched == ("a", "b", "c")
    assert classifier.calls == 1
