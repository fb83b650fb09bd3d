"""Which platform sent this notification, and does it carry a customer's own words?

Marketplaces, social networks, payment and shipping providers mail the shop about things that
happen on their side. Such mail is never answered by mail, but some of it relays what a customer
wrote (an Etsy conversation, an Amazon buyer message, a Facebook page message), which staff must
answer on that platform. The catalog comes from data (inboxbot/data/notifiers.toml plus the
shop's own files), already parsed: this module reads no files.

Data format (one TOML document; see notifiers.toml for the shipped catalog):

    message_subjects = ["sent you a message", ...]   # regexes: a customer wrote (all entries)

    [[notifier]]
    name = "Etsy"                                    # unique; a later file replaces the entry
    kind = "marketplace"                             # marketplace|social|payment|shipping|...
    domains = ["etsy.com"]                           # sender domain, subdomains included
    headers = [{ name = "X-Etsy-Notify" }]           # optional: identifies without the domain
    messages = true                                  # use the shared message_subjects
    message_subjects = ["conversation with"]         # extra regexes for this entry
    message_domains = ["members.ebay.com"]           # every mail from here relays a customer
    message_headers = [{ name = "X-Kind", contains = "message" }]
    enabled = false                                  # a shop switches a shipped entry off
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inboxbot.core.message import Message
from inboxbot.errors import ConfigError

KINDS = frozenset({"marketplace", "social", "payment", "shipping", "platform", "reviews"})

_ENTRY_KEYS = frozenset(
    {
        "name",
        "kind",
        "domains",
        "headers",
        "messages",
        "message_subjects",
        "message_domains",
        "message_headers",
        "enabled",
    }
)
_TOP_KEYS = frozenset({"message_subjects", "notifier"})
_DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]{2,}$")


@dataclass(frozen=True)
class Notifier:
    name: str
    kind: str
    carries_customer_message: bool


@dataclass(frozen=True, slots=True)
class HeaderCue:
    """A header that is present and, when `contains` is set, holds it (case-insensitive)."""

    name: str
    contains: str = ""

    def holds(self, msg: Message) -> bool:
        values = msg.header_all(self.name)
        if not self.contains:
            return bool(values)
        needle = self.contains.lower()
        return any(needle in value.lower() for value in values)


@dataclass(frozen=True, slots=True)
class NotifierSpec:
    """One catalog entry, validated; `match` turns it into a Notifier for one message."""

    name: str
    kind: str
    domains: tuple[str, ...] = ()
    headers: tuple[HeaderCue, ...] = ()
    message_subjects: tuple[re.Pattern[str], ...] = ()
    message_domains: tuple[str, ...] = ()
    message_headers: tuple[HeaderCue, ...] = ()

    def carries_customer_message(self, msg: Message, sender_domains: Sequence[str]) -> bool:
        if any(_within(d, self.message_domains) for d in sender_domains):
            return True
        if any(cue.holds(msg) for cue in self.message_headers):
            return True
        return any(p.search(msg.subject) for p in self.message_subjects)


class NotifierCatalog:
    """Notification senders by domain (most specific wins), then by header cue, in order."""

    def __init__(self, specs: Sequence[NotifierSpec]) -> None:
        self.specs: tuple[NotifierSpec, ...] = tuple(specs)
        # Few entries have header cues (2 of the 41 shipped): only those are tried per message.
        self._with_headers = tuple(spec for spec in self.specs if spec.headers)
        self._by_domain: dict[str, NotifierSpec] = {}
        for spec in self.specs:
            for domain in (*spec.domains, *spec.message_domains):
                # The first entry to claim a domain keeps it, so the order stays meaningful.
                self._by_domain.setdefault(domain, spec)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<notifiers>") -> NotifierCatalog:
        """Build from one parsed TOML document; `source` names it in error messages."""
        return cls(parse_specs(data, source))

    @classmethod
    def merged(cls, documents: Sequence[tuple[Mapping[str, Any], str]]) -> NotifierCatalog:
        """Merge (data, source) documents in order: a later entry with a known name replaces it
        in place, `enabled = false` removes it, and a new name is appended."""
        specs: dict[str, NotifierSpec | None] = {}
        shared: tuple[re.Pattern[str], ...] = ()
        for data, source in documents:
            disabled = _disabled_names(data, source)
            # A shop's `messages = true` entry uses the shipped phrases plus its own file's.
            shared = (*shared, *shared_subjects(data, source))
            for spec in parse_specs(data, source, shared):
                specs[spec.name.lower()] = spec
            for name in disabled:
                specs[name.lower()] = None
        return cls([spec for spec in specs.values() if spec is not None])

    def match(self, msg: Message) -> Notifier | None:
        domains = _sender_domains(msg)
        spec = self._match_domain(domains) or self._match_header(msg)
        if spec is None:
            return None
        return Notifier(spec.name, spec.kind, spec.carries_customer_message(msg, domains))

    def _match_domain(self, domains: Sequence[str]) -> NotifierSpec | None:
        for domain in domains:
            labels = domain.split(".")
            # Longest suffix first: marketplace.amazon.de before amazon.de.
            for i in range(len(labels) - 1):
                spec = self._by_domain.get(".".join(labels[i:]))
                if spec is not None:
                    return spec
        return None

    def _match_header(self, msg: Message) -> NotifierSpec | None:
        for spec in self._with_headers:
            if any(cue.holds(msg) for cue in spec.headers):
                return spec
        return None


def _within(domain: str, parents: Sequence[str]) -> bool:
    return any(domain == p or domain.endswith("." + p) for p in parents)


def _sender_domains(msg: Message) -> tuple[str, ...]:
    """From, then Sender: platforms that send in a member's name put themselves in Sender."""
    domains = [a.domain for a in msg.from_ if a.domain]
    for value in msg.header_all("sender"):
        addr = email.utils.parseaddr(value)[1].lower()
        if "@" in addr:
            domains.append(addr.rpartition("@")[2])
    return tuple(dict.fromkeys(d.rstrip(".") for d in domains))


