"""An inboxbot plugin: recognise the shop's order numbers in a mail and tag the mail with them.

    [[rule]]
    name = "order numbers"
    when.order_number = true          # or the shop's own format: "SO-\\d{6}"
    then.tag_order = true             # $Order-12345 for each number the mail names

inboxbot finds `register` through the entry point in pyproject.toml and calls it with its
Registry. A condition compiles its TOML value once and returns a predicate over the Triage
(the lazy facts about one mail); an action compiles to argument tables, and `expand` turns
them into built-in actions (`tag`) once the mail is known.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from inboxbot.core.rules import CompileContext, Predicate, Registry
from inboxbot.core.triage import Triage

__all__ = ["DEFAULT_PATTERN", "find_order_numbers", "register"]

# "#12345", or 5 to 8 digits shortly after the word for "order" in the shop's languages.
_WORDS = (
    r"order|orders|bestellung|bestellnummer|auftrag|beställning|beställningsnummer|"
    r"ordernummer|ordernr|tellimus|tellimuse|tellimusnumber"
)
DEFAULT_PATTERN = rf"(?:#|\b(?:{_WORDS})\b[^\d\n]{{0,12}})(\d{{5,8}})\b"
MAX_TAGS = 5  # a pasted invoice list must not flood the message with keywords
_KEYWORD_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def find_order_numbers(text: str, pattern: re.Pattern[str]) -> list[str]:
    """The order numbers in `text`, first occurrence first, each once."""
    found: dict[str, None] = {}
    for match in pattern.finditer(text):
        number = match.group(1) if pattern.groups else match.group(0)
        if number:
            found.setdefault(number, None)
    return list(found)


def _pattern(value: Any, ctx: CompileContext, key: str) -> re.Pattern[str]:
    if value is True or value is False:
        source = DEFAULT_PATTERN
    elif isinstance(value, str) and value:
        source = value.removeprefix("re:")
    else:
        raise ctx.fail(
            f'{key} must be true, false or the shop\'s format as a regex: "SO-\\\\d{{6}}"'
        )
    try:
        return re.compile(source, re.IGNORECASE)
    except re.error as error:
        raise ctx.fail(f"{key}: bad regular expression {source!r}: {error}") from None


def _text(triage: Triage) -> str:
    return f"{triage.message.subject}\n{triage.message.text}"


def _order_number(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
    pattern = _pattern(value, ctx, "when.order_number")
    wanted = value is not False

    def predicate(triage: Triage) -> tuple[bool, str]:
        numbers = find_order_numbers(_text(triage), pattern)
        return bool(numbers) == wanted, ", ".join(numbers) or "none"

    return predicate


def _tag_order(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
    if value is False:
        raise ctx.fail("then.tag_order = false does nothing; remove it instead")
    return ({"pattern": _pattern(value, ctx, "then.tag_order").pattern},)


def _expand_tag_order(
    args: Mapping[str, object], triage: Triage
) -> Sequence[tuple[str, Mapping[str, object]]]:
    pattern = re.compile(str(args["pattern"]), re.IGNORECASE)
    numbers = find_order_numbers(_text(triage), pattern)[:MAX_TAGS]
    return [("tag", {"keyword": "$Order-" + _KEYWORD_UNSAFE.sub("_", n)}) for n in numbers]


def register(registry: Registry) -> None:
    """The entry point: add the condition and the action to inboxbot's registry."""
    registry.condition(
        "order_number",
        needs_text=True,  # the number is usually in the body, so bodies must be fetched
        help='names an order number: true, or the shop\'s format as a regex "SO-\\\\d{6}"',
    )(_order_number)
    registry.action(
        "tag_order",
        help="tag the mail $Order-<number> for each order number it names",
        expand=_expand_tag_order,
    )(_tag_order)
