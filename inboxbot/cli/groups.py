"""Command groups: vip, hours, replies; rules (cli/rules.py) and channels (cli/channels.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from inboxbot.cli.common import ConfigOption, JsonOption, errors_to_exit, load, print_json
from inboxbot.errors import UsageError

# "\\[": Typer renders help as rich markup, where a bare "[vip]" is a style tag and vanishes
vip_app = typer.Typer(help="Manage VIP customers (\\[vip] in config.toml).", no_args_is_help=True)
hours_app = typer.Typer(
    help="Support hours, holidays and promised answer times.", no_args_is_help=True
)
replies_app = typer.Typer(help="Reply templates in replies/.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from inboxbot.cli.channels import channels_app
    from inboxbot.cli.reminders import reminders_app
    from inboxbot.cli.rules import rules_app

    app.add_typer(rules_app, name="rules")
    app.add_typer(channels_app, name="channels")
    app.add_typer(vip_app, name="vip")
    app.add_typer(hours_app, name="hours")
    app.add_typer(replies_app, name="replies")
    app.add_typer(reminders_app, name="reminders")


# --- vip ------------------------------------------------------------------------------------


@vip_app.command("list")
@errors_to_exit
def vip_list(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """VIP addresses and domains.  Example: inboxbot vip list"""
    settings = load(config).vip
    data = {"addresses": list(settings.addresses), "domains": list(settings.domains)}
    if json_output:
        print_json(data)
        return
    if not settings.addresses and not settings.domains:
        # An empty answer looked like a failed command.
        typer.echo("no VIP addresses or domains; add one with: inboxbot vip add ADDRESS|DOMAIN")
        return
    for address in settings.addresses:
        typer.echo(f"address  {address}")
    for domain in settings.domains:
        typer.echo(f"domain   {domain}")


@vip_app.command("add")
@errors_to_exit
def vip_add(
    entry: Annotated[
        str, typer.Argument(help="an address, or a domain (its subdomains too), e.g. x.example")
    ],
    config: ConfigOption = None,
) -> None:
    """Add a VIP address or domain.  Example: inboxbot vip add bigcustomer.example"""
    from inboxbot.config_edit import edit_list

    key, value, same = _vip_entry(entry)
    typer.echo(edit_list(load(config).path, "vip", key, value, add=True, same=same))


@vip_app.command("remove")
@errors_to_exit
def vip_remove(
    entry: Annotated[str, typer.Argument(help="an address or a domain, as `vip list` shows it")],
    config: ConfigOption = None,
) -> None:
    """Remove a VIP address or domain.  Example: inboxbot vip remove anna@x.example"""
    from inboxbot.config_edit import edit_list

    key, value, same = _vip_entry(entry)
    typer.echo(edit_list(load(config).path, "vip", key, value, add=False, same=same))


def _vip_entry(entry: str) -> tuple[str, str, Callable[[str], str]]:
    """The [vip] list an entry belongs to, the entry as written there, and what makes two
    entries the same: "@x.example" and "*.x.example" are the domain x.example, as config.py
    reads [vip].domains."""
    from inboxbot.config import vip_domain

    value = entry.strip().lower()
    if "@" in value.lstrip("@"):
        return "addresses", value, str.lower
    return "domains", vip_domain(value), vip_domain


# --- hours ----------------------------------------------------------------------------------


@hours_app.command("show")
@errors_to_exit
def hours_show(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """The week in the shop's time zone and the next closures.  Example: inboxbot hours show"""
    from inboxbot.app import utc_now
    from inboxbot.core.hours import WEEKDAYS, format_day_hours

    settings = load(config).hours
    calendar = settings.calendar()
    today = utc_now().astimezone(calendar.zone).date()
    week = {day: format_day_hours(settings.week[day]) for day in WEEKDAYS}
    closures = [(d.isoformat(), why) for d, why in calendar.upcoming_closures(today, 60)]
    if json_output:
        print_json({"timezone": settings.timezone, "week": week, "closures": closures})
        return
    typer.echo(f"time zone: {settings.timezone}")
    for day, hours in week.items():
        typer.echo(f"  {day}  {hours}")
    typer.echo("closed in the next 60 days:" if closures else "no closures in the next 60 days")
    for day_text, why in closures:
        typer.echo(f"  {day_text}  {why}")


