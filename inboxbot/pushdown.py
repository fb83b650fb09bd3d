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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from inboxbot.core.message import parse_message
from inboxbot.core.plan import Plan
from inboxbot.core.pushdown import Criteria, PushDown, any_of, flatten
from inboxbot.core.rules import Rule, RuleSet, plan_matches, rule_matches
from inboxbot.core.uidsets import sequence_set
from inboxbot.errors import MailboxError
from inboxbot.reminders import open_reminders

log = logging.getLogger("inboxbot")

PUSHDOWN_MIN = 50
SEARCH_CHUNK = 40  # keys per OR tree: one SEARCH stays a short command line
MAX_SET_LENGTH = 7000  # characters of a UID set in a SEARCH line (see _narrowed)
SPLIT_MIN = 4000  # UIDs from which the candidate search is split over two connections


@runtime_checkable
class Searchable(Protocol):
    def search(self, criteria: Sequence[Any]) -> list[int]: ...
    def fetch_fields(self, uids: Sequence[int], fields: Sequence[str]) -> dict[int, bytes]: ...


def server_plans(
    engine: Any, mailbox: Any, store: Any, uids: Sequence[int], now: datetime, *, dry_run: bool
) -> dict[int, Plan]:
    """uid -> Plan for the UIDs decided on the server; {} when nothing is pushed down."""
    pushdown: PushDown | None = engine.pushdown
    if (
        pushdown is None
        or dry_run
        or len(uids) < PUSHDOWN_MIN
        or not isinstance(mailbox, Searchable)
        or (store is not None and store.outbox_pending())
    ):
        return {}
    try:
        plans = _plan_on_server(engine, mailbox, store, pushdown, uids, now)
    except MailboxError as error:
        # A server that refuses one of these searches still gets its mail filed, message by
        # message; a lost connection fails the FETCH that follows, as it would have anyway.
        log.warning("server search failed (%s); planning message by message", error)
        return {}
    log.info(
        "server search: %d of %d messages planned from %d SEARCHes (%d by rule)",
        len(plans), len(uids), len(pushdown.rules) + 1,
        sum(1 for p in plans.values() if p.matched),
    )
    return plans


def _plan_on_server(
    engine: Any, mailbox: Any, store: Any, pushdown: PushDown, uids: Sequence[int],
    now: datetime,
) -> dict[int, Plan]:
    scope = f"{min(uids)}:{max(uids)}"
    wanted = set(uids)
    bookkeeping = _bookkeeping_keys(engine.config, store)
    scope = _narrowed(mailbox, scope, [*bookkeeping, *(p.criteria for p in pushdown.rules)])
    personal = _search_any(mailbox, scope, bookkeeping) & wanted if scope else set()
    candidates = wanted - personal
    hits = {
        pushed.rule.name: set(_search(mailbox, scope, pushed.criteria)) & candidates
        if scope else set()
        for pushed in pushdown.rules
    }
    _confirm(engine, mailbox, pushdown, hits, now)
    return _plans(engine.rules, candidates, hits)


def _bookkeeping_keys(config: Any, store: Any) -> list[Criteria]:
    """Search keys for mail that must take the per-message path (see the module docstring)."""
    keys: list[Criteria] = [("NOT", ("HEADER", "From", ""))]
    domains = {config.shop.domain.lower()} | {
        a.rpartition("@")[2].lower() for a in config.shop.all_addresses
    }
    keys += [("FROM", "@" + d) for d in sorted(domains) if d]
    if store is not None:
        customers = {r.customer.lower() for r in open_reminders(store) if r.customer}
        keys += [("FROM", c) for c in sorted(customers)]
    return keys


def _narrowed(mailbox: Any, scope: str, keys: Sequence[Criteria]) -> str:
    """The UIDs in `scope` that any of `keys` may match, as a UID set ("" for none): one pass
    over the messages for every field the rules read, so the searches that follow ask only
    about these few. A server reads each message's headers once per pass: Dovecot took 0.9 s
    for one cold search on From and Subject together and as long for each of them alone, and
    answers the later searches from its cache (0.06-0.14 s each on 10,000 messages)."""
    if not keys or any(not key for key in keys):
        return scope  # a key that narrows nothing: every message is a candidate
    first, _, last = scope.partition(":")
    if (
        len(keys) <= SEARCH_CHUNK
        and int(last) - int(first) >= SPLIT_MIN
        and callable(getattr(mailbox, "search_split", None))
    ):
        # The one search that reads every message: halved over two connections.
        found = set(mailbox.search_split(int(first), int(last), flatten(any_of(keys))))
    else:
        found = _search_any(mailbox, scope, keys)
    narrowed = sequence_set(found)
    # RFC 7162 asks clients to keep command lines to about 8,192 octets; a longer set goes
    # unsaid (a server that caches what the pass read answers the whole range cheaply too).
    return narrowed if len(narrowed) <= MAX_SET_LENGTH else scope


def _search(mailbox: Any, scope: str, criteria: Criteria) -> list[int]:
    return list(mailbox.search(["UID", scope, *flatten(criteria)]))


def _search_any(mailbox: Any, scope: str, keys: Sequence[Criteria]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(keys), SEARCH_CHUNK):
        found.update(_search(mailbox, scope, any_of(keys[start : start + SEARCH_CHUNK])))
    return found


def _confirm(
    engine: Any, mailbox: Any, pushdown: PushDown, hits: dict[str, set[int]], now: datetime
) -> None:
    """Narrow each superset of hits to the messages the rule's own predicates accept."""
    inexact = [p.rule for p in pushdown.rules if not p.exact]
    pending = sorted(set().union(*(hits[r.name] for r in inexact))) if inexact else []
    if not pending:
        return
    fetched = mailbox.fetch_fields(pending, pushdown.fields)
    for rule in inexact:
        hits[rule.name] &= set(fetched)  # vanished meanwhile: nothing to file
    for uid, raw in fetched.items():
        triage = engine.triage(parse_message(raw, headers_only=True), now)
        for rule in inexact:
            if uid in hits[rule.name] and not rule_matches(rule, triage):
                hits[rule.name].discard(uid)


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
