"""A local Maildir++ tree (the layout Dovecot uses) behind the same Mailbox port as IMAP.

The demo, the core-loop tests and servers with local mail use it. Layout: the root is INBOX
(cur/, new/, tmp/); a folder "Support/VIP" lives in the directory ".Support.VIP", each name part
encoded in IMAP modified UTF-7 as Dovecot does. Maildir itself has no UIDs, so each folder keeps a
Dovecot-compatible `dovecot-uidlist` (version 3: "3 V<uidvalidity> N<next uid>", then
"<uid> :<base name>" lines) and a `dovecot-keywords` file mapping the keyword letters a-z in file
names to names such as `$InboxbotSeen`. A real Dovecot can therefore open a tree written here.

Every OSError is translated into MailboxError at the public methods, naming what failed.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import ParamSpec, TypeVar

from imapclient import imap_utf7  # type: ignore[import-untyped]

from inboxbot.errors import MailboxError
from inboxbot.ports import Fetched, FolderState

log = logging.getLogger(__name__)

INBOX = "INBOX"
SEEN_KEYWORD = "$InboxbotSeen"
UIDLIST = "dovecot-uidlist"
KEYWORDS = "dovecot-keywords"
# Same bound as the IMAP adapter: headers plus the first 64 KiB of the body. Headers are capped
# too, because a hostile message can be nothing but one endless header.
BODY_LIMIT = 64 * 1024
HEADER_LIMIT = 1024 * 1024
# Polling is all Maildir offers without inotify; 100 ms keeps a delivery well inside the
# two-second reaction the daemon promises while costing two stat() calls per tick.
POLL_INTERVAL = 0.1
# Dovecot treats a dotlock older than two minutes as left behind by a crashed process.
LOCK_STALE_AFTER = 120.0
LOCK_TIMEOUT = 10.0

SYSTEM_FLAGS = {
    "\\draft": "D",
    "\\flagged": "F",
    "\\answered": "R",
    "\\seen": "S",
    "\\deleted": "T",
}
_LETTER_NAMES = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_KEYWORD_LETTERS = "abcdefghijklmnopqrstuvwxyz"
# RFC 3501 atom-specials: a keyword containing one of these could not be stored by an IMAP server
# either, so refusing it here keeps the two adapters interchangeable.
_BAD_KEYWORD_RE = re.compile(r'[\x00-\x20\x7f(){%*"\\\]]')
_HEADER_END_RE = re.compile(rb"\r?\n\r?\n")
_COUNTER = itertools.count()

P = ParamSpec("P")
R = TypeVar("R")


def _os_errors(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Translate OSError raised by a public method into one readable MailboxError."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except OSError as exc:
                where = f" ({exc.filename})" if exc.filename else ""
                reason = exc.strerror or str(exc)
                raise MailboxError(f"Maildir: cannot {action}: {reason}{where}") from exc

        return wrapper

    return decorate


# --- folder names ---------------------------------------------------------------------------


def folder_dirname(name: str) -> str:
    """Directory of folder `name` under the root: "" for INBOX, ".Support.VIP" for Support/VIP."""
    if name.upper() == INBOX:
        return ""
    parts = name.split("/")
    for part in parts:
        if not part or "." in part or any(ord(ch) < 0x20 for ch in part):
            raise MailboxError(
                f"Maildir: invalid folder name {name!r}: parts are separated by '/', "
                "must not be empty and must not contain '.' or control characters"
            )
    return "." + ".".join(imap_utf7.encode(part).decode("ascii") for part in parts)


def folder_name(dirname: str) -> str | None:
    """The inverse of folder_dirname for a ".X.Y" directory; None when it is no folder name."""
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    try:
        parts = [imap_utf7.decode(part.encode("ascii")) for part in dirname[1:].split(".")]
    except (UnicodeError, ValueError):
        return None
    if not all(parts):
        return None
    return "/".join(parts)


def _canonical(name: str) -> str:
    return INBOX if name.upper() == INBOX else name


# --- file names -----------------------------------------------------------------------------


def _split_name(filename: str) -> tuple[str, str]:
    """Maildir file name -> (base, flag letters); "base:2,FS" -> ("base", "FS")."""
    base, _, info = filename.partition(":")
    return base, info[2:] if info.startswith("2,") else ""


def _join_name(base: str, letters: Iterable[str]) -> str:
    # Maildir wants the flag letters in ASCII order: system flags (upper case), then keywords.
    return f"{base}:2,{''.join(sorted(set(letters)))}"


def _hostname() -> str:
    # The Maildir spec replaces the two characters that would break the name format.
    return socket.gethostname().replace("/", "\\057").replace(":", "\\072") or "localhost"


def _unique_base(size: int) -> str:
    """A new unique base name in Dovecot's style; ",S=" lets readers get the size without stat."""
    now = time.time()
    micros = int((now - int(now)) * 1_000_000)
    return f"{int(now)}.M{micros}P{os.getpid()}Q{next(_COUNTER)}.{_hostname()},S={size}"


