"""imap_wire.uid_fetch against a real Dovecot: the records imaplib would have collected, and
what the server says besides the FETCH answer kept where imaplib keeps it."""

from __future__ import annotations

import imaplib
import io
from collections.abc import Iterator

import pytest

from inboxbot.adapters.fetch_response import parse_fetch
from inboxbot.adapters.imap_wire import finish, send, uid_fetch
from tests.dovecot import Dovecot

ITEMS = [
    "(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT MESSAGE-ID)])",
    "(FLAGS RFC822.SIZE BODY.PEEK[HEADER] BODYSTRUCTURE)",
    "(BODY.PEEK[1]<0.20> BODY.PEEK[HEADER.FIELDS (X-NONE)])",  # two literals, one empty
]


def _mail(n: int) -> bytes:
    return (
        f"From: =?utf-8?q?J=C3=BCrgen_{n}?= <c{n}@example.org>\r\n"
        f"Subject: Order {n} (\"quoted\") {{7}}\r\n"  # a literal marker inside a value
        f"Message-ID: <m{n}@example.org>\r\n"
        "\r\n"
        f"Body of message {n}, long enough to be cut at twenty octets.\r\n"
    ).encode()


@pytest.fixture
def connection(dovecot: Dovecot) -> Iterator[imaplib.IMAP4]:
    dovecot.append_many("INBOX", [_mail(n) for n in range(30)])
    imap = imaplib.IMAP4(dovecot.host, dovecot.port)
    imap.login(dovecot.username, dovecot.password)
    imap.select("INBOX")
    yield imap
    imap.logout()


@pytest.mark.parametrize("items", ITEMS)
def test_the_records_are_those_imaplib_collects(connection: imaplib.IMAP4, items: str) -> None:
    typ, expected = connection.uid("FETCH", "1:30", items)
    assert typ == "OK"
    records = uid_fetch(connection, "1:30", items)
    assert records == expected
    assert len(parse_fetch(records)) == 30
    # The connection is in step afterwards: imaplib's next command reads its own answer.
    assert connection.noop()[0] == "OK"


def test_an_unsolicited_response_lands_where_imaplib_puts_it(
    connection: imaplib.IMAP4, dovecot: Dovecot
) -> None:
    dovecot.append("INBOX", _mail(99))  # another session's delivery: EXISTS during the FETCH
    connection.untagged_responses.pop("EXISTS", None)
    records = uid_fetch(connection, "1:2", ITEMS[0])
    assert set(parse_fetch(records)) == {1, 2}
    assert connection.untagged_responses.get("EXISTS") == [b"31"]


def test_a_refused_fetch_raises_and_leaves_the_connection_usable(
    connection: imaplib.IMAP4,
) -> None:
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        uid_fetch(connection, "1:2", "(NOSUCHITEM)")
    assert connection.noop()[0] == "OK"


def test_an_answer_cut_short_aborts(dovecot: Dovecot) -> None:
    imap = imaplib.IMAP4(dovecot.host, dovecot.port)
    imap.login(dovecot.username, dovecot.password)
    real_file = imap.file
    # What a dropped connection leaves the reader: a literal that ends early, then EOF.
    imap.file = io.BytesIO(b"* 1 FETCH (UID 1 BODY[HEADER] {100}\r\nonly part of it")
    try:
        with pytest.raises(imaplib.IMAP4.abort, match="EOF"):
            uid_fetch(imap, "1", ITEMS[0])
    finally:
        imap.file = real_file
        imap.shutdown()

def test_pipelined_answers_out_of_order_are_kept_for_their_own_finish(
    connection: imaplib.IMAP4,
) -> None:
    # Dovecot refuses a malformed command as soon as it reads it, often before the FETCH
    # sent ahead of it is answered: each answer must still reach its own finish.
    for _ in range(20):
        fetch = send(connection, "UID FETCH 1:30 " + ITEMS[1])
        bad = send(connection, "UID STORE 1:x +FLAGS.SILENT ($Mark)")
        assert len(parse_fetch(finish(connection, [fetch]))) == 30
        with pytest.raises(imaplib.IMAP4.error, match="BAD"):
            finish(connection, [bad])
        assert not connection.tagged_commands, "no answer left behind"
    assert connection.noop()[0] == "OK"
