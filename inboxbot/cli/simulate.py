"""`inboxbot simulate`: the real planning path, offline, on .eml files, folders, mbox or Maildir."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from inboxbot.config import Config
from inboxbot.core.message import Message, parse_message
from inboxbot.core.plan import Action
from inboxbot.core.triage import Triage
from inboxbot.errors import InboxbotError, UsageError
from inboxbot.service import Engine, NoHistory, ReplyLimiter, plan_message


def read_sources(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    for path in paths:
        if not path.exists():
            raise InboxbotError(f"{path}: no such file or folder")
        if path.is_dir() and (path / "cur").is_dir():
            md = mailbox.Maildir(path, create=False)
            for key in sorted(md.keys()):
                yield f"{path}/{key}", md.get_bytes(key)
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*.eml") if p.is_file()):
                yield str(file), file.read_bytes()
        elif _is_mbox(path):
            box = mailbox.mbox(path, create=False)  # once: opening scans the whole file
            for index, key in enumerate(box.keys()):
                yield f"{path}#{index + 1}", box.get_bytes(key)
        else:
            yield str(path), path.read_bytes()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def parse_at(at: str | None) -> datetime:
    from inboxbot.app import utc_now

    if at is None:
        return utc_now()
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise UsageError(
            f"--at {at!r}: not an ISO-8601 time; write 2026-12-24T18:00+01:00"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(f"--at {at!r}: add a UTC offset, e.g. {at}+01:00")
    return moment


def describe(
    engine: Engine,
    source: str,
    message: Message,
    triage: Triage,
    actions: tuple[Action, ...],
    matched: tuple[str, ...],
    now: datetime,
) -> dict[str, Any]:
    sender = message.sender
    return {
        "source": source,
        "message_id": message.message_id,
        "from": sender.addr if sender else "",
        "subject": message.subject,
        "language": triage.language,
        "automated": triage.automated,
        "complaint": triage.complaint,
        "urgent": triage.urgent,
        "angry": triage.angry,
        "vip": triage.vip,
        "sender": triage.sender_kind,
        "channel": triage.channel,
        "cues": triage.facts().cues,
        "rules": list(matched),
        "actions": [describe_action(engine, a, triage, now) for a in actions],
    }


def describe_action(
    engine: Engine, action: Action, triage: Triage, now: datetime
) -> dict[str, Any]:
    data = action.to_json()
    # No address to write to: the run skips the reply ("no address to reply to"), and there is
    # no mail to show.
    writable = triage.message.reply_address is not None
    if action.type in ("reply", "redirect") and engine.composer is not None and writable:
        reply = engine.composer.reply(str(action.args["template"]), triage, now)
        data.update(
            language=triage.language,
            to=reply["To"],
            subject=reply["Subject"],
            body=reply.get_body(("plain",)).get_content(),
        )  # type: ignore[union-attr]
    elif action.type == "forward":
        data["to"] = data.get("to") or engine.config.shop.address
    elif action.type == "remind":
        from inboxbot.composer import promised_time

        data["due"] = _due(engine, action, triage, now, promised_time).isoformat()
    return data


def _due(engine: Engine, action: Action, triage: Triage, now: datetime, promised: Any) -> datetime:
    from inboxbot.core.durations import parse_duration
    from inboxbot.core.reminders import due_after

    after = str(action.args.get("after", "promise"))
    if after == "promise":
        return promised(engine.config, engine.calendar, triage, now)  # type: ignore[no-any-return]
    # The daemon's own reckoning (reminders._from_action): whole days are business days.
    return due_after(engine.calendar, now, parse_duration(after))


def simulate(
    config: Config, engine: Engine, sources: Iterator[tuple[str, bytes]], now: datetime
) -> list[dict[str, Any]]:
    limiter = ReplyLimiter(NoHistory(), config)
    results = []
    for source, raw in sources:
        message = parse_message(raw)
        triage, plan = plan_message(engine, message, now, limiter)
        results.append(describe(engine, source, message, triage, plan.actions, plan.matched, now))
    return results


def run_simulate(config: Config, paths: list[Path], *, at: str | None, as_json: bool) -> None:
    from inboxbot.app import build_engine
    from inboxbot.cli.common import console, print_json

    now = parse_at(at)
    engine = build_engine(config)
    results = simulate(config, engine, read_sources(paths), now)
    if as_json:
        print_json(results)
        return
    # soft_wrap: the rendered reply keeps its own line breaks instead of rich's at 80 columns
    print_results(console(soft_wrap=True), results)


def print_results(out: Any, results: list[dict[str, Any]]) -> None:
    """The text report. Subjects, addresses and bodies are the customer's: they go out as
    Text, never as rich markup, so "[/x]" cannot raise and "[urgent]" is not swallowed."""
    from rich.text import Text

    for item in results:
        out.print(Text.assemble((item["source"], "bold"), f"  {item['from']}  {item['subject']!r}"))
        out.print(
            Text(
                f"  automated: {item['automated'] or 'no'}   language: {item['language']}   "
                f"complaint: {item['complaint']}   urgent: {item['urgent']}   "
                f"vip: {item['vip']}   channel: {item['channel']}"
            )
        )
        out.print(Text(f"  rules: {', '.join(item['rules']) or '(none)'}"))
        for action in item["actions"]:
            args = {
                k: v
                for k, v in action.items()
                if k not in ("type", "reason", "skipped", "body", "language")
            }
            line = Text(f"  - {action['type']} {args}  ({action['reason']})")
            if "skipped" in action:
                line.append(f"  skipped: {action['skipped']}", style="yellow")
            out.print(line)
            if "body" in action and "skipped" not in action:
                out.print(Text("    " + action["body"].replace("\n", "\n    ")))
        out.print()
