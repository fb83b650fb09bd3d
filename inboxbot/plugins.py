"""Plugins: third-party packages add conditions, actions and classifiers to the one registry.

A plugin is an entry point in the group `inboxbot.plugins` naming a callable that takes the
Registry (see inboxbot/core/rules.py) and registers into it:

    # pyproject.toml of the plugin package
    [project.entry-points."inboxbot.plugins"]
    ordernumber = "inboxbot_ordernumber:register"

A plugin that fails to import, raises while registering or tries to replace a name that is
already registered is left out: the engine builds without it, the error is logged, and
`inboxbot check` reports it. One broken package must never take the service down.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from inboxbot.core.rules import REGISTRY, Registry

GROUP = "inboxbot.plugins"
log = logging.getLogger("inboxbot")


@dataclass(frozen=True)
class PluginFailure:
    name: str
    target: str  # "module:callable", as the entry point names it
    error: str

    def __str__(self) -> str:
        return (
            f"plugin {self.name!r} ({self.target}) failed to load: {self.error}; "
            "inboxbot runs without it (fix or uninstall the package)"
        )


@dataclass(frozen=True)
class Plugins:
    registry: Registry
    loaded: tuple[str, ...] = ()
    failures: tuple[PluginFailure, ...] = ()


def discover() -> list[EntryPoint]:
    """The installed plugins, in name order so the registry is the same on every start."""
    return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)


def load_plugins(base: Registry = REGISTRY, plugins: Iterable[EntryPoint] | None = None) -> Plugins:
    registry = base.copy()  # the built-in REGISTRY itself is never changed by a plugin
    loaded: list[str] = []
    failures: list[PluginFailure] = []
    for entry in discover() if plugins is None else plugins:
        try:
            registry = _register(entry, registry)
        except (Exception, SystemExit) as error:  # a plugin calling exit() must not stop us
            failure = PluginFailure(entry.name, entry.value, _describe(error))
            log.error("%s", failure)
            failures.append(failure)
            continue
        loaded.append(entry.name)
    return Plugins(registry, tuple(loaded), tuple(failures))


def _register(entry: EntryPoint, registry: Registry) -> Registry:
    """Register into a scratch copy, so a plugin that fails half-way leaves nothing behind."""
    register = entry.load()
    if not callable(register):
        raise TypeError(f"{entry.value} is not callable; it must take the Registry")
    scratch = registry.copy()
    register(scratch)
    _refuse_replacements(registry, scratch)
    return scratch


def _refuse_replacements(before: Registry, after: Registry) -> None:
    # Silently redefining `from` or another plugin's action would change what existing rules
    # mean, so a plugin may only add names.
    for kind, old, new in (
        ("condition", before.conditions, after.conditions),
        ("action", before.actions, after.actions),
        ("classifier", before.classifiers, after.classifiers),
    ):
        for name, spec in old.items():
            if new.get(name) is not spec:
                raise ValueError(f"it tried to replace the {kind} {name!r}, which already exists")


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


@functools.cache
def installed() -> Plugins:
    """Entry points cannot change while a process runs, so they are loaded once."""
    return load_plugins()


def registry() -> Registry:
    return installed().registry


def wrap_classifier(classifier: Any, registry: Registry) -> Any:
    """Let classifier plugins wrap the built-in classifier, in name order; a wrapper that
    fails is skipped and logged like any broken plugin."""
    for name, wrap in sorted(registry.classifiers.items()):
        classifier = _wrap_one(name, wrap, classifier)
    return classifier


def _wrap_one(name: str, wrap: Callable[[Any], Any], classifier: Any) -> Any:
    try:
        wrapped = wrap(classifier)
    except Exception as error:
        log.error("classifier plugin %r failed: %s; using the classifier without it", name, error)
        return classifier
    if not callable(getattr(wrapped, "classify", None)):
        log.error("classifier plugin %r returned no .classify(); using the one without it", name)
        return classifier
    return wrapped
