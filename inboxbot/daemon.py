"""The long run: backlog, then IDLE; reconnect with backoff; stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from inboxbot.config import Config
from inboxbot.errors import MailboxError
from inboxbot.reminders import ReminderRunner
from inboxbot.service import Executor, Outcome, run_pass

log = logging.getLogger("inboxbot")
IDLE_SLICE = 60.0  # seconds per wait(); the adapter renews IDLE itself well before 29 minutes
RELOAD_SLICE = 5.0  # with hot reload: wake this often to look for changed rules and config


class ShutdownRequested(Exception):
    """Raised from the signal handler while idling, so a blocking IDLE read ends at once."""


class Backoff:
    """Exponential backoff so a server in trouble is not hammered: 1, 2, 4 ... max seconds."""

    def __init__(self, base: float = 1.0, maximum: float = 300.0) -> None:
        self.base, self.maximum, self.attempt = base, maximum, 0

    def next_delay(self) -> float:
        delay = min(self.maximum, self.base * 2**self.attempt)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class Lifecycle:
    """Finishes the message in hand on SIGTERM, but interrupts an idle wait immediately."""

    def __init__(self) -> None:
        self.busy = False
        self.stopping = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals can only be handled in the main thread (tests run us in others)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stopping = True
        if not self.busy:
            raise ShutdownRequested


def serve(
    config: Config,
    *,
    once: bool = False,
    dry_run: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] | None = None,
) -> None:
    from inboxbot.app import build_engine, open_sender, open_store, utc_now
    from inboxbot.reload import RuleWatcher

    # Rules, and the templates and lexicons they use, are validated before any connection.
    engine = build_engine(config, lazy=True)
    store = open_store(config)
    sender = None if dry_run else open_sender(config)
    # A long run picks up changed rules, templates and config (and SIGHUP); --once need not.
    watcher = None if once else RuleWatcher(config, engine)
    lifecycle = Lifecycle()
    lifecycle.install()
    if watcher is not None:
        watcher.install_sighup()
    backoff = Backoff()
    try:
        while not lifecycle.stopping:
            try:
                _connected(config, watcher.engine if watcher else engine, sender, store,
                           lifecycle, once=once, dry_run=dry_run, clock=clock or utc_now,
                           watcher=watcher)
                return
            except MailboxError as error:
                if once:
                    raise
                delay = backoff.next_delay()
                log.error("%s; reconnecting in %.0fs", error, delay)
                sleep(delay)
    except ShutdownRequested:
        pass
    finally:
        lifecycle.restore()
        if watcher is not None:
            watcher.restore_sighup()
        store.close()
        if sender is not None:
            sender.close()
        log.info("stopped")


def _connected(config: Config, engine: Any, sender: Any, store: Any, lifecycle: Lifecycle,
               **options: Any) -> None:
    """One connection's life: it ends when stopping, after --once, or with a MailboxError."""
    from inboxbot.app import open_imap

    mailbox = open_imap(config)
    others: list[Any] = []  # the reminders' second connection, once they open it

    def open_other() -> Any:
        others.append(open_imap(config))
        return others[-1]

    try:
        _watch(engine, mailbox, sender, store, lifecycle, open_other=open_other, **options)
    finally:
        for connection in (*others, mailbox):
            _close_quietly(connection)


