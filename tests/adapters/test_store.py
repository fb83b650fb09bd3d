"""StateStore: durability (atomic snapshot + journal), single-instance lock, API, pruning, speed."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tinydb import TinyDB

from inboxbot.adapters import store as store_module
from inboxbot.adapters.store import StateStore
from inboxbot.errors import StoreError

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.json"


def child(code: str) -> subprocess.Popen[str]:
    """A separate Python process (a second inboxbot, as far as the lock is concerned)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip


# -- persistence and API ----------------------------------------------------------------------


def test_everything_survives_close_and_reopen(path: Path) -> None:
    with StateStore(path) as store:
        store.set_watermark("INBOX", 17, 4711)
        store.outbox_add("<a@x>:reply", {"uid": 1, "to": ["a@x.test"], "created": T0})
        store.record_reply("A@X.test", T0)
        store.record_message("a@x.test", T0, True, ["complaint", "urgent"])
        store.log_complaint({"at": T0, "message_id": "<a@x>", "from": "a@x.test"})
        rid = store.add_reminder({"due": T0 + timedelta(hours=8), "message_id": "<a@x>"})
    with StateStore(path) as store:
        assert store.watermark("INBOX") == (17, 4711)
        assert store.watermark("Other") is None
        entry = store.outbox_get("<a@x>:reply")
        assert entry is not None
        assert entry["state"] == "intent" and entry["to"] == ["a@x.test"]
        assert entry["created"] == T0
        assert store.last_reply("a@x.test") == T0
        [seen] = store.history("a@X.TEST")
        assert seen["categories"] == ["complaint", "urgent"] and seen["at"] == T0
        assert store.complaints()[0]["from"] == "a@x.test"
        assert store.reminders("pending")[0]["id"] == rid
        assert store.reminders("pending")[0]["due"] == T0 + timedelta(hours=8)


def test_file_is_a_tinydb_database_with_mode_0600(path: Path) -> None:
    with StateStore(path) as store:
        store.record_message("a@x.test", T0, False)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(TinyDB(path).table("history")) == 1


def test_flush_is_free_when_nothing_changed(path: Path) -> None:
    with StateStore(path) as store:
        store.set_watermark("INBOX", 1, 10)
        assert store.flush() is True
        before = (path.stat().st_mtime_ns, path.with_name("state.json.journal").stat().st_size)
        store.set_watermark("INBOX", 1, 10)  # same value: not a change
        assert store.flush() is False
        after = (path.stat().st_mtime_ns, path.with_name("state.json.journal").stat().st_size)
        assert before == after


def test_unflushed_changes_are_not_on_disk(path: Path) -> None:
    store = StateStore(path)
    store.set_watermark("INBOX", 1, 10)
    store.flush()
    store.set_watermark("INBOX", 1, 99)
    # Read what a crash right now would leave, without the lock (a copy of the files).
    copy = path.with_name("copy.json")
    copy.write_bytes(path.read_bytes())
    path.with_name("copy.json.journal").write_bytes(
        path.with_name("state.json.journal").read_bytes()
    )
    store.close()
    with StateStore(copy) as crashed:
        assert crashed.watermark("INBOX") == (1, 10)


def test_naive_datetimes_and_unserialisable_values_are_refused(path: Path) -> None:
    with StateStore(path) as store:
        with pytest.raises(ValueError, match="aware"):
            store.record_reply("a@x.test", datetime(2026, 1, 1))
        with pytest.raises(ValueError, match="JSON"):
            store.outbox_add("k", {"raw": object()})
        assert store.outbox_get("k") is None


# -- atomicity --------------------------------------------------------------------------------


