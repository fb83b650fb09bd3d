"""Security, end to end through the `inboxbot` command as a shop runs it: certificates verified by
default, no cleartext passwords off the machine, no password in any output or file, private
files, and no rule or folder setting that reaches into another account."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inboxbot.cli.app import app
from inboxbot.config import load_config
from inboxbot.defaults import defaults_dir
from inboxbot.errors import ConfigError, RuleError
from inboxbot.rulefiles import load_rules
from tests.mailgen import customer_mail
from tests.smtp_sink import SINK_PASSWORD, SINK_USER

SMTP_SECRET = SINK_PASSWORD


def _config(
    root: Path,
    dovecot: Any,
    sink: Any,
    *,
    imap: str = "",
    smtp: str = "",
    password: str | None = None,
    smtp_auth: bool = False,
) -> Path:
    """A shop directory; `imap` / `smtp` are extra lines for those sections."""
    for name in ("rules", "replies"):
        if not (root / name).exists():
            shutil.copytree(defaults_dir(name), root / name)
    secret = (
        f'password = "{password if password is not None else dovecot.password}"'
        if password != "env"
        else 'password_env = "SHOP_IMAP_PASSWORD"'
    )
    smtp_login = (
        f'username = "{SINK_USER}"\npassword_env = "SHOP_SMTP_PASSWORD"' if smtp_auth else ""
    )
    if "port" not in imap:
        imap += f"\nport = {dovecot.port}"
    text = f"""
[imap]
host = "{dovecot.host}"
username = "{dovecot.username}"
{secret}
timeout = 5
{imap}

[smtp]
host = "{sink.host}"
port = {sink.port}
{smtp_login}
{smtp}

