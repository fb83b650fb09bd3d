"""Rules: the model, the condition and action registry, compilation and evaluation into a Plan.

Rules arrive as already-parsed TOML tables (the loader in inboxbot/rulefiles.py reads files), so
this module stays pure. Every error names the file, the line and the rule.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from inboxbot.core.durations import parse_duration
from inboxbot.core.language import LANGUAGES
from inboxbot.core.plan import Action, ActionType, Plan
from inboxbot.core.triage import Triage
from inboxbot.errors import RuleError

Predicate = Callable[[Triage], tuple[bool, str]]  # (holds?, the value it looked at)
ANSWERS: frozenset[str] = frozenset({"reply", "redirect"})
OUTGOING: frozenset[str] = frozenset({"reply", "redirect", "forward"})
_RULE_HEADER_RE = re.compile(r"\s*\[\[\s*rule\s*\]\]")
_KEYWORD_RE = re.compile(r"^\$?[A-Za-z0-9_.\-]+$")
_SYSTEM_FLAGS = {"seen": "\\Seen", "flagged": "\\Flagged", "answered": "\\Answered"}


@dataclass(frozen=True)
class CompileContext:
    folder_roles: Mapping[str, str]
    where: str  # "rules/10-default.toml:12: rule 'urgent complaints'"

    def fail(self, problem: str) -> RuleError:
        return RuleError(f"{self.where}: {problem}")


@dataclass(frozen=True)
class ConditionSpec:
    name: str
    compile: Callable[[Any, CompileContext, Registry], Predicate]
    needs_text: bool
    help: str


Expander = Callable[[Mapping[str, object], Triage], Sequence[tuple[str, Mapping[str, object]]]]
ClassifierWrapper = Callable[[Any], Any]  # the engine's classifier -> a classifier


@dataclass(frozen=True)
class ActionSpec:
    name: str
    compile: Callable[[Any, CompileContext], tuple[dict[str, object], ...]]
    help: str
    # A plugin action that depends on the message (tag it with the order numbers it names)
    # turns into built-in actions at plan time, so the executor and the Plan never change.
    expand: Expander | None = None


@dataclass
class Registry:
    """One registry for conditions and actions; plugins add theirs through entry points."""

    conditions: dict[str, ConditionSpec] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    classifiers: dict[str, ClassifierWrapper] = field(default_factory=dict)

    def condition(
        self, name: str, *, needs_text: bool = False, help: str = ""
    ) -> Callable[[Callable[[Any, CompileContext, Registry], Predicate]], Any]:
        def register(fn: Callable[[Any, CompileContext, Registry], Predicate]) -> Any:
            self.conditions[name] = ConditionSpec(name, fn, needs_text, help)
            return fn

        return register

    def action(
        self, name: str, *, help: str = "", expand: Expander | None = None
    ) -> Callable[[Callable[[Any, CompileContext], tuple[dict[str, object], ...]]], Any]:
        def register(fn: Callable[[Any, CompileContext], tuple[dict[str, object], ...]]) -> Any:
            self.actions[name] = ActionSpec(name, fn, help, expand)
            return fn

        return register

    def classifier(self, name: str) -> Callable[[ClassifierWrapper], ClassifierWrapper]:
        """Register a wrapper around the engine's classifier (it may adjust the verdict)."""

        def register(fn: ClassifierWrapper) -> ClassifierWrapper:
            self.classifiers[name] = fn
            return fn

        return register

    def copy(self) -> Registry:
        return Registry(dict(self.conditions), dict(self.actions), dict(self.classifiers))


@dataclass(frozen=True)
class Condition:
    key: str
    value: object
    predicate: Predicate
    needs_text: bool


@dataclass(frozen=True)
class Rule:
    name: str
    file: str
    line: int
    enabled: bool
    conditions: tuple[Condition, ...]
    actions: tuple[tuple[str, Mapping[str, object]], ...]
    stop: bool
    expanders: Mapping[str, Expander] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def needs_text(self) -> bool:
        return any(c.needs_text for c in self.conditions)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    @cached_property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled)

    @property
    def needs_text(self) -> bool:
        return any(r.needs_text for r in self.enabled)

    def actions_used(self) -> frozenset[str]:
        return frozenset(kind for r in self.enabled for kind, _ in r.actions)

    def folders_used(self) -> frozenset[str]:
        return frozenset(
            str(args["folder"])
            for r in self.enabled
            for kind, args in r.actions
            if kind in ("move", "copy")
        )


