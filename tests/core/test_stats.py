"""Complaint statistics: weeks, categories, cues, repeat complainers, response times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inboxbot.core.hours import BusinessCalendar
from inboxbot.core.stats import complaint_stats, percentile, week_of

CAL = BusinessCalendar("UTC", {d: "09:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")})
MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def record(at: datetime, who: str = "a@x.example", *, answered: datetime | None = None,
           due: datetime | None = None, categories: tuple[str, ...] = ("damaged",)) -> dict:
    return {"at": at, "customer": who, "categories": list(categories),
            "cues": {"complaint": ["broken"]}, "answered_at": answered, "due": due}


def test_counts_per_week_category_and_repeat_complainers() -> None:
    rows = [record(MON), record(MON + timedelta(days=1)), record(MON + timedelta(days=7)),
            record(MON, "b@x.example", categories=("late",))]
    stats = complaint_stats(rows, CAL, repeat_threshold=3)
    assert stats.total == 4
    assert dict(stats.per_week) == {"2026-W48": 3, "2026-W49": 1}
    assert dict(stats.per_category) == {"damaged": 3, "late": 1}
    assert dict(stats.top_cues) == {"broken": 4}
    assert stats.repeat_complainers == (("a@x.example", 3),)


def test_first_response_in_business_hours_and_promise_share() -> None:
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    rows = [
        # answered Monday 10:00: 1 h on Friday + 1 h on Monday = 2 business hours, late
        record(friday_4pm, answered=friday_4pm + timedelta(days=3, hours=-6),
               due=friday_4pm + timedelta(hours=1)),
        record(MON, answered=MON + timedelta(hours=1), due=MON + timedelta(hours=2)),
        record(MON),  # not answered yet
    ]
    stats = complaint_stats(rows, CAL)
    assert stats.answered == 2
    assert stats.median_first_response == timedelta(hours=1, minutes=30)
    assert stats.p90_first_response == timedelta(hours=2)
    assert stats.within_promise == 0.5


def test_no_answers_means_no_response_figures() -> None:
    stats = complaint_stats([record(MON)], CAL)
    assert stats.median_first_response is None and stats.within_promise is None
    assert stats.to_json()["median_first_response_hours"] is None


def test_percentile_nearest_rank() -> None:
    values = [timedelta(hours=h) for h in range(1, 11)]
    assert percentile(values, 0.9) == timedelta(hours=9)
    assert percentile(values, 0.5) == timedelta(hours=5)
    assert week_of(MON) == "2026-W48"


def test_weeks_are_iso_weeks_in_the_shops_time_zone() -> None:
    # Monday 2026-11-30 00:30 in Stockholm is Sunday 23:30 UTC: the shop's week 49, not 48.
    calendar = BusinessCalendar("Europe/Stockholm", {"mon": "09:00-17:00"})
    monday_night = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    # Friday 2027-01-01 is in ISO week 2026-W53 (2026 has 53 ISO weeks).
    new_year = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    stats = complaint_stats([record(monday_night), record(new_year)], calendar)
    assert dict(stats.per_week) == {"2026-W49": 1, "2026-W53": 1}


def test_repeat_complainers_count_an_address_whatever_its_case() -> None:
    # History (and so `sender = repeat`) keys a customer by the lower-cased address.
    rows = [record(MON, "Anna@X.example"), record(MON, "anna@x.example"),
            record(MON, "ANNA@x.example")]
    stats = complaint_stats(rows, CAL, repeat_threshold=3)
    assert stats.repeat_complainers == (("anna@x.example", 3),)


def test_repeat_complainers_are_those_sender_repeat_sees() -> None:
    # `sender = repeat` counts complaints over [triage] repeat_days (90), whatever --since says:
    # with --since 30d a customer with three complaints in 60 days is `repeat` and was missing,
    # with --since 365d one with three in a year is not `repeat` and was listed.
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    rows = [record(now - timedelta(days=d), "recent@x.example") for d in (1, 40, 60)]
    rows += [record(now - timedelta(days=d), "yearly@x.example") for d in (2, 150, 300)]
    stats = complaint_stats(rows, CAL, since=now - timedelta(days=30),
                            repeat_since=now - timedelta(days=90), repeat_threshold=3)
    assert stats.total == 2  # one each within the 30 days
    assert stats.repeat_complainers == (("recent@x.example", 3),)
    everything = complaint_stats(rows, CAL, since=now - timedelta(days=365),
                                 repeat_since=now - timedelta(days=90), repeat_threshold=3)
    assert everything.total == 6 and everything.repeat_complainers == (("recent@x.example", 3),)


def test_an_unanswered_complaint_past_its_promise_was_not_answered_within_it() -> None:
    # Ten complaints promised an answer by Monday 12:00; one answered at 11:00, nine still
    # waiting on Tuesday: 10% kept the promise, not 100%. One not due yet does not count.
    due = MON + timedelta(hours=2)
    rows = [record(MON, answered=MON + timedelta(hours=1), due=due)]
    rows += [record(MON, due=due) for _ in range(9)]
    rows.append(record(MON + timedelta(days=1), due=MON + timedelta(days=1, hours=2)))
    stats = complaint_stats(rows, CAL, now=MON + timedelta(days=1, hours=1))
    assert stats.within_promise == 0.1
    assert stats.to_json()["within_promise"] == 0.1
