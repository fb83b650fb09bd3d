"""Editing config.toml from the CLI: comments survive, invalid edits are refused with the file
untouched, the previous version is kept as .bak, and the file mode is kept."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inboxbot.config import load_config
from inboxbot.config_edit import edit, edit_list, set_value, write_atomically
from inboxbot.errors import ConfigError

COMMENTED = """\
# inboxbot config for the test shop  (c1)
# second header line  (c2)

[imap]  # the server  (c3)
host = "127.0.0.1"  # loopback  (c4)
security = "plain"
username = "support@shop.example"
# the password stays here in the test  (c5)
password = "pw"

[shop]
name = "Shop"  # what customers call us  (c6)
address = "support@shop.example"
languages = [
  "en",  # first  (c7)
  "de",  # second  (c8)
]

# hours section comment  (c9)
[hours]
timezone = "Europe/Berlin"
mon = "09:00-17:00"  # monday  (c10)
fri = "09:00-12:00,13:00-16:00"  # split shifts  (c11)

[vip]
addresses = [
  "anna@bigcustomer.example",  # our biggest customer  (c12)
]
# domains below  (c13)
domains = ["bigcustomer.example"]  # whole company  (c14)

# last words  (c15)
"""
COMMENTS = [f"(c{i})" for i in range(1, 16)]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED, encoding="utf-8")
    os.chmod(path, 0o600)
    load_config(path)  # the starting point is valid
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_ten_edits_keep_every_comment(config: Path) -> None:
    edits: list[Callable[[], str]] = [
        lambda: edit_list(config, "vip", "addresses", "x1@y.example", add=True),
        lambda: edit_list(config, "vip", "addresses", "x2@y.example", add=True),
        lambda: edit_list(config, "vip", "domains", "newco.example", add=True),
        lambda: set_value(config, "hours", "fri", "09:00-12:00"),
        lambda: set_value(config, "hours", "mon", "10:00-17:00"),
        lambda: edit_list(config, "vip", "addresses", "x1@y.example", add=False),
        lambda: set_value(config, "hours", "sat", "10:00-14:00"),
        lambda: edit_list(config, "shop", "languages", "sv", add=True),
        lambda: set_value(config, "promise", "vip", "30m"),
        lambda: edit_list(config, "vip", "domains", "newco.example", add=False),
    ]
    for change in edits:
        change()
        text = config.read_text(encoding="utf-8")
        missing = [c for c in COMMENTS if c not in text]
        assert missing == []
    settings = load_config(config)
    assert settings.vip.addresses == ("anna@bigcustomer.example", "x2@y.example")
    assert settings.vip.domains == ("bigcustomer.example",)
    assert settings.shop.languages == ("en", "de", "sv")
    assert settings.hours.week["mon"][0][0].hour == 10
    assert settings.hours.week["sat"] != ()
    assert settings.promise.vip.total_seconds() == 1800
    text = config.read_text(encoding="utf-8")
    # comments stay on the lines they describe
    assert 'mon = "10:00-17:00"  # monday  (c10)' in text
    assert 'fri = "09:00-12:00"  # split shifts  (c11)' in text
    assert '"anna@bigcustomer.example",  # our biggest customer  (c12)' in text
    assert leftovers(config.parent) == []


def test_edit_returns_a_summary(config: Path) -> None:
    assert edit_list(config, "vip", "addresses", "x@y.example", add=True) == (
        "added x@y.example to [vip].addresses")
    assert edit_list(config, "vip", "addresses", "x@y.example", add=True) == (
        "x@y.example is already in [vip].addresses")
    assert edit_list(config, "vip", "addresses", "x@y.example", add=False) == (
        "removed x@y.example from [vip].addresses")
    assert set_value(config, "hours", "sun", "closed") == "set [hours].sun = 'closed'"


def test_new_section_and_key_are_created(config: Path) -> None:
    edit_list(config, "channels", "unsupported", "sales@shop.example", add=True)
    assert load_config(config).channels.unsupported == ("sales@shop.example",)
    assert all(c in config.read_text(encoding="utf-8") for c in COMMENTS)


INVALID: list[tuple[str, Callable[[Path], Any], str]] = [
    ("bad hours", lambda p: set_value(p, "hours", "mon", "25:00-26:00"), "[hours].mon"),
    ("unknown key", lambda p: set_value(p, "shop", "adress", "x@y.example"), "[shop].adress"),
    ("unknown section", lambda p: set_value(p, "shopp", "name", "x"), "[shopp]"),
    ("bad address", lambda p: edit_list(p, "vip", "addresses", "not-an-address", add=True),
     "[vip].addresses"),
    ("wrong type", lambda p: set_value(p, "imap", "port", "993"), "[imap].port"),
    ("remove absent", lambda p: edit_list(p, "vip", "addresses", "nobody@x.example", add=False),
     "nobody@x.example"),
    ("default language not offered", lambda p: set_value(p, "shop", "default_language", "sv"),
     "[shop].default_language"),
    ("plain to a remote host", lambda p: set_value(p, "imap", "host", "192.0.2.1"),
     "[imap].security"),
]


@pytest.mark.parametrize(("change", "names"), [c[1:] for c in INVALID],
                         ids=[c[0] for c in INVALID])
def test_invalid_edit_leaves_the_file_byte_identical(config: Path, change: Callable[[Path], Any],
                                                     names: str) -> None:
    before = config.read_bytes()
    with pytest.raises(ConfigError) as caught:
        change(config)
    assert names in str(caught.value)
    assert str(config) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert config.read_bytes() == before
    assert not config.with_name("config.toml.bak").exists()
    assert leftovers(config.parent) == []


def test_change_that_raises_writes_nothing(config: Path) -> None:
    before = config.read_bytes()

    def change(document: Any) -> str:
        document["vip"]["domains"].append("half.example")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        edit(config, change)
    assert config.read_bytes() == before


def test_unparseable_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[imap\nhost = 1\n", encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        set_value(path, "hours", "mon", "closed")
    assert "not valid TOML, nothing changed" in str(caught.value)
    assert path.read_bytes() == before


def test_backup_holds_the_previous_version(config: Path) -> None:
    backup = config.with_name("config.toml.bak")
    set_value(config, "hours", "mon", "10:00-17:00")
    assert backup.read_text(encoding="utf-8") == COMMENTED
    after_first = config.read_text(encoding="utf-8")
    set_value(config, "hours", "mon", "11:00-17:00")
    assert backup.read_text(encoding="utf-8") == after_first
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    load_config(backup)  # a backup can be put back as it is


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
def test_file_mode_is_kept(config: Path, mode: int) -> None:
    os.chmod(config, mode)
    edit_list(config, "vip", "domains", "newco.example", add=True)
    assert stat.S_IMODE(config.stat().st_mode) == mode


def test_write_atomically_creates_private_files(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    write_atomically(path, "x = 1\n")
    assert path.read_text(encoding="utf-8") == "x = 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.with_name("new.toml.bak").exists()
    assert leftovers(tmp_path) == []


def test_symlinked_config_stays_a_symlink(config: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.toml"
    link.symlink_to(config)
    edit_list(link, "vip", "domains", "newco.example", add=True)
    assert link.is_symlink()
    assert load_config(config).vip.domains == ("bigcustomer.example", "newco.example")


def test_a_file_saved_with_a_byte_order_mark_is_read_and_edited(config: Path) -> None:
    # Notepad saves UTF-8 with a BOM; it made config.toml "not valid TOML: Invalid statement
    # (at line 1, column 1)", with nothing to say what to fix.
    config.write_bytes(b"\xef\xbb\xbf" + config.read_bytes())
    assert load_config(config).shop.name == "Shop"
    edit_list(config, "vip", "domains", "newco.example", add=True)
    assert "newco.example" in load_config(config).vip.domains
    assert "(c14)" in config.read_text(encoding="utf-8")
