"""The `inboxbot` command. Imports are lazy so `inboxbot --help` starts fast."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from inboxbot.cli.common import ConfigOption, JsonOption, State, errors_to_exit, load


class LogFormat(StrEnum):
    text = "text"
    json = "json"


app = typer.Typer(
    name="inboxbot",
    help="Email-native support automation for one shared IMAP mailbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False,
) -> None:
    State.debug = debug


def _register_init() -> None:
    # Guided on a terminal, flags for scripts: the command lives with the set-up code.
    from inboxbot.cli.setup import init_command

    app.command("init")(init_command)


_register_init()


@app.command()
@errors_to_exit
def check(
    config: ConfigOption = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="validate files only; no network")
    ] = False,
) -> None:
    """Validate config, rules and templates; then connect to IMAP and SMTP and report.

    Example: inboxbot check --offline
    """
    from inboxbot.cli.checks import run_check

    ok = run_check(load(config), offline=offline)
    raise typer.Exit(0 if ok else 1)


@app.command()
@errors_to_exit
def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="stop after the backlog")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="change nothing, print the plan")
    ] = False,
    log_format: Annotated[LogFormat, typer.Option("--log-format", help="text or json")] = (
        LogFormat.text
    ),
) -> None:
    """Process the watched folder's backlog, then watch it with IMAP IDLE until stopped.

    Example: inboxbot run --once --dry-run
    """
    from inboxbot.cli.entry import run_command

    run_command(config, once=once, dry_run=dry_run, log_format=log_format.value)


@app.command()
@errors_to_exit
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="keep the temporary Maildir and print it")
    ] = False,
) -> None:
    """Run the real pipeline on sample mail in a temporary Maildir; no server needed.

    Example: inboxbot demo
    """
    from inboxbot.cli.demo import run_demo

    run_demo(keep=keep)


@app.command()
@errors_to_exit
def simulate(
    paths: Annotated[list[Path], typer.Argument(help=".eml files, folders of them, mbox, Maildir")],
    config: ConfigOption = None,
    at: Annotated[str | None, typer.Option("--at", help="pretend it is this ISO-8601 time")] = None,
    json_output: JsonOption = False,
) -> None:
    """Show offline what would happen to each message.

    Example: inboxbot simulate mail/complaint.eml --at 2026-12-24T18:00+01:00 --json
    """
    from inboxbot.cli.simulate import run_simulate

    run_simulate(load(config), paths, at=at, as_json=json_output)


@app.command()
@errors_to_exit
def stats(
    config: ConfigOption = None,
    since: Annotated[str, typer.Option("--since", help="how far back, e.g. 30d or 12w")] = "30d",
    json_output: JsonOption = False,
) -> None:
    """Complaints per week and category, recurring words, repeat complainers, response times.

    Example: inboxbot stats --since 12w
    """
    from inboxbot.cli.stats import show_stats
    from inboxbot.core.durations import parse_duration
    from inboxbot.errors import UsageError

    try:
        window = parse_duration(since)
    except ValueError as error:
        raise UsageError(f"--since {since!r}: {error}") from None
    show_stats(load(config), window, json_output)


def _register_groups() -> None:
    from inboxbot.cli import groups

    groups.register(app)


_register_groups()


def main() -> None:
    from inboxbot.cli.entry import main as entry_main

    entry_main()
