"""The Plan: what should happen to one message, each action with the reason that produced it.

The Plan is the seam that lets `simulate`, `--dry-run`, `rules test` and the real run share one
code path; only the executor that consumes it differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ActionType = Literal["move", "copy", "tag", "flag", "reply", "redirect", "forward", "remind"]
Channel = Literal["supported", "unsupported"]
SenderKind = Literal["vip", "new", "known", "repeat"]


@dataclass(frozen=True, slots=True)
class Facts:
    """What the core derived about a message before any rule runs."""

    automated: str | None = None  # None for human mail, else the reason it is automated
    language: str = "en"
    complaint: bool = False
    urgent: bool = False
    angry: bool = False
    vip: bool = False
    sender: SenderKind = "new"
    channel: Channel = "supported"
    open: bool = True
    now: datetime | None = None
    cues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # class -> cue words


@dataclass(frozen=True, slots=True)
class Action:
    type: ActionType
    args: Mapping[str, object]
    reason: str  # e.g. "rule 'urgent complaints' (rules/10-default.toml:12)"
    skipped: str | None = None  # why this action will not run, shown by simulate

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"type": self.type, **self.args, "reason": self.reason}
        if self.skipped:
            data["skipped"] = self.skipped
        return data


@dataclass(frozen=True, slots=True)
class Plan:
    matched: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()

    @property
    def active(self) -> tuple[Action, ...]:
        if not self.actions:  # most of a backlog: asked for every message, more than once
            return ()
        return tuple(a for a in self.actions if a.skipped is None)

    def of_type(self, kind: ActionType) -> tuple[Action, ...]:
        return tuple(a for a in self.active if a.type == kind)
