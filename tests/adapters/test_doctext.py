"""adapters.doctext: documents held packed, the file as TinyDB writes it."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inboxbot.adapters import doctext


@given(st.text())
def test_pack_round_trips_any_text(text: str) -> None:
    assert doctext.unpack(doctext.pack(text)) == text


def test_a_document_longer_than_the_window_round_trips() -> None:
    doc = {"address": "a@x.test", "seen": [[f"2026-03-{d % 28 + 1:02}", True] for d in range(500)]}
    text = doctext.dump(doc)
    assert len(text) > 8 * 1024
    assert doctext.load(doctext.unpack(doctext.pack(text))) == doc


def test_a_backlog_record_packs_to_a_third() -> None:
    # What a complaint's SLA reminder looks like in the state (store.add_reminder).
    reminder = {
        "kind": "sla", "to": "staff", "due": "2026-03-02T17:00:00.000000+00:00",
        "created": "2026-03-02T09:00:00.000000+00:00", "message_id": "<res7@customer.example>",
        "customer": "customer7@customer7.example", "subject": "Order 7", "folder": "INBOX",
        "language": "en", "origin": "rule",
        "reason": "rule 'complaints' (rules/10-default.toml:49)",
        "promise_at": "2026-03-02T17:00:00.000000+00:00", "state": "pending",
    }  # fmt: skip
    text = doctext.dump(reminder)
    assert len(doctext.pack(text)) < len(text) / 3


def test_scan_and_write_keep_the_tinydb_format() -> None:
    data = {"meta": {"1": {"version": 2}}, "history": {"3": {"address": "ä@x.test"}, "10": {}}}
    tables = doctext.scan(json.dumps(data, indent=4))
    assert sorted(tables["history"]) == [3, 10]
    out = io.BytesIO()
    doctext.write(out, tables)
    assert json.loads(out.getvalue()) == data


@pytest.mark.parametrize("text", ['{"t": {"x": {}}}', '{"t": {"-1": {}}}', '{"t": {"1": []}}'])
def test_scan_refuses_what_tinydb_could_not_open(text: str) -> None:
    with pytest.raises(ValueError):
        doctext.scan(text)
