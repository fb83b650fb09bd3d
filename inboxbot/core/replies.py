"""Reply templates: choose the file for a language, render it sandboxed, build the reply mail.

Templates are plain files (`ack.de.txt`, optional `ack.de.html`) handed in as a mapping
{file name: source}; reading them from disk is the loader's job (inboxbot.templates), so the
core stays free of file access. A `.txt` file starts with `Subject: ...`, a blank line, then the
body; an `.html` file is a body only and uses the subject of its `.txt` twin.

Customer text (subject, name, quoted message) only ever enters as *values* of the context and is
never compiled, so "{{ 7*7 }}" in a subject is printed as written. The environment is sandboxed
because templates are edited by shop owners and may be shared between shops.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import hashlib
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, time
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from itertools import product
from typing import Literal

from jinja2 import BaseLoader, Environment, StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2 import nodes as jinja_nodes
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

from inboxbot.core.language import format_when, hours_table, primary_tag
from inboxbot.core.message import Message, single_line
from inboxbot.errors import TemplateError

PromiseClass = Literal["default", "urgent", "vip"]


class _HeaderClasses(HeaderRegistry):
    """The email package's registry with one class per header name instead of one per header.

    HeaderRegistry.__getitem__ calls type() for every header it makes; a class refers to itself
    (__mro__), so only the cyclic collector frees it, and a batch of 500 replies left some 50 MB
    of dead classes between collections (the daemon's memory grew with the backlog). The class
    depends on the header name alone, so reusing it changes nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        self._made.clear()
        super().map_to_type(name, cls)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        made = self._made.get(name.lower())
        if made is None:
            made = self._made[name.lower()] = super().__getitem__(name)
        return made


# email.policy.default with the registry above; for every mail inboxbot writes.
POLICY = email.policy.default.clone(header_factory=_HeaderClasses())

FALLBACK_LANGUAGE = "en"
_FILE_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_-]*)\.(?P<lang>[a-z]{2,3})\.(?P<kind>txt|html)$")
_SUBJECT_PREFIX = "Subject:"
# Reply prefixes mail clients add in our four languages (Re, AW = Antwort, SV = Svar,
# VS = Vastus/Vastaus), with the numbered form some clients write ("Re[2]:").
_REPLY_PREFIX_RE = re.compile(r"^\s*(?:re|aw|sv|vs|antw)(?:\[\d+\])?\s*:\s*", re.IGNORECASE)
# A long thread's References is trimmed to its first and latest ids (RFC 5322 3.6.4 allows it);
# mail servers reject headers that grow without bound.
_MAX_REFERENCES = 20
QUOTE_LINE_LIMIT = 60


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """Every variable a template may use; all values are already localized strings."""

    customer_name: str
    customer_address: str
    shop_name: str
    shop_address: str
    signature: str
    subject: str
    reference: str
    language: str
    open_now: bool
    hours_table: tuple[tuple[str, str], ...]
    next_open: str
    promise: str
    promise_class: PromiseClass = "default"
    help_url: str = ""
    support_address: str = ""
    forwarded: bool = False
    quoted_text: str = ""
    due_reason: str = ""


CONTEXT_VARIABLES = frozenset(f.name for f in fields(ReplyContext))


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None
    language: str = FALLBACK_LANGUAGE  # the language of the file actually used


# --- context ----------------------------------------------------------------------------------


def make_reference(key: str) -> str:
    """A short ticket-like reference, stable for one Message-ID: 6 base32 characters."""
    digest = hashlib.sha256(key.encode("utf-8", "replace")).digest()
    return base64.b32encode(digest).decode("ascii")[:6]


def quote_text(text: str, limit: int = QUOTE_LINE_LIMIT) -> str:
    """The customer's message quoted with "> " as mail clients do, cut after `limit` lines."""
    lines = text.strip("\n").splitlines()
    quoted = [f"> {line}".rstrip() for line in lines[:limit]]
    if len(lines) > limit:
        quoted.append("> [...]")
    return "\n".join(quoted)


