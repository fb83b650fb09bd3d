#!/usr/bin/env python3
"""Backlog triage throughput: inboxbot against imapfilter and imapautofiler on a real Dovecot.

What it does, in one run:
1. starts a private Dovecot on a free 127.0.0.1 port (tests/dovecot.py DovecotServer);
2. seeds N realistic support mails (mixed senders and languages, HTML parts, attachments,
   newsletters, bounces; some from the VIP domain, some with "urgent"/"asap" in the subject)
   into a template user with MULTIAPPEND, then gives every contender its own fresh,
   byte-identical copy of that Maildir (cp -a, Dovecot index files included);
3. runs every contender on its copy with the SAME two header rules
       From *@vip.example           -> move to VIP (and stop)
       Subject has "urgent"/"asap"  -> move to Urgent
   timing the whole process (start-up included) and its peak RSS (wait4 rusage);
4. verifies each result by Message-ID against what the generator knows: a contender whose
   folders are wrong gets no figure;
5. optionally (default on) runs inboxbot once more with the shipped default rules minus the
   outgoing actions (reply/redirect), classifier on, to measure end-to-end classification
   throughput (body text fetched and parsed).

    .venv/bin/python benchmarks/bench_triage.py --messages 10000
    .venv/bin/python benchmarks/bench_triage.py --messages 2000 --peers imapfilter --repeat 3

Exit status: 0 when every contender that ran produced a verified result, 1 otherwise.
"""

from __future__ import annotations

import argparse
import email.policy
import email.utils
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # type: ignore[import-untyped]  # noqa: E402

from tests.dovecot import DovecotServer  # noqa: E402

VIP_DOMAIN = "vip.example"
KEYWORDS = ("urgent", "asap")
SHOP = "support@shop.example"
PEERS = ("imapfilter", "imapautofiler")
SEED_CHUNK = 500  # messages per MULTIAPPEND
PYTHON = sys.executable

# --------------------------------------------------------------------------------------------
# The mail: deterministic, realistic enough that parsing and fetching cost what they would
# --------------------------------------------------------------------------------------------

FIRST = ["Anna", "Jonas", "Maria", "Lukas", "Sofia", "Erik", "Liis", "Mart", "Jürgen", "Åsa",
         "Märt", "Björn", "Chloé", "Noah", "Emma", "Oliver", "Kadri", "Tõnu", "Zoë", "Mikael"]
LAST = ["Müller", "Svensson", "Tamm", "Smith", "Schneider", "Lindqvist", "Saar", "Jones",
        "Weiß", "Öberg", "Kask", "Brown", "Fischer", "Nilsson", "Mägi", "Taylor"]
DOMAINS = ["mail.example", "posteo.example", "web.example", "firma-gmbh.example",
           "telia.example", "elion.example", "outlook.example", "gmx.example",
           "shop-kunde.example", "uni-tartu.example"]

SUBJECTS = {
    "en": ["Question about order #{n}", "Where is my parcel?", "Invoice for order {n}",
           "Return request", "Wrong size delivered", "Gift card balance", "Change my address",
           "Re: Your order {n} has shipped", "Damaged item in order {n}", "Opening hours",
           "Payment failed", "Cancel order {n}, please"],
    "de": ["Frage zu Bestellung {n}", "Rücksendung Bestellung {n}", "Rechnung benötigt",
           "Lieferung fehlt", "Falsche Größe geliefert", "Adresse ändern",
           "AW: Ihre Bestellung {n} wurde versandt", "Beschädigte Ware"],
    "sv": ["Fråga om order {n}", "Var är mitt paket?", "Retur av order {n}", "Faktura",
           "Fel storlek levererad", "Sv: Din order {n} har skickats"],
    "et": ["Küsimus tellimuse {n} kohta", "Kus on minu pakk?", "Tellimuse {n} tagastus",
           "Arve vajalik", "Vale suurus", "Vs: Teie tellimus {n} on teel"],
}
URGENT_SUBJECTS = ["URGENT: order {n} not arrived", "Urgent - wrong item sent",
                   "Please answer ASAP", "Need a refund asap!", "Re: urgent question about {n}",
                   "Dringend / urgent: Bestellung {n}", "Asap: brådskande leverans {n}",
                   "Kiire (urgent): tellimus {n}"]