# --- validation of parsed data ---------------------------------------------------------------


def shared_subjects(data: Mapping[str, Any], source: str) -> tuple[re.Pattern[str], ...]:
    """The document's top-level message_subjects, for entries with `messages = true`."""
    return _patterns(data.get("message_subjects", []), f"{source}: message_subjects")


def parse_specs(
    data: Mapping[str, Any], source: str, shared: tuple[re.Pattern[str], ...] | None = None
) -> list[NotifierSpec]:
    """Validate one document; every error names the source and the key that is wrong.
    `shared` defaults to the document's own top-level message_subjects."""
    _reject_unknown(data, _TOP_KEYS, source)
    if shared is None:
        shared = shared_subjects(data, source)
    entries = data.get("notifier", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: 'notifier' must be written as [[notifier]] tables")
    specs: list[NotifierSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{source}: notifier[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: must be a table")
        if entry.get("enabled", True) is False:
            continue
        spec = _spec(entry, shared, where)
        if spec.name.lower() in seen:
            raise ConfigError(
                f"{where} ({spec.name}): notifier {spec.name!r} is defined twice in this file"
            )
        seen.add(spec.name.lower())
        specs.append(spec)
    return specs


def _disabled_names(data: Mapping[str, Any], source: str) -> list[str]:
    entries = data.get("notifier", [])
    if not isinstance(entries, list):
        return []
    names = []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("enabled", True) is False:
            names.append(_string(entry.get("name"), f"{source}: notifier name"))
    return names


def _spec(
    entry: Mapping[str, Any], shared: tuple[re.Pattern[str], ...], where: str
) -> NotifierSpec:
    name = _string(entry.get("name"), f"{where}.name")
    where = f"{where} ({name})"
    _reject_unknown(entry, _ENTRY_KEYS, where)
    kind = _string(entry.get("kind"), f"{where}.kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(sorted(KINDS))}")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled: must be true or false")
    messages = entry.get("messages", False)
    if not isinstance(messages, bool):
        raise ConfigError(f"{where}.messages: must be true or false")
    domains = _domains(entry.get("domains", []), f"{where}.domains")
    headers = _cues(entry.get("headers", []), f"{where}.headers")
    if not domains and not headers:
        raise ConfigError(f"{where}: needs domains or headers to recognise the sender")
    own = _patterns(entry.get("message_subjects", []), f"{where}.message_subjects")
    return NotifierSpec(
        name=name,
        kind=kind,
        domains=domains,
        headers=headers,
        message_subjects=(*shared, *own) if messages else own,
        message_domains=_domains(entry.get("message_domains", []), f"{where}.message_domains"),
        message_headers=_cues(entry.get("message_headers", []), f"{where}.message_headers"),
    )


def _reject_unknown(data: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    # A typo such as "domain" must not silently disable an entry.
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")


def _string(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be a non-empty string")
    return value.strip()


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be a list of strings")
    return [_string(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _domains(value: object, where: str) -> tuple[str, ...]:
    domains = []
    for i, raw in enumerate(_strings(value, where)):
        domain = raw.lower().rstrip(".")
        if not _DOMAIN_RE.match(domain):
            raise ConfigError(f"{where}[{i}]: {raw!r} is not a domain (write e.g. 'etsy.com')")
        domains.append(domain)
    return tuple(domains)


def _patterns(value: object, where: str) -> tuple[re.Pattern[str], ...]:
    patterns = []
    for i, text in enumerate(_strings(value, where)):
        try:
            patterns.append(re.compile(text, re.IGNORECASE))
        except re.error as error:
            raise ConfigError(f"{where}[{i}]: bad regular expression {text!r}: {error}") from None
    return tuple(patterns)


def _cues(value: object, where: str) -> tuple[HeaderCue, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be a list of {{ name = ..., contains = ... }} tables")
    cues = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}[{i}]: must be a table {{ name = ..., contains = ... }}")
        _reject_unknown(item, frozenset({"name", "contains"}), f"{where}[{i}]")
        contains = item.get("contains", "")
        if not isinstance(contains, str):
            raise ConfigError(f"{where}[{i}].contains: must be a string")
        cues.append(HeaderCue(_string(item.get("name"), f"{where}[{i}].name"), contains))
    return tuple(cues)


__all__ = ["KINDS", "HeaderCue", "Notifier", "NotifierCatalog", "NotifierSpec", "parse_specs"]
