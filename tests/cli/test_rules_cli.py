"""`inboxbot rules add|remove|enable|disable|move` and `inboxbot channels` through CliRunner:
edits keep comments, refusals leave files untouched (exit 1), usage errors exit 2, concurrent
edits from separate processes all land."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from inboxbot.cli.app import app

ENV = {
    "INBOXBOT_IMAP_PASSWORD": "imap-secret-xyz",
    "INBOXBOT_SMTP_PASSWORD": "smtp-secret-xyz",
    "INBOXBOT_CONFIG": None,
    "NO_COLOR": "1",
    "COLUMNS": "200",
}


def invoke(args: Sequence[str]) -> Result:
    return CliRunner(env=ENV).invoke(app, list(args))


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    directory = tmp_path / "shop"
    assert invoke(["init", str(directory)]).exit_code == 0
    return directory


def run(shop: Path, *args: str) -> Result:
    return invoke([*args, "--config", str(shop / "config.toml")])


def rules(shop: Path) -> list[dict[str, object]]:
    result = run(shop, "rules", "list", "--json")
    assert result.exit_code == 0, result.output
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data


def names(shop: Path) -> list[str]:
    return [str(r["name"]) for r in rules(shop)]


def comments(text: str) -> list[str]:
    return sorted(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)


def snapshot(shop: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((shop / "rules").iterdir())}


def one_error(result: Result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]


# --- add ------------------------------------------------------------------------------------


def test_add_with_conditions_actions_and_position(shop: Path) -> None:
    default = shop / "rules" / "10-default.toml"
    before = default.read_text(encoding="utf-8")
    result = run(
        shop, "rules", "add", "bigco", "--when", "complaint=true",
        "--when", "from=*@bigco.example", "--then", "move=vip", "--then", "tag=vip",
        "--then", "tag=urgent", "--before", "complaints",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "added rule 'bigco' to rules/10-default.toml before 'complaints'" in result.output
    order = names(shop)
    assert order.index("bigco") == order.index("complaints") - 1
    rule = next(r for r in rules(shop) if r["name"] == "bigco")
    assert rule["when"] == {"complaint": True, "from": "*@bigco.example"}
    assert rule["then"] == [
        {"type": "move", "folder": "VIP"},
        {"type": "tag", "keyword": "$VIP"},
        {"type": "tag", "keyword": "$Urgent"},
    ]
    after = default.read_text(encoding="utf-8")
    assert comments(after) == comments(before)
    assert (shop / "rules" / "10-default.toml.bak").read_text(encoding="utf-8") == before


def test_add_toml_values_and_after_and_stop(shop: Path) -> None:
    result = run(
        shop, "rules", "add", "late orders", "--when", 'subject=["late", "where is"]',
        "--then", 'remind={after="2d", to="staff"}', "--stop", "--after", "vip",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rule = next(r for r in rules(shop) if r["name"] == "late orders")
    assert rule["when"] == {"subject": ["late", "where is"]}
    assert rule["then"] == [{"type": "remind", "after": "2d", "to": "staff", "kind": "sla"}]
    assert rule["stop"] is True
    assert names(shop)[1] == "late orders"


def test_add_to_a_new_file_applies_in_file_order(shop: Path) -> None:
    result = run(shop, "rules", "add", "first", "--then", "tag=x", "--file", "rules/05-first.toml")
    assert result.exit_code == 0, result.output
    assert names(shop)[0] == "first"
    assert (shop / "rules" / "05-first.toml").is_file()


def test_add_unknown_condition_is_refused_and_nothing_changes(shop: Path) -> None:
    before = snapshot(shop)
    result = run(shop, "rules", "add", "x", "--when", "compliant=true", "--then", "tag=x")
    one_error(result, "unknown condition 'compliant'", "complaint", "nothing changed")
    assert snapshot(shop) == before


def test_add_duplicate_name_is_refused(shop: Path) -> None:
    before = snapshot(shop)
    one_error(run(shop, "rules", "add", "vip", "--then", "tag=x"), "'vip' already exists")
    assert snapshot(shop) == before


def test_add_bad_value_is_refused_with_the_rule_and_line(shop: Path) -> None:
    before = snapshot(shop)
    result = run(shop, "rules", "add", "x", "--when", "urgent=yes", "--then", "tag=x")
    one_error(result, "rules/10-default.toml:", "rule 'x'", "true or false")
    assert snapshot(shop) == before


def test_syntax_error_elsewhere_in_the_file_refuses_every_edit(shop: Path) -> None:
    default = shop / "rules" / "10-default.toml"
    default.write_text(default.read_text("utf-8") + "\n[[rule]\nname = 'broken'\n", "utf-8")
    before = snapshot(shop)
    for args in (
        ["add", "x", "--then", "tag=x"],
        ["remove", "vip"],
        ["disable", "vip"],
        ["move", "vip", "--after", "complaints"],
    ):
        one_error(run(shop, "rules", *args), "10-default.toml", "not valid TOML")
        assert snapshot(shop) == before


@pytest.mark.parametrize(
    "args",
    [
        ["add", "x"],  # no action
        ["add", "x", "--then", "tag"],  # not KEY=VALUE
        ["add", "x", "--then", "tag=x", "--before", "vip", "--after", "vip"],
        ["add"],
        ["move", "vip"],  # no position
        ["move", "vip", "--before", "acknowledge", "--after", "complaints"],
        ["remove"],
        ["enable"],
    ],
)
def test_usage_errors_exit_2(shop: Path, args: list[str]) -> None:
    before = snapshot(shop)
    assert run(shop, "rules", *args).exit_code == 2
    assert snapshot(shop) == before


# --- remove / enable / disable / move -------------------------------------------------------


def test_remove(shop: Path) -> None:
    result = run(shop, "rules", "remove", "complaints")
    assert result.exit_code == 0, result.output
    assert "complaints" not in names(shop)


def test_remove_a_missing_rule_is_refused(shop: Path) -> None:
    before = snapshot(shop)
    one_error(run(shop, "rules", "remove", "nope"), "no rule named 'nope'")
    assert snapshot(shop) == before


def test_disable_and_enable(shop: Path) -> None:
    default = shop / "rules" / "10-default.toml"
    original = default.read_text(encoding="utf-8")
    assert run(shop, "rules", "disable", "acknowledge").exit_code == 0
    ack = next(r for r in rules(shop) if r["name"] == "acknowledge")
    assert ack["enabled"] is False
    again = run(shop, "rules", "disable", "acknowledge")
    assert again.exit_code == 0 and "already disabled" in again.output
    assert run(shop, "rules", "enable", "acknowledge").exit_code == 0
    assert default.read_text(encoding="utf-8") == original
    one_error(run(shop, "rules", "enable", "nope"), "'nope'")


def test_move_keeps_the_comment_with_its_rule(shop: Path) -> None:
    default = shop / "rules" / "10-default.toml"
    result = run(shop, "rules", "move", "vip", "--after", "acknowledge")
    assert result.exit_code == 0, result.output
    assert names(shop)[-1] == "vip"
    text = default.read_text(encoding="utf-8")
    assert text.rstrip().endswith('then.move = "vip"')
    comment = "# 1. VIP customers ([vip] addresses and domains) get their own folder"
    assert text.index(comment) > text.index('name = "acknowledge"')
    assert run(shop, "rules", "move", "vip", "--before", "vip complaints").exit_code == 0
    assert names(shop)[:2] == ["vip", "vip complaints"]


def test_move_missing_rule_or_anchor(shop: Path) -> None:
    one_error(run(shop, "rules", "move", "nope", "--before", "vip"), "'nope'")
    one_error(run(shop, "rules", "move", "vip", "--before", "nope"), "'nope'")


def test_ten_cli_edits_keep_every_comment(shop: Path) -> None:
    default = shop / "rules" / "10-default.toml"
    before = comments(default.read_text(encoding="utf-8"))
    edits = [
        ["add", "a1", "--when", "urgent=true", "--then", "tag=a1", "--before", "complaints"],
        ["disable", "vip"],
        ["move", "acknowledge", "--before", "vip"],
        ["add", "a2", "--then", "flag=true", "--after", "a1"],
        ["enable", "vip"],
        ["move", "vip", "--after", "a2"],
        ["remove", "a1"],
        ["disable", "complaints"],
        ["move", "acknowledge", "--after", "complaints"],
        ["remove", "a2"],
    ]
    for args in edits:
        result = run(shop, "rules", *args)
        assert result.exit_code == 0, (args, result.output)
    assert comments(default.read_text(encoding="utf-8")) == before


def test_concurrent_edits_from_processes_all_land(shop: Path) -> None:
    env = {**os.environ, "INBOXBOT_CONFIG": str(shop / "config.toml"), "NO_COLOR": "1"}
    commands = [
        [sys.executable, "-m", "inboxbot", "rules", "add", f"p{i}", "--when", f"subject=s{i}",
         "--then", f"tag=t{i}"]
        for i in range(5)
    ] + [[sys.executable, "-m", "inboxbot", "rules", "disable", "acknowledge"]]  # fmt: skip
    processes = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for c in commands
    ]
    outputs = [p.communicate(timeout=60)[0].decode() for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    found = rules(shop)
    assert {f"p{i}" for i in range(5)} <= {str(r["name"]) for r in found}
    assert next(r for r in found if r["name"] == "acknowledge")["enabled"] is False


# --- list output ----------------------------------------------------------------------------


def test_list_is_plain_text_off_a_terminal(shop: Path) -> None:
    result = run(shop, "rules", "list")
    assert result.exit_code == 0
    assert result.output.splitlines()[0].split() == ["#", "name", "enabled", "when", "then", "file"]
    assert not set("│─┃━╭") & set(result.output)
    assert "\x1b[" not in result.output


# --- channels -------------------------------------------------------------------------------


def channels(shop: Path) -> dict[str, object]:
    result = run(shop, "channels", "list", "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_channels_list(shop: Path) -> None:
    data = channels(shop)
    assert data["supported"] == "support@shop.example"
    assert data["unsupported"] == ["sales@shop.example", "noreply@shop.example"]
    assert data["help_url"] == "https://shop.example/help"
    text = run(shop, "channels", "list").output
    assert "unsupported  sales@shop.example" in text


def test_channels_add_and_remove_keep_comments(shop: Path) -> None:
    config = shop / "config.toml"
    before = comments(config.read_text(encoding="utf-8"))
    result = run(shop, "channels", "add", "Info@Shop.example", "--help-url", "https://x.example/h")
    assert result.exit_code == 0, result.output
    data = channels(shop)
    assert data["unsupported"] == [
        "sales@shop.example", "noreply@shop.example", "info@shop.example"
    ]  # fmt: skip
    assert data["help_url"] == "https://x.example/h"
    assert comments(config.read_text(encoding="utf-8")) == before
    assert run(shop, "channels", "remove", "sales@shop.example").exit_code == 0
    assert channels(shop)["unsupported"] == ["noreply@shop.example", "info@shop.example"]
    assert (shop / "config.toml.bak").is_file()


def test_channels_help_url_alone(shop: Path) -> None:
    assert run(shop, "channels", "add", "--help-url", "https://shop.example/faq").exit_code == 0
    assert channels(shop)["help_url"] == "https://shop.example/faq"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["remove", "nobody@shop.example"], ["not in [channels].unsupported"]),
        (["add", "not-an-address"], ["not an e-mail address"]),
        (["add", "support@shop.example"], ["[shop].address"]),
        (["add", "--help-url", "shop.example/help"], ["https://"]),
    ],
)
def test_channels_refusals(shop: Path, args: list[str], words: list[str]) -> None:
    config = shop / "config.toml"
    before = config.read_bytes()
    one_error(run(shop, "channels", *args), *words)
    assert config.read_bytes() == before


def test_channels_add_needs_something(shop: Path) -> None:
    assert run(shop, "channels", "add").exit_code == 2


# --- help and completion --------------------------------------------------------------------

COMMANDS = [
    ["init"], ["check"], ["run"], ["demo"], ["simulate"],
    ["rules", "list"], ["rules", "show"], ["rules", "test"], ["rules", "add"],
    ["rules", "remove"], ["rules", "enable"], ["rules", "disable"], ["rules", "move"],
    ["channels", "list"], ["channels", "add"], ["channels", "remove"],
    ["vip", "list"], ["vip", "add"], ["vip", "remove"],
    ["hours", "show"], ["hours", "set"], ["hours", "next"],
    ["replies", "list"], ["replies", "preview"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = invoke([*command, "--help"])
    assert result.exit_code == 0
    assert "Example: inboxbot " in result.output


def test_shell_completion_is_installable() -> None:
    result = invoke(["--help"])
    assert "--install-completion" in result.output and "--show-completion" in result.output


# --- init -----------------------------------------------------------------------------------


def config_of(directory: Path) -> dict[str, object]:
    import tomllib

    data: dict[str, object] = tomllib.loads((directory / "config.toml").read_text("utf-8"))
    return data


def test_init_with_flags_asks_nothing_and_ends_with_the_offline_check(tmp_path: Path) -> None:
    directory = tmp_path / "bluemug"
    result = invoke([
        "init", str(directory), "--name", "Blue Mug", "--address", "Support@BlueMug.de",
        "--imap-host", "gmail", "--languages", "de,en", "--hours", "10:00-18:00",
        "--holidays", "de-by",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "checking the new files (offline):" in result.output
    assert "ok    rules:" in result.output and "FAIL" not in result.output
    data: Any = config_of(directory)
    assert data["imap"]["host"] == "imap.gmail.com" and data["imap"]["security"] == "tls"
    assert data["smtp"]["host"] == "smtp.gmail.com" and data["smtp"]["security"] == "tls"
    assert data["imap"]["username"] == "support@bluemug.de"
    assert data["shop"]["name"] == "Blue Mug" and data["shop"]["address"] == "support@bluemug.de"
    assert data["shop"]["languages"] == ["de", "en"] and data["shop"]["default_language"] == "de"
    assert data["shop"]["own_addresses"] == ["info@bluemug.de", "sales@bluemug.de"]
    assert data["channels"]["unsupported"] == ["sales@bluemug.de", "noreply@bluemug.de"]
    assert data["vip"] == {"addresses": [], "domains": []}
    assert data["hours"]["timezone"] == "Europe/Berlin" and data["hours"]["holidays"] == "DE-BY"
    assert data["hours"]["mon"] == "10:00-18:00" and data["hours"]["sat"] == "closed"
    text = (directory / "config.toml").read_text("utf-8")
    assert "# the supported channel; From: of every reply" in text  # comments kept


def test_init_guesses_servers_zone_and_language_from_the_address(tmp_path: Path) -> None:
    result = invoke(["init", str(tmp_path / "s"), "--address", "help@kaffe.se"])
    assert result.exit_code == 0, result.output
    data: Any = config_of(tmp_path / "s")
    assert data["imap"]["host"] == "imap.kaffe.se" and data["smtp"]["host"] == "smtp.kaffe.se"
    assert data["hours"]["timezone"] == "Europe/Stockholm" and data["hours"]["holidays"] == "SE"
    assert data["shop"]["languages"] == ["en", "sv"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
        (["--languages", "en,fr"], "choose from en, de, sv, et"),
        (["--hours", "9 to 5"], "[hours].mon"),
    ],
)
def test_init_bad_answers_write_nothing(tmp_path: Path, args: list[str], problem: str) -> None:
    result = invoke(["init", str(tmp_path / "s"), *args])
    one_error(result, problem)
    assert not (tmp_path / "s").exists()


def test_init_on_a_terminal_asks_with_provider_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inboxbot.cli import setup

    monkeypatch.setattr(setup, "interactive", lambda: True)
    answers = "\n".join([
        "Kohvik OÜ", "abi@fastmail.com", "", "", "Europe/Tallinn", "EE", "et,en",
        "09:00-12:00,13:00-17:00", "10:00-14:00",
    ]) + "\n"  # fmt: skip
    result = CliRunner(env=ENV).invoke(app, ["init", str(tmp_path / "k")], input=answers)
    assert result.exit_code == 0, result.output
    assert "Fastmail: using its servers and ports" in result.output
    assert "IMAP server [imap.fastmail.com]" in result.output
    data: Any = config_of(tmp_path / "k")
    assert data["imap"]["host"] == "imap.fastmail.com"
    assert data["smtp"]["host"] == "smtp.fastmail.com"
    assert data["shop"]["name"] == "Kohvik OÜ" and data["shop"]["languages"] == ["et", "en"]
    assert data["hours"]["fri"] == "09:00-12:00,13:00-17:00"
    assert data["hours"]["sat"] == "10:00-14:00"
    assert data["hours"]["timezone"] == "Europe/Tallinn"


def test_init_on_a_terminal_only_asks_what_flags_do_not_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inboxbot.cli import setup

    monkeypatch.setattr(setup, "interactive", lambda: True)
    result = CliRunner(env=ENV).invoke(
        app,
        ["init", str(tmp_path / "o"), "--name", "O", "--address", "a@outlook.com",
         "--timezone", "Europe/Berlin", "--holidays", "DE", "--languages", "en",
         "--hours", "09:00-17:00"],
        input="\n\n\n",  # IMAP, SMTP, Saturday: accept the defaults
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Shop name" not in result.output and "Time zone" not in result.output
    data: Any = config_of(tmp_path / "o")
    assert data["imap"]["host"] == "outlook.office365.com"
    assert data["smtp"]["security"] == "starttls"


@pytest.mark.parametrize(
    ("text", "imap"),
    [
        ("gmail", "imap.gmail.com"),
        ("someone@googlemail.com", "imap.gmail.com"),
        ("x@posteo.de", "posteo.de"),
        ("smtp.office365.com", "outlook.office365.com"),
        ("x@hotmail.com", "outlook.office365.com"),
        ("x@own-domain.example", None),
    ],
)
def test_provider_for(text: str, imap: str | None) -> None:
    from inboxbot.cli.setup import provider_for

    provider = provider_for(text)
    assert (provider.imap_host if provider else None) == imap
