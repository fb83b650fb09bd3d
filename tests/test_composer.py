"""Composer: the reply Message-ID is stable for one inbound mail and distinct across mails."""

from __future__ import annotations

from pathlib import Path

import pytest

from inboxbot.composer import Composer
from inboxbot.core.message import parse_message


def _composer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Composer:
    from inboxbot.app import build_engine
    from inboxbot.cli.setup import write_skeleton
    from inboxbot.config import load_config

    monkeypatch.setenv("INBOXBOT_IMAP_PASSWORD", "x")
    monkeypatch.setenv("INBOXBOT_SMTP_PASSWORD", "x")
    list(write_skeleton(tmp_path / "shop"))
    composer = build_engine(load_config(tmp_path / "shop" / "config.toml")).composer
    assert isinstance(composer, Composer)
    return composer


def _mail(sender: str, date: str, message_id: str = "") -> bytes:
    header = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (f"From: {sender}\r\nTo: support@shop.example\r\nSubject: Order question\r\n"
            f"Date: {date}\r\n{header}\r\nWhere is my order?\r\n").encode()


def test_mails_without_message_id_and_one_subject_get_distinct_reply_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    composer = _composer(tmp_path, monkeypatch)
    monday = "Mon, 23 Nov 2026 09:00:00 +0000"
    ann = parse_message(_mail("ann@example.test", monday))
    bob = parse_message(_mail("bob@example.test", monday))
    ann_later = parse_message(_mail("ann@example.test", "Tue, 24 Nov 2026 09:00:00 +0000"))
    ids = {composer.reply_id(m, "ack") for m in (ann, bob, ann_later)}
    assert len(ids) == 3  # by the subject alone all three were one
    # The same inbound mail, read again after a crash, gets the same one.
    assert composer.reply_id(parse_message(_mail("ann@example.test", monday)), "ack") == (
        composer.reply_id(ann, "ack"))


def test_the_reply_id_follows_the_inbound_message_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    composer = _composer(tmp_path, monkeypatch)
    monday = "Mon, 23 Nov 2026 09:00:00 +0000"
    first = parse_message(_mail("ann@example.test", monday, "<a1@example.test>"))
    again = parse_message(_mail("ann@example.test", "Tue, 24 Nov 2026 09:00:00 +0000",
                                "<a1@example.test>"))
    other = parse_message(_mail("ann@example.test", monday, "<a2@example.test>"))
    assert composer.reply_id(first, "ack") == composer.reply_id(again, "ack")
    assert composer.reply_id(first, "ack") != composer.reply_id(other, "ack")
    assert composer.reply_id(first, "ack") != composer.reply_id(first, "redirect")
    assert composer.reply_id(first, "ack").endswith("@shop.example>")