# Per language: greeting, neutral sentences, complaint sentences, closing.
BODY: dict[str, tuple[str, list[str], list[str], str]] = {
    "en": ("Hello,",
           ["Could you please tell me when my order will be delivered?",
            "Please send me the invoice for my company.",
            "Do you also sell gift cards?", "I would like to change my delivery address.",
            "Is the blue lamp available again?", "Thank you in advance!"],
           ["The parcel arrived damaged and the glass is broken.",
            "This is the third time I am writing and nobody answers. I want a refund.",
            "I am very disappointed with your service.",
            "The lamp I ordered two weeks ago still has not arrived."],
           "Best regards,"),
    "de": ("Hallo,",
           ["Können Sie mir bitte sagen, wann meine Bestellung geliefert wird?",
            "Bitte schicken Sie mir eine Rechnung für meine Firma.",
            "Verkaufen Sie auch Gutscheine?", "Ich möchte meine Lieferadresse ändern.",
            "Vielen Dank im Voraus!"],
           ["Das Paket kam beschädigt an, das Glas ist kaputt.",
            "Ich bin sehr enttäuscht und erwarte eine Erstattung.",
            "Die Lampe ist nach zwei Wochen immer noch nicht da."],
           "Mit freundlichen Grüßen"),
    "sv": ("Hej,",
           ["Kan ni säga när min beställning levereras?", "Skicka gärna en faktura till mitt "
            "företag.", "Säljer ni presentkort?", "Jag vill ändra min leveransadress.",
            "Tack på förhand!"],
           ["Paketet kom trasigt och glaset är sönder.",
            "Jag är mycket besviken och vill ha pengarna tillbaka.",
            "Lampan har fortfarande inte kommit efter två veckor."],
           "Med vänliga hälsningar"),
    "et": ("Tere,",
           ["Kas saate öelda, millal minu tellimus kohale toimetatakse?",
            "Palun saatke arve minu ettevõttele.", "Kas te müüte ka kinkekaarte?",
            "Soovin muuta oma tarneaadressi.", "Tänan ette!"],
           ["Pakk saabus katkisena ja klaas on puruks.",
            "Olen väga pettunud ja soovin raha tagasi.",
            "Lamp pole kahe nädala järel ikka veel kohale jõudnud."],
           "Lugupidamisega"),
}
COMPLAINT_SHARE = 0.25  # of customer mail: roughly what a small shop's support inbox sees


@dataclass(frozen=True)
class Mail:
    raw: bytes
    message_id: str
    sender: str
    subject: str
    vip: bool
    keyword: bool
    kind: str
    complaint: bool = False  # written as a complaint (for the classifier's figures only)

    @property
    def header_folder(self) -> str:
        """Where the two header rules file it (VIP first, with stop)."""
        if self.vip:
            return "VIP"
        return "Urgent" if self.keyword else "INBOX"


def _paragraphs(rng: random.Random, lang: str, complaint: bool) -> str:
    greeting, neutral, complaints, closing = BODY[lang]
    middle = rng.sample(neutral, k=rng.randint(1, 3))
    if complaint:
        middle = rng.sample(complaints, k=rng.randint(1, 2)) + middle[:1]
    text = "\n\n".join(textwrap.fill(p, 72) for p in [greeting, *middle, closing])
    if rng.random() < 0.3:  # a quoted earlier exchange, as real replies carry
        quoted = "\n".join("> " + line for line in textwrap.fill(
            " ".join(rng.choice(BODY["en"][1]) for _ in range(6)), 70).splitlines())
        text += "\n\nOn Mon, 23 Nov 2026 support@shop.example wrote:\n" + quoted
    return text


