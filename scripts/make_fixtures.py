"""Regenerate the sample mail: inboxbot/data/demo/ and tests/fixtures/customer/.

    python scripts/make_fixtures.py            # rewrite both directories
    python scripts/make_fixtures.py --check    # exit 1 when the files on disk are out of date

The messages are built with the standard library's email package so the MIME structure is right
(multipart/alternative, a small attachment, quoted-printable and base64 bodies, a real
multipart/report bounce). Output is deterministic: fixed dates, Message-IDs and MIME boundaries,
so a rerun only changes what the tables below change.
"""

from __future__ import annotations

import argparse
import base64
import email.policy
import html
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "inboxbot" / "data" / "demo"
CUSTOMER_DIR = ROOT / "tests" / "fixtures" / "customer"
SUPPORT = "support@shop.example"
SALES = "sales@shop.example"
SHOP = f"Cosy Home Shop <{SUPPORT}>"
POLICY = email.policy.default.clone(linesep="\n", max_line_length=78)

# A 1x1 PNG: the attachment only has to exist, not to show a real cracked teapot.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)

TZ = {
    "en": timezone(timedelta(hours=0)),
    "de": timezone(timedelta(hours=1)),
    "sv": timezone(timedelta(hours=1)),
    "et": timezone(timedelta(hours=2)),
}


@dataclass(frozen=True)
class Mail:
    """One sample message; `expect` is what the pipeline should detect (for README/manifest)."""

    slug: str
    lang: str
    sender: tuple[str, str]
    subject: str
    body: str
    expect: str = ""
    to: str = SUPPORT
    html: bool = False
    cte: str | None = None  # None: the email package chooses
    attachment: tuple[str, str, bytes] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    reply_to: str | None = None
    in_reply_to: str | None = None
    complaint: bool = False
    urgent: bool = False
    vip: bool = False
    angry: bool = False
    automated: bool = False
    extra: dict[str, str] = field(default_factory=dict)


# --- builders ---------------------------------------------------------------------------------


def _html_of(text: str) -> str:
    paragraphs = "".join(
        f"<p>{html.escape(block).replace(chr(10), '<br>')}</p>" for block in text.split("\n\n")
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family: sans-serif">{paragraphs}</body></html>\n'
    )


def _tidy(msg: EmailMessage, slug: str) -> None:
    """Fixed boundaries (reproducible output); MIME-Version only at the top, as MUAs write it."""
    for number, part in enumerate(p for p in msg.walk() if p.is_multipart()):
        part.set_boundary(f"=_{slug}_{number}")
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]


def build(mail: Mail, when: datetime) -> bytes:
    msg = EmailMessage(policy=POLICY)
    name, addr = mail.sender
    domain = addr.rpartition("@")[2]
    msg["Return-Path"] = f"<{addr}>"
    msg["From"] = f"{name} <{addr}>" if name else addr
    msg["To"] = mail.to
    if mail.reply_to:
        msg["Reply-To"] = mail.reply_to
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{when:%Y%m%d%H%M%S}.{mail.slug}@{domain}>"
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
        msg["References"] = mail.in_reply_to
    msg["MIME-Version"] = "1.0"
    for header, value in mail.headers:
        msg[header] = value
    if mail.cte:
        msg.set_content(mail.body, cte=mail.cte)
    else:
        msg.set_content(mail.body)
    if mail.html:
        msg.add_alternative(_html_of(mail.body), subtype="html")
    if mail.attachment:
        filename, ctype, data = mail.attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    _tidy(msg, mail.slug)
    return msg.as_bytes()


def build_bounce(when: datetime) -> bytes:
    """A delivery-status report as Postfix writes it, returned for one of our auto-replies."""
    date = format_datetime(when)
    original = format_datetime(when - timedelta(minutes=2))
    text = f"""\
Return-Path: <>
Received: by mx.shop.example (Postfix)
	id 4Q2XyZ1bcdz9sWp; {date}
Date: {date}
From: MAILER-DAEMON@mx.shop.example (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {SUPPORT}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="=_bounce_0"
Message-Id: <{when:%Y%m%d%H%M%S}.4Q2XyZ1bcdz9sWp@mx.shop.example>

This is a MIME-encapsulated message.

--=_bounce_0
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.shop.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<old.address@example.com>: host mx.example.com[192.0.2.25] said: 550 5.1.1
    <old.address@example.com>: Recipient address rejected: User unknown in
    virtual mailbox table (in reply to RCPT TO command)

--=_bounce_0
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.shop.example
X-Postfix-Queue-ID: 4Q2XyZ1bcdz9sWp
Arrival-Date: {original}

Final-Recipient: rfc822; old.address@example.com
Original-Recipient: rfc822;old.address@example.com
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.com
Diagnostic-Code: smtp; 550 5.1.1 <old.address@example.com>: Recipient address
    rejected: User unknown in virtual mailbox table

--=_bounce_0
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <>
From: Cosy Home Shop <{SUPPORT}>
To: old.address@example.com
Subject: We have received your message
Date: {original}
Auto-Submitted: auto-replied
Message-ID: <{when:%Y%m%d%H%M%S}.ack@shop.example>

--=_bounce_0--
"""
    return text.encode("ascii")


