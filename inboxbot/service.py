"""One pass over the watched folder: fetch a batch -> parse -> plan -> execute grouped -> record.

The order of side effects for one message follows DESIGN.md section 4: record the intent in the
outbox -> send -> mark $AutoReplied -> move -> mark done. The server's keywords are the source of
truth, so a lost state file never causes a second reply.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import cached_property
from typing import TYPE_CHECKING, Any

from inboxbot import reminders as reminder_hooks
from inboxbot import textwork
from inboxbot.config import Config
from inboxbot.core.automated import reply_target_reason
from inboxbot.core.hours import BusinessCalendar
from inboxbot.core.message import Message, mailbox_of, parse_entity, parse_message
from inboxbot.core.plan import Action, Facts, Plan
from inboxbot.core.pushdown import PushDown, compile_pushdown
from inboxbot.core.rules import OUTGOING, RuleSet, evaluate
from inboxbot.core.triage import CustomerRecord, TextFacts, Triage, TriagePolicy
from inboxbot.errors import SendError
from inboxbot.logs import together
from inboxbot.ports import Fetched, FolderState, Mailbox, Sender
from inboxbot.pushdown import server_plans

if TYPE_CHECKING:  # the composer brings Jinja2: imported only where replies are written
    from inboxbot.composer import Composer
    from inboxbot.textwork import TextWorker

log = logging.getLogger("inboxbot")

SEEN = "$InboxbotSeen"
AUTO_REPLIED = "$AutoReplied"
REDIRECTED = "$Redirected"
BATCH_SIZE = 500
SEND_CHUNK = 50
# Staged keywords and moves are stored every APPLY_SIZE messages: a STORE or MOVE costs Dovecot
# about as much for 50 messages as for 500 (benchmarks: 3.3 s of a 10,000 backlog's server time
# in 500s, 1.2-1.5 s in 2,000s). The staged work is a few hundred bytes per message.
APPLY_SIZE = 2_000
# Batches handed to the text worker ahead of the one being planned. With one, a batch the
# worker read slowly (Dovecot and the worker share the second core) held this process up: it
# waited a median 1.2 s for answers in a 10,000 backlog, against 0.6-1.0 s with two. Each
# batch ahead holds its fetched bytes, then its Messages (peak PSS of both processes there:
# 80 -> 83 MB).
READ_AHEAD = 2
PUSHED_BATCH_SIZE = 20_000  # a pushed-down Outcome holds no message: these cost little memory
_MARKS = {"reply": AUTO_REPLIED, "redirect": REDIRECTED}


@dataclass
class Engine:
    """Everything needed to plan a message, built once from the config and rebuilt on reload."""

    config: Config
    rules: RuleSet
    calendar: BusinessCalendar
    composer: Composer | None
    classifier: Any = None
    detect_language: Callable[[str, str, Sequence[str], str], str] | None = None
    notifiers: Any = None

    @cached_property
    def pushdown(self) -> PushDown | None:
        """The rules as server searches, when they allow it (see core.pushdown)."""
        if not self.config.imap.server_search:
            return None
        return compile_pushdown(self.rules)

    @cached_property
    def policy(self) -> TriagePolicy:
        c = self.config
        return TriagePolicy(
            shop_address=c.shop.address,
            own_addresses=c.shop.own_addresses,
            unsupported=c.channels.unsupported,
            languages=c.shop.languages,
            default_language=c.shop.default_language,
            vip_addresses=c.vip.addresses,
            vip_domains=c.vip.domains,
            repeat_complaints=c.triage.repeat_complaints,
        )

    @cached_property
    def _open_at(self) -> _LastInstant:
        return _LastInstant(self.calendar)

    @property
    def needs_text(self) -> bool:
        """Header-only rule sets never download or parse a body."""
        return self.rules.needs_text or bool(self.rules.actions_used() & OUTGOING)

    def triage(
        self,
        message: Message,
        now: datetime,
        customer: Callable[[str], CustomerRecord] | None = None,
        known_text: TextFacts | None = None,
    ) -> Triage:
        return Triage(
            message,
            self.policy,
            now,
            calendar=self._open_at,
            classifier=self.classifier,
            detect_language=self.detect_language,
            customer=customer or (lambda _a: CustomerRecord()),
            notifiers=self.notifiers,
            known_text=known_text,
        )


class _LastInstant:
    """The calendar's is_open for the instant a batch is planned at, worked out once for the
    batch instead of once per message (a time-zone conversion and a holiday lookup each)."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self.last: tuple[datetime, bool] | None = None

    def is_open(self, t: datetime) -> bool:
        if self.last is None or self.last[0] != t:
            self.last = (t, self.calendar.is_open(t))
        return self.last[1]


