#!/usr/bin/env python3
"""Measure the complaint classifier on the labelled set in eval/classifier/.

    python scripts/eval_classifier.py                 # test half: Markdown table, gate
    python scripts/eval_classifier.py --split dev -v  # dev half, with every miss (tune here only)

Prints precision, recall and F1 per language and class as a Markdown table (the README quotes
it) and exits 1 when, on the chosen split, complaint F1 < 0.85 or urgent F1 < 0.80 in any
language. Never tune on the test half: look at misses with --split dev.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inboxbot.core.classify import Classifier  # noqa: E402
from inboxbot.lexicons import default_classifier  # noqa: E402

EVAL_DIR = ROOT / "eval" / "classifier"
LANGUAGES = ("en", "de", "sv", "et")
CLASSES = ("complaint", "urgent", "angry")
TARGETS = {"complaint": 0.85, "urgent": 0.80}


@dataclass(frozen=True)
class Example:
    id: str
    language: str
    split: str
    subject: str
    body: str
    gold: dict[str, bool]
    kind: str


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    support: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def load_examples(split: str = "test", eval_dir: Path = EVAL_DIR) -> list[Example]:
    examples = []
    for lang in LANGUAGES:
        for line in (eval_dir / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if split != "all" and row["split"] != split:
                continue
            examples.append(Example(
                id=row["id"], language=row["language"], split=row["split"],
                subject=row["subject"], body=row["body"],
                gold={c: bool(row[c]) for c in CLASSES}, kind=row["kind"],
            ))
    return examples


def evaluate(
    classifier: Classifier, examples: Iterable[Example]
) -> tuple[dict[tuple[str, str], Counts], list[str]]:
    """Counts per (language, class), and one line per miss."""
    counts = {(lang, c): Counts() for lang in LANGUAGES for c in CLASSES}
    misses = []
    for ex in examples:
        verdict = classifier.classify(ex.subject, ex.body, ex.language)
        for c in CLASSES:
            got, want = getattr(verdict, c), ex.gold[c]
            cell = counts[(ex.language, c)]
            cell.support += want
            cell.tp += got and want
            cell.fp += got and not want
            cell.fn += want and not got
            if got != want:
                kind = "FP" if got else "FN"
                misses.append(
                    f"{kind} {c:9} {ex.id} [{ex.kind}] score={verdict.scores[c]} "
                    f"cues={verdict.cues[c]} subject={ex.subject!r}"
                )
    return counts, misses


def table(counts: dict[tuple[str, str], Counts]) -> str:
    lines = [
        "| language | class | precision | recall | F1 | positives |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for lang in LANGUAGES:
        for c in CLASSES:
            cell = counts[(lang, c)]
            lines.append(
                f"| {lang} | {c} | {cell.precision:.2f} | {cell.recall:.2f} | {cell.f1:.2f} "
                f"| {cell.support} |"
            )
    return "\n".join(lines)


def failures(counts: dict[tuple[str, str], Counts]) -> list[str]:
    return [
        f"{lang} {c} F1 {counts[(lang, c)].f1:.2f} < {target:.2f}"
        for lang in LANGUAGES
        for c, target in TARGETS.items()
        if counts[(lang, c)].f1 < target
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="test")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = parser.parse_args(argv)
    examples = load_examples(args.split)
    counts, misses = evaluate(default_classifier(), examples)
    print(f"Split: {args.split} ({len(examples)} messages)\n")
    print(table(counts))
    if args.verbose:
        print("\n" + "\n".join(misses))
    failed = failures(counts)
    for line in failed:
        print(f"below target: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
