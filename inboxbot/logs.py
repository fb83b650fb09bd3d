"""Log output for the long-running commands: text lines or JSON objects on stderr.

Kept apart from the CLI modules so `inboxbot run` can start without importing the CLI framework.
"""

from __future__ import annotations

import json
import logging
import sys


def setup_logging(level: int = logging.INFO, fmt: str = "text") -> None:
    # Neither format names the caller's file and line, a thread or a process: not looking them
    # up (the logging HOWTO's "Optimization") takes a quarter off each of the line-per-action
    # records a backlog writes.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("inboxbot")
    root.handlers[:] = [handler]
    root.setLevel(level)


class _JsonFormatter(logging.Formatter):
    # Fields a log line may carry besides its text (service.log_action), for collectors to index.
    FIELDS = ("uid", "message_id", "action")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