def _watch(
    engine: Any,
    mailbox: Any,
    sender: Any,
    store: Any,
    lifecycle: Lifecycle,
    *,
    once: bool,
    dry_run: bool,
    clock: Callable[[], Any],
    watcher: Any = None,
    open_other: Callable[[], Any] | None = None,
) -> None:
    from inboxbot.answers import sync_answers
    from inboxbot.app import folders_needed

    if not dry_run:
        created = mailbox.ensure_folders(folders_needed(engine.config, engine))
        for folder in created:
            log.info("created folder %s", folder)
    executor = Executor(engine, mailbox, sender, store, clock, dry_run=dry_run)
    # Reminders run after each pass (so a customer's new mail cancels a check-in first), also
    # on start: what fell due while stopped goes out once, oldest first.
    # Their other folders on a second connection: this one stays on the watched folder, which
    # the pass selected and IDLE waits on (one SELECT of a large folder a round, not two).
    reminders = (
        None if dry_run else ReminderRunner(engine, mailbox, sender, store, clock, open_other)
    )
    progress = _progress_reporter()
    watching = False
    while not lifecycle.stopping:
        lifecycle.busy = True
        if watcher is not None and (fresh := watcher.check()) is not engine:
            engine = executor.engine = fresh  # files that changed and compiled; else the old
            executor.limiter.settings = fresh.config.autoreply
            if reminders is not None:
                reminders.engine = fresh
            if not dry_run:
                mailbox.ensure_folders(folders_needed(fresh.config, fresh))
        outcomes = run_pass(engine, mailbox, executor, store, progress=progress,
                            stopping=lambda: lifecycle.stopping, keep=dry_run)
        if reminders is not None:
            # After the pass, so a staff reply already in Sent when we start (or come back
            # after downtime) finds the complaint it answers logged. On the reminders' second
            # connection: the daemon's stays on the watched folder for IDLE.
            sync_answers(reminders.mailbox, store, engine.config.folders.sent, clock())
        if reminders is not None and not lifecycle.stopping:  # SIGTERM: they keep till the start
            reminders.run()
        if not dry_run:
            _prune_daily(engine.config, store, clock())
        lifecycle.busy = False
        if dry_run:
            report_dry_run(outcomes)
        if once or lifecycle.stopping:
            return
        if not watching:  # once per connection: the backlog is done, new mail is answered now
            watching = True
            log.info("idle: watching %s for new mail", engine.config.imap.watch)
        _idle_until_round(mailbox, reminders, watcher, engine, lifecycle)


def _idle_until_round(
    mailbox: Any, reminders: Any, watcher: Any, engine: Any, lifecycle: Lifecycle
) -> None:
    """Wait for a reason to run the next round: new mail, a reminder falling due (IDLE is cut
    short for it), rules or config that changed (looked for every RELOAD_SLICE), or IDLE_SLICE
    gone by (Sent, the other folders' keywords and the clock are looked at by rounds). Waking
    to look at the files is no reason: a round costs the server a SELECT of the watched folder
    (~0.25 s of Dovecot's time at 100,000 messages) and the reminders' searches, and with hot
    reload on, every `run` made one every 5 s."""
    deadline = time.monotonic() + IDLE_SLICE
    while not lifecycle.stopping:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        step = left if watcher is None else min(RELOAD_SLICE, left)
        seconds = reminders.wait_time(step) if reminders is not None else step
        if mailbox.wait(seconds) or seconds < step:
            return  # new mail, or a reminder fell due
        if watcher is not None and watcher.check() is not engine:
            return  # the next round starts with the new rules


_last_prune: list[datetime] = []


def _prune_daily(config: Config, store: Any, now: datetime) -> None:
    """Keeps the state file small after a year of mail; once a day is plenty."""
    if _last_prune and now - _last_prune[0] < timedelta(days=1):
        return
    triage = config.triage
    # `sender = repeat` counts complaints over repeat_days: a shorter history_days would
    # forget them (and repeat_complainers in stats with them).
    keep = max(timedelta(days=max(triage.history_days, triage.repeat_days)),
               config.autoreply.per_sender * 2)
    removed = store.prune(now, keep)
    store.flush()
    _last_prune[:] = [now]
    if any(removed.values()):
        log.info("pruned state: %s", removed)


def report_dry_run(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        subject = outcome.message.subject if outcome.message else ""
        actions = [
            f"{a.type} {dict(a.args)}" + (f" (skipped: {a.skipped})" if a.skipped else "")
            for a in outcome.plan.actions
        ]
        print(f"uid {outcome.uid} {subject!r}: {'; '.join(actions) or 'nothing'}")


def _progress_reporter() -> Callable[[int, int], None]:
    """A progress line for long backlogs: on a terminal it redraws, elsewhere it logs."""
    last = [0.0]
    tty = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        if total < 300:
            return
        if tty:
            sys.stderr.write(f"\r{done}/{total} messages")
            if done >= total:
                sys.stderr.write("\n")
        elif time.monotonic() - last[0] > 10 or done >= total:
            last[0] = time.monotonic()
            log.info("progress: %d/%d messages", done, total)

    return report


def _close_quietly(mailbox: Any) -> None:
    with contextlib.suppress(MailboxError):
        mailbox.close()
