"""`inboxbot stats`: complaint trends from the state file, as terminal bar charts or JSON."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import typer

from inboxbot.config import Config


def _bar(count: int, biggest: int, width: int = 30) -> str:
    return "█" * max(1, round(width * count / biggest)) if count else ""


def _hours(value: timedelta | None) -> str:
    return "-" if value is None else f"{value.total_seconds() / 3600:.1f} business hours"


def show_stats(config: Config, since: timedelta, as_json: bool) -> None:
    from inboxbot.adapters.store import read_complaints
    from inboxbot.app import utc_now
    from inboxbot.cli.common import print_json
    from inboxbot.core.stats import complaint_stats

    now = utc_now()
    start = now - since
    stats = complaint_stats(read_complaints(config.paths.state), config.hours.calendar(),
                            since=start,
                            repeat_since=now - timedelta(days=config.triage.repeat_days),
                            repeat_threshold=config.triage.repeat_complaints, now=now)
    if as_json:
        print_json(stats.to_json())
        return
    typer.echo(f"{stats.total} complaints since {start:%Y-%m-%d}")
    _chart("per week", stats.per_week)
    _chart("per category", stats.per_category)
    _chart("recurring words", stats.top_cues)
    triage = config.triage  # the `sender = repeat` window, not --since
    window = f"{triage.repeat_complaints}+ in the last {triage.repeat_days} days"
    _chart(f"repeat complainers ({window})", stats.repeat_complainers)
    typer.echo(f"\nanswered: {stats.answered} of {stats.total}")
    typer.echo(f"first response: median {_hours(stats.median_first_response)}, "
               f"p90 {_hours(stats.p90_first_response)}")
    share = "-" if stats.within_promise is None else f"{stats.within_promise:.0%}"
    typer.echo(f"answered within the promise: {share}")


def _chart(title: str, rows: tuple[tuple[str, int], ...] | Any) -> None:
    if not rows:
        return
    typer.echo(f"\n{title}:")
    biggest = max(n for _, n in rows)
    width = max(len(label) for label, _ in rows)
    for label, count in rows:
        typer.echo(f"  {label:<{width}}  {count:>4}  {_bar(count, biggest)}")