def make_mail(index: int, rng: random.Random) -> Mail:
    n = 10000 + index
    roll = rng.random()
    kind = "customer"
    complaint = False
    if roll < 0.05:
        kind = "newsletter"
    elif roll < 0.07:
        kind = "bounce"
    lang = rng.choices(["en", "de", "sv", "et"], weights=[5, 2, 2, 1])[0]
    vip = kind == "customer" and rng.random() < 0.10
    keyword = rng.random() < 0.12
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if kind == "newsletter":
        sender, name = f"news@brand{index % 7}.example", "Brand News"
    elif kind == "bounce":
        sender, name = "MAILER-DAEMON@mx.example.net", ""
    else:
        local = f"{first}.{last}{index % 97}".lower()
        local = local.encode("ascii", "ignore").decode() or f"customer{index}"
        domain = VIP_DOMAIN if vip else rng.choice(DOMAINS)
        sender, name = f"{local}@{domain}", f"{first} {last}"
    if kind == "bounce":
        subject = "Undelivered Mail Returned to Sender"
        keyword = False
    elif keyword:
        subject = rng.choice(URGENT_SUBJECTS).format(n=n)
    elif kind == "newsletter":
        subject = f"Our weekly deals #{index}"
    else:
        subject = rng.choice(SUBJECTS[lang]).format(n=n)
    assert keyword == any(k in subject.lower() for k in KEYWORDS), subject

    mail = EmailMessage()
    mail["Return-Path"] = "<>" if kind == "bounce" else f"<{sender}>"
    mail["Received"] = (f"from mx{index % 5}.example.net (mx{index % 5}.example.net "
                        f"[192.0.2.{index % 250 + 1}]) by mail.shop.example with ESMTPS id "
                        f"{index:08X}; Mon, 23 Nov 2026 10:{index % 60:02d}:00 +0100")
    mail["From"] = email.utils.formataddr((name, sender)) if name else sender
    mail["To"] = SHOP
    mail["Subject"] = subject
    mail["Date"] = email.utils.format_datetime(
        email.utils.parsedate_to_datetime("Mon, 23 Nov 2026 10:00:00 +0100")
        .replace(minute=index % 60, second=index % 59))
    message_id = f"<bench.{index}.{rng.getrandbits(32):08x}@{sender.rpartition('@')[2]}>"
    mail["Message-ID"] = message_id
    mail["MIME-Version"] = "1.0"
    if kind == "newsletter":
        mail["List-Id"] = f"<deals.brand{index % 7}.example>"
        mail["List-Unsubscribe"] = f"<mailto:leave@brand{index % 7}.example>"
        mail["Precedence"] = "bulk"
    if kind == "bounce":
        mail["Auto-Submitted"] = "auto-replied"
        body = ("This is the mail system at host mx.example.net.\n\nI'm sorry to have to "
                "inform you that your message could not be delivered.\n\n"
                f"<customer{index}@gone.example>: host said: 550 5.1.1 User unknown\n")
    else:
        complaint = rng.random() < COMPLAINT_SHARE
        body = _paragraphs(rng, lang, complaint) + f"\n\n{name}\nOrder {n}\n"
    mail.set_content(body)
    if kind == "newsletter" or rng.random() < 0.15:
        paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
        html = f"<html><body>{paragraphs}</body></html>"
        mail.add_alternative(html, subtype="html")
    if kind == "customer" and rng.random() < 0.05:  # a photo or PDF, never needed by triage
        payload = rng.randbytes(rng.randint(20_000, 80_000))
        mail.add_attachment(payload, maintype="application", subtype="pdf",
                            filename=f"receipt-{n}.pdf")
    for depth, part in enumerate(p for p in mail.walk() if p.is_multipart()):
        part.set_boundary(f"=_bench_{index}_{depth}_{rng.getrandbits(48):012x}")  # reproducible
    raw = mail.as_bytes(policy=email.policy.SMTP)  # CRLF, as mail arrives over SMTP
    return Mail(raw, message_id, sender, subject, vip, keyword, kind, complaint)


