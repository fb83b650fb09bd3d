"""A backlog's texts read on the second core: language and verdict, one batch ahead.

Planning a backlog is CPU-bound, and about a third of it is the language detector and the
classifier, which need nothing but each message's subject and text (core.triage.TextReader).
A forked worker process reads batch k+1 while this process plans, answers and files batch k;
each Triage then finds its message's TextFacts ready (Triage.known_text), the very ones it
would have computed itself. Everything with state (history, limits, the store, the servers)
stays in this process, so the worker changes no decision, only where the CPU time is spent.

It is used only for a backlog (more than one batch) and only with the built-in classifier: a
plugin's classifier may keep state between calls that a copy in another process would not
share. If the worker fails or is slow, the messages are read here, as without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from inboxbot.core.message import Message
from inboxbot.core.triage import TextFacts, TextReader

if TYPE_CHECKING:
    from concurrent.futures import Future

    from inboxbot.service import Engine

log = logging.getLogger("inboxbot")

# An answer is normally there before it is asked for (a batch is read in ~0.2 s); this only
# bounds the wait for a worker that died without the pool noticing or a machine overloaded.
ANSWER_TIMEOUT_S = 60.0
ORPHAN_CHECK_S = 0.5

_reader: TextReader | None = None  # the worker's (set in the child)


def for_backlog(engine: Engine, messages: int, batch_size: int) -> TextWorker | None:
    """A worker for a pass over `messages` fetched messages, when one pays off: None for
    less than two batches, header-only rules, or a classifier that is not the built-in one."""
    from inboxbot.core.classify import Classifier

    if messages <= batch_size or not engine.needs_text:
        return None
    if not isinstance(engine.classifier, Classifier):
        return None
    try:
        return TextWorker(engine)
    except OSError as error:  # no fork (a process limit): read here
        log.info("texts read in this process: no worker (%s)", error)
        return None


class TextWorker:
    """One forked process that turns (subject, text, Content-Language) into TextFacts."""

    def __init__(self, engine: Engine) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # fork: the child starts with the classifier and lexicons already built, and nothing
        # is pickled to start it. It ignores SIGINT/SIGTERM (this process stops it when done)
        # and exits by itself once orphaned (see _install).
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_install,
            initargs=(TextReader(engine.policy, engine.classifier, engine.detect_language),),
        )
        self.failed = False

    def submit(self, messages: Mapping[int, Message]) -> Callable[[], dict[int, TextFacts] | None]:
        """Start reading; the returned function waits for the answer (None: read them here)."""
        if self.failed or not messages:
            return lambda: None
        uids = list(messages)
        items = [(m.subject, m.text, m.content_language) for m in messages.values()]
        try:
            future = self._pool.submit(_read_all, items)
        except RuntimeError as error:  # the pool broke on an earlier batch
            return self._give_up(error)
        return lambda: self._answer(future, uids)

    def _answer(
        self, future: Future[list[TextFacts]], uids: list[int]
    ) -> dict[int, TextFacts] | None:
        try:
            facts = future.result(timeout=ANSWER_TIMEOUT_S)
        except Exception as error:  # a dead worker, a timeout: this process reads them
            return self._give_up(error)()
        return dict(zip(uids, facts, strict=True))

    def _give_up(self, error: BaseException) -> Callable[[], None]:
        if not self.failed:
            log.warning(
                "text worker failed (%s: %s); reading texts here", type(error).__name__, error
            )
        self.failed = True
        return lambda: None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _install(reader: TextReader) -> None:
    import os
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    global _reader
    _reader = reader
    # A worker waits on its task queue, whose other end it also holds: when the service is
    # killed (SIGKILL, OOM) nothing would ever wake it. It leaves once it is orphaned.
    parent = os.getppid()

    def leave_when_orphaned() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=leave_when_orphaned, name="inboxbot-orphan", daemon=True).start()


def _read_all(items: Sequence[tuple[str, str, str]]) -> list[TextFacts]:
    assert _reader is not None, "run in a TextWorker"
    return [_reader.read(subject, text, language) for subject, text, language in items]
