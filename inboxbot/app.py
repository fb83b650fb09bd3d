"""Wiring: build the engine and adapters from a validated Config (no connection is made here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inboxbot.config import Config
from inboxbot.service import Engine


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_engine(config: Config, *, with_templates: bool = True) -> Engine:
    from inboxbot.composer import Composer
    from inboxbot.core.language import detect_language
    from inboxbot.plugins import installed, wrap_classifier
    from inboxbot.rulefiles import load_rules
    from inboxbot.templates import load_templates

    registry = installed().registry  # built-ins plus every plugin that loaded
    rules = load_rules(config.paths.rules, config.folders.roles(), registry)
    calendar = config.hours.calendar()
    composer = None
    if with_templates:
        templates = load_templates(config.paths.replies)
        composer = Composer(config, calendar, templates)
    from inboxbot.notifier_data import load_catalog

    notifiers = load_catalog(config.channels.notifiers)
    return Engine(
        config,
        rules,
        calendar,
        composer,
        classifier=wrap_classifier(build_classifier(config), registry),
        detect_language=detect_language,
        notifiers=notifiers,
    )


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
    from inboxbot.adapters.smtp import SmtpSender

    s = config.smtp
    if s is None:
        return None
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
    # Sent holds copies of our replies and the staff answers that `stats` measures.
    folders = set(engine.rules.folders_used()) | {config.folders.quarantine, config.folders.sent}
    return sorted(folders)
