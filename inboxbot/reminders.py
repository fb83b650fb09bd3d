"""The reminder runner: schedule reminders from passes, commands, keywords and the resolved folder;
send the due ones exactly once.

What the core decides (inboxbot/core/reminders.py) this module feeds with the mailbox's answers:

- Scheduling from a pass (``after_batch``, called by the Executor once a batch is applied): rule
  actions ``remind``, staff command mails (``support+remind-2d@``), and cancelling check-ins and
  follow-ups when the customer writes again.
- ``ReminderRunner.run`` after every pass: new arrivals in the resolved folder and the keywords
  ``$Resolved`` / ``$FollowUp`` schedule reminders; command threads are looked up; due
  reminders are checked ("unanswered" = no \\Answered and no mail in Sent whose In-Reply-To or
  References names the message) and sent, oldest first.

Exactly once: a reminder is written "sending" (with its deterministic Message-ID) and flushed
before it leaves; it is "sent" once delivered and copied to Sent. A "sending" reminder found on
start is looked for in Sent (or in the watched folder for ``notify = "mailbox"``) and only sent
when it is not there. The remaining window is a crash between the SMTP server's 250 and the
APPEND to Sent; the fixed Message-ID lets mail clients fold such a duplicate.

The runner selects other folders; it always leaves the watched folder selected, since the
daemon's IDLE waits on the selected folder. Given a second connection (`open_other`, as the
daemon does) it selects the other folders there, so the daemon's connection stays on the
watched folder. It runs between passes, never inside one.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from inboxbot.answers import sync_answered_flags
from inboxbot.core.automated import automated_reason, reply_target_reason
from inboxbot.core.durations import parse_duration
from inboxbot.core.message import Message, parse_message, single_line
from inboxbot.core.reminders import (
    CANCELLED_BY_CUSTOMER,
    Command,
    Reminder,
    Status,
    checkin_allowed,
    customer_wrote,
    decide,
    due_after,
    due_now,
    find_command,
    reminder_message_id,
    seconds_until_next,
)
from inboxbot.errors import MailboxError, SendError

if TYPE_CHECKING:
    from inboxbot.config import Config
    from inboxbot.ports import FolderState
    from inboxbot.service import Engine, Executor, Outcome

log = logging.getLogger("inboxbot")

OVERDUE = "$Overdue"
FOLLOW_UP = "$FollowUp"
RESOLVED = "$Resolved"
SEEN = "$InboxbotSeen"  # same as service.SEEN; not imported, service imports this module
REMINDER_HEADER = "X-Inboxbot-Reminder"
SEARCH_CHUNK = 40  # Message-IDs per SEARCH: an OR tree of this size stays a short command line
RETRY_AFTER = timedelta(minutes=1)  # after a temporary SMTP failure
MIN_WAIT = 1.0  # never spin on a reminder that cannot go out yet


# -- who is who -------------------------------------------------------------------------------


def is_staff(address: str, config: Config) -> bool:
    """The shop's own addresses and anyone at the shop's domain: commands come from them, and
    they never get check-ins."""
    address = address.lower()
    local, _, domain = address.partition("@")
    base = f"{local.split('+', 1)[0]}@{domain}"
    own = {a.lower() for a in config.shop.all_addresses}
    return address in own or base in own or domain == config.shop.domain.lower()


def staff_command(message: Message | None, config: Config) -> Command | None:
    """The command a staff mail to a plus address of the shop carries, else None.

    Only staff may command: the same address from a customer is ordinary mail (answered, and
    no reminder is scheduled on someone else's say-so)."""
    if message is None or message.sender is None or not is_staff(message.sender.addr, config):
        return None
    return find_command((a.addr for a in message.recipients), config.shop.address)


def _thread_ids(message: Message) -> tuple[str, ...]:
    # The message replied to first, then the rest of the thread newest first.
    ids = [message.in_reply_to, *reversed(message.references)]
    return tuple(dict.fromkeys(i for i in ids if i))


def _stored(store: Any) -> Iterator[Reminder]:
    """Every stored reminder, one at a time (a backlog leaves tens of thousands)."""
    return (Reminder.from_record(doc) for doc in store.iter_reminders())


def open_reminders(store: Any) -> Iterator[Reminder]:
    """The reminders not yet finished, one at a time, from the store's open-reminder index."""
    return (Reminder.from_record(doc) for doc in store.iter_reminders(open_only=True))


def _save(store: Any, reminder: Reminder) -> Reminder:
    if reminder.id:
        store.update_reminder(reminder.id, **reminder.to_record())
        return reminder
    return replace(reminder, id=store.add_reminder(reminder.to_record()))


# -- scheduling from a pass (called by the Executor) ------------------------------------------


def file_command(outcome: Outcome, config: Config) -> Command | None:
    """A staff command mail gets no rule actions (no acknowledgement, no complaint log): it is
    marked seen and moved to the resolved folder, out of the queue. Returns the command."""
    from inboxbot.core.plan import Action, Plan

    command = staff_command(outcome.message, config)
    if command is None:
        return None
    reason = f"staff command {command.text!r}"
    folder = config.folders.resolved
    outcome.plan = Plan(
        ("staff command",),
        (
            Action(
                "remind", {"kind": command.kind, "to": command.to, "after": command.text}, reason
            ),
            Action("flag", {"flag": "\\Seen"}, reason),
            Action("move", {"folder": folder}, reason),
        ),
    )
    outcome.facts = None  # a staff reply is not customer history nor a complaint
    return command


def after_batch(executor: Executor, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Schedule what the batch asked for and cancel what it made pointless; one flush.

    The store's open-reminder index answers "does this customer have a check-in or follow-up
    to cancel" and "is this message's reminder already there": the cost is the batch's, not
    the number of stored reminders (decoding all of them per batch was ~15 % of a backlog)."""
    engine, store = executor.engine, executor.store
    if store is None:
        return
    config = engine.config
    changed = False
    for outcome in outcomes:
        message = outcome.message
        if message is None or message.header(REMINDER_HEADER):
            continue
        command = staff_command(message, config)
        if command is not None:
            _save(store, _from_command(command, message, engine, now))
            changed = True
            continue
        triage = executor._last_triage.get(outcome.uid)
        changed |= _cancel_on_new_mail(store, message, triage, config)
        for action in outcome.plan.active:
            if action.type != "remind" or triage is None:
                continue
            reminder = _from_action(action.args, outcome, triage, engine, now)
            if reminder.message_id and store.has_open_reminder(reminder.message_id, reminder.kind):
                continue  # the message is processed again after a crash or a deferred reply
            saved = _save(store, reminder)
            changed = True
            log.info(
                "uid %s: %s reminder %s due %s", outcome.uid, reminder.kind, saved.id, reminder.due
            )
    if changed:
        store.flush()


def _cancel_on_new_mail(store: Any, message: Message, triage: Any, config: Config) -> bool:
    """The customer wrote again: their open check-ins and follow-ups are cancelled."""
    sender = message.sender.addr if message.sender else ""
    if not sender:
        return False
    mine = [
        Reminder.from_record(doc)
        for doc in store.open_reminders(customer=sender, kinds=CANCELLED_BY_CUSTOMER)
    ]
    # Only a customer with such reminders can cancel one; ask the costlier questions after.
    if not mine or is_staff(sender, config) or (triage and triage.automated):
        return False
    why = f"the customer wrote again ({message.message_id or message.subject})"
    cancelled = customer_wrote(mine, sender, why)
    for reminder in cancelled:
        _save(store, reminder)
        log.info("reminder %s cancelled: %s", reminder.id, why)
    return bool(cancelled)


def _from_action(
    args: Any, outcome: Outcome, triage: Any, engine: Engine, now: datetime
) -> Reminder:
    from inboxbot.composer import promised_time

    message: Message = triage.message
    customer = message.reply_address
    promise = promised_time(engine.config, engine.calendar, triage, now)
    after = str(args.get("after", "promise"))
    due = promise if after == "promise" else due_after(engine.calendar, now, parse_duration(after))
    return Reminder(
        kind=args.get("kind", "sla"),
        to=args.get("to", "staff"),
        due=due,
        created=now,
        message_id=message.message_id,
        customer=customer.addr if customer else "",
        customer_name=customer.name if customer else "",
        subject=message.subject,
        folder=outcome.folder,
        language=triage.language,
        reason=outcome.plan.of_type("remind")[0].reason if outcome.plan.of_type("remind") else "",
        origin="rule",
        promise_at=promise,
    )


def _from_command(command: Command, message: Message, engine: Engine, now: datetime) -> Reminder:
    """The thread is looked up by the runner (it needs other folders); meanwhile the staff
    mail's own recipients name the customer: staff BCC the command on their reply to them."""
    config = engine.config
    customers = [a for a in (*message.to, *message.cc) if a.addr and not is_staff(a.addr, config)]
    thread = _thread_ids(message)
    return Reminder(
        kind=command.kind,
        to=command.to,
        due=command.due(engine.calendar, now, config.reminders.check_in_after),
        created=now,
        message_id="",  # filled in when the thread is found
        customer=customers[0].addr if customers else "",
        customer_name=customers[0].name if customers else "",
        subject=message.subject,
        reason=f"command {command.text} from {message.sender.addr if message.sender else '?'}",
        origin="command",
        thread=thread,
    )


# -- the runner --------------------------------------------------------------------------------


class TwoConnections:
    """The runner's mailbox: the watched folder on the daemon's connection, every other folder
    on a second one, opened on first need by `open_other` (and closed by the daemon).

    A SELECT of a large watched folder costs the server an index load (~0.25 s at 100,000
    messages, RELIABILITY.md): on one connection a round selected it for the pass, left it for
    the other folders and selected it again for IDLE. Here the pass's SELECT serves the round
    and IDLE; the second connection's SELECTs are of the small folders."""

    def __init__(self, main: Any, open_other: Callable[[], Any], watch: str) -> None:
        self.main, self.watch = main, watch
        self._open_other = open_other
        self._other: Any = None
        self._current: Any = main  # the connection of the folder last selected through here
        self._selected: str | None = None

    @property
    def selected_folder(self) -> str | None:
        return self._selected

    def select(self, folder: str) -> FolderState:
        self._selected = None
        if folder == self.watch:
            self._current = self.main
            state = getattr(self.main, "selected_state", None)
            if self.main.selected_folder != folder or state is None:
                state = self.main.select(folder)
        else:
            if self._other is None:
                self._other = self._open_other()
            self._current = self._other
            state = self._other.select(folder)
        self._selected = folder
        return state

    # Reading and changing messages: on the connection that has their folder selected.
    def search(self, criteria: list[Any]) -> list[int]:
        return list(self._current.search(criteria))

    def fetch(self, uids: Sequence[int], *, headers_only: bool = False) -> Any:
        return self._current.fetch(uids, headers_only=headers_only)

    def fetch_fields(self, uids: Sequence[int], fields: Sequence[str]) -> dict[int, bytes]:
        return dict(self._current.fetch_fields(uids, fields))

    def fetch_full(self, uid: int) -> bytes:
        return bytes(self._current.fetch_full(uid))

    def add_keywords(self, uids: Sequence[int], keywords: Sequence[str]) -> None:
        self._current.add_keywords(uids, keywords)

    def move(self, uids: Sequence[int], folder: str) -> None:
        self._current.move(uids, folder)

    # Commands that select nothing stay on the daemon's connection.
    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> None:
        self.main.append(folder, raw, flags, when=when)

    def ensure_folders(self, names: Iterable[str]) -> list[str]:
        return list(self.main.ensure_folders(names))

    def list_folders(self) -> list[str]:
        return list(self.main.list_folders())


class ReminderRunner:
    """Runs between passes: scans for resolution and follow-up triggers, sends due reminders."""

    def __init__(
        self,
        engine: Engine,
        mailbox: Any,
        sender: Any,
        store: Any,
        clock: Any,
        open_other: Callable[[], Any] | None = None,
    ) -> None:
        if open_other is not None:
            mailbox = TwoConnections(mailbox, open_other, engine.config.imap.watch)
        self.engine, self.mailbox, self.sender, self.store = engine, mailbox, sender, store
        self.clock = clock
        self.config: Config = engine.config
        self._seen_sources: set[str] = set()
        self._answered_checked: set[str] = set()  # folder:uidvalidity:uid already looked at
        self._not_before: dict[int, datetime] = {}
        self.enabled = hasattr(mailbox, "search")  # the searches below need IMAP SEARCH
        if not self.enabled:
            log.warning("reminders need an IMAP mailbox; none will be sent")

    # -- public ----------------------------------------------------------------------------

    def folders(self) -> list[str]:
        """Where a customer's message may be: the queue and the folders rules move it to."""
        f = self.config.folders
        return list(dict.fromkeys((self.config.imap.watch, f.urgent, f.vip, f.resolved, f.channel)))

    def wait_time(self, idle_slice: float) -> float:
        """How long the daemon may idle: until the next reminder falls due, at most a slice."""
        now = self.clock()
        # A reminder waiting out a failed send counts from its retry time, not its due time.
        pending = (replace(r, due=self._gate(r)) for r in open_reminders(self.store))
        seconds = seconds_until_next(pending, now)
        if seconds is None:
            return idle_slice
        return max(MIN_WAIT, min(idle_slice, seconds))

    def run(self) -> list[Reminder]:
        """One round; returns the reminders sent. Leaves the watched folder selected."""
        if not self.enabled:
            return []
        try:
            existing = self._folders_present()
            self._scan_resolved(existing)
            self._scan_keywords(existing)
            sync_answered_flags(
                self.mailbox, self.store, [f for f in self.folders() if f in existing],
                self.clock(), self._answered_checked,
            )
            self._resolve_threads(existing)
            return self._send_due(existing)
        finally:
            # The keyword scan ends on the watched folder: a SELECT of a 100,000-message folder
            # costs Dovecot ~0.3 s of index loading, so it is not selected a second time (and
            # with TwoConnections it never left the daemon's connection).
            if getattr(self.mailbox, "selected_folder", None) != self.config.imap.watch:
                self.mailbox.select(self.config.imap.watch)

    # -- IMAP helpers ----------------------------------------------------------------------

    def _search(self, criteria: list[Any]) -> list[int]:
        return list(self.mailbox.search(criteria))

    def _headers(self, uids: Sequence[int]) -> dict[int, tuple[frozenset[str], Message]]:
        if not uids:
            return {}
        return {
            fetched.uid: (fetched.flags, parse_message(fetched.raw, headers_only=True))
            for fetched in self.mailbox.fetch(list(uids), headers_only=True)
        }

    def _find(
        self, folder: str, header: str, values: Iterable[str]
    ) -> dict[int, tuple[frozenset[str], Message]]:
        """Messages in `folder` whose `header` contains any of `values`, batched: one SEARCH per
        SEARCH_CHUNK values (an OR tree), one FETCH of what it found."""
        values = [v for v in dict.fromkeys(values) if v]
        if not values:
            return {}
        self.mailbox.select(folder)
        uids: set[int] = set()
        for start in range(0, len(values), SEARCH_CHUNK):
            uids.update(self._search(_or_tree(header, values[start : start + SEARCH_CHUNK])))
        return self._headers(sorted(uids))

    def _folders_present(self) -> set[str]:
        wanted = [*self.folders(), self.config.folders.sent]
        self.mailbox.ensure_folders([self.config.folders.resolved, self.config.folders.sent])
        present = set(self.mailbox.list_folders())
        return {f for f in wanted if f in present or f.upper() == "INBOX"}

    def _locate(
        self, ids: Iterable[str], folders: set[str]
    ) -> dict[str, tuple[str, int, frozenset[str], Message]]:
        """Message-ID -> (folder, uid, flags, headers) over the folders a message may be in."""
        wanted = set(ids) - {""}
        found: dict[str, tuple[str, int, frozenset[str], Message]] = {}
        for folder in self.folders():
            if folder not in folders or not wanted - set(found):
                continue
            for uid, (flags, message) in self._find(
                folder, "Message-ID", wanted - set(found)
            ).items():
                if message.message_id in wanted and message.message_id not in found:
                    found[message.message_id] = (folder, uid, flags, message)
        return found

    def _replied_in_sent(self, ids: Iterable[str], folders: set[str]) -> set[str]:
        """The ids a mail in Sent names in In-Reply-To or References."""
        wanted = set(ids) - {""}
        sent = self.config.folders.sent
        if not wanted or sent not in folders:
            return set()
        named: set[str] = set()
        for header in ("In-Reply-To", "References"):
            for _flags, message in self._find(sent, header, wanted - named).values():
                # Our acknowledgements and reminders in Sent are not answers; a person's are.
                if message.header("auto-submitted") in (None, "no"):
                    named.update({message.in_reply_to, *message.references} & wanted)
        return named

    # -- triggers --------------------------------------------------------------------------

    def _scan_resolved(self, folders: set[str]) -> None:
        """Customer mail that staff moved into the resolved folder gets a check-in."""
        resolved = self.config.folders.resolved
        if resolved not in folders:
            return
        state = self.mailbox.select(resolved)
        key = f"reminders:{resolved}"
        mark = self.store.watermark(key)
        if mark is None or mark[0] != state.uidvalidity:
            # First run (or the folder was recreated): what is already there was resolved before
            # inboxbot watched; asking those customers now would come out of the blue.
            self.store.set_watermark(key, state.uidvalidity, state.uidnext - 1)
            self.store.flush()
            return
        uids = [u for u in self._search(["UID", f"{mark[1] + 1}:*"]) if u > mark[1]]
        if not uids:
            return
        for uid, (_flags, message) in sorted(self._headers(uids).items()):
            self._resolution(message, f"{resolved}:{state.uidvalidity}:{uid}", "resolved", resolved)
        self.store.set_watermark(key, state.uidvalidity, max(uids))
        self.store.flush()

    def _scan_keywords(self, folders: set[str]) -> None:
        """$Resolved schedules a check-in, $FollowUp a staff follow-up, wherever the message is."""
        known = {r.source for r in _stored(self.store) if r.source} | self._seen_sources
        watch = self.config.imap.watch
        for folder in sorted(self.folders(), key=lambda f: f == watch):  # the watched one last
            if folder not in folders:
                continue
            state = self.mailbox.select(folder)
            # One search for both keywords (a round trip per folder and pass saved); the flags
            # fetched with the headers tell which of them each message carries.
            uids = self._search(["OR", "KEYWORD", RESOLVED, "KEYWORD", FOLLOW_UP])
            fresh = [u for u in uids if f"{folder}:{state.uidvalidity}:{u}" not in known]
            headers = self._headers(fresh)
            for keyword in (RESOLVED, FOLLOW_UP):
                for uid, (flags, message) in sorted(headers.items()):
                    if keyword.lower() not in {flag.lower() for flag in flags}:
                        continue  # keywords are case-insensitive (RFC 3501 2.3.2)
                    source = f"{folder}:{state.uidvalidity}:{uid}"
                    self._seen_sources.add(source)
                    if keyword == RESOLVED:
                        self._resolution(message, source, "keyword", folder)
                    else:
                        self._follow_up(message, source, folder)
        self.store.flush()

    def _resolution(self, message: Message, source: str, origin: str, folder: str) -> None:
        now = self.clock()
        customer = message.reply_address
        if customer is None or is_staff(customer.addr, self.config):
            return  # staff mail and command mails filed there: nobody to check in with
        if message.header(REMINDER_HEADER):
            return
        reason = self._unanswerable(message)
        if reason is not None:
            log.info("no check-in for %s: %s", message.message_id, reason)
            return
        for other in _stored(self.store):
            same_thread = other.message_id == message.message_id and other.origin in (
                "resolved",
                "keyword",
            )
            same_customer = other.open and other.customer.lower() == customer.addr
            if other.kind == "checkin" and (same_thread or same_customer):
                return  # one check-in per resolution of a customer's thread
        reminder = Reminder(
            kind="checkin",
            to="customer",
            due=due_after(self.engine.calendar, now, self.config.reminders.check_in_after),
            created=now,
            message_id=message.message_id,
            customer=customer.addr,
            customer_name=customer.name,
            subject=message.subject,
            folder=folder,
            reason="moved to the resolved folder"
            if origin == "resolved"
            else f"keyword {RESOLVED}",
            origin=origin,
            source=source,
        )
        saved = _save(self.store, reminder)
        log.info("check-in %s for %s due %s", saved.id, customer.addr, saved.due)

    def _follow_up(self, message: Message, source: str, folder: str) -> None:
        now = self.clock()
        customer = message.reply_address
        if any(
            r.message_id == message.message_id and r.origin == "keyword" and r.kind == "custom"
            for r in _stored(self.store)
        ):
            return
        reminder = Reminder(
            kind="custom",
            to="staff",
            due=due_after(self.engine.calendar, now, self.config.reminders.check_in_after),
            created=now,
            message_id=message.message_id,
            customer=customer.addr if customer else "",
            customer_name=customer.name if customer else "",
            subject=message.subject,
            folder=folder,
            reason=f"keyword {FOLLOW_UP}",
            origin="keyword",
            source=source,
        )
        saved = _save(self.store, reminder)
        log.info("follow-up %s on %s due %s", saved.id, message.message_id, saved.due)

    def _resolve_threads(self, folders: set[str]) -> None:
        """Command reminders learn which customer message they are about."""
        pending = [
            r for r in open_reminders(self.store) if r.origin == "command" and not r.message_id
        ]
        if not pending:
            return
        found = self._locate({i for r in pending for i in r.thread}, folders)
        for reminder in pending:
            hit = next(
                (
                    found[i]
                    for i in reminder.thread
                    if i in found and not _from_staff(found[i][3], self.config)
                ),
                None,
            )
            if hit is None:
                # Not in any folder we look at: the id the staff replied to still names it, and
                # the staff mail's recipient is the customer.
                update = replace(
                    reminder, message_id=reminder.thread[0] if reminder.thread else "-"
                )
            else:
                folder, _uid, _flags, message = hit
                customer = message.reply_address
                update = replace(
                    reminder,
                    message_id=message.message_id,
                    customer=customer.addr if customer else reminder.customer,
                    customer_name=customer.name if customer else reminder.customer_name,
                    subject=message.subject,
                    folder=folder,
                )
            _save(self.store, update)
        self.store.flush()

    # -- sending ---------------------------------------------------------------------------

    def _gate(self, reminder: Reminder) -> datetime:
        return max(reminder.due, self._not_before.get(reminder.id, reminder.due))

    def _send_due(self, folders: set[str]) -> list[Reminder]:
        now = self.clock()
        due = [r for r in due_now(open_reminders(self.store), now) if now >= self._gate(r)]
        if not due:
            return []
        sent: list[Reminder] = []
        delivered = self._already_delivered([r for r in due if r.state == "sending"], folders)
        located = self._locate({r.message_id for r in due}, folders)
        answered = self._replied_in_sent(
            {r.message_id for r in due if r.kind == "sla" and r.state == "pending"}, folders
        )
        for reminder in due:  # oldest first
            if reminder.state == "sending" and reminder.sent_message_id in delivered:
                # It went out before a crash; only the bookkeeping was lost.
                _save(self.store, replace(reminder, state="sent", sent_at=reminder.sent_at or now))
                self.store.flush()
                log.info("reminder %s was already sent before a restart", reminder.id)
                continue
            hit = located.get(reminder.message_id)
            flags = hit[2] if hit else frozenset()
            if hit is not None and not reminder.customer and hit[3].reply_address:
                # Added by hand with only a Message-ID: the message names its customer.
                address = hit[3].reply_address
                reminder = replace(reminder, customer=address.addr, customer_name=address.name)
            if hit is not None and not reminder.subject:
                reminder = replace(reminder, subject=hit[3].subject)
            status = Status(
                found=hit is not None,
                answered="\\Answered" in flags,
                reply_in_sent=reminder.message_id in answered,
                resolved=self._still_resolved(reminder, hit),
            )
            why = decide(reminder, status)
            message = self._full(hit) if hit else None
            # Every mail to a customer, whatever kind a rule named: `remind = { to = "customer",
            # kind = "custom" }` went out without the machine checks and the limits.
            if why is None and reminder.to == "customer":
                why = self._checkin_block(reminder, message, now)
            if why is not None:
                _save(self.store, reminder.cancelled(why))
                self.store.flush()
                log.info("reminder %s cancelled: %s", reminder.id, why)
                continue
            if self._deliver(reminder, message, hit, now):
                sent.append(reminder)
        return sent

    def _still_resolved(self, reminder: Reminder, hit: Any) -> bool | None:
        if reminder.kind != "checkin" or reminder.origin not in ("resolved", "keyword"):
            return None
        if hit is None:
            return False
        folder, _uid, flags, _message = hit
        return folder == self.config.folders.resolved or RESOLVED in flags

    def _checkin_block(
        self, reminder: Reminder, message: Message | None, now: datetime
    ) -> str | None:
        """DESIGN.md section 5 for a check-in: never to a machine, within the limits."""
        # The check-in goes where _deliver writes it: the located message, else what is known.
        reason = self._unanswerable(message or _placeholder(reminder))
        if reason is not None:
            return reason
        settings = self.config.autoreply
        return checkin_allowed(
            reminder,
            _stored(self.store),
            now,
            settings.per_sender,
            settings.max_per_hour,
            self.store.replies_since(now - timedelta(hours=1)),
        )

    def _unanswerable(self, message: Message) -> str | None:
        """DESIGN.md section 5: why nothing may go to this message's sender, else None."""
        own = self.config.shop.all_addresses
        reason = automated_reason(message, own)
        if reason is not None:
            return f"automated mail ({reason}): never answered"
        # The unsupported channels' mail reaches us too: a check-in to one would come back here.
        return reply_target_reason(message, (*own, *self.config.channels.unsupported))

    def _already_delivered(self, reminders: Sequence[Reminder], folders: set[str]) -> set[str]:
        ids = {r.sent_message_id for r in reminders if r.sent_message_id}
        if not ids:
            return set()
        where = {self.config.folders.sent, self.config.imap.watch} & folders
        found: set[str] = set()
        for folder in sorted(where):
            found.update(m.message_id for _f, m in self._find(folder, "Message-ID", ids).values())
        return found & ids

    def _full(self, hit: tuple[str, int, frozenset[str], Message]) -> Message:
        folder, uid, _flags, headers = hit
        self.mailbox.select(folder)
        try:
            return parse_message(self.mailbox.fetch_full(uid))
        except MailboxError:
            return headers  # moved meanwhile: the headers still name customer and subject

    def _deliver(
        self, reminder: Reminder, message: Message | None, hit: Any, now: datetime
    ) -> bool:
        try:
            mail = self._compose(reminder, message or _placeholder(reminder), now)
        except Exception as error:  # a hostile address or subject must never stop the loop
            why = f"cannot build the mail: {type(error).__name__}: {error}"
            _save(self.store, reminder.cancelled(why))
            self.store.flush()
            log.error("reminder %s cancelled: %s", reminder.id, why)
            return False
        mailbox_mode = reminder.to == "staff" and self.config.reminders.notify in ("", "mailbox")
        if not mailbox_mode and self.sender is None:
            log.error("reminder %s is due but [smtp] is not configured", reminder.id)
            self._not_before[reminder.id] = now + RETRY_AFTER
            return False
        # The intent is durable before anything leaves (see the module docstring).
        reminder = _save(
            self.store, replace(reminder, state="sending", sent_message_id=str(mail["Message-ID"]))
        )
        self.store.flush()
        try:
            if mailbox_mode:
                # $InboxbotSeen: the next pass must not triage our own reminder as customer mail.
                self.mailbox.append(
                    self.config.imap.watch, bytes(mail), ["\\Flagged", SEEN], when=now
                )
            else:
                recipients = [a for _n, a in email.utils.getaddresses(mail.get_all("To", []))]
                self.sender.send(
                    mail,
                    envelope_from=self.config.autoreply.envelope_sender,
                    recipients=recipients,
                )
        except SendError as error:
            if error.permanent:
                _save(
                    self.store,
                    replace(reminder, state="cancelled", cancel_reason=f"refused: {error}"),
                )
                self.store.flush()
                log.error("reminder %s refused permanently: %s", reminder.id, error)
                return False
            _save(self.store, replace(reminder, state="pending", sent_message_id=""))
            self.store.flush()
            self._not_before[reminder.id] = now + RETRY_AFTER
            log.warning("reminder %s not sent yet (%s); will retry", reminder.id, error)
            return False
        try:
            if not mailbox_mode:
                # $InboxbotSeen: not a staff answer for answers.sync_answers to read.
                self.mailbox.append(
                    self.config.folders.sent, bytes(mail), ["\\Seen", SEEN], when=now
                )
        finally:
            # Sent even when the copy to Sent failed: it went out, and must not go out again.
            _save(self.store, replace(reminder, state="sent", sent_at=now))
            self.store.flush()
        log.info("%s reminder %s sent (%s)", reminder.kind, reminder.id, reminder.reason)
        if reminder.kind == "sla" and hit is not None:
            folder, uid = hit[0], hit[1]
            self.mailbox.select(folder)
            self.mailbox.add_keywords([uid], [OVERDUE, "\\Flagged"])
            self._move_overdue(folder, uid)
        return True

    def _move_overdue(self, folder: str, uid: int) -> None:
        """[reminders].overdue_folder: the overdue complaint leaves the queue for that folder."""
        target = self.config.reminders.overdue_target(self.config.folders)
        if not target or target == folder:
            return
        try:
            self.mailbox.ensure_folders([target])
            self.mailbox.select(folder)
            self.mailbox.move([uid], target)
        except MailboxError as error:  # the reminder went out; the mark shows it is overdue
            log.warning("overdue message %s:%s not moved to %s: %s", folder, uid, target, error)

    def _compose(self, reminder: Reminder, inbound: Message, now: datetime) -> EmailMessage:
        from inboxbot.core.replies import build_reply, context_for  # Jinja2: only when sending

        composer = self.engine.composer
        assert composer is not None, "reminders need the reply templates"
        config, calendar = self.config, self.engine.calendar
        zone = calendar.zone
        domain = config.shop.domain
        message_id = reminder_message_id(reminder, domain)
        if reminder.to == "customer":
            language = reminder.language or self.engine.triage(inbound, now).language
            template = "checkin"
        else:
            language = config.shop.default_language  # staff read the shop's language
            template = "reminder"
        lang = composer.templates.resolve(template, language)
        context = context_for(
            inbound,
            language=lang,
            shop_name=config.shop.name,
            shop_address=config.shop.address,
            signature=config.shop.signature,
            open_now=calendar.is_open(now),
            week=config.hours.week,
            next_open=calendar.next_open(now).astimezone(zone),
            promise=(reminder.promise_at or reminder.due).astimezone(zone),
            help_url=config.channels.help_url,
            due_reason=_due_reason(reminder),
        )
        rendered = composer.templates.render(template, lang, context)
        if reminder.to == "customer":
            mail = build_reply(
                inbound,
                rendered,
                shop_address=config.shop.address,
                shop_name=config.shop.name,
                now=now,
                language=lang,
                message_id=message_id,
            )
            # Not an answer to a mail that just came in, but generated by a staff action.
            mail.replace_header("Auto-Submitted", "auto-generated")
        else:
            mail = EmailMessage()
            mail["From"] = email.utils.formataddr((config.shop.name, config.shop.address))
            notify = config.reminders.notify
            mail["To"] = config.shop.address if notify in ("", "mailbox") else notify
            mail["Subject"] = single_line(rendered.subject)
            mail["Date"] = email.utils.format_datetime(now)
            mail["Message-ID"] = message_id
            if reminder.message_id.startswith("<"):
                mail["References"] = reminder.message_id  # threads with the customer's mail
            mail["Auto-Submitted"] = "auto-generated"
            mail.set_content(rendered.text, charset="utf-8")
        mail[REMINDER_HEADER] = str(reminder.id)
        return mail


def _from_staff(message: Message, config: Config) -> bool:
    return message.sender is not None and is_staff(message.sender.addr, config)


def _due_reason(reminder: Reminder) -> str:
    if reminder.kind == "sla":
        return "complaint, not answered (no \\Answered flag, no reply in Sent) at the promised time"
    return reminder.reason


def _placeholder(reminder: Reminder) -> Message:
    """The customer's mail is gone from the folders we look at: rebuild what we know of it."""
    mail = EmailMessage()
    mail["From"] = email.utils.formataddr((reminder.customer_name, reminder.customer))
    mail["Subject"] = single_line(reminder.subject)
    if reminder.message_id.startswith("<"):
        mail["Message-ID"] = reminder.message_id
    mail.set_content("")
    return parse_message(bytes(mail))


def _or_tree(header: str, values: Sequence[str]) -> list[Any]:
    """IMAP SEARCH criteria matching any value: OR a OR b c, as RFC 3501 nests it."""
    criteria: list[Any] = ["HEADER", header, values[-1]]
    for value in reversed(values[:-1]):
        criteria = ["OR", "HEADER", header, value, *criteria]
    return criteria