@dataclass
class Outcome:
    """What happened to one message; the demo table and `run` summaries are made of these."""

    uid: int
    message: Message | None
    _facts: Facts | None
    plan: Plan
    folder: str
    keywords: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    error: str = ""
    triage: Triage | None = field(default=None, repr=False, compare=False)
    message_id: str = ""  # of a message decided on the server, which has no `message`

    @property
    def facts(self) -> Facts | None:
        """The triage's facts, computed when first asked for: a run needs only the automated
        and complaint verdicts the rules computed anyway (all the facts of every message cost
        ~5 % of a default-rules run: the calendar, the channel, the sender's history)."""
        if self._facts is None and self.triage is not None:
            self._facts = self.triage.facts()
        return self._facts

    @facts.setter
    def facts(self, value: Facts | None) -> None:
        self._facts, self.triage = value, None

    @property
    def verdicts(self) -> Triage | Facts | None:
        """Where `automated` and `complaint` come from without computing the other facts."""
        return self.triage if self.triage is not None else self._facts


class ReplyLimiter:
    """DESIGN.md section 5: one auto-reply per sender per `per_sender`, `max_per_hour` in all.

    `store` needs last_reply(address), replies_since(when) and checkins_since(when): the
    state store in a real run, NoHistory in `simulate`. Replies granted in the batch being
    planned count too, since they are sent only after the whole batch is planned.
    """

    def __init__(self, store: Any, config: Config) -> None:
        self.store, self.settings = store, config.autoreply
        self.granted: dict[str, datetime] = {}

    def start_batch(self) -> None:
        self.granted.clear()

    def check(self, address: str, now: datetime) -> str | None:
        if not address:
            return "no address to reply to"
        key = mailbox_of(address)
        last = self.granted.get(key) or self._last_reply(key, address)
        if last is not None and now - last < self.settings.per_sender:
            return f"{address} was already answered at {last:%Y-%m-%d %H:%M} (per_sender)"
        hour_ago = now - timedelta(hours=1)
        # Check-ins are automatic mail to customers too: max_per_hour caps them together.
        sent = (
            self.store.replies_since(hour_ago)
            + self.store.checkins_since(hour_ago)
            + len(self.granted)
        )
        if sent >= self.settings.max_per_hour:
            return f"max_per_hour ({self.settings.max_per_hour}) reached"
        self.granted[key] = now
        return None

    def _last_reply(self, key: str, address: str) -> datetime | None:
        last = self.store.last_reply(key)
        if key == address:
            return last  # type: ignore[no-any-return]
        # A state file from before replies were recorded per mailbox holds the full address.
        older = self.store.last_reply(address)
        return max((t for t in (last, older) if t is not None), default=None)


class NoHistory:
    """The limiter's store for offline runs: no earlier replies; the limiter's own grants make
    `simulate` show the limits a run over the same mail would hit."""

    def last_reply(self, address: str) -> datetime | None:
        return None

    def replies_since(self, when: datetime) -> int:
        return 0

    def checkins_since(self, when: datetime) -> int:
        return 0


def with_forward(plan: Plan, config: Config) -> Plan:
    """[channels].forward = true: a redirected customer's mail also reaches the support address,
    so nothing is lost and the customer need not write again."""
    if not config.channels.forward or any(a.type == "forward" for a in plan.actions):
        return plan
    redirects = [a for a in plan.actions if a.type == "redirect"]
    if not redirects:
        return plan
    forward = Action("forward", {"to": ""}, "[channels].forward = true", redirects[0].skipped)
    return replace(plan, actions=(*plan.actions, forward))


def plan_message(
    engine: Engine,
    message: Message,
    now: datetime,
    limiter: ReplyLimiter,
    customer: Callable[[str], CustomerRecord] | None = None,
    *,
    already: str | None = None,
    known_text: TextFacts | None = None,
) -> tuple[Triage, Plan]:
    """The one planning path shared by run, --dry-run, simulate and the demo."""
    triage = engine.triage(message, now, customer, known_text)
    plan = with_forward(evaluate(engine.rules, triage), engine.config)
    address = message.reply_address.addr if message.reply_address else ""

    def reason() -> str | None:
        # The target first: the limiter counts what it grants.
        target = reply_target_reason(message, engine.policy.reaching_us)
        return target or limiter.check(address, now)

    return triage, limit_plan(plan, reason, already)


