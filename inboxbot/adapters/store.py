"""Local state in a TinyDB file: watermarks, outbox, reply limiter, history, complaints, reminders.

The IMAP server stays the source of truth (DESIGN.md section 4); this file is a cache plus the
outbox and reminders. Three properties matter more than features:

- Atomic writes: the file is replaced by rename after an fsync, so a crash at any moment leaves
  either the old or the new state on disk, never a torn JSON file.
- One process per state file: an exclusive, non-blocking flock on ``<state>.lock``.
- Speed: TinyDB's Table rebuilds its whole table on every insert (10,000 inserts take tens of
  seconds), so the store keeps TinyDB's file format and storage/middleware layers but works on
  the raw table dicts with its own indexes. Writes stay in memory until ``flush()``, which costs
  nothing when nothing changed; callers flush where durability matters (e.g. an outbox intent
  before sending).

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
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tinydb import Storage, TinyDB
from tinydb.middlewares import Middleware

from inboxbot.errors import StoreError

Doc = dict[str, Any]

SCHEMA_VERSION = 1
OUTBOX_STATES = ("intent", "sent", "marked", "done", "failed")
OUTBOX_FINISHED = frozenset({"done", "failed"})
REMINDER_FINISHED = frozenset({"done", "sent", "cancelled", "canceled", "failed", "expired"})
OUTBOX_KEEP = timedelta(days=7)
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
    """TinyDB storage writing through a temp file, fsync and rename; mode 0600."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> dict[str, dict[str, Any]] | None:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"state file {self.path} cannot be read ({exc.strerror}); check its owner and "
                "permissions or set another [paths].state"
            ) from exc
        if not text.strip():
            return None  # an empty (e.g. touched) file is a new state, not a broken one
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _corrupt(self.path, f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise _corrupt(self.path, "not a TinyDB database")
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self.write_sized(data)

    def write_sized(self, data: dict[str, dict[str, Any]]) -> int:
        """Replace the file atomically; returns its size in bytes."""
        # No cycles are possible (records are checked on the way in), so skip the cycle check:
        # it is a quarter of the encoding time for a large state.
        payload = json.dumps(
            data, ensure_ascii=False, separators=(",", ":"), check_circular=False
        ).encode()
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:  # mkstemp creates it 0600
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _write_error(self.path, exc) from exc
        _fsync_dir(directory)  # the rename itself must survive a power cut
        return len(payload)

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
    """

    MIN_JOURNAL = 256 * 1024  # below this a snapshot is never worth it

    def __init__(self, storage: AtomicJSONStorage) -> None:
        super().__init__(lambda: storage)
        self.file = storage
        self.cache: dict[str, dict[str, Any]] | None = None
        self.pending: dict[tuple[str, str], None] = {}  # ordered set of (table, doc id)
        self.snapshot_due = False
        self._journal_fd: int | None = None
        self._journal_size = 0
        self._snapshot_size = 0

    @property
    def journal_path(self) -> Path:
        path = self.file.path
        return path.with_name(path.name + ".journal")

    def read(self) -> dict[str, dict[str, Any]]:
        if self.cache is None:
            stored = self.file.read()
            self.cache = stored or {}
            with contextlib.suppress(OSError):
                self._snapshot_size = self.file.path.stat().st_size
            replayed = self._replay(self.cache)
            self._journal_fd = _open_journal(self.journal_path)
            if replayed or stored is None:
                self.snapshot_due = True  # start from a clean file and an empty journal
        return self.cache

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        # Only TinyDB's own Table API calls this; the store itself never does.
        self.cache = data
        self.snapshot_due = True

    def touch(self, table: str, doc_id: str) -> None:
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
        ops = [[table, key, self.cache.get(table, {}).get(key)] for table, key in self.pending]
        line = json.dumps(ops, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        assert self._journal_fd is not None
        try:
            os.write(self._journal_fd, line)
            os.fsync(self._journal_fd)
        except OSError as exc:
            raise _write_error(self.journal_path, exc) from exc
        self._journal_size += len(line)
        self.pending.clear()
        return True

    def snapshot(self) -> None:
        """Rewrite the TinyDB file (atomically), then empty the journal it now contains."""
        if self.cache is None:
            return
        self._snapshot_size = self.file.write_sized(self.cache)
        # A crash before this truncate replays journal lines the file already holds; each line
        # sets whole documents, so replaying them again changes nothing.
        if self._journal_fd is not None:
            try:
                os.ftruncate(self._journal_fd, 0)
                os.fsync(self._journal_fd)
            except OSError as exc:
                raise _write_error(self.journal_path, exc) from exc
        self._journal_size = 0
        self.pending.clear()
        self.snapshot_due = False

    def _replay(self, cache: dict[str, dict[str, Any]]) -> bool:
        try:
            lines = self.journal_path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"state journal {self.journal_path} cannot be read: {exc}") from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                ops = json.loads(line)
                for table, key, doc in ops:
                    docs = cache.setdefault(table, {})
                    if doc is None:
                        docs.pop(key, None)
                    else:
                        docs[key] = doc
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
    return fd


def _release_lock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


# -- raw tables -------------------------------------------------------------------------------


class _Table:
    """One TinyDB table as TinyDB stores it ({"1": {...}}), with O(1) insert and lookup."""

    def __init__(
        self,
        cache: dict[str, dict[str, Any]],
        name: str,
        counters: dict[str, int],
        journal: JournalMiddleware,
    ) -> None:
        docs = cache.setdefault(name, {})
        if not isinstance(docs, dict) or not all(isinstance(d, dict) for d in docs.values()):
            raise ValueError(f"table {name!r} is not a TinyDB table")
        self.name = name
        self.docs: dict[str, Doc] = docs
        self._journal = journal
        # The persisted counter keeps ids unique after pruning removed the newest documents.
        self._counters = counters
        self.next_id = max(max((int(k) for k in docs), default=0) + 1, counters.get(name, 1))

    def insert(self, doc: Doc) -> int:
        doc_id = self.next_id
        self.next_id += 1
        self._counters[self.name] = self.next_id
        self.docs[str(doc_id)] = doc
        self._journal.touch(self.name, str(doc_id))
        return doc_id

    def touch(self, doc_id: int | str) -> None:
        """Record that the document changed in place, for the next flush."""
        self._journal.touch(self.name, str(doc_id))

    def get(self, doc_id: int | str) -> Doc | None:
        return self.docs.get(str(doc_id))

    def remove_where(self, predicate: Callable[[Doc], bool]) -> int:
        doomed = [key for key, doc in self.docs.items() if predicate(doc)]
        for key in doomed:
            del self.docs[key]
        if doomed:
            self._journal.snapshot_due = True  # bulk deletes: rewrite the file, not the journal
        return len(doomed)


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
            self._load(self._mw.read())
        except BaseException:
            self._release()
            raise

    # -- life cycle --------------------------------------------------------------------------

    def _load(self, cache: dict[str, dict[str, Any]]) -> None:
        try:
            self._meta = cache.setdefault("meta", {}).setdefault("1", {"version": SCHEMA_VERSION})
            counters = self._meta.setdefault("next_id", {})
            tables = {name: _Table(cache, name, counters, self._mw) for name in _TABLES[1:]}
            self._watermarks = tables["watermarks"]
            self._outbox = tables["outbox"]
            self._replies = tables["replies"]
            self._history = tables["history"]
            self._complaints = tables["complaints"]
            self._reminders = tables["reminders"]
            self._build_indexes()
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise _corrupt(self.path, f"unexpected content: {exc!r}") from exc
        if self._meta.get("version", SCHEMA_VERSION) > SCHEMA_VERSION:
            raise StoreError(
                f"state file {self.path} was written by a newer inboxbot (schema "
                f"{self._meta['version']}); upgrade inboxbot or use another [paths].state"
            )

    def _build_indexes(self) -> None:
        self._folder_ids = {doc["folder"]: key for key, doc in self._watermarks.docs.items()}
        self._outbox_ids = {doc["key"]: key for key, doc in self._outbox.docs.items()}
        self._complaint_ids = {
            doc["message_id"]: key
            for key, doc in self._complaints.docs.items()
            if doc.get("message_id")
        }
        self._index_replies()
        self._index_history()

    def _index_replies(self) -> None:
        self._last_reply: dict[str, str] = {}
        times: list[float] = []
        for doc in self._replies.docs.values():
            address, at = doc["address"], doc["at"]
            if at > self._last_reply.get(address, ""):
                self._last_reply[address] = at
            times.append(_from_iso(at).timestamp())
        times.sort()
        self._reply_times = times

    def _index_history(self) -> None:
        self._history_ids: dict[str, list[str]] = {}
        for key, doc in self._history.docs.items():
            self._history_ids.setdefault(doc["address"], []).append(key)

    def flush(self) -> bool:
        """Write pending changes atomically; returns False (and costs nothing) when clean."""
        if self._lock_fd is None:
            raise StoreError(f"state file {self.path} is closed")
        return self._mw.flush()

    def close(self) -> None:
        """Flush and release the lock; safe to call twice."""
        if self._lock_fd is None:
            return
        try:
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
        key = self._folder_ids.get(folder)
        if key is None:
            return None
        doc = self._watermarks.docs[key]
        return int(doc["uidvalidity"]), int(doc["last_uid"])

    def set_watermark(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        key = self._folder_ids.get(folder)
        if key is None:
            doc_id = self._watermarks.insert(
                {"folder": folder, "uidvalidity": uidvalidity, "last_uid": last_uid}
            )
            self._folder_ids[folder] = str(doc_id)
            return
        doc = self._watermarks.docs[key]
        if (doc["uidvalidity"], doc["last_uid"]) != (uidvalidity, last_uid):
            doc["uidvalidity"], doc["last_uid"] = uidvalidity, last_uid
            self._watermarks.touch(key)

    def in_flight(self, folder: str, uidvalidity: int) -> list[int]:
        """UIDs of the batch being marked and moved in ``folder`` when the service stopped; []
        when that batch finished (or the folder's UIDVALIDITY changed since)."""
        key = self._folder_ids.get(folder)
        doc = self._watermarks.docs.get(key) if key is not None else None
        if not doc or doc.get("uidvalidity") != uidvalidity:
            return []
        return [int(uid) for uid in doc.get("in_flight", [])]

    def set_in_flight(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> None:
        """Remember the batch about to be marked done on the server, until it is filed."""
        if folder not in self._folder_ids:
            self.set_watermark(folder, uidvalidity, 0)
        key = self._folder_ids[folder]
        doc = self._watermarks.docs[key]
        if doc.get("in_flight", []) != list(uids) or doc["uidvalidity"] != uidvalidity:
            doc["in_flight"] = list(uids)
            self._watermarks.touch(key)

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
        self._outbox_ids[key] = str(self._outbox.insert(doc))
        return True

    def outbox_get(self, key: str) -> Doc | None:
        doc_id = self._outbox_ids.get(key)
        return None if doc_id is None else _decode(self._outbox.docs[doc_id])

    def outbox_set_state(self, key: str, state: str) -> None:
        """Advance an entry: intent -> sent -> marked -> done, or -> failed (permanent error)."""
        _check_outbox_state(state)
        doc_id = self._outbox_ids.get(key)
        if doc_id is None:
            raise KeyError(f"no outbox entry {key!r}")
        doc = self._outbox.docs[doc_id]
        if doc.get("state") != state:
            doc["state"] = state
            self._outbox.touch(doc_id)

    def outbox_pending(self) -> list[Doc]:
        """Entries still to be finished (neither done nor failed), oldest first."""
        docs = sorted(self._outbox.docs.items(), key=lambda item: int(item[0]))
        return [_decode(doc) for _, doc in docs if doc.get("state") not in OUTBOX_FINISHED]

    # -- reply limiter -----------------------------------------------------------------------

    def record_reply(self, address: str, when: datetime) -> None:
        address, at = _norm(address), _iso(when)
        self._replies.insert({"address": address, "at": at})
        if at > self._last_reply.get(address, ""):
            self._last_reply[address] = at
        stamp = when.timestamp()
        if not self._reply_times or stamp >= self._reply_times[-1]:
            self._reply_times.append(stamp)  # the usual case: replies arrive in time order
        else:
            bisect.insort(self._reply_times, stamp)

    def last_reply(self, address: str) -> datetime | None:
        at = self._last_reply.get(_norm(address))
        return None if at is None else _from_iso(at)

    def replies_since(self, when: datetime) -> int:
        """Auto-replies sent at or after ``when`` (for ``max_per_hour``)."""
        return len(self._reply_times) - bisect.bisect_left(self._reply_times, when.timestamp())

    # -- customer history --------------------------------------------------------------------

    def record_message(
        self,
        address: str,
        when: datetime,
        message_id: str | None,
        complaint: bool,
        categories: Sequence[str] = (),
    ) -> None:
        address = _norm(address)
        doc: Doc = {"address": address, "at": _iso(when), "message_id": message_id or ""}
        doc["complaint"] = bool(complaint)
        if categories:
            doc["categories"] = list(categories)  # omitted when empty: most mail has none
        doc_id = self._history.insert(doc)
        self._history_ids.setdefault(address, []).append(str(doc_id))

    def history(self, address: str) -> list[Doc]:
        """Messages from ``address`` still in the state, oldest first."""
        docs = [self._history.docs[key] for key in self._history_ids.get(_norm(address), ())]
        docs.sort(key=lambda doc: str(doc["at"]))
        return [{"categories": [], **_decode(doc)} for doc in docs]

    def complaint_count(self, address: str, since: datetime) -> int:
        start = _iso(since)
        docs = (self._history.docs[key] for key in self._history_ids.get(_norm(address), ()))
        return sum(1 for doc in docs if doc["complaint"] and doc["at"] >= start)

    def is_known(self, address: str) -> bool:
        return bool(self._history_ids.get(_norm(address)))

    # -- complaint log -----------------------------------------------------------------------

    def log_complaint(self, record: dict[str, Any]) -> None:
        """Append a complaint; ``record["at"]`` (aware datetime) is required."""
        if not isinstance(record.get("at"), datetime):
            raise ValueError("a complaint record needs 'at' (an aware datetime)")
        doc = _encode(record)
        doc_id = str(self._complaints.insert(doc))
        if doc.get("message_id"):
            self._complaint_ids[str(doc["message_id"])] = doc_id

    def complaints(self, since: datetime | None = None) -> list[Doc]:
        """Logged complaints at or after ``since`` (all when None), oldest first."""
        start = "" if since is None else _iso(since)
        docs = [doc for doc in self._complaints.docs.values() if str(doc.get("at", "")) >= start]
        docs.sort(key=lambda doc: str(doc.get("at", "")))
        return [_decode(doc) for doc in docs]

    def complaint(self, message_id: str) -> Doc | None:
        """The complaint logged for ``message_id``, or None."""
        doc_id = self._complaint_ids.get(message_id)
        return None if doc_id is None else _decode(self._complaints.docs[doc_id])

    def update_complaint(self, message_id: str, **fields: Any) -> bool:
        """Change fields of the complaint logged for ``message_id``; False when there is none."""
        doc_id = self._complaint_ids.get(message_id)
        if doc_id is None:
            return False
        self._complaints.docs[doc_id].update(_encode(fields))
        self._complaints.touch(doc_id)
        return True

    # -- reminders ---------------------------------------------------------------------------

    def add_reminder(self, record: dict[str, Any]) -> int:
        """Store a reminder (state defaults to "pending"); returns its id, unique for the file."""
        doc = _encode(record)
        doc.setdefault("state", "pending")
        doc.pop("id", None)  # the id is the TinyDB document id
        return self._reminders.insert(doc)

    def reminders(self, state: str | None = None) -> list[Doc]:
        """Reminders (with "id"), all or those in ``state``, ordered by due time then id."""
        chosen = [
            (str(doc.get("due", "")), int(key), doc)
            for key, doc in self._reminders.docs.items()
            if state is None or doc.get("state") == state
        ]
        chosen.sort(key=lambda item: item[:2])
        items = [{**_decode(doc), "id": doc_id} for _, doc_id, doc in chosen]
        return items

    def update_reminder(self, reminder_id: int, **fields: Any) -> bool:
        """Change fields (e.g. state="done"); False when no such reminder exists."""
        doc = self._reminders.get(reminder_id)
        if doc is None:
            return False
        fields.pop("id", None)
        doc.update(_encode(fields))
        self._reminders.touch(reminder_id)
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
            "replies": self._replies.remove_where(lambda d: d["at"] < cutoff),
            "history": self._history.remove_where(lambda d: d["at"] < cutoff),
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
        if any(removed.values()):
            self._build_indexes()
        return removed


def _older(doc: Doc, key: str, cutoff: str) -> bool:
    value = doc.get(key)
    # Stored times are normalised by _encode, so string order is time order; a record without
    # a usable time is kept rather than guessed about.
    return isinstance(value, str) and value < cutoff


def _check_outbox_state(state: object) -> None:
    if state not in OUTBOX_STATES:
        raise ValueError(f"outbox state must be one of {', '.join(OUTBOX_STATES)}, not {state!r}")


def read_complaints(path: str | os.PathLike[str]) -> list[Doc]:
    """The complaint log, read without taking the lock or writing anything, so `inboxbot stats`
    works while `inboxbot run` holds the state file."""
    storage = AtomicJSONStorage(path)
    cache = storage.read() or {}
    JournalMiddleware(storage)._replay(cache)  # the latest flushes live in the journal
    docs = cache.get("complaints", {})
    return sorted((_decode(doc) for doc in docs.values()), key=lambda d: d["at"])