# --- the demo mailbox -------------------------------------------------------------------------

DEMO: list[Mail] = [
    Mail(
        "01-en-damaged-mug-complaint",
        "en",
        ("Oliver Bennett", "oliver.bennett@example.com"),
        "Mug arrived broken - order #10482",
        "Hi,\n\nI received my order #10482 today but the ceramic mug was broken in the box. The "
        "handle snapped off and there were shards everywhere; the parcel had hardly any "
        "padding.\n\n"
        "It was meant as a birthday present, so I'm really disappointed. Could you send a "
        "replacement or refund me? I can send photos if you need them.\n\nThanks,\nOliver Bennett",
        expect="complaint (damaged item); English; acknowledged with the default promise",
        html=True,
        complaint=True,
    ),
    Mail(
        "02-en-urgent-chargeback-third-time",
        "en",
        ("Emily Carter", "emily.carter@example.com"),
        "Third time asking - refund for order #10311 or I file a chargeback",
        "Hello,\n\nThis is the third time I am writing about order #10311. I returned the jacket "
        "four weeks ago (tracking RR123456789GB) and I still have not received my refund. Nobody "
        "answers my emails.\n\nIf the money is not back on my card by Friday I will file a "
        "chargeback with my bank and pass this on to my lawyer.\n\nEmily Carter",
        expect="urgent complaint (third time, chargeback, lawyer); moved to the urgent folder",
        in_reply_to="<20261117091500.refund-reminder@example.com>",
        complaint=True,
        urgent=True,
    ),
    Mail(
        "03-en-angry-capitals",
        "en",
        ("Mike Dawson", "mike.dawson@mail.example"),
        "WHERE IS MY ORDER???",
        "I PAID TWO WEEKS AGO AND STILL NOTHING!!! THIS IS RIDICULOUS.\n\nYOUR TRACKING LINK "
        "DOESN'T WORK AND NOBODY ANSWERS THE PHONE. SEND MY ORDER OR GIVE ME MY MONEY BACK!!!\n\n"
        "MIKE",
        expect="complaint, angry tone (capitals, exclamation marks)",
        complaint=True,
        angry=True,
    ),
    Mail(
        "04-en-vip-anna-bigcustomer",
        "en",
        ("Anna Lindqvist", "anna@bigcustomer.example"),
        "40 gift boxes - delivery before 4 December?",
        "Hello,\n\nWe would like to order 40 of the winter gift boxes for our staff again this "
        "year, same as last year. Could you confirm that you can deliver them to our office "
        "before 4 December, and send us a quote with the company discount?\n\nKind regards,\n"
        "Anna Lindqvist\nOffice Manager, BigCustomer Ltd",
        expect="VIP sender (domain bigcustomer.example); tagged $VIP, moved to the VIP folder",
        html=True,
        vip=True,
    ),
    Mail(
        "05-en-delivery-time-question",
        "en",
        ("Grace Howard", "grace.howard@example.com"),
        "Delivery time to Ireland?",
        "Hello,\n\nI'd love to order the linen apron in sage green. How long does delivery to "
        "Dublin usually take, and would it arrive before Christmas if I order this week?\n\n"
        "Thank you so much,\nGrace",
        expect="polite question, not a complaint; acknowledged",
    ),
    Mail(
        "06-en-praise",
        "en",
        ("Sophie Marsh", "sophie.marsh@example.com"),
        "Absolutely love it!!!",
        "Hi there!\n\nThe wool blanket arrived yesterday and it is gorgeous!!! Thank you for the "
        "handwritten note too, it made my day!\n\nI will definitely order again!\n\nSophie",
        expect="praise (exclamation marks but happy): not a complaint, not angry",
    ),
    Mail(
        "07-de-delivery-question-qp",
        "de",
        ("Jürgen Müller", "juergen.mueller@example.com"),
        "Frage zur Lieferzeit für Bestellung 10517",
        "Guten Tag,\n\nich habe am Montag die Wolldecke in Größe L bestellt (Bestellung 10517). "
        "Können Sie mir sagen, wann sie ungefähr bei mir in München ankommt? Ich würde sie gern "
        "vor dem Wochenende verschenken.\n\nVielen Dank und freundliche Grüße\nJürgen Müller",
        expect="German question (quoted-printable, umlauts); not a complaint; German reply",
        cte="quoted-printable",
    ),
    Mail(
        "08-de-complaint-cracked-teapot",
        "de",
        ("Katrin Schäfer", "k.schaefer@posteo.example"),
        "Reklamation: Teekanne mit Sprung (Bestellung 10498)",
        "Sehr geehrte Damen und Herren,\n\nleider ist die Teekanne aus meiner Bestellung 10498 "
        "mit einem Sprung angekommen. Beim ersten Befüllen ist das Wasser ausgelaufen. Ein Foto "
        "hänge ich an.\n\nIch bitte um Ersatz oder Erstattung des Kaufpreises.\n\n"
        "Mit freundlichen Grüßen\nKatrin Schäfer",
        expect="German complaint (damaged item) with a photo attachment",
        cte="quoted-printable",
        attachment=("teekanne.png", "image/png", TINY_PNG),
        complaint=True,
    ),
    Mail(
        "09-de-urgent-lawyer",
        "de",
        ("Thomas Becker", "t.becker@example.com"),
        "Zum dritten Mal: Rückerstattung Bestellung 10277",
        "Guten Tag,\n\nich schreibe Ihnen jetzt zum dritten Mal wegen meiner Rücksendung vom "
        "2. November. Bis heute habe ich mein Geld nicht zurück und auf meine E-Mails antwortet "
        "niemand.\n\nWenn der Betrag nicht bis Freitag auf meinem Konto ist, übergebe ich die "
        "Sache meinem Anwalt und lasse die Zahlung von meiner Bank zurückbuchen.\n\n"
        "Thomas Becker",
        expect="urgent German complaint (third time, lawyer, chargeback); urgent folder",
        complaint=True,
        urgent=True,
    ),
    Mail(
        "10-sv-praise-base64",
        "sv",
        ("Elin Johansson", "elin.johansson@example.com"),
        "Tack så mycket!!",
        "Hej!\n\nPaketet kom i dag och filten är helt underbar!!! Så fint inslagen också.\n\n"
        "Tack för den snabba leveransen, jag kommer definitivt att beställa igen!\n\n"
        "Varma hälsningar,\nElin",
        expect="Swedish praise (base64 body); not a complaint",
        cte="base64",
    ),
    Mail(
        "11-sv-complaint-broken-vase",
        "sv",
        ("Erik Nilsson", "erik.nilsson@mail.example"),
        "Reklamation - trasig vas, order 10533",
        "Hej,\n\nvasen jag beställde kom fram trasig i dag. Kartongen var intryckt och vasen låg "
        "i tre bitar.\n\nJag vill ha en ny vas eller pengarna tillbaka. Hur gör jag?\n\n"
        "Med vänliga hälsningar\nErik Nilsson",
        expect="Swedish complaint (damaged item); Swedish reply",
        html=True,
        complaint=True,
    ),
    Mail(
        "12-et-complaint-wrong-item",
        "et",
        ("Kadri Tamm", "kadri.tamm@example.com"),
        "Kaebus: vale toode tellimuses 10544",
        "Tere!\n\nSain täna oma paki, aga selles oli vale toode. Tellisin halli villase pleedi, "
        "kuid saatsite sinise. Lisaks oli pakend katki.\n\nOlen väga pettunud. Palun saatke "
        "õige toode või tagastage raha.\n\nLugupidamisega\nKadri Tamm",
        expect="Estonian complaint (wrong item); Estonian reply",
        complaint=True,
    ),
    Mail(
        "13-et-delivery-question",
        "et",
        ("Mart Kask", "mart.kask@mail.example"),
        "Küsimus tarneaja kohta",
        "Tere!\n\nKui kaua võtab aega tarne Tartusse? Soovin tellida kaks kruusi jõulukingiks. "
        "Kas saadate ka pakiautomaati?\n\nAitäh ette!\nMart",
        expect="Estonian question; not a complaint",
    ),
    Mail(
        "14-en-to-sales-address",
        "en",
        ("Daniel Price", "daniel.price@example.com"),
        "Exchange a scarf for another colour",
        "Hi,\n\nI bought a scarf last week and would like to exchange it for another colour. "
        "What do I need to do?\n\nBest,\nDaniel",
        expect="human mail to the unsupported address sales@shop.example: redirected to support",
        to=SALES,
    ),
    Mail(
        "15-newsletter",
        "en",
        ("Packaging Weekly", "news@packaging-weekly.example"),
        "Packaging Weekly #47: five ideas for sustainable gift wrap",
        "This week: five ideas for sustainable gift wrap, the new EU packaging rules explained, "
        "and our Black Friday supplier discounts.\n\nRead online: "
        "https://packaging-weekly.example/issues/47\n\nYou receive this because you subscribed "
        "at packaging-weekly.example. Unsubscribe: https://packaging-weekly.example/u/8f2c",
        expect="automated: newsletter (List-Id, List-Unsubscribe, Precedence: bulk); no reply",
        html=True,
        automated=True,
        headers=(
            ("List-Id", "Packaging Weekly <weekly.packaging-weekly.example>"),
            (
                "List-Unsubscribe",
                "<https://packaging-weekly.example/u/8f2c>, "
                "<mailto:unsubscribe@packaging-weekly.example?subject=8f2c>",
            ),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
        ),
    ),
    Mail(
        "16-bounce-mailer-daemon",
        "en",
        ("", "MAILER-DAEMON@mx.shop.example"),
        "",
        "",
        expect="automated: bounce (empty Return-Path, MAILER-DAEMON, delivery-status report)",
        automated=True,
    ),
    Mail(
        "17-de-out-of-office",
        "de",
        ("Sabine Wolf", "sabine.wolf@example.com"),
        "Abwesenheitsnotiz: Ihre Bestellung 10502 wurde versandt",
        "Vielen Dank für Ihre Nachricht.\n\nIch bin bis einschließlich 30. November nicht im "
        "Büro und habe nur eingeschränkt Zugriff auf meine E-Mails. In dringenden Fällen wenden "
        "Sie sich bitte an meine Kollegin unter info@example.com.\n\nSabine Wolf",
        expect="automated: out-of-office reply (Auto-Submitted: auto-replied); no reply",
        automated=True,
        cte="quoted-printable",
        headers=(("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")),
    ),
    Mail(
        "18-dhl-shipping-noreply",
        "en",
        ("DHL Parcel", "noreply@dhl.example"),
        "Your parcel 00340434161234567890 is on its way",
        "Hello,\n\nyour parcel from Cosy Home Shop is on its way and will be delivered on "
        "Thursday, 26 November 2026, between 10:00 and 14:00.\n\nTrack your parcel: "
        "https://www.dhl.example/track?id=00340434161234567890\n\nThis is an automatically "
        "generated message. Please do not reply.",
        expect="automated: noreply shipping notification; no reply",
        html=True,
        automated=True,
    ),
    Mail(
        "19-marketplace-sale-notification",
        "en",
        ("CraftyMarket", "notifications@craftymarket.example"),
        "You made a sale on CraftyMarket! Order #2841937561",
        "Congratulations, you made a sale!\n\nOrder #2841937561\n1 x Hand-knitted wool scarf, "
        "charcoal - EUR 39.00\nShip to: Laura Fischer, Hamburg, Germany\nShip by: 27 Nov 2026\n\n"
        "View the order in your shop manager: https://craftymarket.example/your/orders/2841937561",
        expect="automated: marketplace notification (notifications@ sender); no reply",
        html=True,
        automated=True,
    ),
]


