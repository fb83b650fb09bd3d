"""Complaint triage against a real Dovecot: 200 mixed mails in four languages end up filed and
tagged, the complaint log is filled, and `inboxbot stats` reports the seeded history."""

from __future__ import annotations

import email
import email.policy
import email.utils
import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inboxbot import service, textwork
from inboxbot.cli.app import app
from inboxbot.core.classify import Classifier
from inboxbot.daemon import serve

FIXTURES = Path(__file__).parents[1] / "fixtures" / "customer"
MANIFEST = tomllib.loads((FIXTURES / "manifest.toml").read_text())["files"]


def _copy(name: str, index: int, sender: str | None) -> bytes:
    """The fixture as a new mail: its own Message-ID and, unless VIP, its own sender."""
    message = email.message_from_bytes((FIXTURES / name).read_bytes(), policy=email.policy.default)
    del message["Message-ID"]
    message["Message-ID"] = f"<triage{index}@customer.example>"
    # Written now: the complaint log dates a complaint by its Date (service._written), and the
    # fixtures' November 2026 would leave --since 30d and [triage] repeat_days by and by.
    message.replace_header("Date", email.utils.format_datetime(datetime.now(UTC)))
    if sender:
        del message["From"]
        message["From"] = sender
    return bytes(message)


def _staff_reply(to: str, in_reply_to: str, date: str) -> bytes:
    """A reply staff wrote in their own mail client, as it lands in Sent."""
    staff = email.message.EmailMessage()
    staff["From"] = "support@shop.example"
    staff["To"] = to
    staff["Subject"] = "Re: your lamp"
    staff["In-Reply-To"] = in_reply_to
    staff["Date"] = date
    staff.set_content("So sorry! A new lamp is on its way.")
    return bytes(staff)


def _failing_read(items: object) -> list[object]:
    raise RuntimeError("worker gone")