[shop]
name = "Example Shop"
address = "support@shop.example"
"""
    path = root / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _inboxbot(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "inboxbot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


# -- TLS: verification on by default, for IMAP and SMTP --------------------------------------


def test_imap_tls_is_verified_by_default(tmp_path: Path, dovecot: Any, smtp_sink: Any) -> None:
    # No `security` key: the default is TLS, and the test server's certificate is self-signed.
    config = _config(tmp_path, dovecot, smtp_sink, imap=f"port = {dovecot.tls_port}",
                     smtp='security = "plain"')  # fmt: skip
    refused = _inboxbot("check", "-c", str(config))
    assert refused.returncode == 1
    assert "certificate" in refused.stdout and "ca_file" in refused.stdout, refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr

    config = _config(tmp_path, dovecot, smtp_sink, smtp='security = "plain"',
                     imap=f'port = {dovecot.tls_port}\nca_file = "{dovecot.ca_file}"')  # fmt: skip
    trusted = _inboxbot("check", "-c", str(config))
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "(tls), logged in" in trusted.stdout


def test_imap_starttls_is_verified(tmp_path: Path, dovecot: Any, smtp_sink: Any) -> None:
    config = _config(tmp_path, dovecot, smtp_sink, smtp='security = "plain"',
                     imap=f'security = "starttls"\nport = {dovecot.port}')  # fmt: skip
    refused = _inboxbot("check", "-c", str(config))
    assert refused.returncode == 1 and "certificate" in refused.stdout, refused.stdout


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_smtp_tls_is_verified_by_default(
    tmp_path: Path, dovecot: Any, tls_files: Any, mode: str, request: pytest.FixtureRequest
) -> None:
    sink = request.getfixturevalue("smtp_sink_starttls" if mode == "starttls" else "smtp_sink_tls")
    imap = 'security = "plain"'
    security = "" if mode == "starttls" else 'security = "tls"'  # starttls is the default
    config = _config(tmp_path, dovecot, sink, imap=imap, smtp=security)
    refused = _inboxbot("check", "-c", str(config))
    assert refused.returncode == 1
    assert "FAIL  SMTP" in refused.stdout and "certificate" in refused.stdout, refused.stdout

    config = _config(tmp_path, dovecot, sink, imap=imap,
                     smtp=f'{security}\nca_file = "{tls_files.ca_file}"')  # fmt: skip
    trusted = _inboxbot("check", "-c", str(config))
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    assert "accepts us" in trusted.stdout


@pytest.mark.parametrize(
    "host", ["imap.example.com", "0.0.0.0", "::", "192.0.2.1", "localhost.example"]
)
@pytest.mark.parametrize("section", ["imap", "smtp"])
def test_plain_to_a_non_loopback_host_is_a_config_error(
    tmp_path: Path, dovecot: Any, smtp_sink: Any, host: str, section: str
) -> None:
    config = _config(tmp_path, dovecot, smtp_sink, imap='security = "plain"',
                     smtp='security = "plain"')  # fmt: skip
    text = config.read_text()
    old = f'host = "{dovecot.host if section == "imap" else smtp_sink.host}"'
    marker = f"[{section}]\n"
    head, _, rest = text.partition(marker)
    config.write_text(head + marker + rest.replace(old, f'host = "{host}"', 1))
    with pytest.raises(ConfigError, match=rf"\[{section}\]\.security"):
        load_config(config)
    if host == "imap.example.com":  # one end-to-end run: refused before any connection
        result = _inboxbot("run", "--once", "-c", str(config))
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr


# -- passwords never leave the config --------------------------------------------------------


def _everything_written(result: Any, root: Path) -> str:
    files = [p for p in root.rglob("*") if p.is_file() and "state" in p.name]
    written = "".join(p.read_text(errors="replace") for p in files)
    return result.stdout + result.stderr + written


@pytest.mark.parametrize("source", ["config", "env"])
def test_passwords_never_in_output_logs_or_state(
    tmp_path: Path, dovecot: Any, smtp_sink_auth: Any, source: str
) -> None:
    env = {"SHOP_IMAP_PASSWORD": dovecot.password, "SHOP_SMTP_PASSWORD": SMTP_SECRET}
    config = _config(
        tmp_path, dovecot, smtp_sink_auth, imap='security = "plain"', smtp='security = "plain"',
        password=None if source == "config" else "env", smtp_auth=True,
    )  # fmt: skip
    dovecot.append("INBOX", customer_mail("c@customer.example", "Hello", "Where is my order?"))
    dovecot.append("INBOX", customer_mail("d@customer.example", "Broken", "It arrived broken!"))

    checked = _inboxbot("check", "-c", str(config), env=env)
    ran = _inboxbot("run", "--once", "-c", str(config), "--log-format", "json", env=env)
    assert checked.returncode == 0 and ran.returncode == 0, checked.stdout + ran.stderr
    assert len(smtp_sink_auth.wait_for(2)) == 2, "it logged in to both servers"

    for result in (checked, ran):
        everything = _everything_written(result, tmp_path)
        assert dovecot.password not in everything
        assert SMTP_SECRET not in everything


def test_no_password_in_a_debug_traceback_of_a_failing_login(
    tmp_path: Path, dovecot: Any, smtp_sink_auth: Any
) -> None:
    wrong_imap, wrong_smtp = "Wr0ng-imap-Secret-4711", "Wr0ng-smtp-Secret-0815"
    env = {"SHOP_SMTP_PASSWORD": wrong_smtp}
    config = _config(tmp_path, dovecot, smtp_sink_auth, imap='security = "plain"',
                     smtp='security = "plain"', password=wrong_imap, smtp_auth=True)  # fmt: skip

    ran = _inboxbot("--debug", "run", "--once", "-c", str(config), env=env)
    checked = _inboxbot("--debug", "check", "-c", str(config), env=env)

    assert ran.returncode != 0 and "Traceback" in ran.stderr, ran.stderr
    assert "login" in (ran.stderr + checked.stdout).lower()
    for result in (ran, checked):
        everything = _everything_written(result, tmp_path)
        assert wrong_imap not in everything and wrong_smtp not in everything


def test_no_smtp_password_in_logs_when_smtp_login_fails_during_a_run(
    tmp_path: Path, dovecot: Any, smtp_sink_auth: Any
) -> None:
    wrong_smtp = "Wr0ng-smtp-Secret-0815"
    config = _config(tmp_path, dovecot, smtp_sink_auth, imap='security = "plain"',
                     smtp='security = "plain"\nretries = 0', smtp_auth=True)  # fmt: skip
    dovecot.append("INBOX", customer_mail("c@customer.example", "Hello", "Where is my order?"))
    ran = _inboxbot("--debug", "run", "--once", "-c", str(config),
                    env={"SHOP_SMTP_PASSWORD": wrong_smtp})  # fmt: skip
    assert "login refused" in ran.stderr, ran.stderr
    assert wrong_smtp not in _everything_written(ran, tmp_path)
    assert smtp_sink_auth.messages == []


# -- private files ---------------------------------------------------------------------------


def _umask0(*args: str, cwd: Path | None = None) -> Any:
    """Run inboxbot under umask 000, the worst a service manager might hand it."""
    code = (
        "import os, sys; os.umask(0); from inboxbot.cli.app import main; "
        "sys.argv[0] = 'inboxbot'; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
    )  # fmt: skip


def test_state_files_are_private_even_under_umask_0(
    tmp_path: Path, dovecot: Any, smtp_sink: Any
) -> None:
    config = _config(tmp_path, dovecot, smtp_sink, imap='security = "plain"',
                     smtp='security = "plain"')  # fmt: skip
    dovecot.append("INBOX", customer_mail("c@customer.example", "Hello", "Where is my order?"))
    ran = _umask0("run", "--once", "-c", str(config))
    assert ran.returncode == 0, ran.stderr
    state = [p for p in tmp_path.iterdir() if p.name.startswith("state.json")]
    assert {p.name for p in state} >= {"state.json", "state.json.lock", "state.json.journal"}
    for path in state:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path, oct(path.stat().st_mode))


def test_init_config_is_private_even_under_umask_0(tmp_path: Path) -> None:
    done = _umask0("init", str(tmp_path / "shop"))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((tmp_path / "shop" / "config.toml").stat().st_mode) == 0o600


# -- no rule or folder setting reaches another account ---------------------------------------

FOREIGN = [
    "../x",
    "INBOX/../../x",
    "#shared/x",
    "#public/x",
    "Other Users/bob/INBOX",
    "other users/bob",
    "Shared/x",
    "Shared Folders/x",
    "~bob/INBOX",
    "/var/mail/bob",
    "a//b",
    "x\r\ny",
]


@pytest.mark.parametrize("folder", FOREIGN)
@pytest.mark.parametrize("action", ["move", "copy"])
def test_rule_moving_mail_to_another_account_is_refused_at_load(
    tmp_path: Path, folder: str, action: str
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    quoted = folder.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")
    (rules / "10-x.toml").write_text(
        f'[[rule]]\nname = "spy"\nwhen.subject = "invoice"\nthen.{action} = "{quoted}"\n'
    )
    with pytest.raises(RuleError, match="spy"):
        load_rules(rules, {"quarantine": "Quarantine"})


def test_foreign_rule_stops_the_service_before_it_connects(
    tmp_path: Path, dovecot: Any, smtp_sink: Any
) -> None:
    config = _config(tmp_path, dovecot, smtp_sink, imap='security = "plain"',
                     smtp='security = "plain"')  # fmt: skip
    (tmp_path / "rules" / "20-spy.toml").write_text(
        '[[rule]]\nname = "spy"\nwhen.subject = "invoice"\nthen.copy = "Other Users/bob/INBOX"\n'
    )
    checked = CliRunner().invoke(app, ["check", "--offline", "-c", str(config)])
    assert checked.exit_code == 1 and "spy" in checked.output
    ran = _inboxbot("run", "--once", "-c", str(config))
    assert ran.returncode == 1 and "20-spy.toml" in ran.stderr
    assert not (tmp_path / "state.json").exists(), "refused before any state or connection"


@pytest.mark.parametrize("folder", ["#shared/spy", "Other Users/bob/INBOX", "../x", "~bob/x"])
@pytest.mark.parametrize("role", ["sent", "quarantine"])
def test_folder_roles_cannot_name_another_account(
    tmp_path: Path, dovecot: Any, smtp_sink: Any, folder: str, role: str
) -> None:
    config = _config(tmp_path, dovecot, smtp_sink, imap='security = "plain"',
                     smtp='security = "plain"')  # fmt: skip
    config.write_text(config.read_text() + f'\n[folders]\n{role} = "{folder}"\n')
    with pytest.raises(ConfigError, match=rf"\[folders\]\.{role}"):
        load_config(config)
