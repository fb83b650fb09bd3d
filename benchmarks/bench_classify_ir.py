#!/usr/bin/env python3
"""Classifier cost in CPU instructions per message: a figure a busy, shared machine cannot move.

    python benchmarks/bench_classify_ir.py [--kind fresh|reply] [--messages 300] [--tree DIR]

CPU time on a 2-core machine that others load to 4-6 varies by 30 % or more between identical
runs, which hides a change of 5-15 %. This counts the instructions one classify() call executes
instead: it runs the same Python twice under valgrind's cachegrind (`valgrind` must be on PATH),
once classifying nothing and once classifying N mails of bench_classify.py's kinds (every
matcher built before either), and divides the difference by N. PYTHONHASHSEED is fixed, so a
repeat gives the same count to within a few hundred instructions. --tree measures another
checkout (e.g. a `git worktree` of the commit before a change) with this tree's script.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child(kind: str, count: int, built: int) -> None:
    # The measured tree's own generator: it puts that tree first on sys.path for inboxbot too.
    sys.path.insert(0, str(Path(os.environ["PYTHONPATH"]) / "benchmarks"))
    import bench_classify as bc

    from inboxbot.lexicons import default_classifier

    rows = bc._rows()
    # Both runs build the same mails: only the classifying differs between them.
    mails = (bc._fresh_mails if kind == "fresh" else bc._reply_mails)(rows, built)
    classifier = default_classifier()
    for language in ("en", "de", "sv", "et", ""):  # every matcher, for every kind of text
        classifier.classify("x", "y", language)
        classifier.classify("x", "y \u0161", language)
    chosen = mails[200::2][:count]
    for subject, body, language in chosen:
        classifier.classify(subject, body, language)
    if count and len(chosen) != count:
        raise SystemExit(f"only {len(chosen)} mails built")


def _instructions(tree: Path, kind: str, count: int, built: int) -> int:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONHASHSEED="0")
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--child", kind, str(count), str(built)],
        env=env, capture_output=True, text=True, check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-800:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("fresh", "reply"), default="fresh")
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to measure")
    args = parser.parse_args()
    built = 2 * args.messages + 200
    empty = _instructions(args.tree, args.kind, 0, built)
    full = _instructions(args.tree, args.kind, args.messages, built)
    print(f"{args.tree} {args.kind}: {(full - empty) / args.messages:,.0f} instructions/message")
    return 0


if __name__ == "__main__":
    sys.exit(main())