def context_for(
    inbound: Message,
    *,
    language: str,
    shop_name: str,
    shop_address: str,
    signature: str,
    open_now: bool,
    week: Mapping[str, Sequence[tuple[time, time]]],
    next_open: datetime,
    promise: datetime,
    promise_class: PromiseClass = "default",
    help_url: str = "",
    support_address: str = "",
    forwarded: bool = False,
    due_reason: str = "",
) -> ReplyContext:
    """Assemble the context for a reply to `inbound`, localizing times into `language`.

    Pass times in the shop's time zone, and the language TemplateSet.resolve() chose, so that the
    dates are written in the language of the template that will carry them.
    """
    customer = inbound.reply_address or inbound.sender
    name = customer.name if customer and customer.name else ""
    if not name and inbound.sender:
        name = inbound.sender.name
    # Without a Message-ID, sender + date + subject still identify the mail well enough.
    key = (
        inbound.message_id
        or f"{customer.addr if customer else ''}|{inbound.date}|{inbound.subject}"
    )
    return ReplyContext(
        customer_name=single_line(name),
        customer_address=customer.addr if customer else "",
        shop_name=single_line(shop_name),
        shop_address=shop_address,
        signature=signature,
        subject=single_line(inbound.subject),
        reference=make_reference(key),
        language=language,
        open_now=open_now,
        hours_table=hours_table(week, language),
        next_open=format_when(next_open, language),
        promise=format_when(promise, language),
        promise_class=promise_class,
        help_url=help_url,
        support_address=support_address or shop_address,
        forwarded=forwarded,
        quoted_text=quote_text(inbound.text),
        due_reason=due_reason,
    )


_SAMPLE_WEEK: Mapping[str, Sequence[tuple[time, time]]] = {
    **{day: ((time(9), time(17)),) for day in ("mon", "tue", "wed", "thu")},
    "fri": ((time(9), time(12)), (time(13), time(16))),
}
_SAMPLE_TEXT = {
    "en": ("Where is my order?", "My parcel has not arrived yet. Could you check, please?"),
    "de": ("Wo ist meine Bestellung?", "Mein Paket ist noch nicht da. Können Sie nachsehen?"),
    "sv": ("Var är min beställning?", "Mitt paket har inte kommit än. Kan ni kolla?"),
    "et": ("Kus on minu tellimus?", "Minu pakk pole veel kohale jõudnud. Kas saate kontrollida?"),
}
_SAMPLE_DUE = {
    "en": "complaint, not answered and no reply in Sent",
    "de": "Beschwerde, nicht beantwortet und keine Antwort im Ordner Gesendet",
    "sv": "klagomål, obesvarat och inget svar i Skickat",
    "et": "kaebus, vastamata ja saadetud kirjades vastust pole",
}


def sample_context(language: str) -> ReplyContext:
    """A realistic context in `language`, for validate() and `replies preview`."""
    lang = primary_tag(language)
    subject, text = _SAMPLE_TEXT.get(lang, _SAMPLE_TEXT[FALLBACK_LANGUAGE])
    base = datetime(2026, 11, 24, 10, 0)
    return ReplyContext(
        customer_name="Kim Lindqvist",
        customer_address="kim@example.com",
        shop_name="Kaffebutiken",
        shop_address="support@kaffebutiken.example",
        signature="Anna & Jonas\nKaffebutiken",
        subject=subject,
        reference=make_reference("<sample@example.com>"),
        language=lang,
        open_now=False,
        hours_table=hours_table(_SAMPLE_WEEK, lang),
        next_open=format_when(base.replace(hour=9), lang),
        promise=format_when(base, lang),
        promise_class="default",
        help_url="https://kaffebutiken.example/help",
        support_address="support@kaffebutiken.example",
        forwarded=False,
        quoted_text=quote_text(text),
        due_reason=_SAMPLE_DUE.get(lang, _SAMPLE_DUE[FALLBACK_LANGUAGE]),
    )


def _values(context: ReplyContext) -> dict[str, object]:
    return {f.name: getattr(context, f.name) for f in fields(context)}


def _sample_variants(language: str) -> Iterable[ReplyContext]:
    """Every branch a template is likely to take: open or not, forwarded or not, each class."""
    base = sample_context(language)
    classes: tuple[PromiseClass, ...] = ("default", "urgent", "vip")
    for open_now, forwarded, promise_class in product((False, True), (False, True), classes):
        yield replace(base, open_now=open_now, forwarded=forwarded, promise_class=promise_class)
    yield replace(base, customer_name="", quoted_text="", due_reason="")


# --- templates --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    name: str
    language: str
    kind: str  # "txt" | "html"


class _SourceLoader(BaseLoader):
    """Serves the body and the subject line of each file as separate templates.

    The body keeps its line numbers (the subject line is blanked, not removed), and both carry
    the file's display path as filename, so Jinja's errors and tracebacks point into the file.
    """

    def __init__(self, sources: Mapping[str, str], origin: str) -> None:
        self._sources = sources
        self._origin = origin

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        filename, _, part = template.partition("#")
        source = self._sources[filename]
        first, _, rest = source.partition("\n")
        if part == "subject":
            text = first.removeprefix(_SUBJECT_PREFIX).strip()
        elif filename.endswith(".txt"):
            text = "\n" + rest
        else:
            text = source
        return text, display_path(self._origin, filename), lambda: True


