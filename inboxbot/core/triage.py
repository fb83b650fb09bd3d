"""Facts about one message, derived lazily so header-only rules never pay for text analysis.

Conditions pull only what they need: a rule set that looks at From and Subject never runs the
language detector or the classifier, which keeps the header-only path fast.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Protocol

from inboxbot.core.automated import automated_reason
from inboxbot.core.message import Message, mailbox_of
from inboxbot.core.plan import Channel, Facts, SenderKind

_NOREPLY_LOCALS = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply")
# The languages the shipped lexicons know, for a classifier (a plugin's wrapper) that does not
# say which it reads: a complaint is read in the language it was written in, even when the shop
# answers in fewer.
CLASSIFIER_LANGUAGES = ("en", "de", "sv", "et")


class Verdict(Protocol):
    complaint: bool
    urgent: bool
    angry: bool
    categories: tuple[str, ...]

    @property
    def cues(self) -> object: ...


class ClassifierLike(Protocol):
    def classify(self, subject: str, body: str, language: str) -> Verdict: ...


class NotifierLike(Protocol):
    name: str
    kind: str
    carries_customer_message: bool


class CatalogLike(Protocol):
    def match(self, message: Message) -> NotifierLike | None: ...


class TextFactsLike(Protocol):
    @property
    def language(self) -> str: ...
    @property
    def text_language(self) -> str: ...
    @property
    def verdict(self) -> Verdict | None: ...


class CalendarLike(Protocol):
    def is_open(self, t: datetime) -> bool: ...


@dataclass(frozen=True)
class CustomerRecord:
    """What the store knows about a sender, looked up only when a rule asks."""

    known: bool = False
    recent_complaints: int = 0


@dataclass(frozen=True)
class TriagePolicy:
    shop_address: str
    own_addresses: Collection[str] = ()
    unsupported: Collection[str] = ()
    languages: Sequence[str] = ("en",)
    default_language: str = "en"
    vip_addresses: Collection[str] = ()
    vip_domains: Collection[str] = ()
    repeat_complaints: int = 3

    def is_vip(self, address: str) -> bool:
        domain = address.rpartition("@")[2]
        return address in self.vip_addresses or any(
            domain == d or domain.endswith("." + d) for d in self.vip_domains
        )

    @property
    def all_own(self) -> frozenset[str]:
        return frozenset((self.shop_address, *self.own_addresses))

    @property
    def reaching_us(self) -> frozenset[str]:
        """Every address whose mail lands in this mailbox, the unsupported channels too: a
        reply written to one of them would only come back to us."""
        return frozenset((self.shop_address, *self.own_addresses, *self.unsupported))


@dataclass
class Triage:
    """Lazy facts for one message; every property is computed at most once."""

    message: Message
    policy: TriagePolicy
    now: datetime
    calendar: CalendarLike | None = None
    classifier: ClassifierLike | None = None
    detect_language: Callable[[str, str, Sequence[str], str], str] | None = None
    customer: Callable[[str], CustomerRecord] = field(default=lambda _a: CustomerRecord())
    notifiers: CatalogLike | None = None
    known_text: TextFacts | None = None  # TextReader.read's answer for this message, if known

    @cached_property
    def automated(self) -> str | None:
        """A notification robot (marketplace, carrier, social network) is a machine too, even
        when its sender address looks personal: it is never answered."""
        reason = automated_reason(self.message, self.policy.all_own)
        if reason is None and self.notifier is not None:
            reason = f"notification from {self.notifier.name}"
        return reason

    @cached_property
    def notifier(self) -> NotifierLike | None:
        return self.notifiers.match(self.message) if self.notifiers is not None else None

    @cached_property
    def sender_address(self) -> str:
        return self.message.sender_address

    @cached_property
    def text_facts(self) -> TextFactsLike:
        """Language and verdict, read from the subject and text alone: `known_text` when they
        were worked out ahead (on another core, for a backlog: inboxbot.textwork), else each
        on first use."""
        if self.known_text is not None:
            return self.known_text
        reader = TextReader(self.policy, self.classifier, self.detect_language)
        message = self.message
        return _LazyText(reader, message.subject, message.text, message.content_language)

    @property
    def language(self) -> str:
        return self.text_facts.language

    @property
    def text_language(self) -> str:
        return self.text_facts.text_language

    @cached_property
    def verdict(self) -> Verdict | None:
        """None for automated mail: a bounce quoting "delivery failed" or a notification is no
        customer's complaint, so it is never tagged, filed or reminded about as one (DESIGN.md:
        automated mail stays where it is, marked only as seen by inboxbot)."""
        if self.classifier is None or self.automated is not None:
            return None
        return self.text_facts.verdict

    @property
    def complaint(self) -> bool:
        return bool(self.verdict and self.verdict.complaint)

    @property
    def urgent(self) -> bool:
        return bool(self.verdict and self.verdict.urgent)

    @property
    def angry(self) -> bool:
        return bool(self.verdict and self.verdict.angry)

    @cached_property
    def vip(self) -> bool:
        return bool(self.sender_address) and self.policy.is_vip(self.sender_address)

    @cached_property
    def record(self) -> CustomerRecord:
        return self.customer(self.sender_address)

    @cached_property
    def sender_kind(self) -> SenderKind:
        if self.vip:
            return "vip"
        if self.record.recent_complaints >= self.policy.repeat_complaints:
            return "repeat"
        return "known" if self.record.known else "new"

    def sender_is(self, kind: str) -> bool:
        if kind == "vip":
            return self.vip
        if kind == "new":
            return not self.record.known
        if kind == "known":
            return self.record.known
        if kind == "repeat":
            return self.record.recent_complaints >= self.policy.repeat_complaints
        return False

    @cached_property
    def channel(self) -> Channel:
        return channel_of(self.message, self.policy)

    @cached_property
    def open(self) -> bool:
        return True if self.calendar is None else self.calendar.is_open(self.now)

    def facts(self) -> Facts:
        verdict = self.verdict
        cues: dict[str, tuple[str, ...]] = {}
        if verdict is not None and isinstance(verdict.cues, Mapping):
            cues = {str(k): tuple(v) for k, v in verdict.cues.items()}
        return Facts(
            automated=self.automated,
            language=self.language,
            complaint=self.complaint,
            urgent=self.urgent,
            angry=self.angry,
            vip=self.vip,
            sender=self.sender_kind,
            channel=self.channel,
            open=self.open,
            now=self.now,
            cues=cues,
        )


@dataclass(frozen=True)
class TextFacts:
    """What the subject and text say, whoever sent them: the reply language, the language
    the text is classified in, and the classifier's verdict (None without a classifier)."""

    language: str
    text_language: str
    verdict: Verdict | None


