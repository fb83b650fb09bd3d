"""Temporary probe (not committed): what _send_all allocates, garbage vs live."""
import gc
import os
import tracemalloc

from inboxbot import service
from inboxbot.daemon import serve
from tests.integration.test_resources import _mail


def test_probe(shop, monkeypatch) -> None:
    n = int(os.environ.get("PROBE_N", "500"))
    shop.write(max_per_hour=n + 10)
    shop.dovecot.deliver_many("INBOX", (_mail(i) for i in range(n)))
    original = service.Executor._send_all
    done = []

    def wrapped(self, *a, **k):
        if done:
            return original(self, *a, **k)
        gc.collect()
        before = tracemalloc.take_snapshot()
        gc.disable()
        out = original(self, *a, **k)
        after = tracemalloc.take_snapshot()
        gc.enable()
        print("garbage collected:", gc.collect())
        collected = tracemalloc.take_snapshot()
        done.append(1)
        print("=== allocated during _send_all, gc disabled (top 12 by traceback)")
        for stat in after.compare_to(before, "traceback")[:12]:
            print(stat)
            for line in stat.traceback.format()[-10:]:
                print("   ", line)
        print("=== live after gc (top 8)")
        for stat in collected.compare_to(before, "lineno")[:8]:
            print(stat)
        return out

    monkeypatch.setattr(service.Executor, "_send_all", wrapped)
    tracemalloc.start(10)
    serve(shop.config(), once=True)
