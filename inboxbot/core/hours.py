"""The business calendar: when the shop is open, and when a promised answer falls due.

Opening hours are wall-clock times in the shop's zone, so "09:00-17:00" stays 09:00-17:00 across a
DST switch, while every duration is real elapsed time: all arithmetic is done in UTC and only the
results are shown in the shop's zone. Open intervals are half-open, [start, end): at the closing
time itself the shop is closed, but a promise may land exactly on it (it is the end of open time).

Pure: the clock, the config file and the environment stay outside; everything is passed in. The
`holidays` package is asked for names with an explicit language, because otherwise it reads the
process locale.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MAX_SCAN_DAYS",
    "WEEKDAYS",
    "BusinessCalendar",
    "DayHours",
    "format_day_hours",
    "load_zone",
    "parse_day_hours",
    "validate_day_hours",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# How far to look for open time before deciding the calendar has none; a year plus slack covers
# any real shop (a long holiday closure), while a calendar with no open hours fails fast.
MAX_SCAN_DAYS = 400

DayHours = tuple[tuple[time, time], ...]
Interval = tuple[datetime, datetime]  # UTC instants, start < end

MIDNIGHT = time(0, 0)
_DAY = timedelta(days=1)
_TIME = re.compile(r"(\d{1,2}):(\d{2})", re.ASCII)
_FORMAT_HELP = (
    'write "HH:MM-HH:MM", several separated by commas in time order, or "closed", '
    'e.g. "09:00-17:00", "09:00-12:00,13:00-17:00"; "24:00" may end a day'
)


# -- parsing one day's hours ----------------------------------------------------------------------


def parse_day_hours(spec: str) -> DayHours:
    """Parse "09:00-12:00,13:00-17:00" or "closed" into ((start, end), ...).

    An end of "24:00" comes back as time(0, 0): midnight at the end of the day (a start of 00:00
    is the beginning of the day; only ends can mean the following midnight).
    """
    text = spec.strip().lower()
    if text == "closed":
        return ()
    if not text:
        raise ValueError(f"empty opening hours: {_FORMAT_HELP}")
    pairs = tuple(_parse_range(part.strip(), spec) for part in text.split(","))
    return validate_day_hours(pairs, spec)


def format_day_hours(hours: Sequence[tuple[time, time]]) -> str:
    """The spec parse_day_hours reads back: "09:00-12:00,13:00-17:00", "18:00-24:00", "closed".

    A shift to midnight is written "24:00", since "18:00-00:00" would be refused as backwards.
    """
    if not hours:
        return "closed"
    return ",".join(f"{_show(start)}-{_show(end, end=True)}" for start, end in hours)


def _parse_range(part: str, spec: str) -> tuple[time, time]:
    start_text, sep, end_text = part.partition("-")
    if not sep:
        raise ValueError(f"{part!r} in {spec!r} is not a range: {_FORMAT_HELP}")
    start = _parse_time(start_text.strip(), spec, allow_24=False)
    end = _parse_time(end_text.strip(), spec, allow_24=True)
    return start, end


def _parse_time(text: str, spec: str, *, allow_24: bool) -> time:
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} in {spec!r} is not a time: {_FORMAT_HELP}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if (hour, minute) == (24, 0):
        if allow_24:
            return MIDNIGHT
        raise ValueError(f"{spec!r} starts at 24:00: 24:00 can only end a range, start at 00:00")
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} in {spec!r} is not a valid time of day: {_FORMAT_HELP}")
    return time(hour, minute)


def validate_day_hours(pairs: Iterable[tuple[time, time]], spec: object) -> DayHours:
    """Check ranges run forward and do not overlap; sort them; merge touching ones ("9-12,12-17").

    Shared by parse_day_hours and BusinessCalendar, so hours built in code get the same checks.
    """
    ranges = list(pairs)
    for start, end in ranges:
        _check_range(start, end, spec)
    result: list[tuple[time, time]] = []
    for start, end in sorted(ranges, key=lambda r: _start_key(r[0])):
        if result and _end_key(result[-1][1]) > _start_key(start):
            prev = f"{_show(result[-1][0])}-{_show(result[-1][1], end=True)}"
            raise ValueError(
                f"ranges {prev} and {_show(start)}-{_show(end, end=True)} in {spec!r} overlap"
            )
        if result and result[-1][1] == start:
            result[-1] = (result[-1][0], end)  # touching: one open period, no close in between
        else:
            result.append((start, end))
    return tuple(result)


def _check_range(start: time, end: time, spec: object) -> None:
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError(f"opening hours {spec!r} must be wall-clock times without a zone")
    if _end_key(end) <= _start_key(start):
        shown = f"{_show(start)}-{_show(end, end=True)}"
        raise ValueError(f"range {shown} in {spec!r} does not end after it starts")


def _start_key(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _end_key(t: time) -> timedelta:
    # An end of 00:00 is the midnight that closes the day, not the one that opens it.
    return _DAY if t == MIDNIGHT else _start_key(t)


def _show(t: time, *, end: bool = False) -> str:
    return "24:00" if end and t == MIDNIGHT else t.strftime("%H:%M")


# -- the calendar ---------------------------------------------------------------------------------


class BusinessCalendar:
    """Weekly wall-clock hours in one zone, minus public holidays and extra closed dates.

    Immutable: configuration is fixed at construction. The only state is a cache of holidays
    loaded lazily per year, which never changes an answer.
    """

    __slots__ = ("_closed", "_holiday_cache", "_holidays", "_language", "_week", "_zone")

    _zone: ZoneInfo
    _week: tuple[DayHours, ...]
    _holidays: tuple[str, str | None] | None
    _language: str
    _closed: frozenset[date]
    _holiday_cache: dict[int, dict[date, str]]

    def __init__(
        self,
        timezone: str,
        week: Mapping[str, Sequence[tuple[time, time]] | str],
        holidays: str | None = None,
        closed: Iterable[date] = (),
        *,
        language: str = "en_US",
    ) -> None:
        """`week` maps "mon".."sun" to (start, end) pairs or to a spec for parse_day_hours
        (missing days are closed); `holidays` is "DE" or "DE-BY" style; `language` names
        holidays (the country's own language when the package lacks a translation)."""
        sets = object.__setattr__  # immutable to callers; only __init__ writes
        sets(self, "_zone", load_zone(timezone))
        sets(self, "_week", _load_week(week))
        sets(self, "_holidays", _load_holidays_code(holidays))
        sets(self, "_language", language)
        sets(self, "_closed", frozenset(_check_date(d) for d in closed))
        sets(self, "_holiday_cache", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"BusinessCalendar is immutable (tried to set {name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"BusinessCalendar is immutable (tried to delete {name})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        code = "-".join(p for p in self._holidays or () if p) or None
        return f"BusinessCalendar({self._zone.key!r}, holidays={code!r})"

    def _key(self) -> tuple[object, ...]:
        return (self._zone.key, self._week, self._holidays, self._language, self._closed)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def week(self) -> Mapping[str, DayHours]:
        return dict(zip(WEEKDAYS, self._week, strict=True))

    # -- days ----------------------------------------------------------------------------------

    def holiday_name(self, day: date) -> str | None:
        """The public holiday on `day`, or None (extra closed dates are not holidays)."""
        if self._holidays is None:
            return None
        return self._holidays_of(day.year).get(day)

    def is_closed_day(self, day: date) -> bool:
        """True when `day` is a holiday or an extra closed date, whatever its weekday hours."""
        return day in self._closed or self.holiday_name(day) is not None

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The open intervals of the local date `day`, as aware datetimes in the shop's zone.

        Mind that subtracting two of them gives wall-clock time (Python ignores DST between
        datetimes sharing a tzinfo); convert to UTC first for the real length.
        """
        return [(s.astimezone(self._zone), e.astimezone(self._zone)) for s, e in self._utc_day(day)]

    def upcoming_closures(self, start: date, days: int) -> list[tuple[date, str]]:
        """Holidays and closed dates in [start, start + days) that close an otherwise open day.

        A holiday on a weekday the shop is closed anyway (Easter Sunday) is left out: customers
        only need to hear about closures that change when they get an answer.
        """
        if days < 0:
            raise ValueError(f"days must not be negative (got {days})")
        result: list[tuple[date, str]] = []
        for offset in range(days):
            day = start + timedelta(days=offset)
            reason = self.holiday_name(day) or ("closed" if day in self._closed else None)
            if reason is not None and self._week[day.weekday()]:
                result.append((day, reason))
        return result

    # -- moments -------------------------------------------------------------------------------

    def is_open(self, t: datetime) -> bool:
        moment = _utc(t)
        return any(s <= moment < e for s, e in self._utc_day(self._local_date(moment)))

    def next_open(self, t: datetime) -> datetime:
        """`t` itself when open, else the next opening time."""
        moment = _utc(t)
        for start, end in self._intervals_from(moment):
            if end > moment:
                return self._local(max(start, moment))
        raise AssertionError("unreachable: _intervals_from raises when it runs dry")

    def next_close(self, t: datetime) -> datetime:
        """The end of the open period containing `t`, or of the next one when `t` is closed.

        Periods that touch (17:00-24:00 then 00:00-08:00) are one period: the close is the real
        one. Raises ValueError when the shop never closes within MAX_SCAN_DAYS.
        """
        moment = _utc(t)
        periods = (iv for iv in self._intervals_from(moment) if iv[1] > moment)
        start, end = next(periods)
        for nxt_start, nxt_end in periods:
            if nxt_start != end:
                break
            end = nxt_end
            if end - start > timedelta(days=MAX_SCAN_DAYS):
                raise ValueError(
                    f"the shop is open around the clock for over {MAX_SCAN_DAYS} days after "
                    f"{t.isoformat()}: there is no closing time; check [hours]"
                )
        return self._local(end)

    def add_business_time(self, t: datetime, duration: timedelta) -> datetime:
        """The moment `duration` of open time after `t`: the promised answer time.

        Only open time counts. The result is an open moment or the end of an open interval,
        never inside a closed period: a promise that uses up an interval exactly is that
        interval's closing time, not the next morning. A zero duration gives `t` when `t` is
        open or a closing time, else the next opening.
        """
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative (got {duration})")
        moment = _utc(t)
        remaining = duration
        # Intervals ending exactly at `moment` are included (with nothing left in them) so that
        # a promise made at a closing time with zero duration stays at that closing time.
        for start, end in self._intervals_from(moment):
            begin = max(start, moment)
            if remaining <= end - begin:
                return self._local(begin + remaining)
            remaining -= end - begin
        raise AssertionError("unreachable: _intervals_from raises when it runs dry")

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Open time in [a, b]; negative when b is before a (so it is antisymmetric)."""
        start, end = _utc(a), _utc(b)
        if end < start:
            return -self.business_time_between(b, a)
        total = timedelta(0)
        day = self._local_date(start)  # yesterday's intervals end by today's midnight
        last = self._local_date(end)
        while day <= last:
            for s, e in self._utc_day(day):
                total += max(timedelta(0), min(e, end) - max(s, start))
            day += _DAY
        return total

    # -- internals -----------------------------------------------------------------------------

    def _intervals_from(self, moment: datetime) -> Iterator[Interval]:
        """Open intervals in time order, from those ending at or after `moment` onwards.

        Starts a day early: yesterday's "24:00" close is exactly today's midnight. Raises
        ValueError after MAX_SCAN_DAYS days in a row without open time, which is how a
        calendar with no open hours at all fails instead of looping forever.
        """
        day = self._local_date(moment) - _DAY
        empty_days = 0
        while empty_days <= MAX_SCAN_DAYS:
            found = [iv for iv in self._utc_day(day) if iv[1] >= moment]
            empty_days = 0 if found else empty_days + 1
            yield from found
            day += _DAY
        raise ValueError(
            f"no open hours in the {MAX_SCAN_DAYS} days after {moment.isoformat()}: "
            "check the weekly hours, holidays and closed dates in [hours]"
        )

    def _utc_day(self, day: date) -> tuple[Interval, ...]:
        """The open intervals of local date `day` as UTC instants, empty on closed days."""
        hours = self._week[day.weekday()]
        if not hours or self.is_closed_day(day):
            return ()
        result: list[Interval] = []
        for start_wall, end_wall in hours:
            start = self._instant(day, start_wall)
            end = self._instant(day + _DAY if end_wall == MIDNIGHT else day, end_wall)
            if end > start:  # a range inside a spring-forward gap has no real time: drop it
                result.append((start, end))
        return tuple(result)

    def _instant(self, day: date, wall: time) -> datetime:
        """The first instant at which the shop's clock reads `wall` or later on `day`.

        An ambiguous wall time (autumn) is its first occurrence. A wall time the clocks skip
        (spring) is the moment they jump: "open from 02:30" opens at the switch, when the clock
        first shows a time past 02:30. Python's own reading (fold=0) would open an hour late.
        """
        naive = datetime.combine(day, wall)
        guess = naive.replace(tzinfo=self._zone).astimezone(UTC)
        if guess.astimezone(self._zone).replace(tzinfo=None) == naive:
            return guess
        return self._gap_end(naive, guess)

    def _gap_end(self, naive: datetime, after: datetime) -> datetime:
        # `after` (fold=0) lies past the switch and the fold=1 reading lies before it: bisect to
        # the switch on whole seconds, as zones switch on whole seconds.
        before = naive.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        low, high = int(before.timestamp()), int(after.timestamp())
        while high - low > 1:
            mid = (low + high) // 2
            wall = datetime.fromtimestamp(mid, self._zone).replace(tzinfo=None)
            low, high = (low, mid) if wall >= naive else (mid, high)
        return datetime.fromtimestamp(high, UTC)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self._zone).date()

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self._zone)

    def _holidays_of(self, year: int) -> dict[date, str]:
        cached = self._holiday_cache.get(year)
        if cached is None:
            cached = _load_year(self._holidays, year, self._language)
            self._holiday_cache[year] = cached
        return cached


