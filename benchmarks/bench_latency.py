#!/usr/bin/env python3
"""Arrival-to-reply latency of `inboxbot run` idling on a real Dovecot, against Dovecot's own
IDLE notify delay measured in the same run.

What it does:
1. starts a private Dovecot on a free 127.0.0.1 port (tests/dovecot.py DovecotServer) and an
   aiosmtpd sink (tests/smtp_sink.py SmtpSink) that timestamps every message it receives;
2. starts `inboxbot run` (no --once) with the shipped default rules and replies,
   [autoreply] max_per_hour = 1000, and waits until it answered one warm-up mail;
3. opens a bare imapclient connection that SELECTs INBOX and IDLEs, timestamping every
   `* n EXISTS` it is sent (the raw notify delay every IDLE client is subject to);
4. APPENDs N customer mails (distinct senders, plain questions that stay in INBOX) one by one
   from a third connection: at least --interval apart, and (unless --settle 0) only --settle
   seconds after the previous reply arrived, so each mail lands on a quiet mailbox while both
   clients idle (otherwise inboxbot's own flag changes start the raw client's notify timer
   early, and mail arriving while inboxbot is busy skips the IDLE path); for mail k:
       raw   = first EXISTS with n >= k  - end of its APPEND
       reply = the sink receiving the reply whose In-Reply-To is mail k's Message-ID
               - end of its APPEND
5. verifies that every mail got exactly one reply, and reports p50/p90/p99/max of both and
   the differences against the targets (p50 <= raw p50 + 100 ms, p99 <= raw p99 + 500 ms).

    .venv/bin/python benchmarks/bench_latency.py --messages 200 --interval 0.3

Exit status: 0 when the run verified (targets are reported, not enforced), 1 otherwise.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "benchmarks"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from bench_triage import Account, Lab  # noqa: E402
from imapclient import IMAPClient  # type: ignore[import-untyped]  # noqa: E402

from tests.smtp_sink import Received, SmtpSink  # noqa: E402

SHOP = "support@shop.example"
PYTHON = sys.executable

CONFIG = """\
[imap]
host = "127.0.0.1"
port = {imap_port}
security = "plain"
username = "{user}"
password = "{password}"
timeout = 30

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "plain"

[shop]
name = "Bench Shop"
address = "{shop}"
signature = "Anna and Jonas from Bench Shop"

[hours]
timezone = "Europe/Berlin"

[autoreply]
per_sender = "4d"
max_per_hour = 1000

[paths]
rules = "rules"
replies = "replies"
state = "state.json"
"""

QUESTIONS = [
    ("Question about order {n}", "Hello,\n\ncould you tell me when order {n} will be shipped?\n\n"
     "Thank you and best regards,\n{name}\n"),
    ("Gift cards", "Hi!\n\nDo you also sell gift cards? I would like to buy one for a friend.\n\n"
     "Best regards,\n{name}\n"),
    ("Invoice for order {n}", "Hello,\n\nplease send me an invoice for order {n} with my "
     "company address.\n\nThanks,\n{name}\n"),
    ("Opening hours", "Hi,\n\nare you open on Saturdays as well?\n\nKind regards,\n{name}\n"),
]


def customer_mail(index: int) -> tuple[bytes, str]:
    subject, body = QUESTIONS[index % len(QUESTIONS)]
    n, name = 50000 + index, f"Customer {index}"
    sender = f"customer{index}@mail{index % 9}.example"
    mail = EmailMessage()
    mail["From"] = email.utils.formataddr((name, sender))
    mail["To"] = SHOP
    mail["Subject"] = subject.format(n=n)
    mail["Date"] = email.utils.formatdate(localtime=True)
    message_id = f"<latency.{index}.{os.getpid()}@mail{index % 9}.example>"
    mail["Message-ID"] = message_id
    mail.set_content(body.format(n=n, name=name))
    return mail.as_bytes(policy=email.policy.SMTP), message_id


class TimedSink(SmtpSink):
    """The tests' aiosmtpd sink, with the arrival time of every message."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[float, Received]] = []

    def _store(self, item: Received) -> None:
        self.arrivals.append((time.monotonic(), item))
        super()._store(item)


