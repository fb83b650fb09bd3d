"""The daily prune keeps what the triage's customer types need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from inboxbot import daemon
from inboxbot.adapters.store import StateStore
from inboxbot.config import parse_config

CONFIG = '''[imap]
host = "imap.shop.example"
username = "support@shop.example"
password = "secret"

[shop]
name = "Shop"
address = "support@shop.example"

[triage]
repeat_complaints = 3
repeat_days = 90
history_days = 30
'''
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_the_daily_prune_keeps_the_complaints_repeat_counts(tmp_path: Path, monkeypatch) -> None:
    # `repeat` = 3 complaints in 90 days; a history of 30 days forgot two of the three, and the
    # customer who complained 40, 50 and 60 days ago was no longer `repeat` after the prune.
    config = parse_config(CONFIG, tmp_path / "config.toml")
    monkeypatch.setattr(daemon, "_last_prune", [])
    with StateStore(tmp_path / "state.json") as store:
        for days in (40, 50, 60):
            store.record_message("a@x.example", NOW - timedelta(days=days), True)
        store.record_message("old@x.example", NOW - timedelta(days=100), False)
        daemon._prune_daily(config, store, NOW)
        assert store.complaint_count("a@x.example", NOW - timedelta(days=90)) == 3
        assert not store.is_known("old@x.example")  # beyond both: still pruned
