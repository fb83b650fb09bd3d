"""`inboxbot channels ...`: the addresses the shop does not support ([channels].unsupported),
whose mail is answered with a pointer to [shop].address, and the help page named in it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from inboxbot.cli.common import ConfigOption, JsonOption, errors_to_exit, load, print_json
from inboxbot.cli.output import print_table, success
from inboxbot.errors import ConfigError

channels_app = typer.Typer(
    # "\\[": Typer renders help as rich markup, where a bare "[channels]" would vanish
    help="Addresses customers should not use (\\[channels] in config.toml) and the help URL.",
    no_args_is_help=True,
)

HelpUrlOption = Annotated[
    str | None,
    typer.Option(
        "--help-url",
        help="also set the help page named in redirects, e.g. --help-url https://shop.example/help",
    ),
]


@channels_app.command("list")
@errors_to_exit
def channels_list(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """The supported address, the unsupported ones and the help URL.

    Example: inboxbot channels list --json
    """
    settings = load(config)
    data = {
        "supported": settings.shop.address,
        "unsupported": list(settings.channels.unsupported),
        "help_url": settings.channels.help_url,
        "forward": settings.channels.forward,
    }
    if json_output:
        print_json(data)
        return
    rows = [["supported", settings.shop.address]]
    rows += [["unsupported", address] for address in settings.channels.unsupported]
    rows.append(["help_url", settings.channels.help_url or "(none)"])
    print_table(("channel", "address"), rows)


@channels_app.command("add")
@errors_to_exit
def channels_add(
    address: Annotated[
        str | None,
        typer.Argument(
            help="an address customers should not write to, e.g. sales@shop.example",
            metavar="ADDRESS",
        ),
    ] = None,
    help_url: HelpUrlOption = None,
    config: ConfigOption = None,
) -> None:
    """Mark an address as unsupported: its mail is redirected to the support address.
    With --help-url (and no address) only the help page changes.

    Example: inboxbot channels add sales@shop.example --help-url https://shop.example/help
    """
    if address is None and help_url is None:
        raise typer.BadParameter("give an ADDRESS, --help-url, or both")
    success(_edit(load(config), address, help_url, add=True))


@channels_app.command("remove")
@errors_to_exit
def channels_remove(
    address: Annotated[
        str,
        typer.Argument(help="an unsupported address, e.g. sales@shop.example", metavar="ADDRESS"),
    ],
    config: ConfigOption = None,
) -> None:
    """Stop redirecting mail to an address (it is then treated like any other).

    Example: inboxbot channels remove sales@shop.example
    """
    success(_edit(load(config), address, None, add=False))


def _edit(settings: Any, address: str | None, help_url: str | None, *, add: bool) -> str:
    """One edit of config.toml for both changes, so either both happen or neither does."""
    import tomlkit

    from inboxbot.config_edit import edit

    entry = address.strip().lower() if address else None
    if entry is not None:
        _check_address(entry, settings, add=add)
    if help_url is not None:
        _check_url(help_url)

    def change(document: Any) -> str:
        if "channels" not in document:
            document["channels"] = tomlkit.table()
        table = document["channels"]
        said = []
        if entry is not None:
            said.append(_change_list(table, entry, add=add, path=settings.path))
        if help_url is not None:
            table["help_url"] = help_url
            said.append(f"set [channels].help_url = {help_url!r}")
        return "; ".join(said)

    return edit(settings.path, change)


def _change_list(table: Any, entry: str, *, add: bool, path: Any) -> str:
    import tomlkit

    values = table.get("unsupported")
    if values is None:
        values = tomlkit.array()
        table["unsupported"] = values
    existing = [str(v).lower() for v in values]
    if add:
        if entry in existing:
            return f"{entry} is already in [channels].unsupported"
        values.append(entry)
        return f"added {entry} to [channels].unsupported"
    if entry not in existing:
        raise ConfigError(f"{path}: {entry} is not in [channels].unsupported; nothing changed")
    del values[existing.index(entry)]
    return f"removed {entry} from [channels].unsupported"


def _check_address(entry: str, settings: Any, *, add: bool) -> None:
    if "@" not in entry or " " in entry:
        raise ConfigError(f"{entry!r} is not an e-mail address; e.g. sales@shop.example")
    if add and entry == settings.shop.address.lower():
        raise ConfigError(
            f"{entry} is [shop].address, the supported channel; it cannot also be unsupported"
        )


def _check_url(url: str) -> None:
    if url and not url.startswith(("https://", "http://")):
        raise ConfigError(f"--help-url {url!r}: use a web address like https://shop.example/help")
