"""`inboxbot check` against the real servers: it logs in, lists capabilities and folders."""

from __future__ import annotations

from typer.testing import CliRunner

from inboxbot.cli.app import app


def test_check_connects_and_reports(shop) -> None:
    result = CliRunner().invoke(app, ["check", "-c", str(shop.config_path)])
    assert result.exit_code == 0, result.output
    assert "IDLE" in result.output and "MOVE" in result.output
    assert "folders to create on first run:" in result.output and "Urgent" in result.output
    assert "SMTP" in result.output and "accepts us" in result.output
    assert shop.dovecot.password not in result.output


def test_check_fails_with_one_line_when_the_password_is_wrong(shop) -> None:
    text = shop.config_path.read_text().replace(shop.dovecot.password, "wrong-password")
    shop.config_path.write_text(text)
    result = CliRunner().invoke(app, ["check", "-c", str(shop.config_path)])
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert "wrong-password" not in result.output


def test_check_fails_when_smtp_is_down(shop) -> None:
    shop.sink.stop()
    result = CliRunner().invoke(app, ["check", "-c", str(shop.config_path)])
    assert result.exit_code == 1
    assert "FAIL  SMTP" in result.output


def test_check_lists_every_folder_the_first_run_creates(shop) -> None:
    # The first run also creates the resolved folder (staff move mail there for a check-in);
    # check left it out of its list.
    result = CliRunner().invoke(app, ["check", "-c", str(shop.config_path)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "folders to create" in x)
    for folder in ("Resolved", "Sent", "Quarantine", "Urgent", "VIP"):
        assert folder in line, line