def make_mails(count: int, seed: int = 2026) -> list[Mail]:
    rng = random.Random(seed)
    return [make_mail(i, rng) for i in range(count)]


# --------------------------------------------------------------------------------------------
# The server and the mailboxes
# --------------------------------------------------------------------------------------------


@dataclass
class Account:
    user: str
    password: str
    home: Path

    def client(self, server: DovecotServer) -> IMAPClient:
        client = IMAPClient(server.host, server.port, ssl=False, timeout=120)
        client.login(self.user, self.password)
        return client


class Lab:
    """A private Dovecot plus a seeded template mailbox that contenders get copies of."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="inboxbot-bench-"))
        self.root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
        (self.root / "dovecot").mkdir(exist_ok=True)
        self.server = DovecotServer(self.root / "dovecot")
        self.template: Account | None = None

    def __enter__(self) -> Lab:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def new_account(self) -> Account:
        user, password, home = self.server.add_user()
        return Account(user, password, home)

    def seed(self, mails: Sequence[Mail], folders: Iterable[str] = ("VIP", "Urgent")) -> float:
        """Fill a template user's INBOX; returns the seconds it took."""
        started = time.monotonic()
        self.template = self.new_account()
        client = self.template.client(self.server)
        try:
            for folder in folders:
                client.create_folder(folder)
                client.subscribe_folder(folder)
            for start in range(0, len(mails), SEED_CHUNK):
                client.multiappend("INBOX", [m.raw for m in mails[start:start + SEED_CHUNK]])
            client.select_folder("INBOX", readonly=True)
            exists = len(client.search("ALL"))
        finally:
            client.logout()
        if exists != len(mails):
            raise RuntimeError(f"seeding: INBOX has {exists} messages, expected {len(mails)}")
        return time.monotonic() - started

    def clone(self) -> Account:
        """A new user whose Maildir is a byte-identical copy of the template's."""
        assert self.template is not None, "seed() first"
        account = self.new_account()
        subprocess.run(["cp", "-a", str(self.template.home / "Maildir"), str(account.home)],
                       check=True)
        return account


FOLDERS = ("INBOX", "VIP", "Urgent")


