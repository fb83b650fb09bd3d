"""The interfaces the service needs from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from inboxbot.core.mime import Entity


@dataclass(frozen=True, slots=True)
class FolderState:
    name: str
    uidvalidity: int
    uidnext: int
    exists: int


@dataclass(frozen=True, slots=True)
class Fetched:
    """One message as fetched: headers plus at most the first 64 KiB of its text parts.

    Either `raw` holds the message (or only its header, when fetched headers-only), or the
    mailbox fetched it in pieces (IMAP): then `entity` holds them and `raw` is empty."""

    uid: int
    raw: bytes
    flags: frozenset[str]  # system flags and keywords as the server spells them
    size: int  # RFC822.SIZE of the whole message on the server
    entity: Entity | None = None

    def message_bytes(self) -> bytes:
        """The message as one MIME message (pieces put back together), e.g. for a log."""
        return self.entity.to_bytes() if self.entity is not None else self.raw


class Mailbox(Protocol):
    """An IMAP folder tree (adapters/imap.py) or a local Maildir (adapters/maildir.py)."""

    def capabilities(self) -> frozenset[str]: ...
    def list_folders(self) -> list[str]: ...
    def ensure_folders(self, names: Iterable[str]) -> list[str]:
        """Create the folders that do not exist yet; return the ones created."""
        ...

    def select(self, folder: str) -> FolderState: ...
    def search_unprocessed(self, after_uid: int) -> list[int]:
        """UIDs in the selected folder above `after_uid` that lack `$InboxbotSeen`."""
        ...

    def fetch(self, uids: Sequence[int], *, headers_only: bool = False) -> list[Fetched]: ...
    def fetch_full(self, uid: int) -> bytes:
        """The whole message, for forwarding and quarantine; never called in the hot path."""
        ...

    def move(self, uids: Sequence[int], folder: str) -> None: ...
    def copy(self, uids: Sequence[int], folder: str) -> None: ...
    def add_keywords(self, uids: Sequence[int], keywords: Sequence[str]) -> None:
        """Keywords and system flags (\\Flagged, \\Seen) alike; one STORE per keyword."""
        ...

    def append(
        self, folder: str, raw: bytes, flags: Sequence[str] = (), when: datetime | None = None
    ) -> None: ...
    def wait(self, timeout: float) -> bool:
        """Block until the selected folder may have changed or `timeout` passes (IDLE or poll)."""
        ...

    def close(self) -> None: ...


class Sender(Protocol):
    def send(self, message: EmailMessage, *, envelope_from: str, recipients: Sequence[str]) -> None:
        """Deliver one message; raises SendError(permanent=...) on failure after retries."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime (UTC)."""
        ...
