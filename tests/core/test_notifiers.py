"""Notifier catalog: recognising platform notifications and the ones that relay a customer."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inboxbot.core.message import parse_message
from inboxbot.core.notifiers import Notifier, NotifierCatalog
from inboxbot.errors import ConfigError
from inboxbot.notifier_data import load_catalog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "automated"
NOTIFIERS = FIXTURES / "notifiers"


@pytest.fixture(scope="module")
def shipped() -> NotifierCatalog:
    return load_catalog()


def _mail(from_: str, subject: str = "Hello", *headers: str) -> bytes:
    lines = [f"From: {from_}", "To: support@shop.example", f"Subject: {subject}", *headers, ""]
    return ("\r\n".join(lines) + "\r\nbody\r\n").encode()


# (fixture, name, kind, carries a customer message)
SHIPPED_CASES = [
    ("etsy-conversation.eml", "Etsy", "marketplace", True),
    ("etsy-sale.eml", "Etsy", "marketplace", False),
    ("amazon-buyer-message.eml", "Amazon", "marketplace", True),
    ("amazon-seller-central.eml", "Amazon", "marketplace", False),
    ("ebay-member-message.eml", "eBay", "marketplace", True),
    ("facebook-page-message.eml", "Facebook", "social", True),
    ("facebook-header-only.eml", "Facebook", "social", True),
    ("instagram-dm.eml", "Instagram", "social", True),
    ("linkedin-message.eml", "LinkedIn", "social", True),
    ("x-follow.eml", "X (Twitter)", "social", False),
    ("shopify-contact-form.eml", "Shopify", "platform", True),
    ("paypal-payment.eml", "PayPal", "payment", False),
    ("paypal-dispute.eml", "PayPal", "payment", True),
    ("stripe-payout.eml", "Stripe", "payment", False),
    ("dhl-tracking.eml", "DHL", "shipping", False),
    ("postnord-tracking.eml", "PostNord", "shipping", False),
    ("omniva-parcel.eml", "Omniva", "shipping", False),
    ("dpd-tracking.eml", "DPD", "shipping", False),
]


@pytest.mark.parametrize(("fixture", "name", "kind", "carries"), SHIPPED_CASES)
def test_shipped_catalog_on_fixtures(
    shipped: NotifierCatalog, fixture: str, name: str, kind: str, carries: bool
) -> None:
    msg = parse_message((NOTIFIERS / fixture).read_bytes())
    assert shipped.match(msg) == Notifier(name, kind, carries)


def test_every_notifier_fixture_is_in_the_table() -> None:
    assert {p.name for p in NOTIFIERS.glob("*.eml")} == {case[0] for case in SHIPPED_CASES}


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("human-*.eml")))
def test_customer_mail_is_no_notifier(shipped: NotifierCatalog, fixture: str) -> None:
    assert shipped.match(parse_message((FIXTURES / fixture).read_bytes())) is None


@pytest.mark.parametrize(
    "from_",
    [
        "anna@gmail.com",
        "p.virtanen@outlook.com",
        "x@hotmail.com",
        "kim@yahoo.com",
        "lena@web.de",
        "max@gmx.de",
        "sofia@icloud.com",
        "jaan@mail.ee",
        "karin@telia.com",
        "support@notetsy.com",  # a look-alike is not a subdomain
        "shop@etsy.com.evil.example",
        "sales@mydhl.example",
    ],
)
def test_freemail_and_lookalikes_are_no_notifiers(shipped: NotifierCatalog, from_: str) -> None:
    assert shipped.match(parse_message(_mail(from_))) is None


def test_shipped_catalog_covers_the_named_providers(shipped: NotifierCatalog) -> None:
    names = {spec.name for spec in shipped.specs}
    wanted = {"Facebook", "Instagram", "X (Twitter)", "LinkedIn", "Etsy", "eBay", "Amazon"}
    wanted |= {"PayPal", "Stripe", "Shopify", "DHL", "UPS", "PostNord", "Omniva", "DPD", "GLS"}
    assert wanted <= names


CATALOG: dict[str, Any] = {
    "message_subjects": ["sent you a message"],
    "notifier": [
        {"name": "Amazon", "kind": "marketplace", "domains": ["amazon.de"]},
        {
            "name": "Amazon Marketplace",
            "kind": "marketplace",
            "domains": ["marketplace.amazon.de"],
            "messages": True,
        },
        {"name": "Hook", "kind": "social", "headers": [{"name": "X-Hook", "contains": "dm"}]},
        {"name": "Post", "kind": "shipping", "domains": ["post.example"], "messages": False},
    ],
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (_mail("a@amazon.de"), Notifier("Amazon", "marketplace", False)),
        (_mail("a@Mail.Amazon.DE"), Notifier("Amazon", "marketplace", False)),
        (_mail("a@x.marketplace.amazon.de"), Notifier("Amazon Marketplace", "marketplace", False)),
        (
            _mail("a@marketplace.amazon.de", "Kim sent you a message"),
            Notifier("Amazon Marketplace", "marketplace", True),
        ),
        # Shared subjects apply only where `messages = true`.
        (_mail("a@post.example", "Kim sent you a message"), Notifier("Post", "shipping", False)),
        (_mail("a@shop.example", "x", "X-Hook: dm; id=1"), Notifier("Hook", "social", False)),
        (_mail("a@shop.example", "x", "X-Hook: like"), None),
        (_mail("a@amazon.deutschland.example"), None),
        (_mail("Nobody <>"), None),
    ],
)
def test_matching_rules(raw: bytes, expected: Notifier | None) -> None:
    assert NotifierCatalog.from_mapping(CATALOG).match(parse_message(raw)) == expected


def test_sender_header_domain_identifies_a_platform_sending_in_a_members_name() -> None:
    catalog = NotifierCatalog.from_mapping(CATALOG)
    msg = parse_message(_mail("Kim <kim@members.example>", "x", "Sender: relay@post.example"))
    assert catalog.match(msg) == Notifier("Post", "shipping", False)


def test_message_domains_and_headers_mark_customer_messages() -> None:
    data = {
        "notifier": [
            {
                "name": "Bay",
                "kind": "marketplace",
                "domains": ["bay.example"],
                "message_domains": ["members.bay.example"],
                "message_headers": [{"name": "X-Bay-Type", "contains": "M2M"}],
            }
        ]
    }
    catalog = NotifierCatalog.from_mapping(data)
    member = parse_message(_mail("kim@eu.members.bay.example"))
    header = parse_message(_mail("x@bay.example", "Hello", "X-Bay-Type: m2m-question"))
    plain = parse_message(_mail("x@bay.example", "You sold an item"))
    assert [catalog.match(m) for m in (member, header, plain)] == [
        Notifier("Bay", "marketplace", True),
        Notifier("Bay", "marketplace", True),
        Notifier("Bay", "marketplace", False),
    ]


def test_first_entry_claiming_a_domain_wins() -> None:
    data = {
        "notifier": [
            {"name": "First", "kind": "social", "domains": ["same.example"]},
            {"name": "Second", "kind": "payment", "domains": ["same.example"]},
        ]
    }
    msg = parse_message(_mail("x@same.example"))
    assert NotifierCatalog.from_mapping(data).match(msg) == Notifier("First", "social", False)


def test_notifier_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Notifier("a", "social", False).name = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"notifiers": []}, "shop.toml: unknown key 'notifiers'"),
        ({"notifier": {"name": "x"}}, "must be written as [[notifier]] tables"),
        ({"notifier": ["x"]}, "notifier[0]: must be a table"),
        ({"notifier": [{"kind": "social", "domains": ["a.example"]}]}, "notifier[0].name"),
        (
            {"notifier": [{"name": "A", "kind": "bank", "domains": ["a.example"]}]},
            "notifier[0] (A).kind: 'bank' is not one of",
        ),
        (
            {"notifier": [{"name": "A", "kind": "social", "domain": ["a.example"]}]},
            "notifier[0] (A): unknown key 'domain'",
        ),
        (
            {"notifier": [{"name": "A", "kind": "social"}]},
            "notifier[0] (A): needs domains or headers",
        ),
        (
            {"notifier": [{"name": "A", "kind": "social", "domains": ["*.a.example"]}]},
            "notifier[0] (A).domains[0]: '*.a.example' is not a domain",
        ),
        (
            {"notifier": [{"name": "A", "kind": "social", "domains": "a.example"}]},
            "notifier[0] (A).domains: must be a list of strings",
        ),
        (
            {
                "notifier": [
                    {"name": "A", "kind": "social", "domains": ["a.example"]},
                    {"name": "a", "kind": "social", "domains": ["b.example"]},
                ]
            },
            "notifier[1] (a): notifier 'a' is defined twice",
        ),
        (
            {"message_subjects": ["(unclosed"], "notifier": []},
            "message_subjects[0]: bad regular expression '(unclosed'",
        ),
        (
            {"notifier": [{"name": "A", "kind": "social", "headers": [{"value": "x"}]}]},
            "notifier[0] (A).headers[0]: unknown key 'value'",
        ),
        (
            {"notifier": [{"name": "A", "kind": "social", "domains": ["a.ex"], "messages": "y"}]},
            "notifier[0] (A).messages: must be true or false",
        ),
    ],
)
def test_invalid_data_names_source_and_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        NotifierCatalog.from_mapping(data, "shop.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("shop.toml: ")


def test_shop_file_extends_replaces_and_disables(tmp_path: Path) -> None:
    extra = tmp_path / "notifiers.toml"
    extra.write_text(
        """
