"""The `inboxbot` command through Typer's CliRunner: init, check, simulate, rules, vip, hours,
replies and demo (DESIGN.md section 3: exit 0 ok, 1 check failed / bad config, 2 usage)."""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from inboxbot.cli.app import app
from inboxbot.config import load_config
from inboxbot.defaults import data_dir

DEMO = data_dir("demo")
ENV = {
    "INBOXBOT_IMAP_PASSWORD": "imap-secret-xyz",
    "INBOXBOT_SMTP_PASSWORD": "smtp-secret-xyz",
    "INBOXBOT_CONFIG": None,
    "COLUMNS": "220",
}
AUTOMATED_DEMO = ("15-newsletter.eml", "16-bounce-mailer-daemon.eml", "17-de-out-of-office.eml",
                  "18-dhl-shipping-noreply.eml", "19-marketplace-sale-notification.eml")
MONDAY = "2026-11-23T10:00+01:00"
FRIDAY_EVENING = "2026-11-27T18:00+01:00"
DEFAULT_RULES = ["vip", "vip complaints", "channel notifications", "unsupported channel",
                 "urgent complaints", "complaints", "angry tone", "chronic complainer",
                 "acknowledge"]


def invoke(args: Sequence[str], env: dict[str, str | None] | None = None) -> Result:
    return CliRunner(env={**ENV, **(env or {})}).invoke(app, list(args))


def error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    directory = tmp_path / "shop"
    result = invoke(["init", str(directory)])
    assert result.exit_code == 0, result.output
    return directory


