"""The pure reminder core: due times in business time, staff commands, what cancels what."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inboxbot.core.hours import BusinessCalendar
from inboxbot.core.reminders import (
    Command,
    Reminder,
    Status,
    checkin_allowed,
    customer_wrote,
    decide,
    due_after,
    due_now,
    find_command,
    parse_command,
    reminder_message_id,
    seconds_until_next,
    weekday_due,
)

BERLIN = ZoneInfo("Europe/Berlin")
NINE_TO_FIVE = ((time(9), time(17)),)
CAL = BusinessCalendar(
    "Europe/Berlin",
    {d: NINE_TO_FIVE for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": (), "sun": ()},
    "DE",
)
SHOP = "support@shop.example"


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("start", "after", "expected"),
    [
        # The example: 48 h from Friday 16:00 is Tuesday, not Sunday.
        (at(2026, 11, 27, 16), timedelta(hours=48), at(2026, 12, 1, 16)),
        (at(2026, 11, 23, 10), timedelta(hours=2), at(2026, 11, 23, 12)),
        (at(2026, 11, 23, 16), timedelta(hours=2), at(2026, 11, 24, 10)),  # over the night
        (at(2026, 11, 28, 11), timedelta(days=1), at(2026, 11, 30, 11)),  # Saturday: Monday
        (at(2026, 11, 23, 7), timedelta(days=1), at(2026, 11, 24, 9)),  # before opening
        # Christmas: 24 Dec (Thu) is open, 25 and 26 are holidays; two days from the 24th.
        (at(2026, 12, 24, 10), timedelta(days=2), at(2026, 12, 29, 10)),
        (at(2026, 11, 23, 10), timedelta(days=1, hours=8), at(2026, 11, 25, 10)),
    ],
)
def test_due_after_counts_days_as_business_days(
    start: datetime, after: timedelta, expected: datetime
) -> None:
    assert due_after(CAL, start, after) == expected


@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=0, max_value=7),
)
def test_due_after_is_never_earlier_and_lands_in_open_time(
    naive: datetime, days: int, hours: int
) -> None:
    start = naive.replace(tzinfo=UTC)
    due = due_after(CAL, start, timedelta(days=days, hours=hours))
    assert due >= start
    local = due.astimezone(BERLIN)
    assert any(s <= local <= e for s, e in CAL.intervals(local.date()))


def test_weekday_due_is_the_next_such_day_at_opening() -> None:
    monday = at(2026, 11, 23, 10)
    assert weekday_due(CAL, monday, 0) == at(2026, 11, 30, 9)  # not today: next Monday
    assert weekday_due(CAL, monday, 2) == at(2026, 11, 25, 9)
    # A Monday that is a holiday (Whit Monday 2027): the next opening after it.
    assert weekday_due(CAL, at(2027, 5, 12, 10), 0) == at(2027, 5, 18, 9)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("support+remind-2d@shop.example", Command("custom", "staff", timedelta(days=2))),
        ("Support+Remind-4h@Shop.Example", Command("custom", "staff", timedelta(hours=4))),
        ("support+remind-monday@shop.example", Command("custom", "staff", weekday=0)),
        ("support+remind-fri@shop.example", Command("custom", "staff", weekday=4)),
        ("support+checkin-48h@shop.example", Command("checkin", "customer", timedelta(hours=48))),
        ("support+checkin@shop.example", Command("checkin", "customer")),
        ("support+followup@shop.example", Command("custom", "staff")),
        ("support@shop.example", None),
        ("sales+remind-2d@shop.example", None),
        ("support+remind-2d@other.example", None),
    ],
)
def test_parse_command(address: str, expected: Command | None) -> None:
    command = parse_command(address, SHOP)
    if expected is None:
        assert command is None
    else:
        assert command is not None
        assert (command.kind, command.to, command.after, command.weekday) == (
            expected.kind,
            expected.to,
            expected.after,
            expected.weekday,
        )


def test_unknown_commands_are_errors_and_skipped_by_find_command() -> None:
    with pytest.raises(ValueError, match="unknown command"):
        parse_command("support+delete-all@shop.example", SHOP)
    with pytest.raises(ValueError):
        parse_command("support+remind-2x@shop.example", SHOP)
    found = find_command(
        ["customer@x.example", "support+oops@shop.example", "support+remind-1d@shop.example"], SHOP
    )
    assert found is not None and found.after == timedelta(days=1)


def test_command_default_uses_check_in_after() -> None:
    command = parse_command("support+followup@shop.example", SHOP)
    assert command is not None
    assert command.due(CAL, at(2026, 11, 27, 16), timedelta(hours=48)) == at(2026, 12, 1, 16)


def reminder(**fields: object) -> Reminder:
    values: dict[str, object] = {
        "kind": "sla",
        "to": "staff",
        "due": at(2026, 11, 23, 12),
        "created": at(2026, 11, 23, 10),
        "message_id": "<m@x>",
        "customer": "c@x.example",
    }
    values.update(fields)
    return Reminder(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("r", "status", "cancelled"),
    [
        (reminder(), Status(), None),
        (reminder(), Status(answered=True), "answered (\\Answered is set)"),
        (reminder(), Status(reply_in_sent=True), "answered (a reply in Sent names it)"),
        (reminder(), Status(found=False), "the message is gone"),
        (reminder(kind="custom"), Status(found=False, answered=True), None),  # staff asked
        (reminder(kind="checkin", to="customer"), Status(resolved=True), None),
        (
            reminder(kind="checkin", to="customer"),
            Status(resolved=False),
            "moved out of the resolved folder",
        ),
        (reminder(kind="checkin", to="customer", customer=""), Status(), "no customer address"),
    ],
)
def test_decide(r: Reminder, status: Status, cancelled: str | None) -> None:
    why = decide(r, status)
    if cancelled is None:
        assert why is None
    else:
        assert why is not None and why.startswith(cancelled)


def test_customer_writing_again_cancels_check_ins_and_follow_ups_not_slas() -> None:
    items = [
        reminder(kind="checkin", to="customer", id=1, customer="C@X.example"),
        reminder(kind="custom", id=2),
        reminder(kind="sla", id=3),
        reminder(kind="checkin", to="customer", id=4, state="sent"),
        reminder(kind="checkin", to="customer", id=5, customer="other@x.example"),
    ]
    cancelled = customer_wrote(items, "c@x.example", "wrote again")
    assert [(r.id, r.state, r.cancel_reason) for r in cancelled] == [
        (1, "cancelled", "wrote again"),
        (2, "cancelled", "wrote again"),
    ]


def test_due_now_oldest_first_and_only_open() -> None:
    now = at(2026, 11, 30, 9)
    items = [
        reminder(id=3, due=at(2026, 11, 25, 9)),
        reminder(id=1, due=at(2026, 11, 24, 9), state="sending"),
        reminder(id=2, due=at(2026, 11, 24, 9)),
        reminder(id=4, due=at(2026, 11, 20, 9), state="sent"),
        reminder(id=5, due=at(2026, 12, 1, 9)),
    ]
    assert [r.id for r in due_now(items, now)] == [1, 2, 3]


def test_seconds_until_next() -> None:
    now = at(2026, 11, 23, 11, 59)
    assert seconds_until_next([], now) is None
    assert seconds_until_next([reminder(state="sent")], now) is None
    assert seconds_until_next([reminder(), reminder(due=at(2026, 11, 24, 9))], now) == 60
    assert seconds_until_next([reminder(due=at(2026, 11, 1, 9))], now) == 0


def test_checkin_limits() -> None:
    now = at(2026, 11, 30, 12)
    week = timedelta(days=4)
    new = reminder(kind="checkin", to="customer")
    earlier = reminder(kind="checkin", to="customer", state="sent", sent_at=now - timedelta(days=1))
    assert checkin_allowed(new, [], now, week, 100, 0) is None
    assert "already had a check-in" in (checkin_allowed(new, [earlier], now, week, 100, 0) or "")
    old = reminder(kind="checkin", to="customer", state="sent", sent_at=now - timedelta(days=5))
    assert checkin_allowed(new, [old], now, week, 100, 0) is None
    assert "max_per_hour" in (checkin_allowed(new, [], now, week, 3, 3) or "")


def test_checkin_limits_count_every_reminder_sent_to_a_customer() -> None:
    # A rule may name another kind (`remind = { to = "customer", kind = "custom" }`): it is
    # still mail to the customer, and a staff reminder is not.
    now = at(2026, 11, 30, 12)
    week = timedelta(days=4)
    new = reminder(kind="checkin", to="customer")
    custom = reminder(kind="custom", to="customer", state="sent", sent_at=now - timedelta(days=1))
    staff = reminder(kind="custom", to="staff", state="sent", sent_at=now - timedelta(minutes=5))
    assert "already had a check-in" in (checkin_allowed(new, [custom], now, week, 100, 0) or "")
    assert checkin_allowed(new, [staff], now, week, 100, 0) is None
    assert "max_per_hour" in (checkin_allowed(new, [replace(custom, sent_at=now)], now,
                                              timedelta(0), 1, 0) or "")


def test_record_round_trip_and_stable_message_id() -> None:
    r = reminder(thread=("<a@x>", "<b@x>"), promise_at=at(2026, 11, 23, 12), id=7)
    back = Reminder.from_record({**r.to_record(), "id": 7})
    assert back == r
    assert reminder_message_id(r, "shop.example") == reminder_message_id(back, "shop.example")
    assert reminder_message_id(r, "shop.example") != reminder_message_id(
        reminder(id=8), "shop.example"
    )
