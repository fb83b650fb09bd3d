"""Local state in a TinyDB file: watermarks, outbox, reply limiter, history, complaints, reminders.

The IMAP server stays the source of truth (DESIGN.md section 4); this file is a cache plus the
outbox and reminders. Three properties matter more than features:

- Atomic writes: the file is replaced by rename after an fsync, so a crash at any moment leaves
  either the old or the new state on disk, never a torn JSON file.
- One process per state file: an exclusive, non-blocking flock on ``<state>.lock``.
- Speed: TinyDB's Table rebuilds its whole table on every insert (10,000 inserts take tens of
  seconds), so the store keeps TinyDB's file format and storage/middleware layers but works on
  the raw tables with its own indexes. Writes stay in memory until ``flush()``, which costs
  nothing when nothing changed; callers flush where durability matters (e.g. an outbox intent
  before sending).
- Memory: a backlog leaves a record per message, so each document is held as its compact JSON
  text, deflated (adapters.doctext), ~0.25 KB per message of a complaint-heavy backlog against
  ~2.2 KB as dicts, and the indexes keep only what the queries ask (int ids, addresses, open
  reminders; a single id where there is one, a list only where there are more).
  Schema 2 keeps one history document per customer, an entry ``[at, complaint]`` per message;
  a schema-1 file (a document per message) is migrated when opened.

Every time is an aware datetime in the API and a fixed-width UTC ISO string in the file. In
records the caller supplies (outbox entries, complaints, reminders) datetime values are stored as
ISO strings; keys named ``at``, ``due``, ``created``, ``updated`` or ending in ``_at`` come back
as datetimes.

Not thread-safe: one service thread owns the store.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import fcntl
import json
import os
import sys
import tempfile
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tinydb import Storage, TinyDB
from tinydb.middlewares import Middleware

from inboxbot.adapters import doctext
from inboxbot.errors import StoreError

Doc = dict[str, Any]

SCHEMA_VERSION = 2  # 2: one history document per customer (was: per message)
OUTBOX_STATES = ("intent", "sent", "marked", "done", "failed")
OUTBOX_FINISHED = frozenset({"done", "failed"})
REMINDER_FINISHED = frozenset({"done", "sent", "cancelled", "canceled", "failed", "expired"})
OUTBOX_KEEP = timedelta(days=7)
_OUTBOX_FINISHED_FIELDS = ("key", "uid", "type", "state", "created")
COMPLAINTS_KEEP = timedelta(days=366)
TIME_KEYS = frozenset({"at", "due", "created", "updated"})

_TABLES = ("meta", "watermarks", "outbox", "replies", "history", "complaints", "reminders")
_MOVE_ASIDE = (
    "stop inboxbot, move it aside (mv {path} {path}.broken) and start again; the server-side "
    "keywords ($InboxbotSeen, $AutoReplied) keep inboxbot from repeating work"
)


# -- time encoding ----------------------------------------------------------------------------


def _iso(when: datetime) -> str:
    """Fixed-width UTC ISO string, so that string order is time order."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"state store needs aware datetimes, got naive {when!r}")
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _is_time_key(key: str) -> bool:
    return key in TIME_KEYS or key.endswith("_at")


def _encode(record: dict[str, Any]) -> Doc:
    """A JSON-ready copy of a caller's record: datetimes -> ISO, time strings normalised."""
    doc: Doc = {}
    for key, value in record.items():
        if isinstance(value, datetime):
            value = _iso(value)
        elif isinstance(value, str) and _is_time_key(key):
            with contextlib.suppress(ValueError):
                parsed = _from_iso(value)
                value = _iso(parsed) if parsed.tzinfo is not None else value
        # Fail here, at the caller, rather than at the next flush far away from the cause.
        _check_json(key, value)
        doc[key] = value
    return doc


_JSON_SCALARS = (str, int, float, bool, type(None))


def _check_json(key: str, value: object) -> None:
    if isinstance(value, _JSON_SCALARS):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_json(key, item)
        return
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        for item in value.values():
            _check_json(key, item)
        return
    raise ValueError(f"state record field {key!r} is not JSON-serialisable: {value!r}")


def _decode(doc: Doc) -> Doc:
    out = dict(doc)
    for key, value in doc.items():
        if isinstance(value, str) and _is_time_key(key):
            with contextlib.suppress(ValueError):
                out[key] = _from_iso(value)
    return out


def _norm(address: str) -> str:
    # Mail systems treat addresses case-insensitively in practice; one customer, one key.
    return address.strip().lower()


# -- TinyDB storage layers --------------------------------------------------------------------


