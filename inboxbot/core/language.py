"""Which language to answer a customer in.

Order of evidence: the Content-Language header (the customer's client says so), then statistical
detection restricted to the shop's languages, then the shop's default. Restricting detection to
the few languages a shop answers in is what makes it reliable on one-line support mails: lingua
only has to tell four languages apart, not seventy-five.

lingua ships its n-gram models inside the wheel, so nothing is downloaded at run time. Building a
detector loads those models, so one detector per set of allowed languages is built on first use
and cached for the life of the process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

# Below this many letters a guess is a coin toss ("Ok", "Tack!", "Danke"); the default is the
# honest answer there.
MIN_LETTERS = 8

# Detection cost grows with length while accuracy stops improving after a few sentences; the
# opening of a support mail is where the customer's own words are.
MAX_CHARS = 1000

_LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)
# A quoted earlier message (often our own English auto-reply) must not outvote the customer.
_QUOTE_RE = re.compile(r"^\s*>")
_SIGNATURE_DELIMITER = "-- "


def primary_tag(tag: str) -> str:
    """'de-AT' / 'sv_SE' / ' EN ' -> 'de' / 'sv' / 'en'."""
    return re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]


def _own_words(text: str) -> str:
    """The customer's own text: quoted lines and the signature removed, capped in length."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.rstrip() == _SIGNATURE_DELIMITER.rstrip() and line.startswith("--"):
            break
        if not _QUOTE_RE.match(line):
            kept.append(line)
    return "\n".join(kept)[:MAX_CHARS]


def _to_lingua(code: str) -> Language | None:
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    except ValueError:
        return None


@lru_cache(maxsize=16)
def _detector(languages: frozenset[Language]) -> LanguageDetector:
    # Low accuracy mode uses only trigrams: measured on the test corpus of one-line support mails
    # it is as accurate for these four languages and several times faster (see test_language.py).
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def detect_language(text: str, content_language: str, allowed: Sequence[str], default: str) -> str:
    """The language to answer in: one of `allowed`, else `default`."""
    allowed_codes = {primary_tag(code) for code in allowed}
    declared = primary_tag(content_language) if content_language else ""
    if declared in allowed_codes:
        return declared
    words = _own_words(text)
    if len(_LETTER_RE.findall(words)) < MIN_LETTERS:
        return default
    languages = {lang for code in allowed_codes if (lang := _to_lingua(code)) is not None}
    if len(languages) < 2:  # nothing to tell apart
        return default
    detected = _detector(frozenset(languages)).detect_language_of(words)
    if detected is None:
        return default
    return detected.iso_code_639_1.name.lower()
