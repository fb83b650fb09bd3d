"""`inboxbot init`: a new shop's config.toml, rules/ and replies/ from the shipped defaults.

On a terminal it asks for what it needs (shop name, address, mail servers, time zone, holidays,
languages, hours), with defaults guessed from the address: well-known providers get their
servers and ports, a .de/.se/.ee address its time zone, holidays and language. With flags it
asks nothing, for scripts. Either way the result is validated before it is written and
finishes with the offline check.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from inboxbot.cli.common import errors_to_exit
from inboxbot.defaults import defaults_dir
from inboxbot.errors import ConfigError, InboxbotError

LANGUAGES = ("en", "de", "sv", "et")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


@dataclass(frozen=True)
class Provider:
    name: str
    imap_host: str
    smtp_host: str
    smtp_security: str = "tls"  # the ports follow: 465 for tls, 587 for starttls
    imap_security: str = "tls"


_PROVIDERS = (
    (Provider("Gmail", "imap.gmail.com", "smtp.gmail.com"), ("gmail.com", "googlemail.com")),
    (
        Provider("Outlook", "outlook.office365.com", "smtp.office365.com", "starttls"),
        ("outlook.com", "hotmail.com", "live.com", "office365.com", "outlook.de"),
    ),
    (
        Provider("Fastmail", "imap.fastmail.com", "smtp.fastmail.com"),
        ("fastmail.com", "fastmail.fm"),
    ),
    (Provider("Posteo", "posteo.de", "posteo.de"), ("posteo.de", "posteo.net")),
    (Provider("mailbox.org", "imap.mailbox.org", "smtp.mailbox.org"), ("mailbox.org",)),
    (
        Provider("GMX", "imap.gmx.net", "mail.gmx.net", "starttls"),
        ("gmx.de", "gmx.net", "gmx.com", "gmx.at"),
    ),
    (Provider("WEB.DE", "imap.web.de", "smtp.web.de", "starttls"), ("web.de",)),
    (
        Provider("iCloud", "imap.mail.me.com", "smtp.mail.me.com", "starttls"),
        ("icloud.com", "me.com", "mac.com"),
    ),
    (Provider("Yahoo", "imap.mail.yahoo.com", "smtp.mail.yahoo.com"), ("yahoo.com", "yahoo.de")),
    (Provider("Zoho", "imap.zoho.com", "smtp.zoho.com"), ("zoho.com", "zohomail.com")),
)
# Country-code domains of the four shipped languages: time zone, holidays, language.
_COUNTRIES = {
    "de": ("Europe/Berlin", "DE", "de"),
    "at": ("Europe/Vienna", "AT", "de"),
    "ch": ("Europe/Zurich", "CH", "de"),
    "se": ("Europe/Stockholm", "SE", "sv"),
    "ee": ("Europe/Tallinn", "EE", "et"),
    "uk": ("Europe/London", "GB", "en"),
    "ie": ("Europe/Dublin", "IE", "en"),
}


def provider_for(text: str) -> Provider | None:
    """A provider from an address, a domain, a server name or just its name ("gmail")."""
    text = text.strip().lower()
    domain = text.rpartition("@")[2]
    for provider, domains in _PROVIDERS:
        hosts = (provider.imap_host, provider.smtp_host)
        if domain in domains or text in hosts or text == provider.name.lower():
            return provider
        if text in (d.split(".")[0] for d in domains):
            return provider
    return None


@dataclass(frozen=True)
class Answers:
    """What the owner told us; None: keep the example's value."""

    name: str | None = None
    address: str | None = None
    imap_host: str | None = None
    smtp_host: str | None = None
    timezone: str | None = None
    holidays: str | None = None
    languages: tuple[str, ...] | None = None
    hours: str | None = None  # Monday to Friday
    saturday: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def given(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "extra")


# --- guessing defaults ----------------------------------------------------------------------


def _country(address: str) -> tuple[str, str, str] | None:
    return _COUNTRIES.get(address.rpartition(".")[2].lower())


def guess(answers: Answers) -> Answers:
    """Fill what was not answered from the address (servers, zone, holidays, languages)."""
    address = answers.address or "support@shop.example"
    domain = address.rpartition("@")[2]
    provider = provider_for(answers.imap_host or address)
    country = _country(address)
    languages = ("en", country[2]) if country and country[2] != "en" else ("en",)
    return replace(
        answers,
        imap_host=answers.imap_host or (provider.imap_host if provider else f"imap.{domain}"),
        smtp_host=answers.smtp_host or (provider.smtp_host if provider else f"smtp.{domain}"),
        timezone=answers.timezone or (country[0] if country else "Europe/Berlin"),
        holidays=answers.holidays or (country[1] if country else "DE"),
        languages=answers.languages or languages,
        hours=answers.hours or "09:00-17:00",
        saturday=answers.saturday or "closed",
    )


