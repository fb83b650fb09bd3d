"""A running `inboxbot run` against the real Dovecot picks up a rule added with `inboxbot rules
add` within a few seconds, keeps its old rules when a new file is broken, and reloads on SIGHUP.

Skipped until daemon._watch calls inboxbot.reload.RuleWatcher (the wiring is the lead's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import inboxbot.daemon
from tests.mailgen import customer_mail

pytestmark = pytest.mark.skipif(
    "RuleWatcher" not in Path(inboxbot.daemon.__file__).read_text(encoding="utf-8"),
    reason="daemon._watch does not call inboxbot.reload.RuleWatcher yet",
)


def _wait(predicate: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s")


def _cli(shop: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inboxbot", *args, "-c", str(shop.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _flags_of(shop: Any, subject: str) -> set[str]:
    for item in shop.folder("INBOX").values():
        if f"Subject: {subject}" in item["header"]:
            return set(item["flags"])
    return set()


@pytest.fixture
def daemon(shop: Any) -> Iterator[subprocess.Popen[bytes]]:
    shop.dovecot.append("INBOX", customer_mail("a0@customer.example", "First", "Hello there"))
    process = subprocess.Popen(
        [sys.executable, "-m", "inboxbot", "run", "-c", str(shop.config_path)],
        stdout=subprocess.DEVNULL,
        stderr=open(shop.directory / "run.log", "wb"),  # noqa: SIM115 - closed with the process
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait(lambda: len(shop.sink.messages) == 1, 30)  # backlog done: idling now
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
    assert code == 0, (shop.directory / "run.log").read_text()


def test_a_rule_added_while_running_applies_within_seconds(shop: Any, daemon: Any) -> None:
    result = _cli(shop, "rules", "add", "gift cards", "--when", "subject=gift card",
                  "--then", "tag=giftcard", "--before", "acknowledge")  # fmt: skip
    assert result.returncode == 0, result.stderr
    time.sleep(0.2)
    shop.dovecot.append(
        "INBOX", customer_mail("a1@customer.example", "Gift card question", "Do you sell them?")
    )
    elapsed = _wait(lambda: "$Giftcard" in _flags_of(shop, "Gift card question"), 10)
    assert elapsed < 8, f"took {elapsed:.1f}s"
    assert "reloaded" in (shop.directory / "run.log").read_text()


def test_a_broken_rule_file_keeps_the_old_rules(shop: Any, daemon: Any) -> None:
    (shop.directory / "rules" / "20-broken.toml").write_text(
        '[[rule]]\nname = "broken"\nwhen.compliant = true\nthen.tag = "x"\n', encoding="utf-8"
    )
    log = shop.directory / "run.log"
    _wait(lambda: "still using the previous rules" in log.read_text(), 10)
    shop.dovecot.append("INBOX", customer_mail("a2@customer.example", "Still there?", "Hello"))
    _wait(lambda: len(shop.sink.messages) == 2, 10)  # still acknowledging with the old rules
    assert daemon.poll() is None


def test_sighup_reloads(shop: Any, daemon: Any) -> None:
    daemon.send_signal(signal.SIGHUP)
    _wait(lambda: "reloaded (SIGHUP)" in (shop.directory / "run.log").read_text(), 10)
    assert daemon.poll() is None


# -- rounds while idle ------------------------------------------------------------------------


class _Files:
    """The watcher's side of a round: an engine, and a new one once the files `change()`."""

    def __init__(self) -> None:
        self.engine, self.checks = object(), 0

    def check(self) -> Any:
        self.checks += 1
        return self.engine

    def change(self) -> None:
        self.engine = object()


def _idle(shop: Any, files: _Files, *, watch: bool = True) -> float:
    from inboxbot.adapters.imap import ImapMailbox
    from inboxbot.daemon import Lifecycle, _idle_until_round

    dovecot = shop.dovecot
    with ImapMailbox(dovecot.host, dovecot.port, "plain", dovecot.username,
                     dovecot.password) as mailbox:  # fmt: skip
        mailbox.select("INBOX")
        started = time.monotonic()
        _idle_until_round(mailbox, None, files if watch else None, files.engine, Lifecycle())
        return time.monotonic() - started


@pytest.fixture
def slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inboxbot.daemon, "IDLE_SLICE", 2.0)
    monkeypatch.setattr(inboxbot.daemon, "RELOAD_SLICE", 0.25)


@pytest.mark.usefixtures("slices")
def test_looking_at_the_files_is_no_reason_for_a_round(shop: Any) -> None:
    # Hot reload wakes every RELOAD_SLICE to look at the files; a round (a SELECT of the watched
    # folder, the reminders' searches) waits for IDLE_SLICE. Each wake-up was a round before.
    files = _Files()
    waited = _idle(shop, files)
    assert 1.9 < waited < 3.0
    assert files.checks >= 5


@pytest.mark.usefixtures("slices")
def test_new_mail_or_changed_files_start_the_round_at_once(shop: Any) -> None:
    files = _Files()
    changing = threading.Timer(0.3, files.change)
    changing.start()
    assert _idle(shop, files) < 1.0
    changing.join()
    mail = threading.Timer(0.3, lambda: shop.dovecot.append("INBOX", customer_mail(
        "b@customer.example", "New", "Hello")))  # fmt: skip
    mail.start()
    assert _idle(shop, _Files()) < 1.8  # Dovecot's own IDLE notice takes ~0.5 s
    mail.join()
    assert _idle(shop, _Files(), watch=False) > 1.9  # no hot reload: one wait of IDLE_SLICE