# --- compiling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleDocument:
    """One parsed rules file: its name, its TOML data and the line of each [[rule]] header."""

    file: str
    data: Mapping[str, Any]
    lines: tuple[int, ...] = ()


def rule_header_lines(text: str) -> tuple[int, ...]:
    return tuple(
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if _RULE_HEADER_RE.match(line)
    )


def compile_rules(
    documents: Iterable[RuleDocument], folder_roles: Mapping[str, str], registry: Registry
) -> RuleSet:
    rules: list[Rule] = []
    names: dict[str, str] = {}
    for document in documents:
        unknown = sorted(set(document.data) - {"rule"})
        if unknown:
            raise RuleError(
                f"{document.file}: unknown top-level key {unknown[0]!r}; "
                "rules are written as [[rule]] tables"
            )
        entries = document.data.get("rule", [])
        if not isinstance(entries, list):
            raise RuleError(f"{document.file}: 'rule' must be written as [[rule]] tables")
        for index, entry in enumerate(entries):
            line = document.lines[index] if index < len(document.lines) else 0
            rule = compile_rule(entry, document.file, line, folder_roles, registry)
            if rule.name in names:
                raise RuleError(
                    f"{rule.where}: rule {rule.name!r} is already defined at "
                    f"{names[rule.name]}; rule names must be unique"
                )
            names[rule.name] = rule.where
            rules.append(rule)
    return RuleSet(tuple(rules))


_RULE_KEYS = {"name", "when", "then", "stop", "enabled", "description"}


def compile_rule(
    entry: Any, file: str, line: int, folder_roles: Mapping[str, str], registry: Registry
) -> Rule:
    where = f"{file}:{line}"
    if not isinstance(entry, Mapping):
        raise RuleError(f"{where}: a rule must be a table")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f'{where}: rule without a name; add name = "..."')
    ctx = CompileContext(folder_roles, f"{where}: rule {name!r}")
    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise ctx.fail(f"unknown key {unknown[0]!r}; a rule has name, when, then, stop, enabled")
    when = entry.get("when", {})
    then = entry.get("then", {})
    if not isinstance(when, Mapping) or not isinstance(then, Mapping):
        raise ctx.fail("'when' and 'then' must be tables (when.complaint = true)")
    stop = entry.get("stop", False)
    enabled = entry.get("enabled", True)
    if not isinstance(stop, bool) or not isinstance(enabled, bool):
        raise ctx.fail("'stop' and 'enabled' must be true or false")
    if not then and not stop:
        raise ctx.fail("has no actions; add then.<action> (move, tag, reply...) or stop = true")
    conditions = compile_conditions(when, ctx, registry)
    actions = compile_actions(then, ctx, registry)
    expanders = {
        kind: spec.expand
        for kind in then
        if (spec := registry.actions[kind]).expand is not None
    }
    return Rule(name, file, line, enabled, conditions, actions, stop, expanders)


def compile_conditions(
    when: Mapping[str, Any], ctx: CompileContext, registry: Registry
) -> tuple[Condition, ...]:
    conditions = []
    for key, value in when.items():
        spec = registry.conditions.get(key)
        if spec is None:
            known = ", ".join(sorted(registry.conditions))
            raise ctx.fail(f"unknown condition {key!r}; known conditions: {known}")
        predicate = spec.compile(value, ctx, registry)
        needs_text = spec.needs_text or _nested_needs_text(value, registry)
        conditions.append(Condition(key, value, predicate, needs_text))
    return tuple(conditions)


def _nested_needs_text(value: Any, registry: Registry) -> bool:
    tables = value if isinstance(value, list) else [value]
    return any(
        registry.conditions[k].needs_text or _nested_needs_text(v, registry)
        for table in tables
        if isinstance(table, Mapping)
        for k, v in table.items()
        if k in registry.conditions
    )


def compile_actions(
    then: Mapping[str, Any], ctx: CompileContext, registry: Registry
) -> tuple[tuple[str, Mapping[str, object]], ...]:
    actions: list[tuple[str, Mapping[str, object]]] = []
    for key, value in then.items():
        spec = registry.actions.get(key)
        if spec is None:
            known = ", ".join(sorted(registry.actions))
            raise ctx.fail(f"unknown action {key!r}; known actions: {known}")
        actions.extend((key, args) for args in spec.compile(value, ctx))
    return tuple(actions)


