"""Opt-in: every mail of the shared automated corpus must be recognised as automated.

The corpus (326 real bounces, ARF reports and out-of-office replies, see its README) lives beside
the checkout in ../shared/corpus and is not part of the project, so a fresh clone skips this.
Run it with: pytest -m corpus tests/integration/test_corpus.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inboxbot.core.automated import automated_reason
from inboxbot.core.message import parse_message

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "automated"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(
        not CORPUS.is_dir(), reason=f"automated corpus not found at {CORPUS} (fresh clone)"
    ),
]


def _corpus_files() -> list[Path]:
    return sorted(CORPUS.glob("*.eml")) if CORPUS.is_dir() else []


def test_corpus_is_complete() -> None:
    # A half-copied corpus would pass the per-file test trivially.
    assert len(_corpus_files()) == 326


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.name)
def test_every_corpus_mail_is_automated(path: Path) -> None:
    msg = parse_message(path.read_bytes())
    assert automated_reason(msg) is not None, f"{path.name}: {msg.sender} {msg.subject!r}"
