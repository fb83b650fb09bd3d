"""RuleWatcher: a changed rule, template or config builds a fresh Engine; an invalid change
keeps the old one (with the reason logged); SIGHUP forces a reload; polling is throttled."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from inboxbot.app import build_engine
from inboxbot.cli.setup import write_skeleton
from inboxbot.config import Config, load_config
from inboxbot.reload import RuleWatcher, fingerprint
from inboxbot.service import Engine


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INBOXBOT_IMAP_PASSWORD", "x")
    monkeypatch.setenv("INBOXBOT_SMTP_PASSWORD", "x")
    list(write_skeleton(tmp_path / "shop"))
    return tmp_path / "shop"


def start(shop: Path) -> tuple[Config, Engine, RuleWatcher, FakeClock]:
    config = load_config(shop / "config.toml")
    clock = FakeClock()
    return config, build_engine(config), RuleWatcher(config, clock=clock), clock


def later(clock: FakeClock) -> None:
    clock.now += 5


def add_rule(shop: Path, text: str, name: str = "20-new.toml") -> None:
    (shop / "rules" / name).write_text(text, encoding="utf-8")


NEW_RULE = '[[rule]]\nname = "new"\nwhen.subject = "hello"\nthen.tag = "hello"\n'


def test_nothing_changed_keeps_the_same_engine(shop: Path) -> None:
    _, engine, watcher, clock = start(shop)
    later(clock)
    assert watcher.check(engine) is engine


def test_a_new_rule_file_is_picked_up(shop: Path) -> None:
    _, engine, watcher, clock = start(shop)
    add_rule(shop, NEW_RULE)
    later(clock)
    fresh = watcher.check(engine)
    assert fresh is not engine
    assert fresh.rules.rules[-1].name == "new"
    later(clock)
    assert watcher.check(fresh) is fresh  # and only once


def test_an_edit_by_the_cli_is_picked_up(shop: Path) -> None:
    from inboxbot.plugins import registry
    from inboxbot.rules_edit import RuleEditor

    config, engine, watcher, clock = start(shop)
    RuleEditor(config.paths.rules, config.folders.roles(), registry()).set_enabled(
        "acknowledge", False
    )
    later(clock)
    fresh = watcher.check(engine)
    assert "acknowledge" not in [r.name for r in fresh.rules.enabled]


def test_an_invalid_rule_keeps_the_old_engine_and_logs_why(
    shop: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, engine, watcher, clock = start(shop)
    add_rule(shop, '[[rule]]\nname = "bad"\nwhen.compliant = true\nthen.tag = "x"\n')
    later(clock)
    with caplog.at_level(logging.ERROR, logger="inboxbot"):
        assert watcher.check(engine) is engine
    assert "still using the previous rules" in caplog.text
    assert "compliant" in caplog.text
    assert watcher.last_error and "20-new.toml" in watcher.last_error
    caplog.clear()
    later(clock)
    with caplog.at_level(logging.ERROR, logger="inboxbot"):
        assert watcher.check(engine) is engine
    assert caplog.text == ""  # reported once, not on every poll
    add_rule(shop, NEW_RULE)  # fixed: the next check takes it
    later(clock)
    assert watcher.check(engine).rules.rules[-1].name == "new"
    assert watcher.last_error is None


def test_a_syntax_error_in_the_config_keeps_the_old_engine(shop: Path) -> None:
    _, engine, watcher, clock = start(shop)
    config = shop / "config.toml"
    config.write_text(config.read_text("utf-8") + "\n[hours\n", encoding="utf-8")
    later(clock)
    assert watcher.check(engine) is engine
    assert watcher.last_error and "config.toml" in watcher.last_error


def test_a_config_change_is_picked_up(shop: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, engine, watcher, clock = start(shop)
    config = shop / "config.toml"
    text = config.read_text("utf-8").replace('urgent = "2h"', 'urgent = "3h"')
    config.write_text(text.replace('"imap.example.com"', '"imap2.example.com"'), "utf-8")
    later(clock)
    with caplog.at_level(logging.WARNING, logger="inboxbot"):
        fresh = watcher.check(engine)
    assert fresh.config.promise.urgent.total_seconds() == 3 * 3600
    assert "[imap] changed: restart" in caplog.text
    assert "[smtp] changed" not in caplog.text


def test_a_template_change_is_picked_up(shop: Path) -> None:
    _, engine, watcher, clock = start(shop)
    ack = shop / "replies" / "ack.en.txt"
    ack.write_text(ack.read_text("utf-8") + "\nP.S. new line\n", encoding="utf-8")
    later(clock)
    assert watcher.check(engine) is not engine


def test_a_broken_template_keeps_the_old_engine(shop: Path) -> None:
    _, engine, watcher, clock = start(shop)
    (shop / "replies" / "ack.en.txt").write_text("Subject: x\n\n{% if %}\n", encoding="utf-8")
    later(clock)
    assert watcher.check(engine) is engine
    assert watcher.last_error is not None


def test_polling_can_be_throttled(shop: Path) -> None:
    config, engine, _, clock = start(shop)
    watcher = RuleWatcher(config, clock=clock, poll_interval=2.0)
    later(clock)
    assert watcher.check(engine) is engine  # this check polls
    add_rule(shop, NEW_RULE)
    clock.now += 0.5  # within poll_interval: no look at the disk yet
    assert watcher.check(engine) is engine
    clock.now += 2
    assert watcher.check(engine) is not engine


def test_request_reload_rebuilds_without_a_change(shop: Path) -> None:
    _, engine, watcher, _clock = start(shop)
    watcher.request_reload()
    assert watcher.check(engine) is not engine


def test_sighup_requests_a_reload(shop: Path) -> None:
    _, engine, watcher, _clock = start(shop)
    assert watcher.install_sighup()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert watcher.check(engine) is not engine
    finally:
        watcher.restore_sighup()
    assert signal.getsignal(signal.SIGHUP) is not watcher._on_sighup


def test_fingerprint_sees_an_atomic_rewrite_with_the_same_size(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text("x = 1\n")
    before = fingerprint([tmp_path])
    temp = tmp_path / ".a.toml.tmp"
    temp.write_text("x = 2\n")
    os.utime(temp, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(temp, path)
    assert fingerprint([tmp_path]) != before


def test_backups_do_not_count_as_changes(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text("x = 1\n")
    before = fingerprint([tmp_path])
    (tmp_path / "a.toml.bak").write_text("x = 0\n")
    assert fingerprint([tmp_path]) == before


def test_the_engine_in_use_survives_between_checks(shop: Path) -> None:
    config = load_config(shop / "config.toml")
    engine = build_engine(config)
    clock = FakeClock()
    watcher = RuleWatcher(config, engine, clock=clock)
    assert watcher.check() is engine
    add_rule(shop, NEW_RULE)
    later(clock)
    fresh = watcher.check()
    assert fresh is not engine and watcher.engine is fresh
    later(clock)
    assert watcher.check() is fresh  # e.g. after a reconnect: the reloaded engine, not the first
