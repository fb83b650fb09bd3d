"""Complaint, urgency and tone classification from per-language lexicons, with the cues that fired.

Model (transparent on purpose: staff and shop owners must be able to see why a mail was flagged):
- Quoted earlier mails and signatures are stripped first (core.quotes): only what the customer
  wrote now counts, so a "thanks, all sorted" reply above a quoted complaint is not a complaint.
- Each lexicon category (e.g. complaint.damaged, urgent.escalation) has a weight; every distinct
  cue word that fires adds its category's weight to its class score. A cue in the subject counts
  `subject_weight` times (the subject is the customer's own summary); in a reply subject ("Re:",
  "AW:", "SV:", "Vs:") only `reply_subject_weight` times, because it names the earlier thread.
  Negative weights (e.g. complaint.resolved, urgent.boilerplate) pull a score down.
- A cue in a `negatable` category is ignored when a negator ("not", "nicht", "inte", "ei") stands
  within the lexicon's window of words before it in the same clause, or a post-negator ("pole")
  right after it. Cues whose lexicon phrase contains the negation ("not arrived") are matched whole.
- `angry` adds tone to insult cues: the share of shouted (all-capital) words and exclamation
  marks, but only in a mail that carries complaint cues and no praise, so "THANK YOU!!!" is calm.
- A class is true when its score reaches its threshold.

Languages: a known language uses its own lexicon only: English words read inside other languages
are false friends (Swedish "stolen" is "the chair"), so the few loanwords customers mix in
("ASAP", "chargeback") sit in each lexicon. An unknown or empty language uses every lexicon,
because a short complaint in a language the detector missed should still be found.

Lexicon term syntax (the TOML files use it; inboxbot/data/lexicons/en.toml documents it too):
  word        the whole word                   stem*     a word starting with stem
  *part*      a word containing part           *end      a word ending with end
  a b         words in sequence                a ~ b     up to three words between a and b
  re:REGEX    a raw regex (no capturing groups), matched against the lower-cased text
"""

from __future__ import annotations

import re
import tomllib
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from inboxbot.core.quotes import strip_quotes
from inboxbot.errors import ConfigError

CLASSES = ("complaint", "urgent", "angry")

# Subjects starting like this are replies or forwards in the four languages and common clients.
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|vb|wg|fw|fwd|antw|vast)\s*(?:\[\d+\])?\s*:\s*)+",
                           re.IGNORECASE)
# Characters that end a clause: negation does not reach across them ("No. It is broken.").
_CLAUSE_END_RE = re.compile(r"[.!?;:,()\"\n]")
# A shouted word: three or more capitals (those of the four languages included), nothing else.
_SHOUTED = re.compile(r"\b[A-ZÄÖÜÅÕŠŽÉ]{3,}\b")
_GAP = r"(?:\s+[\w'-]+){0,3}\s+"


