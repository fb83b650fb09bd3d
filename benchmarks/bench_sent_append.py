#!/usr/bin/env python3
"""What one reply's copy into Sent costs Dovecot as Sent grows: one APPEND per message against
one MULTIAPPEND (RFC 3502) per chunk, as inboxbot's Executor sends them (service.SEND_CHUNK).

What it does: starts a private Dovecot (tests/dovecot.py DovecotServer, Maildir as in the
tests), SELECTs INBOX on one connection (the daemon keeps the watched folder selected) and, at
each Sent size given, APPENDs --count acknowledgements one by one, then --count more as one
MULTIAPPEND, with the flags inboxbot sets on its copies (\\Seen $InboxbotSeen); Sent is grown
between sizes by writing files straight into the Maildir (as tests/dovecot.py deliver_many).

    .venv/bin/python benchmarks/bench_sent_append.py --sizes 0 5000 10000 20000 40000

Prints milliseconds per message for both ways at each size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dovecot import Dovecot, DovecotServer

HEADER = (
    b"From: support@shop.example\r\nTo: customer@customer.example\r\nSubject: Re: Order 1\r\n"
    b"Auto-Submitted: auto-replied\r\nMessage-ID: <ack@shop.example>\r\n\r\n"
)
REPLY = HEADER + b"Thank you, we received your message and answer within a day.\r\n" * 20
FLAGS = (b"\\Seen", b"$InboxbotSeen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 5000, 10000, 20000, 40000])
    parser.add_argument("--count", type=int, default=100, help="messages timed each way")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="inboxbot-bench-sent-"))
    root.chmod(0o755)  # Dovecot's unprivileged user reads its config here
    server = DovecotServer(root)
    server.start()
    try:
        mailbox = Dovecot(server)
        client = mailbox.client()
        client.create_folder("Sent")
        client.select_folder("INBOX")
        held = 0
        for size in sorted(args.sizes):
            if size > held:
                mailbox.deliver_many("Sent", (REPLY for _ in range(size - held)))
                client.append("Sent", REPLY, flags=FLAGS)  # Dovecot takes in the new files
                held = size + 1
            started = time.perf_counter()
            for _ in range(args.count):
                client.append("Sent", REPLY, flags=FLAGS)
            one = (time.perf_counter() - started) / args.count
            started = time.perf_counter()
            client.multiappend("Sent", [{"msg": REPLY, "flags": FLAGS}] * args.count)
            many = (time.perf_counter() - started) / args.count
            held += 2 * args.count
            print(
                f"Sent of {size:6d}: APPEND {one * 1000:6.1f} ms per message, "
                f"MULTIAPPEND of {args.count} {many * 1000:5.2f} ms per message",
                flush=True,
            )
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
