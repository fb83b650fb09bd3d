"""Push-down: which rule sets become server searches, the keys they compile to, and the promise
the mechanism rests on: a search key finds every message its rule matches (a superset)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.message import Message, parse_message
from inboxbot.core.pushdown import Criteria, compile_pushdown, flatten, glob_literal
from inboxbot.core.rules import evaluate, plan_matches, rule_matches
from tests.core.test_rules import compile_text, mail, one_rule, triage

BENCH = """
[[rule]]
name = "vip domain"
when.from = "*@vip.example"
then.move = "VIP"
stop = true

[[rule]]
name = "urgent subject"
when.subject = ["urgent", "asap"]
then.move = "Urgent"
then.tag = ["urgent"]
"""


def test_header_rules_compile_to_one_search_each() -> None:
    pushdown = compile_pushdown(compile_text(BENCH))
    assert pushdown is not None
    vip, urgent = pushdown.rules
    assert vip.criteria == ("FROM", "@vip.example")
    assert urgent.criteria == ("OR", ("SUBJECT", "urgent"), ("SUBJECT", "asap"))
    assert not vip.exact and not urgent.exact  # hits are confirmed on the fetched fields
    assert set(pushdown.fields) == {"From", "Subject"}


@pytest.mark.parametrize(
    "when, then",
    [
        ("when.complaint = true", 'then.tag = "x"'),  # needs the text and the classifier
        ('when.sender = "vip"', 'then.tag = "x"'),  # needs the state store
        ('when.language = "de"', 'then.tag = "x"'),
        ('when.channel = "supported"', 'then.tag = "x"'),
        ('when.subject = "x"', 'then.reply = "ack"'),  # talks to the sender
        ('when.subject = "x"', 'then.remind = { after = "2d" }'),
        ('when.any = [{ subject = "a" }, { complaint = true }]', 'then.tag = "x"'),
        ('when.not = { open = true }', 'then.tag = "x"'),
        ('when.header = { name = "X(evil", contains = "a" }', 'then.tag = "x"'),
    ],
)
def test_rule_sets_that_need_more_than_headers_are_not_pushed_down(when: str, then: str) -> None:
    assert compile_pushdown(one_rule(when, then)) is None


def test_a_disabled_rule_does_not_stop_push_down() -> None:
    rules = compile_text(BENCH + '[[rule]]\nname = "c"\nenabled = false\n'
                         'when.complaint = true\nthen.reply = "ack"\n')
    pushdown = compile_pushdown(rules)
    assert pushdown is not None and len(pushdown.rules) == 2


@pytest.mark.parametrize(
    "when, criteria",
    [
        ('when.from = "anna@x.example"', ("FROM", "anna@x.example")),
        ('when.from = "bigco.example"', ("FROM", "bigco.example")),
        ('when.from = "*"', ()),
        ('when.subject = "re:^urgent"', ()),
        ('when.subject = "Größe falsch"', ("SUBJECT", "falsch")),
        ('when.subject = "order 123"', ("SUBJECT", "order")),
        ('when.header = { name = "X-Mailer", contains = "Outlook" }',
         ("HEADER", "X-Mailer", "outlook")),
        ('when.header = { name = "X-Mailer", matches = "^Out" }', ("HEADER", "X-Mailer", "")),
        ('when.header = { name = "List-Id" }', ("HEADER", "List-Id", "")),
        ('when.not = { subject = "invoice" }', ()),
        ('when.any = [{ subject = "a" }, { from = "*@b.example" }]',
         ("OR", ("SUBJECT", "a"), ("FROM", "@b.example"))),
        ('when.from = "*@b.example"\nwhen.subject = "refund"',
         (("FROM", "@b.example"), ("SUBJECT", "refund"))),
        ('when.to = "sales@shop.example"',
         ("OR", ("TO", "sales@shop.example"), ("OR", ("CC", "sales@shop.example"),
          ("OR", ("HEADER", "Delivered-To", "sales@shop.example"),
           ("HEADER", "X-Original-To", "sales@shop.example"))))),
    ],
)
def test_condition_keys(when: str, criteria: Criteria) -> None:
    pushdown = compile_pushdown(one_rule(when))
    assert pushdown is not None
    assert pushdown.rules[0].criteria == criteria


def test_a_rule_without_conditions_matches_everything_exactly() -> None:
    pushdown = compile_pushdown(compile_text('[[rule]]\nname = "all"\nthen.tag = "seen-all"\n'))
    assert pushdown is not None
    assert pushdown.rules[0].criteria == () and pushdown.rules[0].exact


def test_not_still_fetches_the_fields_its_inner_condition_reads() -> None:
    pushdown = compile_pushdown(one_rule('when.not = { subject = "invoice" }'))
    assert pushdown is not None and pushdown.fields == ("Subject",)


@pytest.mark.parametrize(
    "pattern, literal",
    [("*@vip.example", "@vip.example"), ("Anna@X.example", "anna@x.example"),
     ("a[bc]d@longer.example", "d@longer.example"), ("*.?x", ".")],
)
def test_glob_literal(pattern: str, literal: str) -> None:
    assert glob_literal(pattern) == literal


def test_flatten_makes_groups_imapclient_parenthesises() -> None:
    assert flatten(("OR", ("FROM", "a"), (("FROM", "b"), ("SUBJECT", "c")))) == [
        "OR", ["FROM", "a"], [["FROM", "b"], ["SUBJECT", "c"]]
    ]


def test_plans_from_matches_equal_evaluate() -> None:
    rules = compile_text(BENCH)
    for message in (mail(sender="x@vip.example", subject="urgent"), mail(subject="ASAP please"),
                    mail()):
        t = triage(message)
        assert plan_matches(rules, lambda r, t=t: rule_matches(r, t)) == evaluate(rules, t)


# -- the superset promise, against a model of RFC 3501 SEARCH ------------------------------------


def _server_matches(criteria: Criteria, message: Message) -> bool:
    """RFC 3501 as Dovecot implements it: case-insensitive substring of the decoded header."""
    if not criteria:
        return True
    head = criteria[0]
    if isinstance(head, tuple):
        return all(_server_matches(c, message) for c in criteria if isinstance(c, tuple))
    if head == "OR":
        left, right = criteria[1], criteria[2]
        assert isinstance(left, tuple) and isinstance(right, tuple)
        return _server_matches(left, message) or _server_matches(right, message)
    if head == "NOT":
        inner = criteria[1]
        assert isinstance(inner, tuple)
        return not _server_matches(inner, message)
    names = {"FROM": "From", "TO": "To", "CC": "Cc", "SUBJECT": "Subject"}
    if head == "HEADER":
        name, needle = str(criteria[1]), str(criteria[2])
    else:
        name, needle = names[str(head)], str(criteria[1])
    return any(needle.lower() in value.lower() for value in message.header_all(name))


words = st.sampled_from(["urgent", "URGENT", "asap", "Asap!", "order", "größe", "refund",
                         "vip.example", "x", "Ärger", "\u212a"])
subjects = st.lists(words, min_size=0, max_size=5).map(" ".join)
needles = st.lists(words, min_size=1, max_size=2).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(subject=subjects, needle=needles,
       sender=st.sampled_from(["a@vip.example", "VIP <b@VIP.example>", "c@other.example",
                               '"vip.example fan" <d@other.example>']))
def test_every_message_a_rule_matches_is_found_by_its_search(
    subject: str, needle: str, sender: str
) -> None:
    rules = compile_text(
        '[[rule]]\nname = "s"\n'
        f'when.any = [{{ subject = "{needle}" }}, {{ from = "*@vip.example" }}]\n'
        'then.tag = "x"\n'
    )
    pushdown = compile_pushdown(rules)
    assert pushdown is not None
    message = EmailMessage()
    message["From"] = sender
    message["Subject"] = subject
    parsed = parse_message(bytes(message), headers_only=True)
    if rule_matches(rules.enabled[0], triage(parsed)):
        assert _server_matches(pushdown.rules[0].criteria, parsed)
