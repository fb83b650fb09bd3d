"""The business calendar: opening hours, holidays, DST, and the promised answer time."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from inboxbot.core.hours import (
    MAX_SCAN_DAYS,
    WEEKDAYS,
    BusinessCalendar,
    DayHours,
    format_day_hours,
    parse_day_hours,
)

BERLIN = ZoneInfo("Europe/Berlin")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
TALLINN = ZoneInfo("Europe/Tallinn")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = {"DE": BERLIN, "DE-BY": BERLIN, "DE-BE": BERLIN, "SE": STOCKHOLM, "EE": TALLINN}

H = timedelta(hours=1)
XMAS_EVE = date(2026, 12, 24)
NINE_TO_FIVE = parse_day_hours("09:00-17:00")
ALL_DAY = parse_day_hours("00:00-24:00")


def office(
    holidays: str | None = None, closed: tuple[date, ...] = (), zone: str | None = None
) -> BusinessCalendar:
    """Mon-Fri 09:00-17:00 in the zone that goes with the holidays code."""
    tz = zone or (ZONES[holidays].key if holidays else "Europe/Berlin")
    return BusinessCalendar(tz, dict.fromkeys(WEEKDAYS[:5], NINE_TO_FIVE), holidays, closed)


def around_the_clock(zone: str = "Europe/Berlin") -> BusinessCalendar:
    return BusinessCalendar(zone, dict.fromkeys(WEEKDAYS, ALL_DAY))


def at(zone: tzinfo, y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


# Short names keep the tables readable: ber(2026, 3, 2, 9) is 09:00 on 2 March 2026 in Berlin.
ber = partial(at, BERLIN)
sto = partial(at, STOCKHOLM)
tal = partial(at, TALLINN)
nyc = partial(at, NEW_YORK)
utc = partial(at, UTC)


# -- parse_day_hours ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("09:00-17:00", ((time(9), time(17)),)),
        ("09:00-12:00,13:00-17:00", ((time(9), time(12)), (time(13), time(17)))),
        (" 09:00 - 12:00 , 13:00-17:30 ", ((time(9), time(12)), (time(13), time(17, 30)))),
        ("13:00-17:00,09:00-12:00", ((time(9), time(12)), (time(13), time(17)))),  # sorted
        ("09:00-12:00,12:00-17:00", ((time(9), time(17)),)),  # touching ranges merge
        ("closed", ()),
        ("Closed", ()),
        ("18:00-24:00", ((time(18), time(0)),)),  # 24:00 -> midnight ending the day
        ("00:00-24:00", ((time(0), time(0)),)),
        ("9:30-17:00", ((time(9, 30), time(17)),)),
    ],
)
def test_parse_day_hours(spec: str, expected: DayHours) -> None:
    assert parse_day_hours(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("17:00-09:00", "does not end after it starts"),
        ("09:00-09:00", "does not end after it starts"),
        ("09:00-12:00,11:00-13:00", "overlap"),
        ("09:00-17:00,10:00-11:00", "overlap"),
        ("00:00-24:00,10:00-11:00", "overlap"),
        ("25:00-26:00", "not a valid time"),
        ("09:60-17:00", "not a valid time"),
        ("09:00-24:30", "not a valid time"),
        ("24:00-24:00", "can only end a range"),
        ("9-17", "not a time"),
        ("09:00", "not a range"),
        ("09:00-17:00,", "not a range"),
        ("", "empty"),
        ("open", "not a range"),
        ("nine-five", "not a time"),
    ],
)
def test_parse_day_hours_rejects(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_day_hours(spec)
    assert (
        spec.strip() == "" or repr(spec) in str(info.value) or repr(spec.strip()) in str(info.value)
    )


@pytest.mark.parametrize(
    "spec", ["closed", "09:00-17:00", "09:00-12:00,13:00-17:00", "18:00-24:00", "00:00-24:00"]
)
def test_format_day_hours_is_what_parse_day_hours_reads(spec: str) -> None:
    assert format_day_hours(parse_day_hours(spec)) == spec


# -- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Europe/Berlinn"}, "unknown time zone 'Europe/Berlinn'.*IANA"),
        ({"timezone": "../etc/passwd"}, "unknown time zone"),
        # The server's own zone (a link to /etc/localtime): UTC on the server, Berlin on a laptop.
        ({"timezone": "localtime"}, "the server's own zone.*'Europe/Berlin'"),
        ({"week": {"monday": NINE_TO_FIVE}}, r"unknown weekday.*mon, tue"),
        ({"week": {"mon": ((time(9), time(12)), (time(11), time(13)))}}, "overlap"),
        ({"week": {"mon": ((time(17), time(9)),)}}, "does not end after"),
        ({"week": {"mon": "17:00-09:00"}}, "mon: range 17:00-09:00"),
        ({"week": {"mon": [time(9), time(17)]}}, "mon: hours must be .start, end. pairs"),
        ({"holidays": "XX"}, "unknown holidays code 'XX'.*'DE-BY'"),
        ({"holidays": "DE-XX"}, "unknown subdivision 'XX'.*DE-BY"),
        ({"holidays": "Germany"}, "unknown holidays code"),
        ({"closed": [utc(2026, 12, 24)]}, "must be dates"),
    ],
)
def test_construction_rejects(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"timezone": "Europe/Berlin", "week": {"mon": NINE_TO_FIVE}}
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**(args | kwargs))


def test_a_country_code_is_checked_without_loading_every_country() -> None:
    # holidays loads all ~250 country modules for any one country's class: 0.2-0.3 s of each
    # start (RELIABILITY.md, the 100,000-message restart). Without a subdivision the code is
    # checked against the registry and the class loads with the first holiday looked up.
    script = (
        "import sys; from inboxbot.core.hours import BusinessCalendar as B\n"
        "w = {'mon': '09:00-17:00'}\n"
        "c = B('Europe/Berlin', w, 'DE'); B('Europe/Stockholm', w, 'swe')\n"
        "print('holidays.countries' in sys.modules, end=' ')\n"
        "from datetime import date; print(c.holiday_name(date(2026, 12, 25)) is not None)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False", "True"]


def test_week_accepts_specs_and_any_case_for_day_names() -> None:
    from_specs = BusinessCalendar("Europe/Berlin", {"Mon": "09:00-17:00", "sat": "closed"})
    assert from_specs == BusinessCalendar("Europe/Berlin", {"mon": NINE_TO_FIVE})


def test_holidays_code_is_case_insensitive() -> None:
    assert BusinessCalendar("Europe/Berlin", {}, "de-by") == BusinessCalendar(
        "Europe/Berlin", {}, "DE-BY"
    )


def test_calendar_is_immutable_and_comparable() -> None:
    cal = office("DE")
    with pytest.raises(AttributeError):
        cal._zone = STOCKHOLM
    with pytest.raises(AttributeError):
        del cal._week
    assert cal == office("DE")
    assert hash(cal) == hash(office("DE"))
    assert cal != office("DE-BY")
    assert cal.zone == BERLIN
    assert cal.week["mon"] == NINE_TO_FIVE and cal.week["sat"] == ()


def test_holidays_load_lazily_once_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = holidays.country_holidays

    def counting(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("years") is not None:  # validating the code alone computes no year
            calls.append(kwargs["years"])
        return real(*args, **kwargs)

    monkeypatch.setattr(holidays, "country_holidays", counting)
    cal = office("DE")
    assert calls == []
    assert cal.add_business_time(ber(2026, 12, 22, 10), 60 * H) == ber(2027, 1, 4, 14)
    assert cal.holiday_name(date(2026, 5, 1)) == "Labor Day"
    assert sorted(calls) == [2026, 2027]


def test_holiday_names_do_not_depend_on_the_process_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "de")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    assert office("DE").holiday_name(date(2026, 1, 1)) == "New Year's Day"
    german = BusinessCalendar("Europe/Berlin", {}, "DE", language="de")
    assert german.holiday_name(date(2026, 1, 1)) == "Neujahr"


@pytest.mark.parametrize(
    "method",
    [
        lambda c, t: c.is_open(t),
        lambda c, t: c.next_open(t),
        lambda c, t: c.next_close(t),
        lambda c, t: c.add_business_time(t, H),
        lambda c, t: c.business_time_between(t, t),
    ],
)
def test_naive_datetimes_are_rejected(
    method: Callable[[BusinessCalendar, datetime], object],
) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        method(office(), datetime(2026, 3, 2, 10))


def test_negative_duration_is_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        office().add_business_time(ber(2026, 3, 2, 10), -H)


# -- is_open / next_open / next_close -------------------------------------------------------------

SPLIT = BusinessCalendar(
    "Europe/Stockholm",
    dict.fromkeys(WEEKDAYS[:5], parse_day_hours("09:00-12:00,13:00-17:00")),
    "SE",
)


@pytest.mark.parametrize(
    ("cal", "t", "is_open", "next_open", "next_close"),
    [
        # 2026-03-02 is a Monday.
        (office(), ber(2026, 3, 2, 8, 59), False, ber(2026, 3, 2, 9), ber(2026, 3, 2, 17)),
        (office(), ber(2026, 3, 2, 9), True, ber(2026, 3, 2, 9), ber(2026, 3, 2, 17)),
        (office(), ber(2026, 3, 2, 17), False, ber(2026, 3, 3, 9), ber(2026, 3, 3, 17)),
        (office(), ber(2026, 3, 6, 17, 30), False, ber(2026, 3, 9, 9), ber(2026, 3, 9, 17)),
        (SPLIT, sto(2026, 3, 2, 11), True, sto(2026, 3, 2, 11), sto(2026, 3, 2, 12)),
        (SPLIT, sto(2026, 3, 2, 12), False, sto(2026, 3, 2, 13), sto(2026, 3, 2, 17)),
        (SPLIT, sto(2026, 3, 2, 12, 59), False, sto(2026, 3, 2, 13), sto(2026, 3, 2, 17)),
        # Inputs in UTC: 08:30 UTC is 09:30 in Berlin in winter, 10:30 in summer.
        (office(), utc(2026, 3, 2, 7, 59), False, ber(2026, 3, 2, 9), ber(2026, 3, 2, 17)),
        (office(), utc(2026, 3, 2, 8, 0), True, ber(2026, 3, 2, 9), ber(2026, 3, 2, 17)),
        (office(), utc(2026, 7, 6, 7, 0), True, ber(2026, 7, 6, 9), ber(2026, 7, 6, 17)),
        (office(), utc(2026, 7, 6, 6, 59), False, ber(2026, 7, 6, 9), ber(2026, 7, 6, 17)),
        # A New York evening is already the next Berlin morning.
        (office(), nyc(2026, 3, 2, 21), False, ber(2026, 3, 3, 9), ber(2026, 3, 3, 17)),
        (office(), nyc(2026, 3, 3, 3), True, ber(2026, 3, 3, 9), ber(2026, 3, 3, 17)),
    ],
)  # fmt: skip
def test_open_and_close(
    cal: BusinessCalendar, t: datetime, is_open: bool, next_open: datetime, next_close: datetime
) -> None:
    assert cal.is_open(t) is is_open
    got_open, got_close = cal.next_open(t), cal.next_close(t)
    assert (got_open, got_close) == (max(next_open, t), next_close)
    assert got_open.tzinfo is cal.zone and got_close.tzinfo is cal.zone


def test_next_close_treats_a_shift_across_midnight_as_one_period() -> None:
    night = BusinessCalendar(
        "Europe/Tallinn",
        {"mon": parse_day_hours("18:00-24:00"), "tue": parse_day_hours("00:00-08:00")},
    )
    assert night.next_close(tal(2026, 3, 2, 20)) == tal(2026, 3, 3, 8)
    assert night.is_open(tal(2026, 3, 3, 0))
    assert night.add_business_time(tal(2026, 3, 2, 23), 2 * H) == tal(2026, 3, 3, 1)


def test_a_promise_ending_at_a_24_00_close_stays_there() -> None:
    # Monday 18:00-24:00, Tuesday closed: the promise lands on Tuesday's midnight, and a zero
    # duration from that moment keeps it there instead of jumping to next Monday.
    late = BusinessCalendar("Europe/Berlin", {"mon": parse_day_hours("18:00-24:00")})
    promise = late.add_business_time(ber(2026, 3, 2, 23), H)
    assert promise == ber(2026, 3, 3, 0)
    assert late.add_business_time(promise, timedelta(0)) == promise
    assert late.add_business_time(promise, H) == ber(2026, 3, 9, 19)
    assert not late.is_open(promise)


def test_next_close_of_a_shop_that_never_closes_is_an_error() -> None:
    with pytest.raises(ValueError, match="around the clock"):
        around_the_clock().next_close(ber(2026, 3, 2, 12))


@pytest.mark.parametrize(
    "cal",
    [
        BusinessCalendar("Europe/Berlin", {}),
        BusinessCalendar("Europe/Berlin", dict.fromkeys(WEEKDAYS, ())),
    ],
)
def test_a_calendar_without_open_hours_fails_instead_of_looping(cal: BusinessCalendar) -> None:
    t = ber(2026, 3, 2, 12)
    assert not cal.is_open(t)
    message = f"no open hours in the {MAX_SCAN_DAYS} days"
    with pytest.raises(ValueError, match=message):
        cal.next_open(t)
    with pytest.raises(ValueError, match=message):
        cal.add_business_time(t, H)
    assert cal.business_time_between(t, t + timedelta(days=1000)) == timedelta(0)


def test_closed_dates_beyond_the_scan_limit_are_an_error_not_a_hang() -> None:
    start = date(2026, 1, 1)
    closed = [start + timedelta(days=n) for n in range(MAX_SCAN_DAYS + 10)]
    cal = BusinessCalendar("Europe/Berlin", dict.fromkeys(WEEKDAYS, NINE_TO_FIVE), closed=closed)
    with pytest.raises(ValueError, match="no open hours"):
        cal.next_open(ber(2026, 1, 1, 12))


def test_a_long_closure_within_the_scan_limit_is_fine() -> None:
    start = date(2026, 1, 1)
    closed = [start + timedelta(days=n) for n in range(300)]
    cal = BusinessCalendar("Europe/Berlin", dict.fromkeys(WEEKDAYS, NINE_TO_FIVE), closed=closed)
    assert cal.next_open(ber(2026, 1, 1, 12)) == ber(2026, 10, 28, 9)


# -- the promise: add_business_time ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "t", "duration", "expected"),
    [
        # Plain week (2026-03-02 is a Monday).
        (office(), ber(2026, 3, 2, 10), 2 * H, ber(2026, 3, 2, 12)),
        (office(), ber(2026, 3, 2, 10), 8 * H, ber(2026, 3, 3, 10)),
        (office(), ber(2026, 3, 2, 7), 8 * H, ber(2026, 3, 2, 17)),  # ends at close
        (office(), ber(2026, 3, 2, 9), 16 * H, ber(2026, 3, 3, 17)),
        (office(), ber(2026, 3, 6, 16), 8 * H, ber(2026, 3, 9, 16)),  # over weekend
        (office(), ber(2026, 3, 7, 11), 1 * H, ber(2026, 3, 9, 10)),  # from Saturday
        (office(), ber(2026, 3, 2, 10), timedelta(0), ber(2026, 3, 2, 10)),
        (office(), ber(2026, 3, 2, 20), timedelta(0), ber(2026, 3, 3, 9)),
        (office(), ber(2026, 3, 2, 17), timedelta(0), ber(2026, 3, 2, 17)),
        # Split shift: lunch does not count.
        (SPLIT, sto(2026, 3, 2, 11), 2 * H, sto(2026, 3, 2, 14)),
        (SPLIT, sto(2026, 3, 2, 11), 1 * H, sto(2026, 3, 2, 12)),
        (SPLIT, sto(2026, 3, 2, 12, 30), 30 * timedelta(minutes=1), sto(2026, 3, 2, 13, 30)),
        (SPLIT, sto(2026, 3, 2, 16), 8 * H, sto(2026, 3, 3, 17)),  # 7h a day
        # DST, spring (last Sunday of March 2026 = 29th): Friday 16:00 + 8h is still Monday 16:00.
        (office("DE"), ber(2026, 3, 27, 16), 8 * H, ber(2026, 3, 30, 16)),
        (office("SE"), sto(2026, 3, 27, 16), 8 * H, sto(2026, 3, 30, 16)),
        (office("EE"), tal(2026, 3, 27, 16), 8 * H, tal(2026, 3, 30, 16)),
        # DST, autumn (25 October 2026).
        (office("DE"), ber(2026, 10, 23, 16), 8 * H, ber(2026, 10, 26, 16)),
        (office("SE"), sto(2026, 10, 23, 16), 8 * H, sto(2026, 10, 26, 16)),
        (office("EE"), tal(2026, 10, 23, 16), 8 * H, tal(2026, 10, 26, 16)),
        # Open around the clock: a DST Sunday has 23 or 25 real hours.
        (around_the_clock(), ber(2026, 3, 28, 12), 24 * H, ber(2026, 3, 29, 13)),
        (around_the_clock(), ber(2026, 10, 24, 12), 24 * H, ber(2026, 10, 25, 11)),
        (around_the_clock("Europe/Tallinn"), tal(2026, 3, 29, 2), 2 * H, tal(2026, 3, 29, 5)),
        # Christmas. DE: 24 Dec is a working day, 25 (Fri) and 26 Dec are holidays.
        (office("DE"), ber(2026, 12, 23, 18), 8 * H, ber(2026, 12, 24, 17)),
        (office("DE"), ber(2026, 12, 24, 16), 2 * H, ber(2026, 12, 28, 10)),
        (office("DE", closed=(XMAS_EVE,)), ber(2026, 12, 23, 18), 8 * H, ber(2026, 12, 28, 17)),
        # SE: 24 Dec is no public holiday but a de facto one (Julafton), 25 Dec is public.
        (office("SE"), sto(2026, 12, 23, 16), 2 * H, sto(2026, 12, 28, 10)),
        (office("SE"), sto(2026, 12, 24, 10), 2 * H, sto(2026, 12, 28, 11)),
        # EE: 24, 25 and 26 Dec are all public holidays.
        (office("EE"), tal(2026, 12, 23, 16), 2 * H, tal(2026, 12, 28, 10)),
        # New Year: 1 Jan 2027 is a Friday in all three countries.
        (office("DE"), ber(2026, 12, 31, 16), 2 * H, ber(2027, 1, 4, 10)),
        (office("SE"), sto(2026, 12, 30, 16), 2 * H, sto(2027, 1, 4, 10)),  # 31 Dec: de facto
        (office("EE"), tal(2026, 12, 31, 18), 8 * H, tal(2027, 1, 4, 17)),
        # Friday evening before Pentecost Monday (25 May 2026): a holiday in DE, not SE or EE.
        (office("DE"), ber(2026, 5, 22, 18), 1 * H, ber(2026, 5, 26, 10)),
        (office("SE"), sto(2026, 5, 22, 18), 1 * H, sto(2026, 5, 25, 10)),
        (office("EE"), tal(2026, 5, 22, 18), 1 * H, tal(2026, 5, 25, 10)),
        # Easter: Good Friday and Easter Monday (DE, SE); EE has no Easter Monday.
        (office("DE"), ber(2026, 4, 2, 18), 1 * H, ber(2026, 4, 7, 10)),
        (office("SE"), sto(2026, 4, 2, 18), 1 * H, sto(2026, 4, 7, 10)),
        (office("EE"), tal(2026, 4, 2, 18), 1 * H, tal(2026, 4, 6, 10)),
        # Subdivision: Epiphany (Tue 6 Jan 2026) in Bavaria, not in Berlin.
        (office("DE-BY"), ber(2026, 1, 5, 16), 2 * H, ber(2026, 1, 7, 10)),
        (office("DE-BE"), ber(2026, 1, 5, 16), 2 * H, ber(2026, 1, 6, 10)),
        # Input in another zone, output in the shop's: 15:00 UTC Friday is 16:00 in Berlin.
        (office("DE"), utc(2026, 3, 6, 15), 8 * H, ber(2026, 3, 9, 16)),
        (office("DE"), nyc(2026, 3, 6, 10), 8 * H, ber(2026, 3, 9, 16)),
    ],
)  # fmt: skip
def test_add_business_time(
    cal: BusinessCalendar, t: datetime, duration: timedelta, expected: datetime
) -> None:
    got = cal.add_business_time(t, duration)
    assert got == expected
    assert got.tzinfo is cal.zone
    assert got.utcoffset() == expected.utcoffset()  # same wall clock, not just the same instant


def test_the_same_instant_in_any_zone_gives_the_same_promise() -> None:
    cal = office("DE")
    instant = utc(2026, 10, 23, 14, 30)
    results = {
        cal.add_business_time(instant.astimezone(ZoneInfo(z)), 8 * H)
        for z in ("UTC", "Europe/Berlin", "Europe/Tallinn", "America/New_York", "Asia/Tokyo")
    }
    assert results == {ber(2026, 10, 26, 16, 30)}  # 14:30 UTC is 16:30 CEST


# -- intervals, DST ------------------------------------------------------------------------------


def _real(a: datetime, b: datetime) -> timedelta:
    # Subtracting two datetimes that share a tzinfo gives wall-clock time, not elapsed time.
    return b.astimezone(UTC) - a.astimezone(UTC)


def _lengths(cal: BusinessCalendar, day: date) -> list[timedelta]:
    return [_real(start, end) for start, end in cal.intervals(day)]


@pytest.mark.parametrize(
    ("zone", "spec", "day", "lengths"),
    [
        ("Europe/Berlin", "00:00-24:00", date(2026, 3, 28), [24 * H]),
        ("Europe/Berlin", "00:00-24:00", date(2026, 3, 29), [23 * H]),
        ("Europe/Berlin", "00:00-24:00", date(2026, 10, 25), [25 * H]),
        ("Europe/Stockholm", "00:00-24:00", date(2026, 3, 29), [23 * H]),
        ("Europe/Stockholm", "00:00-24:00", date(2026, 10, 25), [25 * H]),
        ("Europe/Tallinn", "00:00-24:00", date(2026, 3, 29), [23 * H]),
        ("Europe/Tallinn", "00:00-24:00", date(2026, 10, 25), [25 * H]),
        ("Europe/Berlin", "09:00-17:00", date(2026, 3, 29), [8 * H]),
        # Berlin switches 02:00 -> 03:00 in spring, 03:00 -> 02:00 in autumn.
        ("Europe/Berlin", "01:00-04:00", date(2026, 3, 29), [2 * H]),
        ("Europe/Berlin", "01:00-04:00", date(2026, 10, 25), [4 * H]),
        # Tallinn switches an hour later in local time (03:00 -> 04:00).
        ("Europe/Tallinn", "01:00-04:00", date(2026, 3, 29), [2 * H]),
        ("Europe/Tallinn", "01:00-03:00", date(2026, 3, 29), [2 * H]),
        ("Europe/Berlin", "01:00-03:00", date(2026, 3, 29), [1 * H]),
        # Opening inside the skipped hour opens when the clocks jump, not an hour later.
        ("Europe/Berlin", "02:30-05:00", date(2026, 3, 29), [2 * H]),
        ("Europe/Berlin", "01:00-02:30,04:00-05:00", date(2026, 3, 29), [1 * H, 1 * H]),
        ("Europe/Berlin", "02:00-02:45,04:00-05:00", date(2026, 3, 29), [1 * H]),  # swallowed
        # An ambiguous autumn time means its first occurrence.
        ("Europe/Berlin", "02:30-05:00", date(2026, 10, 25), [3 * H + 30 * timedelta(minutes=1)]),
        # US rules differ: New York switched on 8 March 2026.
        ("America/New_York", "00:00-24:00", date(2026, 3, 8), [23 * H]),
        ("America/New_York", "00:00-24:00", date(2026, 3, 29), [24 * H]),
    ],
)
def test_intervals_have_real_durations_across_dst(
    zone: str, spec: str, day: date, lengths: list[timedelta]
) -> None:
    cal = BusinessCalendar(zone, dict.fromkeys(WEEKDAYS, parse_day_hours(spec)))
    assert _lengths(cal, day) == lengths
    for start, end in cal.intervals(day):
        assert start.tzinfo is cal.zone and end.tzinfo is cal.zone


def test_intervals_show_the_shops_wall_clock() -> None:
    cal = BusinessCalendar("Europe/Berlin", dict.fromkeys(WEEKDAYS, NINE_TO_FIVE))
    ((start, end),) = cal.intervals(date(2026, 3, 29))
    assert (start.hour, end.hour, start.utcoffset()) == (9, 17, 2 * H)
    ((start, end),) = cal.intervals(date(2026, 3, 28))
    assert (start.hour, end.hour, start.utcoffset()) == (9, 17, 1 * H)


def test_intervals_are_empty_on_holidays_and_closed_dates() -> None:
    cal = office("DE", closed=(date(2026, 3, 3),))
    assert cal.intervals(date(2026, 3, 2)) != []
    assert cal.intervals(date(2026, 3, 3)) == []  # closed date
    assert cal.intervals(date(2026, 12, 25)) == []  # Christmas
    assert cal.intervals(date(2026, 3, 7)) == []  # Saturday


def test_a_day_switching_at_midnight_starts_when_the_clock_jumps() -> None:
    # Chile skips 00:00-01:00 on 6 September 2026: the day has 23 hours, starting at 01:00.
    cal = around_the_clock("America/Santiago")
    ((start, end),) = cal.intervals(date(2026, 9, 6))
    assert (start.hour, _real(start, end)) == (1, 23 * H)
    assert cal.intervals(date(2026, 9, 5))[0][1] == start  # yesterday's 24:00 is the same moment


# -- holidays, closures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "day", "name"),
    [
        ("DE", date(2026, 12, 25), "Christmas Day"),
        ("DE", date(2026, 12, 24), None),
        ("DE", date(2026, 1, 6), None),
        ("DE-BY", date(2026, 1, 6), "Epiphany"),
        ("DE-BE", date(2026, 1, 6), None),
        ("SE", date(2026, 1, 6), "Epiphany"),
        ("SE", date(2026, 6, 6), "National Day"),
        ("EE", date(2026, 12, 24), "Christmas Eve"),
        ("EE", date(2026, 2, 24), "Independence Day"),
        ("EE", date(2027, 1, 1), "New Year's Day"),
        (None, date(2026, 12, 25), None),
    ],
)
def test_holiday_name(code: str | None, day: date, name: str | None) -> None:
    assert office(code).holiday_name(day) == name


def test_upcoming_closures_lists_holidays_and_closed_dates_on_open_days() -> None:
    cal = office("DE", closed=(date(2026, 12, 24), date(2026, 12, 27)))
    # 27 Dec is a Sunday and 26 Dec a Saturday: closed anyway, nothing to announce.
    assert cal.upcoming_closures(date(2026, 12, 20), 14) == [
        (date(2026, 12, 24), "closed"),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2027, 1, 1), "New Year's Day"),
    ]
    assert cal.upcoming_closures(date(2026, 12, 20), 5) == [(date(2026, 12, 24), "closed")]
    assert cal.upcoming_closures(date(2026, 12, 20), 0) == []


def test_upcoming_closures_prefers_the_holiday_name_and_rejects_negative_days() -> None:
    cal = office("EE", closed=(date(2026, 12, 24),))
    assert cal.upcoming_closures(date(2026, 12, 24), 1) == [(date(2026, 12, 24), "Christmas Eve")]
    with pytest.raises(ValueError, match="negative"):
        cal.upcoming_closures(date(2026, 12, 24), -1)


# -- business_time_between ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cal", "a", "b", "expected"),
    [
        (office(), ber(2026, 3, 6, 16), ber(2026, 3, 9, 10), 2 * H),
        (office(), ber(2026, 3, 9, 10), ber(2026, 3, 6, 16), -2 * H),
        (office(), ber(2026, 3, 7, 10), ber(2026, 3, 8, 10), timedelta(0)),
        (office(), ber(2026, 3, 2, 10), ber(2026, 3, 2, 10), timedelta(0)),
        (office(), ber(2026, 3, 2, 0), ber(2026, 3, 9, 0), 40 * H),
        (office("DE"), ber(2026, 12, 21, 0), ber(2027, 1, 4, 0), 64 * H),
        (SPLIT, sto(2026, 3, 2, 11), sto(2026, 3, 2, 14), 2 * H),
        (around_the_clock(), ber(2026, 10, 25, 0), ber(2026, 10, 26, 0), 25 * H),
        (around_the_clock(), utc(2026, 3, 28, 23), utc(2026, 3, 29, 23), 24 * H),
    ],
)  # fmt: skip
def test_business_time_between(
    cal: BusinessCalendar, a: datetime, b: datetime, expected: timedelta
) -> None:
    assert cal.business_time_between(a, b) == expected


# -- properties -----------------------------------------------------------------------------------

PROPERTY_ZONES = ["Europe/Berlin", "Europe/Stockholm", "Europe/Tallinn", "America/New_York"]
INPUT_ZONES = [UTC, BERLIN, STOCKHOLM, TALLINN, NEW_YORK, ZoneInfo("Asia/Kolkata")]
QUARTER = timedelta(minutes=15)


def _quarter(q: int) -> time:
    return time(0) if q == 96 else time(q // 4, q % 4 * 15)


@st.composite
def day_hours(draw: st.DrawFn) -> DayHours:
    """Random disjoint ranges on a quarter-hour grid, including 24:00 ends and the DST hours."""
    points = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(points) % 2:
        points = points[:-1]
    return tuple((_quarter(a), _quarter(b)) for a, b in zip(points[::2], points[1::2], strict=True))


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    week = {day: draw(day_hours()) for day in WEEKDAYS}
    # Enough open time per week that long promises stay quick to compute.
    open_time = sum(
        (
            (timedelta(hours=24) if e == time(0) else timedelta(hours=e.hour, minutes=e.minute))
            - timedelta(hours=s.hour, minutes=s.minute)
            for ranges in week.values()
            for s, e in ranges
        ),
        timedelta(0),
    )
    assume(open_time >= timedelta(hours=2))
    zone = draw(st.sampled_from(PROPERTY_ZONES))
    code = draw(st.sampled_from([None, "DE", "DE-BY", "SE", "EE"]))
    closed = draw(st.lists(st.dates(date(2026, 3, 20), date(2026, 4, 10)), max_size=5))
    return BusinessCalendar(zone, week, code, closed)


FIXED = [office("DE"), office("SE"), office("EE"), SPLIT, around_the_clock()]
any_calendar = st.one_of(st.sampled_from(FIXED), calendars())

# Moments near the 2026 EU and US DST switches and the year end, plus anywhere in 2025-2027.
_near = [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1),
         utc(2026, 3, 8, 7), utc(2026, 12, 24)]  # fmt: skip
moments = st.builds(
    lambda base, offset, zone: (base + offset).astimezone(zone),
    st.one_of(st.sampled_from(_near), st.just(utc(2026, 1, 1))),
    st.one_of(
        st.timedeltas(-timedelta(days=4), timedelta(days=4)),
        st.timedeltas(-timedelta(days=365), timedelta(days=700)),
        st.integers(-96 * 4, 96 * 4).map(lambda q: q * QUARTER),  # exactly on opening times
    ),
    st.sampled_from(INPUT_ZONES),
)
durations = st.one_of(
    st.timedeltas(timedelta(0), timedelta(days=3)),
    st.integers(0, 4 * 40).map(lambda q: q * QUARTER),  # whole quarters hit closing times exactly
)
FAST = settings(max_examples=200, deadline=None)


EPSILON = timedelta(microseconds=1)


def u(t: datetime) -> datetime:
    """In UTC: comparing or shifting two datetimes that share a ZoneInfo works on the wall clock
    and ignores `fold`, which is wrong in the repeated autumn hour."""
    return t.astimezone(UTC)


def _interval_ends(cal: BusinessCalendar, t: datetime) -> set[datetime]:
    local = t.astimezone(cal.zone).date()
    days = (local - timedelta(days=1), local)
    return {u(end) for day in days for _, end in cal.intervals(day)}


@FAST
@given(any_calendar, moments, durations)
def test_promise_is_never_inside_a_closed_period(
    cal: BusinessCalendar, t: datetime, d: timedelta
) -> None:
    promise = cal.add_business_time(t, d)
    assert cal.is_open(promise) or u(promise) in _interval_ends(cal, promise)
    assert u(promise) >= u(t)
    assert promise.tzinfo is cal.zone
    if d > timedelta(0):
        # The last stretch before the promise is open time being used up.
        assert cal.is_open(u(promise) - EPSILON)


@FAST
@given(any_calendar, moments, durations, durations)
def test_promise_composes(cal: BusinessCalendar, t: datetime, a: timedelta, b: timedelta) -> None:
    once = cal.add_business_time(t, a + b)
    assert u(once) == u(cal.add_business_time(cal.add_business_time(t, a), b))


@FAST
@given(any_calendar, moments, moments, durations, durations)
def test_promise_is_monotonic(
    cal: BusinessCalendar, t1: datetime, t2: datetime, d1: timedelta, d2: timedelta
) -> None:
    t1, t2 = sorted((t1, t2), key=u)
    d1, d2 = sorted((d1, d2))
    assert u(cal.add_business_time(t1, d1)) <= u(cal.add_business_time(t2, d1))
    assert u(cal.add_business_time(t1, d1)) <= u(cal.add_business_time(t1, d2))


@FAST
@given(any_calendar, moments, durations)
def test_business_time_between_inverts_the_promise(
    cal: BusinessCalendar, t: datetime, d: timedelta
) -> None:
    assert cal.business_time_between(t, cal.add_business_time(t, d)) == d


@FAST
@given(any_calendar, moments)
def test_next_open_is_the_first_open_moment(cal: BusinessCalendar, t: datetime) -> None:
    opened = cal.next_open(t)
    assert u(opened) >= u(t)
    assert cal.is_open(opened)
    assert (u(opened) == u(t)) is cal.is_open(t)
    assert cal.business_time_between(t, opened) == timedelta(0)


@FAST
@given(any_calendar, moments)
def test_next_close_ends_an_unbroken_open_period(cal: BusinessCalendar, t: datetime) -> None:
    try:
        closes = cal.next_close(t)
    except ValueError:  # open around the clock: no closing time to find
        return
    opened = cal.next_open(t)
    assert u(opened) < u(closes)
    assert not cal.is_open(closes)
    assert cal.is_open(u(closes) - EPSILON)
    assert cal.business_time_between(opened, closes) == _real(opened, closes)


@FAST
@given(any_calendar, st.dates(date(2025, 1, 1), date(2027, 12, 31)))
def test_intervals_are_ordered_open_and_on_their_day(cal: BusinessCalendar, day: date) -> None:
    spans = cal.intervals(day)
    for start, end in spans:
        assert u(start) < u(end)
        assert start.date() == day
        assert cal.is_open(start) and cal.is_open(u(end) - EPSILON)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert u(end) <= u(start)


@FAST
@given(calendars(), moments)
def test_is_open_reads_the_wall_clock(cal: BusinessCalendar, t: datetime) -> None:
    local = t.astimezone(cal.zone)
    day = local.date()
    # On a day the clocks change, wall time and real time part; the DST tests cover those days.
    offsets = {
        datetime.combine(day + timedelta(days=n), time(0), cal.zone).utcoffset() for n in (0, 1)
    }
    assume(len(offsets) == 1)
    ranges = cal.week[WEEKDAYS[day.weekday()]]
    wall = local.time().replace(tzinfo=None)
    expected = cal.holiday_name(day) is None and any(
        s <= wall and (e == time(0) or wall < e) for s, e in ranges
    )
    assert cal.is_open(t) is (expected and not _is_extra_closed(cal, day))


def _is_extra_closed(cal: BusinessCalendar, day: date) -> bool:
    return cal.is_closed_day(day) and cal.holiday_name(day) is None


@pytest.mark.parametrize(("code", "day", "closed"), [
    # Sweden's de facto holidays: Midsummer Eve, Christmas Eve, New Year's Eve (Julafton...).
    ("SE", date(2026, 6, 19), True),
    ("SE", date(2026, 12, 24), True),
    ("SE", date(2026, 12, 31), True),
    ("SE", date(2026, 12, 23), False),  # "Day before Christmas Eve (from 2pm)": a bank half day
    # Germany and Estonia have no de facto category: 24 Dec is a working day in Germany.
    ("DE", date(2026, 12, 24), False),
    ("EE", date(2026, 12, 24), True),  # a public holiday there
])
def test_a_countrys_de_facto_holidays_are_closed(code: str, day: date, closed: bool) -> None:
    assert office(code).is_closed_day(day) is closed