def test_snapshot_goes_through_temp_file_and_rename(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renames: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        renames.append((str(src), str(dst)))
        assert json.loads(Path(src).read_bytes())  # complete before it becomes the state file
        real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", spy)
    with StateStore(path) as store:
        store.record_message("a@x.test", T0, False)
        store.flush()
    assert renames and all(dst == str(path) for _, dst in renames)
    assert all(Path(src).parent == path.parent and src.endswith(".tmp") for src, _ in renames)


def test_crash_before_rename_leaves_old_state_intact(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StateStore(path) as store:
        store.set_watermark("INBOX", 1, 10)
    good = path.read_bytes()

    def power_cut(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    store = StateStore(path)
    store.set_watermark("INBOX", 1, 20)
    store.prune(T0, timedelta(days=1))  # forces a full rewrite at the next flush
    store.record_message("a@x.test", T0 - timedelta(days=9), False)
    store.prune(T0, timedelta(days=1))
    monkeypatch.setattr(store_module.os, "replace", power_cut)
    with pytest.raises(StoreError, match="No space left"):
        store.flush()
    assert path.read_bytes() == good
    assert list(path.parent.glob("*.tmp")) == []
    monkeypatch.undo()
    store.close()


WRITER = """
import sys
from datetime import datetime, timedelta, UTC
from inboxbot.adapters.store import StateStore
store = StateStore(sys.argv[1] if len(sys.argv) > 1 else {path!r})
t0 = datetime(2026, 1, 1, tzinfo=UTC)
n = {start}
while True:
    for _ in range(50):
        store.record_message(f"c{{n}}@x.test", t0 + timedelta(seconds=n), False)
        n += 1
    store.set_watermark("INBOX", 1, n)
    if n % 2000 == 0:
        store.prune(t0 + timedelta(seconds=n), timedelta(days=365))  # snapshot path too
        store.record_message("x@x.test", t0, False)
        store.prune(t0 + timedelta(days=400), timedelta(days=365))
    store.flush()
    print(n, flush=True)
"""


def test_sigkill_at_random_moments_never_loses_a_flush(path: Path) -> None:
    acknowledged = 0
    for round_ in range(4):
        proc = child(WRITER.format(path=str(path), start=acknowledged))
        assert proc.stdout is not None
        # Let it flush a while, then kill it in the middle of whatever it is doing.
        deadline = time.monotonic() + 0.3 + 0.15 * round_
        last = acknowledged
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            last = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        json.loads(path.read_bytes())  # the state file itself is always whole JSON
        with StateStore(path) as store:  # the lock died with the process
            mark = store.watermark("INBOX")
            assert mark is not None and mark[1] >= last  # every acknowledged flush is there
            acknowledged = mark[1]
            if acknowledged % 2000:  # at multiples of 2000 the writer's own prune removed it
                assert store.is_known(f"c{acknowledged - 1}@x.test")
        assert list(path.parent.glob(".*.tmp")) == []  # stale temp files cleaned on open
    assert acknowledged > 0


# -- lock ------------------------------------------------------------------------------------


def test_second_process_is_refused_with_pid_and_fix(path: Path) -> None:
    holder = child(
        "import sys\nfrom inboxbot.adapters.store import StateStore\n"
        f"s = StateStore({str(path)!r})\nprint('ready', flush=True)\nsys.stdin.readline()\n"
        "s.close()\n"
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "ready"
    try:
        with pytest.raises(StoreError) as info:
            StateStore(path)
        message = str(info.value)
        assert f"pid {holder.pid}" in message
        assert str(path) in message and "[paths].state" in message
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
    with StateStore(path) as store:  # free again once the holder is gone
        store.set_watermark("INBOX", 1, 1)


def test_lock_is_per_open_not_per_process(path: Path) -> None:
    with StateStore(path), pytest.raises(StoreError, match="in use"):
        StateStore(path)


# -- corruption -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[1, 2]",
        b'{"history": [1]}',
        b'{"history": {"1": {"at": 1}}}',
        b'{"history": {"one": {"address": "a@x.test"}}}',  # TinyDB's ids are numbers
    ],
)
def test_corrupt_state_file_names_file_and_fix(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        StateStore(path)
    assert str(path) in str(info.value)
    assert "move it aside" in str(info.value)
    with StateStore(path.with_name("other.json")):
        pass  # the failed open released its lock on the other file too; nothing leaked
    path.unlink()
    with StateStore(path):  # and this file's lock was released by the failed open
        pass


def test_empty_file_is_a_new_state(path: Path) -> None:
    path.touch()
    with StateStore(path) as store:
        assert store.watermark("INBOX") is None


def test_torn_journal_tail_is_ignored_but_broken_middle_is_not(path: Path) -> None:
    with StateStore(path) as store:
        store.set_watermark("INBOX", 1, 1)
    journal = path.with_name("state.json.journal")
    journal.write_bytes(
        b'[["watermarks","1",{"folder":"INBOX","uidvalidity":1,"last_uid":5}]]\n[["wat'
    )
    with StateStore(path) as store:
        assert store.watermark("INBOX") == (1, 5)
    journal.write_bytes(b'garbage\n[["watermarks","1",null]]\n')
    with pytest.raises(StoreError, match="journal"):
        StateStore(path)


# -- outbox ----------------------------------------------------------------------------------


def test_outbox_is_exactly_once_and_ordered(path: Path) -> None:
    with StateStore(path) as store:
        for key in ("c", "a", "b", "d"):
            assert store.outbox_add(key, {"to": [f"{key}@x.test"]})
        assert store.outbox_add("a", {"to": ["other@x.test"]}) is False
        assert store.outbox_get("a") == {**store.outbox_get("a"), "to": ["a@x.test"]}  # type: ignore[dict-item]
        store.outbox_set_state("a", "sent")
        store.outbox_set_state("b", "done")
        store.outbox_set_state("d", "failed")
        pending = store.outbox_pending()
        assert [(e["key"], e["state"]) for e in pending] == [("c", "intent"), ("a", "sent")]
        with pytest.raises(ValueError):
            store.outbox_set_state("c", "shipped")
        with pytest.raises(KeyError):
            store.outbox_set_state("zzz", "done")
    with StateStore(path) as store:
        assert [e["key"] for e in store.outbox_pending()] == ["c", "a"]


# -- limiter, history, complaints, reminders ---------------------------------------------------


def test_reply_limiter(path: Path) -> None:
    with StateStore(path) as store:
        for minutes in (0, 10, 30, 70, 90):
            store.record_reply(f"c{minutes}@x.test", T0 + timedelta(minutes=minutes))
        store.record_reply("c0@x.test", T0 + timedelta(minutes=5))  # out of order on purpose
        now = T0 + timedelta(minutes=100)
        assert store.replies_since(now - timedelta(hours=1)) == 2  # 70 and 90
        assert store.replies_since(T0) == 6
        assert store.last_reply("C0@x.test") == T0 + timedelta(minutes=5)
        assert store.last_reply("nobody@x.test") is None


def test_checkins_sent_are_counted_for_max_per_hour(path: Path) -> None:
    def reminder(to: str) -> dict[str, object]:
        return {"kind": "checkin", "to": to, "due": T0, "customer": "c@x.test"}

    with StateStore(path) as store:
        first, second, staff = (store.add_reminder(reminder(to))
                                for to in ("customer", "customer", "staff"))
        store.add_reminder(reminder("customer"))  # still pending: not counted
        store.update_reminder(first, state="sending")
        store.update_reminder(first, state="sent", sent_at=T0 + timedelta(minutes=10))
        store.update_reminder(second, state="sent", sent_at=T0 + timedelta(minutes=70))
        store.update_reminder(staff, state="sent", sent_at=T0 + timedelta(minutes=70))
        store.update_reminder(second, state="sent")  # a second write of "sent" is not a second
        assert store.checkins_since(T0 + timedelta(minutes=30)) == 1
        assert store.checkins_since(T0) == 2
        assert store.replies_since(T0) == 0  # counted apart: per_sender reads only replies
    with StateStore(path) as store:  # from the file
        assert store.checkins_since(T0) == 2


def test_history_and_complaint_count(path: Path) -> None:
    with StateStore(path) as store:
        store.record_message("a@x.test", T0 + timedelta(days=2), True)
        store.record_message("a@x.test", T0, True)
        store.record_message("a@x.test", T0 + timedelta(days=9), False)
        assert [h["at"] for h in store.history("a@x.test")] == [
            T0,
            T0 + timedelta(days=2),
            T0 + timedelta(days=9),
        ]
        assert store.complaint_count("a@x.test", T0 + timedelta(days=1)) == 1
        assert store.complaint_count("a@x.test", T0) == 2
        assert store.is_known("A@x.test") and not store.is_known("b@x.test")


def test_a_message_decodes_its_senders_history_once(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning and recording one message asks about its sender four times; a chronic
    sender's history is thousands of entries, so it is decoded once, not four times."""
    with StateStore(path) as store:
        for day in range(2000):
            store.record_message("chronic@x.test", T0 + timedelta(hours=day), day % 3 == 0)
        store.record_reply("chronic@x.test", T0)
        store.record_message("other@x.test", T0, True)
        assert store.is_known("other@x.test")  # the last customer decoded
        decoded: list[str] = []
        document = store_module._document

        def counting(table: str, packed: bytes):  # type: ignore[no-untyped-def]
            decoded.append(table)
            return document(table, packed)

        monkeypatch.setattr(store_module, "_document", counting)
        since = T0 + timedelta(hours=1000)
        for n in range(3):  # three more messages from the same sender
            assert store.is_known("chronic@x.test")
            assert store.complaint_count("chronic@x.test", since) == 333 + n
            assert store.last_reply("chronic@x.test") == T0
            store.record_message("chronic@x.test", T0 + timedelta(hours=3000), True)
        assert decoded.count("history") == 1
        # Another customer in between is decoded, and the first is read afresh after it.
        assert store.complaint_count("other@x.test", T0) == 1
        assert store.complaint_count("chronic@x.test", since) == 336
        assert decoded.count("history") == 3
    with StateStore(path) as store:  # what was written is what was counted
        assert store.complaint_count("chronic@x.test", since) == 336
        assert len(store.history("chronic@x.test")) == 2003


def test_a_pruned_history_is_not_served_from_the_last_decoded(path: Path) -> None:
    old, now = T0, T0 + timedelta(days=200)
    with StateStore(path) as store:
        store.record_message("a@x.test", old, True)
        store.record_message("a@x.test", now, True)
        assert store.complaint_count("a@x.test", old) == 2
        store.prune(now, timedelta(days=90))
        assert store.complaint_count("a@x.test", old) == 1
        store.record_message("gone@x.test", old, False)
        assert store.is_known("gone@x.test")
        store.prune(now, timedelta(days=90))
        assert not store.is_known("gone@x.test")


def test_complaint_log_and_reminders(path: Path) -> None:
    with StateStore(path) as store:
        store.log_complaint({"at": T0 + timedelta(days=1), "message_id": "<2@x>"})
        store.log_complaint({"at": T0, "message_id": "<1@x>", "answered_at": None})
        assert store.update_complaint("<1@x>", answered_at=T0 + timedelta(hours=3))
        assert not store.update_complaint("<nope@x>", answered_at=T0)
        assert [c["message_id"] for c in store.complaints()] == ["<1@x>", "<2@x>"]
        assert [c["message_id"] for c in store.complaints(T0 + timedelta(hours=1))] == ["<2@x>"]
        assert store.complaints()[0]["answered_at"] == T0 + timedelta(hours=3)
        with pytest.raises(ValueError):
            store.log_complaint({"message_id": "<3@x>"})

        late = store.add_reminder({"due": T0 + timedelta(hours=9), "to": "staff"})
        early = store.add_reminder({"due": T0 + timedelta(hours=1), "to": "customer"})
        assert [r["id"] for r in store.reminders()] == [early, late]
        assert store.update_reminder(early, state="done")
        assert [r["id"] for r in store.reminders("pending")] == [late]
        assert not store.update_reminder(999, state="done")


# -- pruning and size ------------------------------------------------------------------------


def test_prune_keeps_what_is_live(path: Path) -> None:
    old, now = T0, T0 + timedelta(days=200)
    with StateStore(path) as store:
        store.record_message("old@x.test", old, False)
        store.record_reply("old@x.test", old)
        store.outbox_add("old-done", {"created": old})
        store.outbox_set_state("old-done", "done")
        store.outbox_add("old-pending", {"created": old})
        done = store.add_reminder({"due": old, "state": "done"})
        open_ = store.add_reminder({"due": old})
        store.record_message("new@x.test", now, False)
        removed = store.prune(now, timedelta(days=90))
        assert removed["history"] == 1 and removed["replies"] == 1
        assert not store.is_known("old@x.test") and store.is_known("new@x.test")
        assert store.last_reply("old@x.test") is None
        assert store.outbox_get("old-done") is None
        assert store.outbox_get("old-pending") is not None  # pending work is never forgotten
        assert [r["id"] for r in store.reminders()] == [open_]
        new_id = store.add_reminder({"due": now})
        assert new_id > max(done, open_)  # ids are never reused
    with StateStore(path) as store:
        assert store.add_reminder({"due": now}) > new_id


def _on_disk(path: Path) -> tuple[int, int]:
    return path.stat().st_size, _journal(path).stat().st_size


def _journal(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def test_ten_thousand_records_touch_the_disk_only_at_flush(path: Path) -> None:
    # Speed is a benchmark matter; what keeps a batch cheap is structural: recording stays in
    # memory and only flush writes (one journal line), whatever the number of records.
    with StateStore(path) as store:
        store.flush()
        before = _on_disk(path)
        for n in range(10_000):
            when = T0 + timedelta(seconds=30 * n)
            store.record_message(f"c{n % 3000}@x.test", when, n % 10 == 0)
            store.record_reply(f"c{n % 3000}@x.test", when)
        assert _on_disk(path) == before
        store.flush()
        size, journal = _on_disk(path)
        assert (size, journal) != before
        if journal:  # the change went to the journal: as one line, not one per record
            changes = [line for line in _journal(path).read_bytes().splitlines()
                       if not line.startswith(b'{"generation":')]  # the snapshot's head
            assert len(changes) == 1
    with StateStore(path) as store:
        assert len(store.history("c7@x.test")) == len(range(7, 10_000, 3000))
        assert store.last_reply("c7@x.test") == T0 + timedelta(seconds=30 * 9007)


def test_a_year_at_500_messages_a_day_stays_under_20_mb(path: Path) -> None:
    started = time.perf_counter()
    store = StateStore(path)
    largest = 0
    for day in range(365):
        for i in range(500):
            n = day * 500 + i
            when = T0 + timedelta(days=day, seconds=150 * i)
            sender, mid = f"customer{n % 40_000}@example{n % 97}.test", f"<{n}@mail.example.test>"
            complaint = n % 10 == 0
            store.record_message(sender, when, complaint, ["complaint"] if complaint else ())
            if n % 2 == 0:  # half the mail gets an acknowledgement, through the outbox
                key = f"{mid}:reply"
                store.outbox_add(key, {"uid": n, "type": "reply", "to": [sender], "created": when})
                store.outbox_set_state(key, "sent")
                store.record_reply(sender, when)
                store.outbox_set_state(key, "done")
            if complaint:
                store.log_complaint(
                    {"at": when, "message_id": mid, "from": sender, "urgent": False}
                )
                rid = store.add_reminder({"due": when + timedelta(hours=8), "message_id": mid})
                store.update_reminder(rid, state="done")
        # Maintenance every four weeks with the flushes batched to the same point keeps the test
        # quick; the file then holds up to keep + 27 days, more than weekly pruning would leave.
        if day % 28 == 27:
            store.prune(when, timedelta(days=90))
            store.flush()
            largest = max(largest, path.stat().st_size)
    store.close()
    size = path.stat().st_size
    elapsed = time.perf_counter() - started
    print(f"\na year of mail: {size / 1e6:.1f} MB (largest {largest / 1e6:.1f} MB), {elapsed:.1f}s")
    assert max(size, largest) < 20_000_000
    with StateStore(path) as store:
        assert store.is_known(
            f"customer{(365 * 500 - 1) % 40_000}@example{(365 * 500 - 1) % 97}.test"
        )
        assert len(store.complaints()) == 365 * 50  # a year of complaints is kept for stats


def test_in_flight_batch_survives_a_restart_until_cleared(path: Path) -> None:
    with StateStore(path) as store:
        store.set_in_flight("INBOX", 7, [3, 4, 5])
        store.flush()
    with StateStore(path) as store:
        assert store.in_flight("INBOX", 7) == [3, 4, 5]
        assert store.in_flight("INBOX", 8) == [], "a new UIDVALIDITY forgets old UIDs"
        store.set_in_flight("INBOX", 7, [])
    with StateStore(path) as store:
        assert store.in_flight("INBOX", 7) == []


# -- layout: schema 2, documents held as text -------------------------------------------------

SCHEMA_1 = {
    "meta": {"1": {"version": 1, "next_id": {"history": 4, "reminders": 2}}},
    "watermarks": {"1": {"folder": "INBOX", "uidvalidity": 7, "last_uid": 41}},
    "history": {
        "1": {"address": "a@x.test", "at": "2026-03-02T09:00:00.000000+00:00",
              "message_id": "<1@x>", "complaint": True, "categories": ["damaged"]},
        "2": {"address": "b@x.test", "at": "2026-03-02T10:00:00.000000+00:00",
              "message_id": "<2@x>", "complaint": False},
        "3": {"address": "a@x.test", "at": "2026-03-03T09:00:00.000000+00:00",
              "message_id": "<3@x>", "complaint": False},
    },
    "replies": {"1": {"address": "a@x.test", "at": "2026-03-02T09:01:00.000000+00:00"},
                "2": {"address": "c@x.test", "at": "2026-03-02T09:02:00.000000+00:00"}},
    "reminders": {"1": {"kind": "sla", "to": "staff", "due": "2026-03-02T17:00:00.000000+00:00",
                        "message_id": "<1@x>", "customer": "a@x.test", "state": "pending"}},
}  # fmt: skip


@pytest.mark.parametrize("indent", [None, 4], ids=["inboxbot", "tinydb-indented"])
def test_a_schema_1_file_loads_and_is_migrated(path: Path, indent: int | None) -> None:
    # What inboxbot before schema 2 wrote (one history document per message), also as TinyDB's
    # own JSONStorage would indent it.
    path.write_text(json.dumps(SCHEMA_1, indent=indent))
    with StateStore(path) as store:
        assert store.watermark("INBOX") == (7, 41)
        assert store.is_known("A@x.test") and store.is_known("b@x.test")
        assert store.complaint_count("a@x.test", T0) == 1
        assert [(h["at"], h["complaint"], h["categories"]) for h in store.history("a@x.test")] == [
            (T0, True, ["damaged"]),
            (T0 + timedelta(days=1), False, []),
        ]
        assert [r["id"] for r in store.open_reminders(customer="a@x.test")] == [1]
        assert store.last_reply("a@x.test") == T0 + timedelta(minutes=1)
        assert store.last_reply("c@x.test") == T0 + timedelta(minutes=2)
        assert not store.is_known("c@x.test")  # answered (a Reply-To), never wrote from there
        assert store.replies_since(T0) == 2
        store.record_message("a@x.test", T0 + timedelta(days=2), True)
    data = json.loads(path.read_bytes())
    assert data["meta"]["1"]["version"] == 2
    assert len(data["history"]) == 3  # one document per customer
    assert data["replies"] == {}  # folded into the customer documents
    [a_doc] = [d for d in data["history"].values() if d["address"] == "a@x.test"]
    assert [entry[:2] for entry in a_doc["seen"]] == [
        ["2026-03-02T09:00:00.000000+00:00", True],
        ["2026-03-03T09:00:00.000000+00:00", False],
        ["2026-03-04T09:00:00.000000+00:00", True],
    ]
    with StateStore(path) as store:
        assert store.complaint_count("a@x.test", T0) == 2


def test_a_schema_2_file_of_the_previous_release_loads_unchanged(path: Path) -> None:
    # The file format did not change when the process began to hold documents packed under
    # int ids: a file written before (TinyDB's string ids, documents as compact JSON) loads, and
    # a snapshot writes the same documents back under the same ids.
    before = {
        "meta": {"1": {"version": 2, "next_id": {"history": 3, "reminders": 8}}},
        "watermarks": {"1": {"folder": "INBOX", "uidvalidity": 7, "last_uid": 41}},
        "outbox": {"4": {"key": "<1@x>:reply", "uid": 3, "type": "reply", "state": "done",
                         "created": "2026-03-02T09:00:00.000000+00:00"}},
        "replies": {},
        "history": {"2": {"address": "a@x.test", "seen": [["2026-03-02T09:00:00.000000+00:00",
                                                            True, ["late"]]],
                          "replied": ["2026-03-02T09:01:00.000000+00:00"]}},
        "complaints": {"5": {"at": "2026-03-02T09:00:00.000000+00:00", "customer": "a@x.test",
                             "message_id": "<1@x>", "categories": ["late"]}},
        "reminders": {"7": {"kind": "sla", "due": "2026-03-02T17:00:00.000000+00:00",
                            "message_id": "<1@x>", "customer": "a@x.test", "state": "pending"}},
    }  # fmt: skip
    path.write_text(json.dumps(before, separators=(",", ":")))
    with StateStore(path) as store:
        assert store.watermark("INBOX") == (7, 41)
        assert store.outbox_get("<1@x>:reply")["state"] == "done"
        assert store.complaint_count("a@x.test", T0) == 1
        assert store.last_reply("a@x.test") == T0 + timedelta(minutes=1)
        assert store.complaint("<1@x>")["categories"] == ["late"]
        assert store.has_open_reminder("<1@x>", "sla")
        assert [r["id"] for r in store.open_reminders("a@x.test")] == [7]
        assert store.add_reminder({"kind": "checkin", "due": T0, "customer": "a@x.test"}) == 8
        store.update_reminder(8, state="cancelled")
        store._mw.snapshot_due = True  # rewrite the whole file, not only the journal
    after = json.loads(path.read_bytes())
    assert after["reminders"].pop("8")["state"] == "cancelled"
    assert after["meta"]["1"]["next_id"]["reminders"] == 9
    after["meta"] = before["meta"]
    assert after == before


def test_a_newer_schema_is_refused(path: Path) -> None:
    path.write_text(json.dumps({"meta": {"1": {"version": 99}}}))
    with pytest.raises(StoreError, match="newer inboxbot"):
        StateStore(path)


def test_open_reminders_are_indexed_by_customer_and_message(path: Path) -> None:
    with StateStore(path) as store:
        sla = store.add_reminder({"due": T0, "kind": "sla", "message_id": "<1@x>",
                                  "customer": "A@x.test"})  # fmt: skip
        checkin = store.add_reminder({"due": T0 + timedelta(hours=1), "kind": "checkin",
                                      "message_id": "<2@x>", "customer": "a@x.test"})  # fmt: skip
        store.add_reminder({"due": T0, "kind": "sla", "message_id": "<3@x>", "customer": "b@x"})
        assert [r["id"] for r in store.open_reminders(customer="a@X.test")] == [sla, checkin]
        assert [r["id"] for r in store.open_reminders("a@x.test", kinds={"checkin"})] == [checkin]
        assert store.has_open_reminder("<1@x>", "sla")
        assert not store.has_open_reminder("<1@x>", "checkin")
        store.update_reminder(checkin, state="cancelled")
        store.update_reminder(sla, customer="c@x.test")  # moved to another customer
        assert store.open_reminders("a@x.test") == []
        assert [r["id"] for r in store.open_reminders("c@x.test")] == [sla]
        assert not store.has_open_reminder("<2@x>", "checkin")
        assert len(store.open_reminders()) == 2
    with StateStore(path) as store:  # rebuilt from the file
        assert [r["id"] for r in store.open_reminders("c@x.test")] == [sla]
        assert store.has_open_reminder("<1@x>", "sla")
        assert not store.has_open_reminder("<2@x>", "checkin")


def _backlog(store: StateStore, count: int, start: int = 0, *, new: bool = False) -> None:
    """The records a backlog leaves, as the service writes them (tests/integration/
    test_resources.py's mail: half complaints, each with an SLA reminder); ``new``: every
    message from a new customer, answered through the outbox (that test's senders repeat only
    after 485,000 messages), else 5,000 customers who were answered already."""
    for n in range(start, start + count):
        when = T0 + timedelta(seconds=n)
        sender, mid = (
            f"customer{n % 5000}@shop{n % 5000 % 97}.example",
            f"<res{n}@customer.example>",
        )
        if new:
            sender = f"customer{n}@customer{n % 97}.example"
            key = f"{mid}:reply"
            store.outbox_add(key, {"uid": n, "type": "reply", "to": [sender], "created": when,
                                   "message_id": f"<inboxbot.{n:024x}@shop.example>"})  # fmt: skip
            store.outbox_set_state(key, "sent")
            store.record_reply(sender, when)
            store.outbox_set_state(key, "done")
        complaint = n % 2 == 0
        store.record_message(sender, when, complaint, ["late"] if complaint else ())
        if complaint:
            due = when + timedelta(hours=8)
            store.log_complaint({"at": when, "customer": sender, "message_id": mid,
                                 "language": "en", "categories": ["late"], "cues": {},
                                 "urgent": False, "folder": "INBOX", "due": due})  # fmt: skip
            store.add_reminder({"kind": "sla", "to": "staff", "due": due, "created": when,
                                "message_id": mid, "customer": sender, "subject": f"Order {n}",
                                "folder": "INBOX", "language": "en", "origin": "rule",
                                "reason": "rule 'complaints' (rules/10-default.toml:49)",
                                "promise_at": due})  # fmt: skip


@pytest.mark.parametrize(("new", "limit"), [(False, 700), (True, 1300)], ids=["repeat", "new"])
def test_a_backlogs_records_cost_little_memory(path: Path, new: bool, limit: int) -> None:
    # Each message leaves a history entry, and a complaint a log record and a reminder; a new
    # customer also a customer document, a reply time and an outbox entry. Held as dicts this
    # was ~2.2 KB per message of repeat customers (a 50,000 backlog: 110 MB); as text ~0.8 KB,
    # ~1.6 KB for new ones; packed, under int ids, ~0.5 KB and ~1.05 KB.
    count = 4000
    with StateStore(path) as store:
        _backlog(store, 5000, new=new)  # warm-up: indexes and customers exist
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            _backlog(store, count, 5000, new=new)
            store.flush()
            gc.collect()
            per_message = (tracemalloc.get_traced_memory()[0] - before) / count
        finally:
            tracemalloc.stop()
    kind = "new" if new else "repeat"
    print(f"\nstate in memory ({kind} customers): {per_message:.0f} bytes per message")
    assert per_message < limit


CRASH_AFTER_RENAME = """
import os, sys
from datetime import datetime, timedelta, UTC
from inboxbot.adapters import store as store_module
from inboxbot.adapters.store import StateStore
store = StateStore(sys.argv[1])
t0 = datetime(2026, 1, 1, tzinfo=UTC)
for n in range(2):  # two flushes: the journal holds the customer's document twice
    store.record_message("a@x.test", t0 + timedelta(hours=n), True)
    store.flush()
store.record_message("a@x.test", t0 + timedelta(hours=2), True)  # only in the snapshot
store._mw.snapshot_due = True
# Killed right after the new file is renamed into place, before the journal is emptied.
store_module.os.ftruncate = lambda fd, size: os._exit(9)
store.flush()
"""


def test_a_crash_between_snapshot_and_truncate_does_not_replay_the_old_journal(
    path: Path,
) -> None:
    with StateStore(path) as store:  # a generation in the file and the journal's head
        store.set_watermark("INBOX", 1, 1)
    run = subprocess.run([sys.executable, "-c", CRASH_AFTER_RENAME, str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 9, run.stderr
    assert b'"seen"' in path.with_name(path.name + ".journal").read_bytes(), "not emptied"
    with StateStore(path) as store:
        # Replaying the journal's older copies of the document would leave 2 (or, after a
        # schema migration, documents of the old schema).
        assert store.complaint_count("a@x.test", T0 - timedelta(days=3650)) == 3
        assert store.watermark("INBOX") == (1, 1)
