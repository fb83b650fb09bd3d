"""Reading rules/*.toml from disk (inboxbot/rulefiles.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from inboxbot.config import FolderSettings
from inboxbot.errors import RuleError
from inboxbot.rulefiles import load_rules

RULE = '[[rule]]\nname = "{name}"\nthen.tag = "x"\n'


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "10-default.toml").write_text(RULE.format(name="a"), encoding="utf-8")
    return directory


def test_a_rules_file_that_cannot_be_read_is_an_error_not_skipped(rules: Path) -> None:
    # A rules file linked from elsewhere whose target went away was skipped without a word:
    # `check` said "ok" and its rules silently stopped applying.
    (rules / "20-shared.toml").symlink_to(rules.parent / "gone.toml")
    with pytest.raises(RuleError) as caught:
        load_rules(rules, FolderSettings().roles())
    assert str(caught.value).startswith("rules/20-shared.toml: cannot read it")


def test_an_editors_hidden_lock_link_is_not_a_rules_file(rules: Path) -> None:
    # Emacs marks a file it edits with a dangling symlink ".#NAME"
    (rules / ".#10-default.toml").symlink_to("anna@laptop.1234:1700000000")
    assert [rule.name for rule in load_rules(rules, FolderSettings().roles()).rules] == ["a"]


def test_a_linked_rules_file_is_read(rules: Path) -> None:
    shared = rules.parent / "shared.toml"
    shared.write_text(RULE.format(name="shared"), encoding="utf-8")
    (rules / "05-shared.toml").symlink_to(shared)
    assert [rule.name for rule in load_rules(rules, FolderSettings().roles()).rules] == [
        "shared", "a"]
