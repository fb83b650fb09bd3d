"""Operations: one log line per action with the message's Message-ID, `--log-format json` for log
collectors, and the systemd unit in contrib/ (Restart=on-failure, hardening). SIGTERM during a
backlog is in test_faults.test_sigterm_during_a_backlog_stops_within_5s."""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.mailgen import KINDS

UNIT = Path(__file__).parents[2] / "contrib" / "inboxbot.service"


def _inboxbot(shop: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inboxbot", *args, "-c", str(shop.config_path)],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def _planned(shop: Any, made: dict[str, bytes]) -> dict[str, Counter[str]]:
    """Message-ID -> the actions `simulate` says will run (not skipped), counted by type."""
    for name, raw in made.items():
        (shop.directory / f"{name}.eml").write_bytes(raw)
    result = _inboxbot(shop, "simulate", *(str(shop.directory / f"{n}.eml") for n in made),
                       "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {
        item["message_id"]: Counter(a["type"] for a in item["actions"] if not a.get("skipped"))
        for item in json.loads(result.stdout)
    }


def test_json_log_has_one_line_per_action_with_the_message_id(shop) -> None:
    shop.write()
    made = {kind: KINDS[kind](i).raw for i, kind in enumerate(KINDS)}
    planned = _planned(shop, made)
    for raw in made.values():
        shop.dovecot.append("INBOX", raw)

    ran = _inboxbot(shop, "run", "--once", "--log-format", "json")

    assert ran.returncode == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stderr.splitlines()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    logged: dict[str, Counter[str]] = {}
    for line in lines:
        if "action" in line:
            assert line["message_id"] in line["message"]  # also in the text, for grep
            logged.setdefault(line["message_id"], Counter())[line["action"]] += 1
    ids = {email.message_from_bytes(raw)["Message-ID"] for raw in made.values()}
    assert set(planned) == ids
    assert sum(map(len, planned.values())) >= 8, planned  # tags, moves, replies, reminders
    for message_id in ids:
        assert logged.get(message_id, Counter()) == planned[message_id], message_id


def test_text_log_names_the_message_id_of_each_action(shop) -> None:
    shop.write()
    raw = KINDS["urgent"](1).raw
    shop.dovecot.append("INBOX", raw)

    ran = _inboxbot(shop, "run", "--once")

    assert ran.returncode == 0, ran.stderr
    message_id = email.message_from_bytes(raw)["Message-ID"]
    actions = [line for line in ran.stderr.splitlines() if message_id in line]
    kinds = {re.search(rf"{re.escape(message_id)}: (\w+) ", line)[1] for line in actions}
    assert kinds == {"tag", "move", "reply", "remind"}, actions


# -- the systemd unit ----------------------------------------------------------------------------


def _unit() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_systemd_unit_restarts_on_failure_and_is_hardened() -> None:
    unit = _unit()
    assert unit["Restart"] == ["on-failure"]
    assert unit["KillSignal"] == ["SIGTERM"]
    # systemd must wait longer than inboxbot needs to finish the message in hand (< 5 s).
    assert int(unit["TimeoutStopSec"][0].rstrip("s")) > 5
    assert "run" in unit["ExecStart"][0].split() and "--log-format json" in unit["ExecStart"][0]
    assert unit["User"] != ["root"] and unit["UMask"] == ["0077"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
        "MemoryDenyWriteExecute": "yes",
    }.items():
        assert unit.get(key) == [value], key
    assert unit["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert unit["ReadWritePaths"] == ["/var/lib/inboxbot"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_unit_is_valid(tmp_path: Path) -> None:
    # verify wants the executables to exist; the unit names the installed path.
    unit = tmp_path / "inboxbot.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/inboxbot", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0 and "inboxbot.service" not in result.stderr, result.stderr


def test_the_units_command_lines_are_accepted_by_the_cli() -> None:
    for command in (*_unit()["ExecStart"], *_unit()["ExecStartPre"]):
        args = command.split()[1:]
        result = subprocess.run(
            [sys.executable, "-m", "inboxbot", *args, "--help"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, (command, result.stderr)
