"""IMAP commands whose answers are read off imaplib's socket without imaplib's per-line work.

imaplib handles each response line in Python: three or four regex matches to tell tagged from
untagged, a literal check, a list append per record. On a FETCH of short items (the header
fields that confirm a push-down hit) that was 35 µs a message, four times what reading the
bytes costs. This reader takes each line with the buffered file's C readline and each literal
with one read, and hands back the records in imaplib's own shape, so
fetch_response.parse_fetch reads them unchanged: a (text, literal) tuple per literal, the text
ending in its "{n}" marker, then the rest of the response as bytes.

Commands can also be sent ahead and their answers read later (`send`, then `finish`): a STORE
the server works on while the client parses what it fetched before.

Untagged responses other than FETCH (EXISTS, EXPUNGE, RECENT, OK [...]) go where imaplib would
have put them, so new mail announced in the middle of a FETCH is still seen; BYE ends the
connection as imaplib would end it.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Callable

__all__ = ["finish", "send", "uid_fetch"]

Record = tuple[bytes, bytes] | bytes

_LITERAL_RE = re.compile(rb"\{(\d+)\}\Z")
_FETCH_RE = re.compile(rb"\* (\d+) FETCH (.*)\Z", re.DOTALL)
_MAX_LINE = 1_000_000  # imaplib's _MAXLINE: a longer line is a broken or hostile server


def uid_fetch(imap: imaplib.IMAP4, uid_set: str, items: str) -> list[Record]:
    """Send `UID FETCH uid_set items` and return its FETCH records as imaplib collects them.
    Raises imaplib.IMAP4.error when the server refuses (NO, BAD), imaplib.IMAP4.abort when it
    ends the connection or says something that is no IMAP."""
    return finish(imap, [send(imap, f"UID FETCH {uid_set} {items}")])


def send(imap: imaplib.IMAP4, command: str) -> bytes:
    """Send one command line (no literals); returns its tag for `finish`."""
    tag: bytes = imap._new_tag()
    try:
        imap.send(tag + b" " + command.encode("ascii") + b"\r\n")
    except BaseException:
        imap.tagged_commands.pop(tag, None)
        raise
    return tag


def finish(
    imap: imaplib.IMAP4,
    tags: list[bytes],
    handle: Callable[[list[Record]], None] | None = None,
) -> list[Record]:
    """Read until the commands sent with `send` under `tags` are answered; returns the FETCH
    records read meanwhile. With `handle`, each FETCH response's records go to it as soon as
    they are read instead (the client works while the server still answers), and what it
    raises is raised once every answer is read. A server may answer pipelined commands out of
    order, or interleave them (Dovecot refuses a malformed command at once, before the FETCH
    sent ahead of it is done, and runs FETCHes side by side): the answer of any other command
    still waiting is kept for its own finish. Every answer is read even when one is a
    refusal, so the connection stays in step; the first refusal (in the order of `tags`) is
    raised after."""
    waiting = imap.tagged_commands  # imaplib's own table: tag -> None until answered
    records: list[Record] = []
    failure: Exception | None = None
    try:
        while any(waiting.get(tag) is None for tag in tags):
            response = _read_one(imap, waiting)
            if handle is None:
                records.extend(response)
            elif response and failure is None:
                try:
                    handle(response)
                except Exception as error:  # raised below, once the connection is in step
                    failure = error
    finally:
        answers = [waiting.pop(tag, None) for tag in tags]
    if failure is not None:
        raise failure
    for answer in answers:
        status, _, detail = (answer or b"").partition(b" ")
        if status != b"OK":
            raise imaplib.IMAP4.error(
                f"{status.decode('ascii', 'replace')} {detail.decode('utf-8', 'replace')}"
            )
    return records


def _read_one(imap: imaplib.IMAP4, waiting: dict[bytes, bytes | None]) -> list[Record]:
    """One response: the records of a FETCH response, [] for anything else."""
    readline, read = imap.file.readline, imap.file.read
    line = _line(readline)
    if line.startswith(b"* "):
        fetch = _FETCH_RE.match(line)
        if fetch is None:
            _untagged(imap, line)
            return []
        records: list[Record] = []
        text = fetch.group(1) + b" " + fetch.group(2)
        while (marker := _LITERAL_RE.search(text)) is not None:
            literal = read(int(marker.group(1)))
            if len(literal) != int(marker.group(1)):
                raise imaplib.IMAP4.abort("socket error: EOF inside a literal")
            records.append((text, literal))
            text = _line(readline)
        records.append(text)
        return records
    tag, _, rest = line.partition(b" ")
    if tag in waiting and waiting[tag] is None:
        waiting[tag] = rest
        return []
    raise imaplib.IMAP4.abort(f"unexpected response: {line[:200]!r}")


def _line(readline: object) -> bytes:
    line: bytes = readline(_MAX_LINE + 1)
    if not line:
        raise imaplib.IMAP4.abort("socket error: EOF")
    if len(line) > _MAX_LINE:
        raise imaplib.IMAP4.error(f"got more than {_MAX_LINE} bytes")
    if not line.endswith(b"\r\n"):
        raise imaplib.IMAP4.abort(f"socket error: unterminated line: {line[:200]!r}")
    return line[:-2]


def _untagged(imap: imaplib.IMAP4, line: bytes) -> None:
    """Keep an unsolicited response where imaplib would have (untagged_responses[TYPE]), with
    imaplib's own patterns, so what it reads later is the same as if it had read this."""
    status = imaplib.Untagged_status.match(line)
    if status is not None:
        name, data = status.group("type"), status.group("data")
        if status.group("data2"):
            data = data + b" " + status.group("data2")
    elif (plain := imaplib.Untagged_response.match(line)) is not None:
        name, data = plain.group("type"), plain.group("data") or b""
    else:
        raise imaplib.IMAP4.abort(f"unexpected response: {line[:200]!r}")
    kind = name.decode("ascii")
    if kind == "BYE":
        raise imaplib.IMAP4.abort(f"server said BYE: {data.decode('utf-8', 'replace')}")
    append = imap._append_untagged
    append(kind, data)
    if kind in ("OK", "NO", "BAD") and (code := imaplib.Response_code.match(data)) is not None:
        append(code.group("type").decode("ascii"), code.group("data"))
