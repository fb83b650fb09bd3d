"""Temporary probe (not committed): where does memory go in one pass?"""
import gc
import os
import tracemalloc

from inboxbot import daemon
from inboxbot.daemon import serve
from tests.integration.test_resources import _mail


def test_probe(shop, monkeypatch) -> None:
    n = int(os.environ.get("PROBE_N", "1500"))
    shop.write(max_per_hour=n + 10)
    shop.dovecot.deliver_many("INBOX", (_mail(i) for i in range(n)))
    original = daemon.run_pass
    snaps = []

    def wrapped(*a, **k):
        out = original(*a, **k)
        gc.collect()
        snaps.append(tracemalloc.take_snapshot())
        print("run_pass returned", len(out), "traced now/peak MB",
              [round(x / 1e6, 1) for x in tracemalloc.get_traced_memory()])
        return out

    monkeypatch.setattr(daemon, "run_pass", wrapped)
    tracemalloc.start(int(os.environ.get("PROBE_FRAMES", "6")))
    serve(shop.config(), once=True)
    snap = snaps[0].filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    for stat in snap.statistics("lineno")[:15]:
        print(stat)
    print("--- by traceback (top 5)")
    for stat in snap.statistics("traceback")[:5]:
        print(stat)
        for line in stat.traceback.format()[-8:]:
            print("   ", line)