def _is_message(name: str) -> bool:
    return not name.startswith(".")


# --- on-disk bookkeeping ----------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_COUNTER)}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextmanager
def _dotlock(target: Path) -> Iterator[None]:
    """Dovecot's dotlock protocol (`<file>.lock` created exclusively) so both can share a tree."""
    lock = target.with_name(target.name + ".lock")
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            break
        except FileExistsError:
            if _stale(lock):
                lock.unlink(missing_ok=True)
                continue
            if time.monotonic() > deadline:
                raise MailboxError(
                    f"Maildir: {lock} is held by another process; remove it if none is running"
                ) from None
            time.sleep(0.01)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _stale(lock: Path) -> bool:
    try:
        return time.time() - lock.stat().st_mtime > LOCK_STALE_AFTER
    except FileNotFoundError:
        return True


@dataclass(slots=True)
class _UidList:
    uidvalidity: int
    next_uid: int
    uids: dict[str, int] = field(default_factory=dict)  # base name -> uid

    @classmethod
    def read(cls, path: Path) -> _UidList | None:
        """The parsed file; None when it is missing or unreadable (the caller rebuilds it)."""
        try:
            lines = path.read_text("utf-8").splitlines()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            log.warning("Maildir: %s is not UTF-8; rebuilding it with a new UIDVALIDITY", path)
            return None
        try:
            return cls._parse(lines)
        except (ValueError, IndexError):
            log.warning("Maildir: %s is damaged; rebuilding it with a new UIDVALIDITY", path)
            return None

    @classmethod
    def fresh(cls, path: Path) -> _UidList:
        """An empty list whose UIDVALIDITY is above any a damaged file at `path` still shows.

        A new UIDVALIDITY tells every client (and our own watermark) that cached UIDs are void;
        time-based like Dovecot's, but never equal to the old one when rebuilt in the same second.
        """
        validity = int(time.time())
        try:
            match = re.match(rb"3 V(\d+)", path.read_bytes())
        except FileNotFoundError:
            match = None
        if match:
            validity = max(validity, int(match.group(1)) + 1)
        return cls(uidvalidity=validity, next_uid=1)

    @classmethod
    def _parse(cls, lines: list[str]) -> _UidList:
        header = lines[0].split()
        if header[0] != "3":
            raise ValueError("unsupported uidlist version")
        fields = {token[0]: token[1:] for token in header[1:] if token}
        result = cls(int(fields["V"]), int(fields["N"]))
        for line in lines[1:]:
            if not line.strip():
                continue
            uid, _, rest = line.partition(" ")
            # "<uid> [ext fields] :<file name>"; Dovecot may have recorded the name with its
            # ":2,<flags>" info part, but only the base identifies a message.
            base = rest[rest.index(":") + 1 :].partition(":")[0]
            result.uids[base] = int(uid)
        result.next_uid = max([result.next_uid, *(uid + 1 for uid in result.uids.values())])
        return result

    def write(self, path: Path) -> None:
        lines = [f"3 V{self.uidvalidity} N{self.next_uid}"]
        lines += [f"{uid} :{base}" for base, uid in sorted(self.uids.items(), key=lambda i: i[1])]
        _write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))

    def assign(self, base: str) -> int:
        uid = self.next_uid
        self.uids[base] = uid
        self.next_uid += 1
        return uid


