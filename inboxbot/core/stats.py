"""Complaint statistics for `inboxbot stats`: trends, recurring cues, repeat complainers and
first-response times in business hours. Pure: the records and the calendar are passed in."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol


class BusinessClock(Protocol):
    @property
    def zone(self) -> tzinfo: ...

    def business_time_between(self, a: datetime, b: datetime) -> timedelta: ...


@dataclass(frozen=True)
class ComplaintStats:
    total: int
    per_week: tuple[tuple[str, int], ...]  # ("2026-W47", n), oldest first
    per_category: tuple[tuple[str, int], ...]  # most frequent first
    top_cues: tuple[tuple[str, int], ...]
    repeat_complainers: tuple[tuple[str, int], ...]
    answered: int
    median_first_response: timedelta | None  # business time
    p90_first_response: timedelta | None
    # share of the promises settled (answered, or due and still unanswered) that were kept
    within_promise: float | None

    def to_json(self) -> dict[str, Any]:
        def hours(value: timedelta | None) -> float | None:
            return None if value is None else round(value.total_seconds() / 3600, 2)

        return {
            "total": self.total,
            "per_week": dict(self.per_week),
            "per_category": dict(self.per_category),
            "top_cues": dict(self.top_cues),
            "repeat_complainers": dict(self.repeat_complainers),
            "answered": self.answered,
            "median_first_response_hours": hours(self.median_first_response),
            "p90_first_response_hours": hours(self.p90_first_response),
            "within_promise": self.within_promise,
        }


def week_of(moment: datetime, zone: tzinfo | None = None) -> str:
    """ISO week of `moment` on the shop's wall clock: a complaint at Monday 00:30 in the shop
    belongs to that Monday's week, though it is still Sunday in UTC."""
    local = moment if zone is None else moment.astimezone(zone)
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def percentile(values: Sequence[timedelta], share: float) -> timedelta:
    """Nearest-rank percentile: the smallest value with at least `share` of values at or below."""
    ordered = sorted(values)
    rank = max(1, -(-int(share * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def customer_key(address: object) -> str:
    """The customer an address stands for, as the history keys it (adapters.store._norm), so
    repeat complainers here are the senders `sender = repeat` sees: case does not matter."""
    return str(address or "").strip().lower()


def _cues(record: Mapping[str, Any]) -> Iterable[str]:
    cues = record.get("cues") or {}
    return (str(c).lower() for c in cues.get("complaint", ()))


def complaint_stats(
    records: Iterable[Mapping[str, Any]],
    calendar: BusinessClock,
    *,
    since: datetime | None = None,
    repeat_since: datetime | None = None,
    repeat_threshold: int = 3,
    top: int = 10,
    now: datetime | None = None,
) -> ComplaintStats:
    """Figures for the complaints at or after `since` (all when None); repeat complainers are
    counted from `repeat_since` instead ([triage] repeat_days ago), so they are the customers
    `sender = repeat` sees, whatever window the rest covers. A complaint still unanswered at
    `now` after its promise fell due broke that promise, and counts so."""
    every = sorted(records, key=lambda r: r["at"])
    rows = [r for r in every if since is None or r["at"] >= since]
    recent = rows if repeat_since is None else [r for r in every if r["at"] >= repeat_since]
    weeks = Counter(week_of(r["at"], calendar.zone) for r in rows)
    categories = Counter(c for r in rows for c in r.get("categories", ()))
    cues = Counter(cue for r in rows for cue in _cues(r))
    customers = Counter(customer_key(r.get("customer")) for r in recent)
    answered = [r for r in rows if r.get("answered_at")]
    waits = [calendar.business_time_between(r["at"], r["answered_at"]) for r in answered]
    promised = [r for r in rows if r.get("due") and _promise_settled(r, now)]
    on_time = sum(1 for r in promised if r.get("answered_at") and r["answered_at"] <= r["due"])
    return ComplaintStats(
        total=len(rows),
        per_week=tuple(sorted(weeks.items())),
        per_category=tuple(categories.most_common()),
        top_cues=tuple(cues.most_common(top)),
        repeat_complainers=tuple(
            (who, n) for who, n in customers.most_common() if n >= repeat_threshold and who
        ),
        answered=len(answered),
        median_first_response=_median(waits),
        p90_first_response=percentile(waits, 0.9) if waits else None,
        within_promise=round(on_time / len(promised), 3) if promised else None,
    )


def _promise_settled(record: Mapping[str, Any], now: datetime | None) -> bool:
    """Answered, or unanswered past its due time: kept or broken either way. Without `now`
    only answered complaints are known to be settled."""
    if record.get("answered_at"):
        return True
    return now is not None and bool(now > record["due"])


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))