# --- customer fixtures ------------------------------------------------------------------------

VIP = "bigcustomer.example"

CUSTOMER: list[Mail] = [
    # English
    Mail(
        "en-01-damaged-lamp",
        "en",
        ("Rachel Green", "rachel.green@example.com"),
        "Lamp shade dented on arrival (order 20114)",
        "Hello,\n\nthe table lamp from order 20114 arrived today and the shade is badly "
        "dented. The box looked like it had been dropped. Could you send a new shade?\n\n"
        "Thanks,\nRachel",
        complaint=True,
        html=True,
    ),
    Mail(
        "en-02-late-delivery",
        "en",
        ("Tom Fletcher", "tom.fletcher@mail.example"),
        "Order still not delivered after 3 weeks",
        "Hi,\n\nI ordered two cushion covers on 2 November and they still haven't arrived. The "
        "tracking has said 'in transit' for ten days. This is not acceptable, I needed them for "
        "a family visit.\n\nPlease sort this out.\nTom",
        complaint=True,
    ),
    Mail(
        "en-03-wrong-size",
        "en",
        ("Priya Patel", "priya.patel@example.com"),
        "Wrong size sent",
        "Dear support team,\n\nI ordered the linen shirt in size M but received size XL. I'm "
        "quite disappointed as this was a gift. How can I get the right size?\n\nRegards,\n"
        "Priya Patel",
        complaint=True,
        reply_to="priya.p@mail.example",
    ),
    Mail(
        "en-04-angry-caps",
        "en",
        ("Gary Holt", "gary.holt@example.com"),
        "WORST SERVICE EVER",
        "THREE EMAILS AND NOT ONE ANSWER. YOUR PRODUCT FELL APART AFTER TWO DAYS. I WANT A "
        "FULL REFUND NOW!!!",
        complaint=True,
        angry=True,
    ),
    Mail(
        "en-05-urgent-chargeback",
        "en",
        ("Laura Mitchell", "laura.mitchell@example.com"),
        "Final notice before chargeback - order 19876",
        "This is the third time I'm contacting you about order 19876. I was charged twice and "
        "nobody has refunded the second payment. If I don't hear back by tomorrow I will "
        "dispute the charge with my credit card company.\n\nLaura Mitchell",
        complaint=True,
        urgent=True,
        in_reply_to="<20261110080000.19876@example.com>",
    ),
    Mail(
        "en-06-urgent-lawyer-review",
        "en",
        ("James O'Connor", "james.oconnor@mail.example"),
        "Defective heater - legal action",
        "Your electric heater started smoking on the second day of use. This is a safety "
        "hazard. I have contacted my lawyer and trading standards, and I will post a review "
        "warning other customers unless you respond immediately.\n\nJames O'Connor",
        complaint=True,
        urgent=True,
        angry=True,
    ),
    Mail(
        "en-07-vip-reorder",
        "en",
        ("Lars Eriksen", "lars.eriksen@bigcustomer.example"),
        "Reorder: 120 candles for our stores",
        "Hi,\n\nplease prepare the same order as in October: 120 of the amber candles, split "
        "across our three stores. Invoice to the usual address.\n\nThanks,\nLars Eriksen\n"
        "Purchasing, BigCustomer Ltd",
        vip=True,
        html=True,
    ),
    Mail(
        "en-08-vip-complaint",
        "en",
        ("Anna Lindqvist", "anna@bigcustomer.example"),
        "Damaged boxes in yesterday's delivery",
        "Hello,\n\nsix of the forty gift boxes delivered yesterday were crushed and cannot be "
        "given to our staff. Could you replace them before Friday?\n\nKind regards,\nAnna",
        complaint=True,
        vip=True,
    ),
    Mail(
        "en-09-question-returns",
        "en",
        ("Hannah Lee", "hannah.lee@example.com"),
        "How do returns work?",
        "Hello,\n\nI'm thinking of ordering two sizes of the wool slippers and returning the "
        "pair that doesn't fit. How does that work, and who pays for return postage?\n\n"
        "Thank you!\nHannah",
    ),
    Mail(
        "en-10-question-gift-wrap",
        "en",
        ("Ben Carter", "ben.carter@example.com"),
        "Gift wrapping and a card?",
        "Hi,\n\ncan you gift-wrap an order and add a small card with a message? It's for my "
        "mum's birthday next week.\n\nCheers,\nBen",
        html=True,
    ),
    Mail(
        "en-11-praise",
        "en",
        ("Olivia Brooks", "olivia.brooks@mail.example"),
        "Thank you - beautiful quality",
        "Just wanted to say the throw arrived and it's even nicer than in the photos. Lovely "
        "packaging too. Thank you!\n\nOlivia",
    ),
    Mail(
        "en-12-out-of-office",
        "en",
        ("Mark Evans", "mark.evans@example.com"),
        "Automatic reply: Your order 20120 has shipped",
        "Thank you for your email. I am out of the office until Monday 30 November with "
        "limited access to email.\n\nMark Evans",
        automated=True,
        headers=(("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")),
    ),
    # German
    Mail(
        "de-01-beschaedigt",
        "de",
        ("Monika Hoffmann", "monika.hoffmann@example.com"),
        "Beschädigte Lieferung – Bestellung 20133",
        "Guten Tag,\n\nleider kam die Vase aus Bestellung 20133 zerbrochen bei mir an. Der "
        "Karton war eingedrückt. Bitte schicken Sie mir Ersatz.\n\nViele Grüße\nMonika Hoffmann",
        complaint=True,
        cte="quoted-printable",
    ),
    Mail(
        "de-02-falscher-artikel",
        "de",
        ("Stefan Braun", "stefan.braun@mail.example"),
        "Falscher Artikel geliefert",
        "Hallo,\n\nich habe eine graue Decke bestellt und eine beige bekommen. Das ist ärgerlich, "
        "weil es ein Geschenk sein sollte. Wie geht es jetzt weiter?\n\nStefan Braun",
        complaint=True,
        html=True,
    ),
    Mail(
        "de-03-lieferverzug",
        "de",
        ("Claudia Richter", "c.richter@posteo.example"),
        "Wo bleibt meine Bestellung?",
        "Sehr geehrte Damen und Herren,\n\nmeine Bestellung vom 3. November ist immer noch "
        "nicht angekommen, obwohl Sie eine Lieferzeit von 3–5 Tagen angeben. Ich bin sehr "
        "enttäuscht.\n\nMit freundlichen Grüßen\nClaudia Richter",
        complaint=True,
    ),
    Mail(
        "de-04-wuetend",
        "de",
        ("Frank Zimmermann", "frank.zimmermann@example.com"),
        "UNVERSCHÄMTHEIT!!!",
        "SEIT DREI WOCHEN WARTE ICH AUF MEIN GELD!!! KEINER ANTWORTET! SO EIN SCHLECHTER "
        "SERVICE IST MIR NOCH NIE PASSIERT!!!",
        complaint=True,
        angry=True,
    ),
    Mail(
        "de-05-dringend-anwalt",
        "de",
        ("Andrea Koch", "andrea.koch@example.com"),
        "Letzte Frist: Erstattung Bestellung 19902",
        "Guten Tag,\n\nich habe Sie bereits zweimal angeschrieben. Die Rücksendung ist seit "
        "vier Wochen bei Ihnen, die Erstattung fehlt. Ich setze Ihnen eine letzte Frist bis "
        "Freitag, danach schalte ich meinen Anwalt ein.\n\nAndrea Koch",
        complaint=True,
        urgent=True,
        cte="quoted-printable",
    ),
    Mail(
        "de-06-dringend-rueckbuchung",
        "de",
        ("Markus Wagner", "markus.wagner@mail.example"),
        "Zum dritten Mal – doppelt abgebucht",
        "Hallo,\n\nzum dritten Mal: Sie haben meine Bestellung doppelt abgebucht. Wenn das bis "
        "morgen nicht geklärt ist, lasse ich die Lastschrift zurückbuchen und melde mich bei "
        "der Verbraucherzentrale.\n\nMarkus Wagner",
        complaint=True,
        urgent=True,
        in_reply_to="<20261112094500.doppelt@mail.example>",
    ),
    Mail(
        "de-07-vip-anfrage",
        "de",
        ("Jonas Weber", "jonas.weber@bigcustomer.example"),
        "Angebot für 60 Geschenkboxen",
        "Guten Tag,\n\nwir möchten für unsere Filialen in Berlin und Hamburg 60 Geschenkboxen "
        "bestellen. Können Sie uns bis Mittwoch ein Angebot schicken?\n\nBeste Grüße\n"
        "Jonas Weber\nEinkauf, BigCustomer GmbH",
        vip=True,
        cte="quoted-printable",
        html=True,
    ),
    Mail(
        "de-08-frage-groesse",
        "de",
        ("Lena Schulz", "lena.schulz@example.com"),
        "Frage zur Größe der Hausschuhe",
        "Hallo,\n\nfallen die Filzhausschuhe eher klein oder groß aus? Ich habe normalerweise "
        "Größe 39.\n\nDanke und liebe Grüße\nLena",
    ),
    Mail(
        "de-09-frage-rechnung",
        "de",
        ("Peter Neumann", "peter.neumann@mail.example"),
        "Rechnung mit Firmenadresse möglich?",
        "Guten Tag,\n\nkönnen Sie die Rechnung für meine Bestellung 20141 auf meine "
        "Firmenadresse ausstellen? Die Adresse steht unten.\n\nVielen Dank\nPeter Neumann\n"
        "Neumann Design, Hauptstraße 5, 10115 Berlin",
    ),
    Mail(
        "de-10-lob",
        "de",
        ("Sarah Fischer", "sarah.fischer@example.com"),
        "Ganz toll, danke!",
        "Hallo ihr Lieben,\n\ndie Kerzen sind angekommen und duften wunderbar! Schnelle "
        "Lieferung, schöne Verpackung – ich bin begeistert!\n\nSarah",
        cte="base64",
    ),
    Mail(
        "de-11-abwesenheit",
        "de",
        ("Ulrike Meyer", "ulrike.meyer@example.com"),
        "Abwesenheitsnotiz: Ihre Bestellung 20150",
        "Ich bin bis zum 1. Dezember im Urlaub. Ihre Nachricht wird nicht weitergeleitet.\n\n"
        "Ulrike Meyer",
        automated=True,
        headers=(("Auto-Submitted", "auto-replied"),),
    ),
    # Swedish
    Mail(
        "sv-01-trasig",
        "sv",
        ("Anders Lund", "anders.lund@example.com"),
        "Trasig kanna i leveransen",
        "Hej,\n\nkannan i order 20160 var trasig när paketet kom. Kan ni skicka en ny?\n\n"
        "Mvh\nAnders Lund",
        complaint=True,
    ),
    Mail(
        "sv-02-fel-vara",
        "sv",
        ("Sara Holm", "sara.holm@mail.example"),
        "Fel vara skickad",
        "Hej!\n\nJag beställde en grå pläd men fick en blå. Jag är besviken eftersom det var en "
        "present. Hur gör jag för att byta?\n\nHälsningar\nSara",
        complaint=True,
        html=True,
    ),
    Mail(
        "sv-03-forsenad",
        "sv",
        ("Johan Berg", "johan.berg@example.com"),
        "Försenad leverans – order 20088",
        "Hej,\n\nmin order 20088 skulle ha kommit för en vecka sedan men inget har hänt. "
        "Spårningen har inte uppdaterats på tio dagar. Det här är inte okej.\n\nJohan Berg",
        complaint=True,
        cte="base64",
    ),
    Mail(
        "sv-04-arg",
        "sv",
        ("Peter Ek", "peter.ek@example.com"),
        "SKANDAL!!!",
        "JAG HAR VÄNTAT I TRE VECKOR OCH INGEN SVARAR!!! GE MIG MINA PENGAR TILLBAKA NU!!!",
        complaint=True,
        angry=True,
    ),
    Mail(
        "sv-05-bradskande-advokat",
        "sv",
        ("Maria Lindberg", "maria.lindberg@mail.example"),
        "Tredje gången jag skriver – återbetalning",
        "Hej,\n\ndet här är tredje gången jag skriver om min retur. Pengarna har fortfarande "
        "inte kommit tillbaka. Om jag inte får svar i dag kontaktar jag min advokat och "
        "Allmänna reklamationsnämnden.\n\nMaria Lindberg",
        complaint=True,
        urgent=True,
        cte="base64",
    ),
    Mail(
        "sv-06-bradskande-bank",
        "sv",
        ("Nils Andersson", "nils.andersson@example.com"),
        "Dubbeldragning – bestrider köpet",
        "Hej,\n\nni har dragit pengarna två gånger för samma order. Om det inte är löst senast "
        "i morgon bestrider jag köpet hos min bank.\n\nNils Andersson",
        complaint=True,
        urgent=True,
        in_reply_to="<20261116110000.dubbel@example.com>",
    ),
    Mail(
        "sv-07-vip-bestallning",
        "sv",
        ("Karin Sjöberg", "karin.sjoberg@bigcustomer.example"),
        "Beställning till våra butiker",
        "Hej,\n\nvi vill beställa 50 ljus och 20 filtar till våra butiker i Göteborg. Kan ni "
        "leverera före den 10 december?\n\nVänliga hälsningar\nKarin Sjöberg\nBigCustomer AB",
        vip=True,
        html=True,
    ),
    Mail(
        "sv-08-fraga-leverans",
        "sv",
        ("Emma Larsson", "emma.larsson@example.com"),
        "Fråga om leveranstid",
        "Hej!\n\nHur lång är leveranstiden till Umeå? Jag vill gärna ha paketet före jul.\n\n"
        "Tack på förhand!\nEmma",
    ),
    Mail(
        "sv-09-fraga-presentkort",
        "sv",
        ("Oskar Nyström", "oskar.nystrom@mail.example"),
        "Säljer ni presentkort?",
        "Hej,\n\nsäljer ni presentkort, och i så fall kan man välja belopp själv?\n\nMvh Oskar",
    ),
    Mail(
        "sv-10-berom",
        "sv",
        ("Linnea Åberg", "linnea.aberg@example.com"),
        "Så nöjd!!",
        "Hej!\n\nMuggarna kom i går och de är jättefina! Snabb leverans och fint paketerat. "
        "Tack så mycket!\n\nLinnea",
        cte="base64",
    ),
    Mail(
        "sv-11-franvaro",
        "sv",
        ("Gustav Dahl", "gustav.dahl@example.com"),
        "Autosvar: Din order 20171 har skickats",
        "Jag är tjänstledig till och med den 15 december och läser inte min e-post.\n\nGustav Dahl",
        automated=True,
        headers=(("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes")),
    ),
    # Estonian
    Mail(
        "et-01-katki",
        "et",
        ("Liis Saar", "liis.saar@example.com"),
        "Katkine kruus tellimuses 20180",
        "Tere!\n\nTellimuses 20180 olnud kruus oli katki, kui pakk kohale jõudis. Palun saatke "
        "uus kruus.\n\nLugupidamisega\nLiis Saar",
        complaint=True,
    ),
    Mail(
        "et-02-vale-toode",
        "et",
        ("Andres Mägi", "andres.magi@mail.example"),
        "Saadeti vale toode",
        "Tere,\n\ntellisin halli pleedi, aga sain beeži. Olen pettunud, sest see pidi olema "
        "kingitus. Kuidas ma saan selle ära vahetada?\n\nAndres",
        complaint=True,
        html=True,
    ),
    Mail(
        "et-03-hilinenud",
        "et",
        ("Kristi Lepp", "kristi.lepp@example.com"),
        "Tellimus on hilinenud",
        "Tere!\n\nMinu tellimus 20095 pidi saabuma eelmisel nädalal, kuid seda pole ikka veel. "
        "Jälgimisinfo ei ole kümme päeva muutunud. See ei ole normaalne.\n\nKristi Lepp",
        complaint=True,
    ),
    Mail(
        "et-04-vihane",
        "et",
        ("Toomas Kuusk", "toomas.kuusk@example.com"),
        "MIKS KEEGI EI VASTA???",
        "OLEN KOLM NÄDALAT OODANUD JA KEEGI EI VASTA!!! TAGASTAGE MINU RAHA KOHE!!!",
        complaint=True,
        angry=True,
    ),
    Mail(
        "et-05-kiire-jurist",
        "et",
        ("Piret Ilves", "piret.ilves@mail.example"),
        "Kirjutan juba kolmandat korda – raha tagastamine",
        "Tere,\n\nkirjutan teile juba kolmandat korda. Tagastasin toote neli nädalat tagasi, "
        "kuid raha pole ikka veel tagasi kantud. Kui ma reedeks vastust ei saa, pöördun "
        "juristi ja Tarbijakaitse ja Tehnilise Järelevalve Ameti poole.\n\nPiret Ilves",
        complaint=True,
        urgent=True,
    ),
    Mail(
        "et-06-kiire-pank",
        "et",
        ("Rein Tamm", "rein.tamm@example.com"),
        "Raha võeti kaks korda – vaidlustan makse",
        "Tere,\n\nmu kaardilt võeti sama tellimuse eest raha kaks korda. Kui see homseks "
        "korda ei saa, vaidlustan makse oma pangas.\n\nRein Tamm",
        complaint=True,
        urgent=True,
        in_reply_to="<20261118073000.topelt@example.com>",
    ),
    Mail(
        "et-07-vip-tellimus",
        "et",
        ("Mari Kivi", "mari.kivi@bigcustomer.example"),
        "Tellimus meie kontoritele",
        "Tere!\n\nSooviksime tellida 30 kingikarpi meie Tallinna ja Tartu kontoritele. Kas "
        "jõuate need tarnida enne 8. detsembrit?\n\nParimate soovidega\nMari Kivi\n"
        "BigCustomer OÜ",
        vip=True,
        html=True,
    ),
    Mail(
        "et-08-kusimus-tarne",
        "et",
        ("Kati Rebane", "kati.rebane@mail.example"),
        "Küsimus tarne kohta",
        "Tere!\n\nKas saadate ka Saaremaale ja kui kaua tarne aega võtab?\n\nAitäh!\nKati",
    ),
    Mail(
        "et-09-kusimus-suurus",
        "et",
        ("Jaan Oja", "jaan.oja@example.com"),
        "Millise suuruse valida?",
        "Tere,\n\nkas villased sussid on pigem suured või väikesed? Kannan tavaliselt "
        "suurust 43.\n\nTänan\nJaan",
    ),
    Mail(
        "et-10-kiitus",
        "et",
        ("Triin Sepp", "triin.sepp@example.com"),
        "Suur aitäh!!",
        "Tere!\n\nPleed jõudis kohale ja on imeilus! Kiire tarne ja ilus pakend. Tellin "
        "kindlasti veel!\n\nTriin",
    ),
    Mail(
        "et-11-eemal",
        "et",
        ("Kalle Pärn", "kalle.parn@example.com"),
        "Automaatvastus: Teie tellimus 20190 on teele pandud",
        "Olen puhkusel kuni 2. detsembrini ega loe oma e-kirju.\n\nKalle Pärn",
        automated=True,
        headers=(("Auto-Submitted", "auto-replied"),),
    ),
]


