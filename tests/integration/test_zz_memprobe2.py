"""Temporary probe (not committed): peak per phase."""
import os
import tracemalloc

from inboxbot.adapters import imap
from inboxbot import service
from inboxbot.daemon import serve
from tests.integration.test_resources import _mail


def _phase(cls, name, peaks):
    original = getattr(cls, name)

    def wrapped(*a, **k):
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = original(*a, **k)
        now, peak = tracemalloc.get_traced_memory()
        peaks.setdefault(name, []).append((round(before / 1e6, 1), round(peak / 1e6, 1), round(now / 1e6, 1)))
        if peak > peaks.get("_max", (0,))[0]:
            peaks["_max"] = (peak, name)
        return out
    return wrapped


def test_probe(shop, monkeypatch) -> None:
    n = int(os.environ.get("PROBE_N", "1500"))
    shop.write(max_per_hour=n + 10)
    shop.dovecot.deliver_many("INBOX", (_mail(i) for i in range(n)))
    peaks = {}
    for cls, name in [(imap.ImapMailbox, "fetch"), (service.Executor, "_send_all"),
                      (service.Executor, "_apply"), (service.Executor, "_record"),
                      (imap.ImapMailbox, "search_unprocessed")]:
        monkeypatch.setattr(cls, name, _phase(cls, name, peaks))
    import inboxbot.reminders as r
    monkeypatch.setattr(r, "after_batch", _phase(r, "after_batch", peaks))
    tracemalloc.start(1)
    serve(shop.config(), once=True)
    for k, v in peaks.items():
        print(k, v)
