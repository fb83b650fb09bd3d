"""Issue 5: two inboxbot instances on two mailboxes whose redirects land on each other's
unsupported address exchange at most one message each, against real Dovecots and aiosmtpd,
with an honest relay (Auto-Submitted stops the loop). A relay that strips the robot headers
leaves only the per-sender limit; as a redirect comes from the support address, not from the
address it answers, each side then sends two (sales@ answered, then support@), and the loop
still ends there."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.test_loops import (  # noqa: F401 (two_shops is a fixture)
    Network,
    _ping_pong,
    _strip_loop_headers,
    two_shops,
)
from tests.mailgen import customer_mail


@pytest.mark.parametrize(("relay", "most"), [("honest", 1), ("strips Auto-Submitted", 2)])
def test_two_bots_redirecting_to_each_other_exchange_at_most_one_message_each(
    two_shops, relay, most  # noqa: F811
) -> None:
    a, b = two_shops
    network = Network(
        a.sink,
        {
            "support@a.example": a.dovecot, "sales@a.example": a.dovecot,
            "support@b.example": b.dovecot, "sales@b.example": b.dovecot,
        },
        rewrite=_strip_loop_headers if relay != "honest" else None,
    )
    # Each shop's unsupported address writes to the other's, like a person would.
    question = "Hello, could you send me your wholesale price list?"
    a.dovecot.append(
        "INBOX", customer_mail("sales@b.example", "Prices", question, to="sales@a.example")
    )
    b.dovecot.append(
        "INBOX", customer_mail("sales@a.example", "Prices", question, to="sales@b.example")
    )

    _ping_pong(a, b, network, rounds=6)

    sent = Counter(sender for sender, _to in network.delivered)
    assert sent["support@a.example"] <= most and sent["support@b.example"] <= most, sent
    assert sum(sent.values()) >= 1, "the first (human-looking) mail is redirected"
    assert network.route() == 0, "nothing more in flight"
    redirected = [item for shop in (a, b) for item in shop.folder("INBOX").values()
                  if "$Redirected" in item["flags"]]
    assert redirected, "the loop began with a redirect"
