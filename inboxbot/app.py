"""Wiring: build the engine and adapters from a validated Config (no connection is made here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from inboxbot.config import Config
from inboxbot.core.rules import OUTGOING
from inboxbot.service import Engine


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_engine(config: Config, *, with_templates: bool = True, lazy: bool = False) -> Engine:
    """The engine for `config`. With `lazy` (a run), what the rules never use is built on first
    use instead: the classifier (lexicons: ~0.2 s), the templates (Jinja2) and the notifier
    catalog cost start-up time a header-rule run would otherwise spend on nothing."""
    from inboxbot.plugins import installed, wrap_classifier
    from inboxbot.rulefiles import load_rules

    registry = installed().registry  # built-ins plus every plugin that loaded
    rules = load_rules(config.paths.rules, config.folders.roles(), registry)
    calendar = config.hours.calendar()
    # What the rules use is built (and validated) now, before any connection is made.
    used = rules.actions_used()
    reads_text = rules.needs_text or bool(used & (OUTGOING | {"remind"}))
    composer: Any = None
    if with_templates:
        composer = _maybe_lazy(
            lambda: _composer(config, calendar, rules), lazy and not reads_text
        )
    notifiers = _maybe_lazy(lambda: _notifiers(config), lazy and not reads_text)
    classifier = _maybe_lazy(
        lambda: wrap_classifier(build_classifier(config), registry), lazy and not reads_text
    )
    return Engine(
        config,
        rules,
        calendar,
        composer,
        classifier=classifier,
        detect_language=_detect_language,
        notifiers=notifiers,
    )


def _composer(config: Config, calendar: Any, rules: Any) -> Any:
    from inboxbot.composer import Composer
    from inboxbot.templates import load_templates

    templates = load_templates(config.paths.replies)
    _check_rule_templates(rules, templates.names(), config)
    return Composer(config, calendar, templates)


def _check_rule_templates(rules: Any, names: Sequence[str], config: Config) -> None:
    """A rule that answers with a template the replies folder lacks is refused here, before
    any connection: otherwise `check` passes and every mail the rule matches is left
    unanswered and flagged "reply not possible"."""
    from inboxbot.errors import TemplateError

    for rule in rules.enabled:
        for kind, args in rule.actions:
            name = args.get("template") if kind in ("reply", "redirect") else None
            if name is not None and name not in names:
                raise TemplateError(
                    f"{rule.where}: rule {rule.name!r}: {kind} template {name!r} is not in "
                    f"{config.paths.replies}; templates there: {', '.join(names) or 'none'}"
                )


def _notifiers(config: Config) -> Any:
    from inboxbot.notifier_data import load_catalog

    return load_catalog(config.channels.notifiers)


def _detect_language(text: str, declared: str, allowed: Sequence[str], default: str) -> str:
    from inboxbot.core.language import detect_language  # lingua and babel: on first use

    return detect_language(text, declared, allowed, default)


class Lazy:
    """Stands for an object built on first attribute access (and then kept)."""

    __slots__ = ("_factory", "_value")

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory: Callable[[], Any] | None = factory
        self._value: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._factory is not None:
            self._value, self._factory = self._factory(), None
        return getattr(self._value, name)


def _maybe_lazy(factory: Callable[[], Any], lazy: bool) -> Any:
    return Lazy(factory) if lazy else factory()


def build_classifier(config: Config) -> Any:
    from dataclasses import replace

    from inboxbot.core.classify import Thresholds
    from inboxbot.lexicons import default_classifier

    triage = config.triage
    thresholds = Thresholds()
    for name in ("complaint", "urgent", "angry"):
        value = getattr(triage, f"{name}_threshold")
        if value is not None:
            thresholds = replace(thresholds, **{name: value})
    extra = [triage.lexicons] if triage.lexicons else []
    return default_classifier(thresholds, extra)


def open_imap(config: Config) -> Any:
    from inboxbot.adapters.imap import ImapMailbox

    s = config.imap
    password = s.password.reveal() if s.password else ""
    return ImapMailbox(
        s.host, s.port, s.security, s.username, password, timeout=s.timeout, ca_file=s.ca_file
    )


def open_sender(config: Config) -> Any:
    s = config.smtp
    if s is None:
        return None
    from inboxbot.adapters.smtp import SmtpSender  # asyncio and aiosmtplib: only when sending

    password = s.password.reveal() if s.password else None
    return SmtpSender(
        s.host,
        s.port,
        s.security,
        s.username or None,
        password,
        timeout=s.timeout,
        ca_file=s.ca_file,
        retries=s.retries,
    )


def open_store(config: Config) -> Any:
    from inboxbot.adapters.store import StateStore

    return StateStore(config.paths.state)


def folders_needed(config: Config, engine: Engine) -> list[str]:
    # Sent holds copies of our replies and the staff answers that `stats` measures; staff
    # move mail into the resolved folder for a check-in (the reminders round makes it too).
    f = config.folders
    folders = set(engine.rules.folders_used()) | {f.quarantine, f.sent, f.resolved}
    return sorted(folders)