# --- evaluating -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionTrace:
    key: str
    value: object
    holds: bool
    seen: str


@dataclass(frozen=True)
class RuleTrace:
    rule: Rule
    matched: bool
    conditions: tuple[ConditionTrace, ...]


def trace_rule(rule: Rule, triage: Triage) -> RuleTrace:
    """Every condition of a rule, evaluated, with what it saw (for `rules test`)."""
    traces = []
    for condition in rule.conditions:
        holds, seen = condition.predicate(triage)
        traces.append(ConditionTrace(condition.key, condition.value, holds, seen))
    return RuleTrace(rule, all(t.holds for t in traces), tuple(traces))


def rule_matches(rule: Rule, triage: Triage) -> bool:
    return all(condition.predicate(triage)[0] for condition in rule.conditions)


def evaluate(rules: RuleSet, triage: Triage) -> Plan:
    return plan_matches(rules, lambda rule: rule_matches(rule, triage), triage)


def plan_matches(
    rules: RuleSet, matches: Callable[[Rule], bool], triage: Triage | None = None
) -> Plan:
    """The Plan from which rules match: `stop`, one move and one answer per message.

    Push-down (core.pushdown) knows the matching rules from server searches and has no
    Triage; its rule sets have no expanders and nothing that talks to the sender."""
    matched: list[str] = []
    actions: list[Action] = []
    moved_by: str | None = None
    answered_by: str | None = None
    for rule in rules.enabled:
        if not matches(rule):
            continue
        matched.append(rule.name)
        reason = f"rule {rule.name!r} ({rule.where})"
        expanded = expand_actions(rule, triage) if triage is not None else rule.actions
        for kind, args in expanded:
            if _talks_to_sender(kind, args) and triage is not None and triage.automated:
                why = f"automated mail ({triage.automated}): never answered"
                actions.append(Action(_action_type(kind), dict(args), reason, why))
                continue
            skipped = None
            if kind == "move":
                skipped = f"already moved by {moved_by}" if moved_by else None
                moved_by = moved_by or f"rule {rule.name!r}"
            if kind in ANSWERS:
                skipped = f"already answered by {answered_by}" if answered_by else None
                answered_by = answered_by or f"rule {rule.name!r}"
            actions.append(Action(_action_type(kind), dict(args), reason, skipped))
        if rule.stop:
            break
    return Plan(tuple(matched), tuple(actions))


def expand_actions(rule: Rule, triage: Triage) -> Sequence[tuple[str, Mapping[str, object]]]:
    """A plugin action with an expander becomes the built-in actions it names for this mail."""
    if not rule.expanders:
        return rule.actions
    actions: list[tuple[str, Mapping[str, object]]] = []
    for kind, args in rule.actions:
        expander = rule.expanders.get(kind)
        actions.extend(expander(args, triage) if expander else [(kind, args)])
    return actions


def _talks_to_sender(kind: str, args: Mapping[str, object]) -> bool:
    return kind in OUTGOING or (kind == "remind" and args.get("to") == "customer")


def _action_type(kind: str) -> ActionType:
    # Plugin actions outside the contract's list are executed by their plugin; the Plan type
    # still names them, so the cast is deliberate.
    return kind  # type: ignore[return-value]


# --- the built-in conditions ----------------------------------------------------------------

REGISTRY = Registry()


def _as_list(
    value: Any, ctx: CompileContext, what: str, kind: str = "a string or a list of strings"
) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ctx.fail(f"{what} must be {kind}, got {value!r}")
    return [v.lower() for v in values]


def _bool(value: Any, ctx: CompileContext, key: str) -> bool:
    if not isinstance(value, bool):
        raise ctx.fail(f"when.{key} must be true or false, got {value!r}")
    return value


def address_matches(pattern: str, address: str) -> bool:
    """`*@shop.example`, `anna@x.example`, or a bare domain (which includes its subdomains)."""
    if "@" in pattern:
        return fnmatch.fnmatchcase(address, pattern)
    domain = address.rpartition("@")[2]
    return fnmatch.fnmatchcase(domain, pattern) or domain.endswith("." + pattern)


