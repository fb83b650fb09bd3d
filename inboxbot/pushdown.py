"""Plan a backlog on the server: header rules as SEARCHes, hits confirmed on a few fetched fields.

core.pushdown compiles the rules; this module asks the mailbox. The result is a Plan per UID
(made by rules.plan_matches, as `evaluate` makes it), so the executor files and marks these
messages with the same grouped MOVE/STORE and the same exactly-once bookkeeping ($InboxbotSeen,
in-flight UIDs, watermark) as any other.

Messages that need the per-message path are left out of the result, and the caller fetches and
parses them as before:
- from staff (the shop's domains): they may be commands (support+remind-2d@) to file;
- from a customer with an open reminder: their new mail may cancel it;
- without a From header: possibly unreadable mail, which goes to quarantine.
Nothing is pushed down in a dry run, with an unfinished outbox (a reply whose mark may still be
missing), below PUSHDOWN_MIN messages (one FETCH is cheaper than a SEARCH per rule then), when
`[imap] server_search = false`, or when the mailbox cannot SEARCH (Maildir).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from inboxbot.core.message import parse_message, preload
from inboxbot.core.plan import Plan
from inboxbot.core.pushdown import Criteria, PushDown, any_of, flatten
from inboxbot.core.rules import Rule, RuleSet, plan_matches, rule_matches
from inboxbot.errors import MailboxError
from inboxbot.reminders import SEEN, open_reminders

log = logging.getLogger("inboxbot")

PUSHDOWN_MIN = 50
SEARCH_CHUNK = 40  # keys per OR tree: one SEARCH stays a short command line
SPLIT_MIN = 4000  # UIDs from which the candidate search is split over two connections


@dataclass(frozen=True)
class ServerPlans:
    """uid -> Plan for the UIDs decided on the server, and the Message-IDs of those a rule
    matched (read with the fields that confirmed them): the log names every action's mail."""

    plans: dict[int, Plan] = field(default_factory=dict)
    message_ids: dict[int, str] = field(default_factory=dict)
    # Those no rule can match, already marked $InboxbotSeen while the candidates were judged:
    # the mark is all there is to do for them.
    marked: frozenset[int] = frozenset()


@runtime_checkable
class Searchable(Protocol):
    def search(self, criteria: Sequence[Any]) -> list[int]: ...
    def fetch_fields(self, uids: Sequence[int], fields: Sequence[str]) -> dict[int, bytes]: ...


def server_plans(
    engine: Any, mailbox: Any, store: Any, uids: Sequence[int], now: datetime, *, dry_run: bool
) -> ServerPlans:
    """The UIDs decided on the server; none when nothing is pushed down."""
    pushdown: PushDown | None = engine.pushdown
    if (
        pushdown is None
        or dry_run
        or len(uids) < PUSHDOWN_MIN
        or not isinstance(mailbox, Searchable)
        or (store is not None and store.outbox_pending())
    ):
        return ServerPlans()
    try:
        decided = _plan_on_server(engine, mailbox, store, pushdown, uids, now)
    except MailboxError as error:
        # A server that refuses one of these searches still gets its mail filed, message by
        # message; a lost connection fails the FETCH that follows, as it would have anyway.
        log.warning("server search failed (%s); planning message by message", error)
        return ServerPlans()
    log.info(
        "server search: %d of %d messages planned (%d by rule)",
        len(decided.plans), len(uids), sum(1 for p in decided.plans.values() if p.matched),
    )
    return decided


def _plan_on_server(
    engine: Any, mailbox: Any, store: Any, pushdown: PushDown, uids: Sequence[int],
    now: datetime,
) -> ServerPlans:
    scope = f"{min(uids)}:{max(uids)}"
    wanted = set(uids)
    bookkeeping = _Bookkeeping(engine.config, store)
    keys = [*bookkeeping.keys, *(p.criteria for p in pushdown.rules)]
    # The client waits for the one pass over every message; meanwhile it imports what the
    # candidates' headers will need (joined before anything else could import it too).
    loading = threading.Thread(target=preload, name="inboxbot-preload", daemon=True)
    loading.start()
    try:
        found = _candidates(mailbox, scope, keys)
    finally:
        loading.join()
    if found is not None:
        return _decided_here(engine, mailbox, pushdown, bookkeeping, found & wanted, wanted, now)
    # Some rule narrows nothing (no conditions, a `not`): a search per rule, the inexact
    # ones' hits confirmed.
    personal = _search_any(mailbox, scope, bookkeeping.keys) & wanted
    candidates = wanted - personal
    hits = {
        pushed.rule.name: set(_search(mailbox, scope, pushed.criteria)) & candidates
        for pushed in pushdown.rules
    }
    message_ids = _confirm(engine, mailbox, pushdown, hits, now)
    return ServerPlans(_plans(engine.rules, candidates, hits), message_ids)


class _Bookkeeping:
    """Mail that must take the per-message path (see the module docstring): as search keys for
    the server, and as the same test on fetched header fields."""

    def __init__(self, config: Any, store: Any) -> None:
        domains = {config.shop.domain.lower()} | {
            a.rpartition("@")[2].lower() for a in config.shop.all_addresses
        }
        needles = ["@" + d for d in sorted(domains) if d]
        if store is not None:
            needles += sorted({r.customer.lower() for r in open_reminders(store) if r.customer})
        self.needles = tuple(needles)
        # SEARCH FROM is a substring match on the From header; HEADER From "" finds every
        # message that has one.
        self.keys: list[Criteria] = [("NOT", ("HEADER", "From", "")),
                                     *(("FROM", n) for n in self.needles)]

    def applies(self, message: Any) -> bool:
        if not message.has_header("from"):
            return True
        value = " ".join(message.header_all("from")).lower()
        return any(needle in value for needle in self.needles)


