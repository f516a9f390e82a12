"""One line per decision on stderr: text for people, JSON (--log-format json) for log pipelines."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Optional, TextIO

from kubectl_rollback.records import now_rfc3339

FORMATS = ("text", "json")


class DecisionLog:
    def __init__(self, fmt: str = "text", stream: Optional[TextIO] = None):
        self.fmt = fmt
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()  # lines from several threads never interleave

    def line(self, event: str, **fields: Any) -> None:
        """`event` (recorded, rollback, relist, leader, ...) and what it is about: workload, revision, outcome, why."""
        fields = {k: v for k, v in fields.items() if v is not None}
        if self.fmt == "json":
            text = json.dumps({"time": now_rfc3339(), "event": event, **fields}, sort_keys=False)
        else:
            text = " ".join([now_rfc3339(), event] + [f"{k}={_quote(v)}" for k, v in fields.items()])
        with self._lock:
            print(text, file=self.stream, flush=True)


def _quote(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text
