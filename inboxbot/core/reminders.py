"""Reminders: when they fall due and what cancels them. Pure: the clock and the mailbox's
answers are passed in; the runner (inboxbot/reminders.py) does the IMAP and SMTP work.

Three kinds:
- ``sla``: staff are reminded when a complaint is still unanswered at its promise time.
- ``checkin``: the customer is asked, ``check_in_after`` after resolution, whether all is well.
- ``custom``: a staff follow-up asked for by a command mail (``support+remind-2d@``), the
  ``$FollowUp`` keyword or ``inboxbot reminders add``.

A reminder is a record in the state store; its life is pending -> sending -> sent, or
pending -> cancelled (with the reason). "sending" is written durably before anything leaves, so
a crash mid-send is recognisable on restart (see inboxbot/reminders.py).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from inboxbot.core.durations import parse_duration

Kind = Literal["sla", "checkin", "custom"]
Audience = Literal["staff", "customer"]
State = Literal["pending", "sending", "sent", "cancelled"]

KINDS: tuple[Kind, ...] = ("sla", "checkin", "custom")
OPEN_STATES = frozenset({"pending", "sending"})
# A customer's new mail makes these pointless (see customer_wrote); SLA reminders stay.
CANCELLED_BY_CUSTOMER = frozenset({"checkin", "custom"})
_DAY = timedelta(days=1)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A command is the part after "+" in the local part: remind-2d, remind-monday, checkin-48h.
_COMMAND_RE = re.compile(r"^(remind|checkin|followup)(?:-([a-z0-9]+))?$")


class CalendarLike(Protocol):
    def add_business_time(self, t: datetime, duration: timedelta) -> datetime: ...
    def intervals(self, day: date) -> list[tuple[datetime, datetime]]: ...
    def next_open(self, t: datetime) -> datetime: ...

    @property
    def zone(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder as stored; ``id`` is the store's document id (0 before it is stored)."""

    kind: Kind
    to: Audience
    due: datetime
    created: datetime
    message_id: str = ""  # the customer's message the reminder is about
    customer: str = ""  # the customer's address
    customer_name: str = ""
    subject: str = ""
    folder: str = ""  # where the message was last seen
    language: str = ""
    state: State = "pending"
    reason: str = ""  # why it was scheduled: the rule, the command, the keyword
    origin: str = ""  # rule | command | keyword | resolved | cli
    cancel_reason: str = ""
    promise_at: datetime | None = None  # sla: the promised answer time (the store decodes *_at)
    thread: tuple[str, ...] = ()  # command mails: the Message-IDs the thread is found by
    source: str = ""  # "folder:uidvalidity:uid" of the message that triggered it (dedupe)
    sent_message_id: str = ""
    sent_at: datetime | None = None
    id: int = 0

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES

    def is_due(self, now: datetime) -> bool:
        return self.open and self.due <= now

    def to_record(self) -> dict[str, Any]:
        """The dict the state store keeps (datetimes stay datetimes; the store encodes them)."""
        record = asdict(self)
        record["thread"] = list(self.thread)
        record.pop("id")
        return {k: v for k, v in record.items() if v not in (None, "", [])}

    @classmethod
    def from_record(cls, doc: Mapping[str, Any]) -> Reminder:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in doc.items() if k in known}
        values["thread"] = tuple(values.get("thread") or ())
        values["id"] = int(values.get("id") or 0)
        return cls(**values)

    def cancelled(self, why: str) -> Reminder:
        return replace(self, state="cancelled", cancel_reason=why)


# -- due times --------------------------------------------------------------------------------


def due_after(calendar: CalendarLike, start: datetime, after: timedelta) -> datetime:
    """``after`` of business time from ``start``.

    Whole days count as business *days* at the same wall-clock time, the rest as open hours
    (BusinessCalendar.add_business_time). People mean "48 hours" over a weekend as two working
    days: a 48 h check-in from Friday 16:00 lands on Tuesday 16:00, where 48 open hours of an
    8-hour day would be six working days later.
    """
    days, rest = divmod(after, _DAY)
    moment = start.astimezone(calendar.zone)
    day = moment.date()
    for _ in range(int(days)):
        day += _DAY
        while not calendar.intervals(day):
            day += _DAY
    if days:
        wall = moment.replace(tzinfo=None).time()
        moment = datetime.combine(day, wall).replace(tzinfo=calendar.zone)
        # Same wall time on an open day may still be outside its hours (before opening):
        # the next open moment is the earliest a human can act on it.
        moment = calendar.next_open(moment) if not _inside(calendar, moment) else moment
    return calendar.add_business_time(moment, rest)


def _inside(calendar: CalendarLike, moment: datetime) -> bool:
    return any(s <= moment <= e for s, e in calendar.intervals(moment.date()))


def weekday_due(calendar: CalendarLike, now: datetime, weekday: int) -> datetime:
    """The opening time of the next ``weekday`` (0 = Monday) strictly after today; when that day
    is closed (a holiday), the next opening after it."""
    local = now.astimezone(calendar.zone)
    ahead = (weekday - local.weekday() - 1) % 7 + 1
    day = local.date() + timedelta(days=ahead)
    midnight = datetime.combine(day, datetime.min.time()).replace(tzinfo=calendar.zone)
    return calendar.next_open(midnight)


# -- staff commands ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """What a mail to ``support+remind-2d@`` asks for."""

    kind: Kind
    to: Audience
    after: timedelta | None = None  # None with weekday None: the default follow-up time
    weekday: int | None = None
    text: str = ""  # the command as written, for reasons and logs

    def due(self, calendar: CalendarLike, now: datetime, default: timedelta) -> datetime:
        if self.weekday is not None:
            return weekday_due(calendar, now, self.weekday)
        return due_after(calendar, now, self.after if self.after is not None else default)