def _candidates(mailbox: Any, scope: str, keys: Sequence[Criteria]) -> set[int] | None:
    """The UIDs in `scope` that any of `keys` may match, or None when some key narrows nothing:
    one pass over the messages for every field the rules read. A server reads each message's
    headers once per pass: Dovecot took 0.9 s for one cold search on From and Subject together
    and as long for each of them alone."""
    if not keys or any(not key for key in keys):
        return None
    first, _, last = scope.partition(":")
    if (
        len(keys) <= SEARCH_CHUNK
        and int(last) - int(first) >= SPLIT_MIN
        and callable(getattr(mailbox, "search_split", None))
    ):
        # The one search that reads every message: halved over two connections.
        return set(mailbox.search_split(int(first), int(last), flatten(any_of(keys))))
    return _search_any(mailbox, scope, keys)


def _decided_here(
    engine: Any, mailbox: Any, pushdown: PushDown, bookkeeping: _Bookkeeping,
    candidates: set[int], wanted: set[int], now: datetime,
) -> ServerPlans:
    """Every candidate's header fields are fetched anyway to confirm it, so the rules and the
    bookkeeping are judged on them here: a search per rule would only repeat the pass (0.04 s
    each on 10,000 messages) to say what the fields say."""
    fields = tuple(dict.fromkeys([*pushdown.fields, "From", "Message-ID"]))
    personal: set[int] = set()
    hits: dict[str, set[int]] = {p.rule.name: set() for p in pushdown.rules}
    message_ids: dict[int, str] = {}

    def judge(fetched: dict[int, bytes]) -> None:
        for uid, raw in fetched.items():
            message = parse_message(raw, headers_only=True)
            if bookkeeping.applies(message):
                personal.add(uid)
                continue
            triage = engine.triage(message, now)
            matched = [p.rule.name for p in pushdown.rules if rule_matches(p.rule, triage)]
            for name in matched:
                hits[name].add(uid)
            if matched and message.message_id:
                message_ids[uid] = message.message_id

    # The rest match nothing: marking them is all they need, and the server does it while the
    # candidates' fields are read and judged here (0.2-0.3 s each, on 10,000 messages).
    rest = sorted(wanted - candidates)
    marked: frozenset[int] = frozenset()
    if rest and candidates and callable(getattr(mailbox, "fetch_fields_marking", None)):
        mailbox.fetch_fields_marking(sorted(candidates), fields, rest, SEEN, judge)
        marked = frozenset(rest)
    else:
        judge(mailbox.fetch_fields(sorted(candidates), fields) if candidates else {})
    # A candidate that vanished before its FETCH is not filed (nothing to move) and not sent
    # to the per-message path (nothing to fetch there either).
    return ServerPlans(_plans(engine.rules, wanted - personal, hits), message_ids, marked)


def _search(mailbox: Any, scope: str, criteria: Criteria) -> list[int]:
    return list(mailbox.search(["UID", scope, *flatten(criteria)]))


def _search_any(mailbox: Any, scope: str, keys: Sequence[Criteria]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(keys), SEARCH_CHUNK):
        found.update(_search(mailbox, scope, any_of(keys[start : start + SEARCH_CHUNK])))
    return found


def _confirm(
    engine: Any, mailbox: Any, pushdown: PushDown, hits: dict[str, set[int]], now: datetime
) -> dict[int, str]:
    """Narrow each superset of hits to the messages the rule's own predicates accept; the
    Message-IDs of those confirmed (for the log)."""
    inexact = [p.rule for p in pushdown.rules if not p.exact]
    pending = sorted(set().union(*(hits[r.name] for r in inexact))) if inexact else []
    message_ids: dict[int, str] = {}
    if not pending:
        return message_ids
    fetched = mailbox.fetch_fields(pending, tuple(dict.fromkeys([*pushdown.fields, "Message-ID"])))
    for rule in inexact:
        hits[rule.name] &= set(fetched)  # vanished meanwhile: nothing to file
    for uid, raw in fetched.items():
        message = parse_message(raw, headers_only=True)
        triage = engine.triage(message, now)
        for rule in inexact:
            if uid in hits[rule.name] and not rule_matches(rule, triage):
                hits[rule.name].discard(uid)
        if message.message_id:
            message_ids[uid] = message.message_id
    return message_ids


def _plans(rules: RuleSet, uids: Iterable[int], hits: dict[str, set[int]]) -> dict[int, Plan]:
    # Plans are immutable and most messages share one (usually: no rule matched): one per
    # combination of matching rules.
    shared: dict[frozenset[str], Plan] = {}
    plans: dict[int, Plan] = {}
    for uid in uids:
        names = frozenset(name for name, found in hits.items() if uid in found)
        plan = shared.get(names)
        if plan is None:
            plan = shared[names] = plan_matches(rules, _named(names))
        plans[uid] = plan
    return plans


def _named(names: frozenset[str]) -> Callable[[Rule], bool]:
    return lambda rule: rule.name in names