def folder_ids(server: DovecotServer, account: Account,
               folders: Sequence[str] = FOLDERS) -> dict[str, dict[str, set[str]]]:
    """folder -> Message-ID -> flags, ignoring messages marked \\Deleted (not yet expunged)."""
    client = account.client(server)
    result: dict[str, dict[str, set[str]]] = {}
    try:
        for folder in folders:
            result[folder] = {}
            if not client.folder_exists(folder):
                continue
            client.select_folder(folder, readonly=True)
            uids = client.search(["NOT", "DELETED"])
            for start in range(0, len(uids), 2000):
                data = client.fetch(uids[start:start + 2000],
                                    ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                for item in data.values():
                    header = item[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode(errors="replace")
                    mid = header.partition(":")[2].strip()
                    result[folder][mid] = {
                        f.decode() if isinstance(f, bytes) else str(f) for f in item[b"FLAGS"]
                    }
    finally:
        client.logout()
    return result


def verify_header_rules(found: dict[str, dict[str, set[str]]], mails: Sequence[Mail]) -> list[str]:
    """Problems with a contender's result; empty when every message is where it belongs."""
    problems = []
    for folder in ("INBOX", "VIP", "Urgent"):
        expected = {m.message_id for m in mails if m.header_folder == folder}
        got = set(found.get(folder, {}))
        if got != expected:
            problems.append(
                f"{folder}: {len(got)} messages, expected {len(expected)} "
                f"({len(expected - got)} missing, {len(got - expected)} unexpected)"
            )
    return problems


# --------------------------------------------------------------------------------------------
# Running a contender
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    seconds: float
    max_rss_kb: int
    returncode: int
    stdout: str
    stderr: str
    problems: list[str] = field(default_factory=list)
    messages: int = 0

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.problems

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def run_timed(name: str, argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None,
              timeout: float = 3600) -> Run:
    """Run argv to completion: wall-clock seconds (start-up included) and peak RSS.

    Peak RSS comes from GNU time (/usr/bin/time -f %M): a child forked straight from this
    process would inherit this process's (large: it holds the whole seeded mailbox) high-water
    mark in its own ru_maxrss. time's own start adds about a millisecond to the wall clock.
    """
    out, err, rss = (cwd / f"{name}.{ext}" for ext in ("stdout", "stderr", "maxrss"))
    gnu_time = Path("/usr/bin/time")
    prefix = [str(gnu_time), "-f", "%M", "-o", str(rss)] if gnu_time.exists() else []
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen([*prefix, *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=stdout, stderr=stderr)
        try:
            _, status, usage = _wait(proc, timeout)
        finally:
            seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    max_rss_kb = usage.ru_maxrss
    if prefix:
        try:
            max_rss_kb = int(rss.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            max_rss_kb = 0
    return Run(name, seconds, max_rss_kb, proc.returncode,
               out.read_text(errors="replace"), err.read_text(errors="replace"))


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, int, Any]:
    deadline = time.perf_counter() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        if time.perf_counter() > deadline:
            proc.kill()
            return os.wait4(proc.pid, 0)
        time.sleep(0.002)


INBOXBOT_CONFIG = """\
[imap]
host = "127.0.0.1"
port = {port}
security = "plain"
username = "{user}"
password = "{password}"
timeout = 120

[shop]
name = "Bench Shop"
address = "{shop}"

[folders]
vip = "VIP"
urgent = "Urgent"

[vip]
domains = ["{vip}"]

[paths]
rules = "rules"
replies = "replies"
state = "state.json"
"""

HEADER_RULES = """\
[[rule]]
name = "vip domain"
when.from = "*@{vip}"
then.move = "VIP"
stop = true

[[rule]]
name = "urgent subject"
when.subject = {keywords}
then.move = "Urgent"
"""


def inboxbot_workdir(lab: Lab, account: Account, name: str, rules: str | None) -> Path:
    work = lab.root / f"{name}-{account.user}"  # one directory per run (--repeat)
    (work / "rules").mkdir(parents=True)
    (work / "config.toml").write_text(INBOXBOT_CONFIG.format(
        port=lab.server.port, user=account.user, password=account.password, shop=SHOP,
        vip=VIP_DOMAIN))
    if rules is None:
        rules = HEADER_RULES.format(vip=VIP_DOMAIN, keywords=json.dumps(list(KEYWORDS)))
    (work / "rules" / "10-bench.toml").write_text(rules)
    # The shipped templates, as a shop has them (header rules never load them).
    shutil.copytree(ROOT / "replies", work / "replies")
    return work


def default_rules_without(drop: Sequence[str] = ("reply", "redirect")) -> str:
    """rules/10-default.toml minus some actions (by default the outgoing ones: no [smtp])."""
    import tomllib

    text = (ROOT / "rules" / "10-default.toml").read_text()
    data = tomllib.loads(text)
    out = []
    for rule in data["rule"]:
        then = {k: v for k, v in rule.get("then", {}).items() if k not in drop}
        if not then:
            continue  # a rule that only answered has nothing left to do
        out.append(_toml_rule(rule["name"], rule.get("when", {}), then, rule.get("stop", False)))
    return "\n".join(out)


def _toml_rule(name: str, when: dict[str, Any], then: dict[str, Any], stop: bool) -> str:
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return str(v)

    lines = ["[[rule]]", f"name = {json.dumps(name)}"]
    lines += [f"when.{k} = {value(v)}" for k, v in when.items()]
    lines += [f"then.{k} = {value(v)}" for k, v in then.items()]
    if stop:
        lines.append("stop = true")
    return "\n".join(lines) + "\n"


PROFILE_DIR: Path | None = None  # --profile: profile inboxbot runs, output files here
PROFILER = "cprofile"  # or "py-spy" (sampling: far less distortion; needs py-spy on PATH)


def run_inboxbot(lab: Lab, mails: Sequence[Mail], name: str = "inboxbot",
                 rules: str | None = None) -> tuple[Run, Account]:
    account = lab.clone()
    work = inboxbot_workdir(lab, account, name, rules)
    env = dict(os.environ)
    env.pop("INBOXBOT_CONFIG", None)
    # As installed (pip compiles bytecode): the run must not compile inboxbot's source each time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    python = [PYTHON]
    if PROFILE_DIR is not None:
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
        if PROFILER == "py-spy":
            spy = shutil.which("py-spy") or "py-spy"
            python = [spy, "record", "--format", "raw", "--rate", "500", "--nonblocking",
                      "-o", str(PROFILE_DIR / f"{name}.folded"), "--", PYTHON]
        else:
            python += ["-m", "cProfile", "-o", str(PROFILE_DIR / f"{name}.prof")]
    run = run_timed(name, [*python, "-m", "inboxbot", "run", "--once", "-c",
                           str(work / "config.toml")], work, env)
    run.messages = len(mails)
    return run, account


IMAPFILTER_LUA = """\
options.timeout = 120
options.subscribe = true
options.create = true
options.starttls = false

account = IMAP {{
  server = '127.0.0.1',
  port = {port},
  username = '{user}',
  password = '{password}',
}}

inbox = account.INBOX
vip = inbox:select_all():contain_from('@{vip}')
vip:move_messages(account['VIP'])

rest = inbox:select_all()
urgent = rest:contain_subject('urgent') + rest:contain_subject('asap')
urgent:move_messages(account['Urgent'])
"""


def run_imapfilter(lab: Lab, mails: Sequence[Mail]) -> tuple[Run, Account]:
    account = lab.clone()
    work = lab.root / f"imapfilter-{account.user}"
    (work / "home").mkdir(parents=True)
    config = work / "config.lua"
    config.write_text(IMAPFILTER_LUA.format(port=lab.server.port, user=account.user,
                                            password=account.password, vip=VIP_DOMAIN))
    binary = shutil.which("imapfilter")
    if binary is None:
        raise FileNotFoundError("imapfilter is not installed: apt-get install -y imapfilter")
    env = dict(os.environ, HOME=str(work / "home"))
    run = run_timed("imapfilter", [binary, "-c", str(config)], work, env)
    run.messages = len(mails)
    return run, account


IMAPAUTOFILER_YAML = """\
server:
  hostname: 127.0.0.1
  port: {port}
  username: {user}
  password: {password}
  ssl: false
mailboxes:
- name: INBOX
  rules:
  - headers:
    - name: from
      substring: "@{vip}"
    action:
      name: move
      dest-mailbox: VIP
  - or:
      rules:
      - headers:
        - name: subject
          substring: urgent
      - headers:
        - name: subject
          substring: asap
    action:
      name: move
      dest-mailbox: Urgent
"""


def run_imapautofiler(lab: Lab, mails: Sequence[Mail]) -> tuple[Run, Account]:
    account = lab.clone()
    work = lab.root / f"imapautofiler-{account.user}"
    work.mkdir()
    config = work / "imapautofiler.yml"
    config.write_text(IMAPAUTOFILER_YAML.format(port=lab.server.port, user=account.user,
                                                password=account.password, vip=VIP_DOMAIN))
    binary = Path(PYTHON).parent / "imapautofiler"
    argv = [str(binary)] if binary.exists() else [PYTHON, "-m", "imapautofiler.app"]
    run = run_timed("imapautofiler", [*argv, "-c", str(config)], work)
    run.messages = len(mails)
    return run, account


CONTENDERS = {"inboxbot": run_inboxbot, "imapfilter": run_imapfilter,
              "imapautofiler": run_imapautofiler}


# --------------------------------------------------------------------------------------------
# The default-rules (classifier) run
# --------------------------------------------------------------------------------------------


# Where the default rules may file mail ([folders] defaults); the run must lose nothing.
DEFAULT_RUN_FOLDERS = ("INBOX", "VIP", "Urgent", "Channels", "Resolved", "Quarantine")


def verify_default_rules(found: dict[str, dict[str, set[str]]],
                         mails: Sequence[Mail]) -> tuple[list[str], dict[str, int]]:
    problems = []
    counts = {folder: len(ids) for folder, ids in found.items()}
    total = sum(counts.values())
    if total != len(mails):
        problems.append(f"{total} messages in {'+'.join(found)}, expected {len(mails)}")
    vip_expected = {m.message_id for m in mails if m.vip}
    if set(found["VIP"]) != vip_expected:
        problems.append(f"VIP: {len(found['VIP'])} messages, expected {len(vip_expected)}")
    if set(found["Urgent"]) & vip_expected:
        problems.append("VIP senders' mail ended in Urgent")
    unseen = sum(1 for ids in found.values() for flags in ids.values()
                 if "$InboxbotSeen" not in flags)
    if unseen:
        problems.append(f"{unseen} messages without $InboxbotSeen (not processed)")
    flags = {mid: f for ids in found.values() for mid, f in ids.items()}
    tagged = {mid for mid, f in flags.items() if "$Complaint" in f}
    written = {m.message_id for m in mails if m.complaint}
    counts["$Complaint"] = len(tagged)
    counts["complaints written"] = len(written)
    counts["complaints tagged"] = len(tagged & written)  # information, not verification:
    counts["others tagged"] = len(tagged - written)  # the classifier's own tests judge it
    return problems, counts


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def measure(messages: int, peers: Sequence[str], repeat: int = 1, default_rules: bool = True,
            keep: bool = False, log: Any = print,
            drop: Sequence[str] = ("reply", "redirect")) -> dict[str, Any]:
    """The whole benchmark; returns a JSON-able report (see the keys at the end)."""
    mails = make_mails(messages)
    expected = {f: sum(1 for m in mails if m.header_folder == f) for f in FOLDERS}
    size_mb = sum(len(m.raw) for m in mails) / 1e6
    log(f"{messages} messages, {size_mb:.1f} MB; expected after header rules: {expected}")
    report: dict[str, Any] = {"messages": messages, "mbytes": round(size_mb, 1),
                              "expected": expected, "runs": {}, "ok": True,
                              "default_rules_dropped": list(drop)}
    # An editable checkout has no bytecode yet (and PYTHONDONTWRITEBYTECODE may keep it so):
    # compile it once, as `pip install` does, so no run pays for compiling its own source.
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "inboxbot")], check=True)
    lab = Lab()
    try:
        with lab:
            log(f"seeded in {lab.seed(mails):.1f}s (Dovecot on 127.0.0.1:{lab.server.port})")
            names = ["inboxbot", *[p for p in peers if p != "inboxbot"]]
            for attempt in range(repeat):
                for name in names:
                    run, account = CONTENDERS[name](lab, mails)
                    if run.returncode == 0:
                        run.problems = verify_header_rules(folder_ids(lab.server, account), mails)
                    else:
                        run.problems = [f"exit {run.returncode}: {run.stderr.strip()[-400:]}"]
                    _record(report, name, run, log, attempt)
            if default_rules:
                run, account = run_inboxbot(lab, mails, "inboxbot-default",
                                            default_rules_without(drop))
                counts: dict[str, int] = {}
                if run.returncode == 0:
                    found = folder_ids(lab.server, account, DEFAULT_RUN_FOLDERS)
                    run.problems, counts = verify_default_rules(found, mails)
                else:
                    run.problems = [f"exit {run.returncode}: {run.stderr.strip()[-400:]}"]
                _record(report, "inboxbot-default", run, log, 0)
                report["runs"]["inboxbot-default"]["folders"] = counts
                if counts:
                    log(f"    folders and tags after the default rules: {counts}")
    finally:
        if keep:
            log(f"kept {lab.root}")
        else:
            lab.cleanup()
    _summarise(report, log)
    return report


