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
              (bounded repeats, \\d{1,4} rather than \\d+, let it be searched only near the
              literal words it contains; see _Raw)
  A * stands only at a word's start or end: a term with one inside a word is refused.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from inboxbot.core.literals import Required, max_width, may_match, required_literals, selectivity
from inboxbot.core.quotes import strip_quotes
from inboxbot.errors import ConfigError

CLASSES = ("complaint", "urgent", "angry")

# Subjects starting like this are replies or forwards in the four languages and common clients.
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|vb|wg|fw|fwd|antw|vast)\s*(?:\[\d+\])?\s*:\s*)+",
                           re.IGNORECASE)
# Characters that end a clause: negation does not reach across them ("No. It is broken.").
_CLAUSE_END_RE = re.compile(r"[.!?;:,()\"\n]")
# A shouted word: three or more capitals (those of the four languages included), nothing else.
# Spelt out three times, the class lets the regex engine skip in C to the next capital; that the
# run is a whole word is checked on each of the few runs found (`_shouted`).
_CAPITALS = re.compile(r"[A-ZÄÖÜÅÕŠŽÉ][A-ZÄÖÜÅÕŠŽÉ][A-ZÄÖÜÅÕŠŽÉ]+")
# The same for a Latin-1 text, whose characters one bytes.translate maps to their kind: "A" a
# capital of _CAPITALS, "a" another word character, " " whitespace (what str.split splits on),
# "." anything else. Shouted runs are then found with bytes.find and words counted with
# bytes.count, in C: the regex stopped at every capitalised German noun (~130k instructions per
# 2 KB, against ~20k), and str.split built a string per word only to count them.
_SHAPES = bytes(
    ord("A") if chr(code) in "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜÅÕÉ"
    else ord("a") if chr(code).isalnum() or code == 0x5F
    else ord(" ") if chr(code).isspace()
    else ord(".")
    for code in range(256)
)
_GAP = r"(?:\s+[\w'-]+){0,3}\s+"
# What every term pattern starts with: the non-word character before the term. In a text of
# Latin-1 characters only (English, German, Swedish; "õ" too) the same characters as a plain
# 256-bit set, which the regex engine tests without asking the Unicode database about every
# character it skips (~25% fewer instructions for the scan of 2 KB).
_NON_WORD = r"\W"
_LATIN1_NON_WORD = "[" + "".join(
    re.escape(chr(code)) for code in range(256) if not (chr(code).isalnum() or code == 0x5F)
) + "]"