def limit_plan(plan: Plan, reason: Callable[[], str | None], already: str | None) -> Plan:
    """Mark reply-like actions skipped when a limit or a server mark forbids them."""
    if not any(a.type in OUTGOING and a.skipped is None for a in plan.actions):
        return plan
    why = already or reason()
    if why is None:
        return plan
    actions = tuple(
        replace(a, skipped=why) if a.type in OUTGOING and a.skipped is None else a
        for a in plan.actions
    )
    return replace(plan, actions=actions)


@dataclass
class _Work:
    """Side effects of one batch, grouped so each costs one IMAP command."""

    copies: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    outgoing: list[tuple[Outcome, Triage, Action]] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    sent_copies: list[bytes] = field(default_factory=list)  # for Sent: one APPEND per chunk


def read_message(fetched: Fetched, headers_only: bool) -> Message | str:
    """The fetched message parsed, or why it cannot be (it goes to quarantine)."""
    try:
        if fetched.entity is not None:  # fetched in pieces: no MIME text to parse again
            message = parse_entity(fetched.entity, fetched.size)
        else:
            message = parse_message(fetched.raw, headers_only=headers_only)
    except Exception as error:  # hostile mail must never stop the loop
        return f"unreadable: {type(error).__name__}: {error}"
    if not message.headers:
        return "unreadable: no headers"
    return message


@dataclass
class Read:
    """A batch made ready ahead of its planning: each message parsed (or why it cannot be),
    and its text's facts when a worker read them (inboxbot.textwork).

    With a worker, `answer` waits for what it made of `fetched`; those bytes are kept only
    until then, for this process to parse them itself if the worker failed."""

    batch: list[Fetched]  # the messages' Fetched without their bytes
    messages: dict[int, Message | str] = field(default_factory=dict)
    answer: Callable[[], dict[int, textwork.Parsed] | None] | None = None
    fetched: list[Fetched] = field(default_factory=list)
    texts: dict[int, TextFacts] = field(default_factory=dict)

    def message(self, uid: int) -> Message | str:
        self._settle()
        return self.messages[uid]

    def text(self, uid: int) -> TextFacts | None:
        """The message's text facts; None: not known (no worker, or it failed), the Triage
        works them out itself."""
        self._settle()
        return self.texts.get(uid)

    def _settle(self) -> None:
        """Wait for the worker the first time; without its answer, parse here."""
        if self.answer is None:
            return
        answer, self.answer = self.answer(), None
        fetched, self.fetched = self.fetched, []
        if answer is None:  # a worker reads only for text rules: never headers only
            self.messages = {f.uid: read_message(f, headers_only=False) for f in fetched}
            return
        for uid, (message, facts) in answer.items():
            self.messages[uid] = message
            if facts is not None:
                self.texts[uid] = facts


@dataclass
class _Staged:
    """Keywords, copies and moves decided but not yet stored on the server, of one or more
    batches, grouped so each costs one IMAP command (see Executor.process)."""

    uids: list[int] = field(default_factory=list)  # in flight until applied
    keywords: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    copies: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    moves: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    staying: list[int] = field(default_factory=list)
    # (uid, Message-ID, action, detail): a line is written once its action is done. No Outcome
    # is kept: it holds the message and up to 64 KiB of its text.
    log_lines: list[tuple[int, str, str, str]] = field(default_factory=list)