def _record(report: dict[str, Any], name: str, run: Run, log: Any, attempt: int) -> None:
    entry = report["runs"].setdefault(name, {"seconds": [], "max_rss_mb": [], "problems": []})
    if run.ok:
        entry["seconds"].append(round(run.seconds, 3))
        entry["max_rss_mb"].append(round(run.max_rss_kb / 1024, 1))
        log(f"  {name:<17} {run.seconds:7.2f}s  {run.rate:8.0f} msg/s  "
            f"peak RSS {run.max_rss_kb / 1024:6.1f} MB  (verified)")
    else:
        entry["problems"].append(run.problems)
        report["ok"] = False
        log(f"  {name:<17} NO FIGURE (run {attempt + 1}): {'; '.join(run.problems)}")


def _summarise(report: dict[str, Any], log: Any) -> None:
    n = report["messages"]
    rates: dict[str, float] = {}
    for name, entry in report["runs"].items():
        if entry["seconds"] and not entry["problems"]:
            seconds = statistics.median(entry["seconds"])
            entry["median_seconds"] = seconds
            entry["msg_per_s"] = round(n / seconds, 1)
            entry["peak_rss_mb"] = max(entry["max_rss_mb"])
            rates[name] = n / seconds
    report["ratios"] = {}
    log("")
    log(f"{'contender':<17} {'msg/s':>9} {'seconds':>8} {'peak RSS':>9}")
    for name, entry in report["runs"].items():
        if name in rates:
            log(f"{name:<17} {rates[name]:9.0f} {entry['median_seconds']:8.2f} "
                f"{entry['peak_rss_mb']:7.1f}MB")
        else:
            log(f"{name:<17} {'no figure (result wrong or run failed)':>30}")
    for peer in PEERS:
        if "inboxbot" in rates and peer in rates:
            ratio = rates["inboxbot"] / rates[peer]
            report["ratios"][f"inboxbot/{peer}"] = round(ratio, 2)
            log(f"ratio inboxbot/{peer}: {ratio:.2f}")
    targets = report["targets"] = {}
    if "inboxbot/imapfilter" in report["ratios"]:
        targets["inboxbot/imapfilter >= 1.0"] = report["ratios"]["inboxbot/imapfilter"] >= 1.0
    if "inboxbot/imapautofiler" in report["ratios"]:
        targets["inboxbot/imapautofiler >= 20"] = report["ratios"]["inboxbot/imapautofiler"] >= 20
    if "inboxbot" in rates:
        targets["inboxbot peak RSS < 150 MB"] = report["runs"]["inboxbot"]["peak_rss_mb"] < 150
    if "inboxbot-default" in rates:
        targets["inboxbot default rules >= 2000 msg/s"] = rates["inboxbot-default"] >= 2000
        targets["inboxbot default rules peak RSS < 150 MB"] = (
            report["runs"]["inboxbot-default"]["peak_rss_mb"] < 150)
    for target, met in targets.items():
        log(f"target {target}: {'met' if met else 'MISSED'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="comma-separated: imapfilter,imapautofiler (empty: inboxbot only)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per contender (each on a fresh copy); the median is reported")
    parser.add_argument("--no-default-rules", action="store_true",
                        help="skip the inboxbot run with the default rules and classifier")
    parser.add_argument("--drop-actions", default="reply,redirect",
                        help="actions removed from the default rules for the inboxbot-default "
                             "run (rules left with no action go); e.g. reply,redirect,remind")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="profile the inboxbot runs, writing DIR/<run>.prof or .folded")
    parser.add_argument("--profiler", choices=("cprofile", "py-spy"), default="cprofile",
                        help="cprofile (exact calls, slows Python code) or py-spy (sampling)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in logs
    global PROFILE_DIR, PROFILER
    PROFILE_DIR, PROFILER = args.profile, args.profiler
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}; choose from {', '.join(PEERS)}")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    drop = [a for a in args.drop_actions.split(",") if a]
    report = measure(args.messages, peers, args.repeat, not args.no_default_rules, args.keep,
                     drop=drop)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
