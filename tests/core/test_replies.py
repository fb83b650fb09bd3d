"""Reply templates, their localization and the reply mail built from them."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import datetime, time
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from inboxbot.core.language import format_when, hours_table, weekday_names
from inboxbot.core.message import Message, parse_message
from inboxbot.core.replies import (
    Rendered,
    ReplyContext,
    TemplateSet,
    build_reply,
    context_for,
    make_reference,
    quote_text,
    reply_subject,
    sample_context,
)
from inboxbot.errors import TemplateError
from inboxbot.templates import default_replies_dir, load_templates, read_sources

LANGUAGES = ("en", "de", "sv", "et")
SHIPPED = ("ack", "redirect", "checkin", "reminder")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 18, 30, tzinfo=BERLIN)
INJECTION = "{{ 7*7 }} {% for %} {{ ''.__class__ }}"


def shipped() -> TemplateSet:
    return load_templates(default_replies_dir(), default_language="en")


def ts(sources: dict[str, str], default: str = "en") -> TemplateSet:
    return TemplateSet.from_sources(sources, "replies", default_language=default)


def inbound(**headers: str) -> Message:
    base = {
        "From": "Kim Lindqvist <Kim@Example.com>",
        "To": "support@kaffebutiken.example",
        "Subject": "Where is my order?",
        "Message-ID": "<abc123@mail.example.com>",
        "Date": "Fri, 20 Nov 2026 18:00:00 +0100",
    }
    base.update(headers)
    head = "".join(f"{name}: {value}\r\n" for name, value in base.items() if value)
    return parse_message((head + "\r\nMy parcel has not arrived.\r\nCan you check?\r\n").encode())


# --- shipped templates ------------------------------------------------------------------------


def test_the_shipped_templates_validate_clean() -> None:
    assert shipped().validate(required=SHIPPED) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_exists_in_all_four_languages(name: str) -> None:
    assert shipped().languages(name) == sorted(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_ack_says_when_we_are_open_and_by_when_we_answer(language: str) -> None:
    context = sample_context(language)
    rendered = shipped().render("ack", language, context)
    assert rendered.language == language
    assert context.subject in rendered.subject
    assert context.promise in rendered.text
    assert context.next_open in rendered.text  # closed in the sample: says when we open
    assert context.reference in rendered.text
    assert context.customer_name in rendered.text
    assert "Anna & Jonas" in rendered.text  # signed with names
    for day, hours in context.hours_table:
        assert day in rendered.text and hours in rendered.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_ack_does_not_speak_of_reopening_while_open(language: str) -> None:
    context = replace(sample_context(language), open_now=True, next_open="NEXT-OPEN")
    assert "NEXT-OPEN" not in shipped().render("ack", language, context).text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_redirect_names_the_right_channel_and_says_whether_it_was_forwarded(
    language: str,
) -> None:
    context = sample_context(language)
    plain = shipped().render("redirect", language, context).text
    forwarded = shipped().render("redirect", language, replace(context, forwarded=True)).text
    for text in (plain, forwarded):
        assert context.support_address in text
        assert context.help_url in text
        assert context.hours_table[0][1] in text
    # Only the forwarded version promises an answer: the customer need not write again.
    assert context.promise in forwarded and context.promise not in plain


def test_the_redirect_leaves_out_the_help_page_line_when_there_is_none() -> None:
    text = shipped().render("redirect", "en", replace(sample_context("en"), help_url="")).text
    assert "Help page" not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_reminder_quotes_the_customer_and_says_why_it_is_due(language: str) -> None:
    context = sample_context(language)
    rendered = shipped().render("reminder", language, context)
    assert context.quoted_text and context.quoted_text in rendered.text
    assert context.due_reason in rendered.text
    assert context.promise in rendered.text
    assert context.customer_address in rendered.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_checkin_names_the_request(language: str) -> None:
    context = sample_context(language)
    rendered = shipped().render("checkin", language, context)
    assert context.subject in rendered.text and context.reference in rendered.text


@pytest.mark.parametrize("name", SHIPPED)
def test_german_addresses_the_customer_as_sie(name: str) -> None:
    words = set(shipped().render(name, "de", sample_context("de")).text.replace(",", " ").split())
    assert words & {"Sie", "Ihre", "Ihr", "Ihnen"}
    assert not words & {"du", "dich", "dir", "dein", "deine", "euch"}


# --- customer text is data, never template ----------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("language", LANGUAGES)
def test_customer_text_is_never_compiled(name: str, language: str) -> None:
    context = replace(
        sample_context(language),
        subject=INJECTION,
        customer_name=INJECTION,
        quoted_text=quote_text(INJECTION + "\n{% raw %}{{ 6*6 }}"),
    )
    rendered = shipped().render(name, language, context)
    assert INJECTION in rendered.subject
    assert INJECTION in rendered.text
    assert "49" not in rendered.subject + rendered.text
    assert "class 'str'" not in rendered.text


def test_the_sandbox_refuses_unsafe_attributes_in_a_template() -> None:
    templates = ts({"ack.en.txt": "Subject: x\n\n{{ subject.__class__.__mro__ }}\n"})
    problems = templates.validate()
    assert len(problems) == 1 and problems[0].startswith("replies/ack.en.txt:3:")
    with pytest.raises(TemplateError, match=r"replies/ack\.en\.txt:3:"):
        templates.render("ack", "en", sample_context("en"))


# --- validate: every problem with file and line -----------------------------------------------


def test_an_undefined_variable_is_reported_with_file_and_line() -> None:
    source = "Subject: Re: {{ subject }}\n\nHallo,\n\n\n\n{{ custmer_name }}\n"
    assert ts({"ack.de.txt": source}, "de").validate() == [
        "replies/ack.de.txt:7: 'custmer_name' is undefined"
    ]


def test_an_undefined_variable_in_a_branch_no_sample_takes_is_still_found() -> None:
    source = "Subject: x\n\n{% if promise_class == 'nope' %}\n{{ typo }}\n{% endif %}\n"
    assert ts({"ack.en.txt": source}).validate() == ["replies/ack.en.txt:4: 'typo' is undefined"]


def test_an_undefined_variable_in_the_subject_is_on_line_1() -> None:
    assert ts({"ack.en.txt": "Subject: {{ subjekt }}\n\nhi\n"}).validate() == [
        "replies/ack.en.txt:1: 'subjekt' is undefined"
    ]


def test_a_syntax_error_is_reported_with_file_and_line() -> None:
    problems = ts({"ack.en.txt": "Subject: x\n\nhello\n{% for %}\n"}).validate()
    assert len(problems) == 1 and problems[0].startswith("replies/ack.en.txt:4: ")


@pytest.mark.parametrize("expression", [
    "{{ reference|nosuchfilter }}", "{% if reference is nosuchtest %}x{% endif %}",
])
def test_an_unknown_filter_or_test_is_reported_with_file_and_line(expression: str) -> None:
    """Jinja finds these while compiling, not while parsing: `check` must report them as a
    problem of the file, not crash with a traceback."""
    problems = ts({"ack.en.txt": f"Subject: x\n\nhello\n{expression}\n"}).validate()
    assert len(problems) == 1 and problems[0].startswith("replies/ack.en.txt:4: "), problems
    assert "nosuch" in problems[0]


def test_a_runtime_error_is_reported_with_its_line() -> None:
    source = "Subject: x\n\nhello\n{{ customer_name.nope.deeper }}\n"
    problems = ts({"ack.en.txt": source}).validate()
    assert len(problems) == 1 and problems[0].startswith("replies/ack.en.txt:4: ")


def test_a_file_without_a_subject_line_is_reported() -> None:
    problems = ts({"ack.en.txt": "Hello {{ customer_name }}\n"}).validate()
    assert problems == [
        "replies/ack.en.txt:1: must start with a 'Subject: ...' line followed by a blank line"
    ]


def test_a_badly_named_file_is_reported() -> None:
    assert ts({"ack.txt": "Subject: x\n\nhi\n"}).validate() == [
        "replies/ack.txt: file name must be NAME.LANG.txt or NAME.LANG.html",
    ]


def test_an_html_body_without_its_text_twin_is_reported() -> None:
    problems = ts({"ack.en.txt": "Subject: x\n\nhi\n", "ack.de.html": "<p>hi</p>\n"}).validate()
    assert problems == ["replies/ack.de.html: has no ack.de.txt to take the subject from"]


def test_a_required_template_without_any_fallback_is_reported() -> None:
    problems = ts({"ack.de.txt": "Subject: x\n\nhi\n"}, "sv").validate(required=["ack", "redirect"])
    assert problems == [
        "replies/ack.sv.txt: missing; no 'ack' template in any of: sv, en",
        "replies/redirect.sv.txt: missing; no 'redirect' template in any of: sv, en",
    ]


def test_names_and_languages() -> None:
    templates = ts(
        {"ack.en.txt": "Subject: x\n\n", "ack.sv.txt": "Subject: x\n\n", "checkin.et.txt": "S"}
    )
    assert templates.names() == ["ack", "checkin"]
    assert templates.languages("ack") == ["en", "sv"]
    assert templates.languages("nope") == []


# --- language fallback ------------------------------------------------------------------------


SOURCES = {
    "ack.en.txt": "Subject: en\n\nen body\n",
    "ack.sv.txt": "Subject: sv\n\nsv body\n",
    "ack.de.txt": "Subject: de\n\nde body\n",
}


@pytest.mark.parametrize(
    ("asked", "default", "used"),
    [("de", "sv", "de"), ("de-AT", "sv", "de"), ("fi", "sv", "sv"), ("fi", "et", "en")],
)
def test_a_missing_language_falls_back_to_the_shop_default_then_english(
    asked: str, default: str, used: str
) -> None:
    rendered = ts(SOURCES, default).render("ack", asked, sample_context(asked))
    assert (rendered.subject, rendered.text, rendered.language) == (used, f"{used} body\n", used)
    assert ts(SOURCES, default).resolve("ack", asked) == used


def test_rendering_a_template_that_does_not_exist_raises_template_error() -> None:
    with pytest.raises(TemplateError, match="no 'redirect' template"):
        ts(SOURCES).render("redirect", "en", sample_context("en"))


# --- text versus html -------------------------------------------------------------------------


def test_html_is_autoescaped_and_text_is_not() -> None:
    templates = ts(
        {
            "ack.en.txt": "Subject: Re: {{ subject }}\n\nHi {{ customer_name }}\n",
            "ack.en.html": "<p>Hi {{ customer_name }}</p>\n",
        }
    )
    context = replace(sample_context("en"), customer_name="<b>Kim & Co</b>", subject="a <b>")
    rendered = templates.render("ack", "en", context)
    assert rendered.text == "Hi <b>Kim & Co</b>\n"
    assert rendered.html == "<p>Hi &lt;b&gt;Kim &amp; Co&lt;/b&gt;</p>\n"
    assert rendered.subject == "Re: a <b>"


def test_no_html_part_without_an_html_file() -> None:
    assert ts(SOURCES).render("ack", "en", sample_context("en")).html is None


def test_a_subject_never_carries_a_line_break() -> None:
    templates = ts({"ack.en.txt": "Subject: Re: {{ quoted_text }}\n\nbody\n"})
    context = replace(sample_context("en"), quoted_text="> one\n> two\r\nBcc: x@evil.example")
    assert "\n" not in templates.render("ack", "en", context).subject


def test_block_tags_leave_no_blank_lines_behind() -> None:
    source = "Subject: x\n\nA\n{% if open_now %}\nopen\n{% else %}\nclosed\n{% endif %}\nB\n"
    assert ts({"ack.en.txt": source}).render("ack", "en", sample_context("en")).text == (
        "A\nclosed\nB\n"
    )


# --- localization -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("sv", "tisdag 24 november kl. 10:00"),
        ("de", "Dienstag, 24. November, 10:00"),
        ("en", "Tuesday, 24 November at 10:00"),
        ("et", "teisipäev, 24. november kell 10:00"),
        ("de-AT", "Dienstag, 24. November, 10:00"),
        ("xx", "Tuesday, 24 November at 10:00"),
    ],
)
def test_format_when_writes_the_time_as_people_do(language: str, expected: str) -> None:
    assert format_when(datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN), language) == expected


def test_format_when_keeps_the_wall_clock_of_the_zone_it_is_given() -> None:
    tallinn = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Tallinn"))
    assert format_when(tallinn, "et") == "teisipäev, 24. november kell 10:00"
    assert format_when(tallinn.astimezone(BERLIN), "de") == "Dienstag, 24. November, 09:00"


def test_format_when_in_another_cldr_language_has_no_year() -> None:
    assert format_when(datetime(2026, 11, 24, 10, 0), "fr") == "mardi 24 novembre 10:00"


@pytest.mark.parametrize(
    ("language", "monday", "sunday"),
    [
        ("en", "Monday", "Sunday"),
        ("de", "Montag", "Sonntag"),
        ("sv", "måndag", "söndag"),
        ("et", "esmaspäev", "pühapäev"),
    ],
)
def test_weekday_names_start_on_monday(language: str, monday: str, sunday: str) -> None:
    names = weekday_names(language)
    assert (len(names), names[0], names[6]) == (7, monday, sunday)


WEEK = {
    "mon": [(time(9), time(17))],
    "tue": [(time(9), time(12)), (time(13), time(17))],
    "fri": [(time(20), time(0))],
    "sat": [],
}


@pytest.mark.parametrize(
    ("language", "closed"),
    [("en", "closed"), ("de", "geschlossen"), ("sv", "stängt"), ("et", "suletud")],
)
def test_hours_table(language: str, closed: str) -> None:
    table = hours_table(WEEK, language)
    names = weekday_names(language)
    assert [day for day, _ in table] == [n[0].upper() + n[1:] for n in names]
    assert [hours for _, hours in table] == [
        "09:00–17:00",
        "09:00–12:00, 13:00–17:00",
        closed,
        closed,
        "20:00–24:00",
        closed,
        closed,
    ]


def test_hours_table_rejects_unknown_weekday_keys() -> None:
    with pytest.raises(ValueError, match="monday"):
        hours_table({"monday": [(time(9), time(17))]}, "en")


# --- context helpers --------------------------------------------------------------------------


def test_reference_is_short_stable_and_distinct() -> None:
    first = make_reference("<abc123@mail.example.com>")
    assert len(first) == 6
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert first == make_reference("<abc123@mail.example.com>")
    assert first != make_reference("<abc124@mail.example.com>")


def test_quote_text() -> None:
    assert quote_text("\nHello\n\nbye\n") == "> Hello\n>\n> bye"
    assert quote_text("a\nb\nc", limit=2) == "> a\n> b\n> [...]"


def test_context_for_localizes_everything_from_the_inbound_message() -> None:
    context = context_for(
        inbound(**{"Reply-To": "Kim Home <kim@home.example>"}),
        language="sv",
        shop_name="Kaffebutiken",
        shop_address="support@kaffebutiken.example",
        signature="Anna",
        open_now=False,
        week=WEEK,
        next_open=datetime(2026, 11, 23, 9, 0, tzinfo=BERLIN),
        promise=datetime(2026, 11, 23, 17, 0, tzinfo=BERLIN),
        promise_class="urgent",
    )
    assert context.customer_name == "Kim Home"
    assert context.customer_address == "kim@home.example"
    assert context.reference == make_reference("<abc123@mail.example.com>")
    assert context.next_open == "måndag 23 november kl. 09:00"
    assert context.promise == "måndag 23 november kl. 17:00"
    assert context.hours_table[5] == ("Lördag", "stängt")
    assert context.quoted_text == "> My parcel has not arrived.\n> Can you check?"
    assert context.support_address == "support@kaffebutiken.example"
    assert isinstance(context, ReplyContext)


# --- the reply mail ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Where is my order?", "Re: Where is my order?"),
        ("Re: Re: Where is my order?", "Re: Where is my order?"),
        ("AW: RE: aw: Bestellung", "AW: Bestellung"),
        ("SV: Sv: Beställning", "SV: Beställning"),
        ("Re: VS: Tellimus", "Re: Tellimus"),
        ("Re[2]: x", "Re[2]: x"),
        ("Reminder: x", "Reminder: x"),
        ("Regarding: Re: x", "Regarding: Re: x"),
        ("Re: a\r\nBcc: evil@example.com", "Re: a Bcc: evil@example.com"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def reply(message: Message, *, auto: bool = True, html: str | None = None) -> EmailMessage:
    rendered = Rendered(subject="Re: " + message.subject, text="Hej då — tack!\n", html=html)
    built = build_reply(
        message,
        rendered,
        shop_address="support@kaffebutiken.example",
        shop_name="Kaffebutiken, Malmö",
        now=NOW,
        auto=auto,
        language="sv",
    )
    # What the receiving side sees: serialize and parse back.
    raw = built.as_bytes(policy=email.policy.SMTP)
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_build_reply_threads_and_marks_the_reply() -> None:
    message = inbound(
        References="<first@x.example> <second@x.example>", Subject="Re: Where is my order?"
    )
    sent = reply(message)
    assert sent["From"] == '"Kaffebutiken, Malmö" <support@kaffebutiken.example>'
    assert sent["To"] == "Kim Lindqvist <kim@example.com>"
    assert sent["Subject"] == "Re: Where is my order?"
    assert sent["In-Reply-To"] == "<abc123@mail.example.com>"
    assert sent["References"].split() == [
        "<first@x.example>",
        "<second@x.example>",
        "<abc123@mail.example.com>",
    ]
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["Message-ID"].endswith("@kaffebutiken.example>")
    assert sent["Date"] == "Fri, 20 Nov 2026 18:30:00 +0100"
    assert sent["Content-Language"] == "sv"
    body = sent.get_body(("plain",))
    assert body is not None and body.get_content_charset() == "utf-8"
    assert body.get_content().replace("\r\n", "\n") == "Hej då — tack!\n"
    assert sent.get_body(("html",)) is None


def test_build_reply_goes_to_reply_to_first() -> None:
    sent = reply(inbound(**{"Reply-To": "Kim <kim@home.example>"}))
    assert sent["To"] == "Kim <kim@home.example>"


def test_build_reply_without_auto_has_no_auto_submitted() -> None:
    assert reply(inbound(), auto=False)["Auto-Submitted"] is None


def test_build_reply_adds_the_html_alternative() -> None:
    sent = reply(inbound(), html="<p>Hej då</p>\n")
    assert sent.get_content_type() == "multipart/alternative"
    html = sent.get_body(("html",))
    assert html is not None and html.get_content().replace("\r\n", "\n") == "<p>Hej då</p>\n"


def test_build_reply_uses_a_given_message_id() -> None:
    built = build_reply(
        inbound(),
        Rendered("s", "t"),
        shop_address="a@shop.example",
        shop_name="Shop",
        now=NOW,
        language="en",
        message_id="<fixed@shop.example>",
    )
    assert built["Message-ID"] == "<fixed@shop.example>"


def test_customer_input_never_puts_a_line_break_into_a_header() -> None:
    # Encoded words are the way to smuggle CR/LF past a parser; they must come out flattened.
    message = inbound(
        From="=?utf-8?q?Kim=0D=0ABcc=3A_evil=40example=2Ecom?= <kim@example.com>",
        Subject="=?utf-8?q?Hi=0D=0ABcc=3A_evil=40example=2Ecom?=",
    )
    raw = build_reply(
        message,
        Rendered("Re: " + message.subject + "\r\nX-Evil: 1", "t"),
        shop_address="support@shop.example",
        shop_name="Shop\r\nX-Evil: 2",
        now=NOW,
        language="en\r\nX-Evil: 3",
    ).as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert "evil@example.com" in parsed["Subject"]  # kept as text, on one line


def test_build_reply_refuses_a_message_without_an_address() -> None:
    message = inbound(From="")
    with pytest.raises(ValueError, match="no Reply-To or From"):
        build_reply(
            message,
            Rendered("s", "t"),
            shop_address="a@shop.example",
            shop_name="Shop",
            now=NOW,
            language="en",
        )


def test_build_reply_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_reply(
            inbound(),
            Rendered("s", "t"),
            shop_address="a@shop.example",
            shop_name="Shop",
            now=NOW.replace(tzinfo=None),
            language="en",
        )


def test_long_reference_chains_are_trimmed_keeping_the_root() -> None:
    chain = " ".join(f"<m{i}@x.example>" for i in range(50))
    sent = reply(inbound(References=chain))
    refs = sent["References"].split()
    assert len(refs) == 20 and refs[0] == "<m0@x.example>"
    assert refs[-1] == "<abc123@mail.example.com>" and refs[-2] == "<m49@x.example>"


# --- loader -----------------------------------------------------------------------------------


def test_loader_reads_a_directory_and_names_files_in_errors(tmp_path: Path) -> None:
    (tmp_path / "ack.en.txt").write_bytes(b"Subject: x\r\n\r\n{{ nope }}\r\n")
    (tmp_path / "README.md").write_text("not a template")
    templates = load_templates(tmp_path)
    assert read_sources(tmp_path) == {"ack.en.txt": "Subject: x\n\n{{ nope }}\n"}
    assert templates.validate() == [f"{tmp_path}/ack.en.txt:3: 'nope' is undefined"]


def test_loader_reports_a_missing_directory_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="replies directory not found"):
        load_templates(tmp_path / "missing")
    (tmp_path / "ack.de.txt").write_bytes("Subject: Grüße\n\n".encode("latin-1"))
    with pytest.raises(TemplateError, match=r"ack\.de\.txt: not UTF-8"):
        load_templates(tmp_path)
