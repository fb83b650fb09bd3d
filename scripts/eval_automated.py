"""Evaluate automated-mail detection on a folder of .eml files that are all automated.

Usage: python scripts/eval_automated.py [DIR]   (default: ../shared/corpus/automated)

Prints how many mails each reason caught and lists every mail that was not recognised; exits 1
on any miss, so it can gate a change to inboxbot/core/automated.py.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run from a checkout without installing the package: the repo root is the import root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from inboxbot.core.automated import automated_reason  # noqa: E402
from inboxbot.core.message import parse_message  # noqa: E402

DEFAULT_DIR = REPO.parent / "shared" / "corpus" / "automated"


def _reason_kind(reason: str) -> str:
    """Group reasons that carry an address or subject, so the counts stay readable."""
    for prefix in ("noreply sender", "Return-Path", "auto-generated subject"):
        if reason.startswith(prefix):
            return prefix
    return reason


def main(argv: list[str]) -> int:
    directory = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    if not directory.is_dir():
        print(f"error: {directory} is not a directory", file=sys.stderr)
        return 2
    files = sorted(directory.glob("*.eml"))
    counts: Counter[str] = Counter()
    misses: list[Path] = []
    for path in files:
        reason = automated_reason(parse_message(path.read_bytes()))
        if reason is None:
            misses.append(path)
        else:
            counts[_reason_kind(reason)] += 1
    for kind, count in counts.most_common():
        print(f"{count:5d}  {kind}")
    for path in misses:
        print(f"MISS  {path.name}")
    print(f"recognised {len(files) - len(misses)}/{len(files)} in {directory}")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
