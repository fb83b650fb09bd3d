"""The IMAP mailbox adapter: imapclient behind the ports.Mailbox protocol.

Every imapclient, socket and TLS error is translated here, once, into MailboxError with what
failed, on which host and folder, and what to do about it. Fetching is built for a backlog of
thousands: UIDs go in chunks of 500 per command, and each chunk costs a constant number of round
trips (headers + structure, then the text sections) whatever the number of messages, while
attachment bodies never cross the wire.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from imapclient import IMAPClient  # type: ignore[import-untyped]
from imapclient.exceptions import IMAPClientError, LoginError  # type: ignore[import-untyped]
from imapclient.response_parser import parse_fetch_response  # type: ignore[import-untyped]

from inboxbot.adapters.fetch_response import parse_fetch
from inboxbot.adapters.imap_wire import finish, send, uid_fetch
from inboxbot.core.mime import Entity
from inboxbot.core.uidsets import sequence_set, sequence_set_of, uid_ranges
from inboxbot.errors import MailboxError
from inboxbot.ports import Fetched, FolderState

__all__ = ["SEEN_KEYWORD", "ImapMailbox", "connect_with_backoff"]

SEEN_KEYWORD = "$InboxbotSeen"
TEXT_LIMIT = 64 * 1024  # same budget as core.message: only the start of a text is classified
BATCH = 500  # UIDs per FETCH: keeps command lines short and responses bounded
# FETCH records judged at a time by fetch_fields_marking while the rest arrive: ~2 per message.
JUDGE_EVERY = 400
SET_CHARS = 7000  # of a UID set in one STORE, COPY or MOVE (RFC 7162: lines of ~8 KB)
_MAX_DEPTH = 16  # MIME nesting deeper than this is hostile; its parts become stubs

Security = Literal["tls", "starttls", "plain"]
_SECURITIES = ("tls", "starttls", "plain")
_CHANGES = frozenset({b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH"})
_NEW_MAIL = ("EXISTS", "RECENT")
_NOT_SELECTABLE = frozenset({b"\\noselect", b"\\nonexistent"})
# An IMAP flag or keyword: an atom (RFC 3501 atom-specials excluded), optionally with a leading \.
_FLAG_RE = re.compile(r"\\?[^\x00-\x20\x7f(){%*\"\\\]]+")
_FIELD_RE = re.compile(r"[A-Za-z0-9_.-]+")

log = logging.getLogger(__name__)
T = TypeVar("T")


class ImapMailbox:
    """One logged-in IMAP connection; the constructor connects, close() ends it."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        ca_file: str | None = None,
        idle_renew: float = 25 * 60,
        poll_interval: float = 5.0,
        use_move: bool = True,
        use_idle: bool = True,
    ) -> None:
        if security not in _SECURITIES:
            raise MailboxError(
                f"unknown IMAP security {security!r}: use one of {', '.join(_SECURITIES)}"
            )
        self.host = host
        self.port = port
        self.security = security
        self._timeout = timeout
        self._idle_renew = idle_renew
        self._poll_interval = poll_interval
        # use_move / use_idle = False force the fallbacks (COPY+EXPUNGE, NOOP polling), for
        # servers that advertise an extension they implement badly, and for tests.
        self._use_move = use_move
        self._use_idle = use_idle
        self._idling = False
        self._selected: str | None = None
        self._state: FolderState | None = None  # what the SELECT of `_selected` answered
        self._delimiter: str | None = None
        self._client: IMAPClient | None = None
        # A second connection for a split search (search_split); kept as a function so the
        # password is not an attribute anything could print.
        self._open_another = lambda: self._connect(username, password, ca_file)
        with self._translate("connect"):
            self._client = self._connect(username, password, ca_file)
            self._capabilities = frozenset(
                _text(cap).upper() for cap in self._client.capabilities()
            )

    # -- connection -------------------------------------------------------------------------

    def _connect(self, username: str, password: str, ca_file: str | None) -> IMAPClient:
        address = self.host
        context: ssl.SSLContext | None = None
        if self.security == "plain":
            # Connect to the very address checked, so a DNS answer cannot change in between.
            address = _loopback_address(self.host, self.port)
        else:
            context = ssl.create_default_context(cafile=ca_file)
        client = IMAPClient(
            address,
            self.port,
            ssl=self.security == "tls",
            ssl_context=context,
            timeout=self._timeout,
        )
        # imapclient turns imaplib's protocol trace on (debug = 5) for its "imapclient.imaplib"
        # logger: every line read is formatted, each literal repr()'d, for a logger that drops
        # it unless enabled (a quarter of the CPU time of a backlog's FETCH went to that).
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            client._imap.debug = 0
        try:
            if self.security == "starttls":
                client.starttls(context)
            client.login(username, password)
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    @property
    def _imap(self) -> IMAPClient:
        if self._client is None:
            raise MailboxError(f"IMAP connection to {self.host}:{self.port} is closed")
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._idling:  # interrupted mid-IDLE (e.g. SIGTERM): just hang up
            with contextlib.suppress(Exception):
                client.shutdown()
            return
        try:
            client.logout()
        except Exception:  # a dead connection needs no goodbye
            with contextlib.suppress(Exception):
                client.shutdown()

    def __enter__(self) -> ImapMailbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- folders ----------------------------------------------------------------------------

    def capabilities(self) -> frozenset[str]:
        return self._capabilities

    def list_folders(self) -> list[str]:
        """Selectable folders, named as the server spells them."""
        with self._translate("list folders"):
            return [
                name
                for flags, _delim, name in self._listing()
                if not _NOT_SELECTABLE & {flag.lower() for flag in flags}
            ]

    def ensure_folders(self, names: Iterable[str]) -> list[str]:
        """Create (and subscribe) missing folders; "/" in a name means the server's separator."""
        with self._translate("create folders"):
            existing = {self._key(name) for name in self.list_folders()}
            created: list[str] = []
            for name in dict.fromkeys(names):
                server_name = self._server_name(name)
                if self._key(server_name) in existing:
                    continue
                self._create(server_name)
                existing.add(self._key(server_name))
                created.append(name)
            return created

    def _create(self, server_name: str) -> None:
        with self._translate("create folder", server_name):
            try:
                self._imap.create_folder(server_name)
            except IMAPClientError as exc:
                # Another client may have created it meanwhile; that is what we wanted.
                if "ALREADYEXISTS" not in str(exc).upper():
                    raise
            self._imap.subscribe_folder(server_name)

    def _listing(self) -> list[tuple[tuple[bytes, ...], bytes | None, str]]:
        rows: list[tuple[tuple[bytes, ...], bytes | None, str]] = self._imap.list_folders()
        for _flags, delim, _name in rows:
            if delim:
                self._delimiter = _text(delim)
                break
        return rows

    def _server_name(self, name: str) -> str:
        if self._delimiter is None:
            rows = self._imap.list_folders(directory="", pattern="")
            self._delimiter = _text(rows[0][1]) if rows and rows[0][1] else "/"
        if self._delimiter != "/":
            return name.replace("/", self._delimiter)
        return name

    @staticmethod
    def _key(name: str) -> str:
        # INBOX is case-insensitive (RFC 3501 5.1); every other name is compared exactly.
        return "INBOX" if name.upper() == "INBOX" else name

    @property
    def selected_folder(self) -> str | None:
        """The folder the last successful SELECT opened (None before any)."""
        return self._selected

    @property
    def selected_state(self) -> FolderState | None:
        """What the last successful SELECT answered: its UIDVALIDITY holds while the folder
        stays selected (a server that changes it ends the session), UIDNEXT and EXISTS are as
        they were then."""
        return self._state

    def select(self, folder: str) -> FolderState:
        with self._translate("select", folder):
            server_name = self._server_name(folder)
            # A SELECT that fails leaves no folder selected (RFC 3501 6.3.1).
            self._selected, self._state = None, None
            response = self._imap.select_folder(server_name)
            uidnext = response.get(b"UIDNEXT")
            if uidnext is None:  # optional in SELECT before IMAP4rev2
                uidnext = self._imap.folder_status(server_name, [b"UIDNEXT"])[b"UIDNEXT"]
            self._selected = folder
            # SELECT's own EXISTS must not look like new mail to the next wait().
            self._take_new_mail()
            self._state = FolderState(
                name=folder,
                uidvalidity=int(response[b"UIDVALIDITY"]),
                uidnext=int(uidnext),
                exists=int(response[b"EXISTS"]),
            )
            return self._state

    # -- reading ----------------------------------------------------------------------------

    def search_unprocessed(self, after_uid: int) -> list[int]:
        with self._translate("search", self._selected):
            found = self._imap.search(["UID", f"{after_uid + 1}:*", "NOT", "KEYWORD", SEEN_KEYWORD])
        # "n:*" always includes the highest UID, even when that is below n (RFC 3501 6.4.8).
        return sorted(uid for uid in found if uid > after_uid)

    def search(self, criteria: Sequence[str | int]) -> list[int]:
        """UID SEARCH in the selected folder, e.g. ["HEADER", "In-Reply-To", "<id@x>"]."""
        with self._translate("search", self._selected):
            return sorted(self._imap.search(list(criteria)))

    def search_split(self, first: int, last: int, criteria: Sequence[str | int]) -> list[int]:
        """UID SEARCH over first:last, the upper half on a second connection at the same time:
        a server searches a folder in one process per connection, so a search that must read
        every message (a header field not yet cached) takes about half as long. If the second
        connection cannot be had, this connection searches both halves."""
        middle = (first + last) // 2
        upper: list[int] = []
        failed: list[BaseException] = []
        folder = self._selected
        if folder is None:
            raise MailboxError("search_split needs a selected folder")

        def search_upper() -> None:
            try:
                client = self._open_another()
                try:
                    client.select_folder(self._server_name(folder), readonly=True)
                    upper.extend(client.search(["UID", f"{middle + 1}:{last}", *criteria]))
                finally:
                    with contextlib.suppress(Exception):
                        client.logout()
            except Exception as error:  # any trouble: the main connection does it instead
                failed.append(error)

        helper = threading.Thread(target=search_upper, name="inboxbot-search", daemon=True)
        helper.start()
        lower = self.search(["UID", f"{first}:{middle}", *criteria])
        helper.join(self._timeout + 5)
        found = list(upper)
        if failed or helper.is_alive():
            log.debug("split search: second connection failed (%s)", failed[:1] or "timeout")
            found = self.search(["UID", f"{middle + 1}:{last}", *criteria])
        # "n:m" may answer the highest UID even when it is below n (RFC 3501 6.4.8).
        return sorted(set(lower) | {uid for uid in found if middle < uid <= last})

    def fetch(self, uids: Sequence[int], *, headers_only: bool = False) -> list[Fetched]:
        """Headers, flags, size and at most 64 KiB of each text part; attachments as stubs."""
        result: list[Fetched] = []
        with self._translate("fetch", self._selected):
            for chunk in _chunks(uids):
                result.extend(self._fetch_chunk(chunk, headers_only))
        return result

    def _fetch_chunk(self, uids: Sequence[int], headers_only: bool) -> list[Fetched]:
        items = ["FLAGS", "RFC822.SIZE", "BODY.PEEK[HEADER]"]
        if not headers_only:
            items.append("BODYSTRUCTURE")
        first = self._fetch_items(uids, items)
        present = [uid for uid in uids if uid in first]
        if headers_only:
            return [
                _fetched(uid, first[uid], raw=first[uid].get(b"BODY[HEADER]") or b"")
                for uid in present
            ]
        plans = {uid: _plan(first[uid].get(b"BODYSTRUCTURE")) for uid in present}
        sections = self._fetch_sections(plans)
        return [
            _fetched(
                uid, first[uid], entity=_assemble(plans[uid], first[uid], sections.get(uid, {}))
            )
            for uid in present
        ]

    def _fetch_sections(self, plans: dict[int, _Part]) -> dict[int, dict[bytes, Any]]:
        """Second round: every needed section, in as few FETCH commands as the batch allows."""
        data: dict[int, dict[bytes, Any]] = {}
        for group_uids, group_items in _group_fetches(plans):
            for uid, values in self._fetch_items(group_uids, group_items).items():
                data.setdefault(uid, {}).update(values)
        return data

    def _fetch_items(
        self, uids: Sequence[int], items: Sequence[str]
    ) -> dict[int, dict[bytes, Any]]:
        """UID FETCH on imapclient's connection, read off the socket by imap_wire and parsed by
        fetch_response.parse_fetch (imapclient's own parser lexes it byte by byte, and imaplib
        handles every line in Python: both cost more than the server's answer); imapclient's
        parser still reads what parse_fetch does not understand."""
        data = uid_fetch(self._imap._imap, sequence_set(uids), f"({' '.join(items)})")
        return self._parse_items(data, uids)

    @staticmethod
    def _parse_items(data: list[Any], uids: Collection[int]) -> dict[int, dict[bytes, Any]]:
        try:
            parsed = parse_fetch(data)
        except ValueError as error:
            log.debug("FETCH response left to imapclient's parser: %s", error)
            parsed = parse_fetch_response(data, True, True)
        # Unsolicited FETCH responses (another client's flag change) may name other messages.
        wanted = set(uids)
        return {uid: values for uid, values in parsed.items() if uid in wanted}

    def fetch_fields(self, uids: Sequence[int], fields: Sequence[str]) -> dict[int, bytes]:
        """uid -> just these header fields (HEADER.FIELDS), for confirming search hits."""
        if not uids or not fields:
            return {}
        item = _fields_item(fields)
        result: dict[int, bytes] = {}
        with self._translate("fetch", self._selected):
            for chunk in _chunks(uids):
                result.update(_field_values(self._fetch_items(chunk, [item])))
        return result

    def fetch_fields_marking(
        self,
        uids: Sequence[int],
        fields: Sequence[str],
        marking: Sequence[int],
        keyword: str,
        judge: Callable[[dict[int, bytes]], None],
    ) -> None:
        """judge() the fetch_fields(uids, fields), a few hundred at a time as they arrive,
        while the server sets `keyword` on `marking`: the FETCHes and the STOREs are sent at
        once, and the fields are judged while the server still answers the rest and works
        through the STOREs. Every uid fetched is judged once. `judge` must not use this
        connection; what it raises is raised once every answer is read."""
        if not _FLAG_RE.fullmatch(keyword):
            raise MailboxError(f"{keyword!r} is not a valid IMAP keyword")
        item = _fields_item(fields)
        wanted = set(uids)
        pending: list[Any] = []
        arrived: dict[int, dict[bytes, Any]] = {}

        def judge_arrived(*, last: bool) -> None:
            for uid, values in self._parse_items(pending, wanted).items():
                arrived.setdefault(uid, {}).update(values)
            pending.clear()
            # What an unsolicited FETCH (another client's flag change) told of a message whose
            # fields are still to come waits for them.
            ready = [uid for uid, values in arrived.items()
                     if last or _field_item(values) is not None]
            if ready:
                judge(_field_values({uid: arrived.pop(uid) for uid in ready}))

        def take(records: list[Any]) -> None:
            pending.extend(records)
            if len(pending) >= JUDGE_EVERY:
                judge_arrived(last=False)

        with self._translate("fetch and store keywords", self._selected):
            imap = self._imap._imap
            fetches = [send(imap, f"UID FETCH {sequence_set(chunk)} ({item})")
                       for chunk in _chunks(uids)]
            stores = [send(imap, f"UID STORE {uid_set} +FLAGS.SILENT ({keyword})")
                      for _chunk, uid_set in _uid_sets(marking)]
            try:
                finish(imap, fetches + stores, take)
            except imaplib.IMAP4.error:  # a refusal, read in step: what came is judged first
                judge_arrived(last=True)
                raise
            judge_arrived(last=True)

    def fetch_full(self, uid: int) -> bytes:
        with self._translate("fetch message", self._selected):
            response = self._imap.fetch([uid], ["BODY.PEEK[]"])
        if uid not in response:
            raise MailboxError(
                f"message UID {uid} is not in {self._selected} on {self.host}: "
                "it was moved or deleted by another client"
            )
        return bytes(response[uid].get(b"BODY[]") or b"")

    # -- changing ---------------------------------------------------------------------------

    def move(self, uids: Sequence[int], folder: str) -> None:
        with self._translate(f"move to {folder!r}", self._selected):
            target = self._server_name(folder)
            for chunk, uid_set in _uid_sets(uids):
                if self._use_move and "MOVE" in self._capabilities:
                    self._imap.move(uid_set, target)
                else:
                    self._copy_and_expunge(chunk, uid_set, target)

    def _copy_and_expunge(self, uids: Sequence[int], uid_set: str, target: str) -> None:
        self._imap.copy(uid_set, target)
        self._imap.add_flags(uid_set, [b"\\Deleted"], silent=True)
        if "UIDPLUS" in self._capabilities:
            self._imap.uid_expunge(uid_set)
            return
        # Without UID EXPUNGE a plain EXPUNGE would also remove mail someone else marked
        # \Deleted; only expunge when ours are the only ones.
        deleted = set(self._imap.search(["DELETED"]))
        if deleted <= set(uids):
            self._imap.expunge()
        else:
            log.warning(
                "%s has no UIDPLUS and other \\Deleted mail in %s: left %d copied message(s) "
                "marked \\Deleted instead of expunging",
                self.host,
                self._selected,
                len(uids),
            )

    def copy(self, uids: Sequence[int], folder: str) -> None:
        with self._translate(f"copy to {folder!r}", self._selected):
            target = self._server_name(folder)
            for _chunk, uid_set in _uid_sets(uids):
                self._imap.copy(uid_set, target)

    def add_keywords(self, uids: Sequence[int], keywords: Sequence[str]) -> None:
        for keyword in keywords:
            if not _FLAG_RE.fullmatch(keyword):
                raise MailboxError(
                    f"{keyword!r} is not a valid IMAP keyword: use letters, digits and $_-. only"
                )
        with self._translate("store keywords", self._selected):
            for keyword in keywords:
                for _chunk, uid_set in _uid_sets(uids):
                    self._imap.add_flags(uid_set, [keyword], silent=True)

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> None:
        with self._translate("append", folder):
            self._imap.append(self._server_name(folder), raw, flags=tuple(flags), msg_time=when)

    def append_many(self, folder: str, raws: Sequence[bytes], flags: Sequence[str] = ()) -> None:
        """Append several messages with one command (MULTIAPPEND, RFC 3502) where the server
        has it. Dovecot's cost per APPEND to a Maildir grows with the folder (1 ms into an empty
        Sent, 50 ms into one of 40,000: the 50,000-message backlog's slowdown, one APPEND per
        reply); a MULTIAPPEND of 50 pays that once."""
        if not raws:
            return
        if "MULTIAPPEND" not in self._capabilities:
            for raw in raws:
                self.append(folder, raw, flags)
            return
        with self._translate("append", folder):
            self._imap.multiappend(
                self._server_name(folder), [{"msg": raw, "flags": tuple(flags)} for raw in raws]
            )

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, timeout: float) -> bool:
        """True as soon as the selected folder reports a change; False after `timeout`."""
        with self._translate("wait for new mail", self._selected):
            if self._take_new_mail():
                return True
            if self._use_idle and "IDLE" in self._capabilities:
                return self._idle(timeout)
            return self._poll(timeout)

    def _take_new_mail(self) -> bool:
        """Consume EXISTS/RECENT that arrived with the answer to an earlier command.

        imaplib keeps such unsolicited responses; the server will not repeat them in IDLE,
        so ignoring them would leave new mail unseen until the next timeout.
        """
        pending = self._imap._imap.untagged_responses
        found = False
        for name in _NEW_MAIL:
            found = pending.pop(name, None) is not None or found
        return found

    def _idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            # Set before IDLE goes out, not after: a SIGTERM can land while the server confirms
            # it, and a LOGOUT then waited the whole timeout for a reply never sent (a stop
            # took 10 s). Until DONE is answered, close() just hangs up.
            self._idling = True
            self._imap.idle()
            changed = self._idle_round(min(remaining, self._idle_renew))
            # DONE also surfaces a dropped connection: idle_check swallows EOF, this does not.
            _text_reply, responses = self._imap.idle_done()
            self._idling = False
            self._take_new_mail()
            if changed or _has_change(responses):
                return True
        return False

    def _idle_round(self, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            responses = self._imap.idle_check(timeout=left)
            if any(response[:1] == (b"BYE",) for response in responses):
                raise ConnectionAbortedError("the server said BYE")
            if _has_change(responses):
                return True
            if not responses:
                # Nothing read before the timeout ended: either time is up or the socket hit EOF.
                return False
        return False

    def _poll(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            _text_reply, responses = self._imap.noop()
            self._take_new_mail()
            if _has_change(responses):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self._poll_interval, remaining))

    # -- errors -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self, action: str, folder: str | None = None) -> Iterator[None]:
        try:
            yield
        except MailboxError:
            raise
        except (imaplib.IMAP4.error, OSError, ValueError) as exc:
            where = f"{self.host}:{self.port}" + (f", folder {folder!r}" if folder else "")
            raise MailboxError(f"IMAP {action} failed ({where}): {_explain(exc, self)}") from exc