# -- construction helpers -------------------------------------------------------------------------


_ZONE_HELP = "use an IANA zone name such as 'Europe/Berlin', 'Europe/Stockholm' or 'Europe/Tallinn'"


def load_zone(name: str) -> ZoneInfo:
    """The shop's zone by IANA name; shared with the config check so both refuse the same."""
    # The zoneinfo file "localtime" links to /etc/localtime: the server's own zone, which moves
    # every promise by the difference when a config written on a laptop runs on a UTC server.
    if name.strip().lower() == "localtime":
        mine = f"time zone {name!r} is the server's own zone, not the shop's"
        raise ValueError(f"{mine}: {_ZONE_HELP}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: {_ZONE_HELP}") from None


def _load_week(week: Mapping[str, Sequence[tuple[time, time]] | str]) -> tuple[DayHours, ...]:
    unknown = sorted(k for k in week if k.lower() not in WEEKDAYS)
    if unknown:
        raise ValueError(f"unknown weekday(s) {unknown}: use {', '.join(WEEKDAYS)}")
    lowered = {k.lower(): v for k, v in week.items()}
    if len(lowered) != len(week):
        raise ValueError(f"a weekday is given twice (in different case): {sorted(week)}")
    return tuple(_load_day(name, lowered.get(name, ())) for name in WEEKDAYS)