def display_path(origin: str, filename: str) -> str:
    return f"{origin.rstrip('/')}/{filename}" if origin else filename


def _environment(loader: BaseLoader) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=loader,
        undefined=StrictUndefined,
        autoescape=lambda name: bool(name) and name.endswith(".html"),
        keep_trailing_newline=True,
        # Block tags on their own line leave no blank line behind: templates stay readable.
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )


def _error_line(error: BaseException, filename: str) -> int:
    """The template line an exception was raised from (Jinja rewrites the traceback for this)."""
    lineno = getattr(error, "lineno", None)
    if isinstance(error, TemplateSyntaxError) and lineno:
        return int(lineno)
    line = 0
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == filename and frame.lineno:
            line = frame.lineno
    return line


def _describe(error: BaseException, filename: str) -> str:
    message = getattr(error, "message", None) or str(error)
    line = _error_line(error, filename)
    return f"{filename}:{line}: {message}" if line else f"{filename}: {message}"


def _format_problems(path: str, source: str) -> list[str]:
    if not path.endswith(".txt"):
        return []
    lines = source.split("\n")
    if not lines[0].startswith(_SUBJECT_PREFIX) or len(lines) < 2 or lines[1].strip():
        return [f"{path}:1: must start with a 'Subject: ...' line followed by a blank line"]
    return []


def _first_use(ast: jinja_nodes.Template, name: str) -> int:
    for node in ast.find_all(jinja_nodes.Name):
        if node.name == name and node.ctx == "load":
            return int(node.lineno)
    return 0


class TemplateSet:
    """The shop's reply templates, compiled once; render() picks the file for a language."""

    def __init__(
        self, sources: Mapping[str, str], origin: str, default_language: str = FALLBACK_LANGUAGE
    ) -> None:
        self._sources = dict(sources)
        self._origin = origin
        self._default = primary_tag(default_language) or FALLBACK_LANGUAGE
        self._loader = _SourceLoader(self._sources, origin)
        self._env = _environment(self._loader)
        self._files: dict[str, _File] = {}
        self._bad_names: list[str] = []
        for filename in sorted(self._sources):
            match = _FILE_RE.match(filename)
            if match is None:
                self._bad_names.append(filename)
            else:
                self._files[filename] = _File(match["name"], match["lang"], match["kind"])

    @classmethod
    def from_sources(
        cls, sources: Mapping[str, str], origin: str, *, default_language: str = FALLBACK_LANGUAGE
    ) -> TemplateSet:
        return cls(sources, origin, default_language)

    def names(self) -> list[str]:
        return sorted({f.name for f in self._files.values() if f.kind == "txt"})

    def languages(self, name: str) -> list[str]:
        return sorted(
            f.language for f in self._files.values() if f.name == name and f.kind == "txt"
        )

    def resolve(self, name: str, language: str) -> str:
        """The language whose file render() will use: asked, shop default, then English."""
        available = self.languages(name)
        candidates = dict.fromkeys((primary_tag(language), self._default, FALLBACK_LANGUAGE))
        for candidate in candidates:
            if candidate in available:
                return candidate
        where = display_path(self._origin, f"{name}.{self._default}.txt")
        tried = ", ".join(candidates)
        raise TemplateError(f"{where}: missing; no {name!r} template in any of: {tried}")

    def render(self, name: str, language: str, context: ReplyContext) -> Rendered:
        lang = self.resolve(name, language)
        txt = f"{name}.{lang}.txt"
        html = f"{name}.{lang}.html"
        values = _values(context)
        subject = single_line(self._render(f"{txt}#subject", txt, values))
        body = self._render(txt, txt, values).removeprefix("\n\n")
        html_body = self._render(html, html, values) if html in self._sources else None
        return Rendered(subject=subject, text=body, html=html_body, language=lang)

    def _render(self, template: str, filename: str, values: Mapping[str, object]) -> str:
        path = display_path(self._origin, filename)
        try:
            compiled: Template = self._env.get_template(template)
            return compiled.render(values)
        except JinjaError as error:
            raise TemplateError(_describe(error, path)) from error

    def validate(self, required: Iterable[str] = ()) -> list[str]:
        """Every problem `check` should report, each as "path:line: what"; [] when all is well."""
        problems = [
            f"{display_path(self._origin, name)}: file name must be NAME.LANG.txt or NAME.LANG.html"
            for name in self._bad_names
        ]
        for filename, file in self._files.items():
            problems.extend(self._validate_file(filename, file))
        for name in sorted({*required, *(f.name for f in self._files.values())}):
            problems.extend(self._validate_fallback(name))
        return problems

    def _validate_fallback(self, name: str) -> list[str]:
        try:
            self.resolve(name, self._default)
        except TemplateError as error:
            return [str(error)]
        return []

    def _validate_file(self, filename: str, file: _File) -> list[str]:
        path = display_path(self._origin, filename)
        if file.kind == "html" and f"{file.name}.{file.language}.txt" not in self._sources:
            return [f"{path}: has no {file.name}.{file.language}.txt to take the subject from"]
        problems = _format_problems(path, self._sources[filename])
        if problems:
            return problems
        parts = [filename] + ([f"{filename}#subject"] if file.kind == "txt" else [])
        for part in parts:
            problems.extend(self._validate_part(part, path, file.language))
        return problems

    def _validate_part(self, template: str, path: str, language: str) -> list[str]:
        loader_source = self._loader.get_source(self._env, template)[0]
        try:
            ast = self._env.parse(loader_source, template, path)
            # Compiles the template: an unknown filter or test is found here.
            undeclared = meta.find_undeclared_variables(ast)
        except TemplateSyntaxError as error:
            return [_describe(error, path)]
        unknown = undeclared - CONTEXT_VARIABLES - set(self._env.globals)
        if unknown:
            # Static: catches a misspelt name even inside a branch no sample takes.
            return [f"{path}:{_first_use(ast, n)}: {n!r} is undefined" for n in sorted(unknown)]
        filename = template.partition("#")[0]
        for context in _sample_variants(language):
            try:
                self._render(template, filename, _values(context))
            except TemplateError as error:
                return [str(error)]
        return []