class Executor:
    def __init__(
        self,
        engine: Engine,
        mailbox: Mailbox,
        sender: Sender | None,
        store: Any,
        clock: Callable[[], datetime],
        *,
        dry_run: bool = False,
    ) -> None:
        self.engine, self.mailbox, self.sender, self.store = engine, mailbox, sender, store
        self.clock, self.dry_run = clock, dry_run
        self.limiter = ReplyLimiter(store, engine.config)
        self.deferred: set[int] = set()  # uids whose reply must be retried on the next pass
        self.replay: set[int] = set()  # uids of an interrupted batch: marked but maybe not filed
        self.folder_state: FolderState | None = None
        self.stopping: Callable[[], bool] = lambda: False  # set by run_pass
        self._last_triage: dict[int, Triage] = {}
        self.staged = _Staged()
        self._promised: dict[tuple[datetime, str], datetime] = {}  # see _due

    # -- planning --------------------------------------------------------------------------

    def plan_one(
        self,
        fetched: Fetched,
        now: datetime,
        headers_only: bool,
        message: Message | str,
        known_text: TextFacts | None = None,
    ) -> Outcome:
        """Plan one message: `message` is what `read_message` made of it, and `known_text` its
        text's facts when worked out ahead (see inboxbot.textwork)."""
        if isinstance(message, str):
            return self._quarantine(fetched.uid, message)
        already = (
            "already answered ($AutoReplied on the server)"
            if (AUTO_REPLIED in fetched.flags or REDIRECTED in fetched.flags)
            else None
        )
        triage, plan = plan_message(
            self.engine,
            message,
            now,
            self.limiter,
            self._customer,
            already=already,
            known_text=known_text,
        )
        self._last_triage[fetched.uid] = triage
        kept = None if headers_only else triage  # header rules: no facts, as before
        return Outcome(fetched.uid, message, None, plan, self.engine.config.imap.watch, triage=kept)

    def read_batch(
        self, batch: Sequence[Fetched], headers_only: bool, worker: TextWorker | None
    ) -> Read:
        """Parse the batch's messages, or hand them to `worker` to parse and read."""
        to_plan = [f for f in batch if self._to_plan(f)]
        read = Read([replace(f, raw=b"", entity=None) for f in batch])
        if worker is not None and to_plan:
            read.answer, read.fetched = worker.submit(to_plan), to_plan
        else:
            read.messages = {f.uid: read_message(f, headers_only) for f in to_plan}
        return read

    def _to_plan(self, fetched: Fetched) -> bool:
        """Not done yet: unmarked, or marked by a batch a crash interrupted (replayed)."""
        return SEEN not in fetched.flags or fetched.uid in self.replay

    def _customer(self, address: str) -> CustomerRecord:
        if not self.store or not address:
            return CustomerRecord()
        since = self.clock() - timedelta(days=self.engine.config.triage.repeat_days)
        return CustomerRecord(
            self.store.is_known(address), self.store.complaint_count(address, since)
        )

    def _quarantine(self, uid: int, reason: str) -> Outcome:
        folder = self.engine.config.folders.quarantine
        action = Action("move", {"folder": folder}, reason)
        return Outcome(uid, None, None, Plan((), (action,)), folder, error=reason)

    # -- executing -------------------------------------------------------------------------

    def process(
        self,
        read: Read,
        pushed: Mapping[int, Plan] | None = None,
        message_ids: Mapping[int, str] | None = None,
        marked: Collection[int] = (),
    ) -> list[Outcome]:
        """Plan, execute and record one batch, as `read_batch` made it ready: the fetched
        messages, plus those whose Plan the server searches already decided (`pushed`, with
        the Message-IDs they read, and those of them `marked` $InboxbotSeen already; see
        inboxbot.pushdown).

        Replies go out and history is recorded now; the keywords and moves are staged for
        `apply_staged`, which stores several batches' together: each STORE and MOVE costs the
        server about the same for 50 messages as for 500 (it rewrites the folder's index)."""
        now = self.clock()
        headers_only = not self.engine.needs_text
        self._last_triage = {}
        self.limiter.start_batch()
        outcomes = []
        work = _Work()
        batch = read.batch
        self.deferred.difference_update(f.uid for f in batch)  # retried now
        for fetched in batch:
            if not self._to_plan(fetched):
                continue
            if self.stopping() and fetched.uid not in self.replay:
                work.deferred.append(fetched.uid)  # SIGTERM: left as it is for the next start
                continue
            outcome = self.plan_one(
                fetched, now, headers_only, read.message(fetched.uid), read.text(fetched.uid)
            )
            # Staff command mails (support+remind-2d@) are filed, never answered.
            reminder_hooks.file_command(outcome, self.engine.config)
            if not self.dry_run:
                self._resume_marks(outcome)
            outcomes.append(outcome)
            self._collect(outcome, work)
        known_ids = message_ids or {}
        for uid, plan in (pushed or {}).items():
            outcome = Outcome(uid, None, None, plan, self.engine.config.imap.watch,
                              message_id=known_ids.get(uid, ""))
            outcomes.append(outcome)
            if plan.actions:  # the rest (most of a backlog) has nothing to collect
                self._collect(outcome, work)
        if self.dry_run:
            return outcomes
        self._send_all(work, now)
        # In flight from before a crash: recorded then (the in-flight list is stored by the
        # same flush as the batch's records), whether or not the server got its marks.
        replayed = {f.uid for f in batch if f.uid in self.replay}
        waiting = set(work.deferred)
        done = [o for o in outcomes if o.uid not in waiting]
        # Reminders and history are durable before the messages are marked done on the server
        # ($InboxbotSeen): a crash in between replays the batch instead of losing them, and a
        # replayed message was recorded already.
        reminder_hooks.after_batch(self, [o for o in done if o.uid not in replayed], now)
        self._stage(work, outcomes, marked)
        state = self.folder_state
        if state is not None:
            self.store.set_in_flight(state.name, state.uidvalidity, self.staged.uids)
        self._record(done, now, replayed)  # flushes: all of the above is durable from here
        return outcomes

    def _collect(self, outcome: Outcome, work: _Work) -> None:
        triage = self._last_triage.get(outcome.uid)
        for action in outcome.plan.active:
            args = action.args
            if action.type in ("tag", "flag"):
                mark = str(args.get("keyword") or args["flag"])
                if mark not in outcome.keywords:
                    outcome.keywords.append(mark)
            elif action.type == "move":
                outcome.folder = str(args["folder"])
            elif action.type == "copy":
                work.copies[str(args["folder"])].append(outcome.uid)
            elif action.type in OUTGOING and triage is not None:
                work.outgoing.append((outcome, triage, action))
        if outcome.error:
            log.warning("uid %s: moved to %s: %s", outcome.uid, outcome.folder, outcome.error)
        _log_unanswered(outcome)

    def _send_all(self, work: _Work, now: datetime) -> None:
        # A composed EmailMessage weighs ~75 KB (a parse tree per header): a batch's 500 replies
        # composed at once were the biggest part of the daemon's memory. A chunk at a time keeps
        # "intent durable before anything leaves" per chunk at one fsync per chunk.
        smtp_down = False
        for start in range(0, len(work.outgoing), SEND_CHUNK):
            chunk = work.outgoing[start : start + SEND_CHUNK]
            if smtp_down or self.stopping():  # keep the rest for the next pass, in order
                work.deferred.extend(outcome.uid for outcome, _triage, _action in chunk)
                continue
            smtp_down = not self._send_chunk(chunk, work, now)

    def _send_chunk(
        self, outgoing: Sequence[tuple[Outcome, Triage, Action]], work: _Work, now: datetime
    ) -> bool:
        """Compose, record the intent, send; False when the SMTP server failed temporarily."""
        planned = []
        for outcome, triage, action in outgoing:
            try:
                planned.append((outcome, triage, action, self._compose(outcome, triage, action,
                                                                       now)))
            except Exception as error:  # a sender address no mail can be written to, say
                log.error("uid %s %s: %s not possible (%s); flagged for staff", outcome.uid,
                          triage.message.message_id, action.type, error)
                if "\\Flagged" not in outcome.keywords:
                    outcome.keywords.append("\\Flagged")
        pending = []
        for outcome, triage, action, message in planned:
            key = self._outbox_key(triage.message, outcome.uid, action.type)
            entry = {
                "key": key,
                "uid": outcome.uid,
                "type": action.type,
                "to": _recipients(message),
                "message_id": message["Message-ID"],
                "created": now.isoformat(),
                "state": "intent",
            }
            if not self.store.outbox_add(key, entry):
                existing = self.store.outbox_get(key) or {}
                if existing.get("state") in ("sent", "marked", "done"):
                    self._mark_sent(outcome, action.type, key)  # sent before a crash: mark now
                    continue
            pending.append((outcome, action, message, key))
        self.store.flush()  # the intent is durable before anything leaves
        smtp_down = False
        try:
            for outcome, action, message, key in pending:
                # The server is away, or SIGTERM (the message in hand was finished): keep the
                # rest for the next pass, in order.
                if smtp_down or self.stopping():
                    work.deferred.append(outcome.uid)
                    continue
                smtp_down = not self._send_one(outcome, action, message, key, work)
        finally:
            self._append_sent_copies(work)
        return not smtp_down

    def _outbox_key(self, message: Message, uid: int, kind: str) -> str:
        """The outbox entry of one reply: by the inbound Message-ID (DESIGN.md section 4). A
        mail without one is keyed by its folder, UIDVALIDITY and UID: a UID alone comes back
        when a folder is recreated or restored, and the new mail found the old one's finished
        entry (marked answered, never sent)."""
        if message.message_id:
            return f"{message.message_id}:{kind}"
        state = self.folder_state
        where = f"{state.name}:{state.uidvalidity}:" if state is not None else ""
        return f"{where}{uid}:{kind}"

    def _append_sent_copies(self, work: _Work) -> None:
        """The chunk's replies into Sent, as one command: an APPEND per reply cost Dovecot more
        the larger Sent grew (see ImapMailbox.append_many). Sent copies are for staff, not
        part of the exactly-once chain (DESIGN.md section 4): a crash before this loses the
        copies of the chunk's replies, as a crash between a send and its APPEND always lost
        that one's; the replies themselves and their marks are unaffected."""
        copies, work.sent_copies = work.sent_copies, []
        if not copies:
            return
        folder, flags = self.engine.config.folders.sent, ["\\Seen", SEEN]
        append_many = getattr(self.mailbox, "append_many", None)
        if append_many is not None:
            append_many(folder, copies, flags)
        else:  # a Mailbox without it (the port requires only append)
            for raw in copies:
                self.mailbox.append(folder, raw, flags)

    def _compose(
        self, outcome: Outcome, triage: Triage, action: Action, now: datetime
    ) -> EmailMessage:
        composer = self.engine.composer
        assert composer is not None, "outgoing actions need templates"
        if action.type == "forward":
            original = self.mailbox.fetch_full(outcome.uid)
            to = str(action.args.get("to") or self.engine.config.shop.address)
            return composer.forward(original, triage.message, to, now)
        forwarded = any(a.type == "forward" for a in outcome.plan.active)
        return composer.reply(str(action.args["template"]), triage, now, forwarded=forwarded)

    def _send_one(
        self, outcome: Outcome, action: Action, message: EmailMessage, key: str, work: _Work
    ) -> bool:
        """Send one message; False when the server failed temporarily (retry next pass)."""
        assert self.sender is not None, "outgoing actions need [smtp]"
        envelope = self.engine.config.autoreply.envelope_sender
        try:
            self.sender.send(message, envelope_from=envelope, recipients=_recipients(message))
        except SendError as error:
            if error.permanent:
                log.error(
                    "uid %s: %s refused permanently: %s; flagged for staff",
                    outcome.uid,
                    action.type,
                    error,
                )
                self.store.outbox_set_state(key, "failed")
                outcome.keywords.append("\\Flagged")
                return True
            log.warning("uid %s: %s not sent yet (%s); will retry", outcome.uid, action.type, error)
            work.deferred.append(outcome.uid)
            return False
        log_action(outcome, action.type, "sent to " + ", ".join(_recipients(message)))
        self.store.outbox_set_state(key, "sent")
        if action.type != "forward":
            self.store.record_reply(mailbox_of(_recipients(message)[0]), self.clock())
        try:
            # The server's mark before the fsync: between the 250 and the mark that stops a
            # second reply (even without the state file, even with a full disk) lies one IMAP
            # round trip, not a disk flush. A failed mark leaves "sent" on disk: a restart marks.
            self._mark_sent(outcome, action.type, key)
        finally:
            self.store.flush()
        if action.type != "forward":
            # $InboxbotSeen: the Sent scan for staff answers (answers.sync_answers) passes over
            # our own copies; without it a restart after a backlog read every reply's header.
            work.sent_copies.append(bytes(message))
        return True

    def _resume_marks(self, outcome: Outcome) -> None:
        """A reply sent before a crash, whose mark never reached the server: mark it now.

        The limiter already skips the planned reply (the sender was answered), so without this
        the message would lose its $AutoReplied mark, never its reply."""
        message = outcome.message
        if message is None or not message.message_id:
            return
        for kind in _MARKS:
            entry = self.store.outbox_get(f"{message.message_id}:{kind}")
            if entry and entry.get("state") == "sent" and kind not in outcome.sent:
                self._mark_sent(outcome, kind, f"{message.message_id}:{kind}")

    def _mark_sent(self, outcome: Outcome, kind: str, key: str) -> None:
        outcome.sent.append(kind)
        mark = _MARKS.get(kind)
        if mark:
            outcome.keywords.append(mark)
            self.mailbox.add_keywords([outcome.uid], [mark])
        self.store.outbox_set_state(key, "done")

    def _stage(self, work: _Work, outcomes: list[Outcome], marked: Collection[int]) -> None:
        """Add a batch's keywords, copies, moves and action log lines to the staged work."""
        deferred = set(work.deferred)
        staged = self.staged
        watch = self.engine.config.imap.watch
        skip = set(marked)
        for outcome in outcomes:
            if outcome.uid in deferred:
                continue
            staged.uids.append(outcome.uid)
            for keyword in dict.fromkeys(outcome.keywords):
                if keyword not in _MARKS.values():  # those were set right after sending
                    staged.keywords[keyword].append(outcome.uid)
            if outcome.folder != watch:
                staged.moves[outcome.folder].append(outcome.uid)
            elif outcome.uid not in skip:
                staged.staying.append(outcome.uid)
            message_id = _message_id(outcome)
            for action in outcome.plan.active:
                if action.type not in OUTGOING:  # those were logged when sent
                    staged.log_lines.append(
                        (outcome.uid, message_id, action.type, _describe(action))
                    )
        for folder, uids in work.copies.items():
            staged.copies[folder].extend(u for u in uids if u not in deferred)
        self.deferred.update(deferred)

    def apply_staged(self) -> None:
        """Store the staged keywords and moves on the server, then log the actions."""
        staged, self.staged = self.staged, _Staged()
        # $InboxbotSeen comes last for each message and right before its MOVE (which carries it
        # along): a crash leaves a message unmarked (and replayed) or filed, and with the state
        # file lost (no in-flight list) at most one group lies in the STORE-to-MOVE round trip.
        for keyword, uids in staged.keywords.items():
            self.mailbox.add_keywords(uids, [keyword])
        for folder, uids in staged.copies.items():
            if uids:
                self.mailbox.copy(uids, folder)
        for folder, uids in staged.moves.items():
            self.mailbox.add_keywords(uids, [SEEN])
            self.mailbox.move(uids, folder)
        if staged.staying:
            self.mailbox.add_keywords(staged.staying, [SEEN])
        state = self.folder_state
        if state is not None and staged.uids:
            self.store.set_in_flight(state.name, state.uidvalidity, [])
        with together():
            for uid, message_id, kind, detail in staged.log_lines:
                _log_line(uid, message_id, kind, detail)

    def _due(self, triage: Triage | None, now: datetime) -> datetime | None:
        """When the first answer is promised for this message's class (vip, urgent, default)."""
        if triage is None:
            return None
        from inboxbot.composer import promise_class, promised_time

        # A batch's complaints share `now`, so three promises serve them all (each one walks
        # the business calendar).
        key = (now, promise_class(triage))
        if key not in self._promised:
            if any(when != now for when, _class in self._promised):
                self._promised.clear()  # an earlier batch's
            self._promised[key] = promised_time(
                self.engine.config, self.engine.calendar, triage, now
            )
        return self._promised[key]

    def _record(self, outcomes: list[Outcome], now: datetime, replayed: set[int]) -> None:
        """Customer history (for `sender = new|repeat`) and the complaint log (for `stats`)."""
        for outcome in outcomes:
            message, known = outcome.message, outcome.verdicts
            triage = self._last_triage.get(outcome.uid)
            if message is None or message.sender is None or known is None or known.automated:
                continue
            if outcome.uid in replayed:
                continue  # recorded before the crash that interrupted this batch
            if message.message_id and self.store.complaint(message.message_id) is not None:
                # The same complaint again (copied back to the watched folder without our
                # marks, or delivered twice): counted once, in the log and in the history.
                continue
            verdict = triage.verdict if triage else None
            categories = tuple(verdict.categories) if verdict is not None else ()
            address = message.sender.addr
            written = _written(message, now)
            self.store.record_message(address, written, known.complaint, categories)
            facts = outcome.facts if known.complaint else None
            if facts is not None:
                self.store.log_complaint(
                    {
                        "at": written,
                        "customer": address,
                        "message_id": message.message_id,
                        "language": facts.language,
                        "categories": list(categories),
                        "cues": {k: list(v) for k, v in facts.cues.items()},
                        "urgent": facts.urgent,
                        "folder": outcome.folder,
                        "due": self._due(triage, now),
                    }
                )
        self.store.flush()


