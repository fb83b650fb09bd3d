"""Strip quoted earlier mails and signatures from a plain-text body, keeping what the sender wrote.

Why our own and not mail-parser-reply: that library knows no Estonian headers, treats a line
starting "Thanks," as the start of a signature (which drops real text written after it) and runs
several large regexes per message; here one line-oriented pass costs a few microseconds.

What counts as quoted (en, de, sv, et and the common mail clients):
- lines starting with ">" (inline or bottom quoting; the sender's own lines in between are kept);
- a reply header ("On ... wrote:", "Am ... schrieb ...:", "Den ... skrev ...:", "... kirjutas:"),
  possibly wrapped over two lines: when quoted lines follow, only the header goes (bottom posting
  stays readable); otherwise everything from the header on is the earlier mail;
- "-----Original Message-----" and its translations, "---------- Forwarded message ---------",
  Outlook's underscore rule, and an Outlook header block ("From:" followed by "Sent:"/"To:"/...):
  everything from there on;
- the signature separator "-- " and mobile signatures ("Sent from my iPhone", "Von meinem iPhone
  gesendet", "Skickat från min iPhone", "Saadetud minu iPhone'ist", "Get Outlook for ..."):
  everything from there on.
"""

from __future__ import annotations

import re

# A reply header line: the attribution a client writes above the quoted mail. Dates and names come
# in every format, so it is anchored on the verb and the closing colon, and must hold a digit (the
# date): "I wrote to you:" in the customer's own text has none.
_ATTRIBUTION = re.compile(
    r"""^\s*(?:>\s*)*(?=.*\d)(?:
        on\s.*\bwrote                         # en: On Tue, 4 Jun 2024, Ann <a@b> wrote:
      | am\s.*\bschrieb                       # de: Am 04.06.2024 um 09:12 schrieb X:
      | .*\bschrieb\s.*<[^>]*>                # de (web mail): X <a@b> schrieb am ...:
      | .*\d.*\bskrev                         # sv: Den 4 juni 2024 09:12 skrev X:
      | .*\d.*\bkirjutas                      # et: T, 4. juuni 2024 kell 09:12 kirjutas X:
    )[^:]*:\s*$""",
    re.IGNORECASE | re.VERBOSE,
)

# A wrapped attribution: Gmail breaks long "On ..., Name <\naddr> wrote:" lines in two.
_ATTRIBUTION_START = re.compile(r"^\s*(?:on|am|den)\s+\S.*$", re.IGNORECASE)
_ATTRIBUTION_END = re.compile(r"\b(?:wrote|schrieb|skrev|kirjutas)\b.*:\s*$", re.IGNORECASE)

# Mobile signatures name the device; a bare "Von meinem ..." is also how a German customer starts
# "Von meinem Konto wurde zweimal abgebucht", so the device must be there.
_DEVICES = (
    r"iphone|ipad|android|samsung|galaxy|huawei|xiaomi|pixel|smartphone|mobile|phone|handy"
    r"|mobiltelefon|telefon|mobil|mobiil|nutitelefon|mobiiltelefon"
)

# Lines after which everything is the earlier mail, a forward, or a signature.
_CUT = re.compile(
    r"""^\s*(?:
        -{2,}\s*(?:original\s+message|ursprüngliche\s+nachricht|ursprungligt\s+meddelande
                  |originalmeddelande|algne\s+sõnum|algne\s+kiri)\s*-{2,}
      | -{3,}\s*(?:forwarded\s+message|weitergeleitete\s+nachricht|vidarebefordrat\s+meddelande
                  |edastatud\s+sõnum|edastatud\s+kiri)\s*-{3,}
      | begin\s+forwarded\s+message:
      | anfang\s+der\s+weitergeleiteten\s+nachricht:
      | _{20,}
      | --\s*                                 # signature separator "-- " (and a bare "--")
      | sent\s+from\s+(?:my\s+)?(?:DEVICES|mail\s+for\s+windows|yahoo\s+mail|outlook)\b.*
      | get\s+outlook\s+for\s+\S.*
      | (?:von|gesendet\s+von)\s+meinem\s+(?:DEVICES)\b.*
      | (?:von\s+)?(?:DEVICES)\s+gesendet.*
      | skickat\s+från\s+(?:min|mitt)\s+(?:DEVICES)\b.*
      | saadetud\s+(?:minu\s+)?(?:DEVICES)\S*.*
    )\s*$""".replace("DEVICES", _DEVICES),
    re.IGNORECASE | re.VERBOSE,
)

# Outlook / Exchange header block: a "From:" line followed within a few lines by another header.
_FROM_LINE = re.compile(r"^\s*\*?(?:from|von|från|saatja|kellelt)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_LINE = re.compile(
    r"^\s*\*?(?:sent|date|to|subject|cc|gesendet|datum|an|betreff|skickat|till|ämne"
    r"|saadetud|kuupäev|adressaat|kellele|teema)\s*:",
    re.IGNORECASE,
)
_HEADER_LOOKAHEAD = 4


