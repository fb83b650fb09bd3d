"""A backlog's messages read on the second core, batches ahead: parsed, language and verdict.

Planning a backlog is CPU-bound, and over a third of it is turning the fetched pieces into
Messages (core.message) and reading their texts (the language detector and the classifier,
core.triage.TextReader), which need nothing but the fetched bytes. A forked worker process
parses the next batches and reads their texts while this process plans, answers and files the
current one; each Triage then finds its message parsed and its TextFacts ready
(Triage.known_text), the very ones it would have computed itself. Everything with state
(history, limits, the store, the servers) stays in this process, so the worker changes no
decision, only where the CPU time is spent.

It is used only for a backlog (more than one batch) and only with the built-in classifier: a
plugin's classifier may keep state between calls that a copy in another process would not
share. If the worker fails or is slow, the messages are parsed and read here, as without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from inboxbot.core.message import Message
from inboxbot.core.mime import Entity
from inboxbot.core.triage import TextFacts, TextReader
from inboxbot.ports import Fetched

if TYPE_CHECKING:
    from concurrent.futures import Future

    from inboxbot.service import Engine

# How a fetched message is parsed: the Message, or why it cannot be (it goes to quarantine).
Parse = Callable[[Fetched], Message | str]
# What the worker makes of one fetched message: parsed, and its text's facts when it parsed.
Parsed = tuple[Message | str, TextFacts | None]

log = logging.getLogger("inboxbot")

# An answer is normally there before it is asked for (a batch is read in ~0.25 s); this only
# bounds the wait for a worker that died without the pool noticing or a machine overloaded.
ANSWER_TIMEOUT_S = 60.0
ORPHAN_CHECK_S = 0.5

_work: tuple[Parse, TextReader] | None = None  # the worker's (set in the child)


def for_backlog(
    engine: Engine, messages: int, batch_size: int, parse: Parse
) -> TextWorker | None:
    """A worker for a pass over `messages` fetched messages, when one pays off: None for
    less than two batches, header-only rules, or a classifier that is not the built-in one."""
    from inboxbot.core.classify import Classifier

    if messages <= batch_size or not engine.needs_text:
        return None
    if not isinstance(engine.classifier, Classifier):
        return None
    try:
        return TextWorker(engine, parse)
    except OSError as error:  # no fork (a process limit): parse and read here
        log.info("backlog parsed and read in this process: no worker (%s)", error)
        return None


class TextWorker:
    """One forked process that turns fetched messages into Messages and their TextFacts."""

    def __init__(self, engine: Engine, parse: Parse) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: the child starts with the classifier and lexicons already built, and nothing
        # is pickled to start it. It ignores SIGINT/SIGTERM (this process stops it when done)
        # and exits by itself once orphaned (see _install).
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_install,
            initargs=(parse, TextReader(engine.policy, engine.classifier, engine.detect_language)),
        )
        self.failed = False

    def submit(self, batch: Sequence[Fetched]) -> Callable[[], dict[int, Parsed] | None]:
        """Start parsing and reading; the returned function waits for the answer, by uid
        (None: parse and read them here)."""
        if self.failed or not batch:
            return lambda: None
        # Only what parsing reads crosses the pipe; the flags stay here.
        items = [(f.raw, f.size, f.entity) for f in batch]
        try:
            future = self._pool.submit(_read_all, items)
        except RuntimeError as error:  # the pool broke on an earlier batch
            return self._give_up(error)
        uids = [f.uid for f in batch]
        return lambda: self._answer(future, uids)

    def _answer(self, future: Future[list[Parsed]], uids: list[int]) -> dict[int, Parsed] | None:
        try:
            parsed = future.result(timeout=ANSWER_TIMEOUT_S)
        except Exception as error:  # a dead worker, a timeout: this process reads them
            return self._give_up(error)()
        return dict(zip(uids, parsed, strict=True))

    def _give_up(self, error: BaseException) -> Callable[[], None]:
        if not self.failed:
            log.warning(
                "text worker failed (%s: %s); parsing and reading here", type(error).__name__, error
            )
        self.failed = True
        return lambda: None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _install(parse: Parse, reader: TextReader) -> None:
    import os
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    global _work
    _work = (parse, reader)
    # A worker waits on its task queue, whose other end it also holds: when the service is
    # killed (SIGKILL, OOM) nothing would ever wake it. It leaves once it is orphaned.
    parent = os.getppid()

    def leave_when_orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=leave_when_orphaned, name="inboxbot-orphan", daemon=True).start()


def _read_all(items: Sequence[tuple[bytes, int, Entity | None]]) -> list[Parsed]:
    assert _work is not None, "run in a TextWorker"
    parse, reader = _work
    return [
        _read_one(parse(Fetched(0, raw, frozenset(), size, entity)), reader)
        for raw, size, entity in items
    ]


def _read_one(message: Message | str, reader: TextReader) -> Parsed:
    if isinstance(message, str):  # quarantined: no text to read
        return message, None
    return message, reader.read(message.subject, message.text, message.content_language)