# A Date further back than the complaint log keeps (adapters.store.COMPLAINTS_KEEP) is a wrong
# clock rather than a backlog: such mail is logged as written now.
WRITTEN_MAX_AGE = timedelta(days=366)


def _written(message: Message, now: datetime) -> datetime:
    """When the customer wrote: the Date header, so a backlog's complaints (a first start,
    a restart after downtime) fall in their own weeks and their first response is timed from
    then, not from the pass. `now` when the Date is missing, in the future or implausibly old."""
    date = message.date
    if date is None or date.tzinfo is None or date > now or date < now - WRITTEN_MAX_AGE:
        return now
    return date.astimezone(now.tzinfo)


def _log_unanswered(outcome: Outcome) -> None:
    """Why no reply went out, in the log as in `simulate`: each skipped reply-like action with
    its reason, and automated mail, which no reply rule matches."""
    outgoing = [a for a in outcome.plan.actions if a.type in OUTGOING]
    for action in outgoing:
        if action.skipped:
            log.info("uid %s: %s skipped: %s", outcome.uid, action.type, action.skipped)
    known = outcome.verdicts
    if not outgoing and known is not None and known.automated:
        log.info("uid %s: not answered: automated mail (%s)", outcome.uid, known.automated)


def log_action(outcome: Outcome, kind: str, detail: str) -> None:
    """One log line per action taken, with the inbound Message-ID: what staff search logs by
    (also a field of its own with --log-format json)."""
    _log_line(outcome.uid, _message_id(outcome), kind, detail)


