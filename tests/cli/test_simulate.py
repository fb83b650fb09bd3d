"""inboxbot/cli/simulate.py: reading the sources `inboxbot simulate` takes."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from inboxbot.cli import simulate
from inboxbot.defaults import data_dir


def test_an_mbox_is_read_once_not_once_per_message(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Each message opened the mbox anew, and opening scans the whole file for its table of
    # contents: 200 messages took 1.4 s, 400 took 5.7 s, a shop's 4,000 about ten minutes.
    samples = sorted(data_dir("demo").glob("*.eml"))
    path = tmp_path / "export.mbox"
    box = mailbox.mbox(path)
    for sample in samples:
        box.add(sample.read_bytes())
    box.close()
    opened = []
    real = mailbox.mbox

    def counting(*args: object, **kwargs: object) -> mailbox.mbox:
        opened.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(simulate.mailbox, "mbox", counting)
    read = list(simulate.read_sources([path]))
    assert [source for source, _ in read] == [f"{path}#{i + 1}" for i in range(len(samples))]
    assert [raw.split(b"Message-ID:")[1][:40] for _, raw in read] == [
        s.read_bytes().split(b"Message-ID:")[1][:40] for s in samples]
    assert len(opened) == 1