def parse_command(address: str, shop_address: str) -> Command | None:
    """The command in a plus address of the shop, or None when ``address`` is not one.

    ``remind-2d`` / ``remind-monday``: remind staff; ``checkin-48h``: check in with the
    customer; ``remind`` / ``checkin`` / ``followup`` alone: after ``check_in_after``.
    Raises ValueError for a plus address of the shop whose command is not understood.
    """
    local, _, domain = address.lower().partition("@")
    shop_local, _, shop_domain = shop_address.lower().partition("@")
    base, plus, detail = local.partition("+")
    if not plus or base != shop_local or domain != shop_domain:
        return None
    match = _COMMAND_RE.match(detail)
    if match is None:
        raise ValueError(f"{address}: unknown command {detail!r}; use remind-2d, checkin-48h ...")
    verb, when = match.groups()
    kind: Kind = "checkin" if verb == "checkin" else "custom"
    to: Audience = "customer" if verb == "checkin" else "staff"
    if when is None:
        return Command(kind, to, text=detail)
    weekday = _weekday(when)
    if weekday is not None:
        return Command(kind, to, weekday=weekday, text=detail)
    try:
        after = parse_duration(when)
    except ValueError as error:
        raise ValueError(f"{address}: {error}") from None
    return Command(kind, to, after=after, text=detail)


def _weekday(word: str) -> int | None:
    """monday or mon -> 0; None for anything else."""
    for index, name in enumerate(WEEKDAYS):
        if word == name or word == name[:3]:
            return index
    return None


def find_command(addresses: Iterable[str], shop_address: str) -> Command | None:
    """The first command among a mail's recipients; unknown commands are skipped."""
    for address in addresses:
        try:
            command = parse_command(address, shop_address)
        except ValueError:
            continue
        if command is not None:
            return command
    return None


# -- deciding at the due time -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    """What the mailbox said about a due reminder's message."""

    found: bool = True  # the message is still somewhere we look
    answered: bool = False  # \\Answered flag
    reply_in_sent: bool = False  # a mail in Sent names it in In-Reply-To/References
    resolved: bool | None = None  # checkin from resolution: still resolved? None = not asked


def decide(reminder: Reminder, status: Status) -> str | None:
    """None: send it now; else the reason it is cancelled instead."""
    if reminder.kind == "sla":
        if status.answered:
            return "answered (\\Answered is set)"
        if status.reply_in_sent:
            return "answered (a reply in Sent names it)"
        if not status.found and reminder.message_id:
            return "the message is gone (deleted or moved where inboxbot does not look)"
    if reminder.kind == "checkin":
        if not reminder.customer:
            return "no customer address to write to"
        if status.resolved is False:
            return "moved out of the resolved folder"
    return None


def customer_wrote(reminders: Iterable[Reminder], address: str, why: str) -> list[Reminder]:
    """Open check-ins and follow-ups for a customer who wrote again, cancelled.

    A new message from the customer is itself the follow-up: it lands in the inbox, so a
    reminder about the old one would only repeat it (and a check-in would ask a customer who
    just told us). SLA reminders stay: the new mail does not answer the old one.
    """
    address = address.lower()
    return [
        r.cancelled(why)
        for r in reminders
        if r.open and r.kind in CANCELLED_BY_CUSTOMER and r.customer.lower() == address
    ]


def due_now(reminders: Iterable[Reminder], now: datetime) -> list[Reminder]:
    """Due reminders, oldest due first (ties by id): those that fell due while the service was
    stopped go out in the order they would have."""
    return sorted((r for r in reminders if r.is_due(now)), key=lambda r: (r.due, r.id))


def seconds_until_next(reminders: Iterable[Reminder], now: datetime) -> float | None:
    """How long the daemon may idle before a reminder falls due; None when none is open."""
    dues = [r.due for r in reminders if r.state == "pending"]
    if not dues:
        return None
    return max(0.0, (min(dues) - now).total_seconds())


def checkin_allowed(
    reminder: Reminder,
    sent: Iterable[Reminder],
    now: datetime,
    per_sender: timedelta,
    max_per_hour: int,
    auto_replies_last_hour: int,
) -> str | None:
    """DESIGN.md section 5 for check-ins: None when it may go, else why not.

    At most one check-in per customer per ``per_sender`` (counted among check-ins: the
    acknowledgement a few days earlier must not silence the check-in it promised), and check-ins
    count with auto-replies toward ``max_per_hour``.
    """
    address = reminder.customer.lower()
    recent = 0
    for other in sent:
        if other.to != "customer" or other.state != "sent" or other.sent_at is None:
            continue
        if other.customer.lower() == address and now - other.sent_at < per_sender:
            return f"{address} already had a check-in at {other.sent_at:%Y-%m-%d %H:%M}"
        if now - other.sent_at < timedelta(hours=1):
            recent += 1
    if recent + auto_replies_last_hour >= max_per_hour:
        return f"max_per_hour ({max_per_hour}) reached"
    return None


def reminder_message_id(reminder: Reminder, domain: str) -> str:
    """The same reminder always gets the same Message-ID, so after a crash mid-send the copy in
    Sent (or in the watched folder) shows that it already went out."""
    key = f"{reminder.kind}\0{reminder.message_id}\0{reminder.created.isoformat()}\0{reminder.id}"
    return f"<inboxbot.reminder.{hashlib.sha256(key.encode()).hexdigest()[:24]}@{domain}>"


__all__ = [
    "KINDS",
    "Command",
    "Reminder",
    "Status",
    "checkin_allowed",
    "customer_wrote",
    "decide",
    "due_after",
    "due_now",
    "find_command",
    "parse_command",
    "reminder_message_id",
    "seconds_until_next",
    "weekday_due",
]
