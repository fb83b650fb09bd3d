"""The example plugin, tested through its registration function, as inboxbot would call it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from inboxbot_ordernumber import DEFAULT_PATTERN, find_order_numbers, register

from inboxbot.core.message import parse_message
from inboxbot.core.rules import REGISTRY, Registry, RuleDocument, RuleSet, compile_rules, evaluate
from inboxbot.core.triage import Triage, TriagePolicy
from inboxbot.errors import RuleError


def registry() -> Registry:
    copy = REGISTRY.copy()
    register(copy)
    return copy


def triage(subject: str, body: str) -> Triage:
    raw = (
        f"From: Anna <anna@customer.example>\r\nTo: support@shop.example\r\n"
        f"Subject: {subject}\r\nMessage-ID: <1@customer.example>\r\n\r\n{body}\r\n"
    ).encode()
    return Triage(parse_message(raw), TriagePolicy("support@shop.example"), datetime.now(UTC))


def compile_one(when: dict[str, object], then: dict[str, object]) -> RuleSet:
    document = RuleDocument(
        "rules/50-orders.toml", {"rule": [{"name": "orders", "when": when, "then": then}]}, (1,)
    )
    return compile_rules([document], {}, registry())


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Where is my order 123456?", ["123456"]),
        ("Order no. 12345 and order #77777", ["12345", "77777"]),
        ("Meine Bestellung Nr. 4455667 ist nicht angekommen", ["4455667"]),
        ("Min beställning 889900 har inte kommit", ["889900"]),
        ("Minu tellimus 5566778 on kadunud", ["5566778"]),
        ("Call me at 0171 2345678, postcode 10115", []),
        ("order 1234 (too short) or #123456789 (too long)", []),
        ("#12345 twice #12345", ["12345"]),
    ],
)
def test_default_format(text: str, numbers: list[str]) -> None:
    assert find_order_numbers(text, re.compile(DEFAULT_PATTERN, re.IGNORECASE)) == numbers


def test_register_adds_a_condition_and_an_action_only() -> None:
    added = registry()
    assert set(added.conditions) - set(REGISTRY.conditions) == {"order_number"}
    assert set(added.actions) - set(REGISTRY.actions) == {"tag_order"}
    assert added.conditions["order_number"].needs_text


def test_rule_tags_the_mail_with_its_order_numbers() -> None:
    rules = compile_one({"order_number": True}, {"tag_order": True})
    plan = evaluate(rules, triage("Where is order 123456?", "Also #654321, please."))
    assert plan.matched == ("orders",)
    assert [(a.type, dict(a.args)) for a in plan.actions] == [
        ("tag", {"keyword": "$Order-123456"}),
        ("tag", {"keyword": "$Order-654321"}),
    ]
    assert not evaluate(rules, triage("Hello", "Just a question.")).matched


def test_the_shops_own_format() -> None:
    rules = compile_one({"order_number": "SO-\\d{6}"}, {"tag_order": "SO-\\d{6}"})
    plan = evaluate(rules, triage("Re: SO-123456", "so-999999 too; not SO-12"))
    assert [a.args["keyword"] for a in plan.actions] == ["$Order-SO-123456", "$Order-so-999999"]


def test_order_number_false_and_at_most_five_tags() -> None:
    rules = compile_one({"order_number": False}, {"tag": "no-order"})
    assert evaluate(rules, triage("Hello", "no numbers")).matched == ("orders",)
    many = " ".join(f"#{10000 + i}" for i in range(9))
    plan = evaluate(compile_one({"order_number": True}, {"tag_order": True}), triage("x", many))
    assert len(plan.actions) == 5


@pytest.mark.parametrize(
    ("when", "then", "problem"),
    [
        ({"order_number": 3}, {"tag": "x"}, "must be true, false"),
        ({"order_number": "SO-(\\d"}, {"tag": "x"}, "bad regular expression"),
        ({}, {"tag_order": False}, "does nothing"),
    ],
)
def test_bad_values_name_the_rule(
    when: dict[str, object], then: dict[str, object], problem: str
) -> None:
    with pytest.raises(RuleError, match=problem) as caught:
        compile_one(when, then)
    assert "rules/50-orders.toml:1: rule 'orders'" in str(caught.value)
