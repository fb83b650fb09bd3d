"""Quote and signature stripping: only what the sender wrote now is kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inboxbot.core import quotes
from inboxbot.core.quotes import strip_quotes

CASES = [
    # (name, body, must keep, must drop)
    ("gt quotes", "Thanks, all good!\n\n> the mug was broken\n> refund please", "all good",
     "broken"),
    ("gmail en", "Perfect.\n\nOn Wed, 5 Jun 2024 at 11:20, Emma <e@x.com> wrote:\n> broken",
     "Perfect.", "broken"),
    ("gmail wrapped", "Fine now.\n\nOn Wed, 5 Jun 2024 at 11:20, Emma Lewis <\ne@x.com> wrote:\n"
     "> broken", "Fine now.", "broken"),
    ("de attribution", "Danke!\n\nAm 04.06.2024 um 09:12 schrieb Shop <s@x.de>:\n> kaputt",
     "Danke!", "kaputt"),
    ("sv attribution", "Tack!\n\nDen ons 5 juni 2024 kl 11:20 skrev Emma <e@x.se>:\n> trasig",
     "Tack!", "trasig"),
    ("et attribution", "Aitäh!\n\nK, 5. juuni 2024 kell 11:20 kirjutas Kadri <k@x.ee>:\n> katki",
     "Aitäh!", "katki"),
    ("original message", "OK thanks\n\n-----Original Message-----\nFrom: A\nbroken", "OK thanks",
     "broken"),
    ("ursprüngliche", "Danke\n-----Ursprüngliche Nachricht-----\nVon: A\nkaputt", "Danke",
     "kaputt"),
    ("ursprungligt", "Tack\n-----Ursprungligt meddelande-----\nFrån: A\ntrasig", "Tack", "trasig"),
    ("algne sõnum", "Aitäh\n-----Algne sõnum-----\nSaatja: A\nkatki", "Aitäh", "katki"),
    ("outlook block", "Sorted.\n\nFrom: Shop <s@x>\nSent: Monday\nTo: me\n\nyour item is late",
     "Sorted.", "late"),
    ("outlook de block", "Erledigt.\n\nVon: Shop\nGesendet: Montag\nBetreff: x\n\nverspätet",
     "Erledigt.", "verspätet"),
    ("underscore rule", "Thanks\n\n________________________________\nFrom: x\nbroken", "Thanks",
     "broken"),
    ("forwarded", "See below\n\n---------- Forwarded message ---------\nFrom: x\nrefund",
     "See below", "refund"),
    ("sig separator", "The lamp is broken.\n-- \nJohn Smith\nCEO, broken records Ltd",
     "lamp is broken", "records"),
    ("iphone", "It's late.\nSent from my iPhone\n\nolder text", "It's late.", "older"),
    ("de mobile", "Kaputt.\nVon meinem iPhone gesendet\nalt", "Kaputt.", "alt"),
    ("sv mobile", "Trasig.\nSkickat från min iPhone\ngammalt", "Trasig.", "gammalt"),
    ("et mobile", "Katki.\nSaadetud minu iPhone'ist\nvana", "Katki.", "vana"),
    ("bottom posting", "On Mon, 3 Jun 2024 Ann <a@x> wrote:\n> is it ok?\nNo, it is broken.",
     "it is broken", "is it ok"),
    ("interleaved", "> question one\nanswer one\n> question two\nanswer two", "answer two",
     "question"),
]


@pytest.mark.parametrize(("name", "body", "keep", "drop"), CASES, ids=[c[0] for c in CASES])
def test_strip_quotes(name: str, body: str, keep: str, drop: str) -> None:
    result = strip_quotes(body)
    assert keep in result
    assert drop not in result


@pytest.mark.parametrize(
    "text",
    [
        "Von meinem Konto wurde zweimal abgebucht.",  # prose, not a mobile signature
        "Saadetud pakist puudus kaabel.",
        "I wrote to you: still no answer.",  # no date: not an attribution
        "Jag skrev till er: inget svar.",
        "- first point\n- second point",
    ],
)
def test_customer_prose_is_kept(text: str) -> None:
    assert strip_quotes(text) == text


def test_crlf_and_plain_text_unchanged() -> None:
    assert strip_quotes("Hello\r\nthe mug is broken\r\n") == "Hello\nthe mug is broken"


@given(st.text())
def test_never_raises_and_never_grows(text: str) -> None:
    result = strip_quotes(text)
    assert len(result) <= len(text)
    assert strip_quotes(text) == result


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        # Only the lines the cheap scans flag get the full patterns; these sit after a first
        # flagged line, where every line used to be checked.
        ("The mug is broken.\n-- x\nAnn\n\u00a0-- \nmore", "The mug is broken.\n-- x\nAnn"),
        ("The mug is broken.\n> earlier\nnew line\niPhone gesendet\nsignature",
         "The mug is broken.\nnew line"),
        ("The mug is broken.\n-- x\nOn Tue, 4 Jun 2024, Ann <a@b.c>\nwrote:\nold",
         "The mug is broken.\n-- x"),  # wrapped header: its first line has no verb
    ],
)
def test_lines_after_the_first_flagged_one_are_still_cut(text: str, kept: str) -> None:
    assert strip_quotes(text) == kept


def test_a_separator_after_a_non_breaking_space_starts_the_signature() -> None:
    assert strip_quotes("The mug is broken.\n\u00a0-- \nAnn, 12 Main St") == "The mug is broken."


_LINES = (
    "On Tue, 4 Jun 2024, Ann <a@b.c> wrote:", "On Tue, 4 Jun 2024, Ann <a@b.c>", "wrote:",
    "wrote:  ", "Am 04.06.2024 um 09:12 schrieb Max:", "Den 4 juni 2024 09:12 skrev Eva:\u00a0",
    "T, 4. juuni 2024 kell 09:12 kirjutas Mari:", "> the earlier mail", "-- ",
    "Sent from my iPhone",
    "From: Ann", "Sent: Tuesday", "I wrote to you on 3 May: no answer", "jag skrev 3 gånger:",
    "The mug is broken.", "Order: 123", "", " ", "at 09:12:", "ich schrieb am 3.:", "::",
    "Von meinem Konto wurde abgebucht", "https://example.test/x",
)


def _every_line_checked(text: str) -> str:
    """strip_quotes without its shortcuts: every line through the full patterns."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        header = quotes._attribution_length(lines, i)
        if header:
            if quotes._quoted_follows(lines, i + header):
                i += header
                continue
            break
        if quotes._CUT.match(lines[i]) or quotes._is_outlook_block(lines, i):
            break
        if lines[i].lstrip()[:1] != ">":
            kept.append(lines[i])
        i += 1
    return "\n".join(kept).strip()


@given(st.lists(st.one_of(st.sampled_from(_LINES), st.text(":\r\n >-wrote09 ", max_size=12))))
def test_the_shortcuts_keep_what_checking_every_line_keeps(lines: list[str]) -> None:
    # The scans that skip the customer's own lines (a header needs a verb on a line ending in a
    # colon; a cut needs its first letter) must never change what is kept.
    text = "\n".join(lines)
    assert strip_quotes(text) == _every_line_checked(text)