@dataclass(slots=True)
class _Keywords:
    """dovecot-keywords: "<index> <name>" lines; index 0 is the letter a, 25 is z."""

    names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> _Keywords:
        try:
            text = path.read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return cls()
        names: dict[int, str] = {}
        for line in text.splitlines():
            index, _, name = line.strip().partition(" ")
            if index.isdigit() and int(index) < len(_KEYWORD_LETTERS) and name:
                names[int(index)] = name
        return cls(names)

    def write(self, path: Path) -> None:
        lines = [f"{index} {name}\n" for index, name in sorted(self.names.items())]
        _write_atomic(path, "".join(lines).encode("utf-8"))

    def name(self, letter: str) -> str | None:
        return self.names.get(ord(letter) - ord("a"))

    def letter(self, name: str) -> str | None:
        # IMAP keywords compare case-insensitively; the first spelling stored is kept.
        wanted = name.lower()
        for index, known in self.names.items():
            if known.lower() == wanted:
                return _KEYWORD_LETTERS[index]
        return None

    def add(self, name: str) -> str:
        free = [i for i in range(len(_KEYWORD_LETTERS)) if i not in self.names]
        if not free:
            raise MailboxError(
                f"Maildir: cannot add keyword {name!r}: a Maildir folder holds at most 26 keywords"
            )
        self.names[free[0]] = name
        return _KEYWORD_LETTERS[free[0]]


def _system_letter(flag: str) -> str:
    letter = SYSTEM_FLAGS.get(flag.lower())
    if letter is None:
        raise MailboxError(f"Maildir: cannot set system flag {flag!r}; only {_system_names()}")
    return letter


def _system_names() -> str:
    return ", ".join(_LETTER_NAMES.values())


def _check_keyword(keyword: str) -> None:
    if not keyword or _BAD_KEYWORD_RE.search(keyword):
        raise MailboxError(
            f'Maildir: invalid keyword {keyword!r}: no spaces, controls or any of (){{%*"\\]'
        )


class _Folder:
    """One Maildir directory and its bookkeeping files."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    @property
    def uidlist_path(self) -> Path:
        return self.path / UIDLIST

    @property
    def keywords_path(self) -> Path:
        return self.path / KEYWORDS

    def exists(self) -> bool:
        return all((self.path / sub).is_dir() for sub in ("cur", "new", "tmp"))

    def create(self) -> None:
        for sub in ("cur", "new", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        if self.name != INBOX:
            # Dovecot marks Maildir++ subfolders with this empty file; other MDAs look for it.
            (self.path / "maildirfolder").touch()

    @contextmanager
    def locked(self) -> Iterator[None]:
        with _dotlock(self.uidlist_path):
            yield

    def mtimes(self) -> tuple[int, int]:
        return (self.path / "new").stat().st_mtime_ns, (self.path / "cur").stat().st_mtime_ns

    def pending(self) -> frozenset[str]:
        """Names waiting in new/: delivered since this folder was last synchronised."""
        return frozenset(n for n in os.listdir(self.path / "new") if _is_message(n))

    def keywords(self) -> _Keywords:
        return _Keywords.read(self.keywords_path)

    def sync(self, *, take_new: bool) -> tuple[_UidList, dict[int, str]]:
        with self.locked():
            return self.sync_locked(take_new=take_new)

    def sync_locked(self, *, take_new: bool) -> tuple[_UidList, dict[int, str]]:
        """Give every file a UID (in order of arrival) and drop the UIDs of vanished ones.

        Returns the uid list and uid -> path relative to the folder ("cur/<name>").
        `take_new` moves new/ into cur/, as an IMAP server does for the folder a client selected.
        """
        if take_new:
            self._take_new()
        present = self._scan()
        uidlist = _UidList.read(self.uidlist_path)
        changed = uidlist is None
        if uidlist is None:
            uidlist = _UidList.fresh(self.uidlist_path)
        vanished = set(uidlist.uids) - set(present)
        for base in vanished:
            del uidlist.uids[base]
        arrivals = sorted(
            (mtime, base) for base, (_, mtime) in present.items() if base not in uidlist.uids
        )
        for _, base in arrivals:
            uidlist.assign(base)
        if changed or vanished or arrivals:
            uidlist.write(self.uidlist_path)
        index = {uidlist.uids[base]: rel for base, (rel, _) in present.items()}
        return uidlist, index

    def _take_new(self) -> None:
        for name in os.listdir(self.path / "new"):
            if not _is_message(name):
                continue
            base, letters = _split_name(name)
            try:
                os.rename(self.path / "new" / name, self.path / "cur" / _join_name(base, letters))
            except FileNotFoundError:  # another reader took it first; it is in cur/ now
                continue

    def _scan(self) -> dict[str, tuple[str, int]]:
        """base -> (relative path, mtime_ns) for every message in cur/ and new/."""
        present: dict[str, tuple[str, int]] = {}
        for sub in ("cur", "new"):
            with os.scandir(self.path / sub) as entries:
                for entry in entries:
                    if not _is_message(entry.name):
                        continue
                    try:
                        mtime = entry.stat().st_mtime_ns
                    except FileNotFoundError:  # renamed (flags changed) while we listed
                        continue
                    base, _ = _split_name(entry.name)
                    present[base] = (f"{sub}/{entry.name}", mtime)
        return present


def _read_bounded(path: Path, *, headers_only: bool) -> tuple[bytes, int]:
    """Headers plus at most BODY_LIMIT bytes of body (or headers alone), and the file size."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = fh.read(HEADER_LIMIT + (0 if headers_only else BODY_LIMIT))
    if data.startswith((b"\n", b"\r\n")):
        end = 1 if data.startswith(b"\n") else 2
    else:
        match = _HEADER_END_RE.search(data, 0, HEADER_LIMIT)
        end = match.end() if match else min(len(data), HEADER_LIMIT)
    if headers_only:
        return data[:end], size
    return data[: end + BODY_LIMIT], size