@pytest.mark.parametrize("mode", ["one-batch", "read-ahead", "worker-failed"])
def test_two_hundred_mixed_mails_are_triaged_and_counted(
    shop, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """In batches of 40, the mails are parsed and their texts read ahead by a forked worker
    (inboxbot.textwork): the same end state, and this process parses and classifies nothing
    itself; when the worker fails, this process does it all, with the same end state."""
    monkeypatch.setattr(service, "BATCH_SIZE", 500 if mode == "one-batch" else 40)
    if mode == "worker-failed":
        monkeypatch.setattr(textwork, "_read_all", _failing_read)  # the forked child's too
    classified: list[str] = []
    parsed: list[int] = []
    classify, parse_entity = Classifier.classify, service.parse_entity

    def counting(self, subject, body, language):  # type: ignore[no-untyped-def]
        classified.append(subject)  # in this process (the worker counts in its own copy)
        return classify(self, subject, body, language)

    def counting_parse(entity, size):  # type: ignore[no-untyped-def]
        parsed.append(size)  # likewise
        return parse_entity(entity, size)

    monkeypatch.setattr(Classifier, "classify", counting)
    monkeypatch.setattr(service, "parse_entity", counting_parse)
    names = sorted(MANIFEST)
    mails, expected = [], {}
    for index in range(200):
        name = names[index % len(names)]
        facts = MANIFEST[name]
        # Every complaint in the first 60 comes from one customer: a chronic complainer.
        chronic = index < 60 and facts["complaint"] and not facts["vip"]
        sender = None if facts["vip"] or facts["automated"] else (
            "chronic@customer.example" if chronic else f"c{index}@customer.example")
        mails.append(_copy(name, index, sender))
        expected[f"<triage{index}@customer.example>"] = facts
    shop.dovecot.append_many("INBOX", mails)

    serve(shop.config(), once=True)

    if mode == "read-ahead":
        assert classified == [], "read by the worker, not here"
        assert parsed == [], "parsed by the worker, not here"
    else:
        assert len(classified) >= 100
        assert len(parsed) == len(mails)
    for folder in ("INBOX", "VIP", "Urgent"):
        for item in shop.folder(folder).values():
            msgid = item["header"].split("Message-ID:")[-1].split()[0]
            facts = expected.pop(msgid)
            want = "VIP" if facts["vip"] else "Urgent" if facts["urgent"] else "INBOX"
            assert folder == want, (msgid, folder)
            assert ("$Complaint" in item["flags"]) == facts["complaint"], msgid
            assert ("$Urgent" in item["flags"]) == (facts["urgent"] and not facts["vip"]), msgid
            assert ("$VIP" in item["flags"]) == facts["vip"], msgid
    assert expected == {}, "every message is accounted for"

    complaints = sum(MANIFEST[names[i % len(names)]]["complaint"] for i in range(200))
    result = CliRunner().invoke(app, ["stats", "-c", str(shop.config_path), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["total"] == complaints
    assert sum(stats["per_week"].values()) == complaints
    assert "chronic@customer.example" in stats["repeat_complainers"]
    assert stats["per_category"], "categories are logged"
    assert stats["top_cues"], "the cue words are logged (stats: top recurring words)"
    assert stats["answered"] == 0


def test_a_staff_reply_in_sent_marks_the_complaint_answered(shop) -> None:
    shop.dovecot.append("INBOX", _copy("en-01-damaged-lamp.eml", 1, "lamp@customer.example"))
    serve(shop.config(), once=True)
    staff = _staff_reply("lamp@customer.example", "<triage1@customer.example>",
                         "Mon, 30 Nov 2026 12:00:00 +0000")
    shop.dovecot.append("Sent", staff)

    serve(shop.config(), once=True)

    result = CliRunner().invoke(app, ["stats", "-c", str(shop.config_path), "--json",
                                      "--since", "3650d"])
    stats = json.loads(result.output)
    assert stats["total"] == 1 and stats["answered"] == 1
    # The reply's Date (30 November) is before the complaint's (now): a clock is wrong, and an
    # answer never comes before its complaint.
    assert stats["median_first_response_hours"] == 0, stats


def test_the_answered_flag_marks_the_complaint_answered(shop) -> None:
    """A staff reply that reached no Sent folder of this mailbox still counts: the mail client
    sets \\Answered on the complaint, and the complaint log records the answer."""
    shop.dovecot.append("INBOX", _copy("en-01-damaged-lamp.eml", 2, "lamp2@customer.example"))
    serve(shop.config(), once=True)
    stats = json.loads(CliRunner().invoke(
        app, ["stats", "-c", str(shop.config_path), "--json", "--since", "3650d"]).output)
    assert stats["total"] == 1 and stats["answered"] == 0
    client = shop.dovecot.client()
    try:
        for folder in ("INBOX", "Urgent"):
            client.select_folder(folder)
            uids = client.search(["HEADER", "Message-ID", "<triage2@customer.example>"])
            if uids:
                client.add_flags(uids, [b"\\Answered"])
    finally:
        client.logout()

    serve(shop.config(), once=True)
    serve(shop.config(), once=True)  # seen once, counted once

    result = CliRunner().invoke(app, ["stats", "-c", str(shop.config_path), "--json",
                                      "--since", "3650d"])
    stats = json.loads(result.output)
    assert stats["total"] == 1 and stats["answered"] == 1, stats
    assert stats["median_first_response_hours"] is not None


def test_a_complaint_seen_again_is_logged_once(shop) -> None:
    """The same complaint back in INBOX without our marks (a mail client that moves by copying
    it back, or the shop's MTA delivering it twice): one complaint, one history entry, so
    neither `stats` nor `sender = repeat` counts it twice."""
    from inboxbot.adapters.store import StateStore

    mail = _copy("en-01-damaged-lamp.eml", 3, "twice@customer.example")
    shop.dovecot.append("INBOX", mail)
    serve(shop.config(), once=True)
    shop.dovecot.append("INBOX", mail)
    serve(shop.config(), once=True)

    with StateStore(shop.directory / "state.json") as store:
        logged = [c for c in store.complaints() if c["message_id"] == "<triage3@customer.example>"]
        history = store.history("twice@customer.example")
    assert len(logged) == 1, logged
    assert len(history) == 1, history


def test_a_staff_reply_sent_while_we_were_down_marks_the_complaint_answered(shop) -> None:
    """inboxbot was stopped (or starts on a backlog): the complaint is in INBOX and staff's
    reply to it in Sent before the first pass. The Sent scan must not pass over the reply
    because the complaint was not logged yet: it counts as answered, at the reply's Date."""
    shop.dovecot.append("INBOX", _copy("en-01-damaged-lamp.eml", 4, "down@customer.example"))
    staff = _staff_reply("down@customer.example", "<triage4@customer.example>",
                         email.utils.format_datetime(datetime.now(UTC)))
    shop.dovecot.create_folder("Sent")
    shop.dovecot.append("Sent", staff)

    serve(shop.config(), once=True)
    serve(shop.config(), once=True)

    result = CliRunner().invoke(app, ["stats", "-c", str(shop.config_path), "--json"])
    stats = json.loads(result.output)
    assert stats["total"] == 1 and stats["answered"] == 1, stats


def test_a_backlog_complaint_is_logged_when_it_was_written(shop) -> None:
    """The first start finds a complaint written two weeks ago, answered by staff the next day
    (from a phone: no \\Answered). It belongs to its own week, not to the week of the start,
    and its first response is a day of business time, not minus two weeks."""
    from datetime import timedelta

    from inboxbot.core.stats import week_of

    written = datetime.now(UTC).replace(microsecond=0) - timedelta(days=14)
    mail = email.message_from_bytes(_copy("en-01-damaged-lamp.eml", 5, "old@customer.example"),
                                    policy=email.policy.default)
    mail.replace_header("Date", email.utils.format_datetime(written))
    shop.dovecot.append("INBOX", bytes(mail))
    staff = _staff_reply("old@customer.example", "<triage5@customer.example>",
                         email.utils.format_datetime(written + timedelta(days=1)))
    shop.dovecot.create_folder("Sent")
    shop.dovecot.append("Sent", staff)

    serve(shop.config(), once=True)

    result = CliRunner().invoke(app, ["stats", "-c", str(shop.config_path), "--json"])
    stats = json.loads(result.output)
    zone = shop.config().hours.calendar().zone
    assert stats["per_week"] == {week_of(written, zone): 1}, stats
    assert stats["answered"] == 1
    assert 0 <= stats["median_first_response_hours"] <= 24, stats


def test_a_staff_reply_dated_without_a_zone_marks_the_complaint_answered(shop) -> None:
    """RFC 5322's "-0000" (zone unknown) parses to a naive time, which the state file cannot
    hold: the reply still counts, timed by the pass that sees it, and the round goes on."""
    shop.dovecot.append("INBOX", _copy("en-01-damaged-lamp.eml", 6, "zone@customer.example"))
    serve(shop.config(), once=True)
    unknown_zone = email.utils.format_datetime(datetime.now(UTC)).replace("+0000", "-0000")
    staff = _staff_reply("zone@customer.example", "<triage6@customer.example>", unknown_zone)
    shop.dovecot.append("Sent", staff)

    serve(shop.config(), once=True)

    stats = json.loads(CliRunner().invoke(
        app, ["stats", "-c", str(shop.config_path), "--json"]).output)
    assert stats["total"] == 1 and stats["answered"] == 1, stats