def _is_latin1(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("latin-1")  # a copy of the bytes when it is: the check costs next to nothing
    except UnicodeEncodeError:
        return False
    return True


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
    """Score at which each class becomes true (config keys under [triage])."""

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

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as plain values (a read-only mapping cannot be): a backlog's verdicts come
        back from the process that read the texts (inboxbot.textwork)."""
        return _verdict, (
            self.complaint,
            self.urgent,
            self.angry,
            dict(self.scores),
            dict(self.cues),
            self.categories,
        )


def _verdict(
    complaint: bool,
    urgent: bool,
    angry: bool,
    scores: dict[str, float],
    cues: dict[str, tuple[str, ...]],
    categories: tuple[str, ...],
) -> Verdict:
    return Verdict(
        complaint, urgent, angry, MappingProxyType(scores), MappingProxyType(cues), categories
    )


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
    # and compiling each of ~1,600 terms just to check it cost ~0.5 s of every start. A star
    # inside a word would be matched as a star (the shipped "unauthori*ed" never matched).
    for term in (t for t in value if not t.startswith("re:")):
        if any("*" in word.strip("*") for word in term.split()):
            raise ConfigError(
                f"{source}: {prefix}{key}: bad term {term!r}: a * goes only at a word's start or "
                "end (stem*, *part*, *end); list the spellings, or write re:REGEX"
            )
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


_Hit = tuple[int, int, str]  # (start of the leading non-word character, end, end-group name)
# Below this many characters (a subject, a one-line reply) the combined pattern is cheaper than
# looking for where the rare terms could match: measured break-even ~190 characters.
_SPLIT_FROM = 200


@dataclass(frozen=True)
class _Raw:
    """One raw term, searched alone and only near what its matches must hold: a term is short
    ("within \\d{1,4} days"), so where it can match is a few words around each "within "."""

    body: re.Pattern[str]  # the term with its end group, without the combined pattern's "\W"
    needs: Required | None  # what every match holds (None: unknown, always search)
    width: int | None  # the longest match (None: unbounded, search the whole text)
    anchors: frozenset[str] = frozenset()  # the rarest-looking of `needs`: searched near these

    def hits(self, text: str) -> list[_Hit]:
        """The term's matches in `text` that the combined pattern finds at their position: each
        after a non-word character, left to right, not overlapping."""
        if self.needs is not None and not may_match(self.needs, text):
            return []
        if not self.anchors or self.width is None:
            return self._search(text)
        hits: list[_Hit] = []
        position = 1
        for anchor in _occurrences(text, self.anchors):
            if anchor < position:
                continue
            hit = self._near(text, max(position, anchor - self.width), anchor, self.width)
            if hit:
                hits.append(hit)
                position = max(hit[1], hit[0] + 2)  # as _search moves on
        return hits

    def _near(self, text: str, low: int, anchor: int, width: int) -> _Hit | None:
        """The leftmost match starting from `low` to `anchor`: a match holding this anchor starts
        at most `width` before it, and any earlier match holds an earlier anchor. The window is
        searched, and what it finds is matched again on the whole text, which may end it
        differently (the term has no lookahead, so the window cannot hide a match)."""
        end = min(len(text), anchor + width + 2)
        while low <= anchor and (found := self.body.search(text, low, end)):
            start = found.start()
            if start > anchor:
                break
            whole = None if _is_word(text[start - 1]) else self.body.match(text, start)
            if whole:
                return (start - 1, whole.end(), whole.lastgroup or "")
            low = start + 1
        return None

    def _search(self, text: str) -> list[_Hit]:
        hits: list[_Hit] = []
        position = 1
        while match := self.body.search(text, position):
            start = match.start()
            if _is_word(text[start - 1]):  # the combined pattern needs a non-word character first
                position = start + 1
                continue
            hits.append((start - 1, match.end(), match.lastgroup or ""))
            position = max(match.end(), start + 1)
        return hits


def _occurrences(text: str, literals: Iterable[str]) -> list[int]:
    found = []
    for literal in literals:
        at = text.find(literal)
        while at >= 0:
            found.append(at)
            at = text.find(literal, at + 1)
    return sorted(set(found))


@dataclass(frozen=True)
class _Rare:
    """The raw (`re:`) and word-part (`*part*`) terms of a matcher, searched only where they can
    match: in the combined pattern they cost as much as all other terms together (the part terms
    are tried at every character of every word), yet few texts hold any of them."""

    pattern: re.Pattern[str]  # these terms only, "\W" first, in the combined pattern's order
    raw: tuple[_Raw, ...]
    parts: tuple[str, ...]  # the literal that starts each word-part term

    def candidates(self, text: str) -> dict[int, tuple[_Hit, bool]] | None:
        """Where in `text` one of these terms matches, as the combined pattern would match at that
        position: start -> (hit, whether a raw term matched); empty for most texts, cheaply.
        None when two raw terms match at one place (the combined pattern must decide)."""
        found: dict[int, tuple[_Hit, bool]] = {}
        for term in self.raw:
            for hit in term.hits(text):
                if hit[0] in found:
                    return None
                found[hit[0]] = (hit, True)
        for start in _word_starts(text, [part for part in self.parts if part in text]):
            if start not in found and (match := self.pattern.match(text, start)):
                found[start] = ((start, match.end(), match.lastgroup or ""), False)
        return found


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"  # what the regex \w matches in a str


def _hits(matches: Iterable[re.Match[str]]) -> list[_Hit]:
    return [(m.start(), m.end(), m.lastgroup or "") for m in matches]


def _word_starts(text: str, parts: Sequence[str]) -> set[int]:
    """The non-word character before each word holding one of `parts`: where a word-part
    term's match begins."""
    starts = set()
    for part in parts:
        found = text.find(part)
        while found >= 0:
            start = found
            while start > 0 and _is_word(text[start - 1]):
                start -= 1
            if start > 0:
                starts.add(start - 1)
            found = text.find(part, found + 1)
    return starts


@dataclass(frozen=True)
class _TermMatcher:
    pattern: re.Pattern[str]  # matches "\W" + term: a match's term starts at start() + 1
    ends: Mapping[str, tuple[tuple[Category, float], ...]]  # end-group name -> hits
    words: re.Pattern[str] | None = None  # the whole-word terms alone (None: only `pattern`)
    rare: _Rare | None = None

    def finditer(self, text: str) -> list[_Hit]:
        """The matches of `pattern` in `text`, found with fewer regex steps: the whole-word
        terms are scanned alone and the rare terms only where they can occur, then merged the
        way the combined pattern's left-to-right scan would take them."""
        if self.words is None or len(text) < _SPLIT_FROM:
            return _hits(self.pattern.finditer(text))
        words = _hits(self.words.finditer(text))
        rare = self.rare.candidates(text) if self.rare else {}
        if not rare:
            return words if rare is not None else _hits(self.pattern.finditer(text))
        merged = _merge(words, rare)
        return _hits(self.pattern.finditer(text)) if merged is None else merged


def _merge(words: list[_Hit], rare: dict[int, tuple[_Hit, bool]]) -> list[_Hit] | None:
    """The combined scan from its parts: at each position the whole-word terms first, then the
    rare ones; a match's text is not scanned again. None where the parts cannot tell: a word
    match starting inside a rare one (the word scan went on from there, the combined one did
    not) or a raw match not taken (the raw scan skipped what lay inside it)."""
    at = {hit[0]: hit for hit in words}
    merged: list[_Hit] = []
    end = 0
    for start in sorted(at.keys() | rare.keys()):
        word, raw = at.get(start), start in rare and rare[start][1]
        if start < end or (word is not None and raw):
            if word is not None or raw:
                return None
            continue
        taken = word if word is not None else rare[start][0]
        merged.append(taken)
        end = taken[1]
    return merged


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


def _term_matcher(
    groups: Sequence[tuple[Category | None, float, tuple[str, ...]]], lead: str = _NON_WORD
) -> _TermMatcher:
    at_word, inside = _Trie(), _Trie()
    raw: list[tuple[str, str]] = []  # (branch of the combined pattern, the term alone)
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
                raw.append((f"(?:{body})(?P<{name}>)", body))
            else:
                bounded, tokens = _tokens(term)
                name = name_for((at_word if bounded else inside).insert(tokens))
            if category is not None:
                ends[name].append((category, strength))
    words = [at_word.regex()] if at_word.children else []
    parts = [r"\w*?" + inside.regex()] if inside.children else []
    rare = [*(branch for branch, _ in raw), *parts]
    hits = {k: tuple(v) for k, v in ends.items()}
    if not rare:
        return _TermMatcher(_alternatives(words, lead), hits)
    part_literals = _unique(
        _first_word(term) for _, _, terms in groups for term in terms
        if not term.startswith("re:") and term.lstrip().startswith("*")
    )
    return _TermMatcher(
        _alternatives([*words, *rare], lead), hits, words=_alternatives(words, lead),
        rare=_Rare(_alternatives(rare, lead), tuple(_raw(branch, body) for branch, body in raw),
                   part_literals),
    )


def _raw(branch: str, body: str) -> _Raw:
    needs = required_literals(body)
    anchors = max(needs, key=selectivity) if needs else frozenset[str]()
    return _Raw(re.compile(branch), needs, max_width(body), anchors)


def _alternatives(branches: Sequence[str], lead: str) -> re.Pattern[str]:
    return re.compile(lead + "(?:" + "|".join(branches) + ")" if branches else r"(?!)")


def _first_word(term: str) -> str:
    """What every match of a plain term holds: its first word without the stars ("" for a raw
    term: every text holds that, so a raw praise term is always searched for)."""
    return "" if term.startswith("re:") else term.lower().split()[0].strip("*")


@dataclass(frozen=True)
class _Matcher:
    """Compiled regexes for one set of lexicons (a language, or all of them)."""

    terms: _TermMatcher
    negators: _TermMatcher
    post_negators: _TermMatcher
    window: int
    praise: _TermMatcher
    praise_words: tuple[str, ...]  # what each praise match holds (see _praised)
    praise_anchored: bool  # every praise match starts right before one of praise_words
    acronyms: frozenset[str]

    @classmethod
    def build(cls, lexicons: Sequence[Lexicon], lead: str = _NON_WORD) -> _Matcher:
        groups = tuple(
            (category, factor, terms)
            for lex in lexicons
            for category in lex.categories
            for factor, terms in ((1.0, category.terms), (0.5, category.weak))
            if terms
        )
        return cls(
            terms=_term_matcher(groups, lead),
            negators=_word_list((t for lex in lexicons for t in lex.negators), lead),
            post_negators=_word_list((t for lex in lexicons for t in lex.post_negators), lead),
            window=max((lex.negation_window for lex in lexicons), default=4),
            praise=_word_list((t for lex in lexicons for t in lex.praise), lead),
            praise_words=_unique(_first_word(t) for lex in lexicons for t in lex.praise),
            praise_anchored=all(
                not t.startswith("re:") and not t.lstrip().startswith("*")
                for lex in lexicons for t in lex.praise
            ),
            acronyms=frozenset(a for lex in lexicons for a in lex.acronyms),
        )


def _word_list(terms: Iterable[str], lead: str) -> _TermMatcher:
    return _term_matcher([(None, 1.0, _unique(terms))], lead)


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
        # Keyed by identity: a Category's value hash walks all its terms, and each lexicon's
        # categories are distinct objects anyway.
        totals: dict[int, tuple[Category, float]] = {}
        for category, value in self.hits[cls].values():
            known = totals.get(id(category))
            totals[id(category)] = (category, value + (known[1] if known else 0.0))
        return sum(
            total if c.cap is None or total <= c.cap else c.cap for c, total in totals.values()
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
        self._matchers: dict[tuple[str, bool], _Matcher] = {}

    def _matcher(self, language: str, latin1: bool = False) -> _Matcher:
        """The matcher of `language`; with `latin1`, the one for texts of Latin-1 characters
        only (see _LATIN1_NON_WORD)."""
        key = language.lower() if language.lower() in self._lexicons else ""
        matcher = self._matchers.get((key, latin1))
        if matcher is None:
            # Unknown language (""): every lexicon, so nothing is missed when detection failed.
            lexicons = [self._lexicons[key]] if key else [
                self._lexicons[lang.lower()] for lang in self.languages
            ]
            lead = _LATIN1_NON_WORD if latin1 else _NON_WORD
            matcher = self._matchers[(key, latin1)] = _Matcher.build(lexicons, lead)
        return matcher

    def classify(self, subject: str, body: str, language: str) -> Verdict:
        text = strip_quotes(body)
        tally = _Tally()
        subject_text, is_reply = _clean_subject(subject)
        factor = self.reply_subject_weight if is_reply else self.subject_weight
        subject_lower, text_lower = subject_text.lower(), text.lower()
        # Every pattern below scans these two texts or parts of them.
        matcher = self._matcher(language, _is_latin1(subject_lower) and _is_latin1(text_lower))
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
    ends, hits = matcher.terms.ends, tally.hits
    for start, end, name in matcher.terms.finditer(text):
        start += 1
        negated: bool | None = None  # computed once, and only when a negatable category asks
        cue: str | None = None
        for category, strength in ends[name]:
            if category.negatable:
                if negated is None:
                    negated = _negated(matcher, text, start, end)
                if negated:
                    continue
            cue = cue or _whole_words(text, start, end)
            # _Tally.add, inlined: a 2 KB complaint has some 20 cues, each in a few categories
            bucket = hits[category.cls]
            value = category.weight * (factor * strength)
            known = bucket.get(cue)
            if known is None or abs(value) > abs(known[1]):
                bucket[cue] = (category, value)


def _whole_words(text: str, start: int, end: int) -> str:
    """The cue as words: a compound-part match ("verzögerung") reports "lieferverzögerung"."""
    cue = text[start:end]
    if cue.isalnum() and not text[start - 1].isalnum() and not text[end : end + 1].isalnum():
        return cue  # one whole word, as almost every cue is
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return " ".join(text[start:end].split())


def _negated(matcher: _Matcher, text: str, start: int, end: int) -> bool:
    # The window ends at the clause's edge: negation does not reach across "." or ",".
    if matcher.window:
        before = text[max(0, start - 80) : start]
        # The last clause end, found as the first in the reversed window: a greedy ".*" before
        # the class backtracks over the whole window, ~2 µs of each of a dozen calls per mail.
        if clause := _CLAUSE_END_RE.search(before[::-1]):
            before = before[len(before) - clause.start() :]
        words = before.split()[-matcher.window :]
        if words and matcher.negators.pattern.search("\n" + " ".join(words)):
            return True
    if not matcher.post_negators.ends:
        return False
    after = text[end : end + 40]
    if clause_end := _CLAUSE_END_RE.search(after):
        after = after[: clause_end.start()]
    words = after.split()[:2]
    return bool(words) and bool(matcher.post_negators.pattern.match("\n" + " ".join(words)))


def _shouted(text: str, shapes: bytes | None = None) -> list[str]:
    """Whole words of three or more capitals (`shapes`: the text's _SHAPES, when Latin-1)."""
    if shapes is None:
        return [
            run.group()
            for run in _CAPITALS.finditer(text)
            if not _is_word(text[run.start() - 1 : run.start()] or " ")
            and not _is_word(text[run.end() : run.end() + 1] or " ")
        ]
    runs = []
    at = shapes.find(b"AAA")
    while at >= 0:
        end = at + 3
        while shapes[end : end + 1] == b"A":
            end += 1
        if shapes[at - 1 : at] not in _WORD_SHAPES and shapes[end : end + 1] not in _WORD_SHAPES:
            runs.append(text[at:end])
        at = shapes.find(b"AAA", end)
    return runs


_WORD_SHAPES = (b"A", b"a")


def _shapes(text: str) -> bytes | None:
    try:
        return text.encode("latin-1").translate(_SHAPES)
    except UnicodeEncodeError:
        return None


def _word_count(text: str, shapes: bytes | None) -> int:
    """len(text.split()), without building the words."""
    if shapes is None:
        return len(text.split())
    starts = shapes.count(b" A") + shapes.count(b" a") + shapes.count(b" .")
    return starts + (shapes[:1] not in (b" ", b""))


def _praised(matcher: _Matcher, text: str) -> bool:
    # Each praise term's first word is in every match: finding those few strings is much cheaper
    # than scanning every word of a long complaint for praise it does not hold.
    if not matcher.praise_anchored:
        if not any(word in text for word in matcher.praise_words):
            return False
        return bool(matcher.praise.pattern.search("\n" + text))
    # Short first words ("super", "ilus") sit inside many words of a long complaint; a match
    # starts right before one of them, so trying the pattern only there answers as the full
    # search does, without trying it after every space of the text.
    padded = ""
    match = matcher.praise.pattern.match
    for word in matcher.praise_words:
        at = text.find(word)
        while at >= 0:
            padded = padded or "\n" + text
            if match(padded, at):  # `at` in padded is the character before the word
                return True
            at = text.find(word, at + 1)
    return False


def _tone(
    matcher: _Matcher, original: str, subject_lower: str, text_lower: str
) -> tuple[float, list[str]]:
    """Shouting and exclamation marks as a score (0..1.6) with readable cues; 0 after praise."""
    shapes = _shapes(original)
    shouted = [w for w in _shouted(original, shapes) if w.lower() not in matcher.acronyms]
    marks = original.count("!")
    if len(shouted) < 2 and marks < 2:
        return 0.0, []
    if _praised(matcher, subject_lower) or _praised(matcher, text_lower):
        return 0.0, []
    cues: list[str] = []
    score = 0.0
    if len(shouted) >= 2 and (words := _word_count(original, shapes)):
        ratio = min(1.0, len(shouted) / words)
        score += min(1.0, ratio * 4)
        cues.append(f"CAPS {round(ratio * 100)}%")
    if marks >= 2:
        score += min(0.6, 0.15 * marks)
        cues.append(f"!x{marks}")
    return score, cues
