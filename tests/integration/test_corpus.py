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


def test_default_rules_plan_nothing_but_the_seen_mark_for_the_corpus(tmp_path: Path) -> None:
    """The corpus README's second promise: no reply, redirect, forward or check-in is planned
    for any of these, and (DESIGN.md) automated mail stays where it is, untagged: a bounce that
    quotes "delivery failed" is no complaint and gets no $Complaint or staff reminder."""
    import json

    from typer.testing import CliRunner

    from inboxbot.cli.app import app

    runner = CliRunner()
    shop = tmp_path / "shop"
    init = runner.invoke(app, ["init", str(shop), "--no-input", "--address",
                               "support@shop.example", "--languages", "en,de,sv,et"])
    assert init.exit_code == 0, init.output
    result = runner.invoke(app, ["simulate", "-c", str(shop / "config.toml"), str(CORPUS),
                                 "--at", "2026-11-23T10:00+01:00", "--json"])
    assert result.exit_code == 0, result.output
    plans = json.loads(result.stdout)
    assert len(plans) == 326
    acted = {item["source"]: [a for a in item["actions"] if "skipped" not in a]
             for item in plans}
    assert {source: actions for source, actions in acted.items() if actions} == {}