def _address_condition(
    key: str, pick: Callable[[Triage], list[str]]
) -> Callable[..., Predicate]:
    def compile(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
        patterns = _as_list(value, ctx, f"when.{key}", "an address pattern or a list of them")

        def predicate(triage: Triage) -> tuple[bool, str]:
            addresses = pick(triage)
            holds = any(address_matches(p, a) for p in patterns for a in addresses)
            return holds, ", ".join(addresses) or "(none)"

        return predicate

    return compile


REGISTRY.condition("from", help='sender address glob: "*@bigco.example" or "bigco.example"')(
    _address_condition("from", lambda t: [a.addr for a in t.message.from_ if a.addr])
)
REGISTRY.condition("to", help="recipient glob over To, Cc, Delivered-To, X-Original-To")(
    _address_condition("to", lambda t: [a.addr for a in t.message.recipients if a.addr])
)


def text_matcher(value: Any, ctx: CompileContext, what: str) -> Callable[[str], bool]:
    """Case-insensitive substrings, or a regular expression written as "re:..."."""
    patterns = value if isinstance(value, list) else [value]
    if not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise ctx.fail(f"{what} must be a string or a list of strings")
    regexes = []
    needles = []
    for pattern in patterns:
        if pattern.startswith("re:"):
            try:
                regexes.append(re.compile(pattern[3:], re.IGNORECASE))
            except re.error as error:
                raise ctx.fail(f"{what}: bad regular expression {pattern[3:]!r}: {error}") from None
        else:
            needles.append(pattern.casefold())

    def matches(text: str) -> bool:
        folded = text.casefold()
        return any(n in folded for n in needles) or any(r.search(text) for r in regexes)

    return matches


def _text_condition(key: str, pick: Callable[[Triage], str]) -> Callable[..., Predicate]:
    def compile(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
        matches = text_matcher(value, ctx, f"when.{key}")

        def predicate(triage: Triage) -> tuple[bool, str]:
            text = pick(triage)
            return matches(text), _preview(text)

        return predicate

    return compile


def _preview(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


REGISTRY.condition("subject", help="substring of the subject, or re:REGEX")(
    _text_condition("subject", lambda t: t.message.subject)
)
REGISTRY.condition("body", needs_text=True, help="substring of the text, or re:REGEX")(
    _text_condition("body", lambda t: t.message.text)
)


@REGISTRY.condition("header", help='{ name = "X-Mailer", contains = "..." | matches = "re" }')
def _header(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise ctx.fail('when.header must be a table like { name = "X-Foo", contains = "bar" }')
    extra = sorted(set(value) - {"name", "contains", "matches"})
    if extra:
        raise ctx.fail(f"when.header has unknown key {extra[0]!r}; use name, contains, matches")
    name = value["name"]
    if "matches" in value:
        matches = text_matcher("re:" + str(value["matches"]), ctx, "when.header.matches")
    elif "contains" in value:
        matches = text_matcher(value["contains"], ctx, "when.header.contains")
    else:

        def matches(_text: str) -> bool:
            return True

    def predicate(triage: Triage) -> tuple[bool, str]:
        values = triage.message.header_all(name)
        return any(matches(v) for v in values), _preview(" | ".join(values)) or "(absent)"

    return predicate


@REGISTRY.condition("sender", help='"vip", "new" (first contact) or "repeat" (chronic complainer)')
def _sender(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
    kinds = _as_list(value, ctx, "when.sender")
    for kind in kinds:
        if kind not in ("vip", "new", "known", "repeat"):
            raise ctx.fail(
                f'when.sender must be "vip", "new", "known" or "repeat", got {kind!r}'
            )

    def predicate(triage: Triage) -> tuple[bool, str]:
        return any(triage.sender_is(k) for k in kinds), triage.sender_kind

    return predicate


def _flag_condition(name: str, pick: Callable[[Triage], bool]) -> Callable[..., Predicate]:
    def compile(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
        wanted = _bool(value, ctx, name)

        def predicate(triage: Triage) -> tuple[bool, str]:
            actual = pick(triage)
            return actual == wanted, str(actual).lower()

        return predicate

    return compile


for _name, _pick, _needs_text, _help in (
    ("complaint", lambda t: t.complaint, True, "the classifier found a complaint"),
    ("urgent", lambda t: t.urgent, True, "time pressure, escalation or threats"),
    ("angry", lambda t: t.angry, True, "insults, shouting, many exclamation marks"),
    ("automated", lambda t: t.automated is not None, False, "bounce, out-of-office, list..."),
    ("open", lambda t: t.open, False, "inside support hours now"),
    ("has_attachment", lambda t: t.message.has_attachment, True, "the mail has an attachment"),
):
    REGISTRY.condition(_name, needs_text=_needs_text, help=_help)(_flag_condition(_name, _pick))


@REGISTRY.condition("channel", help='"supported" or "unsupported"')
def _channel(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
    if value not in ("supported", "unsupported"):
        raise ctx.fail(f'when.channel must be "supported" or "unsupported", got {value!r}')

    def predicate(triage: Triage) -> tuple[bool, str]:
        return triage.channel == value, triage.channel

    return predicate


@REGISTRY.condition(
    "notifier", help='true: any notification robot; "message": one carrying a customer message; '
    'or a kind ("marketplace", "social", "payment", "shipping")'
)
def _notifier(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
    if not isinstance(value, (bool, str)):
        raise ctx.fail('when.notifier must be true, false, "message" or a kind like "shipping"')

    def predicate(triage: Triage) -> tuple[bool, str]:
        found = triage.notifier
        seen = f"{found.name} ({found.kind})" if found else "none"
        if isinstance(value, bool):
            return (found is not None) == value, seen
        if value == "message":
            return bool(found and found.carries_customer_message), seen
        return bool(found and found.kind == value), seen

    return predicate


@REGISTRY.condition("language", needs_text=True, help='"en", "de", "sv", "et" or a list')
def _language(value: Any, ctx: CompileContext, _registry: Registry) -> Predicate:
    languages = _as_list(value, ctx, "when.language")
    for language in languages:
        if language not in LANGUAGES:  # detection never answers it: the rule would never hold
            raise ctx.fail(
                f'when.language must be "en", "de", "sv" or "et" (or a list of them), '
                f"got {language!r}"
            )

    def predicate(triage: Triage) -> tuple[bool, str]:
        return triage.language in languages, triage.language

    return predicate


@REGISTRY.condition("any", help="a list of condition tables; holds when one of them holds")
def _any(value: Any, ctx: CompileContext, registry: Registry) -> Predicate:
    if not isinstance(value, list) or not value or not all(isinstance(v, Mapping) for v in value):
        raise ctx.fail("when.any must be a list of tables: when.any = [{ urgent = true }, ...]")
    groups = [compile_conditions(table, ctx, registry) for table in value]

    def predicate(triage: Triage) -> tuple[bool, str]:
        for index, group in enumerate(groups):
            if all(c.predicate(triage)[0] for c in group):
                return True, f"alternative {index + 1} holds"
        return False, "no alternative holds"

    return predicate


@REGISTRY.condition("not", help="a condition table that must not hold")
def _not(value: Any, ctx: CompileContext, registry: Registry) -> Predicate:
    if not isinstance(value, Mapping) or not value:
        raise ctx.fail('when.not must be a table: when.not = { from = "*@shop.example" }')
    group = compile_conditions(value, ctx, registry)

    def predicate(triage: Triage) -> tuple[bool, str]:
        holds = all(c.predicate(triage)[0] for c in group)
        return not holds, "inner conditions hold" if holds else "inner conditions fail"

    return predicate


# --- the built-in actions -------------------------------------------------------------------


def folder_problem(folder: str) -> str | None:
    """Why `folder` is not a folder of this account, or None. Names that reach into other
    namespaces (#shared, Other Users, ~user) or climb out of a Maildir (..) are impossible by
    construction, wherever a folder name comes from (rules or [folders])."""
    parts = folder.replace(".", "/").split("/")
    if (
        not folder.strip()
        or folder.startswith(("/", "#", "~"))
        or ".." in folder
        or any(not p for p in parts)
        or any(ord(c) < 32 or c in "*%" for c in folder)
        or parts[0].lower() in ("other users", "shared", "shared folders")
    ):
        return (f"{folder!r} is not a folder of this mailbox; use a plain name such as "
                '"Urgent" or "Support/VIP"')
    return None


def folder_name(value: Any, ctx: CompileContext) -> str:
    """A role from [folders] or a literal folder inside this account; nothing else is allowed."""
    if not isinstance(value, str) or not value.strip():
        raise ctx.fail(f"a folder must be a role ({', '.join(ctx.folder_roles)}) or a name")
    folder = ctx.folder_roles.get(value, value)
    problem = folder_problem(folder)
    if problem:
        raise ctx.fail(problem)
    return folder


@REGISTRY.action("move", help="move to a folder role (vip, urgent...) or a folder name")
def _move(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
    return ({"folder": folder_name(value, ctx)},)


@REGISTRY.action("copy", help="copy to a folder role or name")
def _copy(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
    return ({"folder": folder_name(value, ctx)},)


# The keywords DESIGN.md names keep their spelling whatever the case of the tag: "vip" is $VIP,
# the mark the VIP rule and mail clients already know, not a second tag $Vip.
_KNOWN_KEYWORDS = {
    k.lower(): k
    for k in ("$Complaint", "$Urgent", "$VIP", "$Angry", "$Repeat", "$Channel", "$AutoReplied",
              "$Redirected", "$Overdue", "$Resolved", "$FollowUp", "$InboxbotSeen")
}


def keyword_for(tag: str) -> str:
    """complaint -> $Complaint, vip -> $VIP; a tag written with its $ is used as written."""
    if tag.startswith("$"):
        return tag
    return _KNOWN_KEYWORDS.get("$" + tag.lower(), "$" + tag[:1].upper() + tag[1:])


@REGISTRY.action("tag", help='IMAP keywords: tag = ["complaint"] sets $Complaint')
def _tag(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
    tags = value if isinstance(value, list) else [value]
    for tag in tags:
        if not isinstance(tag, str) or not _KEYWORD_RE.match(tag):
            raise ctx.fail(f"tag {tag!r} must be a word of letters, digits, '-', '_' or '.'")
    return tuple({"keyword": keyword_for(tag)} for tag in tags)


@REGISTRY.action("flag", help='flag = true (\\Flagged), or "seen" / "answered"')
def _flag(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
    if value is True:
        return ({"flag": "\\Flagged"},)
    names = value if isinstance(value, list) else [value]
    flags: list[dict[str, object]] = []
    for name in names:
        if not isinstance(name, str) or name.lower().lstrip("\\") not in _SYSTEM_FLAGS:
            raise ctx.fail(f'flag {name!r}: use true, "flagged", "seen" or "answered"')
        flags.append({"flag": _SYSTEM_FLAGS[name.lower().lstrip("\\")]})
    return tuple(flags)


def _template_action(
    default: str,
) -> Callable[[Any, CompileContext], tuple[dict[str, object], ...]]:
    def compile(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
        if value is True:
            return ({"template": default},)
        if isinstance(value, str) and value:
            return ({"template": value},)
        if isinstance(value, Mapping) and set(value) <= {"template"}:
            return ({"template": str(value.get("template", default))},)
        raise ctx.fail(f'use true, a template name, or {{ template = "{default}" }}')

    return compile


REGISTRY.action("reply", help='answer with a template: reply = "ack"')(_template_action("ack"))
REGISTRY.action("redirect", help="point the sender to the supported address")(
    _template_action("redirect")
)


@REGISTRY.action("forward", help='forward as an attachment: forward = true or { to = "..." }')
def _forward(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
    if value is True:
        return ({"to": ""},)
    if isinstance(value, Mapping) and isinstance(value.get("to"), str) and set(value) == {"to"}:
        return ({"to": value["to"].lower()},)
    raise ctx.fail('forward must be true or { to = "address" }')


@REGISTRY.action("remind", help='{ after = "promise" | "2d", to = "staff" | "customer" }')
def _remind(value: Any, ctx: CompileContext) -> tuple[dict[str, object], ...]:
    if not isinstance(value, Mapping) or set(value) - {"after", "to", "kind"}:
        raise ctx.fail('remind must be a table: { after = "promise", to = "staff" }')
    after = value.get("after", "promise")
    to = value.get("to", "staff")
    if to not in ("staff", "customer"):
        raise ctx.fail(f'remind.to must be "staff" or "customer", got {to!r}')
    if not isinstance(after, str):
        raise ctx.fail('remind.after must be "promise" or a duration like "2d"')
    if after != "promise":
        try:
            parse_duration(after)
        except ValueError as error:
            raise ctx.fail(f"remind.after: {error}") from None
    kind = value.get("kind", "sla" if to == "staff" else "checkin")
    return ({"after": after, "to": to, "kind": kind},)


def condition_help(registry: Registry) -> Sequence[tuple[str, str]]:
    return sorted((name, spec.help) for name, spec in registry.conditions.items())
