"""A shop configured against the real Dovecot and aiosmtpd of the test session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from inboxbot.config import Config, load_config
from inboxbot.defaults import defaults_dir

CONFIG = """
[imap]
host = "{imap_host}"
port = {imap_port}
security = "plain"
username = "{user}"
password = "{password}"
timeout = 10

[smtp]
host = "{smtp_host}"
port = {smtp_port}
security = "plain"

[shop]
name = "Example Shop"
address = "support@shop.example"
own_addresses = ["info@shop.example"]
signature = "Anna and Jonas from Example Shop"

[hours]
timezone = "Europe/Berlin"
holidays = "DE"

[autoreply]
per_sender = "4d"
max_per_hour = {max_per_hour}

[channels]
unsupported = ["sales@shop.example"]
help_url = "https://shop.example/help"

[vip]
domains = ["bigcustomer.example"]
"""


@dataclass
class Shop:
    directory: Path
    dovecot: Any
    sink: Any

    @property
    def config_path(self) -> Path:
        return self.directory / "config.toml"

    def write(self, *, max_per_hour: int = 1000, extra: str = "") -> Config:
        text = (
            CONFIG.format(
                imap_host=self.dovecot.host,
                imap_port=self.dovecot.port,
                user=self.dovecot.username,
                password=self.dovecot.password,
                smtp_host=self.sink.host,
                smtp_port=self.sink.port,
                max_per_hour=max_per_hour,
            )
            + extra
        )
        self.config_path.write_text(text, encoding="utf-8")
        return self.config()

    def config(self) -> Config:
        return load_config(self.config_path)

    def folder(self, name: str) -> dict[int, dict[str, Any]]:
        """uid -> {"flags": set of str, "subject": str} for every message in a folder."""
        client = self.dovecot.client()
        try:
            client.select_folder(name, readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)]"])
        finally:
            client.logout()
        result = {}
        for uid, item in data.items():
            flags = {f.decode() if isinstance(f, bytes) else str(f) for f in item[b"FLAGS"]}
            header = next(v for k, v in item.items() if k.startswith(b"BODY"))
            result[uid] = {"flags": flags, "header": header.decode(errors="replace")}
        return result


@pytest.fixture
def shop(tmp_path: Path, dovecot: Any, smtp_sink: Any) -> Iterator[Shop]:
    shutil.copytree(defaults_dir("rules"), tmp_path / "rules")
    shutil.copytree(defaults_dir("replies"), tmp_path / "replies")
    instance = Shop(tmp_path, dovecot, smtp_sink)
    instance.write()
    yield instance
