"""The complaint classifier: tables per language, scoring rules, lexicon files, eval gate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.classify import (
    Classifier,
    Thresholds,
    parse_lexicon,
    term_pattern,
)
from inboxbot.errors import ConfigError
from inboxbot.lexicons import default_classifier, load_lexicons

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return default_classifier()


# (language, subject, body, complaint, urgent) — written for these tests, not from the eval set.
TABLE = [
    # English
    ("en", "Kettle", "Hi, the kettle I got on Monday is leaking from the base.", True, False),
    ("en", "Question", "Hi, does the kettle come with a UK plug?", False, False),
    ("en", "Delivery", "How long does shipping to Spain take?", False, False),
    ("en", "Arrived", "The frame arrived today, nothing is broken. Thanks!", False, False),
    ("en", "Order 12", "My parcel hasn't arrived and it's been two weeks.", True, False),
    ("en", "Order 12", "I was charged twice. If this isn't fixed by Friday I'll contact my lawyer.",
     True, True),
    ("en", "Order 12", "This is the third time I write: the refund is still missing.", True, True),
    ("en", "Hello", "I received a blue lamp instead of the green one.", True, False),
    # German: compounds, inflection, negation
    ("de", "Lieferverzögerung", "Hallo, wann kommt mein Paket?", True, False),
    ("de", "Frage", "Hallo, wann kommt mein Paket ungefähr an?", False, False),
    ("de", "Bestellung 4", "Ich warte noch auf die Rückerstattung für den Rücksendeartikel.",
     True, False),
    ("de", "Bestellung 4", "Der Toaster ist kaputtgegangen, ein Wasserschaden im Karton.",
     True, False),
    ("de", "Bestellung 4", "Alles angekommen, nichts ist kaputt und die Gläser sind nicht "
     "beschädigt.", False, False),
    ("de", "Bestellung 4", "Schon zum dritten Mal: die Lampe ist defekt. Ich schalte meinen Anwalt "
     "ein.", True, True),
    ("de", "Frage", "Liefern Sie auch nach Luxemburg?", False, False),
    # Swedish: definite forms
    ("sv", "Order 9", "Paketet har inte kommit fram och det har gått tre veckor.", True, False),
    ("sv", "Order 9", "Varan var trasig och jag vill ha återbetalningen snarast.", True, True),
    ("sv", "Order 9", "Lampan är inte trasig, allt är bra. Tack!", False, False),
    ("sv", "Fråga", "Hur lång är leveranstiden till Åland?", False, False),
    ("sv", "Order 9", "Det är tredje gången jag skriver, skadorna på bordet är inte åtgärdade.",
     True, True),
    # Estonian: case endings, negation before and after
    ("et", "Tellimus 3", "Pakk pole kohale jõudnud, ootan juba kaks nädalat.", True, False),
    ("et", "Tellimus 3", "Lamp tuli katkisena ja soovin raha tagasi.", True, False),
    ("et", "Tellimus 3", "Vaas ei ole katki, kõik on korras. Aitäh!", False, False),
    ("et", "Tellimus 3", "Kahjustusi pole, kõik jõudis kohale.", False, False),
    ("et", "Tellimus 3", "Kirjutan kolmandat korda: tagasimakse on ikka hilinenud.", True, True),
    ("et", "Küsimus", "Kas saadate ka Leetu?", False, False),
]


@pytest.mark.parametrize(("lang", "subject", "body", "complaint", "urgent"), TABLE)
def test_table(
    clf: Classifier, lang: str, subject: str, body: str, complaint: bool, urgent: bool
) -> None:
    verdict = clf.classify(subject, body, lang)
    assert (verdict.complaint, verdict.urgent) == (complaint, urgent), verdict


@pytest.mark.parametrize(
    ("lang", "body"),
    [
        ("en", "Hi, just to say thanks, all sorted now.\n\nOn Mon, 3 Jun 2024 at 10:00, Me <m@x> "
         "wrote:\n> The mug is broken, refund immediately or I call my lawyer!!!"),
        ("de", "Danke, alles gut.\n\n-----Ursprüngliche Nachricht-----\nVon: x\nGesendet: y\n\n"
         "Die Tasse ist kaputt, ich will sofort mein Geld zurück!"),
        ("sv", "Tack, nu är allt bra.\n\n> Muggen är trasig, jag vill ha pengarna tillbaka "
         "omedelbart!"),
        ("et", "Aitäh, kõik korras.\n\n> Kruus on katki, tahan raha tagasi kohe!"),
    ],
)
def test_quoted_complaint_is_not_scored(clf: Classifier, lang: str, body: str) -> None:
    verdict = clf.classify("Hello", body, lang)
    assert not verdict.complaint and not verdict.urgent, verdict


def test_compound_cue_is_reported_as_the_whole_word(clf: Classifier) -> None:
    verdict = clf.classify("Transportschaden", "Der Karton kam so an.", "de")
    assert verdict.complaint
    assert "transportschaden" in verdict.cues["complaint"]
    assert verdict.categories == ("damaged",)


def test_subject_counts_more_than_body(clf: Classifier) -> None:
    in_subject = clf.classify("Damaged", "Order 55.", "en")
    in_body = clf.classify("Order 55", "Damaged.", "en")
    assert in_subject.scores["complaint"] > in_body.scores["complaint"] > 0


def test_reply_subject_counts_less_than_a_new_subject(clf: Classifier) -> None:
    fresh = clf.classify("Broken lamp", "See photo.", "en")
    reply = clf.classify("Re: Broken lamp", "See photo.", "en")
    assert fresh.complaint and not reply.complaint
    assert reply.scores["complaint"] < fresh.scores["complaint"]


def test_negation_window_stops_at_clause_end(clf: Classifier) -> None:
    assert clf.classify("Hi", "No. The lamp is broken.", "en").complaint
    assert not clf.classify("Hi", "The lamp is not broken.", "en").complaint


def test_angry_from_shouting_and_exclamations(clf: Classifier) -> None:
    verdict = clf.classify("WHERE IS IT", "MY ORDER IS LATE AGAIN!!! THREE WEEKS!!!", "en")
    assert verdict.complaint and verdict.angry
    assert any(cue.startswith("CAPS") for cue in verdict.cues["angry"])


def test_praise_with_exclamations_is_neither_angry_nor_complaint(clf: Classifier) -> None:
    verdict = clf.classify("WOW!!!", "THE RUG IS AMAZING!!! BEST SHOP EVER!!! THANK YOU!!!", "en")
    assert not verdict.complaint and not verdict.angry


def test_insult_makes_angry_without_capitals(clf: Classifier) -> None:
    assert clf.classify("Order", "You are a bunch of incompetent thieves.", "en").angry


def test_categories_only_for_complaints(clf: Classifier) -> None:
    verdict = clf.classify("Charged twice", "I was charged twice and the box was empty.", "en")
    assert set(verdict.categories) >= {"billing", "missing"}
    assert clf.classify("Hi", "What colours do you have?", "en").categories == ()


def test_unknown_language_uses_every_lexicon(clf: Classifier) -> None:
    assert clf.classify("", "Paket kaputt", "xx").complaint
    assert clf.classify("", "Paket kaputt", "").complaint
    # and a known language uses its own words only: Swedish "stolen" is "the chair"
    assert not clf.classify("Stolen", "Stolen är fin.", "sv").angry


def test_thresholds_decide(clf: Classifier) -> None:
    strict = Classifier(load_lexicons(), Thresholds(complaint=5.0, urgent=5.0, angry=5.0))
    body = "The lamp is broken, please fix it immediately."
    assert clf.classify("Hi", body, "en").complaint
    verdict = strict.classify("Hi", body, "en")
    assert not verdict.complaint and not verdict.urgent
    assert verdict.scores == clf.classify("Hi", body, "en").scores


@settings(max_examples=300, deadline=None)
@given(
    subject=st.text(max_size=200),
    body=st.text(max_size=3000),
    language=st.sampled_from(["en", "de", "sv", "et", "", "xx", "DE"]),
)
def test_classify_never_raises_and_is_deterministic(subject: str, body: str, language: str) -> None:
    clf = _shared()
    first = clf.classify(subject, body, language)
    assert first == clf.classify(subject, body, language)
    assert set(first.scores) == {"complaint", "urgent", "angry"}


_SHARED: list[Classifier] = []


def _shared() -> Classifier:
    if not _SHARED:
        _SHARED.append(default_classifier())
    return _SHARED[0]


# --------------------------------------------------------------------------- lexicon files


@pytest.mark.parametrize(
    ("term", "matches", "misses"),
    [
        ("kaputt*", "ist kaputtgegangen", "unkaputt"),
        ("*verzögerung*", "die lieferverzögerungen", "verzög"),
        ("*schaden", "ein transportschaden", "schadenfreude"),
        ("not ~ arrived", "has not yet really arrived", "not arrived-ish"[:0] + "arrived not"),
        ("late", "it is late", "chocolate"),
        ("re:within \\d+ days", "within 14 days", "within days"),
    ],
)
def test_term_syntax(term: str, matches: str, misses: str) -> None:
    import re

    pattern = re.compile(term_pattern(term))
    assert pattern.search(matches)
    assert not pattern.search(misses)


def test_shop_extension_adds_words(tmp_path: Path) -> None:
    (tmp_path / "en-shop.toml").write_text(
        'language = "en"\n[complaint.damaged]\nnegatable = true\nterms = ["squished"]\n',
        encoding="utf-8",
    )
    base = Classifier(load_lexicons(), Thresholds())
    extended = Classifier(load_lexicons([tmp_path]), Thresholds())
    assert not base.classify("Hi", "The cake arrived squished.", "en").complaint
    verdict = extended.classify("Hi", "The cake arrived squished.", "en")
    assert verdict.complaint and verdict.categories == ("damaged",)
    # the shipped words are still there
    assert extended.classify("Hi", "The lamp is broken.", "en").complaint


def test_shop_can_add_a_language(tmp_path: Path) -> None:
    (tmp_path / "fi.toml").write_text(
        'language = "fi"\n[complaint.damaged]\nterms = ["rikki"]\n', encoding="utf-8"
    )
    clf = Classifier(load_lexicons([tmp_path]), Thresholds())
    assert clf.classify("Tilaus", "Lamppu on rikki.", "fi").complaint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('language = "en"\n[complaint.x]\nterm = ["a"]\n', "unknown key complaint.x.term"),
        ('language = "en"\n[complaint.x]\nterms = ["re:(a"]\n', "bad term"),
        ('language = "en"\n[complaint.x]\nterms = ["re:(a)"]\n', "(?:...)"),
        ('language = "en"\n[complaint.x]\nterms = "a"\n', "list of non-empty strings"),
        ('language = "en"\n[complaint.x]\nweight = "high"\nterms = ["a"]\n', "weight"),
        ('[complaint.x]\nterms = ["a"]\n', "language"),
        ('language = "en"\n[mood.x]\nterms = ["a"]\n', "unknown key mood"),
        ('language = "en"\n[complaint.x\n', "not valid TOML"),
    ],
)
def test_bad_lexicon_names_file_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_lexicon(text, "shop/en.toml")
    assert "shop/en.toml" in str(info.value)
    assert message in str(info.value)


def test_missing_extension_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_lexicons([tmp_path / "nope"])


def test_shipped_lexicons_cover_the_four_languages() -> None:
    lexicons = load_lexicons()
    assert set(lexicons) == {"en", "de", "sv", "et"}
    for lexicon in lexicons.values():
        names = {c.name for c in lexicon.categories if c.cls == "complaint"}
        assert names >= {"damaged", "late", "missing", "wrong_item", "refund", "billing",
                         "cancelled", "no_answer"}


# --------------------------------------------------------------------------- evaluation gate


def _eval_module() -> ModuleType:
    path = ROOT / "scripts" / "eval_classifier.py"
    spec = importlib.util.spec_from_file_location("eval_classifier", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_classifier"] = module
    spec.loader.exec_module(module)
    return module


def test_eval_set_shape() -> None:
    evaluation = _eval_module()
    every = evaluation.load_examples("all")
    assert len(every) >= 400
    for lang in ("en", "de", "sv", "et"):
        mine = [e for e in every if e.language == lang]
        assert len(mine) >= 80
        assert {e.split for e in mine} == {"dev", "test"}
    assert len({e.id for e in every}) == len(every)


def test_eval_targets_on_the_test_half(clf: Classifier) -> None:
    """A regression in the lexicons or the scorer fails the suite, not just the script."""
    evaluation = _eval_module()
    counts, _misses = evaluation.evaluate(clf, evaluation.load_examples("test"))
    assert evaluation.failures(counts) == [], evaluation.table(counts)


# --------------------------------------------------------------------------- matching speed-ups


def _vocabulary() -> list[str]:
    """Words the shipped lexicons react to (plain and raw terms' pieces), and filler."""
    words = {"the", "und", "och", "ja", "ei", "not", "nicht", "inte", "14", "3", "tagen", "days",
             "dagar", "päeva", "jooksul", "within", "innerhalb", "inom", "statt", "bekommen",
             "kiire", "asemel", "sain", "istället", "för", "fick", "lieferverzögerung",
             "wasserschaden", "kaputtgegangen", "don't", "erstattung", "rückerstattung"}
    for lex in load_lexicons().values():
        for category in lex.categories:
            for term in (*category.terms, *category.weak):
                if not term.startswith("re:"):
                    words.update(w.strip("*") for w in term.split() if w != "~")
    return sorted(w for w in words if w)


_WORDS = _vocabulary()


@settings(max_examples=300, deadline=None)
@given(
    language=st.sampled_from(["en", "de", "sv", "et", ""]),
    pieces=st.lists(
        st.one_of(st.sampled_from(_WORDS), st.sampled_from([" ", "\n", ", ", ". ", "-", "x"])),
        max_size=80,
    ),
)
def test_split_scan_finds_what_the_combined_pattern_finds(language: str, pieces: list[str]) -> None:
    # The whole-word terms, the raw terms and the word-part terms are searched separately and
    # merged (inboxbot.core.classify._TermMatcher.finditer); the one combined pattern is the
    # reference for what a scan must find.
    from inboxbot.core.classify import _hits

    terms = _shared()._matcher(language).terms
    text = "\n" + " ".join(pieces).lower()
    assert terms.finditer(text) == _hits(terms.pattern.finditer(text))


def test_overlapping_part_and_word_terms_score_as_one_scan_would() -> None:
    # "*ab cd" matches "xab cd" first, so "cd ef" never starts and "ef" is found on its own. The
    # whole-word scan alone took "cd ef" (and with it "ef"): the merge sees the overlap and hands
    # the text to the combined pattern.
    lexicon = parse_lexicon(
        'language = "en"\n[complaint.a]\nterms = ["*ab cd"]\n[complaint.b]\nterms = ["cd ef"]\n'
        '[complaint.c]\nterms = ["ef"]\n',
        "test.toml",
    )
    verdict = Classifier({"en": lexicon}).classify("", "xab cd ef", "en")
    assert set(verdict.cues["complaint"]) == {"xab cd", "ef"}


def test_raw_term_found_near_its_literal_and_anywhere_without_one() -> None:
    lexicon = parse_lexicon(
        'language = "en"\n[urgent.deadline]\nterms = ["re:within \\\\d{1,4} days", '
        '"re:\\\\d+ hours"]\n',
        "test.toml",
    )
    clf = Classifier({"en": lexicon})
    assert clf.classify("", "Please refund within 14 days.", "en").cues["urgent"] == (
        "within 14 days",)
    assert clf.classify("", "Answer in 48 hours", "en").urgent  # unbounded: whole-text search
    assert not clf.classify("", "within a few days", "en").urgent
    assert not clf.classify("", "xwithin 14 days", "en").urgent  # after a letter: not a term
    assert not clf.classify("", "in x48 hours", "en").urgent


def _praise_vocabulary() -> list[str]:
    words: set[str] = set()
    for lex in load_lexicons().values():
        for term in (*lex.praise, *lex.negators, *lex.post_negators):
            words.update(w.strip("*") for w in term.split())
    return sorted(w for w in words if w)


_TONE_WORDS = _praise_vocabulary()
_TONE_PIECES = st.lists(
    st.one_of(
        st.sampled_from(_TONE_WORDS), st.sampled_from(_WORDS[:200]),
        st.sampled_from([" ", "\n", ", ", ". ", "-", "x", "!", "(", "'"]),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(language=st.sampled_from(["en", "de", "sv", "et", ""]), pieces=_TONE_PIECES)
def test_praise_found_near_its_first_words_as_a_full_search_finds_it(
    language: str, pieces: list[str]
) -> None:
    from inboxbot.core.classify import _praised

    matcher = _shared()._matcher(language)
    text = "".join(pieces).lower()
    assert _praised(matcher, text) == bool(matcher.praise.pattern.search("\n" + text))


@settings(max_examples=300, deadline=None)
@given(language=st.sampled_from(["en", "de", "sv", "et", ""]), pieces=_TONE_PIECES,
       cut=st.integers(0, 400))
def test_negation_window_ends_after_the_last_clause_end(
    language: str, pieces: list[str], cut: int
) -> None:
    # The reference: the last clause end found by a greedy match from the window's start.
    import re

    from inboxbot.core.classify import _negated

    matcher = _shared()._matcher(language)
    text = "\n" + "".join(pieces).lower()
    start = min(cut, len(text))
    before = text[max(0, start - 80) : start]
    if clause := re.match(r".*[.!?;:,()\"\n]", before, re.DOTALL):
        before = before[clause.end() :]
    words = before.split()[-matcher.window :]
    expected = bool(words) and bool(matcher.negators.pattern.search("\n" + " ".join(words)))
    if not expected and matcher.post_negators.ends:
        after = text[start : start + 40]
        if clause_end := re.search(r"[.!?;:,()\"\n]", after):
            after = after[: clause_end.start()]
        following = after.split()[:2]
        expected = bool(following) and bool(
            matcher.post_negators.pattern.match("\n" + " ".join(following))
        )
    assert _negated(matcher, text, start, start) == expected


_LATIN1_PIECES = st.lists(
    st.one_of(
        st.sampled_from(_WORDS), st.sampled_from(_TONE_WORDS),
        st.sampled_from([" ", "\n", ", ", ". ", "-", "'", "«", "»", "§", "°", "\xa0", "¿", "×",
                         "ª", "µ", "½", "²", "ß", "ÿ", "_", "!"]),
        st.characters(max_codepoint=255),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(language=st.sampled_from(["en", "de", "sv", "et", ""]), pieces=_LATIN1_PIECES)
def test_latin1_matcher_finds_what_the_unicode_one_finds(language: str, pieces: list[str]) -> None:
    # A text of Latin-1 characters is scanned by patterns that start with the Latin-1 non-word
    # characters as a set instead of \W: the same characters, so the same matches.
    from inboxbot.core.classify import _hits

    clf = _shared()
    text = "\n" + "".join(pieces).lower()
    assert all(ord(ch) < 256 for ch in text)  # what the Latin-1 matcher is chosen for
    wide, narrow = clf._matcher(language), clf._matcher(language, latin1=True)
    assert narrow.terms.finditer(text) == wide.terms.finditer(text)
    for name in ("terms", "negators", "post_negators", "praise"):
        assert _hits(getattr(narrow, name).pattern.finditer(text)) == _hits(
            getattr(wide, name).pattern.finditer(text)
        ), name


def test_a_text_beyond_latin1_is_scanned_with_the_unicode_patterns() -> None:
    from inboxbot.core.classify import _is_latin1

    assert _is_latin1("hello") and _is_latin1("grüße, åsa, õun")
    assert not _is_latin1("pakk on katki – šokk") and not _is_latin1("broken 😡")
    verdict = _shared().classify("", "Pakk on katki ja see on šokk!", "et")
    assert verdict.complaint


_SHOUTING_PIECES = st.lists(
    st.one_of(
        st.sampled_from(["FIX", "NOW", "ÄÖÜ", "ÅSA", "ÕUN", "DHL", "ÉTÉ", "ASAP", "Ab", "aBC",
                         "ØRE", "ß", "_", "x", "1", " ", "  ", "\n", "\t", "\xa0", "\x85",
                         "\x1c", "!", ".", "-", "'"]),
        st.characters(max_codepoint=255),
    ),
    max_size=60,
)


@settings(max_examples=500, deadline=None)
@given(pieces=_SHOUTING_PIECES)
def test_latin1_shouting_and_word_count_agree_with_the_regex_and_split(pieces: list[str]) -> None:
    # A Latin-1 text's tone is counted on its character kinds (_SHAPES) with bytes.find and
    # bytes.count; the capitals regex and str.split are the reference.
    from inboxbot.core.classify import _shapes, _shouted, _word_count

    text = "".join(pieces)
    shapes = _shapes(text)
    assert shapes is not None and len(shapes) == len(text)
    assert _shouted(text, shapes) == _shouted(text)
    assert _word_count(text, shapes) == len(text.split())


def test_a_text_beyond_latin1_is_shouted_at_with_the_regex() -> None:
    from inboxbot.core.classify import _shapes, _shouted

    assert _shapes("ŠOKK JA ŽÜRII") is None
    assert _shouted("ŠOKK JA ŽÜRII", None) == ["ŠOKK", "ŽÜRII"]


def test_a_star_inside_a_word_is_refused_with_the_fix() -> None:
    # The syntax knows stem*, *part* and *end; a star inside a word was matched as a star, so
    # the shipped "unauthori*ed" never fired on "unauthorised" or "unauthorized".
    with pytest.raises(ConfigError, match=r"shop\.toml: complaint\.billing\.terms: bad term "
                                          r"'unauthori\*ed': a \* goes only"):
        parse_lexicon('language = "en"\n[complaint.billing]\nterms = ["unauthori*ed"]\n',
                      "shop.toml")
    verdict = _shared().classify("", "There is an unauthorised charge on my card.", "en")
    assert verdict.complaint and "unauthorised" in verdict.cues["complaint"]