@dataclass(frozen=True, slots=True)
class Category:
    """One group of cue terms: `cls` is complaint, urgent or angry; `name` e.g. "damaged"."""

    cls: str
    name: str
    weight: float
    negatable: bool
    terms: tuple[str, ...]
    weak: tuple[str, ...] = ()  # ambiguous terms: count half the weight
    cap: float | None = None  # the most this category adds to its class, however many cues


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The cue words of one language. Build with parse_lexicon; extend with merged."""

    language: str
    categories: tuple[Category, ...]
    negators: tuple[str, ...] = ()
    post_negators: tuple[str, ...] = ()
    negation_window: int = 4
    praise: tuple[str, ...] = ()
    acronyms: tuple[str, ...] = ()

    def merged(self, other: Lexicon) -> Lexicon:
        """This lexicon extended by `other` (a shop's file): terms are added, and a category
        `other` names takes its weight and negatable from `other`."""
        by_key = {(c.cls, c.name): c for c in self.categories}
        for extra in other.categories:
            base = by_key.get((extra.cls, extra.name))
            terms = _unique((*base.terms, *extra.terms)) if base else extra.terms
            weak = _unique((*base.weak, *extra.weak)) if base else extra.weak
            by_key[(extra.cls, extra.name)] = Category(
                extra.cls, extra.name, extra.weight, extra.negatable, terms, weak, extra.cap
            )
        return Lexicon(
            language=self.language,
            categories=tuple(by_key.values()),
            negators=_unique((*self.negators, *other.negators)),
            post_negators=_unique((*self.post_negators, *other.post_negators)),
            negation_window=max(self.negation_window, other.negation_window),
            praise=_unique((*self.praise, *other.praise)),
            acronyms=_unique((*self.acronyms, *other.acronyms)),
        )


@dataclass(frozen=True)
class Thresholds:
    """Score at which each class becomes true (config keys under [classifier])."""

    complaint: float = 1.0
    urgent: float = 1.0
    angry: float = 1.0


@dataclass(frozen=True)
class Verdict:
    complaint: bool
    urgent: bool
    angry: bool
    scores: Mapping[str, float]
    cues: Mapping[str, tuple[str, ...]]  # class -> cue words (or tone cues) that raised its score
    categories: tuple[str, ...]  # complaint categories that fired; () when not a complaint


# --------------------------------------------------------------------------- lexicon parsing


def parse_lexicon(text: str, source: str) -> Lexicon:
    """Parse one lexicon TOML document (already read; this module touches no files)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:  # its message carries line and column
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    return lexicon_from_mapping(data, source)


def lexicon_from_mapping(data: Mapping[str, Any], source: str) -> Lexicon:
    _only_keys(data, {"language", "negation", "tone", *CLASSES}, source, "")
    language = data.get("language")
    if not isinstance(language, str) or not language:
        raise ConfigError(f"{source}: `language` must be a language code such as \"en\"")
    negation = _table(data, "negation", source)
    _only_keys(negation, {"before", "after", "window"}, source, "negation.")
    tone = _table(data, "tone", source)
    _only_keys(tone, {"praise", "acronyms"}, source, "tone.")
    window = negation.get("window", 4)
    if not isinstance(window, int) or not 0 <= window <= 10:
        raise ConfigError(f"{source}: negation.window must be a whole number from 0 to 10")
    categories = [
        _category(cls, name, spec, source)
        for cls in CLASSES
        for name, spec in _table(data, cls, source).items()
    ]
    return Lexicon(
        language=language.lower(),
        categories=tuple(categories),
        negators=_terms(negation, "before", source, "negation."),
        post_negators=_terms(negation, "after", source, "negation."),
        negation_window=window,
        praise=_terms(tone, "praise", source, "tone."),
        acronyms=tuple(a.lower() for a in _terms(tone, "acronyms", source, "tone.")),
    )


def _category(cls: str, name: str, spec: object, source: str) -> Category:
    where = f"{cls}.{name}"
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{source}: [{where}] must be a table with `terms`")
    _only_keys(spec, {"terms", "weak", "weight", "negatable", "cap"}, source, f"{where}.")
    weight = spec.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise ConfigError(f"{source}: {where}.weight must be a number")
    negatable = spec.get("negatable", False)
    if not isinstance(negatable, bool):
        raise ConfigError(f"{source}: {where}.negatable must be true or false")
    cap = spec.get("cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | float) or cap < 0):
        raise ConfigError(f"{source}: {where}.cap must be a number >= 0")
    return Category(
        cls, name, float(weight), negatable,
        _terms(spec, "terms", source, f"{where}."), _terms(spec, "weak", source, f"{where}."),
        None if cap is None else float(cap),
    )


def _table(data: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: `{key}` must be a table")
    return value


def _terms(data: Mapping[str, Any], key: str, source: str, prefix: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise ConfigError(f"{source}: {prefix}{key} must be a list of non-empty strings")
    # Plain terms are escaped into patterns that always compile: only `re:` terms can be wrong,
    # and compiling each of ~1,600 terms just to check it cost ~0.5 s of every start.
    for term in (t for t in value if t.startswith("re:")):
        try:
            compiled = re.compile(term_pattern(term))
        except re.error as error:
            raise ConfigError(f"{source}: {prefix}{key}: bad term {term!r}: {error}") from None
        if compiled.groups:
            raise ConfigError(f"{source}: {prefix}{key}: {term!r}: use (?:...), not (...)")
    return tuple(value)


def _only_keys(data: Mapping[str, Any], allowed: set[str], source: str, prefix: str) -> None:
    # A typo in a shop's extension file must not silently drop its words.
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown key {prefix}{unknown[0]}; allowed: {sorted(allowed)}")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def term_pattern(term: str) -> str:
    """Translate one lexicon term (syntax in the module docstring) into a regex."""
    if term.startswith("re:"):
        return term[3:]
    pieces: list[str] = []
    joiner = r"\s+"
    for word in term.lower().split():
        if word == "~":
            joiner = _GAP
            continue
        if pieces:
            pieces.append(joiner)
        joiner = r"\s+"
        pieces.append(_word_pattern(word))
    return "".join(pieces)


def _word_pattern(word: str) -> str:
    inner = word.startswith("*")
    prefix = word.endswith("*") and len(word) > 1
    core = re.escape(word.strip("*"))
    return ("" if inner else r"\b") + core + (r"\w*" if prefix else r"\b")


# --------------------------------------------------------------------------- matching
#
# Speed: an alternation of a few hundred terms makes the regex engine try every term at every
# character (about 100 messages/s on 2 KB). Instead all terms of a language are compiled into one
# character trie ("not (?:working|arrived)") behind a leading non-word character: a pattern that
# starts with a character class lets the engine's C loop skip to the next word start, and there
# only the branches for the word's first letter are tried. The text is scanned with a "\n" in
# front so its first word has a non-word character before it too. An empty named group at the end
# of each term says which term matched (and so its category; a term may sit in several).

_BOUNDARY, _WORDCHARS, _SPACE = r"\b", r"\w*", r"\s+"


@dataclass(frozen=True)
class _TermMatcher:
    pattern: re.Pattern[str]  # matches "\W" + term: a match's term starts at start() + 1
    ends: Mapping[str, tuple[tuple[Category, float], ...]]  # end-group name -> hits


@dataclass
class _Trie:
    children: dict[str, _Trie] = field(default_factory=dict)
    end: str | None = None  # name of the end group of the term(s) ending here

    def insert(self, tokens: Sequence[str]) -> _Trie:
        node = self
        for token in tokens:
            node = node.children.setdefault(token, _Trie())
        return node

    def regex(self) -> str:
        # Continuations before the end marker: the longest term wins at a position.
        branches = [token + child.regex() for token, child in self.children.items()]
        if self.end is not None:
            branches.append(f"(?P<{self.end}>)")
        if len(branches) == 1:
            return branches[0]
        return "(?:" + "|".join(branches) + ")"


def _tokens(term: str) -> tuple[bool, list[str]]:
    """(starts at a word boundary, regex tokens) of a non-regex term."""
    tokens: list[str] = []
    joiner = _SPACE
    for word in term.lower().split():
        if word == "~":
            joiner = _GAP
            continue
        if tokens:
            tokens.append(joiner)
        joiner = _SPACE
        tokens.extend(re.escape(ch) for ch in word.strip("*"))
        tokens.append(_WORDCHARS if word.endswith("*") and len(word) > 1 else _BOUNDARY)
    return not term.lstrip().startswith("*"), tokens


def _term_matcher(groups: Sequence[tuple[Category | None, float, tuple[str, ...]]]) -> _TermMatcher:
    at_word, inside = _Trie(), _Trie()
    raw: list[str] = []
    ends: dict[str, list[tuple[Category, float]]] = {}

    def name_for(node: _Trie) -> str:
        if node.end is None:
            node.end = f"t{len(ends)}"
            ends[node.end] = []
        return node.end

    for category, strength, terms in groups:
        for term in terms:
            if term.startswith("re:"):
                name = f"t{len(ends)}"
                ends[name] = []
                body = term[3:].removeprefix(_BOUNDARY)  # the leading \W already is a boundary
                raw.append(f"(?:{body})(?P<{name}>)")
            else:
                bounded, tokens = _tokens(term)
                name = name_for((at_word if bounded else inside).insert(tokens))
            if category is not None:
                ends[name].append((category, strength))
    branches = [*raw]
    if at_word.children:
        branches.insert(0, at_word.regex())
    if inside.children:
        branches.append(r"\w*?" + inside.regex())
    pattern = r"\W(?:" + "|".join(branches) + ")" if branches else r"(?!)"
    return _TermMatcher(re.compile(pattern), {k: tuple(v) for k, v in ends.items()})


@dataclass(frozen=True)
class _Matcher:
    """Compiled regexes for one set of lexicons (a language, or all of them)."""

    terms: _TermMatcher
    negators: _TermMatcher
    post_negators: _TermMatcher
    window: int
    praise: _TermMatcher
    acronyms: frozenset[str]

    @classmethod
    def build(cls, lexicons: Sequence[Lexicon]) -> _Matcher:
        groups = tuple(
            (category, factor, terms)
            for lex in lexicons
            for category in lex.categories
            for factor, terms in ((1.0, category.terms), (0.5, category.weak))
            if terms
        )
        return cls(
            terms=_term_matcher(groups),
            negators=_word_list(t for lex in lexicons for t in lex.negators),
            post_negators=_word_list(t for lex in lexicons for t in lex.post_negators),
            window=max((lex.negation_window for lex in lexicons), default=4),
            praise=_word_list(t for lex in lexicons for t in lex.praise),
            acronyms=frozenset(a for lex in lexicons for a in lex.acronyms),
        )


def _word_list(terms: Iterable[str]) -> _TermMatcher:
    return _term_matcher([(None, 1.0, _unique(terms))])


@dataclass
class _Tally:
    """Per class: cue -> (category, contribution), the best contribution per distinct cue."""

    hits: dict[str, dict[str, tuple[Category, float]]] = field(
        default_factory=lambda: {name: {} for name in CLASSES}
    )

    def add(self, category: Category, cue: str, factor: float) -> None:
        bucket = self.hits[category.cls]
        value = category.weight * factor
        known = bucket.get(cue)
        if known is None or abs(value) > abs(known[1]):
            bucket[cue] = (category, value)

    def score(self, cls: str) -> float:
        totals: dict[Category, float] = {}
        for category, value in self.hits[cls].values():
            totals[category] = totals.get(category, 0.0) + value
        return sum(
            total if c.cap is None or total <= c.cap else c.cap for c, total in totals.items()
        )

    def positive_cues(self, cls: str) -> list[str]:
        ranked = sorted(self.hits[cls].items(), key=lambda item: (-item[1][1], item[0]))
        return [cue for cue, (_, value) in ranked if value > 0]

    def categories(self, cls: str) -> tuple[str, ...]:
        totals: dict[str, float] = {}
        for category, value in self.hits[cls].values():
            if value > 0:
                totals[category.name] = totals.get(category.name, 0.0) + value
        return tuple(sorted(totals, key=lambda name: (-totals[name], name)))


# --------------------------------------------------------------------------- the classifier


class Classifier:
    """Scores complaint, urgency and anger of one message from lexicons; pure and thread-safe."""

    def __init__(
        self,
        lexicons: Mapping[str, Lexicon],
        thresholds: Thresholds = Thresholds(),
        *,
        subject_weight: float = 1.5,
        reply_subject_weight: float = 0.5,
    ) -> None:
        self.thresholds = thresholds
        self.subject_weight = subject_weight
        self.reply_subject_weight = reply_subject_weight
        self.languages = tuple(sorted(lexicons))
        self._lexicons = {lang.lower(): lex for lang, lex in lexicons.items()}
        # Compiling a language's trie takes ~0.1-0.3 s: each is built when first needed, so a
        # restart reaches IDLE without paying for languages nobody has written in yet.
        self._matchers: dict[str, _Matcher] = {}

    def _matcher(self, language: str) -> _Matcher:
        key = language.lower() if language.lower() in self._lexicons else ""
        matcher = self._matchers.get(key)
        if matcher is None:
            # Unknown language (""): every lexicon, so nothing is missed when detection failed.
            lexicons = [self._lexicons[key]] if key else [
                self._lexicons[lang.lower()] for lang in self.languages
            ]
            matcher = self._matchers[key] = _Matcher.build(lexicons)
        return matcher

    def classify(self, subject: str, body: str, language: str) -> Verdict:
        matcher = self._matcher(language)
        text = strip_quotes(body)
        tally = _Tally()
        subject_text, is_reply = _clean_subject(subject)
        factor = self.reply_subject_weight if is_reply else self.subject_weight
        subject_lower, text_lower = subject_text.lower(), text.lower()
        _scan(matcher, subject_lower, factor, tally)
        _scan(matcher, text_lower, 1.0, tally)
        complaint_score = tally.score("complaint")
        # Tone only counts in a mail that complains: shouting "THANK YOU!!!" is joy, not anger.
        tone, tone_cues = 0.0, list[str]()
        if complaint_score > 0:
            tone, tone_cues = _tone(matcher, f"{subject_text}\n{text}", subject_lower, text_lower)
        scores = {
            "complaint": round(complaint_score, 3),
            "urgent": round(tally.score("urgent"), 3),
            "angry": round(tally.score("angry") + tone, 3),
        }
        complaint = scores["complaint"] >= self.thresholds.complaint
        return Verdict(
            complaint=complaint,
            urgent=scores["urgent"] >= self.thresholds.urgent,
            angry=scores["angry"] >= self.thresholds.angry,
            scores=MappingProxyType(scores),
            cues=MappingProxyType({
                "complaint": tuple(tally.positive_cues("complaint")),
                "urgent": tuple(tally.positive_cues("urgent")),
                "angry": tuple(tally.positive_cues("angry") + tone_cues),
            }),
            categories=tally.categories("complaint") if complaint else (),
        )


def _clean_subject(subject: str) -> tuple[str, bool]:
    stripped = _REPLY_PREFIX.sub("", subject)
    return stripped, stripped != subject


def _scan(matcher: _Matcher, text: str, factor: float, tally: _Tally) -> None:
    if not text:
        return
    text = "\n" + text  # the leading non-word character the patterns expect (positions shift by 1)
    clauses: _Clauses | None = None  # found once per text, and only when a negation is asked
    for match in matcher.terms.pattern.finditer(text):
        start, end = match.start() + 1, match.end()
        negated: bool | None = None  # computed once, and only when a negatable category asks
        for category, strength in matcher.terms.ends[match.lastgroup or ""]:
            if category.negatable:
                if negated is None:
                    clauses = clauses or _Clauses(text)
                    negated = _negated(matcher, text, start, end, clauses)
                if negated:
                    continue
            tally.add(category, _whole_words(text, start, end), factor * strength)


class _Clauses:
    """Where the clauses of a text end (punctuation and line breaks), for the negation window:
    found with one regex scan instead of translating a slice of the text around every cue."""

    def __init__(self, text: str) -> None:
        self.ends = [m.start() for m in _CLAUSE_END_RE.finditer(text)]

    def start_before(self, position: int, floor: int) -> int:
        """Where the clause holding text[position - 1] starts, but not before floor."""
        index = bisect_left(self.ends, position)
        return max(floor, self.ends[index - 1] + 1) if index else floor

    def end_after(self, position: int, ceiling: int) -> int:
        """Where the clause holding text[position] ends, but not after ceiling."""
        index = bisect_left(self.ends, position)
        return min(ceiling, self.ends[index]) if index < len(self.ends) else ceiling


def _whole_words(text: str, start: int, end: int) -> str:
    """The cue as words: a compound-part match ("verzögerung") reports "lieferverzögerung"."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return " ".join(text[start:end].split())


def _negated(matcher: _Matcher, text: str, start: int, end: int, clauses: _Clauses) -> bool:
    if matcher.window:
        before = text[clauses.start_before(start, max(0, start - 80)) : start]
        words = before.split()[-matcher.window :]
        if words and matcher.negators.pattern.search("\n" + " ".join(words)):
            return True
    if not matcher.post_negators.ends:
        return False
    after = text[end : clauses.end_after(end, end + 40)].split()[:2]
    return bool(after) and bool(matcher.post_negators.pattern.match("\n" + " ".join(after)))


def _tone(
    matcher: _Matcher, original: str, subject_lower: str, text_lower: str
) -> tuple[float, list[str]]:
    """Shouting and exclamation marks as a score (0..1.6) with readable cues; 0 after praise."""
    shouted = [w for w in _SHOUTED.findall(original) if w.lower() not in matcher.acronyms]
    marks = original.count("!")
    if len(shouted) < 2 and marks < 2:
        return 0.0, []
    praise = matcher.praise.pattern
    if praise.search("\n" + subject_lower) or praise.search("\n" + text_lower):
        return 0.0, []
    cues: list[str] = []
    score = 0.0
    words = len(original.split())
    if len(shouted) >= 2 and words:
        ratio = min(1.0, len(shouted) / words)
        score += min(1.0, ratio * 4)
        cues.append(f"CAPS {round(ratio * 100)}%")
    if marks >= 2:
        score += min(0.6, 0.15 * marks)
        cues.append(f"!x{marks}")
    return score, cues