# --- the reply mail ---------------------------------------------------------------------------


def reply_subject(subject: str) -> str:
    """One line; a chain of reply prefixes ("Re: AW: SV: x") collapses to the first one."""
    subject = single_line(subject)
    match = _REPLY_PREFIX_RE.match(subject)
    if match is None:
        return subject
    rest = subject[match.end() :]
    while (inner := _REPLY_PREFIX_RE.match(rest)) is not None:
        rest = rest[inner.end() :]
    return f"{match.group(0).strip()} {rest}".strip()


def _header_address(name: str, addr: str) -> HeaderAddress:
    try:
        return HeaderAddress(display_name=single_line(name), addr_spec=single_line(addr))
    except (ValueError, IndexError) as error:  # the email package rejects malformed addr-specs
        raise ValueError(f"cannot address a reply to {addr!r}: {error}") from error


def _references(inbound: Message) -> list[str]:
    chain = (
        [*inbound.references, inbound.message_id] if inbound.message_id else [*inbound.references]
    )
    if len(chain) > _MAX_REFERENCES:
        chain = [chain[0], *chain[-(_MAX_REFERENCES - 1) :]]
    return chain


def build_reply(
    inbound: Message,
    rendered: Rendered,
    *,
    shop_address: str,
    shop_name: str,
    now: datetime,
    auto: bool = True,
    language: str,
    message_id: str | None = None,
) -> EmailMessage:
    """The reply to `inbound`, ready for the Sender and for APPEND to Sent.

    `message_id` lets the outbox fix the Message-ID before sending, so that a restart resends
    the same mail and the Sent folder can be searched for it; without it one is generated on the
    shop's domain. Raises ValueError when the inbound mail has no address to reply to.
    """
    customer = inbound.reply_address
    if customer is None:
        raise ValueError("the inbound message has no Reply-To or From address to answer")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware: a Date header needs its UTC offset")
    msg = EmailMessage(policy=POLICY)
    msg["From"] = _header_address(shop_name, shop_address)
    msg["To"] = _header_address(customer.name, customer.addr)
    msg["Subject"] = reply_subject(rendered.subject)
    msg["Date"] = email.utils.format_datetime(now)
    domain = shop_address.rpartition("@")[2] or None
    msg["Message-ID"] = single_line(message_id or email.utils.make_msgid(domain=domain))
    if inbound.message_id:
        msg["In-Reply-To"] = inbound.message_id
    references = _references(inbound)
    if references:
        msg["References"] = " ".join(references)
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    # Asks Exchange and Outlook not to send their own out-of-office back to us: no reply loops.
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(rendered.text, charset="utf-8")
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    # After the body: set_content() clears every Content-* header, this one included.
    msg["Content-Language"] = single_line(primary_tag(language) or FALLBACK_LANGUAGE)
    return msg


__all__ = [
    "CONTEXT_VARIABLES",
    "Rendered",
    "ReplyContext",
    "TemplateSet",
    "build_reply",
    "context_for",
    "make_reference",
    "quote_text",
    "reply_subject",
    "sample_context",
]
