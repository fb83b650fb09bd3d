"""config.toml -> frozen Config: the example parses, every default, and every error is one line
naming the file and the [section].key (DESIGN.md section 3)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from inboxbot.config import (
    SECTIONS,
    Config,
    FolderSettings,
    Secret,
    load_config,
    parse_config,
)
from inboxbot.core.hours import WEEKDAYS
from inboxbot.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "config.example.toml"
PASSWORD = "hunter2-very-secret"

IMAP = f'''[imap]
host = "imap.shop.example"
username = "support@shop.example"
password = "{PASSWORD}"
'''
SHOP = '''[shop]
name = "Shop"
address = "support@shop.example"
'''
MINIMAL = IMAP + "\n" + SHOP


def parse(text: str, path: Path = Path("/etc/inboxbot/config.toml")) -> Config:
    return parse_config(text, path)


def error_of(text: str, path: Path = Path("/etc/inboxbot/config.toml")) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, path)
    return str(caught.value)


# --- the example and the defaults ----------------------------------------------------------

def test_example_config_parses_and_keeps_what_it_says() -> None:
    config = load_config(EXAMPLE)
    assert config.path == EXAMPLE
    assert (config.imap.host, config.imap.port, config.imap.security) == (
        "imap.example.com", 993, "tls")
    assert config.imap.password is not None
    assert config.imap.password.source == "password_env INBOXBOT_IMAP_PASSWORD"
    assert config.smtp is not None
    assert (config.smtp.port, config.smtp.security) == (587, "starttls")
    assert config.shop.languages == ("en", "de", "sv", "et")
    assert config.shop.own_addresses == ("info@shop.example", "sales@shop.example")
    assert config.hours.timezone == "Europe/Berlin"
    assert config.hours.week["fri"] == ((time(9), time(12)), (time(13), time(16)))
    assert config.hours.week["sat"] == ()
    assert config.hours.closed == (date(2026, 12, 24), date(2026, 12, 31))
    assert config.hours.holidays == "DE"
    assert config.promise.vip == timedelta(hours=1)
    assert config.channels.unsupported == ("sales@shop.example", "noreply@shop.example")
    assert config.vip.is_vip("someone@eu.bigcustomer.example")
    assert config.paths.rules == EXAMPLE.parent / "rules"


def test_example_config_documents_every_section() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"[{section}]" in text, section


def _example_keys() -> list[tuple[str, str]]:
    """(section, key) of every key config.example.toml shows, set or commented out."""
    keys, section = [], ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        header = re.match(r"\[(\w+)\]", line)
        if header:
            section = header[1]
        found = re.match(r"(?:# )?([a-z_]+) = ", line)
        if found and section:
            keys.append((section, found[1]))
    return keys


def test_readme_configuration_reference_names_every_example_key() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = {m[1]: m[2] for m in re.finditer(r"^\| `\[(\w+)\]` \|(.*)$", readme, re.M)}
    missing = []
    for section, key in _example_keys():
        row = rows.get(section, "")
        # [smtp] says "password as above" for the [imap] row's three password keys
        documented = (
            f"`{key}`" in row
            or (key.startswith("password") and "password as" in row)
            or (key in WEEKDAYS and "`mon`..`sun`" in row)
        )
        if not documented:
            missing.append(f"[{section}].{key}")
    assert missing == []


def test_every_example_key_is_parsed() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for _section, key in _example_keys():  # uncomment each key: none is unknown
        text = re.sub(rf"^# ({key} = )", r"\1", text, flags=re.M)
    text = re.sub(r'^(ca_file|lexicons|notifiers) = .*$', "", text, flags=re.M)  # files
    assert parse(text).smtp is not None


def test_config_is_frozen() -> None:
    config = parse(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.shop = config.shop  # type: ignore[misc]


def test_every_default() -> None:
    path = Path("/srv/shop/config.toml")
    config = parse(MINIMAL, path)
    imap = config.imap
    assert (imap.port, imap.security, imap.watch, imap.timeout, imap.ca_file) == (
        993, "tls", "INBOX", 30.0, None)
    assert config.smtp is None
    shop = config.shop
    assert shop.own_addresses == ()
    assert shop.languages == ("en", "de", "sv", "et")
    assert shop.default_language == "en"
    assert shop.signature == "The Shop team"
    assert shop.domain == "shop.example"
    assert config.folders == FolderSettings()
    assert config.folders.roles() == {"vip": "VIP", "urgent": "Urgent", "resolved": "Resolved",
                                      "sent": "Sent", "quarantine": "Quarantine",
                                      "channel": "Channels"}
    hours = config.hours
    assert hours.timezone == "UTC"
    for day in ("mon", "tue", "wed", "thu", "fri"):
        assert hours.week[day] == ((time(9), time(17)),), day
    assert hours.week["sat"] == hours.week["sun"] == ()
    assert (hours.holidays, hours.closed) == (None, ())
    assert (config.promise.default, config.promise.urgent, config.promise.vip) == (
        timedelta(hours=8), timedelta(hours=2), timedelta(hours=1))
    assert config.promise.for_class("vip") == timedelta(hours=1)
    assert config.promise.for_class("anything") == timedelta(hours=8)
    assert (config.autoreply.per_sender, config.autoreply.max_per_hour,
            config.autoreply.envelope_sender) == (timedelta(days=4), 100, "")
    channels = config.channels
    assert (channels.unsupported, channels.help_url, channels.forward, channels.notifiers) == (
        (), "", False, ())
    assert (config.vip.addresses, config.vip.domains) == ((), ())
    assert (config.reminders.notify, config.reminders.check_in_after) == (
        "", timedelta(hours=48))
    triage = config.triage
    assert (triage.complaint_threshold, triage.repeat_complaints, triage.repeat_days,
            triage.history_days, triage.lexicons) == (None, 3, 90, 365, None)
    assert config.paths.rules == Path("/srv/shop/rules")
    assert config.paths.replies == Path("/srv/shop/replies")
    assert config.paths.state == Path("/srv/shop/state.json")


@pytest.mark.parametrize(("security", "imap_port", "smtp_port"), [
    ("tls", 993, 465), ("starttls", 143, 587),
])
def test_default_ports_follow_security(security: str, imap_port: int, smtp_port: int) -> None:
    text = (IMAP.replace("[imap]\n", f'[imap]\nsecurity = "{security}"\n') + SHOP
            + f'[smtp]\nhost = "smtp.shop.example"\nsecurity = "{security}"\n')
    config = parse(text)
    assert config.imap.port == imap_port
    assert config.smtp is not None and config.smtp.port == smtp_port


def test_smtp_without_username_needs_no_password() -> None:
    config = parse(MINIMAL + '[smtp]\nhost = "relay.shop.example"\n')
    assert config.smtp is not None
    assert (config.smtp.username, config.smtp.password, config.smtp.security) == (
        "", None, "starttls")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "127.0.0.53"])
def test_plain_is_allowed_to_loopback(host: str) -> None:
    text = MINIMAL.replace('host = "imap.shop.example"', f'host = "{host}"\nsecurity = "plain"')
    config = parse(text)
    assert (config.imap.security, config.imap.port) == ("plain", 143)


def test_addresses_and_vip_domains_are_normalised() -> None:
    text = MINIMAL.replace('"support@shop.example"\n', '"Support@Shop.Example"\n') + (
        '[vip]\naddresses = ["Anna@BigCustomer.Example"]\ndomains = ["*.bigco.example", '
        '"@other.example"]\n')
    config = parse(text)
    assert config.shop.address == "support@shop.example"
    assert config.vip.addresses == ("anna@bigcustomer.example",)
    assert config.vip.domains == ("bigco.example", "other.example")
    assert config.vip.is_vip("x@dept.bigco.example")
    assert not config.vip.is_vip("x@notbigco.example")


def test_overdue_folder_is_a_folder_role_or_a_name() -> None:
    config = parse(MINIMAL + '[folders]\nurgent = "Support/Urgent"\n'
                   '[reminders]\noverdue_folder = "urgent"\n')
    assert config.reminders.overdue_target(config.folders) == "Support/Urgent"
    named = parse(MINIMAL + '[reminders]\noverdue_folder = "Late"\n')
    assert named.reminders.overdue_target(named.folders) == "Late"
    assert parse(MINIMAL).reminders.overdue_target(named.folders) == ""


def test_reminders_notify_may_be_mailbox() -> None:
    config = parse(MINIMAL + '[reminders]\nnotify = "mailbox"\n')
    assert config.reminders.notify == "mailbox"


# --- errors: one line, naming the file and [section].key --------------------------------------

def _replace(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new)


BAD = [
    # (id, config text, what the message must name)
    ("unknown section", MINIMAL + '[shopp]\nname = "x"\n', "[shopp]"),
    ("unknown key", _replace('name = "Shop"', 'name = "Shop"\nadress = "x@shop.example"'),
     "[shop].adress"),
    ("unknown imap key", _replace('[imap]\n', '[imap]\nhots = "x"\n'), "[imap].hots"),
    ("unknown key in optional section", MINIMAL + "[promise]\nvpi = \"1h\"\n", "[promise].vpi"),
    ("section not a table", "imap = 5\n" + SHOP, "[imap]"),
    ("missing imap", SHOP, "[imap]"),
    ("missing shop", IMAP, "[shop]"),
    ("missing host", _replace('host = "imap.shop.example"\n', ""), "[imap].host"),
    ("missing username", _replace('username = "support@shop.example"\n', ""),
     "[imap].username"),
    # replies then said "thank you for getting in touch with !" and were signed "The  team"
    ("blank shop name", _replace('name = "Shop"', 'name = "  "'), "[shop].name"),
    ("missing shop address", _replace('address = "support@shop.example"\n', ""),
     "[shop].address"),
    ("port is a string", _replace("[imap]\n", '[imap]\nport = "993"\n'), "[imap].port"),
    ("port is a bool", _replace("[imap]\n", "[imap]\nport = true\n"), "[imap].port"),
    ("timeout is a string", _replace("[imap]\n", '[imap]\ntimeout = "30s"\n'),
     "[imap].timeout"),
    ("timeout zero", _replace("[imap]\n", "[imap]\ntimeout = 0\n"), "[imap].timeout"),
    ("timeout negative", _replace("[imap]\n", "[imap]\ntimeout = -1\n"), "[imap].timeout"),
    ("smtp timeout negative", MINIMAL + '[smtp]\nhost = "smtp.shop.example"\ntimeout = -5\n',
     "[smtp].timeout"),
    ("languages is a string", _replace('[shop]\n', '[shop]\nlanguages = "en"\n'),
     "[shop].languages"),
    ("list with a number", MINIMAL + '[vip]\naddresses = ["a@b.example", 5]\n',
     "[vip].addresses"),
    ("bool is a string", MINIMAL + '[channels]\nforward = "yes"\n', "[channels].forward"),
    ("max_per_hour is a bool", MINIMAL + "[autoreply]\nmax_per_hour = true\n",
     "[autoreply].max_per_hour"),
    ("max_per_hour negative", MINIMAL + "[autoreply]\nmax_per_hour = -1\n",
     "[autoreply].max_per_hour"),
    ("repeat_days zero", MINIMAL + "[triage]\nrepeat_days = 0\n", "[triage].repeat_days"),
    ("bad security", _replace("[imap]\n", '[imap]\nsecurity = "ssl"\n'), "[imap].security"),
    ("plain to a remote host", _replace('host = "imap.shop.example"',
                                        'host = "192.0.2.10"\nsecurity = "plain"'),
     "[imap].security"),
    ("plain smtp to a remote host",
     MINIMAL + '[smtp]\nhost = "198.51.100.7"\nsecurity = "plain"\n', "[smtp].security"),
    ("port zero", _replace("[imap]\n", "[imap]\nport = 0\n"), "[imap].port"),
    ("port too big", _replace("[imap]\n", "[imap]\nport = 70000\n"), "[imap].port"),
    ("smtp port negative", MINIMAL + '[smtp]\nhost = "smtp.shop.example"\nport = -25\n',
     "[smtp].port"),
    ("duration without unit", MINIMAL + '[autoreply]\nper_sender = "4"\n',
     "[autoreply].per_sender"),
    ("duration word", MINIMAL + '[reminders]\ncheck_in_after = "soon"\n',
     "[reminders].check_in_after"),
    ("duration as a number", MINIMAL + "[promise]\ndefault = 8\n", "[promise].default"),
    ("negative duration", MINIMAL + '[promise]\nurgent = "-2h"\n', "[promise].urgent"),
    ("repeated unit", MINIMAL + '[promise]\nvip = "1h 2h"\n', "[promise].vip"),
    ("hours without minutes", MINIMAL + '[hours]\nmon = "9-5"\n', "[hours].mon"),
    ("hours out of range", MINIMAL + '[hours]\nfri = "25:00-26:00"\n', "[hours].fri"),
    ("hours backwards", MINIMAL + '[hours]\ntue = "17:00-09:00"\n', "[hours].tue"),
    ("hours overlap", MINIMAL + '[hours]\nwed = "09:00-12:00,11:00-13:00"\n', "[hours].wed"),
    ("hours empty", MINIMAL + '[hours]\nsun = ""\n', "[hours].sun"),
    ("unknown weekday", MINIMAL + '[hours]\nmonday = "09:00-17:00"\n', "[hours].monday"),
    ("unknown time zone", MINIMAL + '[hours]\ntimezone = "Mars/Olympus_Mons"\n',
     "[hours].timezone"),
    ("unknown holiday country", MINIMAL + '[hours]\nholidays = "XX"\n', "[hours].holidays"),
    ("bad closed date", MINIMAL + '[hours]\nclosed = ["24.12.2026"]\n', "[hours].closed"),
    ("closed date with a time", MINIMAL + "[hours]\nclosed = [2026-12-24T00:00:00]\n",
     "[hours].closed"),
    ("the server's zone", MINIMAL + '[hours]\ntimezone = "localtime"\n', "[hours].timezone"),
    ("unsupported language", _replace("[shop]\n", '[shop]\nlanguages = ["en", "fr"]\n'),
     "[shop].languages"),
    ("default language not offered",
     _replace("[shop]\n", '[shop]\nlanguages = ["en", "de"]\ndefault_language = "sv"\n'),
     "[shop].default_language"),
    ("two password sources",
     _replace(f'password = "{PASSWORD}"', f'password = "{PASSWORD}"\npassword_env = "PW"'),
     "[imap].password_env"),
    ("password and command",
     _replace(f'password = "{PASSWORD}"',
              f'password = "{PASSWORD}"\npassword_command = "pass show x"'),
     "[imap].password_command"),
    ("no password source", _replace(f'password = "{PASSWORD}"\n', ""), "[imap].password_env"),
    ("smtp user without password",
     MINIMAL + '[smtp]\nhost = "smtp.shop.example"\nusername = "u"\n', "[smtp].password_env"),
    ("password_env not a string", _replace(f'password = "{PASSWORD}"', "password_env = 1"),
     "[imap].password_env"),
    ("shop address not an address", _replace('address = "support@shop.example"',
                                             'address = "support"'), "[shop].address"),
    ("shop address without dot", _replace('address = "support@shop.example"',
                                          'address = "support@localhost"'), "[shop].address"),
    ("bad own address", _replace("[shop]\n", '[shop]\nown_addresses = ["info at shop"]\n'),
     "[shop].own_addresses"),
    ("bad unsupported address", MINIMAL + '[channels]\nunsupported = ["sales"]\n',
     "[channels].unsupported"),
    ("bad vip address", MINIMAL + '[vip]\naddresses = ["<anna@x.example>"]\n',
     "[vip].addresses"),
    ("bad notify address", MINIMAL + '[reminders]\nnotify = "owner"\n', "[reminders].notify"),
    ("bad envelope sender", MINIMAL + '[autoreply]\nenvelope_sender = "bounces"\n',
     "[autoreply].envelope_sender"),
    ("folder with wildcard", MINIMAL + '[folders]\nvip = "VIP*"\n', "[folders].vip"),
    ("overdue folder outside the account", MINIMAL + '[reminders]\noverdue_folder = "../x"\n',
     "[reminders].overdue_folder"),
    ("blank folder", MINIMAL + '[folders]\nurgent = "  "\n', "[folders].urgent"),
    ("missing ca_file", _replace("[imap]\n", '[imap]\nca_file = "/nonexistent/ca.pem"\n'),
     "[imap].ca_file"),
    # these two were found only when the engine was built, named by path alone
    ("missing lexicons folder", MINIMAL + '[triage]\nlexicons = "words"\n', "[triage].lexicons"),
    ("missing notifier file", MINIMAL + '[channels]\nnotifiers = ["robots.toml"]\n',
     "[channels].notifiers"),
]


@pytest.mark.parametrize(("text", "names"), [case[1:] for case in BAD],
                         ids=[case[0] for case in BAD])
def test_bad_config_is_one_line_naming_file_and_key(text: str, names: str) -> None:
    path = Path("/etc/inboxbot/config.toml")
    message = error_of(text, path)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert names in message
    assert PASSWORD not in message


def test_invalid_toml_names_file_and_line() -> None:
    text = MINIMAL + "\n[hours\nmon = 1\n"
    line = MINIMAL.count("\n") + 2
    message = error_of(text)
    assert "\n" not in message
    assert message.startswith("/etc/inboxbot/config.toml: ")
    assert f"line {line}" in message


def test_unknown_key_lists_the_known_keys() -> None:
    message = error_of(MINIMAL + "[promise]\nvpi = \"1h\"\n")
    assert "default" in message and "urgent" in message and "vip" in message


def test_typo_of_a_required_key_names_the_typo() -> None:
    message = error_of(_replace('address = "support@shop.example"',
                                'adress = "support@shop.example"'))
    assert "[shop].adress" in message


@pytest.mark.parametrize("typo", ["pasword", "passwrd_env", "password_comand"])
def test_typo_of_the_password_key_names_the_typo(typo: str) -> None:
    # The password source is required, so a misspelt one used to be reported as
    # "[imap].password_env is missing", naming a key the user never wrote.
    key = {"pasword": "password", "passwrd_env": "password_env"}.get(typo, "password_command")
    message = error_of(_replace(f'password = "{PASSWORD}"', f'{typo} = "x"'))
    assert f"[imap].{typo} is not a known key; did you mean {key}?" in message


def test_relative_ca_file_is_relative_to_the_config(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = parse_config(_replace("[imap]\n", '[imap]\nca_file = "ca.pem"\n'),
                          tmp_path / "config.toml")
    assert config.imap.ca_file is not None
    assert Path(config.imap.ca_file) == tmp_path / "ca.pem"


def test_load_config_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "inboxbot init" in str(caught.value)


def test_load_config_uses_inboxbot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shop.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    monkeypatch.setenv("INBOXBOT_CONFIG", str(path))
    assert load_config().path == path


# --- secrets --------------------------------------------------------------------------------

def _with_source(line: str) -> str:
    return _replace(f'password = "{PASSWORD}"', line)


def test_password_env_is_read_when_revealed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_IMAP_PW", PASSWORD)
    config = parse(_with_source('password_env = "SHOP_IMAP_PW"'))
    assert config.imap.password is not None
    assert config.imap.password.reveal() == PASSWORD
    monkeypatch.setenv("SHOP_IMAP_PW", "rotated")
    assert config.imap.password.reveal() == "rotated"


def test_password_env_unset_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHOP_IMAP_PW_UNSET", raising=False)
    config = parse(_with_source('password_env = "SHOP_IMAP_PW_UNSET"'))  # parsing does not read
    assert config.imap.password is not None
    with pytest.raises(ConfigError) as caught:
        config.imap.password.reveal()
    message = str(caught.value)
    assert "SHOP_IMAP_PW_UNSET" in message
    assert "[imap].password_env" in message
    assert "\n" not in message


@pytest.mark.parametrize(("command", "expected"), [
    ("printf secret", "secret"),
    (f"echo {PASSWORD}", PASSWORD),
    ("printf 'two words\\n\\n'", "two words"),
])
def test_password_command_output_is_the_password(command: str, expected: str) -> None:
    config = parse(_with_source(f'password_command = "{command}"'))
    assert config.imap.password is not None
    assert config.imap.password.source == "password_command"
    assert config.imap.password.reveal() == expected


@pytest.mark.parametrize("command", ["false", "/nonexistent/password-helper"])
def test_password_command_failure_is_a_config_error(command: str) -> None:
    config = parse(_with_source(f'password_command = "{command}"'))
    assert config.imap.password is not None
    with pytest.raises(ConfigError) as caught:
        config.imap.password.reveal()
    assert "[imap].password_command" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("source", [
    f'password = "{PASSWORD}"',
    'password_env = "SHOP_IMAP_PW"',
    f'password_command = "printf {PASSWORD}"',
])
def test_secret_never_appears_in_repr_or_str(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_IMAP_PW", PASSWORD)
    text = _with_source(source) + (
        f'[smtp]\nhost = "smtp.shop.example"\nusername = "u"\npassword = "{PASSWORD}"\n')
    config = parse(text)
    assert config.imap.password is not None and config.smtp is not None
    assert config.imap.password.reveal() == PASSWORD  # it is there ...
    for shown in (repr(config), str(config), repr(config.imap), str(config.smtp),
                  repr(config.imap.password), str(config.imap.password),
                  f"{config.smtp.password}", repr([config.imap.password])):
        assert PASSWORD not in shown  # ... but never shown
    assert "Secret(" in repr(config.imap)


def test_secret_repr_names_only_its_source() -> None:
    secret = Secret("password_env FOO", lambda: PASSWORD)
    assert repr(secret) == str(secret) == "Secret(password_env FOO)"
