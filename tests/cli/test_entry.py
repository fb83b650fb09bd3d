"""The entry point reads a plain `run` command line itself and leaves the rest to Typer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inboxbot.cli.entry import RunArgs, parse_run


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["run"], RunArgs()),
        (["run", "--once", "-c", "x.toml"], RunArgs(config=Path("x.toml"), once=True)),
        (["--debug", "run", "--config=x.toml", "--dry-run", "--log-format", "json"],
         RunArgs(config=Path("x.toml"), dry_run=True, log_format="json", debug=True)),
        (["run", "--log-format=json", "--config", "a b.toml"],
         RunArgs(config=Path("a b.toml"), log_format="json")),
    ],
)
def test_plain_run_command_lines(argv: list[str], expected: RunArgs) -> None:
    assert parse_run(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [], ["--help"], ["run", "--help"], ["check"], ["run", "--once", "--once"],
        ["run", "-c"], ["run", "-c", "--once"], ["run", "--config="], ["run", "-cx.toml"],
        ["run", "-c", "a", "--config", "b"], ["run", "extra"], ["--debug"], ["run", "--onc"],
        ["run", "--log-format", "xml"], ["run", "--log-format=JSON"],
    ],
)
def test_everything_else_goes_to_typer(argv: list[str]) -> None:
    assert parse_run(argv) is None


def _inboxbot(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inboxbot", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=60)


def test_both_paths_report_a_bad_config_the_same(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[imap]\nhost = "h"\n')
    fast = _inboxbot("run", "--dry-run", "-c", "config.toml", cwd=tmp_path)
    # A repeated flag is no plain command line: Typer parses this one (and accepts it).
    typer = _inboxbot("run", "--dry-run", "--dry-run", "-c", "config.toml", cwd=tmp_path)
    assert fast.returncode == typer.returncode == 1
    assert fast.stderr == typer.stderr
    assert fast.stderr.startswith("error: config.toml: [shop] is missing")


def test_run_help_still_comes_from_typer(tmp_path: Path) -> None:
    done = _inboxbot("run", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "--once" in done.stdout


def test_an_unknown_log_format_is_a_usage_error(tmp_path: Path) -> None:
    done = _inboxbot("run", "--log-format", "xml", cwd=tmp_path)
    assert done.returncode == 2
    assert "Invalid value for '--log-format'" in done.stderr and "'xml'" in done.stderr
