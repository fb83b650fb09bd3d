"""rules_edit: values from the command line, rule blocks that keep their comments, edits that
are validated as a whole, atomic with a .bak, and serialised by a lock."""

from __future__ import annotations

import threading
import tomllib
from pathlib import Path

import pytest

from inboxbot.core.rules import REGISTRY
from inboxbot.errors import RuleError
from inboxbot.rulefiles import load_rules
from inboxbot.rules_edit import (
    RuleEditor,
    parse_assignments,
    parse_value,
    rule_block,
    split_rules,
)

ROLES = {"vip": "VIP", "urgent": "Urgent"}
COMMENTED = """\
# Shop rules. Every comment here must survive every edit.
# (second header line)

# A: the VIP rule
[[rule]]
name = "a"   # trailing comment on the name
when.sender = "vip"
then.tag = ["$VIP"]  # written with its $
then.move = "vip"

# B: complaints
# (two comment lines)
[[rule]]
name = "b"
when.complaint = true
# a comment inside the rule
then.tag = "complaint"

[[rule]]
name = "c"
when.channel = "supported"
then.reply = "ack"
# the end of the file
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "10-default.toml").write_text(COMMENTED, encoding="utf-8")
    return directory


def editor(directory: Path) -> RuleEditor:
    return RuleEditor(directory, ROLES, REGISTRY)


def names(directory: Path) -> list[str]:
    return [r.name for r in load_rules(directory, ROLES).rules]


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("3", 3),
        ('["a","b"]', ["a", "b"]),
        ('{after="promise", to="staff"}', {"after": "promise", "to": "staff"}),
        ('"quoted"', "quoted"),
        ("*@bigco.example", "*@bigco.example"),
        ("vip", "vip"),
        ("re:order\\s+\\d+", "re:order\\s+\\d+"),
        ("2026-12-24", "2026-12-24"),  # a date is text here
        ("nan", "nan"),
        ("inf", "inf"),
        ("", ""),
    ],
)
def test_parse_value(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_parse_assignments_collects_repeated_keys() -> None:
    assert parse_assignments(["complaint=true", "tag=vip", "tag=urgent", "from=a=b"], "--x") == {
        "complaint": True,
        "tag": ["vip", "urgent"],
        "from": "a=b",
    }


@pytest.mark.parametrize("item", ["complaint", "=true", " =x"])
def test_parse_assignments_needs_key_and_value(item: str) -> None:
    with pytest.raises(RuleError, match="KEY=VALUE"):
        parse_assignments([item], "--when")


def test_rule_block_is_valid_toml_with_the_values() -> None:
    block = rule_block(
        'say "hi"',
        {"from": "*@x.example", "header": {"name": "X-A", "contains": "b"}},
        {"tag": ["a", "b"], "remind": {"after": "2d", "to": "staff"}},
        stop=True,
    )
    rule = tomllib.loads(block)["rule"][0]
    assert rule == {
        "name": 'say "hi"',
        "when": {"from": "*@x.example", "header": {"name": "X-A", "contains": "b"}},
        "then": {"tag": ["a", "b"], "remind": {"after": "2d", "to": "staff"}},
        "stop": True,
    }


# --- blocks -------------------------------------------------------------------------------


def test_split_keeps_comments_with_their_rule_and_renders_unchanged(rules_dir: Path) -> None:
    rule_file = split_rules(rules_dir / "10-default.toml", "rules/10-default.toml")
    assert rule_file.names() == ["a", "b", "c"]
    assert rule_file.blocks[1].text.startswith("# B: complaints\n# (two comment lines)\n[[rule]]")
    assert rule_file.preamble.startswith("# Shop rules.")
    assert rule_file.render() == COMMENTED


def test_split_refuses_a_file_with_a_syntax_error(rules_dir: Path) -> None:
    path = rules_dir / "10-default.toml"
    path.write_text(COMMENTED + "\n[[rule]\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(RuleError, match="not valid TOML, nothing changed"):
        split_rules(path, "rules/10-default.toml")


# --- edits --------------------------------------------------------------------------------


def test_ten_edits_keep_every_comment(rules_dir: Path) -> None:
    path = rules_dir / "10-default.toml"
    ed = editor(rules_dir)
    ed.add("d", {"subject": "refund"}, {"tag": "refund"}, before="b")
    ed.set_enabled("a", False)
    ed.move("c", before="a")
    ed.add("e", {"urgent": True}, {"move": "urgent"}, after="c")
    ed.set_enabled("a", True)
    ed.move("a", after="b")
    ed.remove("d")
    ed.set_enabled("b", False)
    ed.move("e", before="c")
    ed.remove("e")
    text = path.read_text(encoding="utf-8")
    assert sorted(comments(text)) == sorted(comments(COMMENTED))
    assert names(rules_dir) == ["c", "b", "a"]
    assert tomllib.loads(text)["rule"][1]["enabled"] is False


def test_add_positions_and_default_last(rules_dir: Path) -> None:
    ed = editor(rules_dir)
    assert "before 'b'" in ed.add("x", {}, {"tag": "x"}, before="b")
    ed.add("y", {}, {"tag": "y"}, after="a")
    ed.add("z", {}, {"tag": "z"})
    assert names(rules_dir) == ["a", "y", "x", "b", "c", "z"]


def test_add_to_a_new_file(rules_dir: Path) -> None:
    ed = editor(rules_dir)
    ed.add("first", {"urgent": True}, {"tag": "u"}, file=Path("rules/05-first.toml"))
    assert (rules_dir / "05-first.toml").read_text(encoding="utf-8").startswith("# Rules added")
    assert names(rules_dir) == ["first", "a", "b", "c"]
    assert not (rules_dir / "05-first.toml.bak").exists()


@pytest.mark.parametrize("file", ["elsewhere/x.toml", "x.txt", ".hidden.toml"])
def test_add_refuses_a_file_outside_the_rules_folder(rules_dir: Path, file: str) -> None:
    with pytest.raises(RuleError):
        editor(rules_dir).add("x", {}, {"tag": "x"}, file=Path(file))


def assert_unchanged(rules_dir: Path, call: object, match: str) -> None:
    before = {p.name: p.read_bytes() for p in rules_dir.iterdir()}
    with pytest.raises(RuleError, match=match):
        call()  # type: ignore[operator]
    assert {p.name: p.read_bytes() for p in rules_dir.iterdir()} == before


def test_refusals_leave_every_file_unchanged(rules_dir: Path) -> None:
    ed = editor(rules_dir)
    cases = [
        (lambda: ed.add("x", {"compliant": True}, {"tag": "x"}), "unknown condition 'compliant'"),
        (lambda: ed.add("x", {}, {"tagg": "x"}), "unknown action 'tagg'"),
        (lambda: ed.add("x", {"urgent": "yes"}, {"tag": "x"}), "true or false"),
        (lambda: ed.add("a", {}, {"tag": "x"}), "already exists"),
        (lambda: ed.add("x", {}, {"tag": "x"}, before="nope"), "no rule named 'nope'"),
        (lambda: ed.remove("nope"), "no rule named 'nope'"),
        (lambda: ed.set_enabled("nope", False), "no rule named 'nope'"),
        (lambda: ed.move("a", before="a"), "itself"),
        (lambda: ed.move("nope", before="a"), "no rule named 'nope'"),
        (lambda: ed.move("a"), "--before"),
    ]
    for call, match in cases:
        assert_unchanged(rules_dir, call, match)


def test_syntax_error_elsewhere_in_the_file_refuses_the_edit(rules_dir: Path) -> None:
    path = rules_dir / "10-default.toml"
    path.write_text(COMMENTED.replace('then.reply = "ack"', "then.reply = ack"), encoding="utf-8")
    assert_unchanged(rules_dir, lambda: editor(rules_dir).set_enabled("a", False), "not valid")


def test_error_in_another_file_refuses_the_edit(rules_dir: Path) -> None:
    (rules_dir / "20-other.toml").write_text(
        '[[rule]]\nname = "o"\nwhen.bogus = 1\nthen.tag = "o"\n', encoding="utf-8"
    )
    assert_unchanged(rules_dir, lambda: editor(rules_dir).remove("a"), "20-other.toml:1")


def test_edit_writes_a_backup_of_the_previous_version(rules_dir: Path) -> None:
    editor(rules_dir).remove("b")
    assert (rules_dir / "10-default.toml.bak").read_text(encoding="utf-8") == COMMENTED
    assert names(rules_dir) == ["a", "c"]


def test_enable_and_disable_are_idempotent(rules_dir: Path) -> None:
    ed = editor(rules_dir)
    assert ed.set_enabled("a", True) == "rule 'a' is already enabled"
    ed.set_enabled("a", False)
    assert ed.set_enabled("a", False) == "rule 'a' is already disabled"
    ed.set_enabled("a", True)
    assert (rules_dir / "10-default.toml").read_text(encoding="utf-8") == COMMENTED


def test_move_across_files(rules_dir: Path) -> None:
    (rules_dir / "20-more.toml").write_text(
        '# more\n\n# M\n[[rule]]\nname = "m"\nthen.tag = "m"\n', encoding="utf-8"
    )
    ed = editor(rules_dir)
    ed.move("m", before="b")
    assert names(rules_dir) == ["a", "m", "b", "c"]
    assert (rules_dir / "20-more.toml").read_text(encoding="utf-8") == "# more\n"
    assert "# M\n[[rule]]\nname = \"m\"" in (rules_dir / "10-default.toml").read_text("utf-8")


def test_concurrent_edits_each_see_the_one_before(rules_dir: Path) -> None:
    ed = editor(rules_dir)
    errors: list[BaseException] = []

    def add(i: int) -> None:
        try:
            ed.add(f"rule {i}", {"subject": f"s{i}"}, {"tag": f"t{i}"})
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(names(rules_dir)) == sorted(["a", "b", "c", *(f"rule {i}" for i in range(12))])
    assert sorted(comments((rules_dir / "10-default.toml").read_text("utf-8"))) == sorted(
        comments(COMMENTED)
    )


def test_a_rules_file_saved_with_a_byte_order_mark_is_read_and_edited(rules_dir: Path) -> None:
    # Notepad saves UTF-8 with a BOM: "not valid TOML ... (at line 1, column 1)" before.
    path = rules_dir / "10-default.toml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert names(rules_dir) == ["a", "b", "c"]
    editor(rules_dir).set_enabled("b", False)
    assert [r.enabled for r in load_rules(rules_dir, ROLES).rules] == [True, False, True]
