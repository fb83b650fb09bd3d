"""`inboxbot check`: files first, then the servers; every finding is one line."""

from __future__ import annotations

import typer

from inboxbot.config import Config
from inboxbot.errors import InboxbotError


def _ok(text: str) -> None:
    typer.echo(f"ok    {text}")


def _fail(text: str) -> None:
    typer.echo(f"FAIL  {text}")


def check_files(config: Config) -> tuple[bool, object | None]:
    from inboxbot.app import build_engine

    _ok(f"config {config.path}")
    try:
        engine = build_engine(config)
    except InboxbotError as error:
        _fail(str(error))
        return False, None
    _ok(
        f"rules: {len(engine.rules.enabled)} enabled of {len(engine.rules.rules)} in "
        f"{config.paths.rules}"
    )
    assert engine.composer is not None
    problems = engine.composer.templates.validate()
    for problem in problems:
        _fail(problem)
    if not problems:
        _ok(
            f"replies: {len(engine.composer.templates.names())} templates in {config.paths.replies}"
        )
    return not problems, engine


def check_imap(config: Config, engine: object) -> bool:
    from inboxbot.app import folders_needed, open_imap

    try:
        mailbox = open_imap(config)
    except InboxbotError as error:
        _fail(f"IMAP {config.imap.host}:{config.imap.port}: {error}")
        return False
    try:
        caps = sorted(mailbox.capabilities())
        _ok(
            f"IMAP {config.imap.host}:{config.imap.port} ({config.imap.security}), logged in as "
            f"{config.imap.username}"
        )
        _ok(f"capabilities: {' '.join(caps)}")
        for wanted in ("IDLE", "MOVE", "UIDPLUS"):
            if wanted not in caps:
                typer.echo(f"note  server lacks {wanted}; inboxbot uses a slower fallback")
        existing = set(mailbox.list_folders())
        missing = [f for f in folders_needed(config, engine) if f not in existing]
        if config.imap.watch not in existing:
            _fail(f"watched folder {config.imap.watch!r} does not exist; fix [imap].watch")
            return False
        _ok(f"folders to create on first run: {', '.join(missing) or 'none'}")
        return True
    finally:
        mailbox.close()


def check_smtp(config: Config) -> bool:
    from inboxbot.app import open_sender

    if config.smtp is None:
        typer.echo("note  no [smtp] section: replies, redirects and reminders cannot be sent")
        return True
    try:
        sender = open_sender(config)
        sender.check()
        sender.close()
    except InboxbotError as error:
        _fail(f"SMTP {config.smtp.host}:{config.smtp.port}: {error}")
        return False
    _ok(f"SMTP {config.smtp.host}:{config.smtp.port} ({config.smtp.security}) accepts us")
    return True


def check_plugins() -> bool:
    """A broken plugin never stops the service (it runs without it), but check says so."""
    from inboxbot.plugins import installed

    plugins = installed()
    if plugins.loaded:
        _ok(f"plugins: {', '.join(plugins.loaded)}")
    for failure in plugins.failures:
        _fail(str(failure))
    return not plugins.failures


def run_check(config: Config, *, offline: bool) -> bool:
    plugins_ok = check_plugins()
    files_ok, engine = check_files(config)
    if offline or not files_ok:
        return files_ok and plugins_ok
    imap_ok = check_imap(config, engine)
    smtp_ok = check_smtp(config)
    return imap_ok and smtp_ok and plugins_ok
