"""`inboxbot reminders list|add|cancel`: the reminders in the state file.

`list` reads the state without taking its lock, so it works while `inboxbot run` is running;
`add` and `cancel` change the state and need the lock (stop the service first, or use the
mail commands support+remind-2d@ / the $FollowUp keyword, which the running service handles).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from inboxbot.cli.common import ConfigOption, JsonOption, errors_to_exit, load, print_json
from inboxbot.errors import InboxbotError

reminders_app = typer.Typer(
    help="Staff reminders and customer check-ins: list, add, cancel.", no_args_is_help=True
)

AllOption = Annotated[bool, typer.Option("--all", help="also sent and cancelled reminders")]


def _read_only(path: Path) -> list[dict[str, Any]]:
    """The reminders table as the store would see it (the file plus its journal), read
    without the lock."""
    from inboxbot.adapters.store import read_table

    rows = [{**doc, "id": key} for key, doc in read_table(path, "reminders").items()]
    rows.sort(key=lambda r: (str(r.get("due", "")), r["id"]))
    return rows


def _row(doc: dict[str, Any], zone: Any) -> dict[str, Any]:
    due = doc.get("due")
    return {
        "id": doc["id"],
        "due": due.astimezone(zone).isoformat(timespec="minutes")
        if isinstance(due, datetime)
        else due,
        "kind": doc.get("kind", ""),
        "to": doc.get("to", ""),
        "state": doc.get("state", ""),
        "customer": doc.get("customer", ""),
        "subject": doc.get("subject", ""),
        "message_id": doc.get("message_id", ""),
        "reason": doc.get("reason", ""),
        "cancel_reason": doc.get("cancel_reason", ""),
    }


@reminders_app.command("list")
@errors_to_exit
def reminders_list(
    config: ConfigOption = None, show_all: AllOption = False, json_output: JsonOption = False
) -> None:
    """Open reminders (due time in the shop's zone).  Example: inboxbot reminders list --all"""
    settings = load(config)
    zone = settings.hours.calendar().zone
    docs = _read_only(settings.paths.state)
    rows = [_row(d, zone) for d in docs if show_all or d.get("state") in ("pending", "sending")]
    if json_output:
        print_json(rows)
        return
    if not rows:
        typer.echo("no reminders" if show_all else "no open reminders (--all shows the others)")
        return
    from inboxbot.cli.output import print_table

    # print_table: the subject is the customer's text, never markup; plain text when piped
    table = []
    for row in rows:
        state = row["state"] + (f" ({row['cancel_reason']})" if row["cancel_reason"] else "")
        due = str(row["due"]).replace("T", " ")
        cells = (row["id"], due, row["kind"], row["to"], row["customer"], row["subject"], state)
        table.append([str(cell) for cell in cells])
    print_table(("id", "due", "kind", "to", "customer", "subject", "state"), table)


@reminders_app.command("add")
@errors_to_exit
def reminders_add(
    message_id: Annotated[str, typer.Argument(help="the customer's Message-ID, <...@...>")],
    after: Annotated[str, typer.Option("--in", help="business time from now, e.g. 2d or 4h")],
    to: Annotated[str, typer.Option("--to", help="staff (a reminder) or customer (a check-in)")] = (
        "staff"
    ),
    config: ConfigOption = None,
) -> None:
    """Schedule a reminder.  Example: inboxbot reminders add '<a1@x.example>' --in 2d"""
    from inboxbot.adapters.store import StateStore
    from inboxbot.core.durations import parse_duration
    from inboxbot.core.reminders import Reminder, due_after

    if to not in ("staff", "customer"):
        raise typer.BadParameter("must be staff or customer", param_hint="--to")
    try:
        duration = parse_duration(after)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--in") from None
    message_id = message_id.strip()
    if not message_id.startswith("<"):
        message_id = f"<{message_id.strip('<>')}>"
    settings = load(config)
    now = datetime.now(UTC)
    with StateStore(settings.paths.state) as store:
        known = store.complaint(message_id) or {}
        reminder = Reminder(
            kind="checkin" if to == "customer" else "custom",
            to="customer" if to == "customer" else "staff",
            due=due_after(settings.hours.calendar(), now, duration),
            created=now,
            message_id=message_id,
            customer=str(known.get("customer", "")),
            language=str(known.get("language", "")),
            reason=f"added by hand (inboxbot reminders add --in {after})",
            origin="cli",
        )
        reminder_id = store.add_reminder(reminder.to_record())
        store.flush()
    zone = settings.hours.calendar().zone
    typer.echo(f"reminder {reminder_id} due {reminder.due.astimezone(zone):%a %Y-%m-%d %H:%M}")


@reminders_app.command("cancel")
@errors_to_exit
def reminders_cancel(
    reminder_id: Annotated[int, typer.Argument(help="the id `reminders list` shows")],
    config: ConfigOption = None,
) -> None:
    """Cancel an open reminder.  Example: inboxbot reminders cancel 12"""
    from inboxbot.adapters.store import StateStore

    settings = load(config)
    with StateStore(settings.paths.state) as store:
        found = [r for r in store.reminders() if r["id"] == reminder_id]
        if not found:
            raise InboxbotError(
                f"no reminder {reminder_id} in {settings.paths.state}; see inboxbot reminders list"
            )
        if found[0].get("state") not in ("pending", "sending"):
            raise InboxbotError(f"reminder {reminder_id} is already {found[0].get('state')}")
        store.update_reminder(reminder_id, state="cancelled", cancel_reason="cancelled by hand")
        store.flush()
    typer.echo(f"reminder {reminder_id} cancelled")