# --- writing ----------------------------------------------------------------------------------


def _dates(start: datetime, count: int) -> Iterator[datetime]:
    for number in range(count):
        # Spread over a working week, at odd minutes, so the demo shows open and closed hours.
        yield start + timedelta(hours=7 * number, minutes=13 * number)


def _local(when: datetime, lang: str) -> datetime:
    return when.astimezone(TZ[lang])


def demo_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    start = datetime(2026, 11, 23, 7, 5, tzinfo=UTC)
    for mail, when in zip(DEMO, _dates(start, len(DEMO)), strict=True):
        local = _local(when, mail.lang)
        raw = build_bounce(local) if mail.slug.startswith("16-bounce") else build(mail, local)
        files[f"{mail.slug}.eml"] = raw
    lines = [
        "Sample mail that `inboxbot demo` seeds into a temporary Maildir (only *.eml files).",
        "Regenerate with: python scripts/make_fixtures.py",
        "The support address is support@shop.example; sales@shop.example is unsupported;",
        "the demo config lists bigcustomer.example as a VIP domain.",
        "",
    ]
    lines += [f"{m.slug}.eml\n    {m.expect}" for m in DEMO]
    files["README.txt"] = ("\n".join(lines) + "\n").encode("utf-8")
    return files


def customer_files() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    start = datetime(2026, 11, 2, 8, 17, tzinfo=UTC)
    manifest = [
        "# Expected classification of each customer fixture (generated by",
        "# scripts/make_fixtures.py; edit the tables there, not this file).",
        "# complaint: the customer is unhappy with a product, delivery or service.",
        "# urgent: a complaint that needs fast action: a threat (lawyer, chargeback, bank",
        '#   dispute, consumer authority, public review), a repeated contact ("third time")',
        "#   or a short deadline. Every urgent fixture is also a complaint.",
        "# angry: shouting (capitals, !!!) or insults. vip: sender domain bigcustomer.example.",
        "# automated: an out-of-office reply (Auto-Submitted) that must never be answered.",
        "",
        f'vip_domains = ["{VIP}"]',
        "",
    ]
    for mail, when in zip(CUSTOMER, _dates(start, len(CUSTOMER)), strict=True):
        name = f"{mail.slug}.eml"
        files[name] = build(mail, _local(when, mail.lang))
        manifest += [
            f'[files."{name}"]',
            f'language = "{mail.lang}"',
            f"complaint = {str(mail.complaint).lower()}",
            f"urgent = {str(mail.urgent).lower()}",
            f"vip = {str(mail.vip).lower()}",
            f"angry = {str(mail.angry).lower()}",
            f"automated = {str(mail.automated).lower()}",
            "",
        ]
    files["manifest.toml"] = "\n".join(manifest).encode("utf-8")
    return files


def _sync(directory: Path, files: dict[str, bytes], *, check: bool) -> list[str]:
    """Write `files` into `directory` (removing stale .eml files); return what differed."""
    stale = {p.name for p in directory.glob("*.eml")} - set(files) if directory.exists() else set()
    differ = sorted(stale)
    for name, data in files.items():
        path = directory / name
        if not path.exists() or path.read_bytes() != data:
            differ.append(name)
    if not check:
        directory.mkdir(parents=True, exist_ok=True)
        for name in stale:
            (directory / name).unlink()
        for name, data in files.items():
            (directory / name).write_bytes(data)
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date files")
    args = parser.parse_args(argv)
    differ = _sync(DEMO_DIR, demo_files(), check=args.check)
    differ += _sync(CUSTOMER_DIR, customer_files(), check=args.check)
    if args.check and differ:
        print("out of date: " + ", ".join(differ), file=sys.stderr)
        return 1
    print(
        f"{len(DEMO)} demo and {len(CUSTOMER)} customer messages"
        + (" up to date" if args.check else " written")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