@dataclass(frozen=True)
class TextReader:
    """What reads a text: the shop's languages, the classifier and the language detector."""

    policy: TriagePolicy
    classifier: ClassifierLike | None
    detect_language: Callable[[str, str, Sequence[str], str], str] | None

    def read(self, subject: str, text: str, content_language: str) -> TextFacts:
        """All of the text's facts, computed now (for a worker that hands them back)."""
        lazy = _LazyText(self, subject, text, content_language)
        return TextFacts(lazy.language, lazy.text_language, lazy.verdict)


class _LazyText:
    """TextFacts computed part by part, as Triage asks: a rule set that never looks at the
    verdict never runs the classifier, and one that never answers may not need the language."""

    def __init__(self, reader: TextReader, subject: str, text: str, content_language: str) -> None:
        self.reader, self.subject, self.text = reader, subject, text
        self.content_language = content_language

    @cached_property
    def language(self) -> str:
        policy, detect = self.reader.policy, self.reader.detect_language
        if detect is None:
            return policy.default_language
        text = f"{self.subject}\n{self.text}"
        return detect(text, self.content_language, policy.languages, policy.default_language)

    @cached_property
    def text_language(self) -> str:
        """The language the customer wrote in, for the classifier. The reply language when the
        shop answers in every language the lexicons know; otherwise detected among those and
        the shop's own (a German complaint to an English-only shop is still a complaint), and
        "" (every lexicon) when too short to tell."""
        policy, detect = self.reader.policy, self.reader.detect_language
        readable = getattr(self.reader.classifier, "languages", CLASSIFIER_LANGUAGES)
        wanted = dict.fromkeys((*policy.languages, *readable))
        if detect is None or len(wanted) == len(policy.languages):
            return self.language
        text = f"{self.subject}\n{self.text}"
        return detect(text, self.content_language, tuple(wanted), "")

    @cached_property
    def verdict(self) -> Verdict | None:
        classifier = self.reader.classifier
        if classifier is None:
            return None
        return classifier.classify(self.subject, self.text, self.text_language)


def channel_of(message: Message, policy: TriagePolicy) -> Channel:
    """Which of the shop's addresses the mail reached; the supported one wins when both did."""
    reached = {mailbox_of(a.addr) for a in message.recipients}
    if mailbox_of(policy.shop_address) in reached:
        return "supported"
    unsupported = {mailbox_of(a) for a in policy.unsupported}
    if reached & unsupported or _is_reply_to_noreply(message, reached):
        return "unsupported"
    return "supported"


def _is_reply_to_noreply(message: Message, reached: set[str]) -> bool:
    return any(a.partition("@")[0] in _NOREPLY_LOCALS for a in reached)