def _log_line(uid: int, message_id: str, kind: str, detail: str) -> None:
    log.info(
        "uid %s %s: %s %s",
        uid,
        message_id or "(no Message-ID)",
        kind,
        detail,
        extra={"uid": uid, "message_id": message_id, "action": kind},
    )


def _message_id(outcome: Outcome) -> str:
    return outcome.message.message_id if outcome.message else outcome.message_id


def _describe(action: Action) -> str:
    args = " ".join(f"{name}={value}" for name, value in action.args.items())
    return f"{args} ({action.reason})" if args else f"({action.reason})"


def _recipients(message: EmailMessage) -> list[str]:
    return [addr for _name, addr in email.utils.getaddresses(message.get_all("To", []))]


def chunks(values: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _apply_and_advance(
    executor: Executor, store: Any, state: FolderState, batches: Sequence[int]
) -> None:
    """The staged work onto the server, then the watermark past the batches it covered."""
    if executor.dry_run:
        return
    executor.apply_staged()
    # A deferred reply keeps the watermark below it so the next pass retries it.
    bound = min(executor.deferred, default=max(batches) + 1)  # once, not per UID
    done = [u for u in batches if u < bound]
    if done:
        store.set_watermark(state.name, state.uidvalidity, max(done))
    store.flush()


def _parse_text(fetched: Fetched) -> Message | str:
    """How the text worker parses: text rules only (a worker is never made for header rules)."""
    return read_message(fetched, headers_only=False)


def run_pass(
    engine: Engine,
    mailbox: Mailbox,
    executor: Executor,
    store: Any,
    *,
    progress: Callable[[int, int], None] | None = None,
    stopping: Callable[[], bool] = lambda: False,
    keep: bool = True,
) -> list[Outcome]:
    """Process everything new in the watched folder once; returns what happened, or [] with
    keep=False: a long run keeps nothing of a batch once it is done, so memory does not grow
    with the backlog (each Outcome holds the message and up to 64 KiB of its text)."""
    folder = engine.config.imap.watch
    state = mailbox.select(folder)
    mark = store.watermark(folder) if store else None
    after = mark[1] if mark and mark[0] == state.uidvalidity else 0
    # A batch a crash interrupted after marking it done ($InboxbotSeen) but before filing it is
    # replayed: its messages are still here, marked, and would otherwise never be filed.
    executor.replay = set(store.in_flight(folder, state.uidvalidity)) if store else set()
    executor.folder_state = state
    executor.stopping = stopping
    uids = sorted(set(mailbox.search_unprocessed(after)) | executor.replay)
    outcomes: list[Outcome] = []
    processed = 0
    started = time.monotonic()
    headers_only = not engine.needs_text
    # Header rules on a backlog: the server searches decide most Plans (inboxbot.pushdown).
    decided = server_plans(engine, mailbox, store, uids, executor.clock(), dry_run=executor.dry_run)
    plans = decided.plans
    executor.staged = _Staged()  # what an interrupted pass staged is in flight: replayed
    unapplied: list[int] = []
    # A backlog is parsed and its texts read on the second core, ahead (inboxbot.textwork).
    worker = textwork.for_backlog(engine, len(uids) - len(plans), BATCH_SIZE, _parse_text)
    ahead: list[tuple[Sequence[int], Read]] = []
    lag = READ_AHEAD if worker is not None else 0

    def process_next() -> None:
        nonlocal processed, unapplied
        batch, read = ahead.pop(0)
        done_now = executor.process(
            read,
            {u: plans[u] for u in batch if u in plans},
            decided.message_ids,
            decided.marked,
        )
        processed += len(done_now)
        if keep:
            outcomes.extend(done_now)
        unapplied.extend(batch)
        if len(unapplied) >= APPLY_SIZE or batch[-1] == uids[-1]:
            _apply_and_advance(executor, store, state, unapplied)
            unapplied = []
        if progress:
            progress(processed, len(uids))

    try:
        # Pushed-down messages cost little each, so their batches are larger: fewer MOVE and
        # STORE commands, each of which makes the server rewrite its index.
        for batch in chunks(uids, PUSHED_BATCH_SIZE if plans else BATCH_SIZE):
            if stopping():  # SIGTERM: finish the batch in hand, not the whole backlog
                break
            rest = [u for u in batch if u not in plans]
            fetched = mailbox.fetch(rest, headers_only=headers_only) if rest else []
            # Parsed now, the raw bytes are dropped: not held while the next one is fetched.
            # With a worker they are kept until it answers, to parse them here if it failed.
            ahead.append((batch, executor.read_batch(fetched, headers_only, worker)))
            del fetched
            if len(ahead) > lag:
                process_next()
        while ahead:  # the batches read ahead (with SIGTERM, their messages are deferred)
            process_next()
    finally:
        if worker is not None:
            worker.close()
    if unapplied:  # stopped early
        _apply_and_advance(executor, store, state, unapplied)
    if uids:
        log.info("processed %d messages in %.2fs", len(uids), time.monotonic() - started)
    return outcomes
