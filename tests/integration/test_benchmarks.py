"""The benchmarks, run small: their harness works and every contender's result verifies.

Slow (they start their own Dovecot, seed mail and run inboxbot and its peers as processes), so
they only run with `pytest --run-slow`. They assert correctness, never speed: the figures
belong in BENCHMARKS.md, measured on a quiet machine with the full-size runs.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # bench_latency imports bench_triage
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _available_peers() -> list[str]:
    peers = []
    if shutil.which("imapfilter"):
        peers.append("imapfilter")
    if importlib.util.find_spec("imapautofiler") is not None:
        peers.append("imapautofiler")
    return peers


def test_generated_mail_matches_its_labels() -> None:
    bench = _load("bench_triage")
    mails = bench.make_mails(400)
    assert {m.header_folder for m in mails} == {"INBOX", "VIP", "Urgent"}
    for mail in mails:
        assert mail.keyword == any(k in mail.subject.lower() for k in bench.KEYWORDS)
        assert mail.vip == mail.sender.endswith("@" + bench.VIP_DOMAIN)
    assert bench.make_mails(50) == mails[:50]  # deterministic


def test_triage_benchmark_verifies_every_contender() -> None:
    bench = _load("bench_triage")
    peers = _available_peers()
    report = bench.measure(300, peers, repeat=1, default_rules=True, log=lambda *_: None)
    runs = report["runs"]
    assert set(runs) == {"inboxbot", *peers, "inboxbot-default"}
    for name, entry in runs.items():
        assert not entry["problems"], f"{name}: {entry['problems']}"
        assert entry["msg_per_s"] > 0
    assert report["ok"]
    for peer in peers:
        assert f"inboxbot/{peer}" in report["ratios"]


def test_triage_verification_refuses_a_wrong_result() -> None:
    bench = _load("bench_triage")
    mails = bench.make_mails(200)
    right: dict[str, dict[str, set[str]]] = {
        f: {m.message_id: set() for m in mails if m.header_folder == f}
        for f in ("INBOX", "VIP", "Urgent")
    }
    assert bench.verify_header_rules(right, mails) == []
    wrong = {f: dict(ids) for f, ids in right.items()}
    moved = next(iter(wrong["Urgent"]))
    wrong["INBOX"][moved] = wrong["Urgent"].pop(moved)
    problems = bench.verify_header_rules(wrong, mails)
    assert any(p.startswith("Urgent:") for p in problems)
    assert any(p.startswith("INBOX:") for p in problems)


def test_latency_benchmark_answers_every_mail() -> None:
    bench = _load("bench_latency")
    report = bench.measure(messages=8, interval=0.2, settle=0.6, log=lambda *_: None)
    assert report["ok"], report["problems"]
    assert report["inboxbot_reply_ms"]["n"] == 8
    assert report["raw_idle_ms"]["n"] == 8
    assert set(report["targets"]) == {"p50 <= raw + 100 ms", "p99 <= raw + 500 ms"}
