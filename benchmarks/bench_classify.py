#!/usr/bin/env python3
"""Classifier throughput on one core: messages per second for typical ~2 KB support mails.

    python benchmarks/bench_classify.py [--messages 5000] [--repeat 3]

Messages are built from the labelled evaluation set (eval/classifier/), in all four languages:
- "reply":  the customer's text, a signature and an earlier mail quoted below it, ~2 KB in all
            (what a support inbox mostly holds; the quote is stripped before scoring);
- "fresh":  ~2 KB of customer text with no quote at all (every byte is scored: the worst case).
Prints msg/s and MB/s per kind (median of --repeat runs, time.perf_counter). Target: >= 5,000
msg/s. The language is given: detection is not classification (bench_triage measures both).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from itertools import cycle
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inboxbot.lexicons import default_classifier  # noqa: E402

TARGET_BYTES = 2048
Mail = tuple[str, str, str]  # subject, body, language


def _rows() -> list[dict[str, str]]:
    rows = []
    for lang in ("en", "de", "sv", "et"):
        path = ROOT / "eval" / "classifier" / f"{lang}.jsonl"
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return rows


def _reply_mails(rows: list[dict[str, str]], count: int) -> list[Mail]:
    mails = []
    earlier = cycle(rows[7:] + rows[:7])
    for row in _take(rows, count):
        body = row["body"] + "\n-- \nShop customer\n+49 30 1234567\n\n"
        body += "On Mon, 3 Jun 2024 at 10:00, Support <support@shop.example> wrote:\n"
        while len(body.encode()) < TARGET_BYTES:
            body += "".join(f"> {line}\n" for line in next(earlier)["body"].splitlines())
        mails.append((row["subject"], body, row["language"]))
    return mails


def _fresh_mails(rows: list[dict[str, str]], count: int) -> list[Mail]:
    mails = []
    same_language = {lang: [r for r in rows if r["language"] == lang] for lang in
                     ("en", "de", "sv", "et")}
    for i, row in enumerate(_take(rows, count)):
        pool = same_language[row["language"]]
        body, j = row["body"], i
        while len(body.encode()) < TARGET_BYTES:
            j += 1
            body += "\n" + pool[j % len(pool)]["body"]
        mails.append((row["subject"], body, row["language"]))
    return mails


def _take(rows: list[dict[str, str]], count: int) -> list[dict[str, str]]:
    return [row for row, _ in zip(cycle(rows), range(count), strict=False)]


def _run(mails: list[Mail], repeat: int, clock: Callable[[], float]) -> float:
    """Median seconds of `repeat` runs (the machine is shared: the median, not the best)."""
    classify = default_classifier().classify
    times = []
    for _ in range(repeat):
        start = clock()
        for subject, body, language in mails:
            classify(subject, body, language)
        times.append(clock() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description="classifier throughput")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", action="store_true",
                        help="CPU time of this process (one core) instead of wall clock: steadier "
                             "when other work shares the machine")
    args = parser.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    rows = _rows()
    for kind, mails in (("reply", _reply_mails(rows, args.messages)),
                        ("fresh", _fresh_mails(rows, args.messages))):
        size = sum(len(s.encode()) + len(b.encode()) for s, b, _ in mails)
        seconds = _run(mails, args.repeat, clock)
        print(f"{kind}: {len(mails)} messages, mean {size / len(mails) / 1024:.2f} KB: "
              f"{len(mails) / seconds:,.0f} msg/s, {size / seconds / 1e6:.1f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
