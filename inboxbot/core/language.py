"""Which language to answer a customer in, and how dates and hours are written in it.

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
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from functools import cached_property, lru_cache
from itertools import islice
from typing import TYPE_CHECKING

# babel and lingua load large data at import: imported where used, so a run that never detects a
# language or writes a date does not pay for them at start-up.
if TYPE_CHECKING:
    from babel import Locale
    from lingua import Language, LanguageDetector

# The languages inboxbot detects and answers in; a shop picks among them ([shop].languages).
LANGUAGES = ("en", "de", "sv", "et")

# Below this many letters a guess is a coin toss ("Ok", "Tack!", "Danke"); the default is the
# honest answer there.
MIN_LETTERS = 8

# Detection cost grows with length while accuracy stops improving after a few sentences; the
# opening of a support mail is where the customer's own words are.
MAX_CHARS = 1000

_LETTER_RE = re.compile(r"[^\W\d_]", re.UNICODE)
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
        # A quoted earlier message (often our own English auto-reply) must not outvote the
        # customer. lstrip() drops exactly what the regex \s* would skip.
        if not line.lstrip().startswith(">"):
            kept.append(line)
    return "\n".join(kept)[:MAX_CHARS]


def _to_lingua(code: str) -> Language | None:
    from lingua import IsoCode639_1, Language

    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    except ValueError:
        return None


@lru_cache(maxsize=16)
def _detector(languages: frozenset[Language]) -> LanguageDetector:
    # Low accuracy mode uses only trigrams: measured on the test corpus of one-line support mails
    # it is as accurate for these four languages and several times faster (see test_language.py).
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


# Function words only one of the shipped languages uses (a word two of them share, such as "on",
# "i", "en", "was" or "see", is in neither list). A mail that uses several of one language's and
# few of any other's is decided by this vote; lingua (~0.5 ms a mail, the largest cost of a
# triage with the default rules) is asked only when the vote is close.
_STOPWORD_TEXT = {
    "en": (
        "the and you your my is it this that with have not for of please are would will "
        "could but been from they we our me"
    ),
    "de": (
        "und ich nicht ist der die das mit eine ein einen bitte mein meine meiner habe haben "
        "wurde für auf sie zu noch wie mir auch es ihr ihre bei sich"
    ),
    "sv": (
        "och jag är att det inte med har min mitt mina för på kan ni vi till om ett mig "
        "hej tack också eller"
    ),
    "et": (
        "ja ma mul ei kas minu mu oma teie palun aga siis veel pole olen tere seda ning "
        "kuid sest või mida"
    ),
}
STOPWORDS: Mapping[str, frozenset[str]] = {
    code: frozenset(text.split()) for code, text in _STOPWORD_TEXT.items()
}
VOTE_MIN = 3  # function words of the winner, and more than twice those of any other language
# ...or this many when no other language has any. A short mail ("Hello, do you also sell gift
# cards? Best regards, Oliver Svensson") holds two or so, and lingua read the names: it said
# Swedish or German for 12 of the 268 such texts among the eval set and the benchmark's mails,
# where the vote was right every time (66 of 66 labelled ones, as lingua there).
VOTE_ALONE_MIN = 2
_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
# The lists share no word, so each word names at most one language.
_STOP_INDEX: Mapping[str, str] = {w: code for code, words in STOPWORDS.items() for w in words}


def vote_language(words: str, allowed: frozenset[str]) -> str | None:
    """The allowed language whose function words clearly dominate `words`, else None."""
    return _vote(_function_words(words), allowed)


def _function_words(words: str) -> Counter[str | None]:
    # map, not a generator: Counter then counts in C (~a third of the vote's time)
    return Counter(map(_STOP_INDEX.get, _WORD_RE.findall(words.lower())))


def _vote(counts: Counter[str | None], allowed: frozenset[str]) -> str | None:
    ranked = [(counts[code], code) for code in allowed]
    ranked.sort(reverse=True)
    best, runner_up = ranked[0], ranked[1] if len(ranked) > 1 else (0, "")
    if best[0] >= VOTE_MIN and best[0] > 2 * runner_up[0]:
        return best[1]
    if best[0] >= VOTE_ALONE_MIN and runner_up[0] == 0:
        return best[1]
    return None


@lru_cache(maxsize=16)
def _lingua_languages(codes: frozenset[str]) -> frozenset[Language]:
    return frozenset(lang for code in codes if (lang := _to_lingua(code)) is not None)


@lru_cache(maxsize=16)
def _known_codes(codes: frozenset[str]) -> frozenset[str]:
    """The codes lingua knows (the others cannot be detected, so they cannot be voted for)."""
    return frozenset(lang.iso_code_639_1.name.lower() for lang in _lingua_languages(codes))


class _Reading:
    """What detection reads from one text, whichever languages it is asked to choose from."""

    def __init__(self, text: str) -> None:
        self.words = _own_words(text)
        self.enough = sum(1 for _ in islice(_LETTER_RE.finditer(self.words), MIN_LETTERS)) >= (
            MIN_LETTERS)

    @cached_property
    def function_words(self) -> Counter[str | None]:
        return _function_words(self.words)


# A triage asks about one text twice: the reply language among the shop's languages, and the
# classifier's among those and the lexicons' (core.triage). The second asks the same text, so
# its own words and their vote are read once (~a third of detection where the vote decides).
@lru_cache(maxsize=4)
def _reading(text: str) -> _Reading:
    return _Reading(text)


def detect_language(text: str, content_language: str, allowed: Sequence[str], default: str) -> str:
    """The language to answer in: one of `allowed`, else `default`."""
    allowed_codes = frozenset(primary_tag(code) for code in allowed)
    declared = primary_tag(content_language) if content_language else ""
    if declared in allowed_codes:
        return declared
    reading = _reading(text)
    if not reading.enough:
        return default
    languages = _lingua_languages(allowed_codes)
    known = _known_codes(allowed_codes)
    # The vote needs a list for every allowed language it could be wrong about.
    if len(known) > 1 and known <= STOPWORDS.keys():
        voted = _vote(reading.function_words, known)
        if voted is not None:
            return voted
    if len(languages) < 2:  # nothing to tell apart
        return default
    detected = _detector(languages).detect_language_of(reading.words)
    if detected is None:
        return default
    return detected.iso_code_639_1.name.lower()


# --- writing dates and hours the way people of each language write them ---------------------

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# CLDR has no "at 10:00" form for a date without the year, so the four shipped languages carry the
# pattern a person would write; other languages fall back to CLDR's full date minus the year.
_WHEN_PATTERNS = {
    "en": "EEEE, d MMMM 'at' HH:mm",
    "de": "EEEE, d. MMMM, HH:mm",
    "sv": "EEEE d MMMM 'kl.' HH:mm",
    "et": "EEEE, d. MMMM 'kell' HH:mm",
}
_CLOSED = {"en": "closed", "de": "geschlossen", "sv": "stängt", "et": "suletud"}
_YEAR_RE = re.compile(r"[\s,.]*\by+\b[.]?")
_EN_DASH = "\u2013"


def _locale(language: str) -> Locale:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(primary_tag(language) or "en")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _when_pattern(locale: Locale) -> str:
    known = _WHEN_PATTERNS.get(locale.language)
    if known is not None:
        return known
    date = _YEAR_RE.sub("", locale.date_formats["full"].pattern).strip(" ,")
    return f"{date} {locale.time_formats['short'].pattern}"


def format_when(dt: datetime, language: str) -> str:
    """A promised time as people write it, in dt's own time zone (pass it in the shop's zone)."""
    from babel.dates import format_datetime

    locale = _locale(language)
    return str(format_datetime(dt, _when_pattern(locale), locale=locale))


def weekday_names(language: str) -> tuple[str, ...]:
    """Monday first, as the language writes them in running text (lower case in sv and et)."""
    from babel.dates import get_day_names

    names = get_day_names("wide", locale=_locale(language))
    return tuple(str(names[index]) for index in range(7))


def _clock(value: time) -> str:
    # A shift that runs to midnight ends at "24:00" in every one of these languages.
    if value == time(0, 0) or value == time.max:
        return "24:00"
    return f"{value.hour:02d}:{value.minute:02d}"


def _hours_text(shifts: Sequence[tuple[time, time]], language: str) -> str:
    if not shifts:
        return _CLOSED.get(primary_tag(language), _CLOSED["en"])
    return ", ".join(f"{_clock(start)}{_EN_DASH}{_clock(end)}" for start, end in shifts)


def hours_table(
    week: Mapping[str, Sequence[tuple[time, time]]], language: str
) -> tuple[tuple[str, str], ...]:
    """The week as (weekday, hours) rows, Monday first; a day missing from `week` is closed.

    Weekday names are capitalised because each starts a row of a table.
    """
    unknown = set(week) - set(WEEKDAY_KEYS)
    if unknown:
        raise ValueError(f"unknown weekday keys {sorted(unknown)}; expected {WEEKDAY_KEYS}")
    names = weekday_names(language)
    return tuple(
        (name[:1].upper() + name[1:], _hours_text(week.get(key, ()), language))
        for key, name in zip(WEEKDAY_KEYS, names, strict=True)
    )
