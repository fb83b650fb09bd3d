"""Read reply templates from a directory into a TemplateSet (the core never touches files)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from inboxbot.core.replies import TemplateSet
from inboxbot.errors import TemplateError

TEMPLATE_SUFFIXES = (".txt", ".html")


def default_replies_dir() -> Path:
    """The shipped default templates: package data when installed, replies/ in a checkout."""
    packaged = Path(str(resources.files("inboxbot"))) / "defaults" / "replies"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "replies"


def read_sources(directory: Path) -> dict[str, str]:
    """{file name: text} of every template file in `directory` (not recursive)."""
    if not directory.is_dir():
        raise TemplateError(
            f"{directory}: replies directory not found; set [paths].replies or run `inboxbot init`"
        )
    sources: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in TEMPLATE_SUFFIXES:
            sources[path.name] = _read(path)
    return sources


def _read(path: Path) -> str:
    try:
        # Editors on Windows leave CRLF (and Notepad a byte order mark, hence utf-8-sig);
        # templates are compared and rendered with "\n".
        return path.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as error:
        raise TemplateError(f"{path}: not UTF-8 ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise TemplateError(f"{path}: cannot read ({error.strerror})") from error


def load_templates(directory: Path, *, default_language: str = "en") -> TemplateSet:
    """The TemplateSet of `directory`; error messages name files as `directory/file:line`."""
    return TemplateSet.from_sources(
        read_sources(directory), str(directory), default_language=default_language
    )