[[notifier]]
name = "Lamp Forum"
kind = "social"
domains = ["lampforum.example"]
messages = true

[[notifier]]
name = "dhl"
kind = "shipping"
domains = ["dhl-partner.example"]

[[notifier]]
name = "Stripe"
enabled = false
""",
        encoding="utf-8",
    )
    catalog = load_catalog([extra])
    forum = parse_message(_mail("bot@lampforum.example", "Kim sent you a message"))
    assert catalog.match(forum) == Notifier("Lamp Forum", "social", True)
    # The shop's "dhl" replaced the shipped DHL entry, domains and all.
    assert catalog.match(parse_message(_mail("x@dhl-partner.example"))) is not None
    assert catalog.match(parse_message(_mail("x@dhl.de"))) is None
    assert catalog.match(parse_message(_mail("notifications@stripe.com"))) is None
    assert catalog.match(parse_message(_mail("x@ups.com"))) == Notifier("UPS", "shipping", False)


def test_extension_without_shipped_catalog(tmp_path: Path) -> None:
    extra = tmp_path / "only.toml"
    extra.write_text('[[notifier]]\nname = "A"\nkind = "social"\ndomains = ["a.example"]\n')
    catalog = load_catalog([extra], include_shipped=False)
    assert [spec.name for spec in catalog.specs] == ["A"]


def test_bad_toml_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[notifier]]\nname = "A\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML: .*line 2"):
        load_catalog([bad])


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read notifier file"):
        load_catalog([tmp_path / "missing.toml"])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_match_never_raises_on_arbitrary_bytes(shipped: NotifierCatalog, raw: bytes) -> None:
    result = shipped.match(parse_message(raw))
    assert result is None or isinstance(result, Notifier)
