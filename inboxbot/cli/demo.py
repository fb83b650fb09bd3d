"""`inboxbot demo`: the real pipeline on sample mail in a temporary Maildir, no server needed.

Replies are delivered into the Maildir's "Outbox" folder instead of an SMTP server, so the demo
shows everything a real run would send without sending anything.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from inboxbot.defaults import data_dir, defaults_dir
from inboxbot.service import Outcome

DEMO_CONFIG = """
[imap]
host = "localhost"
security = "plain"
username = "demo"
password = "demo"

[shop]
name = "Example Shop"
address = "support@shop.example"
own_addresses = ["info@shop.example"]
signature = "Anna and Jonas from Example Shop"

[hours]
timezone = "Europe/Berlin"
holidays = "DE"

[channels]
unsupported = ["sales@shop.example"]
help_url = "https://shop.example/help"

[vip]
domains = ["bigcustomer.example"]

[paths]
rules = "{rules}"
replies = "{replies}"
state = "state.json"
"""


class OutboxSender:
    """A Sender that files outgoing mail into a Maildir folder instead of using SMTP."""

    def __init__(self, mailbox: object, folder: str) -> None:
        self.mailbox, self.folder = mailbox, folder

    def send(self, message: EmailMessage, *, envelope_from: str, recipients: Sequence[str]) -> None:
        self.mailbox.append(self.folder, bytes(message), ["\\Seen"])  # type: ignore[attr-defined]


def run_demo(*, keep: bool = False) -> None:
    from inboxbot.adapters.maildir import MaildirMailbox
    from inboxbot.adapters.store import StateStore
    from inboxbot.app import build_engine, folders_needed, utc_now
    from inboxbot.config import parse_config
    from inboxbot.service import Executor, run_pass

    workdir = Path(tempfile.mkdtemp(prefix="inboxbot-demo-"))
    try:
        config_text = DEMO_CONFIG.format(
            rules=defaults_dir("rules"), replies=defaults_dir("replies")
        )
        config = parse_config(config_text, workdir / "config.toml")
        engine = build_engine(config)
        mailbox = MaildirMailbox(workdir / "Maildir")
        samples = sorted(data_dir("demo").glob("*.eml"))
        for sample in samples:
            mailbox.append("INBOX", sample.read_bytes())
        mailbox.ensure_folders([*folders_needed(config, engine), "Outbox"])
        store = StateStore(workdir / "state.json")
        sender = OutboxSender(mailbox, "Outbox")
        executor = Executor(engine, mailbox, sender, store, utc_now)
        outcomes = run_pass(engine, mailbox, executor, store)
        store.close()
        print_table(outcomes, [s.name for s in samples])
        if keep:
            print(f"\nThe demo Maildir is kept at {workdir / 'Maildir'} (replies in .Outbox)")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def detected(outcome: Outcome) -> str:
    facts = outcome.facts
    if facts is None:
        return outcome.error or "-"
    if facts.automated:
        return f"automated: {facts.automated}"
    marks = [facts.language]
    marks += [name for name in ("complaint", "urgent", "angry", "vip") if getattr(facts, name)]
    if facts.channel != "supported":
        marks.append(facts.channel)
    return ", ".join(marks)


def print_table(outcomes: list[Outcome], names: list[str]) -> None:
    from inboxbot.cli import output

    # On a terminal rich stacks a cell's parts; piped, each message is one aligned line.
    stacked = output.fancy()
    sep, rules_sep = ("\n", "\n") if stacked else ("  ", ", ")
    rows = []
    for index, outcome in enumerate(outcomes):
        message = outcome.message
        label = names[index] if index < len(names) else str(outcome.uid)
        subject = message.subject if message else ""
        rows.append(
            [
                str(index + 1),
                f"{label}{sep}{subject[:48]}",
                detected(outcome),
                rules_sep.join(outcome.plan.matched) or "-",
                outcome.folder,
                " ".join(k for k in outcome.keywords) or "-",
                ", ".join(outcome.sent) or "-",
            ]
        )
    columns = ("#", "message", "detected", "rules", "went to", "tags", "sent")
    output.print_table(columns, rows, title="inboxbot demo: what happened to each message")
