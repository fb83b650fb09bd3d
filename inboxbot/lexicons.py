"""Load classifier lexicons: the shipped inboxbot/data/lexicons/*.toml plus a shop's own files.

The reading lives here, outside the pure core, so inboxbot.core.classify only ever sees text.
A shop extends a language by dropping a file with the shipped structure (its `language` key says
which) into a folder it names; files are applied in name order, each adding words to the shipped
lexicon of its language (or starting a new language).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from inboxbot.core.classify import Classifier, Lexicon, Thresholds, parse_lexicon
from inboxbot.errors import ConfigError

SHIPPED_LANGUAGES = ("en", "de", "sv", "et")


def shipped_texts() -> dict[str, str]:
    """language -> TOML text of the lexicons inside the package (works from a wheel too)."""
    folder = resources.files("inboxbot") / "data" / "lexicons"
    return {
        lang: (folder / f"{lang}.toml").read_text(encoding="utf-8") for lang in SHIPPED_LANGUAGES
    }


def load_lexicons(extra_dirs: Iterable[Path] = ()) -> dict[str, Lexicon]:
    """The shipped lexicons, each extended by the *.toml files found in `extra_dirs`."""
    lexicons = {
        lang: parse_lexicon(text, f"inboxbot/data/lexicons/{lang}.toml")
        for lang, text in shipped_texts().items()
    }
    for path in _extension_files(extra_dirs):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path}: cannot read lexicon file: {error}") from None
        extra = parse_lexicon(text, str(path))
        base = lexicons.get(extra.language)
        lexicons[extra.language] = base.merged(extra) if base else extra
    return lexicons


def _extension_files(extra_dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for folder in extra_dirs:
        if not folder.is_dir():
            raise ConfigError(f"{folder}: lexicon folder not found (create it or remove the key)")
        files.extend(sorted(folder.glob("*.toml")))
    return files


def default_classifier(
    thresholds: Thresholds | None = None, extra_dirs: Iterable[Path] = ()
) -> Classifier:
    """A classifier on the shipped lexicons (plus the shop's, when given)."""
    return Classifier(load_lexicons(extra_dirs), thresholds or Thresholds())
