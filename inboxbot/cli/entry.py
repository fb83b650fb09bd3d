"""The `inboxbot` entry point: the daemon's own command line starts without the CLI framework.

Typer builds a pydantic validator for every parameter before any command runs (0.3-0.5 s here,
more than filing a 10,000-mail backlog with header rules takes), and cron jobs and service
managers start `inboxbot run` over and over. So a plain `run` command line (`--debug`, then `run`
with `--once`, `--dry-run`, `-c/--config FILE`, `--log-format FORMAT`) is read here and runs the
same function the Typer command calls; anything else (help, other commands, an unexpected
argument, a malformed option) goes to Typer, which parses and reports it as always.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunArgs:
    config: Path | None = None
    once: bool = False
    dry_run: bool = False
    log_format: str = "text"
    debug: bool = False


def parse_run(argv: Sequence[str]) -> RunArgs | None:
    """The arguments of a plain `run` command line, else None (Typer handles it)."""
    args = list(argv)
    debug = bool(args) and args[0] == "--debug"
    if debug:
        args.pop(0)
    if not args or args.pop(0) != "run":
        return None
    values: dict[str, object] = {}
    while args:
        arg = args.pop(0)
        name, has_value, value = arg.partition("=")
        if arg in ("--once", "--dry-run") and arg[2:] not in values:
            values[arg[2:]] = True
        elif name in ("-c", "--config", "--log-format") and name.lstrip("-") not in values:
            if not has_value:
                if not args or args[0].startswith("-"):
                    return None  # Typer says what is missing
                value = args.pop(0)
            if not value or (name == "-c" and has_value):
                return None
            if name == "--log-format" and value not in ("text", "json"):
                return None  # Typer names the choices
            values[name.lstrip("-")] = value
        else:
            return None
    config = values.get("c") or values.get("config")
    if "c" in values and "config" in values:
        return None
    return RunArgs(
        config=Path(str(config)) if config else None,
        once=bool(values.get("once")),
        dry_run=bool(values.get("dry-run")),
        log_format=str(values.get("log-format", "text")),
        debug=debug,
    )


def run_command(config: Path | None, *, once: bool, dry_run: bool, log_format: str) -> None:
    """`inboxbot run`, whichever parser read its command line."""
    from inboxbot.config import load_config
    from inboxbot.daemon import serve
    from inboxbot.logs import setup_logging

    setup_logging(fmt=log_format)
    serve(load_config(config), once=once, dry_run=dry_run)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_run(sys.argv[1:] if argv is None else argv)
    if args is None:
        from inboxbot.cli.app import app

        app()
        return
    from inboxbot.errors import InboxbotError

    try:
        run_command(args.config, once=args.once, dry_run=args.dry_run, log_format=args.log_format)
    except InboxbotError as error:  # as errors_to_exit does for the Typer commands
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