def run(shop: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    return invoke([*args, "--config", str(shop / "config.toml")], env)


# --- init -----------------------------------------------------------------------------------

def test_init_writes_a_private_config_rules_and_replies(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "shop"
    result = invoke(["init", str(directory)])
    assert result.exit_code == 0, result.output
    config = directory / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert config.read_text(encoding="utf-8") == (
        Path(__file__).resolve().parents[2] / "config.example.toml").read_text(encoding="utf-8")
    assert (directory / "rules" / "10-default.toml").is_file()
    replies = sorted(p.name for p in (directory / "replies").iterdir())
    for name in ("ack", "redirect", "checkin", "reminder"):
        for language in ("en", "de", "sv", "et"):
            assert f"{name}.{language}.txt" in replies
    assert f"wrote {config}" in result.output


def test_init_refuses_to_overwrite(shop: Path) -> None:
    config = shop / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + "# mine\n", encoding="utf-8")
    (shop / "rules" / "20-mine.toml").write_text("# mine\n", encoding="utf-8")
    before = config.read_bytes()
    result = invoke(["init", str(shop)])
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert result.output.strip() == error_lines(result)[0]
    assert "--force" in result.output and str(config) in result.output
    assert config.read_bytes() == before
    assert (shop / "rules" / "20-mine.toml").exists()


def test_init_force_overwrites(shop: Path) -> None:
    config = shop / "config.toml"
    config.write_text("# broken\n", encoding="utf-8")
    (shop / "rules" / "20-mine.toml").write_text("# mine\n", encoding="utf-8")
    result = invoke(["init", str(shop), "--force"])
    assert result.exit_code == 0, result.output
    assert "[imap]" in config.read_text(encoding="utf-8")
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert sorted(p.name for p in (shop / "rules").iterdir()) == ["10-default.toml"]


# --- check ----------------------------------------------------------------------------------

def test_check_offline_on_a_new_shop(shop: Path) -> None:
    result = run(shop, "check", "--offline")
    assert result.exit_code == 0, result.output
    count = (Path(__file__).resolve().parents[2] / "rules" / "10-default.toml").read_text(
    ).count("[[rule]]")
    assert f"ok    rules: {count} enabled of {count}" in result.output
    assert "ok    replies: 4 templates" in result.output
    assert "FAIL" not in result.output
    assert "imap-secret-xyz" not in result.output


def test_check_offline_uses_inboxbot_config(shop: Path) -> None:
    result = invoke(["check", "--offline"], {"INBOXBOT_CONFIG": str(shop / "config.toml")})
    assert result.exit_code == 0, result.output
    assert f"ok    config {shop / 'config.toml'}" in result.output


def _example() -> str:
    return (Path(__file__).resolve().parents[2] / "config.example.toml").read_text(
        encoding="utf-8")


BAD_CONFIGS = [
    ("unknown section", _example() + "\n[shopp]\nname = 'x'\n", "[shopp]"),
    ("typo in a key", _example().replace("watch = ", "wacth = "), "[imap].wacth"),
    ("invalid TOML", _example() + "\n[hours\n", "line"),
    ("bad duration", _example().replace('default = "8h"', 'default = "8 hours"'),
     "[promise].default"),
    ("plain to remote", _example().replace('security = "tls"', 'security = "plain"'),
     "[imap].security"),
    ("empty file", "", "[imap]"),
]


@pytest.mark.parametrize(("text", "names"), [c[1:] for c in BAD_CONFIGS],
                         ids=[c[0] for c in BAD_CONFIGS])
@pytest.mark.parametrize("command", [["check", "--offline"], ["rules", "list"], ["vip", "list"],
                                     ["hours", "show"], ["replies", "list"]])
def test_bad_config_is_one_error_line(shop: Path, text: str, names: str,
                                      command: list[str]) -> None:
    config = shop / "config.toml"
    config.write_text(text, encoding="utf-8")
    result = run(shop, *command)
    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {config}: ")
    assert names in lines[0]
    assert "Traceback" not in result.output


def test_missing_config_file_is_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = invoke(["check", "--offline", "-c", str(missing)])
    assert result.exit_code == 1
    assert error_lines(result) == [error_lines(result)[0]]
    assert str(missing) in error_lines(result)[0]


def test_check_reports_a_bad_rule_with_file_and_line(shop: Path) -> None:
    (shop / "rules" / "20-mine.toml").write_text(
        '# mine\n[[rule]]\nname = "typo"\nwhen.compliant = true\nthen.tag = "x"\n',
        encoding="utf-8")
    result = run(shop, "check", "--offline")
    assert result.exit_code == 1
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1
    assert "rules/20-mine.toml:2: rule 'typo'" in fails[0]
    assert "'compliant'" in fails[0]


def test_check_reports_a_bad_template(shop: Path) -> None:
    (shop / "replies" / "ack.sv.txt").write_text("Subject: x\n\n{% if %}\n", encoding="utf-8")
    result = run(shop, "check", "--offline")
    assert result.exit_code == 1
    assert "ack.sv" in result.output


@pytest.mark.parametrize("args", [
    ["nosuchcommand"],
    ["hours", "set"],
    ["hours", "set", "fri"],
    ["simulate"],
    ["check", "--bogus"],
    ["rules", "show"],
    ["vip", "add"],
])
def test_usage_error_exits_2(args: list[str]) -> None:
    assert invoke(args).exit_code == 2


# --- simulate -------------------------------------------------------------------------------

def simulate(shop: Path, *paths: Path | str, at: str = MONDAY) -> list[dict[str, object]]:
    result = run(shop, "simulate", *map(str, paths), "--at", at, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def test_simulate_json_has_the_design_keys(shop: Path) -> None:
    data = simulate(shop, DEMO)
    assert [Path(str(m["source"])).name for m in data] == sorted(
        p.name for p in DEMO.glob("*.eml"))
    for item in data:
        for key in ("source", "message_id", "from", "subject", "language", "automated",
                    "complaint", "urgent", "vip", "channel", "rules", "actions"):
            assert key in item, key
        assert item["automated"] is None or isinstance(item["automated"], str)
        for key in ("complaint", "urgent", "vip"):
            assert isinstance(item[key], bool)
        assert item["channel"] in ("supported", "unsupported")
        assert item["language"] in ("en", "de", "sv", "et")
        assert isinstance(item["rules"], list)
        for action in item["actions"]:  # type: ignore[attr-defined]
            assert action["type"] in ("move", "copy", "tag", "flag", "reply", "redirect",
                                      "forward", "remind")
            if action["type"] in ("reply", "redirect"):
                for key in ("template", "language", "to", "subject", "body"):
                    assert key in action, key
            if action["type"] in ("move", "copy"):
                assert "folder" in action
            if action["type"] == "tag":
                assert str(action["keyword"]).startswith("$")
            if action["type"] == "remind":
                assert "due" in action


def _active(item: dict[str, object]) -> list[dict[str, object]]:
    return [a for a in item["actions"] if "skipped" not in a]  # type: ignore[attr-defined]


def test_simulate_never_answers_automated_demo_mail(shop: Path) -> None:
    by_name = {Path(str(m["source"])).name: m for m in simulate(shop, DEMO)}
    for name in AUTOMATED_DEMO:
        item = by_name[name]
        assert item["automated"], name
        assert not [a for a in _active(item) if a["type"] in ("reply", "redirect", "forward")]
    # and the people are answered
    for name in ("05-en-delivery-time-question.eml", "07-de-delivery-question-qp.eml",
                 "13-et-delivery-question.eml"):
        item = by_name[name]
        assert item["automated"] is None
        assert [a["type"] for a in _active(item) if a["type"] == "reply"] == ["reply"]


def test_simulate_vip_and_unsupported_channel(shop: Path) -> None:
    by_name = {Path(str(m["source"])).name: m for m in simulate(shop, DEMO)}
    vip = by_name["04-en-vip-anna-bigcustomer.eml"]
    assert vip["vip"] is True and "vip" in vip["rules"]  # type: ignore[operator]
    assert [a["folder"] for a in _active(vip) if a["type"] == "move"] == ["VIP"]
    assert any(a["type"] == "tag" and a["keyword"] == "$VIP" for a in _active(vip))
    sales = by_name["14-en-to-sales-address.eml"]
    assert sales["channel"] == "unsupported"
    assert sales["rules"] == ["unsupported channel"]
    assert [a["type"] for a in _active(sales)] == ["redirect"]
    assert "support@shop.example" in str(_active(sales)[0]["body"])


def test_simulate_at_changes_the_promise(shop: Path) -> None:
    source = DEMO / "05-en-delivery-time-question.eml"

    def reply_body(at: str) -> str:
        (item,) = simulate(shop, source, at=at)
        (reply,) = [a for a in _active(item) if a["type"] == "reply"]
        return str(reply["body"])

    monday, friday = reply_body(MONDAY), reply_body(FRIDAY_EVENING)
    assert monday != friday
    assert "24 November" in monday and "30 November" not in monday
    assert "30 November" in friday and "24 November" not in friday



def test_simulate_shows_the_due_time_the_daemon_files(shop: Path) -> None:
    """A rule's remind after = "2d" counts two business days (core.reminders.due_after), as the
    daemon files it: a complaint on Friday 11:00 is due Tuesday 11:00, not 16 open hours later."""
    rules = shop / "rules" / "10-default.toml"
    text = rules.read_text()
    assert 'then.remind = { after = "promise", to = "staff" }' in text
    rules.write_text(text.replace('after = "promise"', 'after = "2d"', 1))
    source = DEMO / "01-en-damaged-mug-complaint.eml"
    (item,) = simulate(shop, source, at="2026-11-27T11:00+01:00")
    (remind,) = [a for a in _active(item) if a["type"] == "remind"]
    assert remind["due"] == "2026-12-01T11:00:00+01:00"


def test_simulate_text_output(shop: Path) -> None:
    result = run(shop, "simulate", str(DEMO / "14-en-to-sales-address.eml"), "--at", MONDAY)
    assert result.exit_code == 0, result.output
    assert "channel: unsupported" in result.output
    assert "rules: unsupported channel" in result.output
    assert "- redirect" in result.output


@pytest.mark.parametrize(("args", "problem"), [
    (["--at", "tomorrow"], "--at"),
    (["--at", "2026-11-23T10:00"], "UTC offset"),
])
def test_simulate_bad_at(shop: Path, args: list[str], problem: str) -> None:
    result = run(shop, "simulate", str(DEMO / "06-en-praise.eml"), *args)
    assert result.exit_code == 2  # a usage error (README: exit codes)
    assert len(error_lines(result)) == 1 and problem in error_lines(result)[0]


@pytest.mark.parametrize("args", [
    ["hours", "next", "--at", "tomorrow"],
    ["rules", "test", str(DEMO / "06-en-praise.eml"), "--at", "tomorrow"],
    ["stats", "--since", "a while"],
])
def test_a_bad_option_value_is_a_usage_error(shop: Path, args: list[str]) -> None:
    # The README: 1 a check failed or the configuration is wrong, 2 usage error; a bad --at or
    # --since exited 1, as if the configuration were wrong, while a bad --in or --lang gave 2.
    result = run(shop, *args)
    assert result.exit_code == 2, result.output
    assert len(error_lines(result)) == 1 and args[-2] in error_lines(result)[0]


def test_simulate_missing_path(shop: Path) -> None:
    result = run(shop, "simulate", str(shop / "nope.eml"))
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and "nope.eml" in error_lines(result)[0]


# --- rules ----------------------------------------------------------------------------------

def test_rules_list_json(shop: Path) -> None:
    result = run(shop, "rules", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == DEFAULT_RULES
    assert [r["order"] for r in rows] == list(range(1, len(DEFAULT_RULES) + 1))
    assert all(r["enabled"] is True for r in rows)
    urgent = rows[DEFAULT_RULES.index("urgent complaints")]
    assert urgent["when"] == {"complaint": True, "urgent": True}
    assert urgent["then"] == [{"type": "tag", "keyword": "$Complaint"},
                              {"type": "tag", "keyword": "$Urgent"},
                              {"type": "move", "folder": "Urgent"}]
    assert urgent["file"].startswith("rules/10-default.toml:")
    assert rows[DEFAULT_RULES.index("unsupported channel")]["stop"] is True


def test_rules_list_table(shop: Path) -> None:
    result = run(shop, "rules", "list")
    assert result.exit_code == 0, result.output
    for name in DEFAULT_RULES:
        assert name in result.output


def test_rules_show(shop: Path) -> None:
    result = run(shop, "rules", "show", "urgent complaints")
    assert result.exit_code == 0, result.output
    assert "name: urgent complaints" in result.output
    assert "Urgent" in result.output
    as_json = json.loads(run(shop, "rules", "show", "acknowledge", "--json").stdout)
    assert as_json["then"] == [{"type": "reply", "template": "ack"}]
    assert as_json["order"] == DEFAULT_RULES.index("acknowledge") + 1


def test_rules_show_unknown(shop: Path) -> None:
    result = run(shop, "rules", "show", "nope")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and "'nope'" in error_lines(result)[0]


def test_rules_test_shows_matches_and_each_condition(shop: Path) -> None:
    result = run(shop, "rules", "test", str(DEMO / "04-en-vip-anna-bigcustomer.eml"),
                 "--at", MONDAY)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("MATCH vip  [rules/10-default.toml:") for line in lines)
    assert any(line.startswith("MATCH acknowledge") for line in lines)
    assert any(line.startswith("no    unsupported channel") for line in lines)
    assert "true  sender = 'vip' (saw: vip)" in result.output
    assert "false channel = 'unsupported' (saw: supported)" in result.output
    assert "true  automated = False (saw: false)" in result.output


def test_rules_test_json(shop: Path) -> None:
    result = run(shop, "rules", "test", str(DEMO / "16-bounce-mailer-daemon.eml"), "--json")
    assert result.exit_code == 0, result.output
    traces = {t["rule"]: t for t in json.loads(result.stdout)}
    assert list(traces) == DEFAULT_RULES
    ack = traces["acknowledge"]
    assert ack["matched"] is False
    assert {"condition": "automated", "expects": False, "holds": False, "saw": "true"} in ack[
        "conditions"]


def test_rules_test_missing_file(shop: Path) -> None:
    result = run(shop, "rules", "test", str(shop / "nope.eml"))
    assert result.exit_code == 1 and len(error_lines(result)) == 1


# --- vip ------------------------------------------------------------------------------------

def comment_lines(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def test_vip_add_then_list_keeps_comments(shop: Path) -> None:
    config = shop / "config.toml"
    before = config.read_text(encoding="utf-8")
    result = run(shop, "vip", "add", "X@Y.example")
    assert result.exit_code == 0, result.output
    assert "added x@y.example" in result.output
    assert run(shop, "vip", "add", "newco.example").exit_code == 0
    listed = json.loads(run(shop, "vip", "list", "--json").stdout)
    assert listed == {"addresses": ["anna@bigcustomer.example", "x@y.example"],
                      "domains": ["bigcustomer.example", "newco.example"]}
    after = config.read_text(encoding="utf-8")
    assert comment_lines(after) == comment_lines(before)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = run(shop, "vip", "list")
    assert "address  x@y.example" in text.output and "domain   newco.example" in text.output


def test_vip_add_twice_adds_once(shop: Path) -> None:
    assert run(shop, "vip", "add", "x@y.example").exit_code == 0
    again = run(shop, "vip", "add", "x@y.example")
    assert again.exit_code == 0 and "already" in again.output
    assert load_config(shop / "config.toml").vip.addresses.count("x@y.example") == 1


def test_vip_add_invalid_address_is_refused(shop: Path) -> None:
    config = shop / "config.toml"
    before = config.read_bytes()
    result = run(shop, "vip", "add", "x@y")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1 and "[vip].addresses" in error_lines(result)[0]
    assert config.read_bytes() == before


def test_vip_remove(shop: Path) -> None:
    result = run(shop, "vip", "remove", "anna@bigcustomer.example")
    assert result.exit_code == 0, result.output
    assert load_config(shop / "config.toml").vip.addresses == ()


def test_vip_list_of_none_says_so(shop: Path) -> None:
    assert run(shop, "vip", "remove", "anna@bigcustomer.example").exit_code == 0
    assert run(shop, "vip", "remove", "bigcustomer.example").exit_code == 0
    result = run(shop, "vip", "list")
    assert result.exit_code == 0
    assert "no VIP addresses or domains" in result.output  # it printed nothing
    assert json.loads(run(shop, "vip", "list", "--json").stdout) == {
        "addresses": [], "domains": []}


def test_vip_remove_absent_changes_nothing(shop: Path) -> None:
    config = shop / "config.toml"
    before = config.read_bytes()
    result = run(shop, "vip", "remove", "nobody@nowhere.example")
    assert result.exit_code == 1
    assert len(error_lines(result)) == 1
    assert "nobody@nowhere.example" in error_lines(result)[0]
    assert config.read_bytes() == before
    assert not (shop / "config.toml.bak").exists()


def test_vip_remove_entry_written_with_capitals(shop: Path) -> None:
    config = shop / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        '"anna@bigcustomer.example"', '"Anna@BigCustomer.example"'), encoding="utf-8")
    assert json.loads(run(shop, "vip", "list", "--json").stdout)["addresses"] == [
        "anna@bigcustomer.example"]
    result = run(shop, "vip", "remove", "anna@bigcustomer.example")
    assert result.exit_code == 0, result.output
    assert load_config(config).vip.addresses == ()


# --- hours ----------------------------------------------------------------------------------

def test_hours_set_persists(shop: Path) -> None:
    from datetime import time

    result = run(shop, "hours", "set", "fri", "09:00-12:00")
    assert result.exit_code == 0, result.output
    config = load_config(shop / "config.toml")
    assert config.hours.week["fri"] == ((time(9), time(12)),)
    assert config.hours.week["thu"] == ((time(9), time(17)),)
    assert "# split shifts are fine" in (shop / "config.toml").read_text(encoding="utf-8")
    shown = json.loads(run(shop, "hours", "show", "--json").stdout)
    assert shown["week"]["fri"] == "09:00-12:00"
    assert shown["week"]["sat"] == "closed"
    assert shown["timezone"] == "Europe/Berlin"



def test_hours_show_writes_a_shift_to_midnight_as_24_00(shop: Path) -> None:
    """What `hours show` prints can be given back to `hours set`: "18:00-00:00" would be refused."""
    for day, spec in (("sat", "18:00-24:00"), ("sun", "00:00-24:00")):
        assert run(shop, "hours", "set", day, spec).exit_code == 0
    shown = json.loads(run(shop, "hours", "show", "--json").stdout)
    assert shown["week"]["sat"] == "18:00-24:00"
    assert shown["week"]["sun"] == "00:00-24:00"
    text = run(shop, "hours", "show").stdout
    assert "sat  18:00-24:00" in text and "00:00-00:00" not in text
    assert run(shop, "hours", "set", "sat", shown["week"]["sat"]).exit_code == 0

@pytest.mark.parametrize(("day", "spec"), [
    ("fri", "25:00-26:00"), ("fri", "17:00-09:00"), ("fri", "nine to five"), ("funday", "closed"),
])
def test_hours_set_refuses_bad_input(shop: Path, day: str, spec: str) -> None:
    config = shop / "config.toml"
    before = config.read_bytes()
    result = run(shop, "hours", "set", day, spec)
    assert result.exit_code == 2  # a usage error: the command line, not the file, is wrong
    assert len(error_lines(result)) == 1
    assert config.read_bytes() == before
    if day != "funday":  # names the key it refused to write
        assert "[hours].fri" in error_lines(result)[0], error_lines(result)


def test_hours_next_json(shop: Path) -> None:
    result = run(shop, "hours", "next", "--at", FRIDAY_EVENING, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "now": "2026-11-27T18:00:00+01:00",
        "open": False,
        "next_open": "2026-11-30T09:00:00+01:00",
        "promise": {"default": "2026-11-30T17:00:00+01:00",
                    "urgent": "2026-11-30T11:00:00+01:00",
                    "vip": "2026-11-30T10:00:00+01:00"},
    }


def test_hours_next_when_open(shop: Path) -> None:
    data = json.loads(run(shop, "hours", "next", "--at", MONDAY, "--json").stdout)
    assert data["open"] is True
    assert data["promise"]["urgent"] == "2026-11-23T12:00:00+01:00"


# --- replies --------------------------------------------------------------------------------

def test_replies_list_json(shop: Path) -> None:
    result = run(shop, "replies", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        name: ["de", "en", "et", "sv"] for name in ("ack", "checkin", "redirect", "reminder")}


@pytest.mark.parametrize(("lang", "words"), [
    ("sv", ("Hej", "Tack för att du hörde av dig", "Vänliga hälsningar")),
    ("en", ("thank you for getting in touch",)),
])
def test_replies_preview(shop: Path, lang: str, words: tuple[str, ...]) -> None:
    result = run(shop, "replies", "preview", "ack", "--lang", lang, "--at", MONDAY)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Subject: ")
    for word in words:
        assert word in result.output


@pytest.mark.parametrize("lang", ["fr", "se"])
def test_replies_preview_refuses_a_language_the_shop_does_not_reply_in(shop: Path,
                                                                       lang: str) -> None:
    # --lang fr (or "se", Sweden's country code) showed the English template without a word,
    # as if that were the shop's reply in that language.
    result = run(shop, "replies", "preview", "ack", "--lang", lang)
    assert result.exit_code == 2, result.output
    assert f"'{lang}'" in result.output and "en, de, sv, et" in result.output
    assert "[shop].languages" in invoke(["replies", "preview", "--help"]).output


# --- demo -----------------------------------------------------------------------------------

def test_demo_runs_and_shows_every_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no config.toml here: the demo needs none
    result = invoke(["demo"], {"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for sample in DEMO.glob("*.eml"):
        assert sample.name in result.output
    assert "$VIP" in result.output
    assert "automated" in result.output
    assert list(tmp_path.iterdir()) == []


def test_demo_piped_is_plain_text_one_line_per_message(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The README: tables are plain aligned text when piped. The demo drew a box table, each
    # message folded over several lines, into pipes and files.
    monkeypatch.chdir(tmp_path)
    result = invoke(["demo"])
    assert result.exit_code == 0, result.output
    assert not set("┃│┏━") & set(result.output)
    for sample in DEMO.glob("*.eml"):
        assert len([x for x in result.output.splitlines() if sample.name in x]) == 1
    assert "02-en-urgent-chargeback-third-time.eml" in next(
        x for x in result.output.splitlines() if "Urgent" in x and "$Urgent" in x)


# --- customer text on the terminal, help texts -----------------------------------------------

BRACKETS = (
    "From: Jo Doe <jo@example.com>\nTo: support@shop.example\n"
    "Subject: [/x] order [urgent] broken\nMessage-ID: <brackets@example.com>\n"
    "Date: Tue, 24 Nov 2026 10:00:00 +0000\n\nHello, my mug [red]arrived broken[/red].\n"
)


def test_simulate_text_shows_customer_brackets_as_written(shop: Path, tmp_path: Path) -> None:
    # Subjects and bodies went to rich as markup: "[/x]" raised MarkupError (a traceback,
    # exit 1) and "[urgent]" or "[red]" vanished from what the owner read.
    mail = tmp_path / "brackets.eml"
    mail.write_text(BRACKETS, encoding="utf-8")
    result = run(shop, "simulate", str(mail), "--at", MONDAY)
    assert result.exit_code == 0, result.output
    assert "'[/x] order [urgent] broken'" in result.output
    assert "Re: [/x] order [urgent] broken" in result.output  # the reply's subject


def test_reminders_list_shows_subjects_as_written(shop: Path) -> None:
    from datetime import UTC, datetime

    from inboxbot.adapters.store import StateStore
    from inboxbot.core.reminders import Reminder

    now = datetime(2026, 11, 24, 10, tzinfo=UTC)
    reminder = Reminder(kind="sla", to="staff", due=now, created=now,
                        message_id="<brackets@example.com>", customer="jo@example.com",
                        subject="[/x] order [urgent] broken")
    with StateStore(load_config(shop / "config.toml").paths.state) as store:
        store.add_reminder(reminder.to_record())
        store.flush()
    result = run(shop, "reminders", "list")
    assert result.exit_code == 0, result.output
    assert "[/x] order [urgent] broken" in result.output
    assert "┃" not in result.output  # piped: plain aligned text, as the README says


def test_check_refuses_a_rule_replying_with_a_template_that_does_not_exist(shop: Path) -> None:
    # check said "ok" and the run then flagged every matching mail "reply not possible".
    (shop / "rules" / "20-mine.toml").write_text(
        '# mine\n[[rule]]\nname = "mine"\nwhen.from = "*@example.com"\nthen.reply = "ackk"\n',
        encoding="utf-8")
    result = run(shop, "check", "--offline")
    assert result.exit_code == 1, result.output
    fails = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1, result.output
    assert "rules/20-mine.toml:2: rule 'mine'" in fails[0]
    assert "'ackk'" in fails[0] and "ack, checkin, redirect, reminder" in fails[0]
    simulated = run(shop, "simulate", str(DEMO / "06-en-praise.eml"))
    assert simulated.exit_code == 1 and "'ackk'" in error_lines(simulated)[0]


def test_group_help_names_the_config_section() -> None:
    # "[vip]" was read as rich markup: the help said "Manage VIP customers ( in config.toml)."
    result = invoke(["--help"])
    assert result.exit_code == 0
    assert "([vip] in config.toml)" in result.output
    assert "([channels] in config.toml)" in result.output


@pytest.mark.parametrize(("entry", "stored"), [
    ("@other.example", "other.example"), ("*.other.example", "other.example"),
    ("Other.Example", "other.example"),
])
def test_vip_domain_forms_the_config_accepts(shop: Path, entry: str, stored: str) -> None:
    # [vip].domains reads "@other.example" and "*.other.example" as other.example; `vip add`
    # put the first into addresses (refused: not an address) and stored the second as written,
    # which `vip remove other.example` then could not find.
    added = run(shop, "vip", "add", entry)
    assert added.exit_code == 0, added.output
    assert stored in load_config(shop / "config.toml").vip.domains
    removed = run(shop, "vip", "remove", stored)  # as `vip list` shows it
    assert removed.exit_code == 0, removed.output
    assert stored not in load_config(shop / "config.toml").vip.domains
    assert "# " in (shop / "config.toml").read_text(encoding="utf-8")


def test_simulate_a_mail_with_no_address_to_answer_shows_the_skipped_reply(
    shop: Path, tmp_path: Path
) -> None:
    # A human mail whose From has no address (and no Reply-To): the run skips its reply with
    # the reason; simulate rendered the reply anyway and died with a traceback.
    mail = tmp_path / "no-address.eml"
    mail.write_bytes(b'From: "Kim" <>\r\nTo: support@shop.example\r\nSubject: Hi\r\n'
                     b"Message-ID: <na@x.example>\r\n\r\nWhere is my order?\r\n")
    (item,) = simulate(shop, mail)
    (reply,) = [a for a in item["actions"] if a["type"] == "reply"]  # type: ignore[union-attr]
    assert reply["skipped"] == "no address to reply to"
    assert "body" not in reply


# --- stats ----------------------------------------------------------------------------------

def _log_complaints(shop: Path, complaints: Sequence[tuple[str, int]]) -> None:
    """(customer, days ago) complaints in the shop's state file, as the service logs them."""
    from datetime import UTC, datetime, timedelta

    from inboxbot.adapters.store import StateStore

    now = datetime.now(UTC)
    with StateStore(shop / "state.json") as store:
        for n, (customer, days) in enumerate(complaints):
            when = now - timedelta(days=days)
            store.record_message(customer, when, True, ["damaged"])
            store.log_complaint({"at": when, "customer": customer, "message_id": f"<{n}@x>",
                                 "language": "en", "categories": ["damaged"],
                                 "cues": {"complaint": ["broken"]}, "due": when})
        store.flush()


def test_stats_repeat_complainers_are_the_customers_sender_repeat_sees(shop: Path) -> None:
    # Default [triage]: 3 complaints in 90 days make `sender = repeat`, whatever --since says.
    _log_complaints(shop, [("recent@x.example", d) for d in (1, 40, 60)]
                    + [("yearly@x.example", d) for d in (2, 150, 300)])
    last_month = json.loads(run(shop, "stats", "--json").output)
    assert last_month["total"] == 2
    assert last_month["repeat_complainers"] == {"recent@x.example": 3}
    last_year = json.loads(run(shop, "stats", "--json", "--since", "365d").output)
    assert last_year["total"] == 6
    assert last_year["repeat_complainers"] == {"recent@x.example": 3}


def test_stats_within_the_promise_counts_the_complaints_still_waiting_past_it(
    shop: Path,
) -> None:
    # Two complaints were promised an answer right away: one was answered then, one has been
    # waiting for five days. Half the promises were kept, not all of them.
    from inboxbot.adapters.store import StateStore

    _log_complaints(shop, [("a@x.example", 5), ("b@x.example", 5)])
    with StateStore(shop / "state.json") as store:
        store.update_complaint("<0@x>", answered_at=store.complaint("<0@x>")["due"])  # type: ignore[index]
        store.flush()
    result = run(shop, "stats", "--json")
    assert json.loads(result.output)["within_promise"] == 0.5
    assert "answered within the promise: 50%" in run(shop, "stats").output
