"""textwork: a backlog parsed and read in a forked worker gives what this process makes of it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inboxbot import textwork
from inboxbot.ports import Fetched
from inboxbot.service import Engine, _parse_text, read_message
from tests.mailgen import mixed_backlog

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


def _engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    from inboxbot.app import build_engine
    from inboxbot.cli.setup import write_skeleton
    from inboxbot.config import load_config

    monkeypatch.setenv("INBOXBOT_IMAP_PASSWORD", "x")
    monkeypatch.setenv("INBOXBOT_SMTP_PASSWORD", "x")
    list(write_skeleton(tmp_path / "shop"))
    return build_engine(load_config(tmp_path / "shop" / "config.toml"))


def _fetched(raws: list[bytes]) -> list[Fetched]:
    return [Fetched(uid, raw, frozenset(), len(raw)) for uid, raw in enumerate(raws, 1)]


def test_the_worker_parses_and_reads_what_the_triage_would(tmp_path, monkeypatch) -> None:
    engine = _engine(tmp_path, monkeypatch)
    unreadable = b"\x01\x02 this is not a mail\r\n\r\n\xff\xfe"
    batch = _fetched([e.raw for e in mixed_backlog(120)] + [unreadable])
    worker = textwork.for_backlog(engine, 1000, 500, _parse_text)
    assert worker is not None
    try:
        answer = worker.submit(batch)()
    finally:
        worker.close()
    assert answer is not None and set(answer) == {f.uid for f in batch}
    complaints = 0
    for fetched in batch:
        message, known = answer[fetched.uid]
        here = read_message(fetched, headers_only=False)
        assert message == here, fetched.uid  # a quarantine's reason too
        if isinstance(here, str):
            assert known is None
            continue
        assert known is not None
        own = engine.triage(here, NOW).text_facts  # computed here, lazily
        assert (known.language, known.text_language) == (own.language, own.text_language)
        assert known.verdict == own.verdict, fetched.uid
        complaints += bool(known.verdict and known.verdict.complaint)
    assert complaints, "the backlog has complaints: the verdicts were compared, not only None"
    assert isinstance(answer[len(batch)][0], str), "the unreadable mail is quarantined"


def test_a_small_pass_or_a_plugins_classifier_gets_no_worker(tmp_path, monkeypatch) -> None:
    engine = _engine(tmp_path, monkeypatch)
    assert textwork.for_backlog(engine, 500, 500, _parse_text) is None  # nothing to overlap
    engine.classifier = object()  # a plugin's wrapper may keep state a copy would not share
    assert textwork.for_backlog(engine, 5000, 500, _parse_text) is None


def _failing_read(items: object) -> list[object]:
    raise RuntimeError("lexicon gone")


def test_a_failed_worker_leaves_the_reading_to_the_service(tmp_path, monkeypatch, caplog) -> None:
    engine = _engine(tmp_path, monkeypatch)
    monkeypatch.setattr(textwork, "_read_all", _failing_read)  # the forked child inherits it
    batch = _fetched([mixed_backlog(1)[0].raw])
    worker = textwork.for_backlog(engine, 1000, 500, _parse_text)
    assert worker is not None
    try:
        with caplog.at_level(logging.WARNING, "inboxbot"):
            assert worker.submit(batch)() is None  # this process parses and reads them
            assert worker.submit(batch)() is None  # and is not asked again
    finally:
        worker.close()
    assert worker.failed
    assert caplog.text.count("text worker failed (RuntimeError: lexicon gone)") == 1


_KILLED_SERVICE = r"""
import os, signal, sys
from inboxbot import textwork
from inboxbot.adapters.store import StateStore
from inboxbot.ports import Fetched
from inboxbot.service import _parse_text
from tests.test_textwork import _engine_for_child
store = StateStore(sys.argv[1] + "/state.json").__enter__()  # the service's lock
engine = _engine_for_child(sys.argv[1])
worker = textwork.for_backlog(engine, 1000, 500, _parse_text)
raw = b"From: a@customer.example\r\nSubject: broken\r\n\r\nIt broke.\r\n"
assert worker.submit([Fetched(1, raw, frozenset(), len(raw))])() is not None
print(*worker._pool._processes, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _engine_for_child(directory: str) -> Engine:
    from inboxbot.app import build_engine
    from inboxbot.cli.setup import write_skeleton
    from inboxbot.config import load_config

    list(write_skeleton(Path(directory) / "shop"))
    return build_engine(load_config(Path(directory) / "shop" / "config.toml"))


def test_the_worker_leaves_when_the_service_is_killed(tmp_path) -> None:
    """Nor does it keep the killed service's state lock: a restart right away opens it."""
    from inboxbot.adapters.store import StateStore

    env = {**os.environ, "PYTHONPATH": str(REPO), "INBOXBOT_IMAP_PASSWORD": "x",
           "INBOXBOT_SMTP_PASSWORD": "x"}  # fmt: skip
    service = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SERVICE, str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    assert service.stdout is not None
    line = service.stdout.readline()  # not to the end: the worker holds the pipe too
    assert service.wait(timeout=60) == -signal.SIGKILL, line
    (pid,) = (int(p) for p in line.split())
    with StateStore(tmp_path / "state.json"):  # a restart right away, while the worker lives
        pass
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"worker {pid} outlived the killed service"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}").exists() else ""
    return "State:\tZ" not in status and bool(status)