class AtomicJSONStorage(Storage):
    """TinyDB storage writing through a temp file, fsync and rename; mode 0600.

    ``read``/``write`` are TinyDB's Storage API (dicts); the store itself uses ``read_texts``
    and ``write_texts``, which keep each document as its JSON text (see adapters.doctext)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, dict[str, Any]] | None:
        texts = self.read_texts()
        if texts is None:
            return None
        return {name: _loaded(docs) for name, docs in texts.items()}

    def read_texts(self, visit: doctext.Visit | None = None) -> doctext.Tables | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"state file {self.path} cannot be read ({exc.strerror}); check its owner and "
                "permissions or set another [paths].state"
            ) from exc
        if not raw.strip():
            return None  # an empty (e.g. touched) file is a new state, not a broken one
        try:
            text = raw.decode()
            del raw  # the file is held once, as text, while it is scanned
            return doctext.scan(text, visit)
        except UnicodeDecodeError as exc:
            raise _corrupt(self.path, f"not valid JSON: {exc}") from exc
        except ValueError as exc:
            raise _corrupt(self.path, f"not a TinyDB database: {exc}") from exc

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.write_texts({name: _packed(docs) for name, docs in data.items()})

    def write_texts(self, tables: doctext.Tables) -> int:
        """Replace the file atomically, streaming the documents' texts; returns its size."""
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
                doctext.write(handle, tables)
                size = handle.tell()
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _write_error(self.path, exc) from exc
        _fsync_dir(directory)  # the rename itself must survive a power cut
        return size

    def close(self) -> None:
        pass

    def remove_stale_temps(self) -> None:
        """Temp files left by a killed writer; only call while holding the lock."""
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()


class JournalMiddleware(Middleware):
    """CachingMiddleware made durable and cheap: the cache is the state; ``flush()`` appends the
    changed documents as one JSON line to ``<state>.journal`` (write + fsync, cost independent
    of the state's size) and rewrites the TinyDB file atomically only when the journal has grown
    as large as the file, after pruning, and on close. A torn last line (a crash mid-append) is
    a flush that never returned, so it is ignored on replay.

    The cache holds each document as its JSON text (adapters.doctext): a dict per record was
    most of the daemon's memory after a large backlog. TinyDB's own ``read``/``write`` still
    work on dicts, decoded and encoded on the way.
    """

    MIN_JOURNAL = 256 * 1024  # below this a snapshot is never worth it

    def __init__(self, storage: AtomicJSONStorage) -> None:
        super().__init__(lambda: storage)
        self.file = storage
        self.cache: doctext.Tables | None = None
        self.pending: dict[tuple[str, int], None] = {}  # ordered set of (table, doc id)
        self.snapshot_due = False
        self.replayed = False  # the journal changed documents after the file was read
        self._journal_fd: int | None = None
        self._journal_size = 0
        self._snapshot_size = 0
        self._generation = 0  # of the last snapshot: the file's meta "journal", the journal's head

    @property
    def journal_path(self) -> Path:
        path = self.file.path
        return path.with_name(path.name + ".journal")

    def texts(self, visit: doctext.Visit | None = None) -> doctext.Tables:
        """The state, each document as its JSON text; loaded (and the journal replayed) once.
        ``visit`` sees the file's documents as they are read (not those the journal changes:
        see ``replayed``)."""
        if self.cache is None:
            stored = self.file.read_texts(visit)
            self.cache = stored or {}
            with contextlib.suppress(OSError):
                self._snapshot_size = self.file.path.stat().st_size
            replayed = self.replayed = self._replay(self.cache)
            self._journal_fd = _open_journal(self.journal_path)
            if replayed or stored is None:
                self.snapshot_due = True  # start from a clean file and an empty journal
        return self.cache

    def read(self) -> dict[str, dict[str, Any]]:
        # Only TinyDB's own Table API calls this; the store itself never does.
        tables = self.texts()
        return {name: _loaded(docs) for name, docs in tables.items()}

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        # Only TinyDB's own Table API calls this; the store itself never does.
        self.cache = {name: _packed(docs) for name, docs in data.items()}
        self.snapshot_due = True

    def touch(self, table: str, doc_id: int) -> None:
        self.pending[(table, doc_id)] = None

    @property
    def dirty(self) -> bool:
        return self.snapshot_due or bool(self.pending)

    def flush(self) -> bool:
        if self.cache is None or not self.dirty:
            return False
        if self.snapshot_due or self._journal_size > max(self.MIN_JOURNAL, self._snapshot_size):
            self.snapshot()
            return True
        line = f"[{','.join(self._ops())}]\n".encode()
        assert self._journal_fd is not None
        try:
            os.write(self._journal_fd, line)
            os.fsync(self._journal_fd)
        except OSError as exc:
            raise _write_error(self.journal_path, exc) from exc
        self._journal_size += len(line)
        self.pending.clear()
        return True

    def _ops(self) -> Iterator[str]:
        """[table, doc id, document or null] of each pending change, as JSON text."""
        assert self.cache is not None
        for table, key in self.pending:
            packed = self.cache.get(table, {}).get(key)
            text = "null" if packed is None else doctext.unpack(packed)
            yield f'[{doctext.dump(table)},"{key}",{text}]'

    def snapshot(self) -> None:
        """Rewrite the TinyDB file (atomically), then empty the journal it now contains.

        Each snapshot has a generation, written into the file (meta "journal") and at the head
        of the emptied journal. A crash between the file's rename and the truncate leaves a
        journal of an older generation beside the newer file: it is not replayed. Replaying it
        would set documents back to what they were at their last flush (a customer's history
        document changes with every message) and, after a schema migration, bring back
        documents of the old schema."""
        if self.cache is None:
            return
        generation = self._generation + 1
        _set_generation(self.cache, generation)
        self._snapshot_size = self.file.write_texts(self.cache)
        self._generation = generation
        if self._journal_fd is not None:
            try:
                os.ftruncate(self._journal_fd, 0)
                os.write(self._journal_fd, b'{"generation":%d}\n' % generation)
                os.fsync(self._journal_fd)
            except OSError as exc:
                raise _write_error(self.journal_path, exc) from exc
        self._journal_size = 0
        self.pending.clear()
        self.snapshot_due = False

    def _replay(self, cache: doctext.Tables) -> bool:
        self._generation = _generation_of(cache)
        try:
            lines = self.journal_path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"state journal {self.journal_path} cannot be read: {exc}") from exc
        head = _journal_head(lines[0])
        if head is not None:
            if head < self._generation:
                return False  # the file already holds all of it (see snapshot)
            lines[0] = b""
        # A journal without a head (written before generations) is replayed as it always was.
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                ops = json.loads(line)
                for table, key, doc in ops:
                    docs = cache.setdefault(table, {})
                    if doc is None:
                        docs.pop(doctext.doc_id(key), None)
                    elif isinstance(doc, dict):
                        docs[doctext.doc_id(key)] = doctext.pack(doctext.dump(doc))
                    else:
                        raise TypeError(f"document {key!r} is not an object")
            except (ValueError, TypeError, AttributeError) as exc:
                if number == len(lines):
                    break  # torn tail: that flush never returned to its caller
                raise _corrupt(self.journal_path, f"line {number}: {exc}") from exc
        return any(line.strip() for line in lines)

    def close(self) -> None:
        try:
            if self.cache is not None and (self.dirty or self._journal_size):
                self.snapshot()
        finally:
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            self.storage.close()


