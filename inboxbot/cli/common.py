"""What every command shares: the --config option, one-line errors, console output."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from inboxbot.errors import InboxbotError
from inboxbot.logs import setup_logging

__all__ = ["ConfigOption", "JsonOption", "State", "errors_to_exit", "load", "setup_logging"]

F = TypeVar("F", bound=Callable[..., Any])

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="config file (default: $INBOXBOT_CONFIG or ./config.toml)",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable JSON output")]


class State:
    debug = False


def errors_to_exit(fn: F) -> F:
    """InboxbotError -> one readable line on stderr and its exit code: 2 for a usage error,
    else 1 (--debug: the traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except InboxbotError as error:
            if State.debug:
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]


def load(config_path: Path | None) -> Any:
    from inboxbot.config import load_config

    return load_config(config_path)


def console(*, soft_wrap: bool = False) -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=soft_wrap)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
