"""Load the notifier catalog: the shipped inboxbot/data/notifiers.toml plus the shop's own files.

The reading lives here, outside the pure core, so inboxbot.core.notifiers only ever sees data.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from inboxbot.core.notifiers import NotifierCatalog
from inboxbot.errors import ConfigError

SHIPPED_NAME = "notifiers.toml"


def shipped_text() -> str:
    """The catalog that ships inside the package (works from an installed wheel too)."""
    return (resources.files("inboxbot") / "data" / SHIPPED_NAME).read_text(encoding="utf-8")


def parse_text(text: str, source: str) -> Mapping[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message carries line and column
        raise ConfigError(f"{source}: not valid TOML: {error}") from None


def load_catalog(paths: Sequence[Path] = (), *, include_shipped: bool = True) -> NotifierCatalog:
    """The shipped catalog, then each extension file in order (later entries win by name)."""
    documents: list[tuple[Mapping[str, Any], str]] = []
    if include_shipped:
        source = f"inboxbot/data/{SHIPPED_NAME}"
        documents.append((parse_text(shipped_text(), source), source))
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read notifier file: {error}") from None
        documents.append((parse_text(text, str(path)), str(path)))
    return NotifierCatalog.merged(documents)