def parse_languages(text: str) -> tuple[str, ...]:
    languages = tuple(dict.fromkeys(p.strip().lower() for p in text.replace(" ", ",").split(",")))
    languages = tuple(lang for lang in languages if lang)
    unknown = [lang for lang in languages if lang not in LANGUAGES]
    if not languages or unknown:
        raise ConfigError(f"languages {text!r}: choose from {', '.join(LANGUAGES)} (e.g. en,de)")
    return languages


# --- the questions --------------------------------------------------------------------------


def ask(answers: Answers, prompt: Callable[..., Any] = typer.prompt) -> Answers:
    """Ask for everything not given by a flag; each default is the best guess so far."""
    typer.echo("Setting up inboxbot for your shop. Press Enter to accept a [default].\n")
    name = answers.name or prompt("Shop name", default="Example Shop")
    address = answers.address or prompt(
        "Support address customers write to", default="support@shop.example"
    )
    answers = replace(answers, name=name, address=address.strip().lower())
    guessed = guess(answers)
    provider = provider_for(answers.imap_host or address)
    if provider and not answers.imap_host:
        typer.echo(f"  {provider.name}: using its servers and ports")
    imap_host = answers.imap_host or prompt("IMAP server", default=guessed.imap_host)
    guessed = guess(replace(answers, imap_host=imap_host))
    smtp_host = answers.smtp_host or prompt("SMTP server", default=guessed.smtp_host)
    timezone = answers.timezone or prompt("Time zone", default=guessed.timezone)
    holidays = answers.holidays or prompt(
        'Public holidays of (country, e.g. "DE", "SE", "EE", "DE-BY")', default=guessed.holidays
    )
    languages = answers.languages or parse_languages(
        prompt("Reply languages (en, de, sv, et)", default=",".join(guessed.languages or ()))
    )
    hours = answers.hours or prompt(
        'Opening hours Monday to Friday ("09:00-17:00", "09:00-12:00,13:00-17:00")',
        default=guessed.hours,
    )
    saturday = answers.saturday or prompt("Saturday", default=guessed.saturday)
    return replace(
        answers,
        imap_host=imap_host.strip(),
        smtp_host=smtp_host.strip(),
        timezone=timezone.strip(),
        holidays=holidays.strip().upper(),
        languages=languages,
        hours=hours.strip(),
        saturday=saturday.strip(),
    )


# --- writing the config ---------------------------------------------------------------------


def example_config() -> str:
    for candidate in (
        defaults_dir("rules").parent / "config.example.toml",
        Path(__file__).resolve().parents[1] / "defaults" / "config.example.toml",
    ):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise InboxbotError("config.example.toml is missing from this installation; reinstall")


def customise(text: str, answers: Answers) -> str:
    """The example config with the owner's answers, comments kept (tomlkit)."""
    import tomlkit

    document: Any = tomlkit.parse(text)
    answers = guess(answers)
    address = answers.address or "support@shop.example"
    domain = address.rpartition("@")[2]
    provider = provider_for(answers.imap_host or address)
    imap, smtp, shop, hours = (document[s] for s in ("imap", "smtp", "shop", "hours"))
    imap["host"], imap["username"] = answers.imap_host, address
    smtp["host"], smtp["username"] = answers.smtp_host, address
    if provider:  # each provider's ports are the defaults of its security setting
        imap["security"], smtp["security"] = provider.imap_security, provider.smtp_security
    if answers.name:
        shop["name"] = answers.name
        shop["signature"] = f"The {answers.name} team"
    shop["address"] = address
    languages = list(answers.languages or ("en",))
    shop["languages"] = languages
    shop["default_language"] = languages[0]
    hours["timezone"], hours["holidays"] = answers.timezone, answers.holidays
    for day in WEEKDAYS:
        hours[day] = answers.hours
    hours["sat"] = answers.saturday
    hours["closed"] = tomlkit.array()
    _own_domain(document, domain)
    return tomlkit.dumps(document)