class RawIdler(threading.Thread):
    """A bare IDLE client: the time of every EXISTS count it is sent."""

    def __init__(self, lab: Lab, account: Account) -> None:
        super().__init__(daemon=True)
        self.client = IMAPClient(lab.server.host, lab.server.port, ssl=False, timeout=30)
        self.client.login(account.user, account.password)
        self.client.select_folder("INBOX")
        self.exists: list[tuple[float, int]] = []
        self._halt = threading.Event()
        self.error: BaseException | None = None
        self.client.idle()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                responses = self.client.idle_check(timeout=0.5)
                now = time.monotonic()
                for response in responses:
                    if len(response) >= 2 and response[1] == b"EXISTS":
                        self.exists.append((now, int(response[0])))
        except BaseException as error:
            self.error = error

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        try:
            self.client.idle_done()
            self.client.logout()
        except Exception:
            pass

    def notified(self, count: int) -> float | None:
        """When the client first learned that the mailbox holds at least `count` messages."""
        return next((t for t, n in self.exists if n >= count), None)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "min": round(min(ms), 1),
        "p50": round(percentile(ms, 50), 1),
        "p90": round(percentile(ms, 90), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
        "mean": round(sum(ms) / len(ms), 1),
    }


@dataclass
class Bot:
    proc: subprocess.Popen[bytes]
    work: Path
    log: Any = field(default=None)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
        return self.proc.returncode

    def tail(self, lines: int = 15) -> str:
        text = (self.work / "inboxbot.stderr").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def start_bot(lab: Lab, account: Account, sink: SmtpSink) -> Bot:
    work = lab.root / "latency-inboxbot"
    work.mkdir()
    (work / "config.toml").write_text(CONFIG.format(
        imap_port=lab.server.port, user=account.user, password=account.password,
        smtp_port=sink.port, shop=SHOP))
    shutil.copytree(ROOT / "rules", work / "rules")
    shutil.copytree(ROOT / "replies", work / "replies")
    env = dict(os.environ)
    env.pop("INBOXBOT_CONFIG", None)
    log = (work / "inboxbot.stderr").open("wb")
    proc = subprocess.Popen([PYTHON, "-m", "inboxbot", "run", "-c", str(work / "config.toml")],
                            cwd=work, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log)
    return Bot(proc, work, log)


