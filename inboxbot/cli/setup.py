"""`inboxbot init`: a new shop's config.toml, rules/ and replies/ from the shipped defaults."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from inboxbot.defaults import defaults_dir
from inboxbot.errors import InboxbotError


def example_config() -> str:
    for candidate in (
        defaults_dir("rules").parent / "config.example.toml",
        Path(__file__).resolve().parents[1] / "defaults" / "config.example.toml",
    ):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise InboxbotError("config.example.toml is missing from this installation; reinstall")


def write_skeleton(directory: Path, *, force: bool = False) -> Iterator[str]:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "config.toml"
    targets = [config, directory / "rules", directory / "replies"]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        names = ", ".join(str(t) for t in existing)
        raise InboxbotError(
            f"{names} already exist; nothing was written. Use --force to "
            "overwrite them, or choose another directory"
        )
    _write_private(config, example_config())
    yield f"wrote {config}"
    for name in ("rules", "replies"):
        target = directory / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(defaults_dir(name), target)
        yield f"wrote {target}/ ({len(list(target.iterdir()))} files)"
    yield "next: edit config.toml, then run `inboxbot check`"


def _write_private(path: Path, text: str) -> None:
    """The config may hold a password, so it is created readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