def _loaded(docs: doctext.Docs) -> dict[str, Any]:
    return {str(k): doctext.load(doctext.unpack(v)) for k, v in docs.items()}


def _packed(docs: dict[str, Any]) -> doctext.Docs:
    return {doctext.doc_id(k): doctext.pack(doctext.dump(v)) for k, v in docs.items()}


def _generation_of(cache: doctext.Tables) -> int:
    meta = cache.get("meta", {}).get(1)
    if meta is None:
        return 0
    value = json.loads(doctext.unpack(meta)).get("journal", 0)
    return value if isinstance(value, int) else 0


def _set_generation(cache: doctext.Tables, generation: int) -> None:
    docs = cache.setdefault("meta", {})
    meta = json.loads(doctext.unpack(docs[1])) if 1 in docs else {}
    meta["journal"] = generation
    docs[1] = doctext.pack(doctext.dump(meta))


def _journal_head(line: bytes) -> int | None:
    """The generation a journal's first line names, None when it is a line of changes."""
    if not line.startswith(b'{"generation":'):
        return None
    try:
        value = json.loads(line)["generation"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) else None


def _open_journal(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise _write_error(path, exc) from exc


def _write_error(path: Path, exc: OSError) -> StoreError:
    return StoreError(
        f"state file {path} cannot be written ({exc.strerror or exc}); "
        "check free disk space and permissions of its directory"
    )


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return  # some filesystems do not allow opening directories; the rename still happened
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise StoreError(f"cannot sync directory {directory}: {exc.strerror}") from exc
    finally:
        os.close(fd)


def _corrupt(path: Path, why: str) -> StoreError:
    return StoreError(f"state file {path} is unreadable ({why}); " + _MOVE_ASIDE.format(path=path))


# -- single-instance lock ---------------------------------------------------------------------

# The lock is an flock, which a forked child shares (inboxbot.textwork forks a helper): the
# child closes its copy at once, so a killed service's lock is free when it is, not when its
# helper notices. Closing (not unlocking) leaves the parent's lock as it is.
_held_locks: set[int] = set()


def _drop_locks_in_child() -> None:
    for fd in _held_locks:
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_locks.clear()


os.register_at_fork(after_in_child=_drop_locks_in_child)


def _acquire_lock(state: Path) -> int:
    lock_path = state.with_name(state.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(
            f"cannot create lock file {lock_path} ({exc.strerror}); create the directory or "
            "set another [paths].state"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StoreError(
            f"state file {state} is in use by another inboxbot (pid {holder}); "
            "stop it or use another [paths].state"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held_locks.add(fd)
    return fd


def _release_lock(fd: int) -> None:
    _held_locks.discard(fd)
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


# -- raw tables -------------------------------------------------------------------------------


class _Table:
    """One TinyDB table as TinyDB stores it ({"1": {...}}), each document held as its packed
    JSON text under an int id (see adapters.doctext), with O(1) insert and lookup. Documents
    come out as fresh dicts: a change is written back with ``put``."""

    def __init__(
        self, cache: doctext.Tables, name: str, counters: dict[str, int], journal: JournalMiddleware
    ) -> None:
        self.name = name
        self.docs: doctext.Docs = cache.setdefault(name, {})
        self._journal = journal
        # The persisted counter keeps ids unique after pruning removed the newest documents.
        self._counters = counters
        self.next_id = max(max(self.docs, default=0) + 1, counters.get(name, 1))

    def insert(self, doc: Doc) -> int:
        """Store a new document; returns its id (the table's key)."""
        key = self.next_id
        self.next_id += 1
        self._counters[self.name] = self.next_id
        self.put(key, doc)
        return key

    def put(self, key: int, doc: Doc) -> None:
        self.docs[key] = doctext.pack(doctext.dump(doc))
        self._journal.touch(self.name, key)

    def get(self, key: int) -> Doc | None:
        packed = self.docs.get(key)
        return None if packed is None else _document(self.name, packed)

    def items(self) -> Iterator[tuple[int, Doc]]:
        for key, packed in self.docs.items():
            yield key, _document(self.name, packed)

    def delete(self, keys: Sequence[int]) -> int:
        for key in keys:
            del self.docs[key]
        if keys:
            self._journal.snapshot_due = True  # bulk deletes: rewrite the file, not the journal
        return len(keys)

    def remove_where(self, predicate: Callable[[Doc], bool]) -> int:
        return self.delete([key for key, doc in self.items() if predicate(doc)])


def _document(table: str, packed: bytes) -> Doc:
    doc = doctext.load(doctext.unpack(packed))
    if not isinstance(doc, dict):  # doctext.scan and the journal replay let only objects in
        raise ValueError(f"a document of table {table!r} is not an object")
    return doc


# -- the store --------------------------------------------------------------------------------


class StateStore:
    """The service's local state; see the module docstring for the guarantees."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = _acquire_lock(self.path)
        try:
            storage = AtomicJSONStorage(self.path)
            storage.remove_stale_temps()
            self._mw = JournalMiddleware(storage)
            self._db = TinyDB(storage=self._mw)
            self._load()
        except BaseException:
            self._release()
            raise

    # -- life cycle --------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            # The indexes are built as the file is read, from the documents it decodes anyway
            # (decoding each again took a third of a start-up after a 50,000-message backlog).
            self._reset_indexes()
            self._visit_failed = False
            cache = self._mw.texts(self._index_visited)
            meta = cache.setdefault("meta", {})
            self._meta: Doc = _document("meta", meta[1]) if 1 in meta else {}
            version = self._meta.setdefault("version", SCHEMA_VERSION)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"state file {self.path} was written by a newer inboxbot (schema "
                    f"{version}); upgrade inboxbot or use another [paths].state"
                )
            counters = self._meta.setdefault("next_id", {})
            tables = {name: _Table(cache, name, counters, self._mw) for name in _TABLES[1:]}
            self._tables = tables
            self._watermarks = tables["watermarks"]
            self._outbox = tables["outbox"]
            self._replies = tables["replies"]
            self._history = tables["history"]
            self._complaints = tables["complaints"]
            self._reminders = tables["reminders"]
            if version < 2:
                _migrate_history(self._history, self._replies)
                self._meta["version"] = SCHEMA_VERSION
            if version < 2 or self._mw.replayed or self._visit_failed:
                self._build_indexes()  # from what is in memory now, not what the file held
            else:
                self._finish_indexes()
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise _corrupt(self.path, f"unexpected content: {exc!r}") from exc
        self._sync_meta()

    def _sync_meta(self) -> None:
        # The id counters change with every insert; like TinyDB's own, they reach the file with
        # the next snapshot (ids found in the journal's documents keep them unique meanwhile).
        self._mw.texts()["meta"][1] = doctext.pack(doctext.dump(self._meta))

    def _build_indexes(self, tables: Collection[str] = _TABLES) -> None:
        """The in-memory indexes of ``tables`` (after pruning, those it changed) from the
        documents in memory."""
        self._reset_indexes(tables)
        for name in tables:
            table = self._tables.get(name)
            for key, doc in table.items() if table is not None else ():
                self._index_document(name, key, doc)
        self._finish_indexes(tables)

    def _reset_indexes(self, tables: Collection[str] = _TABLES) -> None:
        self._last_customer: tuple[bytes, Doc] | None = None  # see _customer
        if "watermarks" in tables:
            self._folder_ids: dict[str, int] = {}
        if "outbox" in tables:
            self._outbox_ids: dict[str, int] = {}
            self._outbox_open: dict[int, None] = {}
        if "complaints" in tables:
            self._complaint_ids: dict[str, int] = {}
        if "history" in tables:
            self._history_ids: dict[str, int] = {}
            self._reply_stamps: list[float] = []
        if "reminders" in tables:
            # Open reminders by id (-> kind), by customer and by message: what a pass asks
            # about every message, answered without decoding the stored reminders.
            self._open_kinds: dict[int, str] = {}
            self._open_by_customer: _Ids = {}
            self._open_by_message: _Ids = {}
            # When each check-in went out, in order: they count toward max_per_hour with the
            # auto-replies (DESIGN.md section 5: never more than max_per_hour in total).
            self._checkin_times: list[float] = []

    def _index_visited(self, table: str, key: int, doc: Doc) -> None:
        # A file of another schema can hold anything: the full rebuild after the version check
        # reports it (or migrates it first).
        try:
            self._index_document(table, key, doc)
        except (AttributeError, KeyError, TypeError, ValueError):
            self._visit_failed = True

    def _index_document(self, table: str, key: int, doc: Doc) -> None:
        if table == "watermarks":
            self._folder_ids[doc["folder"]] = key
        elif table == "outbox":
            self._outbox_ids[doc["key"]] = key
            if doc.get("state") not in OUTBOX_FINISHED:
                self._outbox_open[key] = None
        elif table == "complaints":
            if doc.get("message_id"):
                self._complaint_ids[sys.intern(str(doc["message_id"]))] = key
        elif table == "history":
            # Customer documents by address, and the time of every auto-reply (for
            # max_per_hour); when a customer was last answered is read from their document.
            self._history_ids[sys.intern(doc["address"])] = key
            self._reply_stamps.extend(_from_iso(at).timestamp() for at in doc.get("replied", ()))
        elif table == "reminders":
            self._index_reminder(key, doc)
            self._note_checkin(doc)

    def _finish_indexes(self, tables: Collection[str] = _TABLES) -> None:
        if "history" in tables:
            self._reply_stamps.sort()
            # 8 bytes a reply, against 32 for a float in a list; bisect works on any sequence.
            self._reply_times = array("d", self._reply_stamps)
            self._reply_stamps = []

    def _index_reminder(self, key: int, doc: Doc, old: Doc | None = None) -> None:
        """(Re-)index reminder ``key`` now ``doc``; ``old`` is what it was before a change."""
        if old is not None:
            self._unindex_reminder(key, old)
        if doc.get("state", "pending") in REMINDER_FINISHED:
            return
        # Interned: a backlog's reminders share a few kinds, a customer's reminders their
        # address and a complaint's reminder its Message-ID with the complaint log's index,
        # which would otherwise be a string per reminder.
        self._open_kinds[key] = sys.intern(str(doc.get("kind", "")))
        _add(self._open_by_customer, sys.intern(_norm(str(doc.get("customer", "")))), key)
        _add(self._open_by_message, sys.intern(str(doc.get("message_id", ""))), key)

    def _note_checkin(self, doc: Doc) -> None:
        """A reminder that went out to a customer joins the check-in times."""
        sent_at = doc.get("sent_at")
        if doc.get("to") != "customer" or doc.get("state") != "sent" or not sent_at:
            return
        bisect.insort(self._checkin_times, _from_iso(str(sent_at)).timestamp())

    def _unindex_reminder(self, key: int, doc: Doc) -> None:
        if self._open_kinds.pop(key, None) is None:
            return
        _discard(self._open_by_customer, _norm(str(doc.get("customer", ""))), key)
        _discard(self._open_by_message, str(doc.get("message_id", "")), key)

    def flush(self) -> bool:
        """Write pending changes atomically; returns False (and costs nothing) when clean."""
        if self._lock_fd is None:
            raise StoreError(f"state file {self.path} is closed")
        if self._mw.dirty:
            self._sync_meta()
        return self._mw.flush()

    def close(self) -> None:
        """Flush and release the lock; safe to call twice."""
        if self._lock_fd is None:
            return
        try:
            self._sync_meta()
            self._db.close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            _release_lock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- watermarks --------------------------------------------------------------------------

    def watermark(self, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, highest processed UID) of ``folder``, or None if never seen."""
        doc = self._watermark_doc(folder)
        if doc is None:
            return None
        return int(doc["uidvalidity"]), int(doc["last_uid"])

    def _watermark_doc(self, folder: str) -> Doc | None:
        key = self._folder_ids.get(folder)
        return None if key is None else self._watermarks.get(key)

    def set_watermark(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        key = self._folder_ids.get(folder)
        if key is None:
            doc = {"folder": folder, "uidvalidity": uidvalidity, "last_uid": last_uid}
            self._folder_ids[folder] = self._watermarks.insert(doc)
            return
        doc = self._watermarks.get(key) or {"folder": folder}
        if (doc.get("uidvalidity"), doc.get("last_uid")) != (uidvalidity, last_uid):
            doc["uidvalidity"], doc["last_uid"] = uidvalidity, last_uid
            self._watermarks.put(key, doc)

    def in_flight(self, folder: str, uidvalidity: int) -> list[int]:
        """UIDs of the batch being marked and moved in ``folder`` when the service stopped; []
        when that batch finished (or the folder's UIDVALIDITY changed since)."""
        doc = self._watermark_doc(folder)
        if not doc or doc.get("uidvalidity") != uidvalidity:
            return []
        return [int(uid) for uid in doc.get("in_flight", [])]

    def set_in_flight(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """Remember the batch about to be marked done on the server, until it is filed."""
        if folder not in self._folder_ids:
            self.set_watermark(folder, uidvalidity, 0)
        key = self._folder_ids[folder]
        doc = self._watermarks.get(key) or {}
        if doc.get("in_flight", []) != list(uids) or doc["uidvalidity"] != uidvalidity:
            doc["in_flight"] = list(uids)
            self._watermarks.put(key, doc)

    # -- outbox (exactly once, DESIGN.md section 4) ------------------------------------------

    def outbox_add(self, key: str, entry: dict[str, Any]) -> bool:
        """Record the intent to send; False (nothing changed) when ``key`` is already there."""
        if key in self._outbox_ids:
            return False
        doc = _encode(entry)
        doc["key"] = key
        doc.setdefault("state", "intent")
        _check_outbox_state(doc["state"])
        doc.setdefault("created", _iso(datetime.now(UTC)))
        doc_id = self._outbox.insert(doc)
        self._outbox_ids[key] = doc_id
        if doc["state"] not in OUTBOX_FINISHED:
            self._outbox_open[doc_id] = None
        return True

    def outbox_get(self, key: str) -> Doc | None:
        doc_id = self._outbox_ids.get(key)
        doc = None if doc_id is None else self._outbox.get(doc_id)
        return None if doc is None else _decode(doc)

    def outbox_set_state(self, key: str, state: str) -> None:
        """Advance an entry: intent -> sent -> marked -> done, or -> failed (permanent error)."""
        _check_outbox_state(state)
        doc_id = self._outbox_ids.get(key)
        doc = None if doc_id is None else self._outbox.get(doc_id)
        if doc_id is None or doc is None:
            raise KeyError(f"no outbox entry {key!r}")
        if doc.get("state") != state:
            doc["state"] = state
            if state in OUTBOX_FINISHED:
                # Finished, an entry only answers "was this sent?" (a replayed batch) until it
                # is pruned by "created": recipients and the reply's Message-ID are in Sent.
                doc = {k: doc[k] for k in _OUTBOX_FINISHED_FIELDS if k in doc}
            self._outbox.put(doc_id, doc)
        if state in OUTBOX_FINISHED:
            self._outbox_open.pop(doc_id, None)

    def outbox_pending(self) -> list[Doc]:
        """Entries still to be finished (neither done nor failed), oldest first."""
        docs = (self._outbox.get(key) for key in sorted(self._outbox_open))
        return [_decode(doc) for doc in docs if doc is not None]

    # -- reply limiter -----------------------------------------------------------------------

    def record_reply(self, address: str, when: datetime) -> None:
        """An auto-reply to ``address``: its time goes in that customer's document (schema 2)."""
        self._customer_append(address, "replied", _iso(when))
        stamp = when.timestamp()
        if not self._reply_times or stamp >= self._reply_times[-1]:
            self._reply_times.append(stamp)  # the usual case: replies arrive in time order
        else:
            bisect.insort(self._reply_times, stamp)

    def last_reply(self, address: str) -> datetime | None:
        replied = self._customer(address).get("replied")
        return _from_iso(max(replied)) if replied else None

    def replies_since(self, when: datetime) -> int:
        """Auto-replies sent at or after ``when`` (for ``max_per_hour``)."""
        return len(self._reply_times) - bisect.bisect_left(self._reply_times, when.timestamp())

    def checkins_since(self, when: datetime) -> int:
        """Check-ins sent to customers at or after ``when`` (for ``max_per_hour``)."""
        times = self._checkin_times
        return len(times) - bisect.bisect_left(times, when.timestamp())

    # -- customer history --------------------------------------------------------------------

    def record_message(
        self, address: str, when: datetime, complaint: bool, categories: Sequence[str] = ()
    ) -> None:
        """One message from a customer: one entry ``[at, complaint]`` (plus its categories, when
        it has any) in that customer's history document (schema 2). The complaint log keeps
        the complaint's Message-ID and details; history only answers "new or repeat, how many
        complaints lately", so a message costs ~40 bytes here, not a document of its own."""
        entry: list[Any] = [_iso(when), bool(complaint)]
        if categories:
            entry.append(list(categories))  # omitted when empty: most mail has none
        self._customer_append(address, "seen", entry)

    def _customer(self, address: str) -> Doc:
        """The customer's document: {"address", "seen": [...], "replied": [at, ...]}; shared
        with the next caller asking about the same customer, so it is never changed in place
        (``_customer_append`` writes a changed copy)."""
        key = self._history_ids.get(_norm(address))
        packed = None if key is None else self._history.docs.get(key)
        if packed is None:
            return {}
        # One message asks about its sender three or four times (known? complaints lately?
        # last reply? then one more entry): the last document decoded is kept, as long as the
        # stored text is the very one it was decoded from. A chronic sender's history is
        # thousands of entries, and decoding it was most of that message's cost.
        last = self._last_customer
        if last is not None and last[0] is packed:
            return last[1]
        doc = _document("history", packed)
        self._last_customer = (packed, doc)
        return doc

    def _customer_append(self, address: str, field: str, item: Any) -> None:
        address = sys.intern(_norm(address))  # one string for the index and the caller's
        key = self._history_ids.get(address)
        doc = self._customer(address) if key is not None else {}
        if key is None or not doc:
            self._history_ids[address] = self._history.insert({"address": address, field: [item]})
            return
        doc = {**doc, field: [*doc.get(field, ()), item]}
        self._history.put(key, doc)
        self._last_customer = (self._history.docs[key], doc)

    def _seen(self, address: str) -> list[list[Any]]:
        return list(self._customer(address).get("seen", ()))

    def history(self, address: str) -> list[Doc]:
        """Messages from ``address`` still in the state, oldest first."""
        seen = sorted(self._seen(address), key=lambda entry: str(entry[0]))
        return [
            {"at": _from_iso(e[0]), "complaint": bool(e[1]), "categories": list(e[2:3] and e[2])}
            for e in seen
        ]

    def complaint_count(self, address: str, since: datetime) -> int:
        start = _iso(since)
        return sum(1 for entry in self._seen(address) if entry[1] and entry[0] >= start)

    def is_known(self, address: str) -> bool:
        # Replied to is not known: a Reply-To address has a document without "seen".
        return bool(self._seen(address))

    # -- complaint log -----------------------------------------------------------------------

    def log_complaint(self, record: dict[str, Any]) -> None:
        """Append a complaint; ``record["at"]`` (aware datetime) is required."""
        if not isinstance(record.get("at"), datetime):
            raise ValueError("a complaint record needs 'at' (an aware datetime)")
        doc = _encode(record)
        doc_id = self._complaints.insert(doc)
        if doc.get("message_id"):
            self._complaint_ids[sys.intern(str(doc["message_id"]))] = doc_id

    def complaints(self, since: datetime | None = None) -> list[Doc]:
        """Logged complaints at or after ``since`` (all when None), oldest first."""
        return sorted(self.iter_complaints(since), key=lambda doc: str(doc.get("at", "")))

    def iter_complaints(self, since: datetime | None = None) -> Iterator[Doc]:
        """Logged complaints at or after ``since``, in no particular order, one at a time."""
        start = "" if since is None else _iso(since)
        for _key, doc in self._complaints.items():
            if str(doc.get("at", "")) >= start:
                yield _decode(doc)

    def complaint(self, message_id: str) -> Doc | None:
        """The complaint logged for ``message_id``, or None."""
        doc_id = self._complaint_ids.get(message_id)
        doc = None if doc_id is None else self._complaints.get(doc_id)
        return None if doc is None else _decode(doc)

    def update_complaint(self, message_id: str, **fields: Any) -> bool:
        """Change fields of the complaint logged for ``message_id``; False when there is none."""
        doc_id = self._complaint_ids.get(message_id)
        doc = None if doc_id is None else self._complaints.get(doc_id)
        if doc_id is None or doc is None:
            return False
        doc.update(_encode(fields))
        self._complaints.put(doc_id, doc)
        return True

    # -- reminders ---------------------------------------------------------------------------

    def add_reminder(self, record: dict[str, Any]) -> int:
        """Store a reminder (state defaults to "pending"); returns its id, unique for the file."""
        doc = _encode(record)
        doc.setdefault("state", "pending")
        doc.pop("id", None)  # the id is the TinyDB document id
        key = self._reminders.insert(doc)
        self._index_reminder(key, doc)
        return key

    def reminders(self, state: str | None = None) -> list[Doc]:
        """Reminders (with "id"), all or those in ``state``, ordered by due time then id."""
        chosen = [
            (key, doc)
            for key, doc in self._reminders.items()
            if state is None or doc.get("state") == state
        ]
        return _ordered(chosen)

    def iter_reminders(self, *, open_only: bool = False) -> Iterator[Doc]:
        """Every reminder (with "id"), or the open ones, in no particular order, one decoded
        at a time: a backlog leaves tens of thousands, too many to hold as a list of dicts."""
        keys = list(self._open_kinds) if open_only else list(self._reminders.docs)
        for key in keys:  # a copy: callers may update reminders while iterating
            doc = self._reminders.get(key)
            if doc is not None:
                yield {**_decode(doc), "id": key}

    def open_reminders(
        self, customer: str | None = None, kinds: Collection[str] | None = None
    ) -> list[Doc]:
        """Reminders not yet finished (with "id"), ordered by due time then id; only those of
        ``customer`` and of ``kinds`` when given. From the open-reminder index: the cost is
        the number of matching reminders, not the number stored."""
        keys: Iterable[int] = (
            self._open_kinds if customer is None else _ids(self._open_by_customer, _norm(customer))
        )
        wanted = [k for k in keys if kinds is None or self._open_kinds.get(k) in kinds]
        return _ordered([(key, doc) for key in wanted if (doc := self._reminders.get(key))])

    def has_open_reminder(self, message_id: str, kind: str) -> bool:
        """Whether a reminder of ``kind`` about ``message_id`` is still open (a message seen
        again after a crash or a deferred reply must not get a second one)."""
        keys = _ids(self._open_by_message, message_id)
        return any(self._open_kinds.get(key) == kind for key in keys)

    def update_reminder(self, reminder_id: int, **fields: Any) -> bool:
        """Change fields (e.g. state="done"); False when no such reminder exists."""
        key = int(reminder_id)
        doc = self._reminders.get(key)
        if doc is None:
            return False
        fields.pop("id", None)
        old = dict(doc)
        doc.update(_encode(fields))
        self._reminders.put(key, doc)
        self._index_reminder(key, doc, old)
        if old.get("state") != "sent":
            self._note_checkin(doc)
        return True

    # -- pruning -----------------------------------------------------------------------------

    def prune(
        self,
        now: datetime,
        keep: timedelta,
        *,
        keep_outbox: timedelta = OUTBOX_KEEP,
        keep_complaints: timedelta = COMPLAINTS_KEEP,
    ) -> dict[str, int]:
        """Forget what is older than ``now - keep``; returns the count removed per table.

        Removed: reply-limiter entries and customer history older than ``keep``, finished
        reminders by due time older than ``keep``; finished (done/failed) outbox entries older
        than ``min(keep, keep_outbox)`` by creation time (once done, an entry only guards
        against a replay within hours: the server's $AutoReplied is the lasting record);
        complaints older than ``max(keep, keep_complaints)`` (the record behind ``stats``).
        ``keep`` must exceed ``[autoreply] per_sender`` or the limiter forgets too early.
        Pending outbox entries and open reminders are never pruned. The file is rewritten at
        the next ``flush()``.
        """
        cutoff = _iso(now - keep)
        outbox_cutoff = _iso(now - min(keep, keep_outbox))
        complaints_cutoff = _iso(now - max(keep, keep_complaints))
        removed = {
            **_prune_customers(self._history, cutoff),
            "outbox": self._outbox.remove_where(
                lambda d: d.get("state") in OUTBOX_FINISHED and _older(d, "created", outbox_cutoff)
            ),
            "reminders": self._reminders.remove_where(
                lambda d: (
                    d.get("state") in REMINDER_FINISHED
                    and _older(d, "due" if "due" in d else "created", cutoff)
                )
            ),
            "complaints": self._complaints.remove_where(
                lambda d: _older(d, "at", complaints_cutoff)
            ),
        }
        changed = {table for table, count in removed.items() if count}
        if "replies" in changed:
            changed.add("history")  # reply times live in the customer documents
        self._build_indexes(changed)
        return removed


# name -> the ids filed under it: an int while there is one (nearly always: a message has one
# open reminder, a new customer one), a list only from the second; a list of one costs 64 bytes.
_Ids = dict[str, int | list[int]]


def _add(index: _Ids, name: str, key: int) -> None:
    held = index.get(name)
    if held is None:
        index[name] = key
    elif isinstance(held, list):
        held.append(key)
    else:
        index[name] = [held, key]


def _ids(index: _Ids, name: str) -> list[int]:
    held = index.get(name)
    if held is None:
        return []
    return list(held) if isinstance(held, list) else [held]


def _discard(index: _Ids, name: str, key: int) -> None:
    held = index.get(name)
    if isinstance(held, list):
        if key in held:
            held.remove(key)
        if len(held) == 1:
            index[name] = held[0]
        elif not held:
            del index[name]
    elif held == key:
        del index[name]


def _ordered(items: list[tuple[int, Doc]]) -> list[Doc]:
    items.sort(key=lambda item: (str(item[1].get("due", "")), item[0]))
    return [{**_decode(doc), "id": key} for key, doc in items]


def _migrate_history(history: _Table, replies: _Table) -> None:
    """Schema 1 kept a history document per message ({"address", "at", "message_id",
    "complaint", "categories"}) and a "replies" document per auto-reply ({"address", "at"});
    schema 2 keeps one document per customer in "history": {"address", "seen": [[at,
    complaint, categories?], ...], "replied": [at, ...]}. The next flush rewrites the file."""
    customers: dict[str, Doc] = {}
    for _key, doc in sorted(history.items(), key=lambda item: item[0]):
        entry: list[Any] = [doc["at"], bool(doc.get("complaint"))]
        if doc.get("categories"):
            entry.append(list(doc["categories"]))
        address = _norm(doc["address"])
        customers.setdefault(address, {"address": address}).setdefault("seen", []).append(entry)
    for _key, doc in sorted(replies.items(), key=lambda item: item[0]):
        address = _norm(doc["address"])
        customer = customers.setdefault(address, {"address": address})
        customer.setdefault("replied", []).append(doc["at"])
    history.delete(list(history.docs))
    replies.delete(list(replies.docs))
    for customer in customers.values():
        history.insert(customer)


def _prune_customers(history: _Table, cutoff: str) -> dict[str, int]:
    """Drop history entries and reply times older than ``cutoff``, and customers left with
    neither; returns the counts removed as {"history": n, "replies": n}."""
    removed = {"history": 0, "replies": 0}
    emptied = []
    for key, doc in list(history.items()):
        seen = [entry for entry in doc.get("seen", ()) if entry[0] >= cutoff]
        replied = [at for at in doc.get("replied", ()) if at >= cutoff]
        gone_seen = len(doc.get("seen", ())) - len(seen)
        gone_replied = len(doc.get("replied", ())) - len(replied)
        if not gone_seen and not gone_replied:
            continue
        removed["history"] += gone_seen
        removed["replies"] += gone_replied
        if seen or replied:
            kept = {"address": doc["address"], "seen": seen, "replied": replied}
            history.put(key, {k: v for k, v in kept.items() if v})
        else:
            emptied.append(key)
    history.delete(emptied)
    if any(removed.values()):
        history._journal.snapshot_due = True  # a bulk change: rewrite the file
    return removed


def _older(doc: Doc, key: str, cutoff: str) -> bool:
    value = doc.get(key)
    # Stored times are normalised by _encode, so string order is time order; a record without
    # a usable time is kept rather than guessed about.
    return isinstance(value, str) and value < cutoff


def _check_outbox_state(state: object) -> None:
    if state not in OUTBOX_STATES:
        raise ValueError(f"outbox state must be one of {', '.join(OUTBOX_STATES)}, not {state!r}")


def read_table(path: str | os.PathLike[str], table: str) -> dict[int, Doc]:
    """doc id -> document (decoded) of one table, read without taking the lock or writing
    anything, so the CLI works while `inboxbot run` holds the state file."""
    storage = AtomicJSONStorage(path)
    cache = storage.read_texts() or {}
    JournalMiddleware(storage)._replay(cache)  # the latest flushes live in the journal
    return {key: _decode(_document(table, packed))
            for key, packed in cache.get(table, {}).items()}


def read_complaints(path: str | os.PathLike[str]) -> list[Doc]:
    """The complaint log, for `inboxbot stats` (see read_table)."""
    return sorted(read_table(path, "complaints").values(), key=lambda d: d["at"])
