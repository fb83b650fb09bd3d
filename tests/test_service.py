"""service: what the executor keeps per message, computed only when something asks."""

from __future__ import annotations

from datetime import UTC, datetime

from inboxbot.core.message import parse_message
from inboxbot.core.plan import Plan
from inboxbot.core.triage import Triage, TriagePolicy
from inboxbot.ports import Fetched
from inboxbot.service import Outcome, Read, _LastInstant

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
RAW = (b"From: Anna <anna@customer.example>\r\nTo: support@shop.example\r\n"
       b"Subject: Where is my parcel?\r\n\r\nHello, my parcel is late.\r\n")


def _outcome() -> tuple[Outcome, Triage]:
    triage = Triage(parse_message(RAW), TriagePolicy("support@shop.example"), NOW)
    return Outcome(1, triage.message, None, Plan(), "INBOX", triage=triage), triage


def test_facts_are_computed_on_first_use_only() -> None:
    outcome, triage = _outcome()
    assert outcome._facts is None  # nothing computed yet
    assert outcome.verdicts is triage
    assert outcome.facts == triage.facts()
    assert outcome._facts is not None  # kept once computed


def test_setting_no_facts_drops_the_triage_too() -> None:
    # reminders.file_command: a staff reply is neither customer history nor a complaint.
    outcome, _triage = _outcome()
    outcome.facts = None
    assert outcome.facts is None and outcome.verdicts is None


def test_a_batch_the_worker_did_not_answer_is_parsed_here() -> None:
    fetched = Fetched(1, RAW, frozenset(), len(RAW))
    read = Read([fetched], answer=lambda: None, fetched=[fetched])  # the worker failed
    assert read.message(1) == parse_message(RAW)
    assert read.text(1) is None  # the Triage reads the text itself
    assert read.fetched == [], "the bytes are not kept once parsed"


def test_a_batch_the_worker_answered_is_not_parsed_again() -> None:
    message = parse_message(RAW)
    fetched = Fetched(1, b"not parsed again", frozenset(), 16)
    read = Read([fetched], answer=lambda: {1: (message, None)}, fetched=[fetched])
    assert read.message(1) is message and read.text(1) is None
    assert read.fetched == []


class CountingCalendar:
    def __init__(self) -> None:
        self.calls: list[datetime] = []

    def is_open(self, t: datetime) -> bool:
        self.calls.append(t)
        return t.hour < 12


def test_is_open_is_worked_out_once_per_instant() -> None:
    calendar = CountingCalendar()
    open_at = _LastInstant(calendar)  # type: ignore[arg-type]
    later = NOW.replace(hour=15)
    assert [open_at.is_open(NOW), open_at.is_open(NOW), open_at.is_open(later),
            open_at.is_open(later)] == [True, True, False, False]
    assert calendar.calls == [NOW, later]


def test_promises_are_worked_out_once_per_class_and_batch(tmp_path, monkeypatch) -> None:
    from inboxbot.app import build_engine
    from inboxbot.cli.setup import write_skeleton
    from inboxbot.composer import promised_time
    from inboxbot.config import load_config
    from inboxbot.service import Executor

    monkeypatch.setenv("INBOXBOT_IMAP_PASSWORD", "x")
    monkeypatch.setenv("INBOXBOT_SMTP_PASSWORD", "x")
    list(write_skeleton(tmp_path / "shop"))
    engine = build_engine(load_config(tmp_path / "shop" / "config.toml"))
    executor = Executor(engine, None, None, None, lambda: NOW)  # type: ignore[arg-type]
    walks: list[datetime] = []
    calendar = engine.calendar

    class Counting:  # the real calendar, counting its walks
        def add_business_time(self, t: datetime, d: object) -> datetime:
            walks.append(t)
            return calendar.add_business_time(t, d)  # type: ignore[arg-type]

    engine.calendar = Counting()  # type: ignore[assignment]
    _outcome_a, one = _outcome()
    _outcome_b, two = _outcome()
    later = NOW.replace(hour=11)
    dues = [executor._due(one, NOW), executor._due(two, NOW), executor._due(one, later)]
    assert dues == [promised_time(engine.config, calendar, one, t) for t in (NOW, NOW, later)]
    assert walks == [NOW, later]  # the second complaint of the batch reused the first's
    assert list(executor._promised) == [(later, "default")]  # earlier batches are dropped


def test_plus_addresses_are_one_mailbox_for_per_sender() -> None:
    from inboxbot.service import mailbox_of

    assert [mailbox_of(a) for a in (
        "Desk+4711@Partner.example", "desk@partner.example", "a+b+c@x.example", "+x@x.example",
        "no-at-sign",
    )] == ["desk@partner.example", "desk@partner.example", "a@x.example", "+x@x.example",
           "no-at-sign"]


def test_per_sender_spans_the_plus_tags_and_older_state(tmp_path, monkeypatch) -> None:
    from datetime import timedelta

    from inboxbot.adapters.store import StateStore
    from inboxbot.cli.setup import write_skeleton
    from inboxbot.config import load_config
    from inboxbot.service import ReplyLimiter

    monkeypatch.setenv("INBOXBOT_IMAP_PASSWORD", "x")
    monkeypatch.setenv("INBOXBOT_SMTP_PASSWORD", "x")
    list(write_skeleton(tmp_path / "shop"))
    config = load_config(tmp_path / "shop" / "config.toml")
    with StateStore(tmp_path / "state.json") as store:
        store.record_reply("old+7@customer.example", NOW)  # written before mailbox_of existed
        limiter = ReplyLimiter(store, config)
        later = NOW + timedelta(hours=1)
        assert limiter.check("desk+1@partner.example", later) is None
        assert "per_sender" in str(limiter.check("desk+2@partner.example", later))  # same batch
        store.record_reply("desk@partner.example", later)
        limiter.start_batch()
        assert "per_sender" in str(limiter.check("desk+3@partner.example", later))
        assert "per_sender" in str(limiter.check("old+7@customer.example", later))