def _own_domain(document: Any, domain: str) -> None:
    """The example's shop.example addresses become the shop's own; example VIPs go."""
    if domain == "shop.example":
        return

    def swap(value: str) -> str:
        return value.replace("shop.example", domain)

    shop, channels = document["shop"], document["channels"]
    shop["own_addresses"] = [swap(str(a)) for a in shop["own_addresses"]]
    channels["unsupported"] = [swap(str(a)) for a in channels["unsupported"]]
    channels["help_url"] = f"https://{domain}/help"
    document["reminders"]["notify"] = swap(str(document["reminders"]["notify"]))
    document["vip"]["addresses"] = []
    document["vip"]["domains"] = []


def write_skeleton(
    directory: Path, *, force: bool = False, answers: Answers | None = None
) -> Iterator[str]:
    config = directory / "config.toml"
    targets = [config, directory / "rules", directory / "replies"]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        names = ", ".join(str(t) for t in existing)
        raise InboxbotError(
            f"{names} already exist; nothing was written. Use --force to "
            "overwrite them, or choose another directory"
        )
    text = example_config()
    if answers is not None and answers.given():
        from inboxbot.config import parse_config

        text = customise(text, answers)
        parse_config(text, config)  # a bad answer (time zone, hours) stops before any write
    directory.mkdir(parents=True, exist_ok=True)
    _write_private(config, text)
    yield f"wrote {config}"
    for name in ("rules", "replies"):
        target = directory / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(defaults_dir(name), target)
        yield f"wrote {target}/ ({len(list(target.iterdir()))} files)"


def _write_private(path: Path, text: str) -> None:
    """The config may hold a password, so it is created readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


# --- the command ----------------------------------------------------------------------------


def _option(flag: str, example: str, what: str) -> Any:
    return typer.Option(flag, help=f"{what}, e.g. {flag} {example}", show_default=False)


@errors_to_exit
def init_command(
    directory: Annotated[
        Path, typer.Argument(help="where to write config.toml, rules/, replies/, e.g. myshop")
    ] = Path("."),
    force: Annotated[
        bool, typer.Option("--force", help="overwrite existing files, e.g. init . --force")
    ] = False,
    name: Annotated[str | None, _option("--name", '"Blue Mug Shop"', "the shop's name")] = None,
    address: Annotated[
        str | None, _option("--address", "support@bluemug.de", "the support address")
    ] = None,
    imap_host: Annotated[
        str | None, _option("--imap-host", "imap.gmail.com", 'IMAP server (or "gmail"...)')
    ] = None,
    smtp_host: Annotated[
        str | None, _option("--smtp-host", "smtp.gmail.com", "SMTP server")
    ] = None,
    timezone: Annotated[str | None, _option("--timezone", "Europe/Berlin", "time zone")] = None,
    holidays: Annotated[
        str | None, _option("--holidays", "DE-BY", "public holidays of a country or region")
    ] = None,
    languages: Annotated[
        str | None, _option("--languages", "en,de", "reply languages among en, de, sv, et")
    ] = None,
    hours: Annotated[
        str | None, _option("--hours", "09:00-17:00", "opening hours Monday to Friday")
    ] = None,
    no_input: Annotated[
        bool,
        typer.Option("--no-input", help="ask nothing even on a terminal, e.g. init --no-input"),
    ] = False,
) -> None:
    """Write config.toml, rules/ and replies/ for a new shop, then check them offline.

    On a terminal it asks for what the flags do not say; with flags (or --no-input) it
    asks nothing.

    Example: inboxbot init myshop --name "Blue Mug" --address support@bluemug.de --imap-host gmail
    """
    answers = Answers(
        name=name,
        address=address.strip().lower() if address else None,
        imap_host=imap_host,
        smtp_host=smtp_host,
        timezone=timezone,
        holidays=holidays.upper() if holidays else None,
        languages=parse_languages(languages) if languages else None,
        hours=hours,
    )
    if answers.imap_host and (provider := provider_for(answers.imap_host)):
        answers = replace(answers, imap_host=provider.imap_host)  # "gmail" -> imap.gmail.com
    if not no_input and interactive():
        answers = ask(answers)
    for line in write_skeleton(directory, force=force, answers=answers):
        typer.echo(line)
    _final_check(directory / "config.toml")


def interactive() -> bool:
    return sys.stdin.isatty()


def _final_check(config_path: Path) -> None:
    from inboxbot.cli.checks import run_check
    from inboxbot.config import load_config

    typer.echo("\nchecking the new files (offline):")
    ok = run_check(load_config(config_path), offline=True)
    typer.echo(
        "\nnext: set the passwords (INBOXBOT_IMAP_PASSWORD, INBOXBOT_SMTP_PASSWORD or "
        "password_command in config.toml), then run `inboxbot check` to try the servers"
    )
    if not ok:
        raise typer.Exit(1)