def _load_day(name: str, hours: Sequence[tuple[time, time]] | str) -> DayHours:
    if isinstance(hours, str):
        try:
            return parse_day_hours(hours)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    pairs = list(hours)
    if not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
        raise ValueError(f"{name}: hours must be (start, end) pairs of datetime.time: {hours!r}")
    return validate_day_hours(pairs, name)


def _load_holidays_code(code: str | None) -> tuple[str, str | None] | None:
    """Validate "DE" / "DE-BY" now, so a typo fails at startup, not on the first promise."""
    if code is None or not code.strip():
        return None
    import holidays as holidays_lib  # large; only a shop with holidays = "..." needs it
    from holidays.registry import COUNTRIES

    country, _, subdiv = code.strip().partition("-")
    # The registry's codes, not a country's class: loading any one class imports the package
    # holidays.countries, all ~250 of them (0.2-0.3 s of a start). A subdivision needs the
    # class; without one, the first holiday looked up loads it.
    if not any(country.upper() in codes[1:] for codes in COUNTRIES.values()):
        raise ValueError(
            f"unknown holidays code {code!r}: use an ISO 3166-1 country code such as 'DE', 'SE' "
            "or 'EE', optionally with a subdivision such as 'DE-BY'"
        )
    if not subdiv:
        return country.upper(), None
    subdivisions = holidays_lib.country_holidays(country.upper()).subdivisions
    by_upper = {s.upper(): s for s in subdivisions}
    if subdiv.upper() not in by_upper:
        choices = ", ".join(f"{country.upper()}-{s}" for s in subdivisions) or "none"
        raise ValueError(
            f"unknown subdivision {subdiv!r} in holidays code {code!r}: use "
            f"{country.upper()!r} alone or one of: {choices}"
        )
    return country.upper(), by_upper[subdiv.upper()]


