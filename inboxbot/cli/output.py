"""Tables for list commands: rich with colour on a terminal; plain aligned text when the output
is piped or NO_COLOR is set, so scripts and logs get no box-drawing or escape codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer


def fancy() -> bool:
    return (
        sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    )


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> None:
    if fancy():
        _rich_table(columns, rows, title)
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    if title:
        typer.echo(title)
    for row in [columns, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        typer.echo("  ".join(cells).rstrip())


def _rich_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, header_style="bold cyan")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # a '[' in a name is not markup
    Console(highlight=False).print(table)


def success(text: str) -> None:
    """One line saying what changed, green on a terminal."""
    typer.secho(text, fg=typer.colors.GREEN if fancy() else None)