def wait_reply(sink: TimedSink, message_id: str, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for when, item in list(sink.arrivals):
            if message_id in _in_reply_to(item):
                return when
        time.sleep(0.01)
    return None


def _in_reply_to(item: Received) -> str:
    header = email.message_from_bytes(item.raw).get("In-Reply-To", "")
    return str(header).strip()


def measure(messages: int = 200, interval: float = 0.3, settle: float = 0.8,
            keep: bool = False, log: Any = print) -> dict[str, Any]:
    lab = Lab()
    sink = TimedSink()
    report: dict[str, Any] = {"messages": messages, "interval_s": interval, "settle_s": settle,
                              "ok": False, "problems": []}
    bot: Bot | None = None
    idler: RawIdler | None = None
    try:
        with lab:
            sink.start()
            account = lab.new_account()
            setup = account.client(lab.server)
            for folder in ("VIP", "Urgent", "Sent", "Quarantine", "Resolved"):
                setup.create_folder(folder)
            setup.logout()
            bot = start_bot(lab, account, sink)
            appender = account.client(lab.server)

            # Warm-up: inboxbot is idling once it answered this one (imports, connections).
            raw, warm_id = customer_mail(999_999)
            appender.append("INBOX", raw)
            if wait_reply(sink, warm_id, timeout=60) is None:
                raise RuntimeError("inboxbot did not answer the warm-up mail within 60 s:\n"
                                   + bot.tail())
            time.sleep(1.0)  # let it settle back into IDLE
            baseline = len(sink.arrivals)
            log(f"inboxbot idling (pid {bot.proc.pid}); Dovecot 127.0.0.1:{lab.server.port}, "
                f"sink 127.0.0.1:{sink.port}")

            idler = RawIdler(lab, account)
            idler.start()
            time.sleep(0.5)
            appended: list[tuple[str, float, int]] = []  # message id, end of APPEND, position
            position = 1  # the warm-up mail
            next_at = time.monotonic()
            for index in range(messages):
                raw, message_id = customer_mail(index)
                time.sleep(max(0.0, next_at - time.monotonic()))
                appender.append("INBOX", raw)
                done = time.monotonic()
                position += 1
                appended.append((message_id, done, position))
                next_at = done + interval
                if settle > 0:  # quiet mailbox: the next mail only after this one's reply
                    answered = wait_reply(sink, message_id, timeout=30)
                    if answered is not None:
                        next_at = max(next_at, answered + settle)
                if bot.proc.poll() is not None:
                    raise RuntimeError(f"inboxbot exited ({bot.proc.returncode}):\n"
                                       + bot.tail())
            deadline = time.monotonic() + 30
            while len(sink.arrivals) - baseline < messages and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)  # a duplicate would arrive now
            appender.logout()
            idler.stop()

            replies: dict[str, list[float]] = {}
            for when, item in sink.arrivals[baseline:]:
                replies.setdefault(_in_reply_to(item), []).append(when)
            raw_delays, reply_delays = [], []
            problems = report["problems"]
            for message_id, done, pos in appended:
                got = replies.get(message_id, [])
                if len(got) != 1:
                    problems.append(f"{message_id}: {len(got)} replies")
                    continue
                reply_delays.append(got[0] - done)
                notified = idler.notified(pos)
                if notified is None:
                    problems.append(f"{message_id}: the raw IDLE client never saw EXISTS {pos}")
                else:
                    raw_delays.append(notified - done)
            if idler.error is not None:
                problems.append(f"raw IDLE client failed: {idler.error!r}")
            if len(sink.arrivals) - baseline != messages:
                problems.append(f"{len(sink.arrivals) - baseline} replies for {messages} mails")
            if raw_delays and reply_delays:
                report["raw_idle_ms"] = summary(raw_delays)
                report["inboxbot_reply_ms"] = summary(reply_delays)
                diff = {k: round(report["inboxbot_reply_ms"][k] - report["raw_idle_ms"][k], 1)
                        for k in ("p50", "p90", "p99")}
                report["difference_ms"] = diff
                report["targets"] = {"p50 <= raw + 100 ms": diff["p50"] <= 100,
                                     "p99 <= raw + 500 ms": diff["p99"] <= 500}
            report["ok"] = not problems and bool(reply_delays)
    finally:
        if bot is not None:
            bot.stop()
            report["inboxbot_log_tail"] = bot.tail(5)
        if idler is not None and idler.is_alive():
            idler.stop()
        sink.stop()
        if keep:
            log(f"kept {lab.root}")
        else:
            lab.cleanup()
    _print(report, log)
    return report


def _print(report: dict[str, Any], log: Any) -> None:
    for problem in report["problems"][:10]:
        log(f"PROBLEM: {problem}")
    if "raw_idle_ms" not in report:
        log("no figures")
        return
    log(f"{'ms':<22} {'min':>7} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    for label, key in (("raw IDLE notify", "raw_idle_ms"), ("inboxbot reply", "inboxbot_reply_ms")):
        s = report[key]
        log(f"{label:<22} {s['min']:7.1f} {s['p50']:7.1f} {s['p90']:7.1f} {s['p99']:7.1f} "
            f"{s['max']:7.1f}")
    d = report["difference_ms"]
    log(f"{'difference':<22} {'':>7} {d['p50']:7.1f} {d['p90']:7.1f} {d['p99']:7.1f}")
    for target, met in report["targets"].items():
        log(f"target {target}: {'met' if met else 'MISSED'}")
    log("verified: every mail got exactly one reply" if report["ok"] else "NOT verified")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.3,
                        help="at least this many seconds between APPENDs")
    parser.add_argument("--settle", type=float, default=0.8,
                        help="after a reply arrived, wait this long before the next APPEND, so "
                             "every mail lands on a quiet mailbox with both clients idling; "
                             "0: fixed-rate APPENDs every --interval, replies or not")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, configs)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in logs
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    report = measure(args.messages, args.interval, args.settle, args.keep)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