# --- the adapter ------------------------------------------------------------------------------


class MaildirMailbox:
    """ports.Mailbox on a local Maildir++ tree rooted at `root` (which is INBOX)."""

    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = Path(root)
        self._selected: _Folder | None = None
        self._index: dict[int, str] = {}  # uid -> "cur/<file name>" in the selected folder
        self._keywords = _Keywords()
        self._snapshot: tuple[int, int] = (0, 0)
        self._pending_seen: frozenset[str] = frozenset()
        self._open(create)

    @_os_errors("open the Maildir")
    def _open(self, create: bool) -> None:
        inbox = _Folder(INBOX, self.root)
        if inbox.exists():
            return
        if not create:
            raise MailboxError(
                f"Maildir: {self.root} is not a Maildir (needs cur/, new/ and tmp/); "
                "create it or pass create=True"
            )
        inbox.create()

    def __enter__(self) -> MaildirMailbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- folders --

    def folder_path(self, name: str) -> Path:
        """Where folder `name` lives on disk (whether or not it exists yet)."""
        return self.root / folder_dirname(name) if folder_dirname(name) else self.root

    def _folder(self, name: str) -> _Folder:
        return _Folder(_canonical(name), self.folder_path(name))

    def _existing(self, name: str) -> _Folder:
        folder = self._folder(name)
        if not folder.exists():
            raise MailboxError(
                f"Maildir: folder {name!r} does not exist under {self.root}; "
                "create it with ensure_folders() (inboxbot check lists missing folders)"
            )
        return folder

    def capabilities(self) -> frozenset[str]:
        return frozenset({"MOVE", "MAILDIR", "UIDPLUS"})

    @_os_errors("list folders")
    def list_folders(self) -> list[str]:
        names = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = folder_name(entry.name)
                if name is not None and entry.is_dir() and _Folder(name, Path(entry.path)).exists():
                    names.append(name)
        return [INBOX, *sorted(names)]

    @_os_errors("create folders")
    def ensure_folders(self, names: Iterable[str]) -> list[str]:
        created: list[str] = []
        for name in names:
            folder = self._folder(name)
            if folder.exists() or folder.name in created:
                continue
            folder.create()
            created.append(folder.name)
        return created

    @_os_errors("select the folder")
    def select(self, folder: str) -> FolderState:
        selected = self._existing(folder)
        self._selected = selected
        uidlist = self._resync()
        return FolderState(selected.name, uidlist.uidvalidity, uidlist.next_uid, len(self._index))

    def _require(self) -> _Folder:
        if self._selected is None:
            raise MailboxError("Maildir: no folder selected; call select() first")
        return self._selected

    def _resync(self) -> _UidList:
        folder = self._require()
        uidlist, self._index = folder.sync(take_new=True)
        self._keywords = folder.keywords()
        # Taken after our own renames so they do not count as a change; new/ was just drained,
        # so anything found there later is a delivery wait() must report.
        self._snapshot = folder.mtimes()
        self._pending_seen = frozenset()
        return uidlist

    # -- reading --

    @_os_errors("search the folder")
    def search_unprocessed(self, after_uid: int) -> list[int]:
        self._resync()
        letter = self._keywords.letter(SEEN_KEYWORD)
        return sorted(
            uid
            for uid, rel in self._index.items()
            if uid > after_uid and (letter is None or letter not in _split_name(rel)[1])
        )

    @_os_errors("read messages")
    def fetch(self, uids: Sequence[int], *, headers_only: bool = False) -> list[Fetched]:
        self._require()
        result = []
        for uid in uids:
            path = self._path(uid)
            if path is None:
                continue  # like UID FETCH, an unknown or expunged UID yields nothing
            raw, size = _read_bounded(path, headers_only=headers_only)
            flags = self._flag_names(_split_name(path.name)[1], self._keywords)
            result.append(Fetched(uid=uid, raw=raw, flags=flags, size=size))
        return result

    @_os_errors("read the message")
    def fetch_full(self, uid: int) -> bytes:
        path = self._path(uid)
        if path is None:
            raise MailboxError(f"Maildir: no message with UID {uid} in {self._require().name!r}")
        return path.read_bytes()

    def _path(self, uid: int) -> Path | None:
        """The current file of `uid`, re-reading the folder once if another process renamed it."""
        folder = self._require()
        for attempt in range(2):
            rel = self._index.get(uid)
            if rel is not None and (folder.path / rel).exists():
                return folder.path / rel
            if attempt == 0 and rel is not None:
                self._resync()
        return None

    @staticmethod
    def _flag_names(letters: str, keywords: _Keywords) -> frozenset[str]:
        names = set()
        for letter in letters:
            if letter in _LETTER_NAMES:
                names.add(_LETTER_NAMES[letter])
            elif letter in _KEYWORD_LETTERS and (name := keywords.name(letter)):
                names.add(name)
        return frozenset(names)

    # -- flags --

    @_os_errors("store keywords")
    def add_keywords(self, uids: Sequence[int], keywords: Sequence[str]) -> None:
        folder = self._require()
        letters = self._letters(folder, keywords)
        for uid in uids:
            self._add_letters(folder, uid, letters)
        self._snapshot = folder.mtimes()

    def _add_letters(self, folder: _Folder, uid: int, letters: set[str]) -> None:
        for _ in range(2):
            path = self._path(uid)
            if path is None:
                return
            base, current = _split_name(path.name)
            if letters <= set(current) and path.parent.name == "cur":
                return
            target = folder.path / "cur" / _join_name(base, {*current, *letters})
            try:
                os.rename(path, target)
            except FileNotFoundError:  # renamed under us; look it up again
                self._resync()
                continue
            self._index[uid] = f"cur/{target.name}"
            return

    def _letters(self, folder: _Folder, flags: Iterable[str]) -> set[str]:
        """Flag letters for `flags` in `folder`, registering new keywords in dovecot-keywords."""
        flags = list(flags)
        letters = {_system_letter(f) for f in flags if f.startswith("\\")}
        keywords = [f for f in flags if not f.startswith("\\")]
        for keyword in keywords:
            _check_keyword(keyword)
        known = folder.keywords()
        missing = [k for k in keywords if known.letter(k) is None]
        if missing:
            with folder.locked():
                known = folder.keywords()  # another process may have added some meanwhile
                for keyword in missing:
                    if known.letter(keyword) is None:
                        known.add(keyword)
                known.write(folder.keywords_path)
        letters |= {letter for k in keywords if (letter := known.letter(k))}
        if self._selected is not None and folder.path == self._selected.path:
            self._keywords = known
        return letters

    # -- moving and writing --

    @_os_errors("move messages")
    def move(self, uids: Sequence[int], folder: str) -> None:
        source = self._require()
        target = self._existing(folder)
        if target.path == source.path:
            return  # the messages are already there
        self._transfer(uids, target, keep=False)
        self._snapshot = source.mtimes()

    @_os_errors("copy messages")
    def copy(self, uids: Sequence[int], folder: str) -> None:
        self._require()
        self._transfer(uids, self._existing(folder), keep=True)

    def _transfer(self, uids: Sequence[int], target: _Folder, *, keep: bool) -> None:
        """Move or copy into target's cur/, giving new UIDs in the order of the source UIDs."""
        # Resolve sources before taking the target's lock: resolving may lock the source folder,
        # and holding two locks at once could deadlock against a transfer the other way.
        sources = [(uid, path) for uid in sorted(set(uids)) if (path := self._path(uid))]
        if not sources:
            return
        # Re-read: another process may have added a keyword since we selected the folder.
        source_keywords = self._require().keywords()
        names = {
            uid: self._flag_names(_split_name(p.name)[1], source_keywords) for uid, p in sources
        }
        with target.locked():
            uidlist, _ = target.sync_locked(take_new=False)
            letters = self._target_letters(target, names)
            for uid, path in sources:
                base = _unique_base(path.stat().st_size)
                dest = target.path / "cur" / _join_name(base, letters[uid])
                if not self._place(path, dest, target, keep=keep):
                    continue
                uidlist.assign(base)
                if not keep:
                    self._index.pop(uid, None)
            uidlist.write(target.uidlist_path)

    def _target_letters(
        self, target: _Folder, names: dict[int, frozenset[str]]
    ) -> dict[int, set[str]]:
        """Keyword letters are per folder, so each name is looked up (or added) in the target."""
        keywords = target.keywords()
        before = dict(keywords.names)
        letters: dict[int, set[str]] = {}
        for uid, flag_names in names.items():
            letters[uid] = set()
            for name in flag_names:
                if name.startswith("\\"):
                    letters[uid].add(_system_letter(name))
                else:
                    letters[uid].add(keywords.letter(name) or keywords.add(name))
        if keywords.names != before:
            keywords.write(target.keywords_path)  # before any file name uses the new letters
        return letters

    @staticmethod
    def _place(source: Path, dest: Path, target: _Folder, *, keep: bool) -> bool:
        """Rename (move) or hard-link (copy) source to dest; False when source is gone."""
        try:
            if keep:
                _link_or_copy(source, dest, target.path / "tmp" / dest.name)
            else:
                os.rename(source, dest)
        except FileNotFoundError:
            log.warning("Maildir: %s vanished before it could be moved; skipped", source)
            return False
        return True

    @_os_errors("append the message")
    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> None:
        target = self._existing(folder)
        if not raw:
            raise MailboxError("Maildir: cannot append an empty message")
        letters = self._letters(target, flags)
        base = _unique_base(len(raw))
        tmp = target.path / "tmp" / base
        _write_durably(tmp, raw, when)
        # Maildir convention: a message nobody has looked at sits in new/ without an info part.
        if letters:
            dest = target.path / "cur" / _join_name(base, letters)
        else:
            dest = target.path / "new" / base
        with target.locked():
            uidlist, _ = target.sync_locked(take_new=False)
            os.rename(tmp, dest)
            uidlist.assign(base)
            uidlist.write(target.uidlist_path)

    # -- waiting --

    @_os_errors("watch the folder")
    def wait(self, timeout: float) -> bool:
        folder = self._require()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            if self._changed(folder):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(POLL_INTERVAL, remaining))

    def _changed(self, folder: _Folder) -> bool:
        # new/ is checked by name as well as by mtime: on file systems with one-second
        # timestamps a delivery in the same second as our last look leaves the mtime unchanged.
        mtimes = folder.mtimes()
        pending = folder.pending()
        changed = mtimes != self._snapshot or bool(pending - self._pending_seen)
        self._snapshot, self._pending_seen = mtimes, pending
        return changed

    def close(self) -> None:
        self._selected = None
        self._index = {}
        self._keywords = _Keywords()


def _write_durably(path: Path, raw: bytes, when: datetime | None) -> None:
    with path.open("xb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    if when is not None:
        # The file's mtime is the message's INTERNALDATE for Dovecot and for us.
        stamp = when.timestamp()
        os.utime(path, (stamp, stamp))


def _link_or_copy(source: Path, dest: Path, tmp: Path) -> None:
    try:
        os.link(source, dest)  # what Dovecot does: message files are never rewritten in place
    except FileNotFoundError:
        raise
    except OSError:  # another file system, or no hard links there: copy through tmp/
        shutil.copy2(source, tmp)  # copy2 keeps the mtime, i.e. the INTERNALDATE
        os.rename(tmp, dest)
