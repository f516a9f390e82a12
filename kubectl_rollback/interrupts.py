"""Ctrl-C held back across a step it must not split: a write and what must be said or written with it."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List


@contextmanager
def deferred() -> Iterator[None]:
    """Run the block with SIGINT held: a Ctrl-C during it is raised as KeyboardInterrupt once it has ended (an error
    it ends with goes first: the command ends with it anyway). Only the main thread receives signals; elsewhere the
    block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: List[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt
