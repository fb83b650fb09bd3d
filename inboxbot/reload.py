"""Hot reload for `inboxbot run`: notice that rules, templates or the config changed (mtime
polling, or SIGHUP), build a fresh Engine, and keep the old one when the new files are invalid.

The daemon asks `watcher.check(engine)` between passes and uses whatever comes back. A broken
edit is logged once with the reason and the service goes on with the rules it had; the next
change is tried again.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from inboxbot.config import Config

log = logging.getLogger("inboxbot")

Stamp = tuple[tuple[str, int, int, int], ...]  # (path, inode, mtime_ns, size) per file
# Changing these needs new connections or another state file, which a reload does not make.
RESTART_SECTIONS = ("imap", "smtp")


def watched_paths(config: Config) -> list[Path]:
    """The config file and every folder or file an Engine is built from."""
    paths = [config.path, config.paths.rules, config.paths.replies, *config.channels.notifiers]
    if config.triage.lexicons is not None:
        paths.append(config.triage.lexicons)
    return paths


def fingerprint(paths: Iterable[Path]) -> Stamp:
    """Inode as well as mtime: an atomic rename gives every write a new inode, so two writes
    within one mtime tick are still told apart."""
    entries: list[tuple[str, int, int, int]] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.name.endswith((".bak", ".tmp")):
                continue  # editors' backups and temp files are not read by the engine
            try:
                st = file.stat()
            except OSError:
                entries.append((str(file), 0, 0, -1))  # missing: a change too
                continue
            entries.append((str(file), st.st_ino, st.st_mtime_ns, st.st_size))
    return tuple(entries)


class RuleWatcher:
    """Decides when to rebuild the Engine, and rebuilds it safely."""

    def __init__(
        self,
        config: Config,
        engine: Any = None,
        *,
        build: Callable[[Config], Any] | None = None,
        load: Callable[[Path], Config] | None = None,
        poll_interval: float = 0.0,  # the daemon checks only when it wakes; a stat is cheap
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config_path = config.path
        self.poll_interval = poll_interval
        self.last_error: str | None = None
        # The Engine in use; it outlives reconnects, so a reload is never lost to one.
        self.engine = engine
        self._build = build or _build_engine
        self._load = load or _load_config
        self._clock = clock
        self._paths = watched_paths(config)
        self._stamp = fingerprint(self._paths)
        self._last_poll = -math.inf
        self._requested = False
        self._previous_handler: Any = None

    # -- SIGHUP ----------------------------------------------------------------------------

    def request_reload(self) -> None:
        """Reload at the next check, whether or not a file changed (what SIGHUP does)."""
        self._requested = True

    def install_sighup(self) -> bool:
        """SIGHUP -> reload. Only the main thread may set handlers; elsewhere polling remains."""
        if (
            not hasattr(signal, "SIGHUP")
            or threading.current_thread() is not threading.main_thread()
        ):
            return False
        self._previous_handler = signal.signal(signal.SIGHUP, self._on_sighup)
        return True

    def restore_sighup(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGHUP, self._previous_handler)
            self._previous_handler = None

    def _on_sighup(self, _signum: int, _frame: FrameType | None) -> None:
        self._requested = True  # only a flag: the reload runs between passes, not in a handler

    # -- the check -------------------------------------------------------------------------

    def changed(self) -> bool:
        if self._requested:
            return True
        now = self._clock()
        if now - self._last_poll < self.poll_interval:
            return False
        self._last_poll = now
        return fingerprint(self._paths) != self._stamp

    def check(self, engine: Any = None) -> Any:
        """The Engine to use from now on: a new one if something changed and it builds, else
        the one given (default: the one in use, `self.engine`)."""
        engine = self.engine = engine if engine is not None else self.engine
        if not self.changed():
            return engine
        reason = "SIGHUP" if self._requested else "files changed"
        self._requested = False
        # Stamp before reading: a write that lands while we build is seen by the next check.
        self._stamp = fingerprint(self._paths)
        try:
            config = self._load(self.config_path)
            fresh = self._build(config)
        except Exception as error:  # whatever is wrong with the new files, keep serving
            self.last_error = str(error)
            log.error("reload (%s) failed, still using the previous rules: %s", reason, error)
            return engine
        self.last_error = None
        self._follow(config)
        if engine is not None:
            _warn_about_restart(engine.config, config)
        self.engine = fresh
        log.info(
            "reloaded (%s): %d rules enabled of %d",
            reason,
            len(fresh.rules.enabled),
            len(fresh.rules.rules),
        )
        return fresh

    def _follow(self, config: Config) -> None:
        """[paths] may have moved the rules or replies: watch where the new config points."""
        paths = watched_paths(config)
        if paths != self._paths:
            self._paths = paths
            self._stamp = fingerprint(paths)


def _warn_about_restart(old: Config, new: Config) -> None:
    for section in RESTART_SECTIONS:
        if _connection(getattr(old, section)) != _connection(getattr(new, section)):
            log.warning("[%s] changed: restart inboxbot to use the new settings", section)
    if old.paths.state != new.paths.state:
        log.warning("[paths].state changed: restart inboxbot to use the new state file")


def _connection(settings: Any) -> Any:
    """Server settings without the Secret, which compares by identity (a password change is
    seen through its source, e.g. a different password_env)."""
    if settings is None:
        return None
    password = settings.password.source if settings.password else None
    return replace(settings, password=None), password


def _build_engine(config: Config) -> Any:
    """build_engine, plus the template check `inboxbot check` does: a template that cannot
    render would otherwise be found only when the first customer needs it."""
    from inboxbot.app import build_engine
    from inboxbot.errors import TemplateError

    engine = build_engine(config)
    problems = engine.composer.templates.validate() if engine.composer else []
    if problems:
        raise TemplateError("; ".join(problems))
    return engine


def _load_config(path: Path) -> Config:
    from inboxbot.config import load_config

    return load_config(path)
