"""Push-down: compile header rules into IMAP SEARCH keys the server evaluates.

imapfilter's speed comes from never downloading a header: each rule is one SEARCH, each result
one MOVE. inboxbot does the same for rule sets made only of header conditions (`from`, `to`,
`subject`, `header`, and `any` / `not` of those) and the actions `move`, `copy`, `tag`, `flag`
(and `stop`), without giving up its own matching semantics:

- A SEARCH key is a *superset* of what the rule's condition matches: a glob becomes its longest
  literal piece (`*@vip.example` -> FROM "@vip.example", which also matches a display name
  holding that text), a substring its longest space-free ASCII run, a regex or a `not` narrows
  nothing. RFC 3501 SEARCH is a case-insensitive substring match on the decoded header, so every
  message the rule matches is among the hits.
- The hits are then confirmed by the rule's own predicates on the few header fields it reads
  (`fields`), fetched for the hits only. Only a rule without conditions needs no confirmation.
- The Plan of each message is built by rules.plan_matches from which rules matched, the same
  code `evaluate` uses, so "moved at most once", `stop` and the reasons are unchanged.

Pure: this module builds search keys as data; the IMAP adapter sends them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from inboxbot.core.rules import Rule, RuleSet

# A search key in IMAP syntax as nested tuples: ("FROM", "@x.example"); a nested tuple is a
# parenthesised group, so ("OR", (a...), (b...)) is "OR (a) (b)". () means "every message".
Criteria = tuple[Union[str, "Criteria"], ...]

PUSHABLE_ACTIONS = frozenset({"move", "copy", "tag", "flag"})
# Recipient headers of the `to` condition (Message.recipients), as SEARCH keys.
_TO_KEYS: tuple[tuple[str, ...], ...] = (
    ("TO",),
    ("CC",),
    ("HEADER", "Delivered-To"),
    ("HEADER", "X-Original-To"),
)
_TO_FIELDS = ("To", "Cc", "Delivered-To", "X-Original-To")
_GLOB_CLASS_RE = re.compile(r"\[[^\]]*\]")
_GLOB_SPLIT_RE = re.compile(r"[*?\[\]]")
# Printable ASCII without space: the server and Python fold these the same way.
_ASCII_RUN_RE = re.compile(r"[!-~]+")
# Header names a FETCH HEADER.FIELDS and a SEARCH HEADER can carry without quoting questions.
_FIELD_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class PushedRule:
    rule: Rule
    criteria: Criteria  # () when nothing narrows it: every message is a candidate
    exact: bool  # the server's answer is the rule's answer (a rule without conditions)


@dataclass(frozen=True)
class PushDown:
    rules: tuple[PushedRule, ...]
    fields: tuple[str, ...]  # header fields the confirming predicates read

    @property
    def needs_confirmation(self) -> bool:
        return any(not r.exact for r in self.rules)


def compile_pushdown(rules: RuleSet) -> PushDown | None:
    """The push-down form of `rules`, or None when some rule needs more than headers or does
    more than file and mark (replies, reminders, plugin conditions or actions)."""
    pushed: list[PushedRule] = []
    fields: dict[str, None] = {}
    for rule in rules.enabled:
        if rule.expanders or any(kind not in PUSHABLE_ACTIONS for kind, _ in rule.actions):
            return None
        keys: list[Criteria] = []
        for condition in rule.conditions:
            compiled = _condition(condition.key, condition.value, fields)
            if compiled is None:
                return None
            if compiled:
                keys.append(compiled)
        pushed.append(PushedRule(rule, _and(keys), exact=not rule.conditions))
    return PushDown(tuple(pushed), tuple(fields))


# -- conditions -> search keys ------------------------------------------------------------------
#
# Each returns None when the condition cannot be judged from headers (the rule set is then not
# pushed down), () when it can but the server cannot narrow it, else a search key. `fields`
# collects the header fields the confirmation must fetch.


def _condition(key: str, value: Any, fields: dict[str, None]) -> Criteria | None:
    if key == "from":
        fields["From"] = None
        return any_of([_from_key(p) for p in _strings(value)])
    if key == "to":
        fields.update(dict.fromkeys(_TO_FIELDS))
        return any_of([_to_key(p) for p in _strings(value)])
    if key == "subject":
        fields["Subject"] = None
        return any_of([_text_key(("SUBJECT",), p) for p in _strings(value)])
    if key == "header":
        return _header_key(value, fields)
    if key == "any":
        groups = [_group(table, fields) for table in value]
        if any(g is None for g in groups):
            return None
        return any_of([g for g in groups if g is not None])
    if key == "not":
        # The complement of a superset is no superset: nothing narrows, the predicate decides.
        return () if _group(value, fields) is not None else None
    return None


def _group(table: Mapping[str, Any], fields: dict[str, None]) -> Criteria | None:
    keys: list[Criteria] = []
    for key, value in table.items():
        compiled = _condition(key, value, fields)
        if compiled is None:
            return None
        if compiled:
            keys.append(compiled)
    return _and(keys)


def _strings(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _from_key(pattern: str) -> Criteria:
    literal = glob_literal(pattern)
    return ("FROM", literal) if literal else ()


def _to_key(pattern: str) -> Criteria:
    literal = glob_literal(pattern)
    if not literal:
        return ()
    return any_of([(*key, literal) for key in _TO_KEYS])


def _text_key(key: tuple[str, ...], pattern: str) -> Criteria:
    if pattern.startswith("re:"):
        return ()
    literal = longest_ascii_run(pattern)
    return (*key, literal) if literal else ()


def _header_key(value: Any, fields: dict[str, None]) -> Criteria | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        return None
    name = value["name"]
    if not _FIELD_NAME_RE.fullmatch(name):
        return None  # not a field name we send: the predicate path handles it
    fields[name] = None
    presence: Criteria = ("HEADER", name, "")  # RFC 3501: "" matches every message with it
    if "contains" not in value:
        return presence  # `matches` (a regex) or bare presence: the header must be there
    keys = [_text_key(("HEADER", name), p) for p in _strings(value["contains"])]
    return presence if any(not k for k in keys) else any_of(keys)


# -- building keys ---------------------------------------------------------------------------------


def glob_literal(pattern: str) -> str:
    """The longest piece of an address glob that every matching address contains."""
    plain = _GLOB_CLASS_RE.sub("*", pattern.lower())
    return max((longest_ascii_run(p) for p in _GLOB_SPLIT_RE.split(plain)), key=len, default="")


def longest_ascii_run(text: str) -> str:
    """The longest run of printable ASCII without spaces: what a substring search may ask for
    without depending on how the server folds whitespace or non-ASCII letters."""
    return max(_ASCII_RUN_RE.findall(text.lower()), key=len, default="")


def _and(keys: Sequence[Criteria]) -> Criteria:
    if len(keys) == 1:
        return keys[0]
    return tuple(key for key in keys)


def any_of(keys: Sequence[Criteria]) -> Criteria:
    """OR of alternatives; () (everything) when any alternative narrows nothing."""
    if not keys or any(not key for key in keys):
        return ()
    result = keys[-1]
    for key in reversed(keys[:-1]):
        result = ("OR", key, result)
    return result


def flatten(criteria: Criteria) -> list[Any]:
    """Criteria as imapclient's search() takes them: nested lists become parentheses."""
    return [flatten(item) if isinstance(item, tuple) else item for item in criteria]


