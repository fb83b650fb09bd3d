"""Progress for long work (issue 2): a backlog of more than a few hundred messages shows a
progress line on a terminal and a periodic log line otherwise; a small one shows nothing."""

from __future__ import annotations

import io
import logging

import pytest

from inboxbot import daemon


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def _report(monkeypatch: pytest.MonkeyPatch, tty: bool, total: int) -> _Stream:
    stream = _Stream(tty)
    monkeypatch.setattr(daemon.sys, "stderr", stream)
    report = daemon._progress_reporter()
    for done in range(0, total + 1, 100):
        report(done, total)
    return stream


def test_a_terminal_gets_a_redrawn_progress_line(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _report(monkeypatch, tty=True, total=1000)
    assert "\r500/1000 messages" in stream.getvalue()
    assert stream.getvalue().endswith("\r1000/1000 messages\n")


def test_a_log_gets_periodic_lines_not_one_per_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="inboxbot"):
        stream = _report(monkeypatch, tty=False, total=1000)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress")]
    assert stream.getvalue() == ""
    assert lines[-1] == "progress: 1000/1000 messages"
    assert len(lines) <= 2  # at most every 10 s, and the end


def test_a_small_backlog_shows_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="inboxbot"):
        stream = _report(monkeypatch, tty=True, total=200)
    assert stream.getvalue() == ""
    assert not [r for r in caplog.records if r.getMessage().startswith("progress")]
