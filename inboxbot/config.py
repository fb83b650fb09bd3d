"""config.toml -> frozen, validated settings, before any connection is made.

Every error is one line naming the file, the key and the fix; unknown keys are errors because a
typo must never silently disable a feature.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import shlex
import socket
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from inboxbot.core.durations import parse_duration
from inboxbot.core.hours import WEEKDAYS, BusinessCalendar, load_zone, parse_day_hours
from inboxbot.core.language import LANGUAGES
from inboxbot.errors import ConfigError

SUPPORTED_LANGUAGES = LANGUAGES
SECURITY_MODES = ("tls", "starttls", "plain")
_EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_DEFAULT_PORTS = {
    "imap": {"tls": 993, "starttls": 143, "plain": 143},
    "smtp": {"tls": 465, "starttls": 587, "plain": 25},
}
T = TypeVar("T")


class Secret:
    """A password that is only resolved when a connection needs it and never printed."""

    def __init__(self, source: str, resolve: Callable[[], str]) -> None:
        self.source = source  # "password", "password_env FOO" or "password_command"
        self._resolve = resolve

    def reveal(self) -> str:
        return self._resolve()

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    __str__ = __repr__


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    security: str
    username: str
    password: Secret | None
    ca_file: str | None = None
    timeout: float = 30.0
    retries: int = 5  # SMTP only: attempts after a temporary failure, with backoff


@dataclass(frozen=True)
class ImapSettings(ServerSettings):
    watch: str = "INBOX"
    # Header rules run as server SEARCHes (core.pushdown); off for servers whose SEARCH is not
    # RFC 3501's substring match (word-based full-text search, as Gmail's).
    server_search: bool = True


@dataclass(frozen=True)
class ShopSettings:
    name: str
    address: str
    own_addresses: tuple[str, ...]
    languages: tuple[str, ...]
    default_language: str
    signature: str

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def all_addresses(self) -> tuple[str, ...]:
        return (self.address, *self.own_addresses)


@dataclass(frozen=True)
class FolderSettings:
    vip: str = "VIP"
    urgent: str = "Urgent"
    resolved: str = "Resolved"
    sent: str = "Sent"
    quarantine: str = "Quarantine"
    channel: str = "Channels"

    def roles(self) -> dict[str, str]:
        return {
            "vip": self.vip,
            "urgent": self.urgent,
            "resolved": self.resolved,
            "sent": self.sent,
            "quarantine": self.quarantine,
            "channel": self.channel,
        }


@dataclass(frozen=True)
class HoursSettings:
    timezone: str
    week: Mapping[str, tuple[tuple[time, time], ...]]
    holidays: str | None
    closed: tuple[date, ...]

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.timezone, self.week, self.holidays, self.closed)


@dataclass(frozen=True)
class PromiseSettings:
    default: timedelta = timedelta(hours=8)
    urgent: timedelta = timedelta(hours=2)
    vip: timedelta = timedelta(hours=1)

    def for_class(self, name: str) -> timedelta:
        return {"vip": self.vip, "urgent": self.urgent}.get(name, self.default)


@dataclass(frozen=True)
class AutoreplySettings:
    per_sender: timedelta = timedelta(days=4)
    max_per_hour: int = 100
    envelope_sender: str = ""  # "" = the null sender <> that RFC 3834 recommends


@dataclass(frozen=True)
class ChannelSettings:
    unsupported: tuple[str, ...] = ()
    help_url: str = ""
    forward: bool = False
    notifiers: tuple[Path, ...] = ()


@dataclass(frozen=True)
class VipSettings:
    addresses: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def is_vip(self, address: str) -> bool:
        address = address.lower()
        domain = address.rpartition("@")[2]
        return address in self.addresses or any(
            domain == d or domain.endswith("." + d) for d in self.domains
        )


@dataclass(frozen=True)
class ReminderSettings:
    notify: str = ""
    check_in_after: timedelta = timedelta(hours=48)
    # A folder role of [folders] ("urgent") or a folder name: where a complaint goes when its
    # staff reminder fires unanswered. "" leaves it where it is (marked $Overdue, \Flagged).
    overdue_folder: str = ""

    def overdue_target(self, folders: FolderSettings) -> str:
        return folders.roles().get(self.overdue_folder, self.overdue_folder)


@dataclass(frozen=True)
class TriageSettings:
    complaint_threshold: float | None = None
    urgent_threshold: float | None = None
    angry_threshold: float | None = None
    repeat_complaints: int = 3
    repeat_days: int = 90
    history_days: int = 365
    lexicons: Path | None = None


@dataclass(frozen=True)
class PathSettings:
    rules: Path
    replies: Path
    state: Path


@dataclass(frozen=True)
class Config:
    path: Path
    imap: ImapSettings
    smtp: ServerSettings | None
    shop: ShopSettings
    folders: FolderSettings
    hours: HoursSettings
    promise: PromiseSettings
    autoreply: AutoreplySettings
    channels: ChannelSettings
    vip: VipSettings
    reminders: ReminderSettings
    triage: TriageSettings
    paths: PathSettings
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


class _Section:
    """Reads one table, remembering which keys were used so leftovers can be reported."""

    def __init__(self, file: Path, name: str, data: Any) -> None:
        self.file, self.name = file, name
        if not isinstance(data, dict):
            self.fail("", f"must be a table ([{name}]), not {type(data).__name__}")
        self.data: dict[str, Any] = data
        self.used: set[str] = set()

    def where(self, key: str) -> str:
        return f"[{self.name}].{key}" if key else f"[{self.name}]"

    def fail(self, key: str, problem: str) -> None:
        raise ConfigError(f"{self.file}: {self.where(key)} {problem}")

    def get(
        self,
        key: str,
        kind: type[T],
        default: T | None = None,
        *,
        required: bool = False,
        hint: str = "",
    ) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                self.missing(key, f"is missing; add it{hint}")
            return default
        value = self.data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.fail(key, f"must be {_kind_name(kind)}, got {value!r}{hint}")
        return value

    def missing(self, key: str, problem: str, *alternatives: str) -> None:
        """A required key is absent: name the user's misspelling of it when there is one, since
        the key they did write is the one they will look for."""
        wanted = (key, *alternatives)
        others = [k for k in self.data if k not in wanted]
        for name in wanted:
            near = difflib.get_close_matches(name, others, 1, 0.8)
            if near:
                self.fail(near[0], f"is not a known key; did you mean {name}?")
        self.fail(key, problem)

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        for value in values:
            if not isinstance(value, str):
                self.fail(key, f"must be a list of strings, got {value!r} in it")
        return tuple(values)

    def duration(self, key: str, default: timedelta) -> timedelta:
        text = self.get(key, str, None, hint=' such as "8h", "2d" or "90m"')
        if text is None:
            return default
        try:
            return parse_duration(text)
        except ValueError as error:
            self.fail(key, f"is not a duration: {error}")
        raise AssertionError  # unreachable: fail() raises

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.fail(unknown[0], f"is not a known key; known keys here: {known}")


def _kind_name(kind: type) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "a table",
    }.get(kind, kind.__name__)


def is_loopback(host: str) -> bool:
    """Plain (unencrypted) connections are allowed only to these hosts."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _secret(section: _Section, required: bool) -> Secret | None:
    sources = [k for k in ("password", "password_env", "password_command") if k in section.data]
    for key in ("password", "password_env", "password_command"):
        section.get(key, str)
    if len(sources) > 1:
        section.fail(sources[1], f"conflicts with {sources[0]}; keep only one password source")
    if not sources:
        if required:
            section.missing(
                "password_env",
                "is missing; set password_env (recommended), password_command or password",
                "password",
                "password_command",
            )
        return None
    key = sources[0]
    value: str = section.data[key]
    where = f"{section.file}: {section.where(key)}"
    if key == "password":
        return Secret("password", lambda: value)
    if key == "password_env":

        def from_env() -> str:
            if value not in os.environ:
                raise ConfigError(f"{where}: environment variable {value} is not set; export it")
            return os.environ[value]

        return Secret(f"password_env {value}", from_env)

    def from_command() -> str:
        try:
            done = subprocess.run(
                shlex.split(value), capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ConfigError(f"{where}: command failed to run: {error}") from None
        if done.returncode != 0:
            raise ConfigError(
                f"{where}: command exited with {done.returncode}; run it by hand to see why"
            )
        return done.stdout.rstrip("\n")

    return Secret("password_command", from_command)


def _server(section: _Section, kind: str) -> dict[str, Any]:
    default_security = "tls" if kind == "imap" else "starttls"
    security = section.get("security", str, default_security)
    if security not in SECURITY_MODES:
        section.fail("security", f'must be one of "tls", "starttls", "plain", got {security!r}')
    host = section.get("host", str, required=True, hint=' (for example host = "imap.example.com")')
    port = section.get("port", int, _DEFAULT_PORTS[kind][security])
    if not 0 < port < 65536:
        section.fail("port", f"must be between 1 and 65535, got {port}")
    if security == "plain" and not is_loopback(host):
        section.fail(
            "security",
            f'"plain" sends the password unencrypted and is only allowed to '
            f'a loopback host, not {host!r}; use "tls" or "starttls"',
        )
    username = section.get("username", str, "", required=(kind == "imap"))
    ca_file = section.get("ca_file", str, None)
    if ca_file is not None:
        ca_file = str(section.file.parent / ca_file)  # relative to config.toml, like all paths
    if ca_file is not None and not Path(ca_file).is_file():
        section.fail("ca_file", f"{ca_file!r} does not exist; give the path of a PEM CA file")
    timeout = section.get("timeout", float, 30.0)
    if timeout <= 0:  # the socket would refuse it at connect time with a misleading error
        section.fail("timeout", f"must be a number of seconds above 0, got {timeout:g}")
    values: dict[str, Any] = {}
    if kind == "smtp":
        values["retries"] = section.get("retries", int, 5)
        if not 0 <= values["retries"] <= 20:
            section.fail("retries", "must be between 0 and 20")
    password = _secret(section, required=kind == "imap" or bool(username))
    return {
        "host": host,
        "port": port,
        "security": security,
        "username": username,
        "password": password,
        "ca_file": ca_file,
        "timeout": timeout,
        **values,
    }


def _address(section: _Section, key: str, value: str) -> str:
    if not _EMAIL_RE.match(value):
        section.fail(key, f"{value!r} is not an e-mail address like support@shop.example")
    return value.lower()


def _shop(section: _Section) -> ShopSettings:
    name = section.get("name", str, required=True, hint=" (the name customers know you by)")
    if not name.strip():  # every reply names the shop and is signed with it
        section.fail("name", 'is empty; write the name customers know you by, e.g. "Blue Mug"')
    address = _address(
        section,
        "address",
        section.get("address", str, required=True, hint=" (the supported channel)"),
    )
    own = tuple(_address(section, "own_addresses", a) for a in section.strings("own_addresses"))
    languages = section.strings("languages") or SUPPORTED_LANGUAGES
    for language in languages:
        if language not in SUPPORTED_LANGUAGES:
            section.fail(
                "languages", f"has {language!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}"
            )
    default_language = section.get("default_language", str, languages[0])
    if default_language not in languages:
        section.fail(
            "default_language", f"{default_language!r} must be one of languages {list(languages)}"
        )
    signature = section.get("signature", str, f"The {name} team")
    return ShopSettings(name, address, own, tuple(languages), default_language, signature)


def _folders(section: _Section) -> FolderSettings:
    from inboxbot.core.rules import folder_problem

    defaults = FolderSettings()
    values = {}
    for role, default in defaults.roles().items():
        value = section.get(role, str, default)
        problem = folder_problem(value)
        if problem:
            section.fail(role, problem)
        values[role] = value
    return FolderSettings(**values)


def _hours(section: _Section) -> HoursSettings:
    timezone = section.get("timezone", str, "UTC")
    try:
        load_zone(timezone)
    except ValueError as error:
        section.fail("timezone", str(error))
    week: dict[str, tuple[tuple[time, time], ...]] = {}
    for day in WEEKDAYS:
        default = "closed" if day in ("sat", "sun") else "09:00-17:00"
        spec = section.get(day, str, default)
        try:
            week[day] = parse_day_hours(spec)
        except ValueError as error:
            section.fail(day, f"{error}")
    holidays = section.get("holidays", str, None) or None
    closed = []
    for value in section.get("closed", list, []):
        try:
            closed.append(_closed_date(value))
        except ValueError:
            section.fail("closed", f'has {value!r}; write dates as "2026-12-24"')
    settings = HoursSettings(timezone, week, holidays, tuple(closed))
    try:
        settings.calendar()
    except ValueError as error:
        section.fail("holidays", str(error))
    return settings


def _closed_date(value: object) -> date:
    # A TOML date-time (2026-12-24T00:00:00) is a datetime, which is a date too: refused here,
    # so the error names [hours].closed and not the calendar check that would refuse it later.
    if isinstance(value, datetime):
        raise ValueError(f"{value!r} has a time of day")
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _promise(section: _Section) -> PromiseSettings:
    d = PromiseSettings()
    return PromiseSettings(
        section.duration("default", d.default),
        section.duration("urgent", d.urgent),
        section.duration("vip", d.vip),
    )


def _autoreply(section: _Section) -> AutoreplySettings:
    d = AutoreplySettings()
    per_sender = section.duration("per_sender", d.per_sender)
    max_per_hour = section.get("max_per_hour", int, d.max_per_hour)
    if max_per_hour < 0:
        section.fail("max_per_hour", "must be 0 (no auto-replies) or more")
    envelope = section.get("envelope_sender", str, "")
    if envelope:
        envelope = _address(section, "envelope_sender", envelope)
    return AutoreplySettings(per_sender, max_per_hour, envelope)


def _channels(section: _Section, base: Path) -> ChannelSettings:
    unsupported = tuple(_address(section, "unsupported", a) for a in section.strings("unsupported"))
    help_url = section.get("help_url", str, "")
    forward = section.get("forward", bool, False)
    notifiers = tuple(base / p for p in section.strings("notifiers"))
    for path in notifiers:
        if not path.is_file():
            section.fail(
                "notifiers", f"has {str(path)!r}, which does not exist; give a notifier file's path"
            )
    return ChannelSettings(unsupported, help_url, forward, notifiers)


def vip_domain(text: str) -> str:
    """A [vip].domains entry as it is matched: "@x.example" and "*.x.example" mean x.example
    (a domain includes its subdomains anyway)."""
    return text.strip().lower().lstrip("@").lstrip("*.")


def _vip(section: _Section) -> VipSettings:
    addresses = tuple(_address(section, "addresses", a) for a in section.strings("addresses"))
    domains = tuple(vip_domain(d) for d in section.strings("domains"))
    return VipSettings(addresses, domains)


def _reminders(section: _Section) -> ReminderSettings:
    notify = section.get("notify", str, "")
    if notify and notify != "mailbox":
        notify = _address(section, "notify", notify)
    check_in_after = section.duration("check_in_after", timedelta(hours=48))
    overdue_folder = section.get("overdue_folder", str, "")
    if overdue_folder:
        from inboxbot.core.rules import folder_problem

        problem = folder_problem(overdue_folder)
        if problem:
            section.fail("overdue_folder", problem)
    return ReminderSettings(notify, check_in_after, overdue_folder)


def _triage(section: _Section, base: Path) -> TriageSettings:
    values: dict[str, Any] = {}
    for key in ("complaint_threshold", "urgent_threshold", "angry_threshold"):
        values[key] = section.get(key, float, None)
    for key, default in (("repeat_complaints", 3), ("repeat_days", 90), ("history_days", 365)):
        values[key] = section.get(key, int, default)
        if values[key] < 1:
            section.fail(key, "must be 1 or more")
    lexicons = section.get("lexicons", str, None)
    values["lexicons"] = base / lexicons if lexicons else None
    if values["lexicons"] is not None and not values["lexicons"].is_dir():
        section.fail(
            "lexicons", f"{str(values['lexicons'])!r} is not a folder; create it or remove the key"
        )
    return TriageSettings(**values)


def _paths(section: _Section, base: Path) -> PathSettings:
    return PathSettings(
        base / section.get("rules", str, "rules"),
        base / section.get("replies", str, "replies"),
        base / section.get("state", str, "state.json"),
    )


SECTIONS = (
    "imap",
    "smtp",
    "shop",
    "folders",
    "hours",
    "promise",
    "autoreply",
    "channels",
    "vip",
    "reminders",
    "triage",
    "paths",
)


def parse_config(text: str, path: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"{path}: [{unknown[0]}] is not a known section; known sections: {', '.join(SECTIONS)}"
        )
    if "imap" not in data:
        raise ConfigError(f"{path}: [imap] is missing; add host, username and password_env")
    if "shop" not in data:
        raise ConfigError(f"{path}: [shop] is missing; add name and address")
    base = path.parent
    sections = {name: _Section(path, name, data.get(name, {})) for name in SECTIONS}
    imap = sections["imap"]
    watch = imap.get("watch", str, "INBOX")
    server_search = imap.get("server_search", bool, True)
    config = Config(
        path=path,
        imap=ImapSettings(**_server(imap, "imap"), watch=watch, server_search=server_search),
        smtp=ServerSettings(**_server(sections["smtp"], "smtp")) if "smtp" in data else None,
        shop=_shop(sections["shop"]),
        folders=_folders(sections["folders"]),
        hours=_hours(sections["hours"]),
        promise=_promise(sections["promise"]),
        autoreply=_autoreply(sections["autoreply"]),
        channels=_channels(sections["channels"], base),
        vip=_vip(sections["vip"]),
        reminders=_reminders(sections["reminders"]),
        triage=_triage(sections["triage"], base),
        paths=_paths(sections["paths"], base),
        raw=data,
    )
    for name in SECTIONS:
        if name in data:
            sections[name].finish()
    return config


def default_config_path() -> Path:
    return Path(os.environ.get("INBOXBOT_CONFIG", "config.toml"))


def load_config(path: Path | None = None) -> Config:
    path = path or default_config_path()
    try:
        # utf-8-sig: Notepad starts UTF-8 with a byte order mark, which TOML parsers refuse
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file; create one with `inboxbot init` or pass --config"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it: {error}") from None
    return parse_config(text, path)
