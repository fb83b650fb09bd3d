"""inboxbot.logs: a backlog's action lines go out in one write, and none is lost."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from inboxbot.logs import setup_logging, together


class _Writes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def write(self, text: str) -> int:
        self.calls += 1
        return super().write(text)


@pytest.fixture
def logger() -> Iterator[None]:
    root = logging.getLogger("inboxbot")
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def _logging_to(monkeypatch: pytest.MonkeyPatch, fmt: str = "text") -> _Writes:
    # Patched in the test itself: pytest's capture puts its own sys.stderr back after setup.
    stream = _Writes()
    monkeypatch.setattr("sys.stderr", stream)
    setup_logging(fmt=fmt)
    return stream


@pytest.mark.usefixtures("logger")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_lines_logged_together_go_out_in_one_write(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    stderr = _logging_to(monkeypatch, fmt)
    log = logging.getLogger("inboxbot")
    log.info("before")
    assert stderr.calls == 1
    with together():
        for uid in range(3):
            log.info("uid %s: moved", uid)
        with together():  # held already: the outer one writes
            log.info("uid 3: tagged")
        assert stderr.calls == 1
    assert stderr.calls == 2
    lines = stderr.getvalue().splitlines()
    assert len(lines) == 5
    last = json.loads(lines[-1])["message"] if fmt == "json" else lines[-1]
    assert last.endswith("uid 3: tagged")
    log.info("after")
    assert stderr.calls == 3


@pytest.mark.usefixtures("logger")
def test_lines_held_when_an_error_ends_the_block_are_still_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = _logging_to(monkeypatch)
    log = logging.getLogger("inboxbot")
    with pytest.raises(RuntimeError), together():
        log.info("uid 1: moved")
        raise RuntimeError("the server went away")
    assert "uid 1: moved" in stderr.getvalue()