@hours_app.command("set")
@errors_to_exit
def hours_set(
    day: Annotated[str, typer.Argument(help="mon..sun")],
    spec: Annotated[str, typer.Argument(help='"09:00-17:00", "closed"...')],
    config: ConfigOption = None,
) -> None:
    """Change one weekday's hours.  Example: inboxbot hours set fri 09:00-12:00,13:00-16:00"""
    from inboxbot.config_edit import set_value
    from inboxbot.core.hours import WEEKDAYS, parse_day_hours

    if day not in WEEKDAYS:
        raise UsageError(f"{day!r} is not a weekday; use one of {', '.join(WEEKDAYS)}")
    try:
        parse_day_hours(spec)
    except ValueError as error:
        raise UsageError(f"[hours].{day}: {error}; nothing changed") from None
    typer.echo(set_value(load(config).path, "hours", day, spec))


@hours_app.command("next")
@errors_to_exit
def hours_next(
    config: ConfigOption = None,
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601 time")] = None,
    json_output: JsonOption = False,
) -> None:
    """Open now? Next opening, and the promise for each class.  Example: inboxbot hours next"""
    from inboxbot.cli.simulate import parse_at

    settings = load(config)
    calendar = settings.hours.calendar()
    now = parse_at(at)
    data = {
        "now": now.astimezone(calendar.zone).isoformat(),
        "open": calendar.is_open(now),
        "next_open": calendar.next_open(now).isoformat(),
        "promise": {
            name: calendar.add_business_time(now, settings.promise.for_class(name)).isoformat()
            for name in ("default", "urgent", "vip")
        },
    }
    if json_output:
        print_json(data)
        return
    typer.echo(f"now        {data['now']} ({'open' if data['open'] else 'closed'})")
    typer.echo(f"next open  {data['next_open']}")
    for name, when in data["promise"].items():
        typer.echo(f"promise {name:8} {when}")


# --- replies --------------------------------------------------------------------------------


@replies_app.command("list")
@errors_to_exit
def replies_list(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """Templates and their languages.  Example: inboxbot replies list"""
    from inboxbot.templates import load_templates

    templates = load_templates(load(config).paths.replies)
    data = {name: sorted(templates.languages(name)) for name in templates.names()}
    if json_output:
        print_json(data)
        return
    for name, languages in data.items():
        typer.echo(f"{name:10} {' '.join(languages)}")


@replies_app.command("preview")
@errors_to_exit
def replies_preview(
    name: Annotated[str, typer.Argument(help="template name, e.g. ack")],
    config: ConfigOption = None,
    lang: Annotated[
        str, typer.Option("--lang", help="one of \\[shop].languages: en, de, sv or et")
    ] = "en",
    at: Annotated[str | None, typer.Option("--at", help="ISO-8601 time")] = None,
    vip: Annotated[bool, typer.Option("--vip", help="as for a VIP customer")] = False,
    urgent: Annotated[bool, typer.Option("--urgent", help="as for an urgent message")] = False,
) -> None:
    """Render a template for a sample customer.  Example: inboxbot replies preview ack --lang sv"""
    from inboxbot.app import build_engine
    from inboxbot.cli.simulate import parse_at
    from inboxbot.preview import sample_triage

    settings = load(config)
    languages = settings.shop.languages
    if lang not in languages:  # the template would fall back to another language unsaid
        raise typer.BadParameter(
            f"{lang!r}: the shop replies in {', '.join(languages)} ([shop].languages)",
            param_hint="--lang",
        )
    engine = build_engine(settings)
    now = parse_at(at)
    triage = sample_triage(engine, now, language=lang, vip=vip, urgent=urgent)
    assert engine.composer is not None
    reply = engine.composer.reply(name, triage, now)
    typer.echo(f"Subject: {reply['Subject']}\nTo: {reply['To']}\n")
    typer.echo(reply.get_body(("plain",)).get_content())  # type: ignore[union-attr]