# Cheap scans for the first line that might start quoted text: the lines before it, usually all
# the customer wrote, are kept without a per-line loop, and the full patterns above only run from
# there on. Both run on lower-case text: a reply header's verb on a line ending in a colon
# (_first_header_end), and a line starting like a quote, a cut or an Outlook block.
_VERB = re.compile(r"wrote|schrieb|skrev|kirjutas")
_VERBS = ("wrote", "schrieb", "skrev", "kirjutas")
_SUSPECT_LINE = re.compile(
    r"\n(?:[^\S\n]|\*)*(?:>|--|__|sent\s|get\s|von[\s:]|gesendet|skickat|saadetud|begin\s"
    r"|anfang\s|from\s*:|från\s*:|saatja\s*:|kellelt\s*:)"
)


def strip_quotes(body: str) -> str:
    """Return the part of `body` the sender wrote themselves: no quoted mail, no signature."""
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    lower = "\n" + text.lower()  # one character longer: positions below are shifted by one
    header = _first_header_end(lower)
    suspect = _SUSPECT_LINE.search(lower)
    first = min(header - 1 if header >= 0 else len(text), suspect.start() if suspect else len(text))
    # back to the start of that line (and one more: a wrapped attribution starts a line earlier)
    first = text.rfind("\n", 0, max(0, text.rfind("\n", 0, first))) + 1
    head, rest = text[:first], text[first:]
    if not rest:
        return head.strip()
    return (head + _strip_lines(rest.split("\n"))).strip()


# What a line's first non-blank character must be for _CUT or _FROM_LINE to match it (their
# first letters in either case; any non-ASCII character is tried too, since IGNORECASE matches
# some of those to ASCII letters): most lines are the customer's own text and skip both.
_MAY_CUT = frozenset("-_*bagsvihxpmtnfkBAGSVIHXPMTNFK")


def _first_header_end(lower: str) -> int:
    """Where the first line that can end a reply header starts, or -1: such a line holds a verb
    and ends with a colon (whitespace aside), as _ATTRIBUTION and _ATTRIBUTION_END demand. A
    customer writes "I wrote", "ich schrieb", "jag skrev" often, a line ending in a colon rarely,
    and colons are few: looking at them instead of the verbs keeps most texts out of the
    per-line loop."""
    at = lower.find(":")
    while at >= 0:
        end = lower.find("\n", at)
        end = len(lower) if end < 0 else end
        if at + 1 == end or lower[at + 1 : end].isspace():
            start = lower.rfind("\n", 0, at) + 1
            if any(verb in lower[start:at] for verb in _VERBS):
                return start
            at = end
        at = lower.find(":", at + 1)
    return -1


def _ends_with_colon(line: str) -> bool:
    return line.rstrip().endswith(":")


def _strip_lines(lines: list[str]) -> str:
    # A reply header holds a verb on its line or the next: each line is searched for one once,
    # when first needed (the loop often stops at the first line: a signature, a quote).
    verbs: dict[int, bool] = {}

    def verb_at(index: int) -> bool:
        known = verbs.get(index)
        if known is None:
            known = verbs[index] = (
                index < len(lines)
                and _ends_with_colon(lines[index])
                and bool(_VERB.search(lines[index].lower()))
            )
        return known

    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        header_len = _attribution_length(lines, i) if verb_at(i) or verb_at(i + 1) else 0
        if header_len:
            if _quoted_follows(lines, i + header_len):
                i += header_len  # bottom posting: drop the header, the ">" lines go below
                continue
            break
        first = line.lstrip()[:1]
        if (first in _MAY_CUT or not first.isascii()) and (
            _CUT.match(line) or _is_outlook_block(lines, i)
        ):
            break
        if first != ">":
            kept.append(line)
        i += 1
    return "\n".join(kept)


def _attribution_length(lines: list[str], i: int) -> int:
    """1 or 2 when a reply header starts at line i (2 when wrapped), else 0."""
    line = lines[i]
    if _VERB.search(line.lower()) and _ATTRIBUTION.match(line):
        return 1
    if (
        i + 1 < len(lines)
        and len(line) < 200
        and _VERB.search(lines[i + 1].lower())
        and _ATTRIBUTION_START.match(line)
    ):
        joined = f"{line} {lines[i + 1]}"
        if _ATTRIBUTION_END.search(lines[i + 1]) and _ATTRIBUTION.match(joined):
            return 2
    return 0


def _quoted_follows(lines: list[str], start: int) -> bool:
    """True when the next non-blank line after `start` is a ">" quote."""
    for line in lines[start:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return False


def _is_outlook_block(lines: list[str], i: int) -> bool:
    if not _FROM_LINE.match(lines[i]):
        return False
    following = lines[i + 1 : i + 1 + _HEADER_LOOKAHEAD]
    return any(_HEADER_LINE.match(line) for line in following)
