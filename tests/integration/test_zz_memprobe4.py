"""Temporary probe (not committed): what grows between batches."""
import gc
import os
import tracemalloc

from inboxbot import service
from inboxbot.daemon import serve
from tests.integration.test_resources import _mail


def test_probe(shop, monkeypatch) -> None:
    n = int(os.environ.get("PROBE_N", "2000"))
    shop.write(max_per_hour=n + 10)
    shop.dovecot.deliver_many("INBOX", (_mail(i) for i in range(n)))
    original = service.Executor.process
    snaps = []

    def wrapped(self, *a, **k):
        out = original(self, *a, **k)
        gc.collect()
        snaps.append(tracemalloc.take_snapshot())
        return out

    monkeypatch.setattr(service.Executor, "process", wrapped)
    tracemalloc.start(12)
    serve(shop.config(), once=True)
    flt = [tracemalloc.Filter(False, "*aiosmtpd*", all_frames=True),
           tracemalloc.Filter(False, "*asyncio*", all_frames=True),
           tracemalloc.Filter(False, tracemalloc.__file__)]
    a, b = snaps[0].filter_traces(flt), snaps[-1].filter_traces(flt)
    print("batches", len(snaps), "total diff MB", sum(s.size_diff for s in b.compare_to(a, "filename")) / 1e6)
    for stat in b.compare_to(a, "traceback")[:10]:
        print(stat)
        for line in stat.traceback.format()[-14:]:
            print("   ", line)