def _load_year(code: tuple[str, str | None] | None, year: int, language: str) -> dict[date, str]:
    if code is None:
        return {}
    import holidays as holidays_lib

    country, subdiv = code
    table = holidays_lib.country_holidays(country, subdiv=subdiv, years=year, language=language)
    if holidays_lib.DE_FACTO in table.supported_categories:
        # Days a country keeps as holidays without a law saying so: Sweden's Midsummer Eve,
        # Christmas Eve and New Year's Eve, when hardly a shop is open. Public ones alone
        # promised Swedish customers an answer on Julafton.
        table = holidays_lib.country_holidays(
            country, subdiv=subdiv, years=year, language=language,
            categories=(holidays_lib.PUBLIC, holidays_lib.DE_FACTO),
        )
    # Several holidays on one day come back joined with "; " already.
    return {day: str(name) for day, name in table.items() if day.year == year}


def _check_date(day: date) -> date:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise ValueError(f"closed dates must be dates, not {day!r}")
    return day


def _utc(t: datetime) -> datetime:
    """Reject naive input: a moment without a zone is a bug in the caller, not a shop time."""
    tz: tzinfo | None = t.tzinfo
    if tz is None or tz.utcoffset(t) is None:
        raise ValueError(f"naive datetime {t.isoformat()}: pass an aware datetime (with tzinfo)")
    return t.astimezone(UTC)
