"""Reading reply templates from replies/ (inboxbot/templates.py)."""

from __future__ import annotations

from pathlib import Path

from inboxbot.templates import load_templates


def test_a_template_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    # Notepad starts UTF-8 with a BOM; check then said the file "must start with a
    # 'Subject: ...' line", which it visibly did.
    (tmp_path / "ack.en.txt").write_bytes(
        b"\xef\xbb\xbfSubject: Re: {{ subject }}\r\n\r\nThank you!\r\n")
    templates = load_templates(tmp_path)
    assert templates.validate() == []
    assert templates.names() == ["ack"]