# -- module helpers ---------------------------------------------------------------------------


def connect_with_backoff(
    factory: Callable[[], T],
    attempts: int,
    base_delay: float,
    max_delay: float,
    log: logging.Logger,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `factory` until it stops raising MailboxError, doubling the delay between tries."""
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return factory()
        except MailboxError as exc:
            if attempt == attempts:
                raise
            log.warning("%s; retrying in %.1fs (attempt %d of %d)", exc, delay, attempt, attempts)
            sleep(delay)
            delay = min(max_delay, delay * 2)
    raise MailboxError("connect_with_backoff needs at least one attempt")


def _loopback_address(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise MailboxError(
            f"IMAP host {host!r} does not resolve ({exc}): check [imap] host"
        ) from exc
    addresses = [str(info[4][0]).split("%")[0] for info in infos]
    if not addresses or not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise MailboxError(
            f'refusing IMAP security = "plain" to {host}: the password would cross the network '
            'in clear. Use security = "tls" (port 993) or "starttls" (port 143); '
            "plain is only for a server on this machine (127.0.0.1 / ::1)"
        )
    return addresses[0]


def _explain(exc: BaseException, box: ImapMailbox) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = "the server certificate did not verify: set [imap] ca_file or fix the certificate"
    elif isinstance(exc, ssl.SSLError):
        hint = 'TLS failed: use security = "tls" for port 993 and "starttls" for port 143'
    elif isinstance(exc, LoginError):
        hint = "login refused: check [imap] username and password"
    elif isinstance(exc, ConnectionRefusedError):
        hint = "nothing listens there: check [imap] host and port, and that the server runs"
    elif isinstance(exc, socket.gaierror):
        hint = "the host name does not resolve: check [imap] host"
    elif isinstance(exc, TimeoutError):
        hint = f"no answer within {box._timeout:g}s: check the network or the server"
    elif isinstance(exc, imaplib.IMAP4.abort | ConnectionError | EOFError):
        hint = "the connection was lost: reconnect"
    elif isinstance(exc, FileNotFoundError):
        hint = "a file named in the configuration is missing (is [imap] ca_file right?)"
    elif isinstance(exc, OSError):
        hint = "network error: check [imap] host and port"
    else:
        hint = "the server refused the command"
    return f"{detail} — {hint}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _fields_item(fields: Sequence[str]) -> str:
    for name in fields:
        if not _FIELD_RE.fullmatch(name):
            raise MailboxError(f"{name!r} is not a header field name")
    return f"BODY.PEEK[HEADER.FIELDS ({' '.join(fields).upper()})]"


def _field_values(items: dict[int, dict[bytes, Any]]) -> dict[int, bytes]:
    return {uid: bytes(_field_item(data) or b"") for uid, data in items.items()}


def _field_item(data: dict[bytes, Any]) -> Any:
    # The server echoes the item its own way (spacing, case): taken by its prefix.
    return next((v for k, v in data.items() if k.startswith(b"BODY[HEADER.FIELDS")), None)


def _chunks(uids: Sequence[int]) -> Iterator[list[int]]:
    items = list(uids)
    for start in range(0, len(items), BATCH):
        yield items[start : start + BATCH]


def _uid_sets(uids: Sequence[int]) -> Iterator[tuple[list[int], str]]:
    """(UIDs, UID set) per command, runs of consecutive UIDs written as ranges ("1:500,502"):
    a backlog's STORE or MOVE is one short command instead of one per 500 UIDs, and the server
    updates its index once per command (20 MOVEs of a few UIDs each cost 3x one of all). A set
    ends before it would pass SET_CHARS, so even scattered UIDs (a rule's hits) take one command
    per ~1,000: 891 scattered UIDs moved in 3 commands took Dovecot 0.20-0.28 s, in one 0.14 s."""
    part: list[tuple[int, int]] = []
    length = 0
    for first, last in uid_ranges(uids):
        text = f"{first}:{last}" if first != last else str(first)
        if part and length + 1 + len(text) > SET_CHARS:
            yield _uid_set(part)
            part, length = [], 0
        part.append((first, last))
        length += len(text) + (1 if length else 0)
    if part:
        yield _uid_set(part)


def _uid_set(ranges: list[tuple[int, int]]) -> tuple[list[int], str]:
    return [uid for a, b in ranges for uid in range(a, b + 1)], sequence_set_of(ranges)


def _has_change(responses: Iterable[tuple[Any, ...]]) -> bool:
    return any(
        len(response) >= 2 and isinstance(response[0], int) and response[1] in _CHANGES
        for response in responses
    )


def _group_fetches(plans: dict[int, _Part]) -> list[tuple[tuple[int, ...], list[str]]]:
    """(uids, items) per FETCH command.

    Grouping by message shape costs one command per distinct structure, best for the usual
    few shapes; grouping by item costs at most one per distinct section, bounded even when
    every message is built differently. Take whichever needs fewer commands.
    """
    by_shape: dict[tuple[str, ...], list[int]] = {}
    by_item: dict[str, list[int]] = {}
    for uid, plan in plans.items():
        items = tuple(plan.items())
        if items:
            by_shape.setdefault(items, []).append(uid)
        for item in items:
            by_item.setdefault(item, []).append(uid)
    item_groups: dict[tuple[int, ...], list[str]] = {}
    for item, uids in by_item.items():
        item_groups.setdefault(tuple(uids), []).append(item)
    if len(by_shape) <= len(item_groups):
        return [(tuple(uids), list(items)) for items, uids in by_shape.items()]
    return list(item_groups.items())


def _fetched(
    uid: int, first: dict[bytes, Any], *, raw: bytes = b"", entity: Entity | None = None
) -> Fetched:
    flags = frozenset(_text(flag) for flag in first.get(b"FLAGS", ()))
    size = int(first.get(b"RFC822.SIZE", 0))
    return Fetched(uid=uid, raw=raw, flags=flags, size=size, entity=entity)


# -- MIME structure: what to fetch and how to put it back together ---------------------------
#
# A message comes back as a core.mime.Entity tree: the original header, the original MIME
# headers of every part, the first 64 KiB of each text part and no content for anything else,
# with the original boundaries. core.message.parse_entity therefore sees the same tree, text and
# attachment names as in the full message; only attachment bodies (and sizes) are missing.


@dataclass(frozen=True, slots=True)
class _Part:
    kind: Literal["multipart", "text", "stub", "message"]
    section: str  # IMAP section number; "" for the top-level message
    header_spec: str  # where this entity's headers come from: HEADER, n.HEADER or n.MIME
    body_spec: str = ""  # text parts: TEXT, n.TEXT or n
    encoding: str = ""
    size: int = 0
    boundary: bytes = b""
    children: tuple[_Part, ...] = field(default=())

    def items(self) -> Iterator[str]:
        if self.header_spec != "HEADER":  # the top-level header came with the first round
            yield f"BODY.PEEK[{self.header_spec}]"
        if self.kind == "text":
            yield f"BODY.PEEK[{self.body_spec}]<0.{TEXT_LIMIT}>"
        for child in self.children:
            yield from child.items()


def _plan(structure: Any) -> _Part:
    if not structure:
        return _Part("stub", "", "HEADER")
    return _entity(structure, "", "HEADER", 0)


def _entity(node: Any, section: str, header_spec: str, depth: int) -> _Part:
    """A MIME entity: the top-level message, a part, or the message inside message/rfc822."""
    nested = header_spec.endswith("HEADER")  # a whole message: its body is "TEXT", not a number
    if _is_multipart(node):
        parts, rest = _split_multipart(node)
        params = _params(rest[1] if len(rest) > 1 else None)
        boundary = params.get("boundary", b"")
        if not boundary or depth >= _MAX_DEPTH:
            return _Part("stub", section, header_spec)
        prefix = f"{section}." if section else ""
        children = tuple(
            _entity(child, f"{prefix}{i}", f"{prefix}{i}.MIME", depth + 1)
            for i, child in enumerate(parts, start=1)
        )
        return _Part("multipart", section, header_spec, boundary=boundary, children=children)
    ctype = f"{_text(node[0]).lower()}/{_text(node[1]).lower()}"
    encoding = _text(node[5] or b"").lower()
    size = int(node[6] or 0)
    if ctype in ("message/rfc822", "message/global") and len(node) > 8 and depth < _MAX_DEPTH:
        inner = _entity(node[8], section, f"{section}.HEADER", depth + 1)
        return _Part("message", section, header_spec, children=(inner,))
    if ctype.startswith("text/") and not _is_attachment(node, ctype):
        body_spec = (f"{section}.TEXT" if section else "TEXT") if nested else section
        return _Part("text", section, header_spec, body_spec, encoding, size)
    return _Part("stub", section, header_spec, encoding=encoding, size=size)


def _is_multipart(node: Any) -> bool:
    return bool(node) and isinstance(node[0], list | tuple)


def _split_multipart(node: Any) -> tuple[list[Any], tuple[Any, ...]]:
    if isinstance(node[0], list):  # imapclient's BodyData nests the parts in a list
        return node[0], tuple(node[1:])
    count = next((i for i, item in enumerate(node) if not isinstance(item, tuple)), len(node))
    return list(node[:count]), tuple(node[count:])


def _params(raw: Any) -> dict[str, bytes]:
    if not isinstance(raw, tuple | list):
        return {}
    pairs = list(raw)
    return {_text(k).lower(): v for k, v in zip(pairs[::2], pairs[1::2], strict=False)}


def _is_attachment(node: Any, ctype: str) -> bool:
    """Mirror core.message: a filename or an attachment disposition makes a part an attachment."""
    if any(key.startswith("name") for key in _params(node[2])):
        return True
    disposition_index = 9 if ctype.startswith("text/") else 8
    disposition = node[disposition_index] if len(node) > disposition_index else None
    if not isinstance(disposition, tuple | list) or not disposition:
        return False
    kind = _text(disposition[0]).lower()
    params = _params(disposition[1] if len(disposition) > 1 else None)
    return kind.startswith("attachment") or any(key.startswith("filename") for key in params)


def _response_key(spec: str, partial: bool) -> bytes:
    return f"BODY[{spec}]{'<0>' if partial else ''}".encode()


def _assemble(part: _Part, first: dict[bytes, Any], data: dict[bytes, Any]) -> Entity:
    headers = first.get(b"BODY[HEADER]") if part.header_spec == "HEADER" else None
    if headers is None:
        headers = data.get(_response_key(part.header_spec, False))
    return _assemble_entity(part, bytes(headers or b"\r\n"), first, data)


def _assemble_entity(
    part: _Part, headers: bytes, first: dict[bytes, Any], data: dict[bytes, Any]
) -> Entity:
    if part.kind == "text":
        body = bytes(data.get(_response_key(part.body_spec, True)) or b"")
        if part.encoding == "base64" and len(body) >= TEXT_LIMIT:
            body = body[: body.rfind(b"\n") + 1]  # whole lines only: half a quantum won't decode
        return Entity("text", headers, body)
    if part.kind == "message":
        return Entity("message", headers, parts=(_assemble(part.children[0], first, data),))
    if part.kind == "multipart":
        children = tuple(_assemble(child, first, data) for child in part.children)
        return Entity("multipart", headers, parts=children, boundary=part.boundary)
    return Entity("omitted", _stub_headers(headers, part.size))


def _stub_headers(headers: bytes, size: int) -> bytes:
    # Leave a trace of what was not downloaded, for people reading a quarantined rebuild.
    head = headers.rstrip(b"\r\n")
    note = f"X-Inboxbot-Omitted: {size} octets not downloaded\r\n\r\n".encode()
    return head + b"\r\n" + note if head else note
