#!/usr/bin/env python3
"""What a backlog's keywords and moves cost Dovecot by how many messages each round covers:
the STOREs and MOVEs inboxbot's default rules send (service.Executor.apply_staged), in rounds
of 500 messages (one planning batch) against rounds of 2,000 (service.APPLY_SIZE).

What it does: seeds --messages benchmark mails (bench_triage.make_mails) into a private
Dovecot, then for each round size works a fresh copy of that mailbox: per round, $Complaint on
~40 % and $Angry on ~10 % of its messages, $InboxbotSeen + MOVE for ~9 % to VIP and ~7 % to
Urgent, $InboxbotSeen on the rest (the default rules' shares on the benchmark mailbox).

    .venv/bin/python benchmarks/bench_apply_rounds.py --messages 10000 --rounds 500 2000

Prints the server's seconds in STORE and in MOVE for each round size (client wall time of
each command, over loopback).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_triage as bt


def _timed(client: object, *args: str) -> float:
    started = time.monotonic()
    client._imap.uid(*args)  # type: ignore[attr-defined]
    return time.monotonic() - started


def work(lab: bt.Lab, messages: int, size: int) -> tuple[float, float]:
    """(seconds in STORE, seconds in MOVE) for a fresh copy worked in rounds of `size`."""
    client = lab.clone().client(lab.server)
    client.select_folder("INBOX")
    rng = random.Random(1)  # the same messages tagged and moved for every round size
    stores = moves = 0.0
    try:
        for start in range(1, messages + 1, size):
            uids = list(range(start, min(start + size, messages + 1)))
            complaint = [u for u in uids if rng.random() < 0.4]
            angry = [u for u in uids if rng.random() < 0.1]
            vip = [u for u in uids if rng.random() < 0.09]
            urgent = [u for u in uids if u not in vip and rng.random() < 0.07]
            rest = [u for u in uids if u not in vip and u not in urgent]
            stores += _timed(client, "STORE", _set(complaint), "+FLAGS.SILENT", "($Complaint)")
            stores += _timed(client, "STORE", _set(angry), "+FLAGS.SILENT", "($Angry)")
            for folder, group in (("VIP", vip), ("Urgent", urgent)):
                stores += _timed(client, "STORE", _set(group), "+FLAGS.SILENT", "($InboxbotSeen)")
                moves += _timed(client, "MOVE", _set(group), folder)
            stores += _timed(client, "STORE", _set(rest), "+FLAGS.SILENT", "($InboxbotSeen)")
    finally:
        client.logout()
    return stores, moves


def _set(uids: Sequence[int]) -> str:
    return ",".join(map(str, uids))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    lab = bt.Lab()
    with lab:
        try:
            print(f"seeded {args.messages} in {lab.seed(bt.make_mails(args.messages)):.1f}s")
            for attempt in range(args.repeat):
                for size in args.rounds:  # interleaved, so machine noise hits both alike
                    stores, moves = work(lab, args.messages, size)
                    rounds = -(-args.messages // size)
                    print(f"run {attempt + 1}: rounds of {size}: {rounds} rounds, "
                          f"STORE {stores:.2f}s, MOVE {moves:.2f}s, "
                          f"together {stores + moves:.2f}s", flush=True)
        finally:
            lab.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
